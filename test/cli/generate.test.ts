import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDataset, readDatasetMeta } from '../../src/data/dataset-file.js';
import { decodePng } from '../../src/data/formats/png.js';

const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));
const example = fileURLToPath(new URL('../../../examples/darcy64.json', import.meta.url));

function mpno(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '1' } });
}

/** Trains config c (1 epoch, written to tmp/c.json, run in tmp/run) and returns the last metrics line's evaluations. */
function trainOneEpoch(tmp: string, c: { training: object; output: { dir: string } }): Record<string, number> {
  c.training = { ...c.training, n_epochs: 1, eval_interval: 1 };
  c.output.dir = path.join(tmp, 'run');
  writeFileSync(path.join(tmp, 'c.json'), JSON.stringify(c));
  const r = mpno('train', '--config', path.join(tmp, 'c.json'), '--quiet');
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(readFileSync(path.join(tmp, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').pop()!) as { eval: Record<string, number> }).eval;
}

describe('mpno generate', () => {
  it('darcy: files at each resolution load into the Trainer, carry their metadata, and do not depend on the worker count', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-gen-'));
    let r = mpno('generate', 'darcy', '--n', '5', '--resolution', '17', '--subsample', '1,2', '--seed', '3', '--out', path.join(tmp, 'a.safetensors'), '--workers', '2');
    assert.equal(r.status, 0, r.stderr);
    r = mpno('generate', 'darcy', '--n', '5', '--resolution', '17', '--subsample', '1,2', '--seed', '3', '--out', path.join(tmp, 'b.safetensors'), '--workers', '1');
    assert.equal(r.status, 0, r.stderr);
    for (const res of [17, 9]) {
      const a = loadDataset(path.join(tmp, `a_${res}.safetensors`));
      const b = loadDataset(path.join(tmp, `b_${res}.safetensors`));
      assert.deepEqual(a.x.shape, [5, 1, res, res]);
      assert.deepEqual(a.x.toArray(), b.x.toArray());
      assert.deepEqual(a.y.toArray(), b.y.toArray());
      assert.ok(a.x.toArray().every((v) => v === 3 || v === 12));
      a.release();
      b.release();
    }
    const meta = readDatasetMeta(path.join(tmp, 'a_9.safetensors'))!;
    assert.equal(meta.pde, 'darcy');
    assert.equal(meta.resolution, 9);
    assert.equal(meta.seed, 3);
    // the coarse file is the fine one subsampled
    const fine = loadDataset(path.join(tmp, 'a_17.safetensors')).y.toFloat64();
    const coarse = loadDataset(path.join(tmp, 'a_9.safetensors')).y.toFloat64();
    assert.equal(coarse[9 * 2 + 3], fine[17 * 4 + 6]);
    // existing output: refused unless --force
    r = mpno('generate', 'darcy', '--n', '2', '--resolution', '17', '--subsample', '1,2', '--out', path.join(tmp, 'a.safetensors'));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /a_17\.safetensors exists; refusing to overwrite it \(use --force\)/);
    r = mpno('generate', 'darcy', '--n', '2', '--resolution', '17', '--subsample', '1,2', '--out', path.join(tmp, 'a.safetensors'), '--force');
    assert.equal(r.status, 0, r.stderr);
  });

  it('navier-stokes: the one-step map at two resolutions from one simulation', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-gen-'));
    const r = mpno('generate', 'navier-stokes', '--n', '2', '--resolution', '32', '--subsample', '1,2', '--set', 'T=0.05', '--set', 'dt=0.001', '--set', 'recordInterval=0.05', '--out', path.join(tmp, 'ns.safetensors'));
    assert.equal(r.status, 0, r.stderr);
    const f = loadDataset(path.join(tmp, 'ns_32.safetensors'));
    const c = loadDataset(path.join(tmp, 'ns_16.safetensors'));
    assert.deepEqual(f.y.shape, [2, 1, 32, 32]);
    assert.deepEqual(c.y.shape, [2, 1, 16, 16]);
    assert.equal(c.y.toFloat64()[16 * 3 + 5], f.y.toFloat64()[32 * 6 + 10]);
    assert.equal(readDatasetMeta(path.join(tmp, 'ns_32.safetensors'))!.params['layout'], 'map');
  });

  it('swe: [n, 3, nlat, nlon] on the sphere, the same samples whatever the worker count; its own bad input is named', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-gen-swe-'));
    for (const [name, workers] of [['a', '2'], ['b', '1']] as const) {
      const r = mpno('generate', 'swe', '--n', '3', '--nlat', '16', '--nlon', '24', '--seed', '2', '--out', path.join(tmp, `${name}.safetensors`), '--workers', workers);
      assert.equal(r.status, 0, r.stderr);
    }
    const a = loadDataset(path.join(tmp, 'a.safetensors'));
    const b = loadDataset(path.join(tmp, 'b.safetensors'));
    assert.deepEqual(a.x.shape, [3, 3, 16, 24]);
    assert.deepEqual(a.y.shape, [3, 3, 16, 24]);
    assert.deepEqual(a.x.toArray(), b.x.toArray());
    assert.deepEqual(a.y.toArray(), b.y.toArray());
    a.release();
    b.release();
    const meta = readDatasetMeta(path.join(tmp, 'a.safetensors'))!;
    assert.equal(meta.pde, 'swe');
    assert.equal((meta.params as { lmax: number }).lmax, 6);
    const bad: [string[], RegExp][] = [
      [['--n', '2', '--out', path.join(tmp, 'c.safetensors')], /swe needs --nlat/],
      [['--n', '2', '--nlat', '16', '--subsample', '2', '--out', path.join(tmp, 'c.safetensors')], /swe stores the simulation grid only/],
      [['--n', '2', '--nlat', '16', '--set', 'mach=0.1', '--set', 'nu=1', '--out', path.join(tmp, 'c.safetensors')], /unknown swe parameter 'nu'/],
      [['--n', '2', '--nlat', '16', '--set', 'initialCondition=steady', '--out', path.join(tmp, 'c.safetensors')], /initialCondition must be 'random' or 'galewsky'/],
    ];
    for (const [args, re] of bad) {
      const r = mpno('generate', 'swe', ...args);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, re);
    }
    assert.ok(!existsSync(path.join(tmp, 'c.safetensors')));
    const d = mpno('generate', 'darcy', '--n', '2', '--nlat', '16', '--out', path.join(tmp, 'd.safetensors'));
    assert.notEqual(d.status, 0);
    assert.match(d.stderr, /--nlat and --nlon are for swe; darcy takes --resolution/);
  });

  it('bad input is named before any work, with a non-zero exit', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-gen-'));
    const fails = (args: string[], message: RegExp) => {
      const r = mpno(...args);
      assert.notEqual(r.status, 0, `exit 0 for ${args.join(' ')}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, 'a stack trace');
    };
    fails(['generate', 'heat', '--n', '2', '--resolution', '17', '--out', path.join(tmp, 'x')], /unknown PDE 'heat'/);
    fails(['generate', 'darcy', '--n', '2', '--resolution', '17', '--subsample', '3', '--out', path.join(tmp, 'x')], /subsample factor 3 does not divide s − 1 = 16/);
    fails(['generate', 'navier-stokes', '--n', '2', '--resolution', '30', '--subsample', '4', '--out', path.join(tmp, 'x')], /resolution 30 cannot be subsampled by 4/);
    fails(['generate', 'navier-stokes', '--n', '1', '--resolution', '16', '--set', 'T=10', '--set', 'dt=2', '--set', 'recordInterval=10', '--out', path.join(tmp, 'y')], /simulateNS: dt = 2 is unstable for s = 16: estimated CFL/);
    // parameters the generator does not take are refused, not ignored
    fails(['generate', 'darcy', '--n', '1', '--resolution', '17', '--set', 'foo=1', '--out', path.join(tmp, 'y')], /unknown darcy parameter 'foo' \(--set takes alpha, tau, f, tol, maxIter, preconditioner\)/);
    fails(['generate', 'navier-stokes', '--n', '1', '--resolution', '16', '--set', 'Nu=1e-4', '--out', path.join(tmp, 'y')], /unknown navier-stokes parameter 'Nu'/);
    fails(['generate', 'darcy', '--n', '1', '--resolution', '17', '--set', '__proto__={"x":1}', '--out', path.join(tmp, 'y')], /unknown darcy parameter '__proto__'/);
    // sizes that cannot be allocated are named, not a raw "Invalid typed array length"
    fails(['generate', 'darcy', '--n', '1', '--resolution', '100001', '--out', path.join(tmp, 'y')], /--n 1 at --resolution 100001 makes an array of 1\.00e\+10 values; at most 4\.29e\+9 fit in one array/);
    assert.deepEqual(readdirSync(tmp), []);
  });

  it('a generation that fails while running leaves no output directory of its own', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-gen-'));
    // past the up-front stability check, the run blows up at step 19 (CFL above 10)
    const r = mpno('generate', 'navier-stokes', '--n', '1', '--resolution', '16', '--set', 'T=20', '--set', 'dt=0.5', '--set', 'checkStability=false', '--set', 'nu=1e-5', '--out', path.join(tmp, 'new', 'x.safetensors'));
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /simulateNS: blow-up at t = /);
    assert.deepEqual(readdirSync(tmp), [], 'the output directory it made is removed');
  });

  it('--help explains the output names and the cost of the navier-stokes defaults', () => {
    const r = mpno('generate', '--help');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--out data\/x\.safetensors writes\s+data\/x_65\.safetensors and data\/x_129\.safetensors/);
    assert.match(r.stdout, /T = 50 at dt = 1e-4 \(500 000 time steps per\s+sample\): minutes per sample/);
    assert.match(r.stdout, /--set T=1 --set dt=1e-3/);
  });

  it('a config with data.generate produces its data, trains, and evaluates at two resolutions', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-gencfg-'));
    const c = JSON.parse(readFileSync(example, 'utf8'));
    c.data.train = path.join(tmp, 'train_9.safetensors');
    c.data.test = { '9': path.join(tmp, 'test_9.safetensors'), '17': path.join(tmp, 'test_17.safetensors') };
    c.data.generate = { pde: 'darcy', resolution: 17, train: { n: 8, seed: 0, subsample: 2 }, test: { n: 4, seed: 1, subsample: [2, 1] } };
    c.data.batch_size = 4;
    c.model = { ...c.model, n_modes: [4, 4], hidden_channels: 6, n_layers: 2 };
    assert.deepEqual(Object.keys(trainOneEpoch(tmp, c)).sort(), ['17_h1', '17_l2', '9_h1', '9_l2']);
    assert.ok(existsSync(c.data.train) && existsSync(c.data.test['17']));
  });

  it('an SFNO config with swe data.generate makes each test grid, trains and evaluates on both; test.resolutions is swe-only', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-gencfg-swe-'));
    const c = JSON.parse(readFileSync(fileURLToPath(new URL('../../../examples/swe32x64.json', import.meta.url)), 'utf8'));
    c.data.train = path.join(tmp, 'train_12x24.safetensors');
    c.data.test = { '12x24': path.join(tmp, 'test_12x24.safetensors'), '24x48': path.join(tmp, 'test_24x48.safetensors') };
    c.data.generate = { pde: 'swe', resolution: 12, train: { n: 4, seed: 0, subsample: 1 }, test: { n: 2, seed: 1, subsample: [1, 1], resolutions: [12, 24] }, params: { nlon: 24, lmax: 4, nsteps: 2 } };
    c.data.batch_size = 2;
    c.model = { ...c.model, n_modes: [4, 8], hidden_channels: 6 };
    assert.deepEqual(Object.keys(trainOneEpoch(tmp, c)).sort(), ['12x24_l2', '24x48_l2']);
    const hi = loadDataset(c.data.test['24x48']);
    assert.deepEqual(hi.x.shape, [2, 3, 24, 48]);
    hi.release();
    // predict draws each of the three channels as a row of equirectangular maps
    const p = mpno('predict', '--checkpoint', path.join(tmp, 'run'), '--data', c.data.test['24x48'], '--index', '1', '--scale', '2', '--out', path.join(tmp, 'pred'));
    assert.equal(p.status, 0, p.stderr);
    const png = decodePng(readFileSync(path.join(tmp, 'pred', 'sample-0001.png')));
    assert.ok(png.height > 3 * 24 * 2 && png.height < 4 * 24 * 2 + 120 && png.width > 4 * 48 * 2, `${png.width}×${png.height}`);
    // test.resolutions on a square-grid PDE is refused by name
    const d = JSON.parse(readFileSync(example, 'utf8'));
    d.data.generate.test.resolutions = [65, 129];
    writeFileSync(path.join(tmp, 'd.json'), JSON.stringify(d));
    const bad = mpno('train', '--config', path.join(tmp, 'd.json'), '--quiet');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /'data.generate.test.resolutions' is for swe/);
  });
});

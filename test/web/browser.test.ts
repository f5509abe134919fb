/**
 * The browser page in a real browser: Playwright drives headless Chromium (Debian's chromium, found
 * at $MPNO_CHROMIUM, /usr/bin/chromium or on PATH; .ci/run installs it) against `mpno serve`. The
 * darcy16 example is trained for two epochs; the page runs it on test samples, one thread (served
 * without cross-origin isolation: unshared memory, no workers) and with workers, and its predictions
 * must equal Node's (mpno predict's path) to float32 tolerance; zero-shot at another resolution
 * against Node on the same resampled input; full vs mixed on a mixed-precision checkpoint; and every
 * bad input ends in a message on the page. A screenshot is written to test-output/web/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { Variable, noGrad, tidy } from '../../src/autograd/variable.js';
import { releaseBatch } from '../../src/core/batch.js';
import { isGridDataset, loadAnyDataset, writeDataset } from '../../src/data/dataset-file.js';
import { modelFromCheckpoint } from '../../src/cli/model-check.js';
import { serveCommand } from '../../src/cli/serve.js';
import { importCommand } from '../../src/cli/neuralop.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { builtinDarcy, predictOne, resampleGrid, runFromBytes } from '../../src/web/engine.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'mpno.js');
const TEST_DATA = path.resolve(ROOT, '..', 'shared', 'data', 'neuralop', 'darcy_test_16.pt');
const TRAIN_DATA = path.resolve(ROOT, '..', 'shared', 'data', 'neuralop', 'darcy_train_16.pt');
const OUT = path.join(ROOT, 'test-output', 'web');
const FIX = path.join(ROOT, 'test', 'fixtures', 'neuralop');

function findChromium(): string | undefined {
  const env = process.env['MPNO_CHROMIUM'];
  if (env) return env;
  for (const p of ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']) if (existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

const exe = findChromium();
// CI must run these: a missing browser there is a failure, elsewhere a skip that says why
const skip = exe === undefined && process.env['CI'] !== 'true' ? 'no chromium (apt-get install chromium, or set MPNO_CHROMIUM)' : false;

function train(config: string, out: string, epochs: number): void {
  const r = spawnSync(process.execPath, [BIN, 'train', '--config', path.join(ROOT, 'examples', config), '--epochs', String(epochs), '--out', out], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '2' } });
  assert.equal(r.status, 0, r.stderr);
}

/** Node's predictions of a run on samples of a data file (grid or points), as mpno predict makes them. */
function nodePredictions(run: string, indices: number[], file = TEST_DATA): Float32Array[] {
  const ck = loadCheckpoint(run);
  const data = loadAnyDataset(file);
  const { model, normalizer } = modelFromCheckpoint(ck, data, file);
  for (const t of Object.values(ck.weights)) t.release();
  model.eval();
  const out = indices.map((i) => {
    const p = noGrad(() => tidy(() => {
      let v;
      if (isGridDataset(data)) {
        const { x, y } = data.gather([i]);
        v = model.forward(Variable.constant(x)).value;
        x.release();
        y.release();
      } else {
        const b = data.batch([i]);
        v = model.forwardBatch!(b).value;
        releaseBatch(b);
      }
      return normalizer ? normalizer.decode(v) : v.clone('data');
    }));
    const f = Float32Array.from(p.toFloat64());
    p.release();
    return f;
  });
  model.release();
  data.release();
  return out;
}

/** max |a − b| / max |b|. */
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

interface Snapshot {
  done: number;
  error: string | null;
  threads: number;
  pred: number[] | null;
  grid: number[] | null;
  relL2: number | null;
  other: { pred: number[]; relDiff: number; precision: string } | null;
  precision: string | null;
  ms: number | null;
}

async function snapshot(page: Page): Promise<Snapshot> {
  return page.evaluate(() => {
    const s = (globalThis as unknown as { mpno: { done: number; error?: string; engine?: { threads: number }; last?: { pred: Float32Array; grid: number[]; relL2: number; ms: number; precision: string; other: { pred: Float32Array; relDiff: number; precision: string } | null } } }).mpno;
    const l = s.last;
    return {
      done: s.done, error: s.error ?? null, threads: s.engine?.threads ?? 0, pred: l ? Array.from(l.pred) : null, grid: l ? l.grid : null,
      relL2: l ? l.relL2 : null, ms: l ? l.ms : null, precision: l ? l.precision : null,
      other: l?.other ? { pred: Array.from(l.other.pred), relDiff: l.other.relDiff, precision: l.other.precision } : null,
    };
  });
}

/** Waits until the page has finished `count` requests and is idle. */
async function settle(page: Page, count: number): Promise<Snapshot> {
  await page.waitForFunction((n) => {
    const s = (globalThis as unknown as { mpno?: { done: number; busy: boolean } }).mpno;
    return s !== undefined && s.done >= n && !s.busy;
  }, count, { timeout: 120_000 });
  return snapshot(page);
}

/** Changes an input and waits for the request it starts. */
async function change(page: Page, selector: string, value: string): Promise<Snapshot> {
  const before = (await snapshot(page)).done;
  await page.locator(selector).evaluate((el, v) => {
    (el as unknown as { value: string }).value = v;
    el.dispatchEvent(new Event('change'));
  }, value);
  return settle(page, before + 1);
}

describe('browser page', { skip, timeout: 600_000 }, () => {
  let dir: string;
  let browser: Browser;
  const servers: Server[] = [];
  const run16 = () => path.join(dir, 'darcy16');
  const runMixed = () => path.join(dir, 'darcy16-mixed');

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'mpno-web-'));
    train('darcy16.json', run16(), 2);
    train('darcy16-mixed.json', runMixed(), 1);
    browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(run: string | undefined, isolation: boolean, query = '', init?: () => void): Promise<Page> {
    const { server, url } = await serveCommand({ run, port: 0, host: '127.0.0.1', isolation });
    servers.push(server);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    if (init) await page.addInitScript(init);
    await page.goto(`${url}${query}`);
    await settle(page, 1);
    assert.deepEqual(errors, [], 'uncaught errors on the page');
    return page;
  }

  for (const [label, isolation, threads] of [['one thread, unshared memory', false, 1], ['workers on shared memory', true, 2]] as const) {
    it(`runs the darcy16 checkpoint as Node does (${label})`, async () => {
      const want = nodePredictions(run16(), [0, 7, 31]);
      const page = await open(run16(), isolation, `?threads=${threads}`);
      let s = await snapshot(page);
      assert.equal(s.error, null);
      assert.equal(s.threads, threads);
      const got: number[][] = [s.pred!];
      for (const i of [7, 31]) {
        s = await change(page, '#index', String(i));
        assert.equal(s.error, null);
        got.push(s.pred!);
      }
      got.forEach((g, k) => assert.ok(maxRel(g, want[k]!) < 1e-5, `sample ${[0, 7, 31][k]}: max relative difference ${maxRel(g, want[k]!)}`));
      const text = await page.locator('#summary').textContent();
      assert.match(text ?? '', /relative L2 error \d\.\d{5}; inference [\d.]+ ms on \d thread/);
      if (isolation) {
        mkdirSync(OUT, { recursive: true });
        await page.screenshot({ path: path.join(OUT, 'darcy16.png'), fullPage: true });
      }
      // zero-shot at 32 × 32 (the slider's ×2): Node on the same resampled input
      s = await change(page, '#scale', '4');
      assert.deepEqual(s.grid, [32, 32]);
      const ck = loadCheckpoint(run16());
      const stateText = readFileSync(path.join(ck.dir, 'state.json'), 'utf8');
      for (const t of Object.values(ck.weights)) t.release();
      const r = runFromBytes(stateText, readFileSync(path.join(ck.dir, 'model.safetensors')), 'darcy16');
      const data = loadAnyDataset(TEST_DATA);
      assert.ok(isGridDataset(data));
      const { x, y } = data.gather([31]);
      const xa = resampleGrid(x.toFloat64(), 1, 16, 16, 32, 32);
      x.release();
      y.release();
      data.release();
      const node32 = predictOne(r, xa, [32, 32]);
      r.model.release();
      assert.ok(maxRel(s.pred!, node32) < 1e-5, `32 × 32: max relative difference ${maxRel(s.pred!, node32)}`);
      await page.close();
    });
  }

  it('generates built-in Darcy samples in the page and runs zero-shot against their exact solutions', async () => {
    const page = await open(run16(), true, '?threads=2');
    const before = (await snapshot(page)).done;
    await page.locator('#builtin').click();
    let s = await settle(page, before + 2);
    assert.equal(s.error, null);
    assert.deepEqual(s.grid, [65, 65]);
    const made = builtinDarcy(4);
    const ck = loadCheckpoint(run16());
    const stateText = readFileSync(path.join(ck.dir, 'state.json'), 'utf8');
    for (const t of Object.values(ck.weights)) t.release();
    const r = runFromBytes(stateText, readFileSync(path.join(ck.dir, 'model.safetensors')), 'darcy16');
    const nodeAt = (g: number, i: number) => {
      const { x, y } = made.get(g)!.gather([i]);
      const p = predictOne(r, x.toFloat64(), [g, g]);
      x.release();
      y.release();
      return p;
    };
    assert.ok(maxRel(s.pred!, nodeAt(65, 0)) < 1e-5, `65: ${maxRel(s.pred!, nodeAt(65, 0))}`);
    s = await change(page, '#scale', '4'); // ×2: the 129-point grid, its own solution
    assert.deepEqual(s.grid, [129, 129]);
    assert.ok(maxRel(s.pred!, nodeAt(129, 0)) < 1e-5, `129: ${maxRel(s.pred!, nodeAt(129, 0))}`);
    assert.doesNotMatch((await page.locator('#summary').textContent()) ?? '', /resampled/);
    r.model.release();
    for (const d of made.values()) d.release();
    await page.close();
  });

  it('toggles a mixed-precision checkpoint between mixed and full, with the difference shown', async () => {
    const page = await open(runMixed(), true, '?threads=2');
    let s = await snapshot(page);
    assert.equal(s.error, null);
    assert.ok(await page.locator('#precision-box').isVisible(), 'the precision toggle is shown');
    assert.match(s.precision!, /mixed float16 \+ AMP/);
    const want = nodePredictions(runMixed(), [0])[0]!;
    // half rounding inside the model: the same kernels, so agreement far below fp16's 1e-3
    assert.ok(maxRel(s.pred!, want) < 1e-3, `mixed: ${maxRel(s.pred!, want)}`);
    assert.ok(s.other !== null && s.other.precision === 'full');
    assert.ok(s.other.relDiff > 0 && s.other.relDiff < 0.05, `mixed vs full ${s.other.relDiff}`);
    const before = s.done;
    await page.locator('input[name=precision][value=full]').check();
    s = await settle(page, before + 1);
    assert.equal(s.precision, 'full');
    assert.ok(s.other !== null && /mixed/.test(s.other.precision));
    assert.equal(await page.locator('.panel h3', { hasText: 'half − full precision' }).count(), 1);
    await page.close();
  });

  it('runs a neuralop checkpoint brought in with mpno import as Node does', async () => {
    const run = path.join(dir, 'imported');
    importCommand({ source: FIX, name: 'darcy', out: run, normalizer: path.join(FIX, 'darcy_data_processor.pt'), normalizerEps: 1e-7, force: false });
    const want = nodePredictions(run, [0, 3]);
    const { server, url } = await serveCommand({ run, data: [TEST_DATA], port: 0, host: '127.0.0.1' });
    servers.push(server);
    const page = await browser.newPage();
    await page.goto(`${url}?threads=2`);
    let s = await settle(page, 1);
    assert.equal(s.error, null);
    assert.ok(maxRel(s.pred!, want[0]!) < 1e-5, `imported, sample 0: ${maxRel(s.pred!, want[0]!)}`);
    s = await change(page, '#index', '3');
    assert.ok(maxRel(s.pred!, want[1]!) < 1e-5, `imported, sample 3: ${maxRel(s.pred!, want[1]!)}`);
    await page.close();
  });

  it('runs a model exported in neuralop\'s layout (mpno export --format neuralop) as the run it came from', async () => {
    const ex = path.join(dir, 'export16');
    const r = spawnSync(process.execPath, [BIN, 'export', '--format', 'neuralop', run16(), ex], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const want = nodePredictions(run16(), [0])[0]!;
    const page = await open(run16(), true, '?threads=2');
    const before = (await snapshot(page)).done;
    await page.locator('#ckpt-files').setInputFiles(['config.json', 'model.safetensors', 'data_processor.safetensors'].map((f) => path.join(ex, f)));
    await settle(page, before + 1);
    const s = await settle(page, before + 2);
    assert.equal(s.error, null);
    assert.match((await page.locator('#run-info').textContent()) ?? '', /FNO, epoch 0, 1 → 1 channel\(s\), runs in full/);
    assert.ok(maxRel(s.pred!, want) < 1e-5, `export: ${maxRel(s.pred!, want)}`);
    await page.close();
  });

  /** A small run of a family, trained one epoch on data it generates (or the Darcy files). */
  function trainSmall(name: string, body: Record<string, unknown>): string {
    const cfg = path.join(dir, `${name}.json`);
    writeFileSync(cfg, JSON.stringify({
      optimizer: { name: 'AdamW', lr: 0.003, weight_decay: 0.0001 }, scheduler: null,
      training: { n_epochs: 1, eval_interval: 1, train_loss: 'l2', eval_losses: ['l2'], seed: 0 },
      output: { dir: path.join(dir, name), checkpoint_every: 1 }, ...body,
    }));
    const r = spawnSync(process.execPath, [BIN, 'train', '--config', cfg, '--quiet'], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '2' } });
    assert.equal(r.status, 0, r.stderr);
    return path.join(dir, name);
  }

  it('runs every model family as Node does: TFNO, SFNO (mixed bf16, on the sphere\'s grid), GINO (point clouds)', async () => {
    const runs = [
      {
        run: trainSmall('tfno', {
          data: { train: TRAIN_DATA, n_train: 64, test: { 16: TEST_DATA }, batch_size: 16, test_batch_size: 16, shuffle: false, encode_output: true },
          model: { name: 'TFNO', n_modes: [8, 8], in_channels: 1, out_channels: 1, hidden_channels: 16, factorization: 'tucker', rank: 0.4 },
        }),
        data: TEST_DATA,
      },
      {
        run: trainSmall('sfno', {
          data: {
            train: 'swe_train.safetensors', test: { '16x32': 'swe_test.safetensors' }, batch_size: 2, test_batch_size: 2, shuffle: true, encode_output: false,
            generate: { pde: 'swe', resolution: 16, train: { n: 4, seed: 0, subsample: 1 }, test: { n: 2, seed: 1, subsample: [1], resolutions: [16] }, params: { nlon: 32, lmax: 5, nsteps: 2 } },
          },
          model: { name: 'SFNO', n_modes: [5, 10], in_channels: 3, out_channels: 3, hidden_channels: 8, fno_block_precision: 'mixed', half_type: 'bfloat16', amp: true },
        }),
        data: path.join(dir, 'swe_test.safetensors'),
      },
      {
        run: trainSmall('gino', {
          data: {
            train: 'bodies_train.safetensors', test: { bodies: 'bodies_test.safetensors' }, batch_size: 2, test_batch_size: 2, shuffle: true, encode_output: true,
            generate: { pde: 'bodies', resolution: 8, train: { n: 4, seed: 0, subsample: 1 }, test: { n: 2, seed: 1, subsample: [1] }, params: { points: 150 } },
          },
          model: {
            name: 'GINO', out_channels: 1, latent_feature_channels: 1, fno_n_modes: [4, 4, 4], fno_hidden_channels: 8, fno_n_layers: 2, in_gno_radius: 0.2, out_gno_radius: 0.2,
            in_gno_pos_embed_type: 'nerf', out_gno_pos_embed_type: 'nerf', gno_embed_channels: 2, in_gno_channel_mlp_hidden_layers: [16], out_gno_channel_mlp_hidden_layers: [16],
          },
        }),
        data: path.join(dir, 'bodies_test.safetensors'),
      },
    ];
    for (const { run, data } of runs) {
      const want = nodePredictions(run, [0, 1], data);
      const page = await open(run, true, '?threads=2');
      let s = await snapshot(page);
      assert.equal(s.error, null, path.basename(run));
      const got = [s.pred!];
      s = await change(page, '#index', '1');
      assert.equal(s.error, null, path.basename(run));
      got.push(s.pred!);
      // SFNO runs its Fourier layers in bf16: the same kernels on both sides, thread splits aside
      const tol = path.basename(run) === 'sfno' ? 1e-3 : 1e-5;
      got.forEach((g, k) => assert.ok(maxRel(g, want[k]!) < tol, `${path.basename(run)} sample ${k}: max relative difference ${maxRel(g, want[k]!)}`));
      if (path.basename(run) === 'gino') {
        assert.match((await page.locator('#summary').textContent()) ?? '', /\d+ points \(side view above, top view below\)/);
        assert.equal(await page.locator('canvas.cloud').count(), 3);
        mkdirSync(OUT, { recursive: true });
        await page.screenshot({ path: path.join(OUT, 'gino.png'), fullPage: true });
      }
      if (path.basename(run) === 'sfno') {
        assert.ok(s.other !== null, 'a mixed SFNO offers full precision beside it');
        await page.screenshot({ path: path.join(OUT, 'sfno.png'), fullPage: true });
      }
      await page.close();
    }
  });

  it('says what is wrong with bad input, on the page', async () => {
    const page = await open(undefined, true);
    const message = async () => (await page.locator('#message').textContent()) ?? '';
    const pick = async (selector: string, files: string | { name: string; mimeType: string; buffer: Buffer }[]) => {
      const before = (await snapshot(page)).done;
      await page.locator(selector).setInputFiles(files);
      return settle(page, before + 1);
    };
    await pick('#ckpt-files', [{ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') }]);
    assert.match(await message(), /no state\.json \(an mpno checkpoint\) or config\.json \+ model\.safetensors \(an export\) among the 1 file/);
    const weights = readFileSync(path.join(loadCheckpointDir(run16()), 'model.safetensors'));
    await pick('#ckpt-files', [
      { name: 'state.json', mimeType: 'application/json', buffer: Buffer.from('{"format": "something-else"}') },
      { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: weights },
    ]);
    assert.match(await message(), /not an mpno checkpoint/);
    const state = JSON.parse(readFileSync(path.join(loadCheckpointDir(run16()), 'state.json'), 'utf8')) as { config: { model: { name: string } } };
    state.config.model.name = 'UNO';
    await pick('#ckpt-files', [
      { name: 'state.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(state)) },
      { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: weights },
    ]);
    assert.match(await message(), /model family 'UNO' is not known/);
    // a whole run directory (webkitdirectory): the checkpoint its 'latest' names
    await pick('#ckpt-dir', run16());
    assert.equal((await snapshot(page)).error, null);
    assert.match((await page.locator('#run-info').textContent()) ?? '', /^darcy16\/epoch-0002: FNO, epoch 2/);
    // a dataset with two input channels for a one-channel model
    const two = path.join(dir, 'two-channels.safetensors');
    const n = 2 * 2 * 16 * 16;
    writeDataset(two, Float32Array.from({ length: n }, (_, i) => Math.sin(i)), [2, 2, 16, 16], Float32Array.from({ length: n / 2 }, (_, i) => Math.cos(i)), [2, 1, 16, 16], { format: 'mpno-dataset', pde: 'test', resolution: 16, seed: 0, samples: 2, params: {} });
    await pick('#data-file', [{ name: 'two-channels.safetensors', mimeType: 'application/octet-stream', buffer: readFileSync(two) }]);
    let s = await settle(page, (await snapshot(page)).done);
    assert.match(s.error ?? '', /in_channels\/out_channels \(1\/1\) do not match the data \(2 in/);
    await pick('#data-file', [{ name: 'junk.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a dataset at all') }]);
    assert.match(await message(), /junk\.safetensors: neither a safetensors dataset nor a \.pt file/);
    s = await snapshot(page);
    assert.ok(s.error);
    await page.close();
    // a browser without WebAssembly SIMD: WebAssembly.validate refuses the page's SIMD probe
    const old = await open(undefined, true, '', () => {
      WebAssembly.validate = () => false;
    });
    assert.match((await old.locator('#message').textContent()) ?? '', /lacks WebAssembly SIMD/);
    await old.close();
  });
});

function loadCheckpointDir(run: string): string {
  const ck = loadCheckpoint(run);
  for (const t of Object.values(ck.weights)) t.release();
  return ck.dir;
}

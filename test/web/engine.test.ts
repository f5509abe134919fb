/**
 * The browser path's Node-testable parts: the unshared-memory kernel build (a page that is not
 * cross-origin isolated), checkpoint and dataset loading from bytes with named errors, resampling to
 * another grid, and `mpno serve` (headers, routes, nothing else on the disk reachable).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KERNEL_NAMES, type KernelExports, unsharedMemoryBuild } from '../../src/kernels/module.js';
import { platform } from '../../src/core/platform.js';
import { serveCommand } from '../../src/cli/serve.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { InputError, datasetFromBytes, resampleGrid, runFromBytes } from '../../src/web/engine.js';
import { Rng } from '../../src/core/rng.js';
import { PointCloudDataset } from '../../src/data/points.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'mpno.js');
const TEST_DATA = path.resolve(ROOT, '..', 'shared', 'data', 'neuralop', 'darcy_test_16.pt');

describe('kernels on unshared memory', () => {
  it('the patched build instantiates over an unshared memory and computes what the shared one does', () => {
    const bytes = platform.kernelBytes('mpno');
    const patched = unsharedMemoryBuild(bytes) as Uint8Array<ArrayBuffer>;
    assert.equal(patched.length, bytes.length);
    let differing = 0;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== patched[i]) differing++;
    assert.equal(differing, 1, 'exactly the memory limits flag changes');
    const run = (shared: boolean) => {
      const memory = new WebAssembly.Memory({ initial: 4, maximum: 65536, shared });
      const mod = new WebAssembly.Module(shared ? (bytes as Uint8Array<ArrayBuffer>) : patched);
      const k = new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as KernelExports;
      for (const n of KERNEL_NAMES) assert.equal(typeof k[n], 'function', n);
      const rng = new Rng(5);
      const n = 1000;
      const f = new Float32Array(memory.buffer, 65536, 3 * n);
      for (let i = 0; i < 2 * n; i++) f[i] = rng.normal();
      k.unary(2, 65536, 1, 65536 + 8 * n, 1, n, 0, 0); // gelu (erf) of the first n into the third block
      return Array.from(f.subarray(2 * n));
    };
    const unshared = run(false);
    assert.deepEqual(unshared, run(true));
    assert.ok(unshared.some((v) => v !== 0));
    // a shared memory cannot be given to the unpatched build's unshared twin, and the reverse
    assert.throws(() => new WebAssembly.Instance(new WebAssembly.Module(patched), { env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }) } }));
  });

  it('refuses bytes that are not a WebAssembly module', () => {
    assert.throws(() => unsharedMemoryBuild(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), /not a WebAssembly module/);
  });
});

describe('resampleGrid', () => {
  it('is the identity on the same grid, keeps a two-valued field two-valued, and is exact on linear fields inside', () => {
    const rng = new Rng(2);
    const x = Float64Array.from({ length: 2 * 6 * 5 }, () => rng.normal());
    assert.deepEqual(resampleGrid(x, 2, 6, 5, 6, 5), x);
    const binary = Float64Array.from({ length: 64 }, () => (rng.uniform() < 0.5 ? 3 : 12));
    const up = resampleGrid(binary, 1, 8, 8, 20, 13);
    assert.deepEqual([...new Set(up)].sort((a, b) => a - b), [...new Set(binary)].sort((a, b) => a - b));
    // a linear field at cell centres: bilinear resampling reproduces it wherever no clamping happens
    const H = 8, W = 10, h = 16, w = 20;
    const lin = (i: number, j: number, hh: number, ww: number) => 2 * ((i + 0.5) / hh) - 3 * ((j + 0.5) / ww) + 0.25;
    const src = Float64Array.from({ length: H * W }, (_, k) => lin(Math.floor(k / W), k % W, H, W));
    const out = resampleGrid(src, 1, H, W, h, w);
    for (let i = 1; i < h - 1; i++) for (let j = 1; j < w - 1; j++) assert.ok(Math.abs(out[i * w + j]! - lin(i, j, h, w)) < 1e-12, `${i},${j}`);
  });
});

describe('checkpoints and datasets from bytes', () => {
  let dir: string;
  let ck: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'mpno-engine-'));
    const r = spawnSync(process.execPath, [BIN, 'train', '--config', path.join(ROOT, 'examples', 'darcy16.json'), '--epochs', '1', '--set', 'data.n_train=64', '--out', path.join(dir, 'run')], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const c = loadCheckpoint(path.join(dir, 'run'));
    for (const t of Object.values(c.weights)) t.release();
    ck = c.dir;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const state = () => readFileSync(path.join(ck, 'state.json'), 'utf8');
  const weights = () => readFileSync(path.join(ck, 'model.safetensors'));

  it('loads a checkpoint and names what is wrong with bad ones', () => {
    const r = runFromBytes(state(), weights(), 'run');
    assert.equal(r.spec.name, 'FNO');
    assert.equal(r.precision, 'full');
    assert.equal(r.hasHalf, false);
    assert.ok(r.normalizer);
    r.model.release();
    assert.throws(() => runFromBytes('{', weights(), 'run'), (e: Error) => e instanceof InputError && /state\.json is not JSON/.test(e.message));
    assert.throws(() => runFromBytes('{"format":"x"}', weights(), 'run'), /not an mpno checkpoint \(format "x"\)/);
    const s = JSON.parse(state()) as { config: { model: Record<string, unknown> }; epoch: number };
    s.config.model['name'] = 'UNO';
    assert.throws(() => runFromBytes(JSON.stringify(s), weights(), 'run'), /model family 'UNO' is not known to this mpno \(it has FNO/);
    s.config.model['name'] = 'FNO';
    s.config.model['hidden_channels'] = 16;
    assert.throws(() => runFromBytes(JSON.stringify(s), weights(), 'run'), /has shape .* in the checkpoint, but the model built from the checkpoint's config/);
    s.config.model['hidden_channels'] = 24;
    s.epoch = 7;
    assert.throws(() => runFromBytes(JSON.stringify(s), weights(), 'run'), /model\.safetensors is from epoch 1 but state\.json from epoch 7/);
    assert.throws(() => runFromBytes(state(), new Uint8Array([1, 2, 3]), 'run'), InputError);
  });

  it('reads neuralop .pt and mpno safetensors datasets, and refuses other bytes by name', () => {
    const d = datasetFromBytes(readFileSync(TEST_DATA), 'darcy_test_16.pt');
    assert.ok(!(d instanceof PointCloudDataset));
    assert.deepEqual([...d.xShape], [50, 1, 16, 16]);
    d.release();
    assert.throws(() => datasetFromBytes(new TextEncoder().encode('hello there, not data'), 'x.bin'), /x\.bin: neither a safetensors dataset nor a \.pt file/);
    assert.throws(() => datasetFromBytes(weights(), 'model.safetensors'), /model\.safetensors: a dataset file needs tensors 'x' and 'y'/);
  });

  it('mpno serve: the page, the run, the isolation headers, and nothing else', async () => {
    const extra = path.join(dir, 'extra.pt');
    writeFileSync(extra, readFileSync(TEST_DATA));
    const { server, url, manifest } = await serveCommand({ run: path.join(dir, 'run'), data: [extra], port: 0, host: '127.0.0.1' });
    try {
      assert.deepEqual(manifest!.data.map((x) => x.name), ['darcy_test_16.pt', 'extra.pt']);
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
      assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
      assert.match(await page.text(), /<script type="module" src="dist\/page\.js">/);
      const m = (await (await fetch(`${url}run/manifest.json`)).json()) as { checkpoint: { weights: string }; data: { url: string }[] };
      const w = new Uint8Array(await (await fetch(`${url}${m.checkpoint.weights}`)).arrayBuffer());
      assert.deepEqual(w, new Uint8Array(weights()));
      assert.equal((await fetch(`${url}${m.data[1]!.url}`)).status, 200);
      for (const bad of ['package.json', 'dist/../../package.json', '%2e%2e/package.json', 'run/data/5.pt', 'src/index.ts']) {
        assert.equal((await fetch(`${url}${bad}`)).status, 404, bad);
      }
      assert.equal((await fetch(url, { method: 'POST' })).status, 405);
    } finally {
      server.close();
    }
    const plain = await serveCommand({ port: 0, host: '127.0.0.1', isolation: false });
    try {
      const r = await fetch(plain.url);
      assert.equal(r.headers.get('cross-origin-opener-policy'), null);
      assert.equal((await fetch(`${plain.url}run/manifest.json`)).status, 404);
    } finally {
      plain.server.close();
    }
    await assert.rejects(serveCommand({ run: path.join(dir, 'nope'), port: 0, host: '127.0.0.1' }), /serve: .*nope does not exist/);
    await assert.rejects(serveCommand({ data: [extra], port: 0, host: '127.0.0.1' }), /--data goes with a run/);
    await assert.rejects(serveCommand({ run: path.join(dir, 'run'), data: [path.join(dir, 'missing.pt')], port: 0, host: '127.0.0.1' }), /--data .*missing\.pt is not a file/);
  });
});

#!/usr/bin/env node
// Training on a dataset larger than the memory it may use: writes a synthetic mpno dataset file of
// --gb GiB (x [N, C, G, G] and y [N, 1, G, G] float32, written in chunks, never whole in memory) and a
// small test file, then trains one epoch of a small FNO on it with the data read lazily through a
// --cache-mb MiB cache, in a child process whose peak RSS (process.resourceUsage().maxRSS) must stay
// under --limit-mb. Also times one shuffled pass of batches read as single samples against reads of
// 64-sample blocks (what LazyGridDataset chooses between).
//
//   npm run build && node scripts/lazy-proof.mjs [--gb 2] [--cache-mb 128] [--limit-mb 512] [--dir DIR] [--keep]
//
// Not part of npm test (minutes, and GiBs of disk). Prints one JSON line of results.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : d;
};

/** x[n, c, i, j] and y[n, 0, i, j] = the mean over c of sin(x): a closed form, so any chunk can be written alone. */
function sample(n, C, G, x, y) {
  const S = G * G;
  y.fill(0, 0, S);
  for (let c = 0; c < C; c++) {
    const a = 0.37 * ((n % 97) + 1) + 0.11 * c;
    for (let i = 0; i < G; i++) for (let j = 0; j < G; j++) {
      const v = Math.sin(a + 0.3 * i) * Math.cos(0.2 * j + 0.05 * n);
      x[c * S + i * G + j] = v;
      y[i * G + j] += Math.sin(v) / C;
    }
  }
}

/** Writes an mpno dataset file of N samples in chunks (header, then every x, then every y). */
function writeDatasetFile(file, N, C, G) {
  const S = G * G;
  const xBytes = N * C * S * 4;
  const yBytes = N * S * 4;
  const meta = JSON.stringify({ format: 'mpno-dataset', pde: 'synthetic', resolution: G, seed: 0, samples: N, params: { channels: C, formula: 'scripts/lazy-proof.mjs' } });
  let json = JSON.stringify({ __metadata__: { mpno: meta }, x: { dtype: 'F32', shape: [N, C, G, G], data_offsets: [0, xBytes] }, y: { dtype: 'F32', shape: [N, 1, G, G], data_offsets: [xBytes, xBytes + yBytes] } });
  json = json.padEnd(Math.ceil(json.length / 8) * 8, ' ');
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length), 0);
  head.write(json, 8, 'utf8');
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  writeSync(fd, head);
  const chunk = 512;
  const x = new Float32Array(chunk * C * S);
  const y = new Float32Array(chunk * S);
  const one = { x: new Float32Array(C * S), y: new Float32Array(S) };
  for (const part of ['x', 'y']) {
    for (let s = 0; s < N; s += chunk) {
      const n = Math.min(chunk, N - s);
      for (let k = 0; k < n; k++) {
        sample(s + k, C, G, one.x, one.y);
        if (part === 'x') x.set(one.x, k * C * S);
        else y.set(one.y, k * S);
      }
      const buf = part === 'x' ? x.subarray(0, n * C * S) : y.subarray(0, n * S);
      writeSync(fd, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    }
  }
  closeSync(fd);
  // renamed into place only when complete
  spawnSync('mv', [tmp, file]);
}

async function child(mode, config, cacheMb) {
  if (mode === 'train') {
    const { trainCommand } = await import(path.join(root, 'dist/src/cli/train.js'));
    const t0 = performance.now();
    const r = await trainCommand({ config, set: [`data.cache_mb=${cacheMb}`], resume: false, overwrite: true, quiet: true });
    console.log(JSON.stringify({ secs: (performance.now() - t0) / 1000, maxRSS_mb: process.resourceUsage().maxRSS / 1024, eval: r }));
    return;
  }
  // reads: one shuffled pass of batches of 20, single-sample reads vs 64-sample blocks
  const { loadAnyDataset } = await import(path.join(root, 'dist/src/data/dataset-file.js'));
  const { LazyGridDataset, SampleCache } = await import(path.join(root, 'dist/src/data/lazy.js'));
  const { DataLoader } = await import(path.join(root, 'dist/src/data/dataset.js'));
  const { releaseBatch } = await import(path.join(root, 'dist/src/core/batch.js'));
  const out = {};
  for (const block of [1, 64]) {
    const cache = new SampleCache(cacheMb * 2 ** 20);
    const base = loadAnyDataset(config, { cache });
    const reader = block === 1 ? base.reader : Object.assign(Object.create(Object.getPrototypeOf(base.reader)), base.reader, { blockSamples: block });
    const d = new LazyGridDataset(reader, cache);
    const loader = new DataLoader(d, { batchSize: 20, shuffle: true, seed: 1 });
    const t0 = performance.now();
    for (const idx of loader.epochBatches()) releaseBatch(d.batch(idx));
    out[`block${block}`] = { secs: (performance.now() - t0) / 1000, reads: cache.stats.reads, gb_read: cache.stats.bytesRead / 2 ** 30, hits: cache.stats.hits, misses: cache.stats.misses, cache_peak_mb: cache.stats.peakBytes / 2 ** 20 };
    base.release();
  }
  out.maxRSS_mb = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify(out));
}

if (args[0] === '--child') {
  await child(args[1], args[2], Number(args[3]));
} else {
  const gb = Number(opt('gb', '2'));
  const cacheMb = Number(opt('cache-mb', '128'));
  const limitMb = Number(opt('limit-mb', '512'));
  const dir = opt('dir', path.join(tmpdir(), 'mpno-lazy-proof'));
  const C = 32;
  const G = 32;
  const per = (C + 1) * G * G * 4;
  const N = Math.ceil((gb * 2 ** 30) / per);
  mkdirSync(dir, { recursive: true });
  const train = path.join(dir, `train-${N}.safetensors`);
  const test = path.join(dir, 'test.safetensors');
  const t0 = performance.now();
  if (!existsSync(train)) writeDatasetFile(train, N, C, G);
  if (!existsSync(test)) writeDatasetFile(test, 256, C, G);
  const genSecs = (performance.now() - t0) / 1000;
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({
    data: { train, test: { [G]: test }, batch_size: 20, test_batch_size: 32, shuffle: true, encode_output: true },
    model: { name: 'FNO', n_modes: [8, 8], in_channels: C, out_channels: 1, hidden_channels: 16, projection_channel_ratio: 2 },
    optimizer: { name: 'AdamW', lr: 0.001, weight_decay: 0.0001 }, scheduler: null,
    training: { n_epochs: 1, eval_interval: 1, train_loss: 'l2', eval_losses: ['l2'], seed: 0 },
    output: { dir: path.join(dir, 'run'), checkpoint_every: 1 },
  }));
  const run = (mode) => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, mode === 'train' ? config : train, String(cacheMb)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`lazy-proof: the ${mode} child failed (${r.status})`);
    return JSON.parse(r.stdout.trim().split('\n').pop());
  };
  const reads = run('reads');
  const trained = run('train');
  const result = {
    dataset_gb: statSync(train).size / 2 ** 30, samples: N, sample_kb: per / 1024, cache_mb: cacheMb, limit_mb: limitMb,
    generate_s: genSecs, train: trained, reads,
  };
  console.log(JSON.stringify(result));
  if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  if (trained.maxRSS_mb > limitMb) {
    console.error(`lazy-proof: peak RSS ${trained.maxRSS_mb.toFixed(0)} MB exceeds the limit of ${limitMb} MB`);
    process.exit(1);
  }
}

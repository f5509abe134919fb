// Inference time in the browser page against Node, side by side: the darcy16 example (trained for
// two epochs here) and a 128 × 128 FNO (n_modes 16 × 16, hidden_channels 32, trained one epoch on
// random fields, since only its speed matters), one sample per forward pass. For each model and
// thread count, Node (the page's own inference path, src/web/engine.ts) and headless Chromium
// (the page's "time 10 runs") alternate for --reps repetitions; each takes the median of 10
// forward passes; the medians over repetitions are printed with the ratio browser ÷ Node.
//   node scripts/browser-speed.mjs [--reps 3] [--chromium /usr/bin/chromium]
// Needs npm run build and Debian's chromium. Do not run it beside other work (it is a timing).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { pool } from '../dist/src/kernels/pool.js';
import { serveCommand } from '../dist/src/cli/serve.js';
import { writeDataset } from '../dist/src/data/dataset-file.js';
import { loadCheckpoint } from '../dist/src/train/checkpoint.js';
import { datasetFromBytes, predictOne, runFromBytes } from '../dist/src/web/engine.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const reps = Number(arg('--reps', '3'));
const exe = arg('--chromium', process.env.MPNO_CHROMIUM ?? '/usr/bin/chromium');
const dir = mkdtempSync(path.join(tmpdir(), 'mpno-browser-speed-'));
const bin = path.join(root, 'bin', 'mpno.js');
const sh = (args) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mpno ${args.join(' ')}: ${r.stderr}`);
};

try {
  // the two runs
  sh(['train', '--config', path.join(root, 'examples', 'darcy16.json'), '--epochs', '2', '--out', path.join(dir, 'darcy16')]);
  const n = 8, s = 128;
  const rnd = (k) => Float32Array.from({ length: k }, (_, i) => Math.sin(0.37 * i) + Math.cos(0.011 * i * i));
  const data128 = path.join(dir, 'fields128.safetensors');
  writeDataset(data128, rnd(n * s * s), [n, 1, s, s], rnd(n * s * s).map((v) => 0.5 * v), [n, 1, s, s], { format: 'mpno-dataset', pde: 'random', resolution: s, seed: 0, samples: n, params: {} });
  const cfg = JSON.parse(readFileSync(path.join(root, 'examples', 'darcy16.json'), 'utf8'));
  cfg.data = { train: data128, n_train: n, test: { 128: data128 }, batch_size: 4, test_batch_size: 4, shuffle: false, encode_output: true };
  cfg.model = { name: 'FNO', n_modes: [16, 16], in_channels: 1, out_channels: 1, hidden_channels: 32 };
  cfg.training.n_epochs = 1;
  cfg.training.eval_interval = 1;
  cfg.output = { dir: path.join(dir, 'fno128'), checkpoint_every: 1 };
  writeFileSync(path.join(dir, 'fno128.json'), JSON.stringify(cfg));
  sh(['train', '--config', path.join(dir, 'fno128.json')]);

  const browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'] });
  const cores = availableParallelism();
  const rows = [];
  for (const [label, run, data] of [['darcy16 (16 × 16)', path.join(dir, 'darcy16'), path.resolve(root, '..', 'shared', 'data', 'neuralop', 'darcy_test_16.pt')], ['FNO 128 × 128', path.join(dir, 'fno128'), data128]]) {
    const ck = loadCheckpoint(run);
    for (const t of Object.values(ck.weights)) t.release();
    const r = runFromBytes(readFileSync(path.join(ck.dir, 'state.json'), 'utf8'), readFileSync(path.join(ck.dir, 'model.safetensors')), label);
    const ds = datasetFromBytes(readFileSync(data), path.basename(data));
    const { x, y } = ds.gather([0]);
    const xa = x.toFloat64();
    const grid = ds.xShape.slice(2);
    x.release();
    y.release();
    // the page loads the run's own test set (darcy_test_16.pt, fields128.safetensors) first
    const { server, url } = await serveCommand({ run, port: 0, host: '127.0.0.1' });
    for (const threads of [...new Set([1, cores])]) {
      const node = [];
      const web = [];
      const page = await browser.newPage();
      await page.goto(`${url}?threads=${threads}`);
      await page.waitForFunction(() => globalThis.mpno?.done > 0 && !globalThis.mpno.busy, null, { timeout: 120000 });
      for (let k = 0; k < reps; k++) {
        pool.setThreads(threads);
        predictOne(r, xa, grid); // warm-up
        const times = [];
        for (let i = 0; i < 10; i++) {
          const t0 = performance.now();
          predictOne(r, xa, grid);
          times.push(performance.now() - t0);
        }
        node.push(times.sort((a, b) => a - b)[5]);
        const before = await page.evaluate(() => globalThis.mpno.done);
        await page.click('#bench');
        await page.waitForFunction((b) => globalThis.mpno.done > b && !globalThis.mpno.busy, before, { timeout: 120000 });
        web.push(await page.evaluate(() => globalThis.mpno.bench.ms));
      }
      await page.close();
      const med = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
      rows.push({ model: label, threads, node_ms: med(node), browser_ms: med(web), ratio: med(web) / med(node), node_runs: node.map((v) => v.toFixed(2)).join(' '), browser_runs: web.map((v) => v.toFixed(2)).join(' ') });
    }
    server.close();
    r.model.release();
    ds.release();
  }
  await browser.close();
  console.log('| model | threads | Node ms (median) | browser ms (median) | browser ÷ Node | Node runs | browser runs |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.model} | ${r.threads} | ${r.node_ms.toFixed(2)} | ${r.browser_ms.toFixed(2)} | ${r.ratio.toFixed(2)} | ${r.node_runs} | ${r.browser_runs} |`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

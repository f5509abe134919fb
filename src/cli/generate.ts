import { constants as bufferConstants } from 'node:buffer';
import { existsSync, rmdirSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { writeDataset } from '../data/dataset-file.js';
import { writeBodies } from '../data/dataset-file.js';
import { makeDirectory } from '../data/formats/atomic.js';
import { shardPath, shardRange } from '../data/shards.js';
import { PDES, type PdeName, type ShardJob, type ShardResult, checkPdeParams, storedResolutions } from './generate-shard.js';

export interface GenerateOptions {
  pde: string;
  n: number;
  resolution: number;
  subsample: number[];
  seed: number;
  out: string;
  force: boolean;
  params: Record<string, unknown>;
  /** Worker threads (default: all cores). */
  workers?: number;
  quiet?: boolean;
  /** Explicit output files, one per stored resolution (instead of names derived from `out`). */
  paths?: string[];
  /**
   * Write shard `index` of `count` only: the samples [⌊n·index/count⌋, ⌊n·(index+1)/count⌋) of the n,
   * to `<stem>-<index>-of-<count>.safetensors`, with the shard's place in its metadata.
   */
  shard?: { index: number; count: number };
}

/** Output file of one stored resolution: `<stem>_<res>.safetensors` (just `out` when there is one). */
export function datasetPaths(out: string, resolutions: number[]): string[] {
  const stem = out.endsWith('.safetensors') ? out.slice(0, -'.safetensors'.length) : out;
  return resolutions.length === 1 ? [`${stem}.safetensors`] : resolutions.map((r) => `${stem}_${r}.safetensors`);
}

function runShard(job: ShardJob, onProgress: () => void, onStep: (done: number, total: number) => void): Promise<ShardResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./generate-worker.js', import.meta.url), { workerData: job, env: { ...process.env, MPNO_THREADS: '1' } });
    w.on('message', (m: { type: string; result?: ShardResult; done?: number; total?: number }) => {
      if (m.type === 'progress') onProgress();
      else if (m.type === 'step') onStep(m.done!, m.total!);
      else if (m.type === 'done') resolve(m.result!);
    });
    w.on('error', reject);
    w.on('exit', (code) => {
      if (code !== 0) reject(new Error(`generate: a worker exited with code ${code}`));
    });
  });
}

/**
 * mpno generate: n samples at `resolution` (stored at each subsampled resolution), split across
 * worker threads; deterministic for a seed whatever the number of workers (sample i has its own
 * generator seeded from (seed, i)). Files carry their metadata and load straight into the Trainer.
 */
export async function generateCommand(o: GenerateOptions): Promise<string[]> {
  if (!(PDES as readonly string[]).includes(o.pde)) throw new RangeError(`generate: unknown PDE '${o.pde}' (expected ${PDES.join(', ')})`);
  const pde = o.pde as PdeName;
  if (!Number.isInteger(o.n) || o.n < 1) throw new RangeError(`generate: --n must be a positive integer, got ${o.n}`);
  const sh = o.shard;
  if (sh && (!Number.isInteger(sh.count) || sh.count < 1 || !Number.isInteger(sh.index) || sh.index < 0 || sh.index >= sh.count)) throw new RangeError(`generate: --shard takes i/n with 0 ≤ i < n, got ${sh.index}/${sh.count}`);
  if (sh && pde === 'bodies') throw new RangeError('generate: bodies (point data) are not sharded; generate several files with different --seed instead');
  const range = sh ? shardRange(o.n, sh.index, sh.count) : { start: 0, end: o.n };
  if (range.end === range.start) throw new RangeError(`generate: shard ${sh!.index} of ${sh!.count} over --n ${o.n} samples is empty; use at most ${o.n} shards`);
  const workers = Math.max(1, Math.min(o.workers ?? availableParallelism(), range.end - range.start));
  // validate parameters, resolutions, memory and output paths before any work
  checkPdeParams(pde, o.params);
  const stored = storedResolutions(pde, o.resolution, o.subsample);
  checkMemory(pde, o, stored, workers, range.end - range.start);
  if (o.paths && o.paths.length !== stored.length) throw new RangeError(`generate: ${o.paths.length} output paths for ${stored.length} resolutions`);
  const named = o.paths ?? datasetPaths(o.out, stored);
  const planned = sh ? named.map((p) => shardPath(p, sh.index, sh.count)) : named;
  for (const p of planned) if (existsSync(p) && !o.force) throw new Error(`${p} exists; refusing to overwrite it (use --force)`);
  const outDir = path.dirname(path.resolve(planned[0]!));
  const made = !existsSync(outDir);
  makeDirectory(outDir, 'output directory');
  try {
    return await produce(o, pde, workers, range, planned);
  } catch (e) {
    // a failed run leaves no empty directory of its own behind (rmdir removes only an empty one)
    if (made) {
      try {
        rmdirSync(outDir);
      } catch {
        /* not empty, or already gone */
      }
    }
    throw e;
  }
}

/** Generates the samples across the workers and writes one file per stored resolution. */
async function produce(o: GenerateOptions, pde: PdeName, workers: number, range: { start: number; end: number }, paths: string[]): Promise<string[]> {
  const base: Omit<ShardJob, 'n' | 'start'> = { pde, resolution: o.resolution, seed: o.seed, subsample: o.subsample, params: o.params };
  // samples [range.start, range.end) of the o.n (all of them unless --shard), split over the workers
  const total = range.end - range.start;
  const shards: ShardJob[] = [];
  for (let w = 0; w < workers; w++) {
    const a = Math.floor((total * w) / workers);
    const b = Math.floor((total * (w + 1)) / workers);
    if (b > a) shards.push({ ...base, n: b - a, start: range.start + a });
  }
  const bar = !o.quiet && process.stdout.isTTY ? new cliProgress.SingleBar({ format: `${pde} [{bar}] {samples}/{total} samples{inner}  {eta_formatted} left`, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(total, 0, { inner: '', samples: 0 });
  let done = 0;
  const t0 = performance.now();
  // progress inside the samples being generated (navier-stokes time steps), per shard
  const inner = shards.map(() => ({ done: 0, total: 0 }));
  let lastLog = performance.now();
  const innerText = () => {
    const busy = inner.filter((p) => p.total > 0 && p.done < p.total);
    if (busy.length === 0) return '';
    const frac = busy.reduce((a, p) => a + p.done / p.total, 0) / busy.length;
    return `; samples in progress at ${(100 * frac).toFixed(0)}% of ${busy[0]!.total} time steps`;
  };
  // the bar (and its ETA) moves with the finished samples plus the finished fractions of the others
  const showBar = () => bar?.update(done + inner.reduce((a, p) => a + (p.total > 0 && p.done < p.total ? p.done / p.total : 0), 0), { inner: innerText(), samples: done });
  const results = await Promise.all(shards.map((s, k) => runShard(s, () => {
    done++;
    showBar();
    if (!bar && !o.quiet && (done % Math.max(1, Math.floor(total / 10)) === 0 || done === total)) console.log(`${pde}: ${done}/${total} samples`);
  }, (d, total) => {
    inner[k] = { done: d, total };
    if (bar) showBar();
    else if (!o.quiet && performance.now() - lastLog > 30_000) {
      lastLog = performance.now();
      console.log(`${pde}: ${done}/${total} samples${innerText()}`);
    }
  })));
  bar?.stop();
  const secs = (performance.now() - t0) / 1000;
  const first = results[0]!;
  const shard = o.shard ? { shard: { index: o.shard.index, count: o.shard.count, start: range.start, end: range.end, total: o.n } } : {};
  for (const p of paths) if (existsSync(p) && !o.force) throw new Error(`${p} exists; refusing to overwrite it (use --force)`);
  if (pde === 'bodies') {
    const bodies = results.flatMap((r) => r.bodies ?? []);
    writeBodies(paths[0]!, bodies, o.resolution, { format: 'mpno-dataset', pde, resolution: o.resolution, seed: o.seed, samples: o.n, params: { ...first.meta, start: 0 } });
  } else first.resolutions.forEach((r, q) => {
    const grid = first.grids[q]!;
    const per = (c: number) => c * grid.reduce((a, b) => a * b, 1);
    const x = new Float32Array(total * per(first.inChannels));
    const y = new Float32Array(total * per(first.outChannels));
    let off = 0;
    for (const res of results) {
      x.set(res.x[q]!, off * per(first.inChannels));
      y.set(res.y[q]!, off * per(first.outChannels));
      off += res.x[q]!.length / per(first.inChannels);
    }
    writeDataset(paths[q]!, x, [total, first.inChannels, ...grid], y, [total, first.outChannels, ...grid], {
      format: 'mpno-dataset', pde, resolution: r, seed: o.seed, samples: total,
      params: { ...first.meta, generated_at_resolution: o.resolution, start: range.start }, ...shard,
    }, o.force);
  });
  if (!o.quiet) {
    console.log(`${total} samples${o.shard ? ` (shard ${o.shard.index} of ${o.shard.count}: samples ${range.start}…${range.end - 1} of ${o.n})` : ''} in ${secs.toFixed(1)} s (${((1000 * secs) / total).toFixed(0)} ms per sample with ${shards.length} workers)`);
    for (const p of paths) console.log(`wrote ${p}`);
  }
  return paths;
}

/**
 * Refuses a job whose stored arrays cannot be allocated (more values than a typed array holds) or
 * clearly do not fit in memory: x and y at every stored resolution as float32, plus one float64
 * field of the generation grid per worker (a lower bound on the solvers' working set).
 */
function checkMemory(pde: PdeName, o: GenerateOptions, stored: number[], workers: number, n: number): void {
  const p = o.params;
  const num = (k: string, d: number) => (typeof p[k] === 'number' ? (p[k] as number) : d);
  // channels of x (the larger array) and of x plus y: one each, except navier-stokes' 'series' layout
  // (every recorded step but the last in x) and swe (three fields each)
  const series = pde === 'navier-stokes' && p['layout'] === 'series';
  const xChannels = series ? Math.max(1, Math.round(num('T', 50) / num('recordInterval', 1)) - 1) : pde === 'swe' ? 3 : pde === 'bodies' ? 11 : 1;
  const channels = xChannels + (pde === 'swe' ? 3 : 1);
  // points of a stored grid: r² on the square grids, nlat·nlon on the sphere, a body's vertices plus its latent grid
  const points = (r: number) => (pde === 'swe' ? r * num('nlon', 2 * r) : pde === 'bodies' ? num('points', 1000) + r ** 3 : r * r);
  const label = o.shard ? `shard ${o.shard.index}/${o.shard.count} (${n} samples)` : `--n ${o.n}`;
  const biggest = n * xChannels * Math.max(...stored.map(points));
  if (biggest > bufferConstants.MAX_LENGTH) {
    throw new RangeError(`generate: ${label} at --resolution ${o.resolution} makes an array of ${biggest.toExponential(2)} values; at most ${bufferConstants.MAX_LENGTH.toExponential(2)} fit in one array (use fewer samples or a lower resolution)`);
  }
  const bytes = n * channels * stored.reduce((a, r) => a + points(r), 0) * 4 + workers * points(o.resolution) * 8;
  const mem = totalmem();
  if (bytes > mem) {
    throw new RangeError(`generate: ${label} at --resolution ${o.resolution} needs at least ${(bytes / 2 ** 30).toFixed(1)} GiB (the samples as float32 plus a float64 field per worker); this machine has ${(mem / 2 ** 30).toFixed(1)} GiB`);
  }
}

import { existsSync, mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import cliProgress from 'cli-progress';
import { writeDataset } from '../data/dataset-file.js';
import { PDES, type PdeName, type ShardJob, type ShardResult, storedResolutions } from './generate-shard.js';

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
}

/** Output file of one stored resolution: `<stem>_<res>.safetensors` (just `out` when there is one). */
export function datasetPaths(out: string, resolutions: number[]): string[] {
  const stem = out.endsWith('.safetensors') ? out.slice(0, -'.safetensors'.length) : out;
  return resolutions.length === 1 ? [`${stem}.safetensors`] : resolutions.map((r) => `${stem}_${r}.safetensors`);
}

function runShard(job: ShardJob, onProgress: () => void): Promise<ShardResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./generate-worker.js', import.meta.url), { workerData: job, env: { ...process.env, MPNO_THREADS: '1' } });
    w.on('message', (m: { type: string; result?: ShardResult }) => {
      if (m.type === 'progress') onProgress();
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
  if (!(PDES as readonly string[]).includes(o.pde)) throw new RangeError(`generate: unknown PDE '${o.pde}' (expected ${PDES.join(' or ')})`);
  const pde = o.pde as PdeName;
  if (!Number.isInteger(o.n) || o.n < 1) throw new RangeError(`generate: --n must be a positive integer, got ${o.n}`);
  const workers = Math.max(1, Math.min(o.workers ?? availableParallelism(), o.n));
  // validate resolutions and output paths before any work
  const stored = storedResolutions(pde, o.resolution, o.subsample);
  if (o.paths && o.paths.length !== stored.length) throw new RangeError(`generate: ${o.paths.length} output paths for ${stored.length} resolutions`);
  const planned = o.paths ?? datasetPaths(o.out, stored);
  for (const p of planned) if (existsSync(p) && !o.force) throw new Error(`${p} exists; refusing to overwrite it (use --force)`);
  mkdirSync(path.dirname(path.resolve(planned[0]!)), { recursive: true });
  const base: Omit<ShardJob, 'n' | 'start'> = { pde, resolution: o.resolution, seed: o.seed, subsample: o.subsample, params: o.params };
  const shards: ShardJob[] = [];
  for (let w = 0; w < workers; w++) {
    const a = Math.floor((o.n * w) / workers);
    const b = Math.floor((o.n * (w + 1)) / workers);
    if (b > a) shards.push({ ...base, n: b - a, start: a });
  }
  const bar = !o.quiet && process.stdout.isTTY ? new cliProgress.SingleBar({ format: `${pde} [{bar}] {value}/{total} samples  {eta}s left`, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
  bar?.start(o.n, 0);
  let done = 0;
  const t0 = performance.now();
  const results = await Promise.all(shards.map((s) => runShard(s, () => {
    done++;
    bar?.update(done);
    if (!bar && !o.quiet && (done % Math.max(1, Math.floor(o.n / 10)) === 0 || done === o.n)) console.log(`${pde}: ${done}/${o.n} samples`);
  })));
  bar?.stop();
  const secs = (performance.now() - t0) / 1000;
  const first = results[0]!;
  const paths = o.paths ?? datasetPaths(o.out, first.resolutions);
  for (const p of paths) if (existsSync(p) && !o.force) throw new Error(`${p} exists; refusing to overwrite it (use --force)`);
  first.resolutions.forEach((r, q) => {
    const per = (c: number) => c * r * r;
    const x = new Float32Array(o.n * per(first.inChannels));
    const y = new Float32Array(o.n * per(first.outChannels));
    let off = 0;
    for (const res of results) {
      x.set(res.x[q]!, off * per(first.inChannels));
      y.set(res.y[q]!, off * per(first.outChannels));
      off += res.x[q]!.length / per(first.inChannels);
    }
    writeDataset(paths[q]!, x, [o.n, first.inChannels, r, r], y, [o.n, first.outChannels, r, r], {
      format: 'mpno-dataset', pde, resolution: r, seed: o.seed, samples: o.n,
      params: { ...first.meta, generated_at_resolution: o.resolution, start: 0 },
    }, o.force);
  });
  if (!o.quiet) {
    console.log(`${o.n} samples in ${secs.toFixed(1)} s (${((1000 * secs) / o.n).toFixed(0)} ms per sample with ${shards.length} workers)`);
    for (const p of paths) console.log(`wrote ${p}`);
  }
  return paths;
}

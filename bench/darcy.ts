/**
 * bench darcy16: the main job of the peers' comparison, neuralop's small-Darcy example as
 * `mpno train --config examples/darcy16.json` runs it (PyTorch peer: ../shared/peers/torch_darcy16.py),
 * in this process: seconds per epoch (as the trainer records them), the wall time of the training
 * call and of the whole process, peak RSS and the final test errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainCommand } from '../src/cli/train.js';
import { pool } from '../src/kernels/pool.js';

export const DARCY16_CONFIG = fileURLToPath(new URL('../../examples/darcy16.json', import.meta.url));

export interface DarcyBenchRow {
  suite: 'darcy16';
  name: string;
  config: string;
  threads: number;
  epochs: number;
  epoch_s: number[];
  median_epoch_s: number;
  /** Wall time of the training call (data loading, epochs, evaluations, checkpoints). */
  train_wall_s: number;
  /** Wall time since the process started (node start-up and module loading included). */
  process_wall_s: number;
  peak_rss_mib: number;
  test_errors: Record<string, number>;
  /** Tasks handed to worker threads, those the main thread claimed back, the spin budget (µs). */
  handoffs: number;
  claimed_back: number;
  spin_us: number;
}

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

export async function runDarcyBench(o: { epochs: number; config?: string }): Promise<DarcyBenchRow> {
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new RangeError(`bench darcy16: --epochs must be a positive integer, got ${o.epochs}`);
  const config = o.config ?? DARCY16_CONFIG;
  const dir = mkdtempSync(path.join(tmpdir(), 'mpno-bench-darcy16-'));
  try {
    const t0 = performance.now();
    const errors = await trainCommand({ config, set: [`training.n_epochs=${o.epochs}`, `output.dir=${JSON.stringify(dir)}`], resume: false, quiet: true });
    const wall = (performance.now() - t0) / 1000;
    const records = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { time_s: number });
    const epochS = records.map((r) => r.time_s);
    return {
      suite: 'darcy16', name: `darcy16 ${o.epochs} epochs`, config, threads: pool.threads, epochs: o.epochs,
      epoch_s: epochS, median_epoch_s: median(epochS), train_wall_s: wall, process_wall_s: performance.now() / 1000,
      peak_rss_mib: (process.resourceUsage().maxRSS * 1024) / 2 ** 20, test_errors: errors,
      handoffs: pool.posted, claimed_back: pool.stolen, spin_us: pool.spinMicros,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function darcyRowText(r: DarcyBenchRow): string {
  const errs = Object.entries(r.test_errors).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' ');
  return `darcy16: ${r.epochs} epochs, ${r.threads} threads: median ${r.median_epoch_s.toFixed(2)} s/epoch (min ${Math.min(...r.epoch_s).toFixed(2)}, max ${Math.max(...r.epoch_s).toFixed(2)}), train wall ${r.train_wall_s.toFixed(1)} s, process wall ${r.process_wall_s.toFixed(1)} s, peak RSS ${r.peak_rss_mib.toFixed(0)} MiB; test ${errs}`;
}

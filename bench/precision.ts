import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { Variable, backward, noGrad, tidy } from '../src/autograd/variable.js';
import { H1Loss } from '../src/losses/index.js';
import { FNO, type FnoBlockPrecision, type HalfType } from '../src/models/fno.js';
import { AdamW } from '../src/optim/index.js';
import { GradScaler } from '../src/precision/scaler.js';
import { pool } from '../src/kernels/pool.js';
import { measure } from './harness.js';

/** One configuration of bench precision. */
export interface PrecisionCase {
  res: number;
  cin: number;
  precision: FnoBlockPrecision;
  half: HalfType | null;
}

export interface PrecisionRow {
  suite: 'precision';
  name: string;
  shape: string;
  dtype: string;
  threads: number;
  /** Median ms of one training step (forward, backward, optimizer). */
  median_ms: number;
  /** Not a FLOP benchmark: null. */
  gflops: null;
  train_samples_per_s: number;
  infer_samples_per_s: number;
  peak_ledger_bytes: number;
  peak_rss_bytes: number;
  /** Ratios to the full-precision row of the same shape (filled by the parent). */
  train_ratio?: number;
  infer_ratio?: number;
  ledger_ratio?: number;
  rss_ratio?: number;
}

export function precisionCases(quick: boolean): PrecisionCase[] {
  const out: PrecisionCase[] = [];
  for (const res of quick ? [16] : [64, 128]) {
    for (const cin of [1, 10]) {
      out.push({ res, cin, precision: 'full', half: null });
      for (const half of ['float16', 'bfloat16'] as const) for (const precision of ['mixed', 'half'] as const) out.push({ res, cin, precision, half });
    }
  }
  return out;
}

/**
 * Runs one case in this process: FNO 2-D, hidden 32, modes 16, 4 layers, batch 8, tanh stabiliser;
 * 'mixed'/'half' rows use AMP in their half type (fp16 rows with dynamic loss scaling).
 */
export function runPrecisionCase(c: PrecisionCase, runs: number, warmup: number, quick: boolean): PrecisionRow {
  const B = quick ? 2 : 8;
  const hidden = quick ? 8 : 32;
  const modes = quick ? 8 : 16;
  const m = new FNO({
    n_modes: [modes, modes], in_channels: c.cin, out_channels: 1, hidden_channels: hidden, n_layers: 4, stabilizer: 'tanh',
    fno_block_precision: c.precision, half_type: c.half ?? 'float16', amp: c.half !== null,
  });
  const rng = new Rng(1);
  const x = rng.fillNormal(Tensor.empty([B, c.cin, c.res, c.res], 'float32', 'data'));
  const y = rng.fillNormal(Tensor.empty([B, 1, c.res, c.res], 'float32', 'data'));
  const loss = new H1Loss({ d: 2 });
  const opt = new AdamW(m.parameters(), { lr: 1e-3 });
  const scaler = c.half === 'float16' ? new GradScaler() : undefined;
  const step = () => {
    const l = tidy(() => loss.forward(m.forward(Variable.constant(x)), y));
    opt.zeroGrad();
    backward(l, scaler ? Tensor.full([], scaler.scale, l.dtype, 'gradient') : undefined);
    l.release();
    if (!scaler || scaler.unscaleAndCheck(m.parameters())) opt.step();
  };
  const train = measure(step, { runs, warmup });
  const infer = measure(() => noGrad(() => tidy(() => void m.forward(Variable.constant(x)))), { runs, warmup });
  const name = `FNO ${c.res}² cin ${c.cin} ${c.precision}${c.half ? ` ${c.half === 'float16' ? 'fp16' : 'bf16'} amp` : ''}`;
  const row: PrecisionRow = {
    suite: 'precision', name, shape: `[${B}, ${c.cin}, ${c.res}, ${c.res}]`, dtype: c.half ?? 'float32', threads: pool.threads,
    median_ms: train.median_ms, gflops: null,
    train_samples_per_s: (1000 * B) / train.median_ms, infer_samples_per_s: (1000 * B) / infer.median_ms,
    peak_ledger_bytes: train.peak_ledger_bytes, peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
  for (const t of [x, y]) t.release();
  opt.release();
  m.release();
  return row;
}

const bin = fileURLToPath(new URL('../../bin/mpno.js', import.meta.url));

/** bench precision: each case in a child process (so that peak RSS is its own), then ratios to full. */
export function benchPrecision(o: { runs: number; warmup: number; quick: boolean; threads: number[]; onRow: (r: PrecisionRow) => void }): PrecisionRow[] {
  const rows: PrecisionRow[] = [];
  const cases = precisionCases(o.quick);
  for (const t of o.threads) {
    let full: PrecisionRow | undefined;
    cases.forEach((c, i) => {
      const r = spawnSync(process.execPath, [bin, 'bench', 'precision', '--case', String(i), '--runs', String(o.runs), '--warmup', String(o.warmup), ...(o.quick ? ['--quick'] : [])], {
        encoding: 'utf8', env: { ...process.env, MPNO_THREADS: String(t) }, maxBuffer: 1 << 24,
      });
      if (r.status !== 0) throw new Error(`bench precision: case ${i} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
      const row = JSON.parse(r.stdout.trim().split('\n').pop()!) as PrecisionRow;
      if (c.precision === 'full') full = row;
      if (full) {
        row.train_ratio = row.train_samples_per_s / full.train_samples_per_s;
        row.infer_ratio = row.infer_samples_per_s / full.infer_samples_per_s;
        row.ledger_ratio = row.peak_ledger_bytes / full.peak_ledger_bytes;
        row.rss_ratio = row.peak_rss_bytes / full.peak_rss_bytes;
      }
      rows.push(row);
      o.onRow(row);
    });
  }
  return rows;
}

export function precisionHeader(): string {
  const h = `${'name'.padEnd(30)} ${'threads'.padEnd(7)} ${'train s/s'.padEnd(10)} ${'(×full)'.padEnd(8)} ${'infer s/s'.padEnd(10)} ${'(×full)'.padEnd(8)} ${'ledger MB'.padEnd(10)} ${'(×full)'.padEnd(8)} ${'RSS MB'.padEnd(8)} (×full)`;
  return `${h}\n${'-'.repeat(h.length)}`;
}

export function precisionRowText(r: PrecisionRow): string {
  const f = (v: number | undefined, d = 2) => (v === undefined ? '' : v.toFixed(d));
  return `${r.name.padEnd(30)} ${String(r.threads).padEnd(7)} ${f(r.train_samples_per_s, 1).padEnd(10)} ${f(r.train_ratio).padEnd(8)} ${f(r.infer_samples_per_s, 1).padEnd(10)} ${f(r.infer_ratio).padEnd(8)} ${(r.peak_ledger_bytes / 1e6).toFixed(1).padEnd(10)} ${f(r.ledger_ratio).padEnd(8)} ${(r.peak_rss_bytes / 1e6).toFixed(0).padEnd(8)} ${f(r.rss_ratio)}`;
}

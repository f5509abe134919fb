import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { Variable, backward, noGrad, tidy } from '../src/autograd/variable.js';
import { H1Loss, LpLoss } from '../src/losses/index.js';
import { type Batch, releaseBatch, rowPointers } from '../src/core/batch.js';
import { unitGrid } from '../src/data/points.js';
import { buildModel } from '../src/models/registry.js';
import type { BlockPrecision, HalfType } from '../src/precision/policy.js';
import { AdamW } from '../src/optim/index.js';
import { GradScaler } from '../src/precision/scaler.js';
import { pool } from '../src/kernels/pool.js';
import { measure } from './harness.js';

/** One configuration of bench precision. */
export interface PrecisionCase {
  res: number;
  cin: number;
  precision: BlockPrecision;
  half: HalfType | null;
  /** 'SFNO': the spherical model of sfnoModelCase on a res × 2·res sphere; 'GINO': ginoModelCase (default FNO). */
  family?: 'FNO' | 'SFNO' | 'GINO';
}

/** One model configuration run by bench precision / bench tfno: its name, data shape and model section. */
export interface ModelCase {
  name: string;
  res: number;
  /** Second spatial size (default res: a square grid; the sphere's nlon). */
  res2?: number;
  cin: number;
  /** Output channels (default 1). */
  cout?: number;
  /** The config's model section (family by name); its precision fields are the case's. */
  model: { name: string } & Record<string, unknown>;
  /** The 16-bit type of AMP and half blocks, null in full precision. */
  half: HalfType | null;
  /** Point-cloud model (GINO): batches of `points` surface points per sample on a res³ latent grid. */
  points?: number;
}

export interface PrecisionRow {
  suite: string;
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
  /** Real parameters of the model (a complex weight counts twice). */
  parameters?: number;
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
  // the SFNO rows: shallow-water shaped data on a 64 × 128 sphere
  const res = quick ? 16 : 64;
  out.push({ res, cin: 3, precision: 'full', half: null, family: 'SFNO' });
  for (const half of ['float16', 'bfloat16'] as const) for (const precision of ['mixed', 'half'] as const) out.push({ res, cin: 3, precision, half, family: 'SFNO' });
  // the GINO rows: car-like point clouds on a 16³ latent grid (examples/bodies-gino.json's model)
  out.push({ res: 16, cin: 0, precision: 'full', half: null, family: 'GINO' });
  for (const half of ['float16', 'bfloat16'] as const) for (const precision of ['mixed', 'half'] as const) out.push({ res: 16, cin: 0, precision, half, family: 'GINO' });
  return out;
}

/**
 * The GINO case (bench precision's GINO rows): examples/bodies-gino.json's model (latent 16³ grid,
 * modes 8, hidden 32, 4 layers, GNO kernels [64, 64], radius 0.1) with the tanh stabiliser, on
 * ellipsoid-like clouds of 1000 surface points (quick: 8³ grid, hidden 8, 200 points); 'mixed'/'half'
 * rows use AMP in the GNO kernels and the FNO as well.
 */
export function ginoModelCase(precision: BlockPrecision, half: HalfType, quick: boolean): ModelCase {
  const amp = precision !== 'full';
  const G = quick ? 8 : 16;
  const modes = quick ? 4 : 8;
  return {
    name: `GINO ${G}³ ${precision}${amp ? ` ${half === 'float16' ? 'fp16' : 'bf16'} amp` : ''}`,
    res: G, cin: 0, half: amp ? half : null, points: quick ? 200 : 1000,
    model: {
      name: 'GINO', out_channels: 1, latent_feature_channels: 1, fno_n_modes: [modes, modes, modes], fno_hidden_channels: quick ? 8 : 32, fno_n_layers: 4,
      in_gno_radius: 0.1, out_gno_radius: 0.1, in_gno_pos_embed_type: 'nerf', out_gno_pos_embed_type: 'nerf', gno_embed_channels: 4,
      in_gno_channel_mlp_hidden_layers: quick ? [16, 16] : [64, 64], out_gno_channel_mlp_hidden_layers: quick ? [16, 16] : [64, 64], projection_channel_ratio: 2,
      fno_stabilizer: 'tanh', fno_block_precision: precision, half_type: half, amp,
    },
  };
}

/** B ellipsoid-like point clouds of P points in [0, 1]³ (different shapes), their SDF-like latent feature and a smooth target. */
function pointBatch(B: number, P: number, G: number, rng: Rng): Batch {
  const geom = new Float64Array(B * P * 3);
  const y = new Float64Array(B * P);
  const lf = new Float64Array(B * G * G * G);
  for (let b = 0; b < B; b++) {
    const ax = [0.3 + 0.15 * rng.uniform(), 0.25 + 0.15 * rng.uniform(), 0.4 + 0.08 * rng.uniform()];
    for (let i = 0; i < P; i++) {
      // Fibonacci points on the unit sphere, stretched
      const z = 1 - (2 * (i + 0.5)) / P;
      const r = Math.sqrt(1 - z * z);
      const phi = i * Math.PI * (3 - Math.sqrt(5));
      const u = [r * Math.cos(phi), r * Math.sin(phi), z];
      for (let a = 0; a < 3; a++) geom[(b * P + i) * 3 + a] = 0.5 + ax[a]! * u[a]!;
      y[b * P + i] = 1 - 2.25 * (1 - z * z);
    }
    for (let k = 0; k < G * G * G; k++) {
      const p = [Math.floor(k / (G * G)), Math.floor(k / G) % G, k % G].map((v) => v / (G - 1) - 0.5);
      lf[b * G * G * G + k] = Math.hypot(p[0]! / ax[0]!, p[1]! / ax[1]!, p[2]! / ax[2]!) - 1;
    }
  }
  const seg = rowPointers(Array.from({ length: B }, () => P));
  return {
    size: B, segments: { input_geom: seg, y: seg },
    tensors: {
      input_geom: Tensor.fromArray(geom, [B * P, 3], 'float32', 'data'),
      y: Tensor.fromArray(y, [B * P, 1], 'float32', 'data'),
      latent_features: Tensor.fromArray(lf, [B, 1, G, G, G], 'float32', 'data'),
      latent_queries: Tensor.fromArray(unitGrid(G), [G, G, G, 3], 'float32', 'data'),
    },
  };
}

/**
 * The SFNO case (bench precision's SFNO rows and bench sfno): a res × 2·res equiangular sphere, 3 → 3
 * channels (geopotential, vorticity, divergence), hidden 32, lmax = mmax = ⌈res/3⌉, 4 layers, tanh
 * stabiliser; 'mixed'/'half' with AMP in the half type.
 */
export function sfnoModelCase(precision: BlockPrecision, half: HalfType, quick: boolean): ModelCase {
  const res = quick ? 16 : 64;
  const lmax = Math.ceil(res / 3);
  const amp = precision !== 'full';
  return {
    name: `SFNO ${res}x${2 * res} ${precision}${amp ? ` ${half === 'float16' ? 'fp16' : 'bf16'} amp` : ''}`,
    res, res2: 2 * res, cin: 3, cout: 3, half: amp ? half : null,
    model: {
      name: 'SFNO', n_modes: [lmax, 2 * lmax], in_channels: 3, out_channels: 3, hidden_channels: quick ? 8 : 32, n_layers: 4,
      stabilizer: 'tanh', fno_block_precision: precision, half_type: half, amp,
    },
  };
}

/**
 * bench precision's cases as model cases: FNO 2-D, hidden 32, modes 16, 4 layers, batch 8, tanh
 * stabiliser; 'mixed'/'half' rows use AMP in their half type (fp16 rows with dynamic loss scaling).
 */
export function precisionModelCase(c: PrecisionCase, quick: boolean): ModelCase {
  if (c.family === 'SFNO') return sfnoModelCase(c.precision, c.half ?? 'float16', quick);
  if (c.family === 'GINO') return ginoModelCase(c.precision, c.half ?? 'float16', quick);
  const hidden = quick ? 8 : 32;
  const modes = quick ? 8 : 16;
  return {
    name: `FNO ${c.res}² cin ${c.cin} ${c.precision}${c.half ? ` ${c.half === 'float16' ? 'fp16' : 'bf16'} amp` : ''}`,
    res: c.res, cin: c.cin, half: c.half,
    model: {
      name: 'FNO', n_modes: [modes, modes], in_channels: c.cin, out_channels: 1, hidden_channels: hidden, n_layers: 4, stabilizer: 'tanh',
      fno_block_precision: c.precision, half_type: c.half ?? 'float16', amp: c.half !== null,
    },
  };
}

/** Runs one model case in this process: training steps (forward, H1 loss, backward, AdamW) and inference. */
export function runModelCase(c: ModelCase, runs: number, warmup: number, quick: boolean): PrecisionRow {
  if (c.points !== undefined) return runPointCase(c, c.points, runs, warmup, quick);
  const B = quick ? 2 : 8;
  const m = buildModel(c.model);
  const rng = new Rng(1);
  const grid = [c.res, c.res2 ?? c.res];
  const x = rng.fillNormal(Tensor.empty([B, c.cin, ...grid], 'float32', 'data'));
  const y = rng.fillNormal(Tensor.empty([B, c.cout ?? 1, ...grid], 'float32', 'data'));
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
  const row: PrecisionRow = {
    suite: 'precision', name: c.name, shape: `[${B}, ${c.cin}, ${grid.join(', ')}]`, dtype: c.half ?? 'float32', threads: pool.threads,
    median_ms: train.median_ms, gflops: null,
    train_samples_per_s: (1000 * B) / train.median_ms, infer_samples_per_s: (1000 * B) / infer.median_ms,
    peak_ledger_bytes: train.peak_ledger_bytes, peak_rss_bytes: process.resourceUsage().maxRSS * 1024, parameters: m.numParameters(),
  };
  for (const t of [x, y]) t.release();
  opt.release();
  m.release();
  return row;
}

/** A point-cloud model case (GINO): training steps with the per-sample relative L2 loss, and inference; batch 4 (quick 2). */
function runPointCase(c: ModelCase, P: number, runs: number, warmup: number, quick: boolean): PrecisionRow {
  const B = quick ? 2 : 4;
  const m = buildModel(c.model);
  const batch = pointBatch(B, P, c.res, new Rng(1));
  const y = batch.tensors['y']!;
  const loss = new LpLoss({});
  const opt = new AdamW(m.parameters(), { lr: 1e-3 });
  const scaler = c.half === 'float16' ? new GradScaler() : undefined;
  const step = () => {
    const l = tidy(() => loss.forward(m.forwardBatch!(batch), y, batch.segments['y']));
    opt.zeroGrad();
    backward(l, scaler ? Tensor.full([], scaler.scale, l.dtype, 'gradient') : undefined);
    l.release();
    if (!scaler || scaler.unscaleAndCheck(m.parameters())) opt.step();
  };
  const train = measure(step, { runs, warmup });
  const infer = measure(() => noGrad(() => tidy(() => void m.forwardBatch!(batch))), { runs, warmup });
  const row: PrecisionRow = {
    suite: 'precision', name: c.name, shape: `${B} × ${P} points, ${c.res}³ latent`, dtype: c.half ?? 'float32', threads: pool.threads,
    median_ms: train.median_ms, gflops: null,
    train_samples_per_s: (1000 * B) / train.median_ms, infer_samples_per_s: (1000 * B) / infer.median_ms,
    peak_ledger_bytes: train.peak_ledger_bytes, peak_rss_bytes: process.resourceUsage().maxRSS * 1024, parameters: m.numParameters(),
  };
  releaseBatch(batch);
  opt.release();
  m.release();
  return row;
}

/** One bench precision case in this process. */
export function runPrecisionCase(c: PrecisionCase, runs: number, warmup: number, quick: boolean): PrecisionRow {
  return runModelCase(precisionModelCase(c, quick), runs, warmup, quick);
}

const bin = fileURLToPath(new URL('../../bin/mpno.js', import.meta.url));

/**
 * Runs every case of a suite in its own child process (`mpno bench <suite> --case i`, so that peak RSS
 * is its own), then ratios to the suite's reference row (`isReference`; the first one before it).
 */
export function benchCases(suite: string, n: number, isReference: (i: number) => boolean, o: { runs: number; warmup: number; quick: boolean; threads: number[]; onRow: (r: PrecisionRow) => void; extraArgs?: string[] }): PrecisionRow[] {
  const rows: PrecisionRow[] = [];
  for (const t of o.threads) {
    let ref: PrecisionRow | undefined;
    for (let i = 0; i < n; i++) {
      const r = spawnSync(process.execPath, [bin, 'bench', suite, '--case', String(i), '--runs', String(o.runs), '--warmup', String(o.warmup), ...(o.quick ? ['--quick'] : []), ...(o.extraArgs ?? [])], {
        encoding: 'utf8', env: { ...process.env, MPNO_THREADS: String(t) }, maxBuffer: 1 << 24,
      });
      if (r.status !== 0) throw new Error(`bench ${suite}: case ${i} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
      const row = JSON.parse(r.stdout.trim().split('\n').pop()!) as PrecisionRow;
      row.suite = suite;
      if (isReference(i)) ref = row;
      if (ref) {
        row.train_ratio = row.train_samples_per_s / ref.train_samples_per_s;
        row.infer_ratio = row.infer_samples_per_s / ref.infer_samples_per_s;
        row.ledger_ratio = row.peak_ledger_bytes / ref.peak_ledger_bytes;
        row.rss_ratio = row.peak_rss_bytes / ref.peak_rss_bytes;
      }
      rows.push(row);
      o.onRow(row);
    }
  }
  return rows;
}

/** bench precision: each case in a child process, then ratios to full precision of the same shape. */
export function benchPrecision(o: { runs: number; warmup: number; quick: boolean; threads: number[]; onRow: (r: PrecisionRow) => void }): PrecisionRow[] {
  const cases = precisionCases(o.quick);
  return benchCases('precision', cases.length, (i) => cases[i]!.precision === 'full', o);
}

export function precisionHeader(): string {
  const h = `${'name'.padEnd(34)} ${'threads'.padEnd(7)} ${'train s/s'.padEnd(10)} ${'(×full)'.padEnd(8)} ${'infer s/s'.padEnd(10)} ${'(×full)'.padEnd(8)} ${'ledger MB'.padEnd(10)} ${'(×full)'.padEnd(8)} ${'RSS MB'.padEnd(8)} (×full)`;
  return `${h}\n${'-'.repeat(h.length)}`;
}

export function precisionRowText(r: PrecisionRow): string {
  const f = (v: number | undefined, d = 2) => (v === undefined ? '' : v.toFixed(d));
  return `${r.name.padEnd(34)} ${String(r.threads).padEnd(7)} ${f(r.train_samples_per_s, 1).padEnd(10)} ${f(r.train_ratio).padEnd(8)} ${f(r.infer_samples_per_s, 1).padEnd(10)} ${f(r.infer_ratio).padEnd(8)} ${(r.peak_ledger_bytes / 1e6).toFixed(1).padEnd(10)} ${f(r.ledger_ratio).padEnd(8)} ${(r.peak_rss_bytes / 1e6).toFixed(0).padEnd(8)} ${f(r.rss_ratio)}`;
}

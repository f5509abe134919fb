import type { BlockPrecision, HalfType } from '../src/precision/policy.js';
import { type ModelCase, type PrecisionRow, benchCases, runModelCase } from './precision.js';

/**
 * bench tfno: TFNO's factorised spectral weights against the dense FNO weight, in full, mixed and
 * half precision. The paper's Navier–Stokes setting scaled to 2 cores: 64² grid, 1 → 1 channels,
 * hidden 32, modes 16, 4 layers, batch 8, tanh stabiliser; mixed/half rows use AMP in the half type.
 * Ratios are to the dense full-precision row of the same run.
 */
export interface TfnoCase {
  factorization: 'dense' | 'cp' | 'tucker';
  rank: number | null;
  precision: BlockPrecision;
}

export function tfnoCases(): TfnoCase[] {
  const weights: Pick<TfnoCase, 'factorization' | 'rank'>[] = [
    { factorization: 'dense', rank: null },
    { factorization: 'cp', rank: 0.05 }, { factorization: 'cp', rank: 0.1 },
    { factorization: 'tucker', rank: 0.05 }, { factorization: 'tucker', rank: 0.1 },
  ];
  const precisions: BlockPrecision[] = ['full', 'mixed', 'half'];
  return weights.flatMap((w) => precisions.map((precision) => ({ ...w, precision })));
}

export function tfnoModelCase(c: TfnoCase, half: HalfType, quick: boolean): ModelCase {
  const res = quick ? 16 : 64;
  const hidden = quick ? 8 : 32;
  const modes = quick ? 8 : 16;
  const amp = c.precision !== 'full';
  const weight = c.factorization === 'dense' ? 'dense' : `${c.factorization} ${c.rank}`;
  return {
    name: `${weight} ${c.precision}${amp ? ` ${half === 'float16' ? 'fp16' : 'bf16'} amp` : ''}`,
    res, cin: 1, half: amp ? half : null,
    model: {
      name: c.factorization === 'dense' ? 'FNO' : 'TFNO',
      n_modes: [modes, modes], in_channels: 1, out_channels: 1, hidden_channels: hidden, n_layers: 4, stabilizer: 'tanh',
      fno_block_precision: c.precision, half_type: half, amp,
      ...(c.factorization === 'dense' ? {} : { factorization: c.factorization, rank: c.rank }),
    },
  };
}

/** The half type of bench tfno: the first 16-bit type in --dtypes (float16 by default). */
export function tfnoHalfType(dtypes: readonly string[]): HalfType {
  const h = dtypes.find((d) => d === 'float16' || d === 'bfloat16');
  if (!h) throw new Error(`bench tfno: --dtypes must name float16 or bfloat16 (the half type of the mixed and half rows), got ${dtypes.join(',')}`);
  return h;
}

export function runTfnoCase(i: number, half: HalfType, runs: number, warmup: number, quick: boolean): PrecisionRow {
  const c = tfnoCases()[i];
  if (!c) throw new Error(`bench tfno: no case ${i}`);
  return runModelCase(tfnoModelCase(c, half, quick), runs, warmup, quick);
}

export function benchTfno(o: { runs: number; warmup: number; quick: boolean; threads: number[]; half: HalfType; onRow: (r: PrecisionRow) => void }): PrecisionRow[] {
  const n = tfnoCases().length;
  return benchCases('tfno', n, (i) => i === 0, { ...o, extraArgs: ['--dtypes', o.half] });
}

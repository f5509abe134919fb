import type { BlockPrecision, HalfType } from '../src/precision/policy.js';
import { type ModelCase, type PrecisionRow, benchCases, runModelCase } from './precision.js';

/**
 * bench sfno: the Spherical FNO in full, mixed and half precision (the paper's shallow-water setting
 * scaled to 2 cores): a 64 × 128 equiangular grid, 3 → 3 channels (geopotential, vorticity,
 * divergence), hidden 32, lmax = mmax = 21, 4 layers, batch 8, tanh stabiliser; the mixed and half
 * rows use AMP in the half type. Ratios are to the full-precision row of the same run.
 */
const PRECISIONS: BlockPrecision[] = ['full', 'mixed', 'half'];

export function sfnoModelCase(precision: BlockPrecision, half: HalfType, quick: boolean): ModelCase {
  const res = quick ? 16 : 64;
  const lmax = quick ? 6 : 21;
  const amp = precision !== 'full';
  return {
    name: `SFNO ${precision}${amp ? ` ${half === 'float16' ? 'fp16' : 'bf16'} amp` : ''}`,
    res, res2: 2 * res, cin: 3, cout: 3, half: amp ? half : null,
    model: {
      name: 'SFNO', n_modes: [lmax, 2 * lmax], in_channels: 3, out_channels: 3, hidden_channels: quick ? 8 : 32, n_layers: 4,
      stabilizer: 'tanh', fno_block_precision: precision, half_type: half, amp,
    },
  };
}

export function runSfnoCase(i: number, half: HalfType, runs: number, warmup: number, quick: boolean): PrecisionRow {
  const p = PRECISIONS[i];
  if (!p) throw new Error(`bench sfno: no case ${i}`);
  return runModelCase(sfnoModelCase(p, half, quick), runs, warmup, quick);
}

export function benchSfno(o: { runs: number; warmup: number; quick: boolean; threads: number[]; half: HalfType; onRow: (r: PrecisionRow) => void }): PrecisionRow[] {
  return benchCases('sfno', PRECISIONS.length, (i) => i === 0, { ...o, extraArgs: ['--dtypes', o.half] });
}

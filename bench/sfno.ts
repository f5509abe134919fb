import type { BlockPrecision, HalfType } from '../src/precision/policy.js';
import { type PrecisionRow, benchCases, runModelCase, sfnoModelCase } from './precision.js';

/**
 * bench sfno: the Spherical FNO in full, mixed and half precision in one half type (the paper's
 * shallow-water setting scaled to 2 cores, sfnoModelCase: 64 × 128 sphere, 3 → 3 channels, hidden 32,
 * lmax = mmax = 22, 4 layers, batch 8, tanh); bench precision has the same rows for both half types.
 * Ratios are to the full-precision row of the same run.
 */
const PRECISIONS: BlockPrecision[] = ['full', 'mixed', 'half'];

export function runSfnoCase(i: number, half: HalfType, runs: number, warmup: number, quick: boolean): PrecisionRow {
  const p = PRECISIONS[i];
  if (!p) throw new Error(`bench sfno: no case ${i}`);
  return runModelCase(sfnoModelCase(p, half, quick), runs, warmup, quick);
}

export function benchSfno(o: { runs: number; warmup: number; quick: boolean; threads: number[]; half: HalfType; onRow: (r: PrecisionRow) => void }): PrecisionRow[] {
  return benchCases('sfno', PRECISIONS.length, (i) => i === 0, { ...o, extraArgs: ['--dtypes', o.half] });
}

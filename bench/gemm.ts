import { type KernelDType, parseDType } from '../src/core/dtype.js';
import { Rng } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { gemm } from '../src/kernels/gemm.js';
import { kernelVariant } from '../src/kernels/module.js';
import { pool } from '../src/kernels/pool.js';
import { type BenchRow, type SuiteOptions, measure } from './harness.js';

/** Channel-mixing shapes [M×K]·[K×N] from the issue (the large-N shapes of an FNO's 1×1 convolutions). */
export const GEMM_SHAPES: [number, number, number][] = [
  [32, 32, 32768],
  [64, 64, 262144],
  [128, 128, 65536],
  [256, 32, 32768],
];
const QUICK_SHAPES: [number, number, number][] = [[32, 32, 4096], [20, 12, 1000]];

/**
 * bench gemm: C[M×N] = A[M×K]·B[K×N] with A, B and C all in the row's dtype, f32 accumulation. Rows name
 * the kernel build that ran; MPNO_RELAXED_SIMD=0 times the plain-SIMD fallback.
 */
export function benchGemm(opts: SuiteOptions): BenchRow[] {
  const rows: BenchRow[] = [];
  const rng = new Rng(0);
  const prevThreads = pool.threads;
  try {
    for (const [m, k, n] of opts.quick ? QUICK_SHAPES : GEMM_SHAPES) {
      for (const dname of opts.dtypes) {
        const dtype = parseDType(dname);
        if (dtype === 'float64') throw new RangeError('bench gemm: float64 has no wasm kernel');
        const dt: KernelDType = dtype;
        const a = rng.fillNormal(Tensor.empty([m, k], dt, 'data'));
        const b = Tensor.empty([k, n], dt, 'data');
        b.set(rng.normalArray(k * n));
        const c = Tensor.empty([m, n], dt, 'data');
        for (const t of opts.threads) {
          pool.setThreads(t);
          const r = measure(() => gemm(a, b, c), opts);
          const row: BenchRow = {
            suite: 'gemm', name: `gemm ${m}x${k}·${k}x${n}`, shape: `[${m}x${k}]·[${k}x${n}]`, dtype: dt, threads: t,
            ...r, gflops: (2 * m * n * k) / (r.median_ms * 1e6),
            // which kernel build ran (relaxed-SIMD FMA or the plain SIMD fallback, MPNO_RELAXED_SIMD=0)
            kernel: kernelVariant,
          };
          rows.push(row);
          opts.onRow(row);
        }
        a.release();
        b.release();
        c.release();
      }
    }
  } finally {
    pool.setThreads(prevThreads);
  }
  return rows;
}

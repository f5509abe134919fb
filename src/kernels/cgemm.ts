import { itemSize } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import type { ComplexGemmOptions, ComplexPair } from './backend.js';
import { dtCode } from './dtcode.js';
import { planComplexGemm } from './gemm-plan.js';
import { wasm } from './module.js';
import { pool, splitRange } from './pool.js';

/** Below this many real flops a complex GEMM stays on one thread. */
const PARALLEL_FLOPS = 1 << 21;

/** The fused wasm complex GEMM, batch items split across threads (one hand-off per thread). */
export function complexGemm(a: ComplexPair, b: ComplexPair, c: ComplexPair, opts: ComplexGemmOptions = {}): void {
  const p = planComplexGemm(a, b, c, opts);
  if (p.batch === 0 || p.m === 0 || p.n === 0) return;
  const sa = itemSize(a.re.dtype);
  const sb = itemSize(b.re.dtype);
  const sc = itemSize(c.re.dtype);
  const desc = Tensor.empty([24], 'float32', 'workspace');
  try {
    new Int32Array(desc.data.buffer, desc.ptr, 24).set([
      a.re.ptr, a.im.ptr, dtCode(a.re.dtype, 'complexGemm'), p.rsA, p.csA, opts.conjA ? 1 : 0, p.strideA * sa,
      b.re.ptr, b.im.ptr, dtCode(b.re.dtype, 'complexGemm'), p.rsB, p.csB, opts.conjB ? 1 : 0, p.strideB * sb,
      c.re.ptr, c.im.ptr, dtCode(c.re.dtype, 'complexGemm'), p.ldc, p.strideC * sc,
      p.m, p.n, p.k, opts.accumulate ? 1 : 0, 0,
    ]);
    const flops = 8 * p.batch * p.m * p.n * p.k;
    const parts = flops < PARALLEL_FLOPS ? 1 : Math.min(pool.threads, p.batch);
    const ranges = splitRange(p.batch, parts);
    const per = Math.ceil(wasm.cgemmWorkBytes(p.m, p.k) / 64) * 64;
    const ws = Tensor.empty([(per * ranges.length) / 4], 'float32', 'workspace');
    try {
      pool.run('cgemmRun', ranges.map(([b0, b1], t) => [desc.ptr, b0, b1, ws.ptr + t * per]));
    } finally {
      ws.release();
    }
  } finally {
    desc.release();
  }
}

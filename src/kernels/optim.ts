import type { AdamStep } from './backend.js';
import { checkAdamStep } from './check.js';
import { pool, splitRange } from './pool.js';
import { refAdamStep } from './ref/optim.js';

/** Elements per thread below which an optimizer update stays on one thread. */
const PARALLEL = 1 << 16;
/** Range starts are multiples of this many elements (whole 64-byte lines of f32). */
const ALIGN = 16;

/**
 * The Adam-family update (see AdamStep) on the wasm kernels (src/kernels/wasm/optim.ts) where every
 * tensor is float32 — float64 arithmetic in f64x2 lanes, bit-identical to the reference — split across
 * the thread pool; other dtypes run the reference (src/kernels/ref/optim.ts).
 */
export function adamStep(s: AdamStep): void {
  // other dtypes go to the reference, which checks the call itself
  if ([...s.params, ...s.m, s.v, ...s.grads].some((t) => t != null && t.dtype !== 'float32')) {
    refAdamStep(s);
    return;
  }
  checkAdamStep(s);
  const n = s.v.size;
  if (n === 0) return;
  const parts = Math.min(pool.threads, Math.floor(n / PARALLEL) + 1);
  const ranges = splitRange(n, parts, ALIGN);
  const at = (t: { ptr: number } | null | undefined, start: number): number => (t ? t.ptr + 4 * start : 0);
  if (s.kind === 'adam') {
    const [p, g, m] = [s.params[0]!, s.grads[0] ?? null, s.m[0]!];
    pool.run('adamStep', ranges.map(([a, b]) => [at(p, a), at(g, a), at(m, a), at(s.v, a), b - a, s.stepSize, s.bc2Sqrt, 1 - s.beta1, s.beta2, s.eps, s.decay]));
  } else {
    const K = s.params.length;
    const [p0, p1, g0, g1, m0, m1] = [s.params[0], s.params[1], s.grads[0], s.grads[1], s.m[0], s.m[1]];
    pool.run('adamwStep', ranges.map(([a, b]) => [K, at(p0, a), at(p1, a), at(g0, a), at(g1, a), at(m0, a), at(m1, a), at(s.v, a), b - a, s.stepSize, s.beta1, s.beta2, s.eps, s.decay]));
  }
}

/** Small helpers shared by the tests. */
import assert from 'node:assert/strict';
import type { Rng } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { type Variable, backward, noGrad, tidy } from '../src/autograd/variable.js';
import { pool } from '../src/kernels/pool.js';
import type { Module } from '../src/nn/module.js';

/** ‖got − want‖₂ / ‖want‖₂ (the arrays have the same length). */
export function relL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new RangeError(`relL2: lengths differ (${got.length} vs ${want.length})`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** Runs f with the kernel pool at n threads, restoring the previous count. */
export function withThreads<T>(n: number, f: () => T): T {
  const prev = pool.threads;
  pool.setThreads(n);
  try {
    return f();
  } finally {
    pool.setThreads(prev);
  }
}

/** withThreads, also telling whether any task went to a worker thread (the work was really split). */
export function withThreadsPosted<T>(n: number, f: () => T): [T, boolean] {
  const posted = pool.posted;
  const r = withThreads(n, f);
  return [r, pool.posted > posted];
}

/**
 * Checks a module's parameter gradients by central differences: L = Σ forward()·R with R random
 * (float64), the analytic .grad of every parameter from one backward, and for `samples` random
 * entries of each parameter |numeric − analytic| / max(|numeric|, gmaxShare·‖g‖∞, floor) < tol.
 * `nonzero` also requires every parameter's gradient to be nonzero somewhere.
 */
export function checkParameterGradients(
  module: Module, forward: () => Variable,
  o: { rng: Rng; eps: number; tol: number; floor: number; samples: number; gmaxShare: number; nonzero?: boolean; label?: string },
): void {
  const shape = noGrad(() => tidy(() => [...forward().shape]));
  const R = Tensor.fromArray(o.rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape, 'float64');
  const Rv = R.toFloat64();
  const L = () => noGrad(() => tidy(() => forward().value.toFloat64().reduce((a, v, i) => a + v * Rv[i]!, 0)));
  module.zeroGrad();
  const y = tidy(forward);
  backward(y, R);
  y.release();
  const label = o.label ? `${o.label}: ` : '';
  for (const [name, p] of module.namedParameters()) {
    const g = p.grad!.toFloat64();
    const gmax = g.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    if (o.nonzero) assert.ok(gmax > 0, `${label}${name}: zero gradient`);
    const vals = p.value.toFloat64();
    for (let k = 0; k < o.samples; k++) {
      const i = o.rng.int(p.size);
      const keep = vals[i]!;
      vals[i] = keep + o.eps;
      p.value.set(vals);
      const lp = L();
      vals[i] = keep - o.eps;
      p.value.set(vals);
      const lm = L();
      vals[i] = keep;
      p.value.set(vals);
      const num = (lp - lm) / (2 * o.eps);
      const err = Math.abs(num - g[i]!) / Math.max(Math.abs(num), o.gmaxShare * gmax, o.floor);
      assert.ok(err < o.tol, `${label}${name}[${i}] analytic ${g[i]} numeric ${num}`);
    }
  }
  R.release();
}

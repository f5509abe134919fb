import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import { Variable, backward, noGrad, tidy } from './variable.js';

export interface GradcheckOptions {
  /** Finite-difference step (central differences). */
  eps?: number;
  /** Tolerance on |analytic − numeric| relative to max(|numeric|, scale). */
  tol?: number;
  /** At most this many elements of each input are perturbed (chosen at random). */
  samples?: number;
  seed?: number;
}

export interface GradcheckResult {
  /** Worst |analytic − numeric| / max(|numeric|, 1e-3·‖g‖∞) over the checked elements, per input. */
  maxRelErr: number[];
  checked: number;
}

/**
 * Checks the gradients of `fn` at float64 `inputs` against central finite differences of the scalar
 * L = Σ fn(inputs) ⊙ R (R random, fixed), i.e. a random vector–Jacobian product.
 */
export function gradcheck(fn: (xs: Variable[]) => Variable, inputs: Tensor[], opts: GradcheckOptions = {}): GradcheckResult {
  const eps = opts.eps ?? 1e-5;
  const samples = opts.samples ?? 12;
  const rng = new Rng(opts.seed ?? 5);
  for (const t of inputs) if (t.dtype !== 'float64') throw new TypeError(`gradcheck: inputs must be float64, got ${t.dtype}`);
  let R: Float64Array | undefined;
  const lossOf = (xs: Tensor[]): number =>
    noGrad(() =>
      tidy(() => {
        const y = fn(xs.map((t) => Variable.constant(t)));
        const v = y.value.toFloat64();
        R ??= rng.normalArray(v.length);
        let s = 0;
        for (let i = 0; i < v.length; i++) s += v[i]! * R[i]!;
        return s;
      }),
    );
  lossOf(inputs);
  // analytic
  const vars = inputs.map((t) => new Variable(t.clone(), { requiresGrad: true }));
  const y = tidy(() => fn(vars));
  const seed = Tensor.fromArray(R!, y.shape, 'float64', 'gradient');
  backward(y, seed); // backward seeds with a copy
  seed.release();
  y.release();
  const grads = vars.map((v) => v.grad?.toFloat64() ?? new Float64Array(v.size));
  vars.forEach((v) => v.release());
  const maxRelErr: number[] = [];
  let checked = 0;
  inputs.forEach((t, k) => {
    const g = grads[k]!;
    const gmax = g.reduce((a, b) => Math.max(a, Math.abs(b)), 0);
    const idx = t.size <= samples ? Array.from({ length: t.size }, (_, i) => i) : Array.from({ length: samples }, () => rng.int(t.size));
    let worst = 0;
    const base = t.toFloat64();
    for (const i of idx) {
      const plus = base.slice();
      plus[i] = plus[i]! + eps;
      const minus = base.slice();
      minus[i] = minus[i]! - eps;
      const tp = Tensor.fromArray(plus, t.shape, 'float64');
      const tm = Tensor.fromArray(minus, t.shape, 'float64');
      const xsP = inputs.map((u, j) => (j === k ? tp : u));
      const xsM = inputs.map((u, j) => (j === k ? tm : u));
      const num = (lossOf(xsP) - lossOf(xsM)) / (2 * eps);
      tp.release();
      tm.release();
      const err = Math.abs(g[i]! - num) / Math.max(Math.abs(num), 1e-3 * gmax, 1e-12);
      worst = Math.max(worst, err);
      checked++;
    }
    maxRelErr.push(worst);
  });
  return { maxRelErr, checked };
}

import type { Variable } from '../autograd/variable.js';
import type { Tensor } from '../core/tensor.js';
import { OptimizerError } from './errors.js';

export interface ClipGradNormOptions {
  /** Throw an OptimizerError when the total norm is NaN or ±Inf (PyTorch's error_if_nonfinite; default false). */
  errorIfNonfinite?: boolean;
}

type Floats = Float32Array | Float64Array;

function numbers(t: Tensor): Floats {
  return t.dtype === 'float32' || t.dtype === 'float64' ? (t.data as Floats) : t.toFloat64();
}

/**
 * torch.nn.utils.clip_grad_norm_: the norm of order `normType` (> 0, or Infinity for the max-abs norm)
 * of all gradients together, as if concatenated (parameters without a gradient are skipped). The
 * gradients are multiplied in place by clip = maxNorm/(total + 1e-6) unless clip ≥ 1, which is
 * PyTorch's clamp(clip, max=1): in effect when total > maxNorm − 1e-6, and a NaN total makes every
 * gradient NaN, as in PyTorch. Returns the total norm (before clipping); 0 when no parameter has a
 * gradient. Sums are taken in float64.
 */
export function clipGradNorm(params: readonly Variable[], maxNorm: number, normType = 2, opts: ClipGradNormOptions = {}): number {
  const op = 'clipGradNorm';
  if (!Array.isArray(params)) throw new OptimizerError(`${op}: params must be an array of Parameters`);
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new OptimizerError(`${op}: maxNorm must be a number ≥ 0, got ${String(maxNorm)}`);
  if (typeof normType !== 'number' || !(normType > 0)) throw new OptimizerError(`${op}: normType must be a number > 0 or Infinity, got ${String(normType)}`);
  const grads: Tensor[] = [];
  for (const p of params) if (p.grad) grads.push(p.grad);
  if (grads.length === 0) return 0;
  let total: number;
  if (normType === Infinity) {
    total = 0;
    for (const g of grads) {
      for (const x of numbers(g)) {
        const a = Math.abs(x);
        if (a > total || Number.isNaN(a)) total = a;
        if (Number.isNaN(total)) break;
      }
    }
  } else {
    let sum = 0;
    for (const g of grads) {
      const d = numbers(g);
      if (normType === 2) for (const x of d) sum += x * x;
      else if (normType === 1) for (const x of d) sum += Math.abs(x);
      else for (const x of d) sum += Math.abs(x) ** normType;
    }
    total = normType === 2 ? Math.sqrt(sum) : normType === 1 ? sum : sum ** (1 / normType);
  }
  if (opts.errorIfNonfinite && !Number.isFinite(total)) {
    throw new OptimizerError(`${op}: the total norm of order ${normType} of the gradients is ${total}`);
  }
  const clip = maxNorm / (total + 1e-6);
  if (!(clip >= 1)) {
    for (const g of grads) {
      const d = numbers(g);
      for (let i = 0; i < d.length; i++) d[i] = d[i]! * clip;
      if (g.dtype !== 'float32' && g.dtype !== 'float64') g.set(d);
    }
  }
  return total;
}

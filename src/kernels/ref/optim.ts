import type { Tensor } from '../../core/tensor.js';
import type { AdamStep } from '../backend.js';
import { checkAdamStep } from '../check.js';

type Floats = Float32Array | Float64Array;

/** The elements of a float32/float64 tensor in place, or a float64 copy of a 16-bit one. */
function numbers(t: Tensor): Floats {
  return t.dtype === 'float32' || t.dtype === 'float64' ? (t.data as Floats) : t.toFloat64();
}

/** Writes back values that numbers() returned as a copy (16-bit tensors). */
function commit(t: Tensor, a: Floats): void {
  if (t.dtype !== 'float32' && t.dtype !== 'float64') t.set(a);
}

/**
 * The Adam-family update in plain TypeScript (see AdamStep): float64 arithmetic; each store into a
 * typed array rounds to its dtype, and the stored value is what is read next.
 */
export function refAdamStep(s: AdamStep): void {
  checkAdamStep(s);
  const parts = s.params.map(numbers);
  const grads = s.grads.map((g) => (g ? numbers(g) : null));
  const m = s.m.map((t) => t.data as Floats);
  const v = s.v.data as Floats;
  const n = v.length;
  const { beta1, beta2, eps, stepSize, bc2Sqrt, decay } = s;
  if (s.kind === 'adam') {
    const w = 1 - beta1;
    const p = parts[0]!;
    const gr = grads[0] ?? null;
    const mm = m[0]!;
    for (let i = 0; i < n; i++) {
      let g = gr ? gr[i]! : 0;
      if (decay !== 0) g = g + decay * p[i]!;
      // torch's lerp: start + w·(end − start) for w < 0.5, end − (end − start)·(1 − w) otherwise
      mm[i] = w < 0.5 ? mm[i]! + w * (g - mm[i]!) : g - (g - mm[i]!) * (1 - w);
      v[i] = beta2 * v[i]! + (1 - beta2) * (g * g);
      const denom = Math.sqrt(v[i]!) / bc2Sqrt + eps;
      p[i] = p[i]! - stepSize * (mm[i]! / denom);
    }
  } else {
    const K = parts.length;
    for (let i = 0; i < n; i++) {
      let sq = 0;
      for (let k = 0; k < K; k++) {
        const g = grads[k] ? grads[k]![i]! : 0;
        sq += g * g;
      }
      v[i] = beta2 * v[i]! + (1 - beta2) * sq;
      const denom = Math.sqrt(v[i]!) + eps;
      for (let k = 0; k < K; k++) {
        const g = grads[k] ? grads[k]![i]! : 0;
        const mk = m[k]!;
        const p = parts[k]!;
        mk[i] = beta1 * mk[i]! + (1 - beta1) * g;
        p[i] = p[i]! - stepSize * (mk[i]! / denom);
        if (decay !== 0) p[i] = p[i]! + decay * p[i]!;
      }
    }
  }
  s.params.forEach((t, k) => commit(t, parts[k]!));
}

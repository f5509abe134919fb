import type { DType } from '../core/dtype.js';
import type { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';

/** U(−bound, bound) in a new parameter tensor. */
export function uniform(rng: Rng, shape: number[], bound: number, dtype: DType = 'float32'): Tensor {
  const t = Tensor.empty(shape, dtype, 'parameter');
  return rng.fillUniform(t, -bound, bound);
}

/** N(0, std²) in a new parameter tensor. */
export function normal(rng: Rng, shape: number[], std: number, dtype: DType = 'float32'): Tensor {
  const t = Tensor.empty(shape, dtype, 'parameter');
  return rng.fillNormal(t, 0, std);
}

/**
 * PyTorch's default Conv/Linear initialisation (kaiming_uniform with a = √5): weights and biases
 * both U(−1/√fan_in, 1/√fan_in).
 */
export function torchDefaultBound(fanIn: number): number {
  return fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
}

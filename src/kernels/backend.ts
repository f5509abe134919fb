import type { Tensor } from '../core/tensor.js';
import type { FftPass } from './fft-pass.js';

export type BinaryOp = 'add' | 'sub' | 'mul';
export type GeluApproximate = 'none' | 'tanh';
export type ReduceOp = 'sum' | 'sumSquares' | 'maxAbs' | 'countNonFinite';

export interface GemmOptions {
  /** Use Aᵀ: a is stored [.., K, M]. */
  transA?: boolean;
  /** Use Bᵀ: b is stored [.., N, K]. */
  transB?: boolean;
  /** Scales the product (default 1). */
  alpha?: number;
  /** C = alpha·A·B + C instead of overwriting C. */
  accumulate?: boolean;
  /** Added to every row i of C: bias [M]. */
  bias?: Tensor;
  /**
   * Fused activation: C = gelu(alpha·op(A)·op(B) + beta·C + bias) in this form, computed in f32 on the
   * unrounded sum (the wasm kernel applies it in its epilogue, so C is written once).
   */
  gelu?: GeluApproximate;
  /**
   * Sum over the batch: A and/or B batched, C 2-D [M, N]: C = alpha·Σ_b op(A[b])·op(B[b]) (+ C if
   * accumulate) (+ bias, once). The items are added in batch order (a channel mixing's weight gradient).
   * Not with `gelu`.
   */
  sumBatch?: boolean;
  /**
   * With `gelu`: also receives gelu′ at the values before the activation, so that the backward is one
   * multiplication (dz = dy·gelu′); shaped and typed like C.
   */
  activationGrad?: Tensor;
  /**
   * Added to the sum before the activation: C = act(alpha·op(A)·op(B) + beta·C + bias + residual)
   * (a skip branch joining a GEMM's output). Shaped and typed like C, sharing no memory with it.
   * Not with `sumBatch`.
   */
  residual?: Tensor;
  /**
   * Multiplies the result elementwise after the activation: C = act(…)·multiply (a backward
   * dz = (Wᵀ·dy)·act′ in one pass). Shaped and typed like C, sharing no memory with it. Not with `sumBatch`.
   */
  multiply?: Tensor;
}

/** Planar complex operand of complexGemm. */
export interface ComplexPair {
  re: Tensor;
  im: Tensor;
}

export interface ComplexGemmOptions {
  transA?: boolean;
  transB?: boolean;
  /** Use conj(A) / conj(B). */
  conjA?: boolean;
  conjB?: boolean;
  /** C += op(A)·op(B). */
  accumulate?: boolean;
}

/**
 * One update of the Adam family over one weight, in place (parameters and moments): float64 arithmetic,
 * each stored moment and parameter rounded once into its dtype and read back before it is used again.
 *  - 'adam' (torch.optim.Adam): g ← g + decay·p; m ← lerp(m, g, 1 − β1); v ← β2·v + (1 − β2)·g²;
 *    p ← p − stepSize·m/(√v/bc2Sqrt + eps), stepSize = lr/(1 − β1^t), bc2Sqrt = √(1 − β2^t). One part.
 *  - 'adamw' (neuralop's AdamW): v ← β2·v + (1 − β2)·Σ_parts g²; denom ← √v + eps; per part
 *    m ← β1·m + (1 − β1)·g, p ← p − alpha·m/denom, then p ← p + decay·p where decay ≠ 0. One part, or
 *    the real and imaginary parts of a complex weight sharing one v.
 * A null gradient is zero. Every tensor has the first parameter's shape; the moments and v have the
 * parameters' dtype for float32/float64 parameters, float32 for 16-bit ones.
 */
export interface AdamStep {
  kind: 'adam' | 'adamw';
  params: readonly Tensor[];
  grads: readonly (Tensor | null)[];
  m: readonly Tensor[];
  v: Tensor;
  beta1: number;
  beta2: number;
  eps: number;
  /** adam: the step size lr/(1 − β1^t); adamw: alpha (lr, times √(1 − β2^t)/(1 − β1^t) with bias correction). */
  stepSize: number;
  /** adam: √(1 − β2^t) (unused by adamw). */
  bc2Sqrt: number;
  /** adam: the L2 weight decay added to g; adamw: decay = −lr·weight_decay (0: none). */
  decay: number;
}

/**
 * The one interface through which ops reach kernels. Every tensor may have its own dtype; a backend
 * computes in at least f32 and rounds once into the output's dtype. Outputs are written in place and
 * may be the same tensor as an input of an elementwise op. A WebGPU backend would implement this too.
 */
export interface Backend {
  readonly name: string;
  /**
   * C = alpha·op(A)·op(B) (+ C if accumulate) (+ bias per row). A: [M, K] or [batch, M, K] (2-D A is
   * shared by every batch item, as channel-mixing weights are); B: [K, N] or [batch, K, N]; C: [M, N]
   * or [batch, M, N]. Transposed operands swap their last two axes.
   */
  gemm(a: Tensor, b: Tensor, c: Tensor, opts?: GemmOptions): void;
  /** out = a ∘ b elementwise (same shapes). */
  binary(op: BinaryOp, a: Tensor, b: Tensor, out: Tensor): void;
  /** out = alpha·x. */
  scale(x: Tensor, alpha: number, out: Tensor): void;
  /** y += alpha·x. */
  axpy(alpha: number, x: Tensor, y: Tensor): void;
  tanh(x: Tensor, out: Tensor): void;
  /** dx = dy·(1 − y²), from the forward output y. */
  tanhBackward(y: Tensor, dy: Tensor, dx: Tensor): void;
  /**
   * dx = dy·(1 − tanh²(x)), recomputed from the forward input x (so that a backward needs no saved
   * output: the tanh stabiliser's input is saved by the layer's skip anyway); with `accumulate`,
   * dx += dy·(1 − tanh²(x)) (a gradient added to the one already there, in one pass).
   */
  tanhBackwardFromInput(x: Tensor, dy: Tensor, dx: Tensor, accumulate?: boolean): void;
  /** out = gelu(x); with `grad`, also grad = gelu′(x) (shaped like x), from the same transcendental. */
  gelu(x: Tensor, out: Tensor, approximate?: GeluApproximate, grad?: Tensor): void;
  geluBackward(x: Tensor, dy: Tensor, dx: Tensor, approximate?: GeluApproximate): void;
  clamp(x: Tensor, min: number, max: number, out: Tensor): void;
  /** dx = dy where min ≤ x ≤ max, else 0. */
  clampBackward(x: Tensor, min: number, max: number, dy: Tensor, dx: Tensor): void;
  /**
   * out[b, c, …] = x[b, c, …]·scale[c] + shift[c] over x [batch, channels, …] (a layer's per-channel
   * bias and scale); either vector may be null (1 / 0). out is x or shares no memory with it.
   */
  channelAffine(x: Tensor, scale: Tensor | null, shift: Tensor | null, out: Tensor): void;
  /**
   * out[c] = Σ_{b, …} x[b, c, …]·y[b, c, …] (y null: Σ x): the gradient of a per-channel bias (y null)
   * or scale (y = the forward input).
   */
  channelSum(x: Tensor, y: Tensor | null, out: Tensor): void;
  /** A reduction over all elements, returned as a float64 number. */
  reduce(op: ReduceOp, x: Tensor): number;
  /** out = x converted to out's dtype (round to nearest even). */
  convert(x: Tensor, out: Tensor): void;
  /**
   * dst = src with its axes permuted: dst axis d is src axis perm[d] (dst.shape[d] = src.shape[perm[d]]).
   * A copy of the stored values: dst has src's dtype (16-bit data stay 16-bit codes) and shares no
   * memory with src.
   */
  permute(src: Tensor, perm: readonly number[], dst: Tensor): void;
  /**
   * Complex C = op(A)·op(B) (+ C), planar re/im, batched like gemm (A, B, C each [.., rows, cols]);
   * one fused kernel computes both output parts.
   */
  complexGemm(a: ComplexPair, b: ComplexPair, c: ComplexPair, opts?: ComplexGemmOptions): void;
  /** One batched 1-D FFT pass along an axis (see FftPass); n-D transforms are sequences of passes. */
  fft(pass: FftPass): void;
  /** One optimizer update of the Adam family over one weight (see AdamStep). */
  adamStep(s: AdamStep): void;
  /** out[e, :] = x[index[e], :]: rows gathered (a graph's edges from its nodes). x [N, C], out [E, C], same dtype. */
  gatherRows(x: Tensor, index: Int32Array, out: Tensor): void;
  /** out[index[e], :] += src[e, :]: rows added into their targets (gatherRows' adjoint). src [E, C], out [N, C]. */
  scatterAddRows(src: Tensor, index: Int32Array, out: Tensor): void;
  /** out[q, :] = sum (or mean) of x's rows rowPtr[q] … rowPtr[q + 1] − 1 (CSR segments; empty → 0). x [E, C], out [M, C]. */
  segmentSum(x: Tensor, rowPtr: Int32Array, out: Tensor, mean?: boolean): void;
}

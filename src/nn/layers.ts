import type { DType } from '../core/dtype.js';
import { Rng } from '../core/rng.js';
import { Tensor, shapeSize } from '../core/tensor.js';
import * as ops from '../autograd/ops.js';
import { Variable } from '../autograd/variable.js';
import { Module, Parameter } from './module.js';
import { torchDefaultBound, uniform } from './init.js';

/**
 * Python's round() for one number: to the nearest integer, halves to the even neighbour
 * (round(2.5) = 2, round(3.5) = 4), where Math.round sends halves up. neuralop computes the
 * channel-MLP width and the domain padding with it.
 */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A 1×1 convolution over channels: weight [out, in, 1] (PyTorch Conv1d layout), optional bias [out]. */
export class Conv1x1 extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | undefined;

  constructor(readonly inChannels: number, readonly outChannels: number, opts: { bias?: boolean; rng: Rng; dtype?: DType }) {
    super();
    const b = torchDefaultBound(inChannels);
    this.weight = this.registerParameter('weight', new Parameter(uniform(opts.rng, [outChannels, inChannels, 1], b, opts.dtype)));
    this.bias = opts.bias === false ? undefined : this.registerParameter('bias', new Parameter(uniform(opts.rng, [outChannels], b, opts.dtype)));
  }

  /** The weight as the [out, in] matrix of the channel mixing (a view; gradients flow to the weight). */
  weight2d(): Variable {
    return ops.reshape(this.weight, [this.outChannels, this.inChannels]);
  }

  forward(x: Variable): Variable {
    return ops.linear(x, this.weight2d(), this.bias);
  }

  /** gelu(forward(x)) as one fused GEMM (bias and gelu in its epilogue). */
  forwardGelu(x: Variable): Variable {
    return ops.linearGelu(x, this.weight2d(), this.bias);
  }
}

/** The training step dropout masks are drawn for (set by the Trainer; masks are a function of it, so a resumed run draws the same ones). */
export interface DropoutClock {
  epoch: number;
  step: number;
}

/** Dropout after every layer of a channel MLP (neuralop's ChannelMLP dropout): probability, seed and where in training. */
export interface DropoutSpec {
  p: number;
  seed: number;
  /** Which module this is (one stream of masks per module). */
  id: number;
  clock: DropoutClock;
}

/** A 32-bit hash of non-negative integers (FNV-1a over their 32-bit words), the seed of one dropout mask. */
function maskSeed(parts: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const v of parts) {
    for (const w of [v >>> 0, Math.floor(v / 2 ** 32) >>> 0]) {
      for (let k = 0; k < 4; k++) {
        h ^= (w >>> (8 * k)) & 0xff;
        h = Math.imul(h, 0x01000193) >>> 0;
      }
    }
  }
  return h;
}

/**
 * Inverted dropout as torch.nn.Dropout in training mode: each element kept with probability 1 − p
 * and scaled by 1/(1 − p). The mask is drawn from (seed, module, layer, epoch, step): the same step
 * of a resumed run draws the same masks, and every forward pass within a step the same ones (the
 * Trainer advances the clock; a hand-written loop calls the model's setStep).
 */
export function dropout(x: Variable, spec: DropoutSpec, layer: number): Variable {
  const rng = new Rng(maskSeed([spec.seed, spec.id, layer, spec.clock.epoch, spec.clock.step]));
  const keep = 1 / (1 - spec.p);
  const m = new Float32Array(x.value.size);
  for (let i = 0; i < m.length; i++) m[i] = rng.random() < spec.p ? 0 : keep;
  return ops.mul(x, Variable.constant(Tensor.fromArray(m, x.shape, x.dtype, 'activation')));
}

/**
 * neuralop's ChannelMLP: n_layers 1×1 convolutions (named fcs.0, fcs.1, …) with GELU between them
 * (not after the last).
 */
export class ChannelMLP extends Module {
  readonly fcs: Conv1x1[] = [];
  /** The activation between layers (neuralop's non_linearity; GELU by default). */
  readonly activation: ops.Activation;

  /** Dropout after every layer while training (neuralop's channel_mlp_dropout); none when absent or p = 0. */
  readonly dropout: DropoutSpec | undefined;

  constructor(inChannels: number, outChannels: number, hiddenChannels: number, opts: { nLayers?: number; rng: Rng; dtype?: DType; activation?: ops.Activation; dropout?: DropoutSpec }) {
    super();
    this.activation = opts.activation ?? 'gelu';
    this.dropout = opts.dropout && opts.dropout.p > 0 ? opts.dropout : undefined;
    const n = opts.nLayers ?? 2;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`ChannelMLP: n_layers must be a positive integer, got ${n}`);
    const fcs = this.registerModule('fcs', new ModuleList());
    for (let i = 0; i < n; i++) {
      const cin = i === 0 ? inChannels : hiddenChannels;
      const cout = i === n - 1 ? outChannels : hiddenChannels;
      this.fcs.push(fcs.add(new Conv1x1(cin, cout, { rng: opts.rng, ...(opts.dtype ? { dtype: opts.dtype } : {}) })));
    }
  }

  forward(x: Variable): Variable {
    if (this.dropout && this.training) {
      const d = this.dropout;
      let h = x;
      this.fcs.forEach((fc, i) => {
        h = fc.forward(h);
        if (i < this.fcs.length - 1) h = ops.activate(h, this.activation);
        h = dropout(h, d, i);
      });
      return h;
    }
    if (this.activation !== 'gelu') {
      let h = x;
      this.fcs.forEach((fc, i) => {
        h = fc.forward(h);
        if (i < this.fcs.length - 1) h = ops.activate(h, this.activation);
      });
      return h;
    }
    if (this.fcs.length === 2) {
      // one fused op: the hidden layer's gelu and its gradient in the GEMM epilogues
      const [a, b] = this.fcs as [Conv1x1, Conv1x1];
      return ops.linearGeluLinear(x, a.weight2d(), a.bias, b.weight2d(), b.bias);
    }
    let h = x;
    this.fcs.forEach((fc, i) => {
      h = i < this.fcs.length - 1 ? fc.forwardGelu(h) : fc.forward(h);
    });
    return h;
  }
}

/** An ordered list of modules named 0, 1, 2, … (like torch.nn.ModuleList). */
export class ModuleList extends Module {
  private n = 0;

  add<M extends Module>(m: M): M {
    return this.registerModule(String(this.n++), m);
  }
}

/** The normalisation layers of neuralop's FNOBlocks (its `norm`): two per block, after the spectral branch and after the channel MLP. */
export type NormType = 'group_norm' | 'instance_norm';
export const NORM_TYPES: readonly NormType[] = ['group_norm', 'instance_norm'];

/** torch.nn.GroupNorm(groups, channels): eps 1e-5, a per-channel affine (weight ones, bias zeros at init). */
export class GroupNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(readonly groups: number, readonly channels: number, dtype: DType = 'float32', readonly eps = 1e-5) {
    super();
    if (!Number.isInteger(groups) || groups < 1 || channels % groups !== 0) throw new RangeError(`GroupNorm: ${channels} channels do not split into ${groups} groups (norm_groups)`);
    this.weight = this.registerParameter('weight', new Parameter(Tensor.full([channels], 1, dtype, 'parameter')));
    this.bias = this.registerParameter('bias', new Parameter(Tensor.zeros([channels], dtype, 'parameter')));
  }

  forward(x: Variable): Variable {
    return ops.groupNorm(x, this.groups, this.eps, this.weight, this.bias);
  }
}

/** neuralop's InstanceNorm: F.instance_norm with its defaults (no affine, eps 1e-5), per sample and channel over the points. */
export class InstanceNorm extends Module {
  constructor(readonly channels: number, readonly eps = 1e-5) {
    super();
  }

  forward(x: Variable): Variable {
    return ops.groupNorm(x, this.channels, this.eps);
  }
}

/** neuralop's SoftGating skip: y = w ⊙ x with one weight per channel, shape [1, C, 1…] (ones at init). */
export class SoftGating extends Module {
  readonly weight: Parameter;

  constructor(readonly channels: number, spatialDims: number, dtype: DType = 'float32') {
    super();
    this.weight = this.registerParameter('weight', new Parameter(Tensor.full([1, channels, ...Array<number>(spatialDims).fill(1)], 1, dtype, 'parameter')));
  }

  forward(x: Variable): Variable {
    return ops.channelScale(x, this.weight);
  }
}

export type SkipType = 'linear' | 'identity' | 'soft-gating';
export const SKIP_TYPES: readonly SkipType[] = ['linear', 'identity', 'soft-gating'];

/** A skip connection module: 'linear' (1×1 conv without bias, under .conv), 'soft-gating', 'identity'. */
export class Skip extends Module {
  readonly conv: Conv1x1 | undefined;
  readonly gate: SoftGating | undefined;

  constructor(readonly kind: SkipType, channels: number, spatialDims: number, opts: { rng: Rng; dtype?: DType }) {
    super();
    if (!SKIP_TYPES.includes(kind)) throw new RangeError(`skip: unknown skip type '${String(kind)}' (expected ${SKIP_TYPES.join(', ')})`);
    if (kind === 'linear') this.conv = this.registerModule('conv', new Conv1x1(channels, channels, { bias: false, rng: opts.rng, ...(opts.dtype ? { dtype: opts.dtype } : {}) }));
    if (kind === 'soft-gating') {
      this.gate = new SoftGating(channels, spatialDims, opts.dtype);
      // neuralop names the gating weight directly on the skip module ('…skips.0.weight')
      this.registerParameter('weight', this.gate.weight);
    }
  }

  forward(x: Variable): Variable {
    if (this.conv) return this.conv.forward(x);
    if (this.gate) return this.gate.forward(x);
    return x;
  }
}

export { SpectralConv, type SpectralConvOptions } from './spectral.js';

/** Grid channels [d, …sizes] per (sizes, dtype), encoded once: coordinate i/n along each axis. */
const gridCache = new Map<string, Tensor>();

function gridChannels(sizes: readonly number[], dtype: Tensor['dtype']): Tensor {
  const key = `${sizes.join('x')}:${dtype}`;
  let g = gridCache.get(key);
  if (!g) {
    const d = sizes.length;
    const S = shapeSize(sizes);
    const v = new Float64Array(d * S);
    for (let a = 0; a < d; a++) {
      const inner = shapeSize(sizes.slice(a + 1));
      for (let s = 0; s < S; s++) v[a * S + s] = (Math.floor(s / inner) % sizes[a]!) / sizes[a]!;
    }
    g = Tensor.fromArray(v, [d, ...sizes], dtype, 'workspace');
    gridCache.set(key, g);
  }
  return g;
}

/**
 * neuralop's GridEmbeddingND: appends d channels holding the coordinates of a regular grid on
 * [0, 1)^d (left endpoints, as torch.linspace(0, 1, n + 1)[:-1]) after the input channels.
 * The gradient with respect to the input is the data channels' part of the output gradient.
 */
export function gridEmbedding(x: Variable): Variable {
  const [B, C, ...sizes] = x.shape as number[];
  const d = sizes.length;
  const S = shapeSize(sizes);
  const out = Tensor.empty([B!, C! + d, ...sizes], x.dtype, 'activation');
  // block copies of the raw storage (16-bit codes stay codes): no per-element arithmetic
  const src = x.value.data as Float32Array;
  const dst = out.data as Float32Array;
  const grid = gridChannels(sizes, x.dtype).data as Float32Array;
  for (let b = 0; b < B!; b++) {
    dst.set(src.subarray(b * C! * S, (b + 1) * C! * S), b * (C! + d) * S);
    dst.set(grid, (b * (C! + d) + C!) * S);
  }
  return ops.recordOp('gridEmbedding', [x], out, (g) => {
    // the gradient of the data channels; the grid channels are constants
    const gx = Tensor.empty(x.shape, g.dtype, 'gradient');
    const gs = g.data as Float32Array;
    const gd = gx.data as Float32Array;
    for (let b = 0; b < B!; b++) gd.set(gs.subarray(b * (C! + d) * S, (b * (C! + d) + C!) * S), b * C! * S);
    return [gx];
  });
}

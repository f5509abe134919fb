import type { DType } from '../core/dtype.js';
import { Rng } from '../core/rng.js';
import { Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import * as ops from '../autograd/ops.js';
import { Variable } from '../autograd/variable.js';
import type { FftNorm } from '../fft/index.js';
import { centredModes } from '../fft/index.js';
import { backend } from '../kernels/cpu.js';
import { Module, Parameter, copyInto } from './module.js';
import { normal, torchDefaultBound, uniform } from './init.js';

export type Activation = 'gelu';

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

  forward(x: Variable): Variable {
    const w = ops.reshape(this.weight, [this.outChannels, this.inChannels]);
    return ops.linear(x, w, this.bias);
  }

  /** gelu(forward(x)) as one fused GEMM (bias and gelu in its epilogue). */
  forwardGelu(x: Variable): Variable {
    const w = ops.reshape(this.weight, [this.outChannels, this.inChannels]);
    return ops.linearGelu(x, w, this.bias);
  }
}

/**
 * neuralop's ChannelMLP: n_layers 1×1 convolutions (named fcs.0, fcs.1, …) with GELU between them
 * (not after the last).
 */
export class ChannelMLP extends Module {
  readonly fcs: Conv1x1[] = [];

  constructor(inChannels: number, outChannels: number, hiddenChannels: number, opts: { nLayers?: number; rng: Rng; dtype?: DType }) {
    super();
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

export interface SpectralConvOptions {
  /** n_modes as neuralop takes them: the last axis keeps n_modes[-1]//2 + 1 frequencies. */
  nModes: readonly number[];
  bias?: boolean;
  fftNorm?: FftNorm;
  rng: Rng;
  dtype?: DType;
}

/**
 * n-D spectral convolution with dense complex weights. neuralop stores the weight as complex
 * [in, out, m1, …, m_{d−1}, m_d//2+1] and the bias as [out, 1, …, 1]; mpno keeps the weight
 * mode-major as two real tensors [M, in, out] (M = Π kept modes, centred order on the first d−1
 * axes), which makes the contraction one small complex GEMM per mode, and converts in the state dict.
 */
export class SpectralConv extends Module {
  readonly weightRe: Parameter;
  readonly weightIm: Parameter;
  readonly bias: Parameter | undefined;
  /** Kept modes per axis as rfftnModes takes them. */
  readonly modes: number[];
  readonly fftNorm: FftNorm;
  /** Precision of the FFTs and the contraction (see ops.spectralConv); changed by FNO.setPrecision. */
  precision: 'full' | 'mixed' | 'half' = 'full';
  halfType: 'float16' | 'bfloat16' = 'float16';
  /** Emulate half-precision FFT arithmetic (every stage rounded) where the FFTs run in half. */
  emulateFft = false;
  /** Forward passes whose output had a non-finite value (an fp16 overflow, usually). */
  overflows = 0;
  /** Instrumentation: called with the layer's input on every forward (error-bound reports). */
  capture: ((x: Tensor) => void) | undefined;

  constructor(readonly inChannels: number, readonly outChannels: number, opts: SpectralConvOptions) {
    super();
    const d = opts.nModes.length;
    if (d < 1 || d > 3) throw new RangeError(`SpectralConv: n_modes must have 1 to 3 entries, got [${opts.nModes.join(', ')}]`);
    for (const m of opts.nModes) if (!Number.isInteger(m) || m < 1) throw new RangeError(`SpectralConv: n_modes must be positive integers, got [${opts.nModes.join(', ')}]`);
    this.modes = opts.nModes.map((m, i) => (i === d - 1 ? Math.floor(m / 2) + 1 : m));
    this.fftNorm = opts.fftNorm ?? 'forward';
    const M = shapeSize(this.modes);
    const std = Math.sqrt(2 / (inChannels + outChannels));
    // a complex N(0, std²) draw: real and imaginary parts each N(0, std²/2)
    const dt = opts.dtype ?? 'float32';
    const re = this.registerParameter('weight.real', new Parameter(normal(opts.rng, [M, inChannels, outChannels], std / Math.SQRT2, dt)));
    const im = this.registerParameter('weight.imag', new Parameter(normal(opts.rng, [M, inChannels, outChannels], std / Math.SQRT2, dt)));
    Parameter.complexPair(re, im);
    this.weightRe = re;
    this.weightIm = im;
    this.bias = opts.bias === false ? undefined : this.registerParameter('bias', new Parameter(normal(opts.rng, [outChannels, ...Array<number>(d).fill(1)], std, dt)));
  }

  forward(x: Variable): Variable {
    const d = this.modes.length;
    const sizes = x.shape.slice(2);
    if (x.value.ndim !== d + 2 || x.shape[1] !== this.inChannels) {
      throw new RangeError(`SpectralConv: input ${fmtShape(x.shape)} is not [batch, ${this.inChannels}, ${d} spatial axes]`);
    }
    this.modes.forEach((k, a) => {
      const limit = a === d - 1 ? Math.floor(sizes[a]! / 2) + 1 : sizes[a]!;
      if (k > limit) throw new RangeError(`SpectralConv: ${k} modes on axis ${a} do not fit a grid of ${sizes[a]} points (input ${fmtShape(x.shape)})`);
    });
    this.capture?.(x.value);
    const y = ops.spectralConv(x, this.weightRe, this.weightIm, this.bias, { modes: this.modes, norm: this.fftNorm, precision: this.precision, halfType: this.halfType, emulateFft: this.emulateFft });
    if (this.precision !== 'full' && backend().reduce('countNonFinite', y.value) > 0) this.overflows++;
    return y;
  }

  /**
   * neuralop keeps the weight in a tensorly-torch DenseTensor, so its state dict names it
   * 'weight.tensor' (complex; as real numbers, view_as_real's [..., 2]); that name loads too.
   */
  protected override stateAliases(): Readonly<Record<string, string>> {
    return { 'weight.tensor': 'weight' };
  }

  /** neuralop layout: weight [in, out, k1…kd, 2] (re, im last), bias [out, 1…]. */
  protected override exportOwnState(): [string, Tensor][] {
    const M = shapeSize(this.modes);
    const Ci = this.inChannels;
    const Co = this.outChannels;
    const re = this.weightRe.value.toFloat64();
    const im = this.weightIm.value.toFloat64();
    const w = new Float64Array(Ci * Co * M * 2);
    for (let m = 0; m < M; m++) {
      for (let i = 0; i < Ci; i++) {
        for (let o = 0; o < Co; o++) {
          const src = (m * Ci + i) * Co + o;
          const dst = ((i * Co + o) * M + m) * 2;
          w[dst] = re[src]!;
          w[dst + 1] = im[src]!;
        }
      }
    }
    const out: [string, Tensor][] = [['weight', Tensor.fromArray(w, [Ci, Co, ...this.modes, 2], this.weightRe.dtype, 'data')]];
    if (this.bias) out.push(['bias', this.bias.value.clone('data')]);
    return out;
  }

  protected override importOwnState(state: Map<string, Tensor>): string[] {
    const used: string[] = [];
    const w = state.get('weight');
    const M = shapeSize(this.modes);
    const Ci = this.inChannels;
    const Co = this.outChannels;
    if (w) {
      const want = [Ci, Co, ...this.modes, 2];
      if (w.ndim !== want.length || w.shape.some((s, k) => s !== want[k])) {
        throw new RangeError(`loadStateDict: 'weight' of a SpectralConv has shape ${fmtShape(w.shape)}, expected ${fmtShape(want)} (in, out, modes…, re/im)`);
      }
      const v = w.toFloat64();
      const re = new Float64Array(M * Ci * Co);
      const im = new Float64Array(M * Ci * Co);
      for (let m = 0; m < M; m++) for (let i = 0; i < Ci; i++) for (let o = 0; o < Co; o++) {
        const src = ((i * Co + o) * M + m) * 2;
        re[(m * Ci + i) * Co + o] = v[src]!;
        im[(m * Ci + i) * Co + o] = v[src + 1]!;
      }
      this.weightRe.value.set(re);
      this.weightIm.value.set(im);
      used.push('weight');
    }
    const b = state.get('bias');
    if (b && this.bias) {
      copyInto(this.bias.value, b, 'bias');
      used.push('bias');
    }
    return used;
  }

  /** Signed frequencies kept on axis a (centred order; the last axis 0…k−1). */
  keptFrequencies(axis: number, n: number): number[] {
    const d = this.modes.length;
    const k = this.modes[axis]!;
    if (axis === d - 1) return Array.from({ length: k }, (_, i) => i);
    return Array.from(centredModes(k, n), (p) => (p > n / 2 ? p - n : p));
  }
}

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

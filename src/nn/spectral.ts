/**
 * A spectral convolution is a transform × a weight contraction (+ a bias):
 *   y = T⁻¹( W · T(x) ) + b
 * with T a truncated transform to a mode-major spectrum (the Fourier transform here; spherical
 * harmonics plug in the same way) and W a contraction of the spectrum with learned complex weights
 * (dense here; factorised weights implement the same interface). The precision policy decides the
 * dtype of each stage (precision/policy.ts).
 */
import type { DType } from '../core/dtype.js';
import type { Rng } from '../core/rng.js';
import { Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import * as ops from '../autograd/ops.js';
import { Variable, noGrad, tidy } from '../autograd/variable.js';
import { type FftNorm, FFT_NORMS } from '../fft/index.js';
import { backend } from '../kernels/cpu.js';
import { type LayerPrecision, type PrecisionLayer, stageDTypes } from '../precision/policy.js';
import { Module, Parameter, copyInto } from './module.js';
import { normal } from './init.js';

/**
 * A truncated transform between fields [B, C, n1…nd] and packed complex spectra
 * [2, k1…kd, B, C] (mode-major; index 0 the real part) over a fixed set of kept modes.
 */
export interface SpectralTransform {
  /** Name for reports ('fourier'). */
  readonly name: string;
  /** Kept modes per spectrum axis, as the spectrum stores them. */
  readonly modes: readonly number[];
  /**
   * The leading mode axes the weight spans (all of them for the Fourier transform; the degrees l
   * only for spherical harmonics, whose weights are shared over the orders m): the other mode axes
   * are folded into the batch for the contraction.
   */
  readonly weightModes: readonly number[];
  /** The norm of its (longitude) FFT. */
  readonly norm: FftNorm;
  /** For reports: '8x8 modes', 'lmax 16, mmax 16 (equiangular)'. */
  readonly description: string;
  /** Throws a named error when the kept modes do not fit fields of these spatial sizes. */
  checkGrid(sizes: readonly number[], inputShape: readonly number[]): void;
  forward(x: Variable, st: ops.SpectralStages): Variable;
  /** Packed spectrum → fields of `sizes` in `dtype`, plus the optional channel bias. */
  inverse(Y: Variable, sizes: readonly number[], dtype: DType, st: ops.SpectralStages, bias?: Variable): Variable;
}

/**
 * The Fourier transform of neuralop's SpectralConv: rfftn over the last d axes keeping n_modes
 * (the last axis n_modes[-1]//2 + 1 frequencies from 0, the others centred: the lowest positive and
 * negative frequencies).
 */
export class FourierTransform implements SpectralTransform {
  readonly name = 'fourier';
  readonly modes: readonly number[];
  readonly weightModes: readonly number[];

  /** nModes as neuralop takes them: the last axis keeps nModes[-1]//2 + 1 frequencies. */
  constructor(nModes: readonly number[], readonly norm: FftNorm = 'forward') {
    const d = nModes.length;
    if (d < 1 || d > 3) throw new RangeError(`SpectralConv: n_modes must have 1 to 3 entries, got [${nModes.join(', ')}]`);
    for (const m of nModes) if (!Number.isInteger(m) || m < 1) throw new RangeError(`SpectralConv: n_modes must be positive integers, got [${nModes.join(', ')}]`);
    if (!FFT_NORMS.includes(norm)) throw new RangeError(`SpectralConv: fft_norm must be one of ${FFT_NORMS.join(', ')}, got ${JSON.stringify(norm)}`);
    this.modes = Object.freeze(nModes.map((m, i) => (i === d - 1 ? Math.floor(m / 2) + 1 : m)));
    this.weightModes = this.modes;
  }

  get description(): string {
    return `${this.modes.join('x')} modes`;
  }

  checkGrid(sizes: readonly number[], inputShape: readonly number[]): void {
    const d = this.modes.length;
    this.modes.forEach((k, a) => {
      const limit = a === d - 1 ? Math.floor(sizes[a]! / 2) + 1 : sizes[a]!;
      if (k > limit) throw new RangeError(`SpectralConv: ${k} modes on axis ${a} do not fit a grid of ${sizes[a]} points (input ${fmtShape(inputShape)})`);
    });
  }

  /**
   * For a grid with fewer frequencies than the kept modes on some axis: the transform that keeps what
   * the grid has, and the offsets of its modes in the weight's (neuralop's slices); null when the
   * modes fit.
   */
  fitted(sizes: readonly number[]): { transform: FourierTransform; offsets: number[] } | null {
    const d = this.modes.length;
    if (sizes.length !== d) return null;
    const kept = this.modes.map((k, a) => Math.min(k, a === d - 1 ? Math.floor(sizes[a]! / 2) + 1 : sizes[a]!));
    if (kept.every((k, a) => k === this.modes[a])) return null;
    const nModes = kept.map((k, a) => (a === d - 1 ? 2 * (k - 1) + 1 : k)); // the last axis keeps nModes//2 + 1
    const offsets = kept.map((k, a) => (a === d - 1 ? 0 : Math.floor((this.modes[a]! - k) / 2)));
    return { transform: new FourierTransform(nModes, this.norm), offsets };
  }

  forward(x: Variable, st: ops.SpectralStages): Variable {
    return ops.rfftModes(x, this.modes, { norm: this.norm, spectrum: st.spectrum, transformIn: st.transformIn, emulate: st.forwardEmulate });
  }

  inverse(Y: Variable, sizes: readonly number[], dtype: DType, st: ops.SpectralStages, bias?: Variable): Variable {
    return ops.irfftModes(Y, sizes, { norm: this.norm, dtype, emulate: st.inverseEmulate }, bias);
  }
}

/**
 * The learned complex weight of a spectral convolution and its contraction with a spectrum. Its
 * parameters are registered by the SpectralConv that owns it, under `parameters`' local names, so
 * that they sit beside the bias as neuralop's do; the state dict is the weight's own (neuralop's
 * names and layouts).
 */
export interface SpectralWeight {
  /** 'dense', 'cp', 'tucker', 'tt'. */
  readonly kind: string;
  readonly inChannels: number;
  readonly outChannels: number;
  /** Kept modes per spectrum axis (the transform's). */
  readonly modes: readonly number[];
  /** (local name, parameter) pairs, e.g. ['weight.real', …]. */
  readonly parameters: readonly (readonly [string, Parameter])[];
  /**
   * Y = W·X: X packed [2, k1…kd, B, in] in the spectrum dtype → packed [2, k1…kd, B, out] in the same
   * dtype (weights used as copies in that dtype, accumulation in float32).
   */
  contract(X: Variable): Variable;
  /** The state-dict entries of the weight (local names, neuralop's layouts; copies the caller releases). */
  exportState(): [string, Tensor][];
  /** Loads the entries it knows from `state` (local names); returns the names used. */
  importState(state: Map<string, Tensor>): string[];
  /** Other local names its entries may carry (alias → name). */
  readonly aliases: Readonly<Record<string, string>>;
  /** Short description ('dense', 'cp rank 12', …). */
  readonly description: string;
  /** The planned contraction for a spectrum of `batch` signals in `dtype` (path, steps, peak intermediate), where there is one. */
  describePlan?(batch: number, dtype: DType): string;
}

/** What makes the weight of one spectral convolution (FNOBlocks calls it once per layer). */
export type SpectralWeightFactory = (o: { inChannels: number; outChannels: number; modes: readonly number[]; rng: Rng; dtype: DType }) => SpectralWeight;

/**
 * The dense complex weight. neuralop stores it as complex [in, out, k1…kd]; mpno keeps it
 * mode-major as two real tensors [M, in, out] (M = Π kept modes), which makes the contraction one
 * small complex GEMM per mode, and converts in the state dict ('weight' [in, out, k1…kd, 2]).
 */
export class DenseSpectralWeight implements SpectralWeight {
  readonly kind = 'dense';
  readonly description = 'dense';
  readonly re: Parameter;
  readonly im: Parameter;
  readonly parameters: readonly (readonly [string, Parameter])[];
  /** neuralop keeps the weight in a tensorly-torch DenseTensor, so its state dict names it 'weight.tensor'. */
  readonly aliases = { 'weight.tensor': 'weight' };

  constructor(readonly inChannels: number, readonly outChannels: number, readonly modes: readonly number[], rng: Rng, dtype: DType = 'float32') {
    const M = shapeSize(modes);
    // neuralop's init: a complex N(0, std²) draw, std = √(2 / (in + out)); real and imaginary parts each N(0, std²/2)
    const std = Math.sqrt(2 / (inChannels + outChannels));
    this.re = new Parameter(normal(rng, [M, inChannels, outChannels], std / Math.SQRT2, dtype));
    this.im = new Parameter(normal(rng, [M, inChannels, outChannels], std / Math.SQRT2, dtype));
    Parameter.complexPair(this.re, this.im);
    this.parameters = [['weight.real', this.re], ['weight.imag', this.im]];
  }

  contract(X: Variable): Variable {
    const d = this.modes.length;
    const B = X.shape[d + 1]!;
    const M = shapeSize(this.modes);
    const Xm = ops.reshape(X, [2, M, B, this.inChannels]);
    const Ym = ops.modeContract(Xm, this.re, this.im);
    return ops.reshape(Ym, [2, ...this.modes, B, this.outChannels]);
  }

  exportState(): [string, Tensor][] {
    const M = shapeSize(this.modes);
    const Ci = this.inChannels;
    const Co = this.outChannels;
    const re = this.re.value.toFloat64();
    const im = this.im.value.toFloat64();
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
    return [['weight', Tensor.fromArray(w, [Ci, Co, ...this.modes, 2], this.re.dtype, 'data')]];
  }

  importState(state: Map<string, Tensor>): string[] {
    const w = state.get('weight');
    if (!w) return [];
    const M = shapeSize(this.modes);
    const Ci = this.inChannels;
    const Co = this.outChannels;
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
    this.re.value.set(re);
    this.im.value.set(im);
    return ['weight'];
  }
}

/** The dense weight's factory (FNO's default). */
export const denseWeight: SpectralWeightFactory = (o) => new DenseSpectralWeight(o.inChannels, o.outChannels, o.modes, o.rng, o.dtype);

export interface SpectralConvOptions {
  /** n_modes as neuralop takes them: the last axis keeps n_modes[-1]//2 + 1 frequencies. */
  nModes: readonly number[];
  bias?: boolean;
  fftNorm?: FftNorm;
  /** The weight (default dense). */
  weight?: SpectralWeightFactory;
  /** The transform (default the Fourier transform of nModes and fftNorm). */
  transform?: SpectralTransform;
  rng: Rng;
  dtype?: DType;
}

/**
 * n-D spectral convolution, neuralop's SpectralConv: the Fourier transform × a weight contraction
 * (dense by default) + bias [out, 1, …, 1]. Its precision (a PrecisionLayer) is set through the
 * model's PrecisionControlled interface.
 */
export class SpectralConv extends Module implements PrecisionLayer {
  readonly transform: SpectralTransform;
  readonly weight: SpectralWeight;
  readonly bias: Parameter | undefined;
  /** Precision of the transforms and the contraction (see precision/policy.ts). */
  precision: LayerPrecision['precision'] = 'full';
  halfType: LayerPrecision['halfType'] = 'float16';
  /** Emulate half-precision FFT arithmetic (every stage rounded) where the FFTs run in half. */
  emulateFft = false;
  /** Forward passes whose output had a non-finite value (an fp16 overflow, usually). */
  overflows = 0;
  /** Instrumentation: called with the layer's input on every forward (error-bound reports). */
  capture: ((x: Tensor) => void) | undefined;

  constructor(readonly inChannels: number, readonly outChannels: number, opts: SpectralConvOptions) {
    super();
    this.transform = opts.transform ?? new FourierTransform(opts.nModes, opts.fftNorm ?? 'forward');
    const d = this.transform.modes.length;
    const dt = opts.dtype ?? 'float32';
    this.weight = (opts.weight ?? denseWeight)({ inChannels, outChannels, modes: this.transform.weightModes, rng: opts.rng, dtype: dt });
    for (const [name, p] of this.weight.parameters) this.registerParameter(name, p);
    const std = Math.sqrt(2 / (inChannels + outChannels));
    this.bias = opts.bias === false ? undefined : this.registerParameter('bias', new Parameter(normal(opts.rng, [outChannels, ...Array<number>(d).fill(1)], std, dt)));
  }

  /** Kept modes per axis as rfftnModes takes them. */
  get modes(): readonly number[] {
    return this.transform.modes;
  }

  get fftNorm(): FftNorm {
    return this.transform.norm;
  }

  get basis(): string {
    return this.transform.name;
  }

  get description(): string {
    return `${this.constructor.name} ${this.transform.description} ${this.weight.description}`;
  }

  private run(x: Variable, p: LayerPrecision, bias: Variable | undefined): Variable {
    const d = this.modes.length;
    const sizes = x.shape.slice(2);
    if (x.value.ndim !== d + 2 || x.shape[1] !== this.inChannels) {
      throw new RangeError(`SpectralConv: input ${fmtShape(x.shape)} is not [batch, ${this.inChannels}, ${d} spatial axes]`);
    }
    const st = stageDTypes(p, x.dtype);
    const fit = this.transform instanceof FourierTransform ? this.transform.fitted(sizes) : null;
    if (fit) return this.runTruncated(x, fit, sizes, st, bias);
    this.transform.checkGrid(sizes, x.shape);
    const X = this.transform.forward(x, st);
    const Y = this.contract(X);
    return this.transform.inverse(Y, sizes, x.dtype, st, bias);
  }

  /**
   * A grid with fewer frequencies than n_modes (neuralop runs it; e.g. zero-shot at a coarser
   * resolution): the spectrum keeps what the grid has, and meets the weight rows neuralop's
   * SpectralConv slices for it — on an axis with s = k − g missing modes the rows from ⌊s/2⌋ (the
   * centred block; when s and g are both odd this pairs each row with the frequency next to its own,
   * as neuralop does), on the last axis the first ones. The spectrum is embedded with zeros at those
   * rows, contracted with the whole weight, and the same block is taken back for the inverse.
   */
  private runTruncated(x: Variable, fit: { transform: FourierTransform; offsets: number[] }, sizes: readonly number[], st: ops.SpectralStages, bias: Variable | undefined): Variable {
    const k = this.modes;
    const kk = fit.transform.modes;
    const X = fit.transform.forward(x, st); // [2, k'…, B, C]
    const B = x.shape[0]!;
    const after = k.map((m, a) => m - kk[a]! - fit.offsets[a]!);
    const Xp = ops.reshape(ops.pad(ops.reshape(X, [2, 1, ...kk, B * this.inChannels]), [...fit.offsets, 0], [...after, 0]), [2, ...k, B, this.inChannels]);
    const Y = this.contract(Xp);
    const Yc = ops.reshape(ops.crop(ops.reshape(Y, [2, 1, ...k, B * this.outChannels]), [...fit.offsets, 0], [...kk, B * this.outChannels]), [2, ...kk, B, this.outChannels]);
    return fit.transform.inverse(Yc, sizes, x.dtype, st, bias);
  }

  /** The weight's contraction; mode axes the weight does not span are folded into the batch. */
  private contract(X: Variable): Variable {
    const k = this.transform.weightModes.length;
    if (k === this.modes.length) return this.weight.contract(X);
    const rows = shapeSize(X.shape.slice(k + 1, -1));
    const Y = this.weight.contract(ops.reshape(X, [2, ...this.transform.weightModes, rows, this.inChannels]));
    return ops.reshape(Y, [...X.shape.slice(0, -1), this.outChannels]);
  }

  forward(x: Variable): Variable {
    this.capture?.(x.value);
    const y = this.run(x, this, this.bias);
    if (this.precision !== 'full' && backend().reduce('countNonFinite', y.value) > 0) this.overflows++;
    return y;
  }

  evaluate(x: Tensor, at: LayerPrecision | 'float64'): Tensor {
    return noGrad(() => tidy(() => {
      if (at !== 'float64') return this.run(Variable.constant(x), at, this.bias).value.clone('workspace');
      // float64 reference: input and bias converted exactly (the weights convert inside the contraction)
      const x64 = Variable.constant(Tensor.fromArray(x.toFloat64(), x.shape, 'float64', 'workspace'));
      const b64 = this.bias ? Variable.constant(Tensor.fromArray(this.bias.value.toFloat64(), this.bias.shape, 'float64', 'workspace')) : undefined;
      return this.run(x64, { precision: 'full', halfType: this.halfType, emulateFft: false }, b64).value.clone('workspace');
    }));
  }

  protected override stateAliases(): Readonly<Record<string, string>> {
    return this.weight.aliases;
  }

  /** neuralop layout: the weight's entries (dense: weight [in, out, k1…kd, 2], re/im last), bias [out, 1…]. */
  protected override exportOwnState(): [string, Tensor][] {
    const out = this.weight.exportState();
    if (this.bias) out.push(['bias', this.bias.value.clone('data')]);
    return out;
  }

  protected override importOwnState(state: Map<string, Tensor>): string[] {
    const used = this.weight.importState(state);
    const b = state.get('bias');
    if (b && this.bias) {
      copyInto(this.bias.value, b, 'bias');
      used.push('bias');
    }
    return used;
  }
}

/** A spectral layer as FNOBlocks uses it: a module with a forward pass whose precision the policy sets. */
export type SpectralLayer = Module & PrecisionLayer & { forward(x: Variable): Variable };

/** What makes the spectral layer of one Fourier block (neuralop's conv_module). */
export type SpectralConvFactory = (o: { inChannels: number; outChannels: number; nModes: readonly number[]; fftNorm: FftNorm; rng: Rng; dtype: DType }) => SpectralLayer;

/** The factory of SpectralConv with a given weight (dense by default). */
export function spectralConvFactory(weight: SpectralWeightFactory = denseWeight): SpectralConvFactory {
  return (o) => new SpectralConv(o.inChannels, o.outChannels, { nModes: o.nModes, fftNorm: o.fftNorm, weight, rng: o.rng, dtype: o.dtype });
}

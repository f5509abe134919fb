/**
 * The precision policy: the one place that says which precisions exist and what each stage of a
 * model computes in. Models, the Trainer, the precision schedule, layer fallback, `mpno bound` and
 * the benchmarks all read these definitions; none of them names a model family.
 */
import type { DType, HalfDType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';
import type { FftNorm } from '../fft/index.js';
import * as ops from '../autograd/ops.js';
import type { Variable } from '../autograd/variable.js';

/**
 * Precision of a spectral block (the paper's fno_block_precision):
 * 'full': forward transform, weight contraction and inverse transform in float32;
 * 'mixed': forward transform in float32, its output stored in the half type; contraction and inverse in half;
 * 'half': all three in half.
 * "In half" means 16-bit inputs and outputs with float32 arithmetic inside the kernel (or emulated half
 * arithmetic inside the transforms, see PrecisionPolicy.emulateHalfFft).
 */
export type BlockPrecision = 'full' | 'mixed' | 'half';
export const BLOCK_PRECISIONS: readonly BlockPrecision[] = ['full', 'mixed', 'half'];

/** The 16-bit type of half blocks and of AMP activations. */
export type HalfType = HalfDType;
export const HALF_TYPES: readonly HalfType[] = ['float16', 'bfloat16'];

/**
 * What acts on the spectral branch's input before the forward transform, in every layer:
 * 'tanh' (the paper's), 'clip_hard' (clamp to [−1, 1]), 'clip_sigma' (clamp to mean ± 2σ of the
 * input's own values), null (none).
 */
export type Stabilizer = 'tanh' | 'clip_hard' | 'clip_sigma' | null;
export const STABILIZERS: readonly (Stabilizer & string)[] = ['tanh', 'clip_hard', 'clip_sigma'];

/** The model-wide precision policy. */
export interface PrecisionPolicy {
  /** Precision of every spectral block (a layer may differ after set/fallback: see PrecisionControlled). */
  fno_block_precision: BlockPrecision;
  half_type: HalfType;
  /** Automatic mixed precision outside the spectral blocks: 16-bit activations, float32 accumulation. */
  amp: boolean;
  /**
   * Emulate half-precision arithmetic inside the transforms that run in half (every stage rounded),
   * as a GPU half FFT computes; slower, for studying the method's numerics. Default: float32
   * arithmetic between 16-bit inputs and outputs, like every mpno kernel.
   */
  emulate_half_fft: boolean;
  stabilizer: Stabilizer;
}

/** The policy of a model that sets nothing: full precision, no AMP, no stabiliser. */
export const FULL_PRECISION: Readonly<PrecisionPolicy> = Object.freeze({
  fno_block_precision: 'full', half_type: 'float16', amp: false, emulate_half_fft: false, stabilizer: null,
});

/** How one spectral layer computes: what its forward pass reads. */
export interface LayerPrecision {
  precision: BlockPrecision;
  halfType: HalfType;
  emulateFft: boolean;
}

/** The dtypes of one spectral layer's stages, for an input of dtype `input`. */
export interface StageDTypes {
  /** Input of the forward transform. */
  transformIn: DType;
  /** The spectrum (output of the forward transform), the contraction and the inverse transform's input. */
  spectrum: DType;
  /**
   * Values inside a forward transform of several stages (the SHT's longitude FFT → Legendre GEMM):
   * the half type in 'half', float32 otherwise ('mixed' runs the forward transform in full precision).
   */
  forwardWork: DType;
  /** Emulated half arithmetic inside the forward / inverse transform, if any. */
  forwardEmulate: HalfType | undefined;
  inverseEmulate: HalfType | undefined;
}

/**
 * The stage dtypes of a layer: float64 inputs always run in full precision; 'half' without
 * emulation reads the forward transform's input rounded to the half type.
 */
export function stageDTypes(p: LayerPrecision, input: DType): StageDTypes {
  if (input === 'float64') return { transformIn: 'float64', spectrum: 'float64', forwardWork: 'float64', forwardEmulate: undefined, inverseEmulate: undefined };
  const half = p.halfType;
  const emu = p.emulateFft;
  return {
    transformIn: p.precision === 'half' && !emu ? half : input,
    spectrum: p.precision === 'full' ? 'float32' : half,
    forwardWork: p.precision === 'half' ? half : 'float32',
    forwardEmulate: emu && p.precision === 'half' ? half : undefined,
    inverseEmulate: emu && p.precision !== 'full' ? half : undefined,
  };
}

/** The next precision up when a layer falls back after overflows: half → mixed → full. */
export function demote(p: BlockPrecision): BlockPrecision {
  return p === 'half' ? 'mixed' : 'full';
}

/** Whether a policy (or any phase of a schedule) computes anything in float16: then gradients need loss scaling. */
export function usesFloat16(policy: Pick<PrecisionPolicy, 'fno_block_precision' | 'half_type' | 'amp'>, schedulePhases: readonly BlockPrecision[] = []): boolean {
  return policy.half_type === 'float16' && (policy.amp || policy.fno_block_precision !== 'full' || schedulePhases.some((p) => p !== 'full'));
}

/** Whether a policy needs any mixed-precision control (loss scaling, schedule, fallback, precision reports). */
export function isMixed(policy: Pick<PrecisionPolicy, 'fno_block_precision' | 'amp'>): boolean {
  return policy.amp || policy.fno_block_precision !== 'full';
}

/** The stabiliser, as the model applies it to the spectral branch's input (and `mpno bound` measures it). */
export function stabilize(x: Variable, s: Stabilizer): Variable {
  switch (s) {
    case 'tanh': return ops.tanh(x, { recompute: true });
    case 'clip_hard': return ops.clamp(x, -1, 1);
    case 'clip_sigma': return ops.clampSigma(x, 2);
    case null: return x;
  }
}

/** Checks a policy's fields (names the field and the value); fills nothing. */
export function checkPolicy(p: Partial<PrecisionPolicy>, who: string): void {
  if (p.fno_block_precision !== undefined && !BLOCK_PRECISIONS.includes(p.fno_block_precision)) {
    throw new RangeError(`${who}: fno_block_precision must be one of ${BLOCK_PRECISIONS.join(', ')}, got ${JSON.stringify(p.fno_block_precision)}`);
  }
  if (p.half_type !== undefined && !HALF_TYPES.includes(p.half_type)) throw new RangeError(`${who}: half_type must be one of ${HALF_TYPES.join(', ')}, got ${JSON.stringify(p.half_type)}`);
  if (p.amp !== undefined && typeof p.amp !== 'boolean') throw new RangeError(`${who}: amp must be true or false, got ${JSON.stringify(p.amp)}`);
  if (p.emulate_half_fft !== undefined && typeof p.emulate_half_fft !== 'boolean') throw new RangeError(`${who}: emulate_half_fft must be true or false, got ${JSON.stringify(p.emulate_half_fft)}`);
  if (p.stabilizer !== undefined && p.stabilizer !== null && !STABILIZERS.includes(p.stabilizer)) {
    throw new RangeError(`${who}: stabilizer must be one of ${STABILIZERS.join(', ')} or null, got ${JSON.stringify(p.stabilizer)}`);
  }
}

/** One precision-controlled layer of a model (a spectral convolution), as the Trainer and `mpno bound` see it. */
export interface PrecisionLayer extends LayerPrecision {
  /** Forward passes in training whose output had a non-finite value (an fp16 overflow, usually). */
  overflows: number;
  /** Instrumentation: called with the layer's spectral input (after the stabiliser) on every forward. */
  capture: ((x: Tensor) => void) | undefined;
  /** Short description for reports, e.g. 'SpectralConv 16x9 modes dense'. */
  readonly description: string;
  /** The layer's own parameters (the automatic schedule by layer measures their gradients). */
  parameters(): Variable[];
  /**
   * Runs this layer alone on x (its spectral input, already stabilised) without recording a graph:
   * in the given precision, or in float64 (weights converted exactly) for a reference.
   */
  evaluate(x: Tensor, at: LayerPrecision | 'float64'): Tensor;
  /** Kept modes per transform axis (for error bounds). */
  readonly modes: readonly number[];
  /** The transform's basis ('fourier', 'spherical'): the error bounds cover 'fourier'. */
  readonly basis: string;
  /** The forward transform's normalisation ('forward', 'backward', 'ortho'). */
  readonly fftNorm: FftNorm;
}

/** A change of precision: every layer (or one, with `layer`; AMP is model-wide). */
export interface PrecisionUpdate {
  fno_block_precision?: BlockPrecision;
  half_type?: HalfType;
  amp?: boolean;
  layer?: number;
}

/** Per layer: its precision and how many training forward passes overflowed. */
export interface LayerReport {
  layer: number;
  precision: BlockPrecision;
  overflows: number;
}

/**
 * What a model exposes of its precision: the Trainer (schedule, fallback, AMP), `mpno bound`,
 * checkpoints and the benchmarks use only this.
 */
export interface PrecisionControlled {
  /**
   * The model-wide policy (fno_block_precision is the precision last set for all layers). Writing its
   * fields changes what the next setPrecision({}) applies, not the layers.
   */
  readonly precisionPolicy: PrecisionPolicy;
  /** The precision-controlled layers, in order. */
  precisionLayers(): readonly PrecisionLayer[];
  /** Sets the block precision / half type of every layer (or of one, with `layer`), and AMP. */
  setPrecision(p: PrecisionUpdate): void;
  precisionReport(): LayerReport[];
}

/** Whether a value implements PrecisionControlled. */
export function isPrecisionControlled(m: unknown): m is PrecisionControlled {
  return m !== null && typeof m === 'object' && typeof (m as Partial<PrecisionControlled>).precisionLayers === 'function'
    && typeof (m as Partial<PrecisionControlled>).setPrecision === 'function';
}

/** Sets each precision-controlled layer to its own level (levels[i] for layer i), and AMP model-wide. */
export function setLayerLevels(model: PrecisionControlled, levels: readonly BlockPrecision[], amp: boolean): void {
  model.setPrecision({ amp });
  levels.forEach((precision, layer) => model.setPrecision({ fno_block_precision: precision, layer }));
}

/**
 * Sets every layer of a model to a precision (or each layer to its own, `layers`) and AMP, applies a
 * function and restores the previous state (per-layer precisions and AMP), even when the function throws.
 */
export function withPrecision<T>(model: PrecisionControlled, p: { fno_block_precision: BlockPrecision; amp: boolean } | { layers: readonly BlockPrecision[]; amp: boolean }, fn: () => T): T {
  const saved = model.precisionReport().map((l) => l.precision);
  const { fno_block_precision: block, amp } = model.precisionPolicy;
  try {
    if ('layers' in p) setLayerLevels(model, p.layers, p.amp);
    else model.setPrecision({ fno_block_precision: p.fno_block_precision, amp: p.amp });
    return fn();
  } finally {
    model.setPrecision({ fno_block_precision: block, amp });
    saved.forEach((precision, layer) => model.setPrecision({ fno_block_precision: precision, layer }));
  }
}

/**
 * The standard PrecisionControlled.setPrecision over a list of layers: checks the values, sets one
 * layer or all (and the policy), AMP model-wide. A float64 model stays in full precision.
 */
export function applyPrecision(policy: PrecisionPolicy, layers: readonly PrecisionLayer[], p: PrecisionUpdate, opts: { who: string; float64: boolean }): void {
  const block = p.fno_block_precision ?? policy.fno_block_precision;
  const half = p.half_type ?? policy.half_type;
  checkPolicy({ fno_block_precision: block, half_type: half, ...(p.amp !== undefined ? { amp: p.amp } : {}) }, opts.who);
  if (opts.float64 && (block !== 'full' || p.amp)) throw new RangeError(`${opts.who}: a float64 model runs in full precision`);
  if (p.layer !== undefined) {
    const l = layers[p.layer];
    if (!l) throw new RangeError(`${opts.who}: there is no spectral layer ${p.layer} (0…${layers.length - 1})`);
    l.precision = block;
    l.halfType = half;
    return;
  }
  for (const l of layers) {
    l.precision = block;
    l.halfType = half;
    l.emulateFft = policy.emulate_half_fft;
  }
  policy.fno_block_precision = block;
  policy.half_type = half;
  if (p.amp !== undefined) policy.amp = p.amp;
}

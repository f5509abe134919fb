import type { DType } from '../core/dtype.js';
import { Rng } from '../core/rng.js';
import * as ops from '../autograd/ops.js';
import type { Variable } from '../autograd/variable.js';
import { FFT_NORMS, type FftNorm } from '../fft/index.js';
import { FNOBlocks } from '../nn/fno-blocks.js';
import { ChannelMLP, NORM_TYPES, type NormType, SKIP_TYPES, type SkipType, gridEmbedding, roundHalfEven } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { SpectralConvFactory, SpectralLayer } from '../nn/spectral.js';
import {
  type BlockPrecision, type HalfType, type LayerReport, type PrecisionControlled, type PrecisionPolicy, type PrecisionUpdate, type Stabilizer,
  applyPrecision, checkPolicy,
} from '../precision/policy.js';

/** FNO constructor options, with neuralop's names (snake_case) and defaults. */
export interface FNOOptions {
  n_modes: number[];
  in_channels: number;
  out_channels: number;
  hidden_channels: number;
  n_layers?: number;
  lifting_channel_ratio?: number;
  projection_channel_ratio?: number;
  positional_embedding?: 'grid' | null;
  /** null: no skip connection (neuralop's None). */
  fno_skip?: SkipType | null;
  /** null: no skip connection around the channel MLP (neuralop's None). */
  channel_mlp_skip?: SkipType | null;
  use_channel_mlp?: boolean;
  /**
   * neuralop's non_linearity, by name: 'gelu' (default), 'relu', 'silu', 'tanh' or 'sigmoid'. It acts in
   * the FNO blocks and the lifting and projection MLPs; the blocks' channel MLPs keep GELU (neuralop
   * builds them without it).
   */
  non_linearity?: ops.Activation;
  /** neuralop's channel_mlp_dropout: dropout probability after every layer of the blocks' channel MLPs while training (default 0). */
  channel_mlp_dropout?: number;
  /** neuralop's preactivation: the activation (and first norm) before each block's convolution. Default false. */
  preactivation?: boolean;
  /** neuralop's norm in the FNO blocks: null (default), 'group_norm' (norm_groups groups) or 'instance_norm'. */
  norm?: NormType | null;
  /** Groups of 'group_norm' (default 1). */
  norm_groups?: number;
  channel_mlp_expansion?: number;
  /** A fraction of every spatial axis, or one per axis (0 leaves an axis unpadded), as neuralop's DomainPadding. */
  domain_padding?: number | number[] | null;
  fft_norm?: FftNorm;
  fno_block_precision?: BlockPrecision;
  stabilizer?: Stabilizer;
  /** The 16-bit type of 'mixed'/'half' blocks and of AMP activations. */
  half_type?: HalfType;
  /** Automatic mixed precision outside the spectral convolutions: 16-bit activations, f32 accumulation. */
  amp?: boolean;
  /**
   * Emulate half-precision arithmetic inside the half FFTs (every butterfly stage rounded), as a GPU
   * computes them; slower, for studying the method's numerics. Default: f32 arithmetic between
   * 16-bit inputs and outputs, like every mpno kernel.
   */
  emulate_half_fft?: boolean;
  /** Seed of the initialisation. */
  seed?: number;
  dtype?: DType;
}

const KNOWN = new Set([
  'n_modes', 'in_channels', 'out_channels', 'hidden_channels', 'n_layers', 'lifting_channel_ratio', 'projection_channel_ratio',
  'positional_embedding', 'fno_skip', 'channel_mlp_skip', 'use_channel_mlp', 'channel_mlp_expansion', 'domain_padding', 'fft_norm',
  'fno_block_precision', 'stabilizer', 'half_type', 'amp', 'emulate_half_fft', 'seed', 'dtype', 'norm', 'norm_groups', 'non_linearity', 'preactivation', 'channel_mlp_dropout',
]);

function posInt(v: unknown, name: string, who = 'FNO'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RangeError(`${who}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** FNO options with every default filled in. */
export type ResolvedFnoOptions = Required<Omit<FNOOptions, 'domain_padding' | 'positional_embedding' | 'stabilizer' | 'dtype' | 'fno_skip' | 'channel_mlp_skip' | 'norm'>> & {
  norm: NormType | null;
  domain_padding: number | number[] | null; positional_embedding: 'grid' | null; stabilizer: Stabilizer; dtype: DType;
  fno_skip: SkipType | null; channel_mlp_skip: SkipType | null;
};

/**
 * Validates FNO options (unknown keys, types, ranges) and fills neuralop's defaults. `extra` names
 * the options a family built on FNO adds (they are left to it), `who` the family in errors.
 */
export function resolveFnoOptions(o: FNOOptions, opts: { who?: string; extra?: ReadonlySet<string> } = {}): ResolvedFnoOptions {
  const who = opts.who ?? 'FNO';
  for (const k of Object.keys(o)) if (!KNOWN.has(k) && !opts.extra?.has(k)) throw new RangeError(`${who}: unknown option '${k}'`);
  if (!Array.isArray(o.n_modes) || o.n_modes.length < 1 || o.n_modes.length > 3) throw new RangeError(`${who}: n_modes must list 1 to 3 mode counts, got ${JSON.stringify(o.n_modes)}`);
  o.n_modes.forEach((m, i) => posInt(m, `n_modes[${i}]`));
  const r = {
    n_modes: [...o.n_modes],
    in_channels: posInt(o.in_channels, 'in_channels'),
    out_channels: posInt(o.out_channels, 'out_channels'),
    hidden_channels: posInt(o.hidden_channels, 'hidden_channels'),
    n_layers: posInt(o.n_layers ?? 4, 'n_layers'),
    lifting_channel_ratio: o.lifting_channel_ratio ?? 2,
    projection_channel_ratio: o.projection_channel_ratio ?? 2,
    positional_embedding: o.positional_embedding === undefined ? ('grid' as const) : o.positional_embedding,
    // null is neuralop's None (no skip), not "the default"
    fno_skip: o.fno_skip === undefined ? ('linear' as const) : o.fno_skip,
    channel_mlp_skip: o.channel_mlp_skip === undefined ? ('soft-gating' as const) : o.channel_mlp_skip,
    use_channel_mlp: o.use_channel_mlp ?? true,
    norm: o.norm ?? null,
    non_linearity: o.non_linearity ?? 'gelu',
    preactivation: o.preactivation ?? false,
    channel_mlp_dropout: o.channel_mlp_dropout ?? 0,
    norm_groups: o.norm_groups ?? 1,
    channel_mlp_expansion: o.channel_mlp_expansion ?? 0.5,
    domain_padding: o.domain_padding ?? null,
    fft_norm: o.fft_norm ?? 'forward',
    fno_block_precision: o.fno_block_precision ?? 'full',
    stabilizer: o.stabilizer ?? null,
    half_type: o.half_type ?? 'float16',
    amp: o.amp ?? false,
    emulate_half_fft: o.emulate_half_fft ?? false,
    seed: o.seed ?? 0,
    dtype: o.dtype ?? 'float32',
  };
  for (const [k, v] of [['lifting_channel_ratio', r.lifting_channel_ratio], ['projection_channel_ratio', r.projection_channel_ratio], ['channel_mlp_expansion', r.channel_mlp_expansion]] as const) {
    if (typeof v !== 'number' || !(v > 0)) throw new RangeError(`${who}: ${k} must be a positive number, got ${JSON.stringify(v)}`);
  }
  if (r.positional_embedding !== null && r.positional_embedding !== 'grid') throw new RangeError(`${who}: positional_embedding must be 'grid' or null, got ${JSON.stringify(r.positional_embedding)}`);
  for (const k of ['fno_skip', 'channel_mlp_skip'] as const) {
    const v = r[k];
    if (v !== null && !SKIP_TYPES.includes(v)) throw new RangeError(`${who}: ${k} must be one of ${SKIP_TYPES.join(', ')} or null (no skip), got ${JSON.stringify(v)}`);
  }
  checkNorm(r.norm, r.norm_groups, r.hidden_channels, 'norm', who);
  if (typeof r.channel_mlp_dropout !== 'number' || !(r.channel_mlp_dropout >= 0) || r.channel_mlp_dropout >= 1) throw new RangeError(`${who}: channel_mlp_dropout must be a probability in [0, 1), got ${JSON.stringify(r.channel_mlp_dropout)}`);
  if (typeof r.preactivation !== 'boolean') throw new RangeError(`${who}: preactivation must be true or false, got ${JSON.stringify(r.preactivation)}`);
  if (!ops.ACTIVATIONS.includes(r.non_linearity)) throw new RangeError(`${who}: non_linearity must be one of ${ops.ACTIVATIONS.join(', ')}, got ${JSON.stringify(r.non_linearity)}`);
  if (!FFT_NORMS.includes(r.fft_norm)) throw new RangeError(`${who}: fft_norm must be one of ${FFT_NORMS.join(', ')}, got ${JSON.stringify(r.fft_norm)}`);
  checkPolicy(r, who);
  if (r.dtype === 'float64' && (r.fno_block_precision !== 'full' || r.amp)) {
    throw new RangeError(`${who}: a float64 model runs in full precision (fno_block_precision '${r.fno_block_precision}', amp ${r.amp} requested)`);
  }
  const dp = r.domain_padding;
  if (Array.isArray(dp)) {
    if (dp.length !== r.n_modes.length || dp.some((p) => typeof p !== 'number' || !(p >= 0) || p >= 1)) {
      throw new RangeError(`${who}: domain_padding as a list must give one fraction in [0, 1) per spatial axis (${r.n_modes.length}), got ${JSON.stringify(dp)}`);
    }
    r.domain_padding = dp.every((p) => p === 0) ? null : [...dp];
  } else if (dp !== null && (typeof dp !== 'number' || !(dp > 0) || dp >= 1)) {
    throw new RangeError(`${who}: domain_padding must be null, a fraction in (0, 1) or one fraction per axis, got ${JSON.stringify(dp)}`);
  }
  return r;
}

/** Checks a norm option (`name`: 'norm' or GINO's 'fno_norm') and its group count against the channels. */
export function checkNorm(norm: unknown, groups: unknown, channels: number, name: string, who: string): void {
  if (norm !== null && !NORM_TYPES.includes(norm as NormType)) throw new RangeError(`${who}: ${name} must be one of ${NORM_TYPES.join(', ')} or null, got ${JSON.stringify(norm)} (neuralop's ada_in and batch_norm are not implemented)`);
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups < 1) throw new RangeError(`${who}: ${name}_groups must be a positive integer, got ${JSON.stringify(groups)}`);
  if (norm === 'group_norm' && channels % groups !== 0) throw new RangeError(`${who}: ${name}_groups ${groups} does not divide the ${channels} hidden channels`);
}

/** The cells neuralop's DomainPadding adds on each side of every axis: round(p·n), Python's round (halves to even). */
export function domainPaddingAmounts(p: number | readonly number[] | null | undefined, sizes: readonly number[]): number[] {
  return sizes.map((n, a) => roundHalfEven((p == null ? 0 : typeof p === 'number' ? p : p[a] ?? 0) * n));
}

/**
 * A channel MLP's width as neuralop computes it: int(ratio · hidden), truncated (hidden 5 × ratio 1.5
 * → 7); a width below 1 is an error naming the option (`name`) and the hidden option (`hiddenName`).
 */
export function channelWidth(who: string, ratio: number, hidden: number, name: string, hiddenName: string): number {
  const w = Math.trunc(ratio * hidden);
  if (w < 1) throw new RangeError(`${who}: ${name} ${ratio} × ${hiddenName} ${hidden} gives a width of ${w} (neuralop truncates); it must be at least 1`);
  return w;
}

/**
 * The Fourier Neural Operator (neuralop's FNO): grid embedding → lifting ChannelMLP → FNO blocks →
 * projection ChannelMLP. Input [batch, in_channels, n1…nd], output [batch, out_channels, n1…nd].
 * Its spectral layers are SpectralConv with a dense weight unless `conv` makes others (TFNO:
 * factorised weights).
 */
export class FNO extends Module implements PrecisionControlled {
  readonly config: ResolvedFnoOptions;
  readonly lifting: ChannelMLP;
  readonly fnoBlocks: FNOBlocks;
  readonly projection: ChannelMLP;
  readonly precisionPolicy: PrecisionPolicy;
  /** Family name in errors and reports. */
  protected readonly family: string;

  constructor(options: FNOOptions, build: { conv?: SpectralConvFactory; family?: string; config?: ResolvedFnoOptions } = {}) {
    super();
    this.family = build.family ?? 'FNO';
    const c = build.config ?? resolveFnoOptions(options);
    this.config = c;
    const rng = new Rng(c.seed);
    const d = c.n_modes.length;
    const inCh = c.in_channels + (c.positional_embedding === 'grid' ? d : 0);
    const hidden = c.hidden_channels;
    const dt = { dtype: c.dtype };
    const width = (ratio: number, name: string) => channelWidth(this.family, ratio, hidden, name, 'hidden_channels');
    const activation = c.non_linearity;
    this.lifting = this.registerModule('lifting', new ChannelMLP(inCh, hidden, width(c.lifting_channel_ratio, 'lifting_channel_ratio'), { nLayers: 2, rng, ...dt, activation }));
    this.fnoBlocks = this.registerModule('fno_blocks', new FNOBlocks(hidden, {
      nModes: c.n_modes, nLayers: c.n_layers, fnoSkip: c.fno_skip, channelMlpSkip: c.channel_mlp_skip,
      useChannelMlp: c.use_channel_mlp, channelMlpExpansion: c.channel_mlp_expansion, norm: c.norm, normGroups: c.norm_groups, activation, preactivation: c.preactivation,
      channelMlpDropout: c.channel_mlp_dropout, dropoutSeed: c.seed,
      stabilizer: c.stabilizer, fftNorm: c.fft_norm, rng, ...dt, ...(build.conv ? { conv: build.conv } : {}),
    }));
    this.projection = this.registerModule('projection', new ChannelMLP(hidden, c.out_channels, width(c.projection_channel_ratio, 'projection_channel_ratio'), { nLayers: 2, rng, ...dt, activation }));
    // the policy object is the config's precision part (one value, read by every stage)
    this.precisionPolicy = {
      fno_block_precision: c.fno_block_precision, half_type: c.half_type, amp: c.amp,
      emulate_half_fft: c.emulate_half_fft, stabilizer: c.stabilizer,
    };
    this.setPrecision({});
  }

  precisionLayers(): readonly SpectralLayer[] {
    return this.fnoBlocks.spectralConvs;
  }

  /**
   * Sets the precision of the spectral layers and AMP (all layers, or one spectral layer when
   * `layer` is given). Parameters stay float32 masters either way.
   */
  setPrecision(p: PrecisionUpdate): void {
    applyPrecision(this.precisionPolicy, this.precisionLayers(), p, { who: this.family, float64: this.config.dtype === 'float64' });
  }

  /** Per spectral layer: its precision and how many training forward passes overflowed. */
  precisionReport(): LayerReport[] {
    return this.precisionLayers().map((c, layer) => ({ layer, precision: c.precision, overflows: c.overflows }));
  }

  /** The training step (epoch, batch) the dropout masks are drawn for; the Trainer sets it before every step. */
  setStep(epoch: number, step: number): void {
    this.fnoBlocks.setStep(epoch, step);
  }

  forward(x: Variable): Variable {
    const d = this.config.n_modes.length;
    if (x.value.ndim !== d + 2 || x.shape[1] !== this.config.in_channels) {
      throw new RangeError(`${this.family}: input [${x.shape.join(', ')}] must be [batch, ${this.config.in_channels}, ${d} spatial axes]`);
    }
    const policy = this.precisionPolicy;
    const amp = policy.amp && x.dtype !== 'float64';
    // AMP: every layer takes 16-bit inputs and writes 16-bit activations (f32 accumulation inside the
    // kernels); the prediction is returned in f32 for the loss and the decoded evaluation
    const x0 = amp ? ops.cast(x, policy.half_type) : x;
    const h0 = this.config.positional_embedding === 'grid' ? gridEmbedding(x0) : x0;
    let h = this.lifting.forward(h0);
    const p = this.config.domain_padding;
    if (p === null) h = this.fnoBlocks.forward(h);
    else {
      // neuralop's symmetric domain padding: round(p·n) zeros on both sides of every spatial axis (p per
      // axis when a list), with Python's round (p 0.25, n 10 → 2)
      const sizes = x.shape.slice(2);
      const amount = domainPaddingAmounts(p, sizes);
      h = ops.crop(this.fnoBlocks.forward(ops.pad(h, amount, amount)), amount, sizes);
    }
    const y = this.projection.forward(h);
    return amp ? ops.cast(y, x.dtype) : y;
  }
}

import type { DType } from '../core/dtype.js';
import type { Rng } from '../core/rng.js';
import * as ops from '../autograd/ops.js';
import { type Variable, tidy } from '../autograd/variable.js';
import type { FftNorm } from '../fft/index.js';
import { type Stabilizer, stabilize } from '../precision/policy.js';
import { ChannelMLP, type DropoutClock, GroupNorm, InstanceNorm, ModuleList, type NormType, Skip, type SkipType, roundHalfEven } from './layers.js';
import { Module } from './module.js';
import { type SpectralConvFactory, type SpectralLayer, spectralConvFactory } from './spectral.js';

export interface FNOBlocksOptions {
  nModes: readonly number[];
  nLayers: number;
  /** null: no skip connection (neuralop's None). */
  fnoSkip: SkipType | null;
  channelMlpSkip: SkipType | null;
  useChannelMlp: boolean;
  /** Hidden width of each block's channel MLP as a fraction of the channels (neuralop: 0.5). */
  channelMlpExpansion: number;
  stabilizer: Stabilizer;
  fftNorm: FftNorm;
  /** The blocks' activation (neuralop's non_linearity; GELU by default). The channel MLPs keep GELU, as neuralop builds them. */
  activation?: ops.Activation;
  /** neuralop's channel_mlp_dropout: dropout after every layer of the blocks' channel MLPs while training. */
  channelMlpDropout?: number;
  /** Seed of the dropout masks (the model's). */
  dropoutSeed?: number;
  /** neuralop's preactivation: activation (and the first norm) before each block instead of after (forward_with_preactivation). */
  preactivation?: boolean;
  /** neuralop's norm: null (none), 'group_norm' (norm_groups groups, affine) or 'instance_norm'. */
  norm?: NormType | null;
  normGroups?: number;
  /** Makes each block's spectral layer (neuralop's conv_module); default SpectralConv with a dense weight. */
  conv?: SpectralConvFactory;
  rng: Rng;
  dtype?: DType;
}

/**
 * neuralop's FNOBlocks (FNOBlocks.forward_with_postactivation). Layer i of n, x the block input:
 *   skip_fno = fno_skips[i](x); skip_mlp = channel_mlp_skips[i](x)   (both from the block input)
 *   x = norm[2i](convs[i](stabilizer(x))) + skip_fno; GELU if i < n − 1
 *   x = channel_mlp[i](x) + skip_mlp                                  (when the channel MLP is on)
 *   x = norm[2i+1](x); GELU if i < n − 1                              (norms when `norm` is set)
 * The last layer has no activation at all; without a channel MLP the two GELUs follow each other
 * (gelu(gelu(·)) in every other layer), as in neuralop. A null skip drops its term (no module).
 */
export class FNOBlocks extends Module {
  readonly convs = this.registerModule('convs', new ModuleList());
  readonly fnoSkips: ModuleList | undefined;
  readonly channelMlp: ModuleList | undefined;
  readonly channelMlpSkips: ModuleList | undefined;
  private readonly convList: SpectralLayer[] = [];
  private readonly fnoSkipList: Skip[] = [];
  private readonly mlpList: ChannelMLP[] = [];
  private readonly mlpSkipList: Skip[] = [];
  readonly norms: ModuleList | undefined;
  /** The training step the dropout masks are drawn for (setStep). */
  readonly clock: DropoutClock = { epoch: 0, step: 0 };
  private readonly normList: (GroupNorm | InstanceNorm)[] = [];

  constructor(readonly channels: number, readonly opts: FNOBlocksOptions) {
    super();
    const d = opts.nModes.length;
    const dt = opts.dtype ? { dtype: opts.dtype } : {};
    const conv = opts.conv ?? spectralConvFactory();
    for (let i = 0; i < opts.nLayers; i++) {
      this.convList.push(this.convs.add(conv({ inChannels: channels, outChannels: channels, nModes: opts.nModes, fftNorm: opts.fftNorm, rng: opts.rng, dtype: opts.dtype ?? 'float32' })));
    }
    if (opts.fnoSkip !== null) {
      this.fnoSkips = this.registerModule('fno_skips', new ModuleList());
      for (let i = 0; i < opts.nLayers; i++) this.fnoSkipList.push(this.fnoSkips.add(new Skip(opts.fnoSkip, channels, d, { rng: opts.rng, ...dt })));
    }
    if (opts.useChannelMlp) {
      this.channelMlp = this.registerModule('channel_mlp', new ModuleList());
      // neuralop: round(channels · expansion), Python's round (hidden 5 × 0.5 → 2)
      const hidden = roundHalfEven(channels * opts.channelMlpExpansion);
      if (hidden < 1) throw new RangeError(`FNO: channel_mlp_expansion ${opts.channelMlpExpansion} × ${channels} channels rounds to a width of ${hidden}; it must be at least 1`);
      const p = opts.channelMlpDropout ?? 0;
      for (let i = 0; i < opts.nLayers; i++) {
        const drop = p > 0 ? { dropout: { p, seed: opts.dropoutSeed ?? 0, id: i, clock: this.clock } } : {};
        this.mlpList.push(this.channelMlp.add(new ChannelMLP(channels, channels, hidden, { nLayers: 2, rng: opts.rng, ...dt, ...drop })));
      }
      if (opts.channelMlpSkip !== null) {
        this.channelMlpSkips = this.registerModule('channel_mlp_skips', new ModuleList());
        for (let i = 0; i < opts.nLayers; i++) this.mlpSkipList.push(this.channelMlpSkips.add(new Skip(opts.channelMlpSkip, channels, d, { rng: opts.rng, ...dt })));
      }
    }
    if (opts.norm) {
      // neuralop registers two per layer (after the spectral branch, after the channel MLP): norm.{2i}, norm.{2i+1}
      this.norms = this.registerModule('norm', new ModuleList());
      for (let i = 0; i < 2 * opts.nLayers; i++) {
        this.normList.push(this.norms.add(opts.norm === 'group_norm' ? new GroupNorm(opts.normGroups ?? 1, channels, opts.dtype ?? 'float32') : new InstanceNorm(channels)));
      }
    }
  }

  /** Sets the training step the dropout masks are drawn for (the Trainer calls it before every step). */
  setStep(epoch: number, step: number): void {
    this.clock.epoch = epoch;
    this.clock.step = step;
  }

  /** The spectral convolutions, in layer order. */
  get spectralConvs(): readonly SpectralLayer[] {
    return this.convList;
  }

  forward(x: Variable): Variable {
    let h = x;
    for (let i = 0; i < this.opts.nLayers; i++) {
      const input = h;
      // one scope per layer: the layer's intermediates that no backward saved are released when it
      // ends (the saved ones survive as views), instead of living until the end of the step
      h = tidy(() => (this.opts.preactivation ? this.preactivated(input, i) : this.postactivated(input, i)));
    }
    return h;
  }

  /**
   * neuralop's forward_with_preactivation, layer i: a = norm[2i](act(x)); skips from a;
   * x = convs[i](stabilizer(a)) + skip_fno; act if i < n − 1; norm[2i+1]; channel_mlp + skip_mlp.
   */
  private preactivated(input: Variable, i: number): Variable {
    const last = i === this.opts.nLayers - 1;
    const act = this.opts.activation ?? 'gelu';
    const norm1 = this.normList[2 * i];
    const norm2 = this.normList[2 * i + 1];
    let a = ops.activate(input, act);
    if (norm1) a = norm1.forward(a);
    const skipFno = this.fnoSkipList[i]?.forward(a);
    const skipMlp = this.mlpSkipList[i]?.forward(a);
    const conv = this.convList[i]!.forward(stabilize(a, this.opts.stabilizer));
    let y = skipFno ? ops.add(conv, skipFno) : conv;
    if (!last) y = ops.activate(y, act);
    if (norm2) y = norm2.forward(y);
    const mlp = this.mlpList[i];
    if (mlp) {
      const z = mlp.forward(y);
      y = skipMlp ? ops.add(z, skipMlp) : z;
    }
    return y;
  }

  /** neuralop's forward_with_postactivation, layer i (see the class comment). */
  private postactivated(input: Variable, i: number): Variable {
    const n = this.opts.nLayers;
    const st = this.opts.stabilizer;
    const last = i === n - 1;
    const skip = this.fnoSkipList[i];
    const skipMlp = this.mlpSkipList[i]?.forward(input);
    // the stabiliser acts on the spectral branch only; the skips take the raw input
    const inConv = stabilize(input, st);
    const conv = this.convList[i]!.forward(inConv);
    let y: Variable;
    const norm1 = this.normList[2 * i];
    const norm2 = this.normList[2 * i + 1];
    const act = this.opts.activation ?? 'gelu';
    if (skip?.conv && conv.dtype === input.dtype && !norm1 && act === 'gelu') {
      // a linear skip joins the spectral branch (and the gelu) in its GEMM's epilogue
      y = ops.linearAdd(input, skip.conv.weight2d(), skip.conv.bias, conv, last ? null : 'none');
    } else {
      const skipFno = skip?.forward(input);
      const c = norm1 ? norm1.forward(conv) : conv;
      y = skipFno ? ops.add(c, skipFno) : c;
      if (!last) y = ops.activate(y, act);
    }
    const mlp = this.mlpList[i];
    if (mlp) {
      const z = mlp.forward(y);
      y = skipMlp ? ops.add(z, skipMlp) : z;
    }
    if (norm2) y = norm2.forward(y);
    if (!last) y = ops.activate(y, act);
    return y;
  }
}

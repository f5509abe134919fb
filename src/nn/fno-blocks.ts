import type { DType } from '../core/dtype.js';
import type { Rng } from '../core/rng.js';
import * as ops from '../autograd/ops.js';
import type { Variable } from '../autograd/variable.js';
import type { FftNorm } from '../fft/index.js';
import { ChannelMLP, ModuleList, Skip, type SkipType, SpectralConv } from './layers.js';
import { Module } from './module.js';

export interface FNOBlocksOptions {
  nModes: readonly number[];
  nLayers: number;
  fnoSkip: SkipType;
  channelMlpSkip: SkipType;
  useChannelMlp: boolean;
  /** Hidden width of each block's channel MLP as a fraction of the channels (neuralop: 0.5). */
  channelMlpExpansion: number;
  stabilizer: 'tanh' | 'clip_hard' | 'clip_sigma' | null;
  fftNorm: FftNorm;
  rng: Rng;
  dtype?: DType;
}

/**
 * neuralop's FNOBlocks (post-activation form). Layer i:
 *   skip_fno = fno_skips[i](x); skip_mlp = channel_mlp_skips[i](x)   (from the block input)
 *   x = convs[i](stabilizer(x)) + skip_fno; GELU unless last
 *   x = channel_mlp[i](x) + skip_mlp; GELU unless last
 */
export class FNOBlocks extends Module {
  readonly convs = this.registerModule('convs', new ModuleList());
  readonly fnoSkips = this.registerModule('fno_skips', new ModuleList());
  readonly channelMlp: ModuleList | undefined;
  readonly channelMlpSkips: ModuleList | undefined;
  private readonly convList: SpectralConv[] = [];
  private readonly fnoSkipList: Skip[] = [];
  private readonly mlpList: ChannelMLP[] = [];
  private readonly mlpSkipList: Skip[] = [];

  constructor(readonly channels: number, readonly opts: FNOBlocksOptions) {
    super();
    const d = opts.nModes.length;
    const dt = opts.dtype ? { dtype: opts.dtype } : {};
    for (let i = 0; i < opts.nLayers; i++) {
      this.convList.push(this.convs.add(new SpectralConv(channels, channels, { nModes: opts.nModes, fftNorm: opts.fftNorm, rng: opts.rng, ...dt })));
    }
    for (let i = 0; i < opts.nLayers; i++) this.fnoSkipList.push(this.fnoSkips.add(new Skip(opts.fnoSkip, channels, d, { rng: opts.rng, ...dt })));
    if (opts.useChannelMlp) {
      this.channelMlp = this.registerModule('channel_mlp', new ModuleList());
      const hidden = Math.round(channels * opts.channelMlpExpansion);
      for (let i = 0; i < opts.nLayers; i++) this.mlpList.push(this.channelMlp.add(new ChannelMLP(channels, channels, hidden, { nLayers: 2, rng: opts.rng, ...dt })));
      this.channelMlpSkips = this.registerModule('channel_mlp_skips', new ModuleList());
      for (let i = 0; i < opts.nLayers; i++) this.mlpSkipList.push(this.channelMlpSkips.add(new Skip(opts.channelMlpSkip, channels, d, { rng: opts.rng, ...dt })));
    }
  }

  /** The spectral convolutions, in layer order. */
  get spectralConvs(): readonly SpectralConv[] {
    return this.convList;
  }

  forward(x: Variable): Variable {
    let h = x;
    const n = this.opts.nLayers;
    for (let i = 0; i < n; i++) {
      const last = i === n - 1;
      const skipFno = this.fnoSkipList[i]!.forward(h);
      const skipMlp = this.opts.useChannelMlp ? this.mlpSkipList[i]!.forward(h) : undefined;
      const st = this.opts.stabilizer;
      // the stabiliser acts on the spectral branch only; the skips take the raw input
      const inConv = st === 'tanh' ? ops.tanh(h) : st === 'clip_hard' ? ops.clamp(h, -1, 1) : st === 'clip_sigma' ? ops.clampSigma(h, 2) : h;
      let y = ops.add(this.convList[i]!.forward(inConv), skipFno);
      if (!last || this.opts.useChannelMlp) y = last && !this.opts.useChannelMlp ? y : ops.gelu(y);
      if (this.opts.useChannelMlp) {
        y = ops.add(this.mlpList[i]!.forward(y), skipMlp!);
        if (!last) y = ops.gelu(y);
      }
      h = y;
    }
    return h;
  }
}

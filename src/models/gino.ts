/**
 * The Geometry-Informed Neural Operator (neuralop's GINO): a GNO from the input geometry onto a
 * regular latent grid, a lifting ChannelMLP and FNO blocks on that grid, a GNO from the grid back to
 * the output points, and a projection ChannelMLP. Samples of a batch may have different point
 * counts: their points are concatenated (batch fields with per-sample row pointers) and every graph
 * links only points of one sample; the latent grid is shared and the FNO runs on the whole batch.
 *
 * Batch fields (data/points.ts makes them): input_geom [ΣP, 3] (per-sample rows), output_queries
 * [ΣQ, 3] (default: input_geom), latent_queries [G1, G2, G3, 3] (shared), latent_features
 * [B, C_l, G1, G2, G3] (with latent_feature_channels), x [ΣP, in_channels] (with in_channels > 0),
 * weights [ΣP] (with in_gno_quadrature). The prediction is [ΣQ, out_channels].
 */
import type { DType } from '../core/dtype.js';
import { Rng } from '../core/rng.js';
import { Tensor, fmtShape } from '../core/tensor.js';
import * as ops from '../autograd/ops.js';
import type { Variable } from '../autograd/variable.js';
import { type Batch, field, segmentsOf } from '../core/batch.js';
import { type Csr, radiusNeighbors } from '../kernels/neighbors.js';
import { type RankSpec, checkFactorizedWeight, type Factorization, type FactorizedImplementation, factorizedWeight, parseFactorization, parseImplementation, rankOption } from '../nn/factorized.js';
import { FNOBlocks } from '../nn/fno-blocks.js';
import { GNOBlock, GNO_TRANSFORMS, type GnoTransform, type PosEmbedding, emptyRows } from '../nn/gno.js';
import { ChannelMLP, type NormType, SKIP_TYPES, type SkipType } from '../nn/layers.js';
import { channelWidth, checkNorm } from './fno.js';
import { Module } from '../nn/module.js';
import { type SpectralLayer, denseWeight, spectralConvFactory } from '../nn/spectral.js';
import {
  type BlockPrecision, type HalfType, type LayerReport, type PrecisionControlled, type PrecisionPolicy, type PrecisionUpdate, type Stabilizer,
  applyPrecision, checkPolicy,
} from '../precision/policy.js';

/** GINO options with neuralop's names and defaults (and mpno's precision options). */
export interface GINOOptions {
  /** Channels of the input function on the input points (0: none, as for car geometry). Default 0. */
  in_channels?: number;
  out_channels: number;
  /** Channels of the latent features concatenated before the FNO (the SDF: 1). Default null. */
  latent_feature_channels?: number | null;
  projection_channel_ratio?: number;
  gno_coord_dim?: number;
  in_gno_radius?: number;
  out_gno_radius?: number;
  in_gno_transform_type?: GnoTransform;
  out_gno_transform_type?: GnoTransform;
  in_gno_pos_embed_type?: PosEmbedding;
  out_gno_pos_embed_type?: PosEmbedding;
  /** Channels of the input GNO's output (with a linear kernel). Default 3. */
  fno_in_channels?: number;
  fno_n_modes?: number[];
  fno_hidden_channels?: number;
  fno_lifting_channel_ratio?: number;
  fno_n_layers?: number;
  gno_embed_channels?: number;
  gno_embed_max_positions?: number;
  in_gno_channel_mlp_hidden_layers?: number[];
  out_gno_channel_mlp_hidden_layers?: number[];
  /** 'latent_embed': tanh of the latent embedding before the output GNO. Default null. */
  out_gno_tanh?: 'latent_embed' | null;
  fno_block_precision?: BlockPrecision;
  fno_use_channel_mlp?: boolean;
  fno_channel_mlp_expansion?: number;
  fno_stabilizer?: Stabilizer;
  fno_skip?: SkipType | null;
  fno_channel_mlp_skip?: SkipType | null;
  /** neuralop's fno_norm in the latent FNO blocks: null (default), 'group_norm' or 'instance_norm'. */
  fno_norm?: NormType | null;
  fno_norm_groups?: number;
  /** null / 'dense' (default) or 'cp', 'tucker', 'tt' (neuralop's fno_factorization). */
  fno_factorization?: Factorization | string | null;
  fno_rank?: RankSpec;
  fno_implementation?: FactorizedImplementation;
  /**
   * Quadrature weights in the input GNO: the batch's `weights` (the points' surface areas) multiply the
   * integrand and the integral is their weighted sum (neuralop's IntegralTransform with weights). Default false.
   */
  in_gno_quadrature?: boolean;
  /** The 16-bit type of 'mixed'/'half' blocks and of AMP activations (FNO and GNO kernels). */
  half_type?: HalfType;
  /** Automatic mixed precision: 16-bit activations in the GNO kernels, the lifting, the FNO blocks and the projection. */
  amp?: boolean;
  emulate_half_fft?: boolean;
  /** neuralop's neighbour-search and scatter backends: accepted, no effect (mpno has one of each). */
  gno_use_open3d?: boolean;
  gno_use_torch_scatter?: boolean;
  seed?: number;
  dtype?: DType;
}

export type ResolvedGinoOptions = Required<Omit<GINOOptions, 'latent_feature_channels' | 'out_gno_tanh' | 'fno_stabilizer' | 'fno_skip' | 'fno_channel_mlp_skip' | 'fno_factorization' | 'gno_use_open3d' | 'gno_use_torch_scatter' | 'fno_norm'>> & {
  fno_norm: NormType | null;
  latent_feature_channels: number | null;
  out_gno_tanh: 'latent_embed' | null;
  fno_stabilizer: Stabilizer;
  fno_skip: SkipType | null;
  fno_channel_mlp_skip: SkipType | null;
  fno_factorization: Factorization;
};

/** neuralop GINO options mpno does not implement: refused by name unless they hold the default. */
const REFUSED: Record<string, unknown> = {
  gno_weighting_function: null, gno_weight_function_scale: 1, fno_resolution_scaling_factor: null,
  fno_preactivation: false, fno_separable: false, fno_channel_mlp_dropout: 0, fno_fixed_rank_modes: false,
};

const KNOWN = new Set([
  'in_channels', 'out_channels', 'latent_feature_channels', 'projection_channel_ratio', 'gno_coord_dim', 'in_gno_radius', 'out_gno_radius',
  'in_gno_transform_type', 'out_gno_transform_type', 'in_gno_pos_embed_type', 'out_gno_pos_embed_type', 'fno_in_channels', 'fno_n_modes',
  'fno_hidden_channels', 'fno_lifting_channel_ratio', 'fno_n_layers', 'gno_embed_channels', 'gno_embed_max_positions',
  'in_gno_channel_mlp_hidden_layers', 'out_gno_channel_mlp_hidden_layers', 'out_gno_tanh', 'fno_block_precision', 'fno_use_channel_mlp',
  'fno_channel_mlp_expansion', 'fno_stabilizer', 'fno_skip', 'fno_channel_mlp_skip', 'fno_factorization', 'fno_rank', 'fno_implementation',
  'in_gno_quadrature', 'fno_norm', 'fno_norm_groups', 'half_type', 'amp', 'emulate_half_fft', 'gno_use_open3d', 'gno_use_torch_scatter', 'seed', 'dtype',
]);

const who = 'GINO';

function int(v: unknown, name: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new RangeError(`${who}: ${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function positive(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) throw new RangeError(`${who}: ${name} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function widths(v: unknown, name: string): number[] {
  if (!Array.isArray(v) || v.some((w) => typeof w !== 'number' || !Number.isInteger(w) || w < 1)) throw new RangeError(`${who}: ${name} must list positive layer widths, got ${JSON.stringify(v)}`);
  return [...(v as number[])];
}

function transform(v: unknown, name: string): GnoTransform {
  if (!GNO_TRANSFORMS.includes(v as GnoTransform)) throw new RangeError(`${who}: ${name} must be one of ${GNO_TRANSFORMS.join(', ')}, got ${JSON.stringify(v)}`);
  return v as GnoTransform;
}

function embedding(v: unknown, name: string): PosEmbedding {
  if (v !== null && v !== 'transformer' && v !== 'nerf') throw new RangeError(`${who}: ${name} must be 'transformer', 'nerf' or null, got ${JSON.stringify(v)}`);
  return v;
}

/** Validates GINO options (unknown keys, types, ranges) and fills neuralop's defaults. */
export function resolveGinoOptions(o: GINOOptions): ResolvedGinoOptions {
  for (const k of Object.keys(o)) {
    if (Object.hasOwn(REFUSED, k)) {
      const v = (o as unknown as Record<string, unknown>)[k];
      if (v !== REFUSED[k]) throw new RangeError(`${who}: option '${k}' = ${JSON.stringify(v)} is not supported by mpno (only ${JSON.stringify(REFUSED[k])})`);
    } else if (!KNOWN.has(k)) throw new RangeError(`${who}: unknown option '${k}'`);
  }
  const r: ResolvedGinoOptions = {
    in_channels: int(o.in_channels ?? 0, 'in_channels', 0),
    out_channels: int(o.out_channels, 'out_channels', 1),
    latent_feature_channels: o.latent_feature_channels == null ? null : int(o.latent_feature_channels, 'latent_feature_channels', 1),
    projection_channel_ratio: positive(o.projection_channel_ratio ?? 4, 'projection_channel_ratio'),
    gno_coord_dim: int(o.gno_coord_dim ?? 3, 'gno_coord_dim', 1),
    in_gno_radius: positive(o.in_gno_radius ?? 0.033, 'in_gno_radius'),
    out_gno_radius: positive(o.out_gno_radius ?? 0.033, 'out_gno_radius'),
    in_gno_transform_type: transform(o.in_gno_transform_type ?? 'linear', 'in_gno_transform_type'),
    out_gno_transform_type: transform(o.out_gno_transform_type ?? 'linear', 'out_gno_transform_type'),
    in_gno_pos_embed_type: embedding(o.in_gno_pos_embed_type === undefined ? 'transformer' : o.in_gno_pos_embed_type, 'in_gno_pos_embed_type'),
    out_gno_pos_embed_type: embedding(o.out_gno_pos_embed_type === undefined ? 'transformer' : o.out_gno_pos_embed_type, 'out_gno_pos_embed_type'),
    fno_in_channels: int(o.fno_in_channels ?? 3, 'fno_in_channels', 1),
    fno_n_modes: o.fno_n_modes ?? [16, 16, 16],
    fno_hidden_channels: int(o.fno_hidden_channels ?? 64, 'fno_hidden_channels', 1),
    fno_lifting_channel_ratio: positive(o.fno_lifting_channel_ratio ?? 2, 'fno_lifting_channel_ratio'),
    fno_n_layers: int(o.fno_n_layers ?? 4, 'fno_n_layers', 1),
    gno_embed_channels: int(o.gno_embed_channels ?? 32, 'gno_embed_channels', 1),
    gno_embed_max_positions: positive(o.gno_embed_max_positions ?? 10000, 'gno_embed_max_positions'),
    in_gno_channel_mlp_hidden_layers: widths(o.in_gno_channel_mlp_hidden_layers ?? [80, 80, 80], 'in_gno_channel_mlp_hidden_layers'),
    out_gno_channel_mlp_hidden_layers: widths(o.out_gno_channel_mlp_hidden_layers ?? [512, 256], 'out_gno_channel_mlp_hidden_layers'),
    out_gno_tanh: o.out_gno_tanh ?? null,
    fno_block_precision: o.fno_block_precision ?? 'full',
    fno_use_channel_mlp: o.fno_use_channel_mlp ?? true,
    fno_channel_mlp_expansion: positive(o.fno_channel_mlp_expansion ?? 0.5, 'fno_channel_mlp_expansion'),
    fno_stabilizer: o.fno_stabilizer ?? null,
    fno_skip: o.fno_skip === undefined ? 'linear' : o.fno_skip,
    fno_channel_mlp_skip: o.fno_channel_mlp_skip === undefined ? 'soft-gating' : o.fno_channel_mlp_skip,
    fno_norm: o.fno_norm ?? null,
    fno_norm_groups: o.fno_norm_groups ?? 1,
    fno_factorization: parseFactorization(o.fno_factorization ?? 'dense', who),
    fno_rank: rankOption(o.fno_rank ?? 1, 'fno_rank', who),
    fno_implementation: parseImplementation(o.fno_implementation ?? 'factorized', who),
    in_gno_quadrature: o.in_gno_quadrature ?? false,
    half_type: o.half_type ?? 'float16',
    amp: o.amp ?? false,
    emulate_half_fft: o.emulate_half_fft ?? false,
    seed: o.seed ?? 0,
    dtype: o.dtype ?? 'float32',
  };
  if (r.gno_coord_dim !== 3) throw new RangeError(`${who}: gno_coord_dim must be 3 (the neighbour search is 3-D), got ${r.gno_coord_dim}`);
  if (!Array.isArray(r.fno_n_modes) || r.fno_n_modes.length !== 3) throw new RangeError(`${who}: fno_n_modes must list 3 mode counts (the latent grid is 3-D), got ${JSON.stringify(r.fno_n_modes)}`);
  r.fno_n_modes.forEach((m, i) => int(m, `fno_n_modes[${i}]`, 1));
  if (r.out_gno_tanh !== null && r.out_gno_tanh !== 'latent_embed') throw new RangeError(`${who}: out_gno_tanh must be 'latent_embed' or null, got ${JSON.stringify(r.out_gno_tanh)}`);
  for (const k of ['fno_skip', 'fno_channel_mlp_skip'] as const) {
    const v = r[k];
    if (v !== null && !SKIP_TYPES.includes(v)) throw new RangeError(`${who}: ${k} must be one of ${SKIP_TYPES.join(', ')} or null, got ${JSON.stringify(v)}`);
  }
  checkNorm(r.fno_norm, r.fno_norm_groups, r.fno_hidden_channels, 'fno_norm', who);
  if (typeof r.in_gno_quadrature !== 'boolean') throw new RangeError(`${who}: in_gno_quadrature must be true or false, got ${JSON.stringify(r.in_gno_quadrature)}`);
  if (typeof r.fno_use_channel_mlp !== 'boolean') throw new RangeError(`${who}: fno_use_channel_mlp must be true or false, got ${JSON.stringify(r.fno_use_channel_mlp)}`);
  const nonlinearIn = r.in_gno_transform_type === 'nonlinear' || r.in_gno_transform_type === 'nonlinear_kernelonly';
  if (nonlinearIn && r.in_channels < 1) throw new RangeError(`${who}: in_gno_transform_type '${r.in_gno_transform_type}' reads the input function, but in_channels is 0`);
  checkPolicy({ fno_block_precision: r.fno_block_precision, half_type: r.half_type, amp: r.amp, stabilizer: r.fno_stabilizer }, who);
  if (r.dtype === 'float64' && (r.fno_block_precision !== 'full' || r.amp)) throw new RangeError(`${who}: a float64 model runs in full precision`);
  if (r.fno_factorization !== 'dense') {
    const modes = r.fno_n_modes.map((m, i) => (i === 2 ? Math.floor(m / 2) + 1 : m));
    checkFactorizedWeight({ factorization: r.fno_factorization, rank: r.fno_rank, implementation: r.fno_implementation }, { inChannels: r.fno_hidden_channels, outChannels: r.fno_hidden_channels, modes }, who);
  }
  return r;
}

/** The channels the input GNO writes: the input function's with a nonlinear kernel (k(·, f)·f), else fno_in_channels. */
function inGnoOutChannels(r: ResolvedGinoOptions): number {
  return r.in_gno_transform_type === 'nonlinear' || r.in_gno_transform_type === 'nonlinear_kernelonly' ? r.in_channels : r.fno_in_channels;
}

/** Coordinates of a [rows, 3] tensor (or [..., 3]) as float32 values, checked finite. */
function coords(t: Tensor, name: string): Float32Array {
  if (t.shape[t.ndim - 1] !== 3) throw new RangeError(`${who}: batch field '${name}' ${fmtShape(t.shape)} must hold 3 coordinates per point (last axis 3)`);
  const v = t.dtype === 'float32' ? (t.data as Float32Array) : new Float32Array(t.toFloat64());
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) throw new RangeError(`${who}: batch field '${name}' point ${Math.floor(i / 3)} has a non-finite coordinate`);
  return v;
}

/** Concatenates per-sample graphs: sample b's query rows follow the previous samples', its indices shifted by dataOffset[b]. */
function concatGraphs(graphs: readonly Csr[], dataOffset: (b: number) => number): Csr {
  const rows = graphs.reduce((a, g) => a + g.rowPtr.length - 1, 0);
  const edges = graphs.reduce((a, g) => a + g.indices.length, 0);
  const rowPtr = new Int32Array(rows + 1);
  const indices = new Int32Array(edges);
  let r = 0;
  let e = 0;
  graphs.forEach((g, b) => {
    const off = dataOffset(b);
    for (let q = 0; q + 1 < g.rowPtr.length; q++) rowPtr[++r] = e + g.rowPtr[q + 1]!;
    for (let k = 0; k < g.indices.length; k++) indices[e + k] = g.indices[k]! + off;
    e += g.indices.length;
  });
  return { rowPtr, indices };
}

/** Repeats a flat point array `times` times. */
function repeatPoints(p: Float32Array, times: number): Float32Array {
  const out = new Float32Array(p.length * times);
  for (let b = 0; b < times; b++) out.set(p, b * p.length);
  return out;
}

export class GINO extends Module implements PrecisionControlled {
  readonly config: ResolvedGinoOptions;
  readonly gnoIn: GNOBlock;
  readonly lifting: ChannelMLP;
  readonly fnoBlocks: FNOBlocks;
  readonly gnoOut: GNOBlock;
  readonly projection: ChannelMLP;
  readonly precisionPolicy: PrecisionPolicy;
  private stats = { in: { queries: 0, empty: 0, edges: 0 }, out: { queries: 0, empty: 0, edges: 0 } };

  constructor(options: GINOOptions) {
    super();
    const c = resolveGinoOptions(options);
    this.config = c;
    const rng = new Rng(c.seed);
    const dt = c.dtype;
    const gnoCommon = { coordDim: 3, embedChannels: c.gno_embed_channels, maxPositions: c.gno_embed_max_positions, rng, dtype: dt };
    // registration order = neuralop's (gno_in, lifting, fno_blocks, gno_out, projection)
    this.gnoIn = this.registerModule('gno_in', new GNOBlock({
      ...gnoCommon, inChannels: c.in_channels, outChannels: inGnoOutChannels(c), radius: c.in_gno_radius, transform: c.in_gno_transform_type,
      reduction: 'mean', posEmbedding: c.in_gno_pos_embed_type, hiddenLayers: c.in_gno_channel_mlp_hidden_layers,
    }));
    const fnoIn = inGnoOutChannels(c) + (c.latent_feature_channels ?? 0);
    const hidden = c.fno_hidden_channels;
    const width = (ratio: number, name: string) => channelWidth(who, ratio, hidden, name, 'fno_hidden_channels');
    this.lifting = this.registerModule('lifting', new ChannelMLP(fnoIn, hidden, width(c.fno_lifting_channel_ratio, 'fno_lifting_channel_ratio'), { nLayers: 2, rng, dtype: dt }));
    const weight = c.fno_factorization === 'dense' ? denseWeight : factorizedWeight({ factorization: c.fno_factorization, rank: c.fno_rank, implementation: c.fno_implementation });
    this.fnoBlocks = this.registerModule('fno_blocks', new FNOBlocks(hidden, {
      nModes: c.fno_n_modes, nLayers: c.fno_n_layers, fnoSkip: c.fno_skip, channelMlpSkip: c.fno_channel_mlp_skip,
      useChannelMlp: c.fno_use_channel_mlp, channelMlpExpansion: c.fno_channel_mlp_expansion, stabilizer: c.fno_stabilizer,
      norm: c.fno_norm, normGroups: c.fno_norm_groups,
      fftNorm: 'forward', rng, dtype: dt, conv: spectralConvFactory(weight),
    }));
    this.gnoOut = this.registerModule('gno_out', new GNOBlock({
      ...gnoCommon, inChannels: hidden, outChannels: hidden, radius: c.out_gno_radius, transform: c.out_gno_transform_type,
      reduction: 'sum', posEmbedding: c.out_gno_pos_embed_type, hiddenLayers: c.out_gno_channel_mlp_hidden_layers,
    }));
    this.projection = this.registerModule('projection', new ChannelMLP(hidden, c.out_channels, width(c.projection_channel_ratio, 'projection_channel_ratio'), { nLayers: 2, rng, dtype: dt }));
    this.precisionPolicy = {
      fno_block_precision: c.fno_block_precision, half_type: c.half_type, amp: c.amp, emulate_half_fft: c.emulate_half_fft, stabilizer: c.fno_stabilizer,
    };
    this.setPrecision({});
  }

  precisionLayers(): readonly SpectralLayer[] {
    return this.fnoBlocks.spectralConvs;
  }

  setPrecision(p: PrecisionUpdate): void {
    applyPrecision(this.precisionPolicy, this.precisionLayers(), p, { who, float64: this.config.dtype === 'float64' });
  }

  precisionReport(): LayerReport[] {
    return this.precisionLayers().map((l, layer) => ({ layer, precision: l.precision, overflows: l.overflows }));
  }

  /** GINO reads named batch fields: use forwardBatch. */
  forward(x: Variable): Variable {
    throw new RangeError(`${who}: the model reads a batch of point-cloud fields (input_geom, latent_queries, …), not one input ${fmtShape(x.shape)}; give it a point dataset`);
  }

  /** Queries, empty neighbourhoods and edges of the two GNO graphs since the last call. */
  takeGraphStats(): Record<string, { queries: number; empty: number; edges: number }> {
    const s = this.stats;
    this.stats = { in: { queries: 0, empty: 0, edges: 0 }, out: { queries: 0, empty: 0, edges: 0 } };
    return s.in.queries + s.out.queries > 0 ? { in_gno: s.in, out_gno: s.out } : {};
  }

  private count(which: 'in' | 'out', g: Csr): void {
    const s = this.stats[which];
    s.queries += g.rowPtr.length - 1;
    s.empty += emptyRows(g);
    s.edges += g.indices.length;
  }

  forwardBatch(batch: Batch): Variable {
    const c = this.config;
    const B = batch.size;
    const geom = field(batch, 'input_geom', who);
    const segIn = segmentsOf(batch, 'input_geom', who);
    const outName = batch.tensors['output_queries'] ? 'output_queries' : 'input_geom';
    const outQ = field(batch, outName, who);
    const segOut = segmentsOf(batch, outName, who);
    const lq = field(batch, 'latent_queries', who);
    if (lq.ndim !== 4 || lq.shape[3] !== 3) throw new RangeError(`${who}: latent_queries ${fmtShape(lq.shape)} must be a 3-D grid of points [G1, G2, G3, 3]`);
    const grid = lq.shape.slice(0, 3);
    const S = grid[0]! * grid[1]! * grid[2]!;
    for (let a = 0; a < 3; a++) {
      if (grid[a]! < c.fno_n_modes[a]! || (a === 2 && Math.floor(grid[2]! / 2) + 1 < Math.floor(c.fno_n_modes[2]! / 2) + 1)) {
        throw new RangeError(`${who}: the latent grid ${grid.join('×')} is smaller than fno_n_modes ${c.fno_n_modes.join('×')} on axis ${a}`);
      }
    }
    const pIn = coords(geom, 'input_geom');
    const pOut = outName === 'input_geom' ? pIn : coords(outQ, outName);
    const q = coords(lq, 'latent_queries');
    for (let b = 0; b < B; b++) if (segIn[b + 1] === segIn[b]) throw new RangeError(`${who}: sample ${b} of the batch has an empty point cloud (input_geom)`);
    let f: Variable | undefined;
    if (c.in_channels > 0) {
      const x = field(batch, 'x', who);
      if (x.ndim !== 2 || x.shape[0] !== geom.shape[0] || x.shape[1] !== c.in_channels) throw new RangeError(`${who}: batch field 'x' ${fmtShape(x.shape)} must be [${geom.shape[0]} points, ${c.in_channels} channels]`);
      f = ops.constant(x.reshape(x.shape));
    }
    let weights: Tensor | undefined;
    if (c.in_gno_quadrature) {
      const w = field(batch, 'weights', who);
      if (w.size !== geom.shape[0]) throw new RangeError(`${who}: batch field 'weights' has ${w.size} values for ${geom.shape[0]} input points`);
      weights = w;
    }
    let latentFeatures: Tensor | undefined;
    if (c.latent_feature_channels !== null) {
      const lf = field(batch, 'latent_features', who);
      if (lf.ndim !== 5 || lf.shape[0] !== B || lf.shape[1] !== c.latent_feature_channels || lf.shape.slice(2).some((n, a) => n !== grid[a])) {
        throw new RangeError(`${who}: batch field 'latent_features' ${fmtShape(lf.shape)} must be [${B}, ${c.latent_feature_channels}, ${grid.join(', ')}]`);
      }
      latentFeatures = lf;
    }
    const policy = this.precisionPolicy;
    const amp = policy.amp && c.dtype !== 'float64';
    const dt: DType = amp ? policy.half_type : c.dtype;
    // input GNO: every sample's latent grid from that sample's points
    const sampleIn = (b: number) => pIn.subarray(3 * segIn[b]!, 3 * segIn[b + 1]!);
    const gIn = concatGraphs(Array.from({ length: B }, (_, b) => radiusNeighbors(sampleIn(b), q, c.in_gno_radius)), (b) => segIn[b]!);
    this.count('in', gIn);
    const qAll = repeatPoints(q, B);
    const inP = this.gnoIn.forward({ y: pIn, x: qAll, graph: gIn, f, weights, dtype: dt });
    const C0 = inP.shape[1]!;
    let h = ops.reshape(ops.permute(ops.reshape(inP, [B, S, C0]), [0, 2, 1]), [B, C0, ...grid]);
    if (latentFeatures) h = ops.concatChannels(h, ops.cast(ops.constant(latentFeatures.reshape(latentFeatures.shape)), dt));
    h = this.fnoBlocks.forward(this.lifting.forward(h));
    const H = c.fno_hidden_channels;
    let latent = ops.reshape(ops.permute(ops.reshape(h, [B, H, S]), [0, 2, 1]), [B * S, H]);
    if (c.out_gno_tanh === 'latent_embed') latent = ops.tanh(latent);
    // output GNO: every output point from its own sample's latent grid
    const sampleOut = (b: number) => pOut.subarray(3 * segOut[b]!, 3 * segOut[b + 1]!);
    const gOut = concatGraphs(Array.from({ length: B }, (_, b) => radiusNeighbors(q, sampleOut(b), c.out_gno_radius)), (b) => b * S);
    this.count('out', gOut);
    const out = this.gnoOut.forward({ y: qAll, x: pOut, graph: gOut, f: latent, dtype: dt });
    const P = out.shape[0]!;
    const proj = this.projection.forward(ops.permute(ops.reshape(out, [1, P, H]), [0, 2, 1]));
    const y = ops.reshape(ops.permute(proj, [0, 2, 1]), [P, c.out_channels]);
    return amp ? ops.cast(y, c.dtype) : y;
  }
}

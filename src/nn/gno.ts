/**
 * The graph neural operator layer (neuralop's GNOBlock + IntegralTransform): a kernel integral over
 * radius neighbourhoods,
 *   out(x) = Σ_{y ∈ N(x)} k(x, y[, f(y)]) (· f(y)) (· w(y))      (reduction 'sum', or ÷ |N(x)| for 'mean')
 * from data points y (with features f) to query points x. The kernel k is an MLP (neuralop's
 * LinearChannelMLP: Linear layers with GELU between them) on the sinusoidal embeddings of y and x
 * (and f(y) for the nonlinear kernels). Its first layer acts on the concatenation [emb y, emb x, f(y)],
 * so it is computed per point (W_y·emb y + W_f·f on the data points, W_x·emb x + b on the queries)
 * and gathered onto the edges: the same numbers as the layer on every edge's concatenated input, at
 * the cost of the points instead of the edges. The other layers run on the edges.
 */
import type { DType } from '../core/dtype.js';
import type { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import * as ops from '../autograd/ops.js';
import type { Variable } from '../autograd/variable.js';
import type { Csr } from '../kernels/neighbors.js';
import { ModuleList } from './layers.js';
import { Module, Parameter } from './module.js';
import { torchDefaultBound, uniform } from './init.js';

/** neuralop's transform types: (a) ∫k, (b) ∫k·f, (c) ∫k(·, f), (d) ∫k(·, f)·f. */
export type GnoTransform = 'linear_kernelonly' | 'linear' | 'nonlinear_kernelonly' | 'nonlinear';
export const GNO_TRANSFORMS: readonly GnoTransform[] = ['linear_kernelonly', 'linear', 'nonlinear_kernelonly', 'nonlinear'];
export type PosEmbedding = 'transformer' | 'nerf' | null;
export type GnoReduction = 'sum' | 'mean';

/**
 * neuralop's SinusoidalEmbedding of points [n, d] (flat): for each coordinate p_i and frequency level
 * k < L, sin(ω_k p_i) and cos(ω_k p_i), ω_k = 2^k·π ('nerf') or max_positions^(−2k/L) ('transformer'),
 * laid out [n, d, L, 2] (2·L·d values per point), in float64.
 */
export function sinusoidalEmbedding(points: ArrayLike<number>, d: number, L: number, type: 'transformer' | 'nerf', maxPositions = 10000): Float64Array {
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`sinusoidalEmbedding: the number of frequencies must be a positive integer, got ${L}`);
  const n = points.length / d;
  const freqs = Array.from({ length: L }, (_, k) => (type === 'nerf' ? 2 ** k * Math.PI : (1 / maxPositions) ** ((2 * k) / L)));
  const out = new Float64Array(n * d * L * 2);
  let o = 0;
  for (let i = 0; i < n * d; i++) {
    const p = points[i]!;
    for (let k = 0; k < L; k++) {
      const a = p * freqs[k]!;
      out[o++] = Math.sin(a);
      out[o++] = Math.cos(a);
    }
  }
  return out;
}

/** torch.nn.Linear: weight [out, in], bias [out], both U(−1/√in, 1/√in). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;

  constructor(readonly inFeatures: number, readonly outFeatures: number, rng: Rng, dtype: DType = 'float32') {
    super();
    const b = torchDefaultBound(inFeatures);
    this.weight = this.registerParameter('weight', new Parameter(uniform(rng, [outFeatures, inFeatures], b, dtype)));
    this.bias = this.registerParameter('bias', new Parameter(uniform(rng, [outFeatures], b, dtype)));
  }
}

/** neuralop's LinearChannelMLP: Linear layers fcs.0, fcs.1, … of the given widths, GELU between them. */
export class LinearChannelMLP extends Module {
  readonly fcs: Linear[] = [];

  constructor(readonly layers: readonly number[], rng: Rng, dtype: DType = 'float32') {
    super();
    if (layers.length < 2 || layers.some((w) => !Number.isInteger(w) || w < 1)) throw new RangeError(`LinearChannelMLP: layer widths must be at least two positive integers, got ${JSON.stringify(layers)}`);
    const list = this.registerModule('fcs', new ModuleList());
    for (let i = 0; i + 1 < layers.length; i++) this.fcs.push(list.add(new Linear(layers[i]!, layers[i + 1]!, rng, dtype)));
  }
}

/** neuralop's IntegralTransform's parameters: its kernel MLP (channel_mlp). */
class IntegralTransform extends Module {
  constructor(mlp: LinearChannelMLP) {
    super();
    this.registerModule('channel_mlp', mlp);
  }
}

export interface GNOBlockOptions {
  /** Channels of f (0: no input function). */
  inChannels: number;
  outChannels: number;
  coordDim: number;
  radius: number;
  transform: GnoTransform;
  reduction: GnoReduction;
  posEmbedding: PosEmbedding;
  /** Frequencies L of the embedding (neuralop's pos_embedding_channels). */
  embedChannels: number;
  maxPositions: number;
  /** Widths of the kernel MLP's hidden layers. */
  hiddenLayers: readonly number[];
  rng: Rng;
  dtype?: DType;
}

/** One application of a GNO layer: the points, the graph and the features. */
export interface GnoInputs {
  /** Data points y, [N, coordDim] flat. */
  y: Float32Array | Float64Array;
  /** Query points x, [M, coordDim] flat. */
  x: Float32Array | Float64Array;
  /** Row q: the data points in the neighbourhood of query q. */
  graph: Csr;
  /** f(y) [N, inChannels] (rows), when the layer has an input function. */
  f?: Variable | undefined;
  /** Quadrature weights of the data points ([N] values): the integrand is multiplied by them and summed. */
  weights?: Tensor | undefined;
  /** dtype of the edge computation (the policy's half type under AMP). */
  dtype: DType;
}

/**
 * A GNO layer: neighbourhood graph in, out(x) [M, outChannels] (rows) out. State-dict names follow
 * neuralop's GNOBlock: integral_transform.channel_mlp.fcs.{i}.{weight, bias}.
 */
export class GNOBlock extends Module {
  readonly mlp: LinearChannelMLP;
  /** Embedding width per point (2·L·d, or d without an embedding). */
  readonly embedDim: number;
  readonly kernelInChannels: number;

  constructor(readonly o: GNOBlockOptions) {
    super();
    if (!(o.radius > 0) || !Number.isFinite(o.radius)) throw new RangeError(`GNOBlock: radius must be a positive number, got ${o.radius}`);
    if (!GNO_TRANSFORMS.includes(o.transform)) throw new RangeError(`GNOBlock: transform_type must be one of ${GNO_TRANSFORMS.join(', ')}, got ${JSON.stringify(o.transform)}`);
    if (o.reduction !== 'sum' && o.reduction !== 'mean') throw new RangeError(`GNOBlock: reduction must be 'sum' or 'mean', got ${JSON.stringify(o.reduction)}`);
    this.embedDim = o.posEmbedding === null ? o.coordDim : 2 * o.embedChannels * o.coordDim;
    const nonlinear = o.transform === 'nonlinear' || o.transform === 'nonlinear_kernelonly';
    if (nonlinear && o.inChannels < 1) throw new RangeError(`GNOBlock: a '${o.transform}' kernel reads the input function, but in_channels is ${o.inChannels}`);
    this.kernelInChannels = 2 * this.embedDim + (nonlinear ? o.inChannels : 0);
    this.mlp = new LinearChannelMLP([this.kernelInChannels, ...o.hiddenLayers, o.outChannels], o.rng, o.dtype);
    this.registerModule('integral_transform', new IntegralTransform(this.mlp));
  }

  private embed(points: Float32Array | Float64Array, dtype: DType): Variable {
    const d = this.o.coordDim;
    const n = points.length / d;
    const v = this.o.posEmbedding === null ? points : sinusoidalEmbedding(points, d, this.o.embedChannels, this.o.posEmbedding, this.o.maxPositions);
    // written as float32 (or float64) and rounded to a 16-bit dtype by the wasm conversion, not the scalar codec
    const wide = ops.constant(Tensor.fromArray(v, [n, this.embedDim], dtype === 'float64' ? 'float64' : 'float32', 'activation'));
    return ops.cast(wide, dtype);
  }

  forward(inp: GnoInputs): Variable {
    const o = this.o;
    const d = o.coordDim;
    const N = inp.y.length / d;
    const M = inp.x.length / d;
    const { rowPtr, indices } = inp.graph;
    if (rowPtr.length !== M + 1) throw new RangeError(`GNOBlock: the graph has ${rowPtr.length - 1} rows for ${M} query points`);
    const usesF = o.transform === 'linear' || o.transform === 'nonlinear' || o.transform === 'nonlinear_kernelonly';
    const f = inp.f;
    if (f && (f.value.ndim !== 2 || f.shape[0] !== N || f.shape[1] !== o.inChannels)) {
      throw new RangeError(`GNOBlock: the input function is [${f.shape.join(', ')}]; expected [${N} points, ${o.inChannels} channels]`);
    }
    if (!f && o.inChannels > 0 && usesF) throw new RangeError(`GNOBlock: a '${o.transform}' layer with ${o.inChannels} input channels needs the input function f`);
    if (f && o.transform !== 'linear_kernelonly' && o.transform !== 'nonlinear_kernelonly' && o.outChannels !== o.inChannels) {
      throw new RangeError(`GNOBlock: k·f needs as many kernel outputs as input channels (${o.outChannels} vs ${o.inChannels})`);
    }
    if (inp.weights && inp.weights.size !== N) throw new RangeError(`GNOBlock: ${inp.weights.size} quadrature weights for ${N} data points`);
    const dt = inp.dtype;
    // the edge of every neighbour, and the query it belongs to
    const E = indices.length;
    const rowOf = new Int32Array(E);
    for (let q = 0; q < M; q++) rowOf.fill(q, rowPtr[q]!, rowPtr[q + 1]!);
    const D = this.embedDim;
    const fcs = this.mlp.fcs;
    const first = fcs[0]!;
    const fd = f ? ops.cast(f, dt) : undefined;
    // first layer, per point: W_y·emb(y) (+ W_f·f(y)) on the data points, W_x·emb(x) + b on the queries
    let py = ops.rowLinear(this.embed(inp.y, dt), ops.sliceColumns(first.weight, 0, D));
    if (fd && this.kernelInChannels > 2 * D) py = ops.add(py, ops.rowLinear(fd, ops.sliceColumns(first.weight, 2 * D, 2 * D + o.inChannels)));
    const px = ops.rowLinear(this.embed(inp.x, dt), ops.sliceColumns(first.weight, D, 2 * D), first.bias);
    let rows = ops.add(ops.gatherRows(py, indices), ops.gatherRows(px, rowOf));
    // the other layers on the edges: rows → channel-first for the fused middle layers → rows
    if (fcs.length === 2) rows = ops.rowLinear(ops.gelu(rows), fcs[1]!.weight, fcs[1]!.bias);
    else if (fcs.length > 2) {
      let h = ops.linearFromRows(ops.gelu(rows), fcs[1]!.weight, fcs[1]!.bias, true);
      for (let i = 2; i < fcs.length - 1; i++) h = ops.linearGelu(h, fcs[i]!.weight, fcs[i]!.bias);
      rows = ops.linearToRows(h, fcs[fcs.length - 1]!.weight, fcs[fcs.length - 1]!.bias);
    }
    if (fd && (o.transform === 'linear' || o.transform === 'nonlinear')) rows = ops.mul(rows, ops.gatherRows(fd, indices));
    let reduction = o.reduction;
    if (inp.weights) {
      const w = inp.weights.toFloat64();
      const we = new Float64Array(E);
      for (let e = 0; e < E; e++) we[e] = w[indices[e]!]!;
      rows = ops.rowScale(rows, ops.constant(Tensor.fromArray(we, [E], inp.weights.dtype === 'float64' ? 'float64' : 'float32', 'activation')).value);
      // weighted integrals are sums (neuralop's IntegralTransform forces 'sum' when weights are given)
      reduction = 'sum';
    }
    return ops.segmentReduce(rows, rowPtr, reduction);
  }
}

/** Queries with no neighbour in a graph (their integral is 0). */
export function emptyRows(g: Csr): number {
  let n = 0;
  for (let q = 0; q + 1 < g.rowPtr.length; q++) if (g.rowPtr[q + 1] === g.rowPtr[q]) n++;
  return n;
}


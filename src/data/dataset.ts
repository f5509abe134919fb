import type { DType } from '../core/dtype.js';
import { Rng, type RngState } from '../core/rng.js';
import { Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import { type PtValue, isPtTensor, ptToTensor, readPt } from './formats/pt.js';
import type { SafetensorsContents } from './formats/safetensors-codec.js';
import type { Batch, Dataset } from '../core/batch.js';

/** Input/output pairs stored as two tensors [N, C_in, …] and [N, C_out, …]. */
export class TensorDataset implements Dataset {
  readonly target = 'y';

  constructor(readonly x: Tensor, readonly y: Tensor, readonly name = 'dataset') {
    if (x.ndim < 2 || y.ndim < 2 || x.shape[0] !== y.shape[0]) {
      throw new RangeError(`${name}: x ${fmtShape(x.shape)} and y ${fmtShape(y.shape)} must be [N, channels, …] with the same N`);
    }
  }

  get length(): number {
    return this.x.shape[0]!;
  }

  /** [N, C_in, …] and [N, C_out, …] (as a lazy dataset gives them). */
  get xShape(): readonly number[] {
    return this.x.shape;
  }

  get yShape(): readonly number[] {
    return this.y.shape;
  }

  /** Copies the samples at `indices` into new tensors [B, …]. */
  gather(indices: readonly number[]): { x: Tensor; y: Tensor } {
    const pick = (t: Tensor): Tensor => {
      const per = shapeSize(t.shape.slice(1));
      const out = Tensor.empty([indices.length, ...t.shape.slice(1)], t.dtype, 'data');
      const src = t.data;
      const dst = out.data;
      indices.forEach((i, k) => {
        if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`${this.name}: sample index ${i} is outside 0…${this.length - 1}`);
        (dst as Float32Array).set((src as Float32Array).subarray(i * per, (i + 1) * per), k * per);
      });
      return out;
    };
    return { x: pick(this.x), y: pick(this.y) };
  }

  /** The samples at `indices` as a batch {x, y}. */
  batch(indices: readonly number[]): Batch {
    const { x, y } = this.gather(indices);
    return { size: indices.length, tensors: { x, y }, segments: {} };
  }

  release(): void {
    this.x.release();
    this.y.release();
  }
}

export interface DataLoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  dropLast?: boolean;
  /** Seed of the shuffling generator. */
  seed?: number;
}

/** Batches of a dataset, in order or shuffled by a seeded generator whose state can be saved. */
export class DataLoader<D extends Dataset = Dataset> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly rng: Rng;

  constructor(readonly dataset: D, opts: DataLoaderOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new RangeError(`DataLoader: batch size must be a positive integer, got ${opts.batchSize}`);
    this.batchSize = opts.batchSize;
    this.shuffle = opts.shuffle ?? false;
    this.dropLast = opts.dropLast ?? false;
    this.rng = new Rng(opts.seed ?? 0);
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The sample indices of each batch of the next epoch (advances the shuffling generator). */
  epochBatches(): number[][] {
    const n = this.dataset.length;
    const order = this.shuffle ? this.rng.permutation(n) : Array.from({ length: n }, (_, i) => i);
    const out: number[][] = [];
    for (let s = 0; s < n; s += this.batchSize) {
      const b = order.slice(s, s + this.batchSize);
      if (b.length < this.batchSize && this.dropLast) break;
      out.push(b);
    }
    return out;
  }

  getState(): RngState {
    return this.rng.getState();
  }

  /** Restores getState()'s value (checked: anything else is a named error). */
  setState(s: unknown): void {
    this.rng.setState(s as RngState);
  }
}

export interface NormalizerState {
  mean: number[];
  std: number[];
  eps: number;
}

/**
 * neuralop's UnitGaussianNormalizer, channel-wise: one mean and one unbiased std per channel
 * (over samples and all spatial points); encode (x − mean)/(std + eps), decode x·(std + eps) + mean.
 */
export class UnitGaussianNormalizer {
  constructor(readonly mean: number[], readonly std: number[], readonly eps = 1e-7) {}

  static fit(t: Tensor, eps = 1e-7): UnitGaussianNormalizer {
    if (t.ndim < 2) throw new RangeError(`UnitGaussianNormalizer.fit: expected [N, channels, …], got ${fmtShape(t.shape)}`);
    const v = t.toFloat64();
    return UnitGaussianNormalizer.fitChunks(t.shape.slice(1), (fn) => fn(v, t.shape[0]!), eps);
  }

  /**
   * The same fit streamed over chunks of samples: `each(fn)` calls fn(values, count) for consecutive
   * chunks [count, …sample] of the data, in order, and is called twice (the mean, then the squared
   * deviations from it). Each channel's sums add the same values in the same order as one pass over
   * the whole tensor, so the result is fit()'s bit for bit.
   */
  static fitChunks(sample: readonly number[], each: (fn: (v: ArrayLike<number>, count: number) => void) => void, eps = 1e-7): UnitGaussianNormalizer {
    if (sample.length < 1) throw new RangeError('UnitGaussianNormalizer.fitChunks: a sample is [channels, …]');
    const C = sample[0]!;
    const S = shapeSize(sample.slice(1));
    const sums = new Float64Array(C);
    let N = 0;
    each((v, count) => {
      for (let c = 0; c < C; c++) {
        let s = sums[c]!;
        for (let n = 0; n < count; n++) for (let i = 0; i < S; i++) s += v[(n * C + c) * S + i]!;
        sums[c] = s;
      }
      N += count;
    });
    const mean = Array.from(sums, (s) => s / (N * S));
    const q = new Float64Array(C);
    each((v, count) => {
      for (let c = 0; c < C; c++) {
        const m = mean[c]!;
        let s = q[c]!;
        for (let n = 0; n < count; n++) for (let i = 0; i < S; i++) s += (v[(n * C + c) * S + i]! - m) ** 2;
        q[c] = s;
      }
    });
    const std = Array.from(q, (s) => Math.sqrt(s / Math.max(1, N * S - 1)));
    return new UnitGaussianNormalizer(mean, std, eps);
  }

  static fromState(s: NormalizerState): UnitGaussianNormalizer {
    if (!Array.isArray(s.mean) || !Array.isArray(s.std) || s.mean.length !== s.std.length || typeof s.eps !== 'number') {
      throw new TypeError('UnitGaussianNormalizer: invalid state (mean, std arrays of one length and eps)');
    }
    return new UnitGaussianNormalizer(s.mean, s.std, s.eps);
  }

  getState(): NormalizerState {
    return { mean: [...this.mean], std: [...this.std], eps: this.eps };
  }

  private apply(t: Tensor, decode: boolean, dtype: DType): Tensor {
    if (t.ndim < 2 || t.shape[1] !== this.mean.length) {
      throw new RangeError(`UnitGaussianNormalizer: tensor ${fmtShape(t.shape)} does not have ${this.mean.length} channel(s) on axis 1`);
    }
    const [N, C] = t.shape as [number, number];
    const S = shapeSize(t.shape.slice(2));
    const v = t.toFloat64();
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) {
      const a = this.std[c]! + this.eps;
      const m = this.mean[c]!;
      for (let i = 0; i < S; i++) {
        const k = (n * C + c) * S + i;
        v[k] = decode ? v[k]! * a + m : (v[k]! - m) / a;
      }
    }
    return Tensor.fromArray(v, t.shape, dtype, 'data');
  }

  encode(t: Tensor): Tensor {
    return this.apply(t, false, t.dtype);
  }

  decode(t: Tensor): Tensor {
    return this.apply(t, true, t.dtype);
  }
}

/**
 * Loads a neuralop Darcy .pt file ({x: permeability, y: pressure}, each [N, H, W]) as neuralop's
 * load_darcy_flow_small does: a channel axis is added, x becomes float32 (0/1), y float32.
 */
export function loadDarcyPt(path: string, opts: { n?: number; dtype?: DType } = {}): TensorDataset {
  return darcyFromPt(readPt(path), path, opts);
}

/** loadDarcyPt on a parsed .pt value (parsePt of the file's bytes); `path` names it in errors. */
export function darcyFromPt(v: PtValue, path: string, opts: { n?: number; dtype?: DType } = {}): TensorDataset {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || isPtTensor(v)) {
    throw new TypeError(`${path}: expected a dict with tensors 'x' and 'y'`);
  }
  const dict = v as Record<string, unknown>;
  const grab = (key: string) => {
    const t = dict[key];
    if (!isPtTensor(t)) throw new TypeError(`${path}: key '${key}' is missing or is not a tensor (keys: ${Object.keys(dict).join(', ')})`);
    if (t.shape.length < 2) throw new RangeError(`${path}: tensor '${key}' has shape [${t.shape.join(', ')}]; expected [N, spatial…]`);
    return t;
  };
  const px = grab('x');
  const py = grab('y');
  if (px.shape[0] !== py.shape[0]) throw new RangeError(`${path}: x has ${px.shape[0]} samples but y has ${py.shape[0]}`);
  const total = px.shape[0]!;
  const n = opts.n ?? total;
  if (!Number.isInteger(n) || n < 1 || n > total) throw new RangeError(`${path}: asked for ${n} samples, the file has ${total}`);
  const dtype = opts.dtype ?? 'float32';
  const load = (t: typeof px, key: string): Tensor => {
    const full = ptToTensor(t, dtype, 'data');
    const per = shapeSize(t.shape.slice(1));
    const vals = full.toFloat64();
    for (let i = 0; i < n * per; i++) {
      if (!Number.isFinite(vals[i]!)) {
        full.release();
        throw new RangeError(`${path}: tensor '${key}' has a non-finite value at sample ${Math.floor(i / per)}`);
      }
    }
    const out = Tensor.empty([n, 1, ...t.shape.slice(1)], dtype, 'data');
    (out.data as Float32Array).set((full.data as Float32Array).subarray(0, n * per));
    full.release();
    return out;
  };
  const x = load(px, 'x');
  let y: Tensor;
  try {
    y = load(py, 'y');
  } catch (e) {
    x.release();
    throw e;
  }
  return new TensorDataset(x, y, path);
}

/**
 * An mpno grid dataset from a decoded safetensors file (takes its tensors): x and y float32 [N, C, …],
 * 'mpno' metadata, finite values; the first `n` samples.
 */
export function gridFromSafetensors(contents: SafetensorsContents, path: string, opts: { n?: number } = {}): TensorDataset {
  const { tensors, metadata } = contents;
  const x = tensors['x'];
  const y = tensors['y'];
  const others = Object.entries(tensors).filter(([k]) => k !== 'x' && k !== 'y');
  for (const [, t] of others) t.release();
  if (!x || !y) {
    x?.release();
    y?.release();
    throw new Error(`${path}: a dataset file needs tensors 'x' and 'y' (found ${Object.keys(tensors).join(', ') || 'none'})`);
  }
  if (x.dtype !== 'float32' || y.dtype !== 'float32') {
    const msg = `${path}: x is ${x.dtype} and y ${y.dtype}; an mpno dataset stores float32`;
    x.release();
    y.release();
    throw new TypeError(msg);
  }
  if (!metadata['mpno']) {
    x.release();
    y.release();
    throw new Error(`${path}: not an mpno dataset (no 'mpno' metadata)`);
  }
  const N = x.shape[0]!;
  const n = opts.n ?? N;
  if (!Number.isInteger(n) || n < 1 || n > N) {
    x.release();
    y.release();
    throw new RangeError(`${path}: asked for ${n} samples, the file has ${N}`);
  }
  for (const [name, t] of [['x', x], ['y', y]] as const) {
    const v = t.data as Float32Array;
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]!)) {
        x.release();
        y.release();
        throw new RangeError(`${path}: tensor '${name}' has a non-finite value at element ${i}`);
      }
    }
  }
  if (n === N) return new TensorDataset(x, y, path);
  const xs = x.slice(0, n);
  const ys = y.slice(0, n);
  x.release();
  y.release();
  return new TensorDataset(xs, ys, path);
}

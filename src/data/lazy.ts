/**
 * Grid datasets read lazily: a reader fetches samples from a file (HDF5 hyperslabs, byte ranges of
 * a safetensors file, or several shard files), a cache bounded in bytes keeps the samples read last
 * (least recently used first out), and `batch(indices)` reads only the samples it does not find there.
 *
 * Reads: the samples a batch misses are grouped by the reader's block (1 sample for row-major files,
 * where any sample is one contiguous range; more for MATLAB's column-major files, where a sample is
 * strided across the whole dataset) and runs of consecutive blocks become one read, up to a size
 * cap. So an in-order pass reads long ranges and a shuffled one reads single samples instead of
 * whole chunks of which it would use one.
 */
import type { Batch, Dataset } from '../core/batch.js';
import { Tensor, fmtShape, shapeSize } from '../core/tensor.js';

/** Where samples come from: per-sample shapes and a read of consecutive samples. */
export interface GridSampleReader {
  /** The source, for errors. */
  readonly name: string;
  readonly length: number;
  /** One sample's x and y: [C_in, …spatial] and [C_out, …spatial]. */
  readonly xSample: readonly number[];
  readonly ySample: readonly number[];
  /** Samples read together: reads start at multiples of it (1: any sample on its own). */
  readonly blockSamples: number;
  /** Samples [start, start + count) as float32 x and y, sample-major. */
  read(start: number, count: number): { x: Float32Array; y: Float32Array };
  close(): void;
}

export interface CacheStats {
  hits: number;
  misses: number;
  /** Reads of the reader (each a run of consecutive samples). */
  reads: number;
  bytesRead: number;
  evictions: number;
  /** Most bytes the cache held. */
  peakBytes: number;
}

interface Entry {
  x: Float32Array;
  y: Float32Array;
  bytes: number;
}

/** An LRU cache of samples bounded in bytes, shared by the datasets of a run. */
export class SampleCache {
  private readonly map = new Map<string, Entry>();
  private held = 0;
  readonly stats: CacheStats = { hits: 0, misses: 0, reads: 0, bytesRead: 0, evictions: 0, peakBytes: 0 };

  /** `budgetBytes`: the most bytes held (Infinity: keep everything read). */
  constructor(readonly budgetBytes: number = Infinity) {
    if (!(budgetBytes > 0)) throw new RangeError(`SampleCache: the budget must be a positive number of bytes, got ${budgetBytes}`);
  }

  /** Bytes held now (never more than the budget). */
  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (e) {
      this.map.delete(key);
      this.map.set(key, e);
    }
    return e;
  }

  /** Stores an entry (copies are the caller's business), evicting the least recently used; one larger than the budget is not kept. */
  set(key: string, x: Float32Array, y: Float32Array): void {
    const bytes = x.byteLength + y.byteLength;
    if (bytes > this.budgetBytes) return;
    const old = this.map.get(key);
    if (old) {
      this.map.delete(key);
      this.held -= old.bytes;
    }
    while (this.held + bytes > this.budgetBytes) {
      const [k, e] = this.map.entries().next().value as [string, Entry];
      this.map.delete(k);
      this.held -= e.bytes;
      this.stats.evictions++;
    }
    this.map.set(key, { x, y, bytes });
    this.held += bytes;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.held);
  }

  /** Drops every entry whose key starts with `prefix`. */
  drop(prefix: string): void {
    for (const [k, e] of this.map) {
      if (k.startsWith(prefix)) {
        this.map.delete(k);
        this.held -= e.bytes;
      }
    }
  }
}

let nextId = 0;

/** Largest single read (bytes) of a batch's misses, unless the cache is smaller. */
const MAX_READ_BYTES = 16 << 20;

/** A grid dataset whose samples are read on demand through a shared SampleCache. */
export class LazyGridDataset implements Dataset {
  readonly target = 'y';
  readonly length: number;
  private readonly id = `${nextId++}:`;
  private readonly xPer: number;
  private readonly yPer: number;

  constructor(readonly reader: GridSampleReader, readonly cache: SampleCache = new SampleCache(), opts: { n?: number } = {}) {
    const n = opts.n ?? reader.length;
    if (!Number.isInteger(n) || n < 1 || n > reader.length) throw new RangeError(`${reader.name}: asked for ${n} samples, the source has ${reader.length}`);
    this.length = n;
    this.xPer = shapeSize(reader.xSample);
    this.yPer = shapeSize(reader.ySample);
  }

  get name(): string {
    return this.reader.name;
  }

  /** [N, C_in, …] and [N, C_out, …]. */
  get xShape(): number[] {
    return [this.length, ...this.reader.xSample];
  }

  get yShape(): number[] {
    return [this.length, ...this.reader.ySample];
  }

  /** Bytes of one sample (x and y, float32). */
  get sampleBytes(): number {
    return 4 * (this.xPer + this.yPer);
  }

  /** The samples at `indices` as new tensors {x [B, …], y [B, …]}. */
  gather(indices: readonly number[]): { x: Tensor; y: Tensor } {
    const B = indices.length;
    for (const i of indices) if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`${this.name}: sample index ${i} is outside 0…${this.length - 1}`);
    const x = Tensor.empty([B, ...this.reader.xSample], 'float32', 'data');
    const y = Tensor.empty([B, ...this.reader.ySample], 'float32', 'data');
    try {
      const xd = x.data as Float32Array;
      const yd = y.data as Float32Array;
      const put = (k: number, sx: Float32Array, sy: Float32Array) => {
        xd.set(sx, k * this.xPer);
        yd.set(sy, k * this.yPer);
      };
      // positions in the batch of each missing sample (a sample may appear twice)
      const missing = new Map<number, number[]>();
      indices.forEach((i, k) => {
        const e = this.cache.get(this.id + i);
        if (e) {
          this.cache.stats.hits++;
          put(k, e.x, e.y);
        } else {
          this.cache.stats.misses++;
          const at = missing.get(i);
          if (at) at.push(k);
          else missing.set(i, [k]);
        }
      });
      if (missing.size) this.readMissing(missing, put);
    } catch (e) {
      x.release();
      y.release();
      throw e;
    }
    return { x, y };
  }

  private readMissing(missing: Map<number, number[]>, put: (k: number, x: Float32Array, y: Float32Array) => void): void {
    const bs = this.reader.blockSamples;
    const blocks = [...new Set([...missing.keys()].map((i) => Math.floor(i / bs)))].sort((a, b) => a - b);
    const cap = Math.max(bs, Math.floor(Math.min(MAX_READ_BYTES, this.cache.budgetBytes / 4) / this.sampleBytes));
    let r = 0;
    while (r < blocks.length) {
      let e = r;
      const start = blocks[r]! * bs;
      while (e + 1 < blocks.length && blocks[e + 1] === blocks[e]! + 1 && (blocks[e + 1]! + 1) * bs - start <= cap) e++;
      const end = Math.min(this.length, (blocks[e]! + 1) * bs);
      const { x, y } = this.reader.read(start, end - start);
      this.cache.stats.reads++;
      this.cache.stats.bytesRead += x.byteLength + y.byteLength;
      for (let i = start; i < end; i++) {
        const sx = x.slice((i - start) * this.xPer, (i - start + 1) * this.xPer);
        const sy = y.slice((i - start) * this.yPer, (i - start + 1) * this.yPer);
        for (const k of missing.get(i) ?? []) put(k, sx, sy);
        this.cache.set(this.id + i, sx, sy);
      }
      r = e + 1;
    }
  }

  batch(indices: readonly number[]): Batch {
    const { x, y } = this.gather(indices);
    return { size: indices.length, tensors: { x, y }, segments: {} };
  }

  /**
   * Calls `fn` with consecutive chunks of the targets y (float32, [count, C_out, …] flattened),
   * read directly (not through the cache, whose samples it would evict), `chunkBytes` at a time.
   */
  forEachTargetChunk(fn: (y: Float32Array, count: number) => void, chunkBytes = MAX_READ_BYTES): void {
    const per = Math.max(this.reader.blockSamples, Math.floor(chunkBytes / this.sampleBytes), 1);
    for (let s = 0; s < this.length; s += per) {
      const count = Math.min(per, this.length - s);
      fn(this.reader.read(s, count).y, count);
    }
  }

  release(): void {
    this.cache.drop(this.id);
    this.reader.close();
  }
}

/** Shapes [N, C, …] of any grid dataset (in memory or lazy). */
export interface GridShapes {
  readonly xShape: readonly number[];
  readonly yShape: readonly number[];
}

/** Checks that a reader's samples are [C, …spatial] with the same spatial shape for x and y. */
export function checkSampleShapes(name: string, xs: readonly number[], ys: readonly number[]): void {
  if (xs.length < 2 || ys.length < 2 || xs.slice(1).join() !== ys.slice(1).join()) {
    throw new RangeError(`${name}: x samples ${fmtShape([...xs])} and y samples ${fmtShape([...ys])} must be [channels, …spatial] on the same grid`);
  }
}

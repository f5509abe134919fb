/**
 * mpno's .safetensors dataset files read lazily by byte offsets (a file descriptor, one read per
 * run of samples), and shard sets: the files `mpno generate … --shard i/n` writes, each holding the
 * samples [⌊N·i/n⌋, ⌊N·(i+1)/n⌋) of one generation, read together as one dataset in shard order.
 *
 * A shard set is named by a pattern with one `*` in the file name (`data/darcy-*-of-4.safetensors`).
 * Its files must be one generation: every shard 0…n−1 exactly once, the same PDE, seed, resolution,
 * total and parameters, ranges that tile the samples; anything else is a named error.
 */
import { closeSync, existsSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { readSafetensorsHeader } from './formats/safetensors.js';
import type { GridSampleReader } from './lazy.js';
import type { DatasetMeta } from './dataset-file.js';

/** Where a shard sits in its generation. */
export interface ShardInfo {
  index: number;
  count: number;
  /** Its samples [start, end) of the generation's `total`. */
  start: number;
  end: number;
  total: number;
}

/** The samples [start, end) of shard `index` of `count` over `total` samples. */
export function shardRange(total: number, index: number, count: number): { start: number; end: number } {
  return { start: Math.floor((total * index) / count), end: Math.floor((total * (index + 1)) / count) };
}

/** `data/x.safetensors` → `data/x-<i>-of-<n>.safetensors`. */
export function shardPath(file: string, index: number, count: number): string {
  const stem = file.endsWith('.safetensors') ? file.slice(0, -'.safetensors'.length) : file;
  return `${stem}-${index}-of-${count}.safetensors`;
}

/** Parses `--shard i/n` (0 ≤ i < n). */
export function parseShard(v: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new RangeError(`--shard takes i/n with 0 ≤ i < n (e.g. 0/4 … 3/4), got '${v}'`);
  return { index, count };
}

/** Whether a path names a shard set (a `*` in its file name). */
export function isShardPattern(p: string): boolean {
  return path.basename(p).includes('*');
}

/** A float32 tensor's bytes in a file. */
interface Span {
  offset: number;
  perSample: number;
}

/** One mpno grid dataset file ({x, y} float32 with 'mpno' metadata), read by byte offsets. */
export class SafetensorsGridReader implements GridSampleReader {
  readonly length: number;
  readonly xSample: number[];
  readonly ySample: number[];
  readonly blockSamples = 1;
  readonly meta: DatasetMeta;
  private fd: number | undefined;
  private readonly spans: { x: Span; y: Span };

  constructor(readonly name: string) {
    const h = readSafetensorsHeader(name);
    const raw = h.metadata['mpno'];
    if (!raw) throw new RangeError(`${name}: not an mpno dataset (no 'mpno' metadata)`);
    this.meta = JSON.parse(raw) as DatasetMeta;
    if (this.meta.params?.['layout'] === 'points') throw new RangeError(`${name}: a point-cloud dataset (bodies) is read into memory; lazy reading (data.cache_mb, shard sets) is for grid datasets`);
    const get = (k: 'x' | 'y') => {
      const e = h.entries.find((t) => t.name === k);
      if (!e) throw new RangeError(`${name}: a dataset file needs tensors 'x' and 'y' (found ${h.entries.map((t) => t.name).join(', ') || 'none'})`);
      if (e.dtype !== 'float32') throw new RangeError(`${name}: tensor '${k}' is ${e.dtype}; lazy reading takes float32 datasets (as mpno generate writes them)`);
      if (e.shape.length < 2) throw new RangeError(`${name}: tensor '${k}' is [${e.shape.join(', ')}]; expected [N, channels, …]`);
      return e;
    };
    const x = get('x');
    const y = get('y');
    if (x.shape[0] !== y.shape[0]) throw new RangeError(`${name}: x has ${x.shape[0]} samples but y has ${y.shape[0]}`);
    this.length = x.shape[0]!;
    if (this.length < 1) throw new RangeError(`${name}: the dataset has no samples`);
    this.xSample = x.shape.slice(1);
    this.ySample = y.shape.slice(1);
    this.spans = {
      x: { offset: h.dataStart + x.begin, perSample: (x.end - x.begin) / this.length },
      y: { offset: h.dataStart + y.begin, perSample: (y.end - y.begin) / this.length },
    };
  }

  read(start: number, count: number): { x: Float32Array; y: Float32Array } {
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 1 || start + count > this.length) {
      throw new RangeError(`${this.name}: read of samples ${start}…${start + count - 1} outside 0…${this.length - 1}`);
    }
    this.fd ??= openSync(this.name, 'r');
    const one = (k: 'x' | 'y'): Float32Array => {
      const s = this.spans[k];
      const out = new Float32Array((count * s.perSample) / 4);
      const bytes = new Uint8Array(out.buffer);
      let off = 0;
      while (off < bytes.length) {
        const r = readSync(this.fd!, bytes, off, bytes.length - off, s.offset + start * s.perSample + off);
        if (r === 0) throw new RangeError(`${this.name}: the file ended inside tensor '${k}' (truncated while being read?)`);
        off += r;
      }
      for (let i = 0; i < out.length; i++) {
        if (!Number.isFinite(out[i]!)) throw new RangeError(`${this.name}: tensor '${k}' has a non-finite value in sample ${start + Math.floor(i / (s.perSample / 4))}`);
      }
      return out;
    };
    return { x: one('x'), y: one('y') };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** JSON with sorted keys, to compare parameters whatever their order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** What makes a generation: everything of the metadata but the shard's own place. */
function generationOf(m: DatasetMeta): Record<string, string> {
  // the shard's first sample (and a worker's count) differ by shard; seed, pde and resolution are compared on their own
  const { start: _start, n: _n, seed: _seed, pde: _pde, resolution: _res, ...params } = m.params ?? {};
  return { pde: canonical(m.pde), seed: canonical(m.seed), resolution: canonical(m.resolution), total: canonical(m.shard?.total), count: canonical(m.shard?.count), params: canonical(params) };
}

/** The files of a shard-set pattern, in shard order, checked to be one complete generation. */
export function resolveShardSet(pattern: string): SafetensorsGridReader[] {
  const dir = path.dirname(pattern);
  const base = path.basename(pattern);
  if (path.dirname(pattern).includes('*')) throw new RangeError(`${pattern}: a shard-set pattern may have '*' in its file name only`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${pattern}: no such directory ${dir}`);
  const re = new RegExp(`^${base.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  const files = readdirSync(dir).filter((f) => re.test(f)).sort().map((f) => path.join(dir, f));
  if (files.length === 0) throw new Error(`${pattern}: no file matches the shard-set pattern`);
  const readers: SafetensorsGridReader[] = [];
  try {
    for (const f of files) readers.push(new SafetensorsGridReader(f));
    const byIndex = new Map<number, SafetensorsGridReader>();
    for (const r of readers) {
      const s = r.meta.shard;
      if (!s) throw new RangeError(`${pattern}: ${r.name} is not a shard (no shard metadata; shards are written by mpno generate --shard i/n)`);
      const other = byIndex.get(s.index);
      if (other) throw new RangeError(`${pattern}: shard ${s.index} of ${s.count} appears twice (${other.name} and ${r.name})`);
      byIndex.set(s.index, r);
    }
    const first = readers[0]!;
    const g0 = generationOf(first.meta);
    for (const r of readers.slice(1)) {
      const g = generationOf(r.meta);
      const diff = Object.keys(g0).filter((k) => g[k] !== g0[k]);
      if (diff.length) {
        throw new RangeError(`${pattern}: ${r.name} and ${first.name} are from different generations (${diff.map((k) => `${k}: ${g[k]} vs ${g0[k]}`).join('; ')})`);
      }
      if (r.xSample.join() !== first.xSample.join() || r.ySample.join() !== first.ySample.join()) {
        throw new RangeError(`${pattern}: ${r.name} has samples x [${r.xSample.join(', ')}], y [${r.ySample.join(', ')}]; ${first.name} has x [${first.xSample.join(', ')}], y [${first.ySample.join(', ')}]`);
      }
    }
    const { count, total } = first.meta.shard!;
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !byIndex.has(i));
    if (missing.length) throw new RangeError(`${pattern}: shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${count} missing (found ${[...byIndex.keys()].sort((a, b) => a - b).join(', ')})`);
    const ordered = Array.from({ length: count }, (_, i) => byIndex.get(i)!);
    for (const [i, r] of ordered.entries()) {
      const want = shardRange(total, i, count);
      const s = r.meta.shard!;
      if (s.start !== want.start || s.end !== want.end || r.length !== want.end - want.start) {
        throw new RangeError(`${pattern}: ${r.name} holds samples ${s.start}…${s.end - 1} (${r.length} in the file), but shard ${i} of ${count} over ${total} samples is ${want.start}…${want.end - 1}`);
      }
    }
    return ordered;
  } catch (e) {
    for (const r of readers) r.close();
    throw e;
  }
}

/** Several readers of the same sample shapes, one after another, as one. */
export class ConcatReader implements GridSampleReader {
  readonly length: number;
  readonly xSample: readonly number[];
  readonly ySample: readonly number[];
  readonly blockSamples = 1;
  private readonly starts: number[];

  constructor(readonly name: string, readonly parts: readonly GridSampleReader[]) {
    this.starts = [];
    let n = 0;
    for (const p of parts) {
      this.starts.push(n);
      n += p.length;
    }
    this.length = n;
    this.xSample = parts[0]!.xSample;
    this.ySample = parts[0]!.ySample;
  }

  read(start: number, count: number): { x: Float32Array; y: Float32Array } {
    if (count === 1 || this.parts.length === 1) {
      const k = this.partOf(start);
      if (start + count <= this.starts[k]! + this.parts[k]!.length) return this.parts[k]!.read(start - this.starts[k]!, count);
    }
    const xPer = this.xSample.reduce((a, b) => a * b, 1);
    const yPer = this.ySample.reduce((a, b) => a * b, 1);
    const x = new Float32Array(count * xPer);
    const y = new Float32Array(count * yPer);
    let i = start;
    while (i < start + count) {
      const k = this.partOf(i);
      const p = this.parts[k]!;
      const n = Math.min(start + count, this.starts[k]! + p.length) - i;
      const r = p.read(i - this.starts[k]!, n);
      x.set(r.x, (i - start) * xPer);
      y.set(r.y, (i - start) * yPer);
      i += n;
    }
    return { x, y };
  }

  private partOf(i: number): number {
    let k = this.starts.length - 1;
    while (k > 0 && this.starts[k]! > i) k--;
    return k;
  }

  close(): void {
    for (const p of this.parts) p.close();
  }
}

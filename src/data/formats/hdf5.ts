/**
 * HDF5 files (and MATLAB v7.3 .mat files, which are HDF5 files behind a 512-byte text header) read
 * through h5wasm, a WebAssembly build of the HDF5 C library. Only what the dataset readers need:
 * the file's kind from its first bytes, group members, dataset shapes and types, attributes, and
 * hyperslab reads (a start, count and stride per axis) so that a reader takes only the rows it uses.
 *
 * h5wasm starts asynchronously (it compiles its wasm module): `initHdf5()` must have resolved
 * before a file is opened; the commands that read data await it when a data source is HDF5.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** h5wasm, imported on first use: loading it instantiates its wasm module (~40 MB, ~0.3 s). */
type H5 = (typeof import('h5wasm/node'))['default'];
type H5File = InstanceType<H5['File']>;
type H5Dataset = InstanceType<H5['Dataset']>;

/** Every problem with an HDF5 or .mat file; the message names the file (and the dataset key). */
export class Hdf5Error extends Error {
  override name = 'Hdf5Error';
}

let h5wasm: H5 | undefined;
let starting: Promise<void> | undefined;

/** Loads and starts h5wasm once (idempotent); the commands call it when a data source is HDF5. */
export function initHdf5(): Promise<void> {
  starting ??= import('h5wasm/node').then(async ({ default: h5 }) => {
    const m = await h5.ready;
    // HDF5's errors become exceptions (caught and renamed below) instead of diagnostics on stderr
    m.activate_throwing_error_handler();
    h5wasm = h5;
  });
  return starting;
}

function lib(path: string): H5 {
  if (!h5wasm) throw new Hdf5Error(`${path}: the HDF5 reader is not started (await initHdf5() first)`);
  return h5wasm;
}

export type FileKind = 'hdf5' | 'matlab-v73' | 'matlab-v5' | 'other';

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The kind of a data file from its first bytes: an HDF5 file has its signature at byte 0 or after a
 * user block (512, 1024, 2048, … bytes); a MATLAB file starts with the text "MATLAB …"; a v7.3 one
 * is HDF5 behind that 512-byte header, a v5/v7 one (the default of MATLAB's save) is not HDF5.
 */
export function fileKind(path: string): FileKind {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(128);
    const n = readSync(fd, head, 0, 128, 0);
    const text = head.subarray(0, Math.min(n, 116)).toString('latin1');
    const sigAt = (pos: number): boolean => {
      const b = Buffer.alloc(8);
      return readSync(fd, b, 0, 8, pos) === 8 && HDF5_SIGNATURE.every((v, i) => b[i] === v);
    };
    let hdf5 = false;
    for (let pos = 0; pos <= 1 << 20 && !hdf5; pos = pos === 0 ? 512 : pos * 2) hdf5 = sigAt(pos);
    if (text.startsWith('MATLAB')) return hdf5 ? 'matlab-v73' : 'matlab-v5';
    return hdf5 ? 'hdf5' : 'other';
  } finally {
    closeSync(fd);
  }
}

/** The first line of HDF5's error stack that says what went wrong ("minor: …"), else the whole text. */
function hdf5Reason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const minors = [...text.matchAll(/minor: ([^\n]+)/g)].map((m) => m[1]!.trim());
  return minors.length ? minors[minors.length - 1]! : text.split('\n')[0]!;
}

/** One axis of a hyperslab: `count` elements from `start`, `stride` apart. */
export interface AxisRange {
  start: number;
  count: number;
  stride: number;
}

export interface DatasetInfo {
  /** The dataset's shape as HDF5 stores it (C order; a MATLAB array appears reversed). */
  shape: number[];
  /** 'float' or 'integer' (other HDF5 classes are refused when read). */
  kind: 'float' | 'integer' | 'other';
  /** Bytes per element. */
  size: number;
}

/** An open HDF5 file (read-only). */
export class Hdf5File {
  private readonly f: H5File;
  private readonly h5: H5;

  constructor(readonly path: string) {
    this.h5 = lib(path);
    let f: H5File;
    try {
      f = new this.h5.File(path, 'r');
    } catch (e) {
      throw new Hdf5Error(`${path}: cannot open the HDF5 file (${hdf5Reason(e)})`);
    }
    if (f.file_id < 0n) throw new Hdf5Error(`${path}: cannot open the HDF5 file`);
    this.f = f;
  }

  /** Members of a group ('' or '/' = the root), sorted by name. */
  keys(group = ''): string[] {
    const g = group === '' || group === '/' ? this.f : this.f.get(group);
    if (!(g instanceof this.h5.Group)) throw new Hdf5Error(`${this.path}: '${group}' is not a group`);
    return [...g.keys()].sort();
  }

  /** Whether `key` names a dataset, a group, or nothing. */
  typeOf(key: string): 'dataset' | 'group' | 'none' {
    let e: unknown;
    try {
      e = this.f.get(key);
    } catch {
      return 'none';
    }
    if (e instanceof this.h5.Dataset) return 'dataset';
    if (e instanceof this.h5.Group) return 'group';
    return 'none';
  }

  private dataset(key: string): H5Dataset {
    const d = this.typeOf(key) === 'dataset' ? this.f.get(key) : null;
    if (!(d instanceof this.h5.Dataset)) throw new Hdf5Error(`${this.path}: no dataset '${key}'`);
    return d;
  }

  info(key: string): DatasetInfo {
    const m = this.dataset(key).metadata;
    const kind = m.type === 0 ? 'integer' : m.type === 1 ? 'float' : 'other';
    return { shape: [...(m.shape ?? [])], kind, size: m.size };
  }

  /** A string attribute of a dataset or group (e.g. MATLAB_class), or undefined. */
  stringAttribute(key: string, name: string): string | undefined {
    const e = key === '' ? this.f : this.f.get(key);
    if (!(e instanceof this.h5.Dataset) && !(e instanceof this.h5.Group)) return undefined;
    const a = e.attrs[name];
    const v = a?.value;
    return typeof v === 'string' ? v : undefined;
  }

  /**
   * Reads a hyperslab (one range per stored axis) as float64, C order over the stored axes. Ranges
   * are checked against the shape here (HDF5 would clamp them silently).
   */
  read(key: string, ranges: readonly AxisRange[]): Float64Array {
    const d = this.dataset(key);
    const { shape, kind } = this.info(key);
    if (kind === 'other') throw new Hdf5Error(`${this.path}: dataset '${key}' holds ${d.dtype === undefined ? 'non-numeric' : JSON.stringify(d.dtype)} values; only integer and floating-point data can be read`);
    if (ranges.length !== shape.length) throw new Hdf5Error(`${this.path}: dataset '${key}' has ${shape.length} axes, the read gave ${ranges.length} ranges`);
    ranges.forEach((r, a) => {
      const last = r.start + (r.count - 1) * r.stride;
      if (r.count < 1 || r.start < 0 || r.stride < 1 || last >= shape[a]!) {
        throw new Hdf5Error(`${this.path}: dataset '${key}' axis ${a} has ${shape[a]} entries; the read asks for ${r.count} from ${r.start} every ${r.stride}`);
      }
    });
    let out: unknown;
    try {
      out = d.slice(ranges.map((r) => [r.start, r.start + (r.count - 1) * r.stride + 1, r.stride] as [number, number, number]));
    } catch (e) {
      throw new Hdf5Error(`${this.path}: cannot read dataset '${key}' (${hdf5Reason(e)})`);
    }
    const want = ranges.reduce((a, r) => a * r.count, 1);
    if (out instanceof Float64Array) return out;
    if (ArrayBuffer.isView(out) && !(out instanceof DataView) && (out as unknown as ArrayLike<unknown>).length === want) {
      const src = out as unknown as ArrayLike<number | bigint>;
      const v = new Float64Array(want);
      for (let i = 0; i < want; i++) v[i] = Number(src[i]!);
      return v;
    }
    throw new Hdf5Error(`${this.path}: dataset '${key}' (${JSON.stringify(d.dtype)}) did not read as numbers; only integer and floating-point data of 4 or 8 bytes (1, 2 for integers) can be read`);
  }

  close(): void {
    this.f.close();
  }
}

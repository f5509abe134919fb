/**
 * Reader and writer for the safetensors format (Hugging Face):
 *
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   JSON header: { "__metadata__"?: {string: string},
 *                            name: { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, ... }
 *             (the writer pads it with spaces so that the data starts at a multiple of 8)
 *   rest      the tensors' raw little-endian bytes; data_offsets are relative to this section
 *
 * The writer lays tensors out in the order of the record it is given, with the header listing them in
 * the same order (`__metadata__` first). The reader accepts any header order but insists that the
 * tensors tile the data section exactly: in range, no overlap, no gap, nothing left over.
 *
 * This module works on bytes (Node and browser); safetensors.ts adds the file functions.
 */
import { type DType, itemSize } from '../../core/dtype.js';
import type { Role } from '../../core/ledger.js';
import { fmtShape, Tensor } from '../../core/tensor.js';

/** Every problem with a safetensors file; the message names the file (and the tensor, where one is at fault). */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
  /** Names of the C64 (complex64) tensors, read as float32 with a trailing (re, im) axis of 2. */
  complex?: string[];
}

export interface SafetensorsWriteOptions {
  /**
   * Names of float32 tensors with a trailing axis of 2 (re, im) to store as complex64 (dtype C64,
   * the trailing axis dropped from the shape), as PyTorch's complex parameters are stored.
   */
  complex?: ReadonlySet<string>;
}

export interface SafetensorsReadOptions {
  /** Ledger role of the tensors read (default 'other'). */
  role?: Role;
}

const TO_CODE: Record<DType, string> = { float64: 'F64', float32: 'F32', float16: 'F16', bfloat16: 'BF16' };
const FROM_CODE: Record<string, DType> = { F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
/** Dtypes of the format that mpno tensors cannot hold. */
const OTHER_CODES = new Set([
  'BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'I32', 'U64', 'I64', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4',
]);

/** Largest header the reader accepts (the reference implementation's limit). */
export const MAX_HEADER = 100_000_000;
const METADATA_KEY = '__metadata__';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function setKey<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function bytesOf(t: Tensor): Uint8Array {
  const d = t.data; // throws for a released tensor
  return new Uint8Array(d.buffer, d.byteOffset, t.nbytes);
}

/** Encodes tensors (in the record's order) and optional string metadata into safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>, opts: SafetensorsWriteOptions = {}): Uint8Array {
  if (!LITTLE_ENDIAN_HOST) throw new SafetensorsError('safetensors: writing needs a little-endian host');
  const parts: string[] = [];
  if (metadata !== undefined) {
    const m: string[] = [];
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`safetensors: metadata '${k}' must be a string, got ${typeof v}`);
      m.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
    }
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${m.join(',')}}`);
  }
  const list = Object.entries(tensors);
  let offset = 0;
  for (const [name, t] of list) {
    if (name === METADATA_KEY) throw new SafetensorsError(`safetensors: a tensor cannot be named '${METADATA_KEY}'`);
    if (!(t instanceof Tensor)) throw new SafetensorsError(`safetensors: '${name}' is not a Tensor`);
    if (t.isReleased) throw new SafetensorsError(`safetensors: tensor '${name}' was already released`);
    const end = offset + t.nbytes;
    let code = TO_CODE[t.dtype];
    let shape = t.shape;
    if (opts.complex?.has(name)) {
      if (t.dtype !== 'float32' || t.shape[t.ndim - 1] !== 2) throw new SafetensorsError(`safetensors: '${name}' is ${t.dtype} ${fmtShape(t.shape)}; a complex64 tensor is written from float32 [..., 2] (re, im)`);
      code = 'C64';
      shape = t.shape.slice(0, -1);
    }
    parts.push(`${JSON.stringify(name)}:{"dtype":"${code}","shape":[${shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let p = 8 + headerLen;
  for (const [, t] of list) {
    out.set(bytesOf(t), p);
    p += t.nbytes;
  }
  return out;
}

function isIndex(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** A tensor's place in a safetensors file: data_offsets relative to the data section at `dataStart`. */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** In header order. */
  entries: SafetensorsEntry[];
  /** Byte offset of the data section in the file. */
  dataStart: number;
  /** Names of the C64 (complex64) entries, described as float32 with a trailing (re, im) axis of 2. */
  complex: string[];
}

/**
 * Parses and checks the header of a safetensors file of `totalLength` bytes from `bytes`, which
 * holds at least its first 8 + N bytes (all of the file, or just the header when reading by offsets).
 */
export function parseSafetensorsHeader(bytes: Uint8Array, name: string, totalLength: number = bytes.length): SafetensorsHeader {
  const fail = (msg: string): never => {
    throw new SafetensorsError(`${name}: ${msg}`);
  };
  if (!LITTLE_ENDIAN_HOST) fail('reading safetensors needs a little-endian host');
  if (totalLength < 8 || bytes.length < 8) fail(`too short for a safetensors file (${totalLength} bytes, the header length alone takes 8)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(totalLength - 8)) fail(`header length ${n64} exceeds the ${totalLength - 8} bytes after it (truncated, or not a safetensors file)`);
  const n = Number(n64);
  if (n > MAX_HEADER) fail(`header length ${n} is larger than the ${MAX_HEADER} bytes allowed`);
  if (n < 2) fail(`header length ${n} is too small for a JSON object`);
  if (bytes.length < 8 + n) fail(`only ${bytes.length} bytes given for a header of ${n} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('header does not start with a JSON object');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('header is not a JSON object');

  const dataLen = totalLength - 8 - n;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  const complex: string[] = [];
  for (const [key, raw] of Object.entries(header as Record<string, unknown>)) {
    if (key === METADATA_KEY) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`'${METADATA_KEY}' must be an object of strings`);
      for (const [mk, mv] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`metadata '${mk}' is not a string`);
        setKey(metadata, mk, mv as string);
      }
      continue;
    }
    const where = `tensor '${key}'`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail(`${where}: entry is not an object`);
    const info = raw as Record<string, unknown>;
    const code = info['dtype'];
    if (typeof code !== 'string') return fail(`${where}: missing dtype`);
    const isComplex = code === 'C64';
    const dtype = isComplex ? 'float32' : FROM_CODE[code];
    if (dtype === undefined) {
      return fail(OTHER_CODES.has(code)
        ? `${where}: dtype ${code} is not supported by mpno (supported: F64, F32, F16, BF16, C64)`
        : `${where}: unknown dtype '${code}'`);
    }
    const rawShape = info['shape'];
    if (!Array.isArray(rawShape) || !rawShape.every(isIndex)) return fail(`${where}: shape must be an array of non-negative integers`);
    // a complex64 tensor is read as float32 with a trailing (re, im) axis
    const shape = isComplex ? [...(rawShape as number[]), 2] : rawShape;
    if (isComplex) complex.push(key);
    const offs = info['data_offsets'];
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isIndex)) {
      return fail(`${where}: data_offsets must be two non-negative integers`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end) fail(`${where}: data_offsets [${begin}, ${end}] are reversed`);
    if (end > dataLen) fail(`${where}: data_offsets [${begin}, ${end}] are out of range (the data section has ${dataLen} bytes)`);
    let count = 1;
    for (const d of shape as number[]) count *= d;
    const want = count * itemSize(dtype);
    if (end - begin !== want) {
      fail(`${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ${fmtShape(shape as number[])} of ${code} needs ${want}`);
    }
    entries.push({ name: key, dtype, shape: shape as number[], begin, end });
  }

  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: SafetensorsEntry | undefined;
  for (const e of sorted) {
    if (e.begin < pos) fail(`tensor '${e.name}' [${e.begin}, ${e.end}] overlaps tensor '${prev!.name}' [${prev!.begin}, ${prev!.end}]`);
    if (e.begin > pos) {
      fail(`tensor '${e.name}' starts at ${e.begin}, leaving a gap after ${prev === undefined ? 'the header' : `tensor '${prev.name}'`} (ends at ${pos}): data is not contiguous`);
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen) fail(`${dataLen - pos} bytes of data after the last tensor (the file is not contiguous or has trailing bytes)`);

  return { metadata, entries, dataStart: 8 + n, complex };
}

/**
 * Decodes safetensors bytes into new tensors (allocated with `opts.role`). `name` (usually the path)
 * appears in errors. Tensors come back in header order.
 */
export function decodeSafetensors(bytes: Uint8Array, name: string, opts: SafetensorsReadOptions = {}): SafetensorsContents {
  const { metadata, entries, dataStart, complex } = parseSafetensorsHeader(bytes, name);
  const tensors: Record<string, Tensor> = {};
  const made: Tensor[] = [];
  try {
    const base = dataStart;
    for (const e of entries) {
      const t = Tensor.empty(e.shape, e.dtype, opts.role ?? 'other');
      made.push(t);
      bytesOf(t).set(bytes.subarray(base + e.begin, base + e.end));
      setKey(tensors, e.name, t);
    }
  } catch (err) {
    for (const t of made) t.release();
    throw err;
  }
  return complex.length ? { tensors, metadata, complex } : { tensors, metadata };
}

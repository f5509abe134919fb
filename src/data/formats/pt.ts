/**
 * Reader for PyTorch `.pt` files written by `torch.save` (the zip format, PyTorch >= 1.6).
 *
 * Layout of the archive: `<prefix>/data.pkl` (a pickle), `<prefix>/data/<key>` (raw little-endian
 * storages), optionally `<prefix>/byteorder` and `<prefix>/version`. The pickle is run by a small
 * virtual machine that knows the opcodes torch.save emits and an allow-list of globals (tensor
 * rebuilders, storage types, OrderedDict, dtypes). Nothing in the file is ever executed: any other
 * global is refused by name.
 */
import { unzipSync } from 'fflate';
import { decodeBf16, decodeF16 } from '../../core/codecs.js';
import { type DType, isHalf } from '../../core/dtype.js';
import type { Role } from '../../core/ledger.js';
import { Tensor } from '../../core/tensor.js';
import { platform } from '../../core/platform.js';

/** Element types a `.pt` storage may have (the ones this reader supports). */
export type PtDType = 'float64' | 'float32' | 'float16' | 'bfloat16' | 'bool' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8';

/** Element types of a storage: a PtDType, or complex (read as its real dtype with a trailing (re, im) axis of 2). */
type StorageDType = PtDType | 'complex64' | 'complex128';

/** Typed array of a PtTensor: raw codes (Uint16Array) for float16/bfloat16, 0/1 bytes for bool. */
export type PtArray = Float64Array | Float32Array | Uint16Array | Uint8Array | BigInt64Array | Int32Array | Int16Array | Int8Array;

/** A tensor read from a `.pt` file: contiguous row-major data in its own dtype. */
export class PtTensor {
  constructor(
    readonly dtype: PtDType,
    readonly shape: number[],
    readonly data: PtArray,
    readonly requiresGrad: boolean = false,
    /** A complex tensor: `dtype` is its real part's, and the last axis (of 2) holds (re, im). */
    readonly complex: boolean = false,
  ) {}

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }
}

/**
 * A reference to a function or class the pickle names (e.g. `torch.nn.functional.gelu`, a model's
 * constructor argument): only names the caller allow-lists (`allowRefs`) come back, as names;
 * nothing is imported or called.
 */
export class PtRef {
  constructor(readonly module: string, readonly name: string) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Options of parsePt / readPt. */
export interface PtReadOptions {
  /** Qualified names of functions and classes the pickle may name as plain values (they become PtRef). */
  allowRefs?: ReadonlySet<string>;
}

/** A dict of the pickle (keys are strings; int keys are written in decimal). */
export interface PtDict {
  [key: string]: PtValue;
}

/**
 * A value of the pickled tree: Python None/bool/int/float/str/bytes, tensors, lists and tuples (both
 * as arrays), dicts and OrderedDicts (as plain objects). Ints beyond 2^53 come back as bigint;
 * torch dtype objects as strings such as 'torch.float32'; allow-listed functions and classes as PtRef.
 */
export type PtValue = null | boolean | number | bigint | string | Uint8Array | PtTensor | PtRef | PtValue[] | PtDict;

/** Every problem with a `.pt` file; the message names the file. */
export class PtError extends Error {
  override name = 'PtError';
}

// ---------------------------------------------------------------------------------------------
// dtypes

const STORAGE_TYPES: Record<string, StorageDType> = {
  DoubleStorage: 'float64',
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  BoolStorage: 'bool',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
};

/** torch dtype objects (`torch.float32`, ...) and their canonical names. */
const TORCH_DTYPES: Record<string, string> = {
  float64: 'float64', double: 'float64',
  float32: 'float32', float: 'float32',
  complex64: 'complex64', cfloat: 'complex64',
  complex128: 'complex128', cdouble: 'complex128',
  float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16',
  bool: 'bool',
  int64: 'int64', long: 'int64',
  int32: 'int32', int: 'int32',
  int16: 'int16', short: 'int16',
  int8: 'int8',
  uint8: 'uint8',
};

const ITEM_SIZE: Record<StorageDType, number> = {
  float64: 8, float32: 4, float16: 2, bfloat16: 2, bool: 1, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, complex64: 8, complex128: 16,
};

/** A typed array of `dtype` over `length` elements of `buffer` from byte 0 (the buffer is aligned). */
function typedView(dtype: PtDType, buffer: ArrayBuffer, length: number): PtArray {
  switch (dtype) {
    case 'float64': return new Float64Array(buffer, 0, length);
    case 'float32': return new Float32Array(buffer, 0, length);
    case 'float16':
    case 'bfloat16': return new Uint16Array(buffer, 0, length);
    case 'bool':
    case 'uint8': return new Uint8Array(buffer, 0, length);
    case 'int64': return new BigInt64Array(buffer, 0, length);
    case 'int32': return new Int32Array(buffer, 0, length);
    case 'int16': return new Int16Array(buffer, 0, length);
    case 'int8': return new Int8Array(buffer, 0, length);
  }
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// pickle machine

/** A global the pickle referred to (only allow-listed ones are ever created). */
class PickleGlobal {
  constructor(readonly module: string, readonly name: string, readonly storage?: StorageDType) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage named by a persistent id: its bytes are fetched from the archive after the pickle ran. */
class StorageRef {
  uses = 0;
  constructor(readonly key: string, readonly dtype: StorageDType, readonly numel: number) {}
}

/** A tensor whose data is materialised once the storages are read. */
class PendingTensor {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}
}

/** Names of pickle opcodes this machine does not run (for the error message). */
const UNSUPPORTED_OPS: Record<number, string> = {
  0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT', 0x4c: 'LONG', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x67: 'GET', 0x69: 'INST', 0x6f: 'OBJ', 0x70: 'PUT', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4',
  0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return `a sequence of ${v.length}`;
  if (v instanceof PickleGlobal) return `global ${v.qualified}`;
  if (v instanceof PtRef) return `${v.qualified} (a name only)`;
  if (v instanceof StorageRef) return 'a storage';
  if (v instanceof PendingTensor) return 'a tensor';
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return 'a dict';
  return `${typeof v} ${String(v)}`;
}

/** Sets an own, enumerable property (also for keys like '__proto__'). */
function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Runs the pickle in `bytes`; `persistentLoad` resolves persistent ids. `where` names it in errors. */
class Unpickler {
  private pos = 0;
  private stack: unknown[] = [];
  private marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly dicts = new WeakSet<object>();
  private readonly view: DataView;
  private opStart = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly where: string,
    private readonly persistentLoad: (pid: unknown) => unknown,
    private readonly allowRefs: ReadonlySet<string> = new Set(),
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(msg: string): never {
    throw new PtError(`${this.where}: ${msg} (pickle offset ${this.opStart})`);
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.bytes.length) {
      throw new PtError(`${this.where}: pickle is truncated (needs ${n} more bytes at offset ${this.pos}, has ${this.bytes.length - this.pos})`);
    }
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }

  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  private u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`length ${v} is too large`);
    return Number(v);
  }

  private take(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw new PtError(`${this.where}: pickle is truncated (unterminated line at offset ${this.pos})`);
    const s = latin1.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  private pop(): unknown {
    if (this.stack.length === 0 || (this.marks.length > 0 && this.stack.length <= this.marks[this.marks.length - 1]!)) {
      this.fail('malformed pickle: stack underflow');
    }
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail('malformed pickle: stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail('malformed pickle: no MARK on the stack');
    return this.stack.splice(m);
  }

  private newDict(): Record<string, unknown> {
    const d: Record<string, unknown> = {};
    this.dicts.add(d);
    return d;
  }

  private dictKey(k: unknown): string {
    if (typeof k === 'string') return k;
    if (typeof k === 'number' || typeof k === 'bigint') return String(k);
    return this.fail(`unsupported dict key (${describe(k)})`);
  }

  private setItems(target: unknown, kv: unknown[]): void {
    if (typeof target !== 'object' || target === null || !this.dicts.has(target)) this.fail(`SETITEM(S) on ${describe(target)}`);
    if (kv.length % 2 !== 0) this.fail('malformed pickle: SETITEMS with an odd number of items');
    const d = target as Record<string, unknown>;
    for (let i = 0; i < kv.length; i += 2) setKey(d, this.dictKey(kv[i]), kv[i + 1]);
  }

  private append(target: unknown, items: unknown[]): void {
    if (!Array.isArray(target)) this.fail(`APPEND(S) on ${describe(target)}`);
    for (const it of items) target.push(it);
  }

  private global(module: string, name: string): PickleGlobal {
    const q = `${module}.${name}`;
    if (module === 'torch._utils' && (name === '_rebuild_tensor_v2' || name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state')) {
      return new PickleGlobal(module, name);
    }
    if (module === 'collections' && name === 'OrderedDict') return new PickleGlobal(module, name);
    if (module === 'torch') {
      const st = STORAGE_TYPES[name];
      if (st !== undefined) return new PickleGlobal(module, name, st);
      if (name === 'Size' || Object.hasOwn(TORCH_DTYPES, name)) return new PickleGlobal(module, name);
      if (name.endsWith('Storage')) this.fail(`unsupported storage type '${q}'`);
    }
    if (module === 'torch.storage' && name === 'UntypedStorage') return new PickleGlobal(module, name, 'uint8');
    if (this.allowRefs.has(q)) return new PickleGlobal(module, name);
    return this.fail(`pickle refers to global '${q}', which is not allowed (only tensors, storages, containers and plain values can be loaded; nothing is executed)`);
  }

  /** Value of a global used as a plain value (torch dtypes). */
  private globalValue(g: PickleGlobal): unknown {
    if (g.module === 'torch' && Object.hasOwn(TORCH_DTYPES, g.name)) return `torch.${TORCH_DTYPES[g.name]}`;
    if (this.allowRefs.has(g.qualified)) return new PtRef(g.module, g.name);
    return g;
  }

  private call(fn: unknown, args: unknown, how: string): unknown {
    if (!(fn instanceof PickleGlobal)) return this.fail(`${how} of ${describe(fn)}, which is not callable`);
    if (!Array.isArray(args)) return this.fail(`${how} of ${fn.qualified} with arguments that are not a tuple`);
    switch (fn.qualified) {
      case 'torch._utils._rebuild_tensor_v2': return this.rebuildTensor(args);
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        const data = args[0];
        if (!(data instanceof PendingTensor)) return this.fail(`${fn.qualified}: first argument is ${describe(data)}, not a tensor`);
        data.storage.uses++;
        return new PendingTensor(data.storage, data.offset, data.shape, data.stride, args[1] === true);
      }
      case 'collections.OrderedDict': {
        const d = this.newDict();
        if (args.length === 0) return d;
        const items = args[0];
        if (args.length > 1 || !Array.isArray(items)) return this.fail('collections.OrderedDict: expected no argument or a list of pairs');
        for (const kv of items) {
          if (!Array.isArray(kv) || kv.length !== 2) this.fail('collections.OrderedDict: expected a list of pairs');
          setKey(d, this.dictKey(kv[0]), kv[1]);
        }
        return d;
      }
      case 'torch.Size': {
        const dims = args[0];
        if (args.length > 1 || (args.length === 1 && !Array.isArray(dims))) return this.fail('torch.Size: expected a tuple of ints');
        return args.length === 0 ? [] : [...(dims as unknown[])];
      }
      default:
        return this.fail(`${how} of ${fn.qualified}, which cannot be called`);
    }
  }

  private intArray(v: unknown, what: string): number[] {
    if (!Array.isArray(v) || v.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
      this.fail(`_rebuild_tensor_v2: ${what} must be a tuple of non-negative integers, got ${describe(v)}`);
    }
    return v as number[];
  }

  private rebuildTensor(args: unknown[]): PendingTensor {
    if (args.length < 4) this.fail(`_rebuild_tensor_v2: expected at least 4 arguments, got ${args.length}`);
    const [storage, offset, size, stride, requiresGrad] = args;
    if (!(storage instanceof StorageRef)) return this.fail(`_rebuild_tensor_v2: first argument is ${describe(storage)}, not a storage`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      return this.fail(`_rebuild_tensor_v2: storage offset must be a non-negative integer, got ${describe(offset)}`);
    }
    const shape = this.intArray(size, 'size');
    const strides = this.intArray(stride, 'stride');
    if (shape.length !== strides.length) this.fail(`_rebuild_tensor_v2: size has ${shape.length} dims but stride has ${strides.length}`);
    storage.uses++;
    return new PendingTensor(storage, offset, [...shape], [...strides], requiresGrad === true);
  }

  private str(n: number): string {
    return utf8.decode(this.take(n));
  }

  private long(n: number): number | bigint {
    const b = this.take(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  run(): unknown {
    const s = this.stack;
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= this.bytes.length) throw new PtError(`${this.where}: pickle is truncated (no STOP opcode)`);
      const op = this.bytes[this.pos++]!;
      switch (op) {
        case 0x80: { // PROTO
          const p = this.u8();
          if (p > 5) this.fail(`unsupported pickle protocol ${p}`);
          break;
        }
        case 0x95: this.u64(); break; // FRAME: a length hint only
        case 0x7d: s.push(this.newDict()); break; // EMPTY_DICT
        case 0x5d: s.push([]); break; // EMPTY_LIST
        case 0x29: s.push([]); break; // EMPTY_TUPLE
        case 0x28: this.marks.push(s.length); break; // MARK
        case 0x74: s.push(this.popMark()); break; // TUPLE
        case 0x85: s.push([this.pop()]); break; // TUPLE1
        case 0x86: { const b = this.pop(); const a = this.pop(); s.push([a, b]); break; } // TUPLE2
        case 0x87: { const c = this.pop(); const b = this.pop(); const a = this.pop(); s.push([a, b, c]); break; } // TUPLE3
        case 0x6c: s.push(this.popMark()); break; // LIST
        case 0x64: { const items = this.popMark(); const d = this.newDict(); this.setItems(d, items); s.push(d); break; } // DICT
        case 0x61: { const v = this.pop(); this.append(this.top(), [v]); break; } // APPEND
        case 0x65: { const items = this.popMark(); this.append(this.top(), items); break; } // APPENDS
        case 0x73: { const v = this.pop(); const k = this.pop(); this.setItems(this.top(), [k, v]); break; } // SETITEM
        case 0x75: { const items = this.popMark(); this.setItems(this.top(), items); break; } // SETITEMS
        case 0x71: this.memo.set(this.u8(), this.top()); break; // BINPUT
        case 0x72: this.memo.set(this.u32(), this.top()); break; // LONG_BINPUT
        case 0x94: this.memo.set(this.memo.size, this.top()); break; // MEMOIZE
        case 0x68: case 0x6a: { // BINGET, LONG_BINGET
          const i = op === 0x68 ? this.u8() : this.u32();
          if (!this.memo.has(i)) this.fail(`malformed pickle: memo entry ${i} is not set`);
          s.push(this.memo.get(i));
          break;
        }
        case 0x4a: { this.need(4); s.push(this.view.getInt32(this.pos, true)); this.pos += 4; break; } // BININT
        case 0x4b: s.push(this.u8()); break; // BININT1
        case 0x4d: s.push(this.u16()); break; // BININT2
        case 0x8a: s.push(this.long(this.u8())); break; // LONG1
        case 0x8b: s.push(this.long(this.u32())); break; // LONG4
        case 0x47: { this.need(8); s.push(this.view.getFloat64(this.pos, false)); this.pos += 8; break; } // BINFLOAT
        case 0x58: s.push(this.str(this.u32())); break; // BINUNICODE
        case 0x8c: s.push(this.str(this.u8())); break; // SHORT_BINUNICODE
        case 0x8d: s.push(this.str(this.u64())); break; // BINUNICODE8
        case 0x42: s.push(this.take(this.u32()).slice()); break; // BINBYTES
        case 0x43: s.push(this.take(this.u8()).slice()); break; // SHORT_BINBYTES
        case 0x8e: s.push(this.take(this.u64()).slice()); break; // BINBYTES8
        case 0x4e: s.push(null); break; // NONE
        case 0x88: s.push(true); break; // NEWTRUE
        case 0x89: s.push(false); break; // NEWFALSE
        case 0x63: { const m = this.line(); const n = this.line(); s.push(this.globalValue(this.global(m, n))); break; } // GLOBAL
        case 0x93: { // STACK_GLOBAL
          const n = this.pop();
          const m = this.pop();
          if (typeof m !== 'string' || typeof n !== 'string') this.fail('malformed pickle: STACK_GLOBAL needs two strings');
          s.push(this.globalValue(this.global(m, n)));
          break;
        }
        case 0x52: { const args = this.pop(); const fn = this.pop(); s.push(this.call(fn, args, 'REDUCE')); break; } // REDUCE
        case 0x81: { const args = this.pop(); const cls = this.pop(); s.push(this.call(cls, args, 'NEWOBJ')); break; } // NEWOBJ
        case 0x62: { // BUILD: state for a dict (OrderedDict._metadata) or a tensor is dropped
          const state = this.pop();
          const obj = this.top();
          const isDict = typeof obj === 'object' && obj !== null && this.dicts.has(obj);
          if (!isDict && !(obj instanceof PendingTensor)) this.fail(`BUILD on ${describe(obj)}`);
          void state;
          break;
        }
        case 0x51: s.push(this.persistentLoad(this.pop())); break; // BINPERSID
        case 0x50: s.push(this.persistentLoad(this.line())); break; // PERSID
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x2e: { // STOP
          const v = this.pop();
          return v;
        }
        default: {
          const ch = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
          const known = UNSUPPORTED_OPS[op];
          this.fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${ch}${known ? ` (${known})` : ''}`);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// tensors

/**
 * Copies the elements at offset + Σ idx·stride of `src` (bytes, aligned to the element size) into
 * `out` in row-major order. Elements move as 1/2/4-byte words (8-byte ones as two words), so the bits
 * (NaN payloads included) are kept.
 */
function gather(src: Uint8Array, out: PtArray, offset: number, shape: number[], stride: number[]): void {
  const item = out.BYTES_PER_ELEMENT;
  const word = Math.min(item, 4);
  const w = item / word; // words per element (2 for 8-byte elements)
  const n = out.length;
  const s = word === 1 ? src : word === 2 ? new Uint16Array(src.buffer, src.byteOffset, src.length >> 1) : new Uint32Array(src.buffer, src.byteOffset, src.length >> 2);
  const o = word === 1 ? new Uint8Array(out.buffer, out.byteOffset, n) : word === 2 ? new Uint16Array(out.buffer, out.byteOffset, n) : new Uint32Array(out.buffer, out.byteOffset, n * w);
  const nd = shape.length;
  if (nd === 0) {
    for (let k = 0; k < w; k++) o[k] = s[offset * w + k]!;
    return;
  }
  const inner = shape[nd - 1]!;
  const sIn = stride[nd - 1]!;
  const idx = new Array<number>(nd).fill(0);
  let base = offset;
  let p = 0;
  while (p < n) {
    if (w === 1) {
      for (let k = 0, q = base; k < inner; k++, q += sIn) o[p++] = s[q]!;
    } else {
      for (let k = 0, q = base * w; k < inner; k++, q += sIn * w) {
        for (let j = 0; j < w; j++) o[p * w + j] = s[q + j]!;
        p++;
      }
    }
    let d = nd - 2;
    for (; d >= 0; d--) {
      idx[d]!++;
      base += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      base -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d]! !== 1 && stride[d]! !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

function materialise(pending: PendingTensor, storage: Uint8Array, entry: string, file: string): PtTensor {
  const sd = pending.storage.dtype;
  // a complex tensor is read as its real dtype with a trailing (re, im) axis: strides in real elements
  const complex = sd === 'complex64' || sd === 'complex128';
  const dtype: PtDType = sd === 'complex64' ? 'float32' : sd === 'complex128' ? 'float64' : sd;
  const t = complex
    ? { storage: pending.storage, offset: 2 * pending.offset, shape: [...pending.shape, 2], stride: [...pending.stride.map((s) => 2 * s), 1], requiresGrad: pending.requiresGrad }
    : pending;
  const item = ITEM_SIZE[dtype];
  const avail = Math.floor(storage.length / item);
  let n = 1;
  for (const d of t.shape) n *= d;
  if (!Number.isSafeInteger(n)) throw new PtError(`${file}: tensor of size [${t.shape.join(', ')}] is too large`);
  const dims = `size [${t.shape.join(', ')}], stride [${t.stride.join(', ')}], offset ${t.offset}`;
  if (n > 0) {
    let last = t.offset;
    for (let d = 0; d < t.shape.length; d++) last += (t.shape[d]! - 1) * t.stride[d]!;
    if (last >= avail) {
      throw new PtError(`${file}: storage '${entry}' is too small for a tensor with ${dims}: needs ${last + 1} ${dtype} elements, has ${avail}`);
    }
  }
  // One user, whole storage, contiguous: take the entry's own (freshly copied, aligned) buffer.
  if (t.storage.uses === 1 && t.offset === 0 && n === avail && storage.byteOffset === 0 && isContiguous(t.shape, t.stride)) {
    return new PtTensor(dtype, t.shape, typedView(dtype, storage.buffer as ArrayBuffer, n), t.requiresGrad, complex);
  }
  let out: PtArray;
  try {
    out = typedView(dtype, new ArrayBuffer(n * item), n);
  } catch (e) {
    throw new PtError(`${file}: cannot allocate a tensor with ${dims} (${n} elements): ${(e as Error).message}`);
  }
  if (n > 0) {
    if (isContiguous(t.shape, t.stride)) {
      new Uint8Array(out.buffer).set(storage.subarray(t.offset * item, (t.offset + n) * item));
    } else {
      const aligned = storage.byteOffset % item === 0 ? storage : storage.slice();
      gather(aligned.subarray(0, avail * item), out, t.offset, t.shape, t.stride);
    }
  }
  return new PtTensor(dtype, t.shape, out, t.requiresGrad, complex);
}

// ---------------------------------------------------------------------------------------------
// archive

interface EntryInfo {
  size: number;
}

/** Unzips the entries accepted by `want`, checking each against its recorded size. */
function unzipSome(bytes: Uint8Array, file: string, want: (name: string) => boolean, infos?: Map<string, EntryInfo>): Record<string, Uint8Array> {
  let files: Record<string, Uint8Array>;
  const sizes = new Map<string, number>();
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        infos?.set(f.name, { size: f.originalSize });
        if (!want(f.name)) return false;
        sizes.set(f.name, f.originalSize);
        return true;
      },
    });
  } catch (e) {
    throw new PtError(`${file}: truncated or corrupt zip archive (${(e as Error).message})`);
  }
  for (const [name, size] of sizes) {
    const got = files[name]?.length;
    if (got !== size) throw new PtError(`${file}: zip entry '${name}' is truncated or corrupt (${got ?? 0} bytes, ${size} expected)`);
  }
  return files;
}

/**
 * Parses the bytes of a `.pt` file (torch.save zip format). `name` (usually the path) appears in
 * errors. Tensors come back as PtTensor with contiguous data; see PtValue for the other values.
 */
export function parsePt(bytes: Uint8Array, name: string, opts: PtReadOptions = {}): PtValue {
  if (!LITTLE_ENDIAN_HOST) throw new PtError(`${name}: reading .pt files needs a little-endian host`);
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) {
      throw new PtError(`${name}: legacy (non-zip) torch.save format is not supported; re-save with a PyTorch >= 1.6 default torch.save`);
    }
    throw new PtError(`${name}: not a zip archive, so not a .pt file written by torch.save`);
  }
  const infos = new Map<string, EntryInfo>();
  const meta = unzipSome(bytes, name, (n) => /^[^/]+\/(data\.pkl|byteorder)$/.test(n), infos);
  const pklName = Object.keys(meta).filter((n) => n.endsWith('/data.pkl')).sort()[0];
  if (pklName === undefined) throw new PtError(`${name}: missing data.pkl: a zip archive but not a .pt file written by torch.save`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const byteorder = meta[`${prefix}byteorder`];
  if (byteorder !== undefined) {
    const order = latin1.decode(byteorder).trim();
    if (order === 'big') throw new PtError(`${name}: big-endian .pt files are not supported (byteorder 'big')`);
    if (order !== 'little') throw new PtError(`${name}: unknown byteorder '${order}'`);
  }

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
      throw new PtError(`${name}: unsupported persistent id ${describe(pid)} in ${pklName}`);
    }
    const [, type, key, , numel] = pid as unknown[];
    if (!(type instanceof PickleGlobal) || type.storage === undefined) {
      throw new PtError(`${name}: unsupported storage type (${describe(type)}) in ${pklName}`);
    }
    if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
      throw new PtError(`${name}: malformed storage id in ${pklName}`);
    }
    const known = storages.get(key);
    if (known !== undefined) {
      if (known.dtype !== type.storage) throw new PtError(`${name}: storage '${key}' is used as ${known.dtype} and as ${type.storage}`);
      return known;
    }
    const ref = new StorageRef(key, type.storage, numel);
    storages.set(key, ref);
    return ref;
  };
  const root = new Unpickler(meta[pklName]!, `${name}: ${pklName}`, persistentLoad, opts.allowRefs).run();

  // Fetch the storages the tensors use.
  const entryOf = (key: string): string => `${prefix}data/${key}`;
  for (const key of storages.keys()) {
    if (!infos.has(entryOf(key))) throw new PtError(`${name}: missing storage entry '${entryOf(key)}' (referenced by ${pklName})`);
  }
  const used = new Set([...storages.values()].filter((r) => r.uses > 0).map((r) => entryOf(r.key)));
  const data = used.size === 0 ? {} : unzipSome(bytes, name, (n) => used.has(n));
  for (const ref of storages.values()) {
    const e = data[entryOf(ref.key)];
    if (e === undefined || ref.uses === 0) continue;
    const need = ref.numel * ITEM_SIZE[ref.dtype];
    if (e.length < need) {
      throw new PtError(`${name}: storage entry '${entryOf(ref.key)}' has ${e.length} bytes, ${need} expected for ${ref.numel} ${ref.dtype} elements`);
    }
  }

  // Replace pending tensors by PtTensors; refuse any internal object left in the tree.
  const done = new Map<PendingTensor, PtTensor>();
  const seen = new Set<object>();
  const resolve = (v: unknown): unknown => {
    if (v instanceof PendingTensor) {
      let t = done.get(v);
      if (t === undefined) {
        t = materialise(v, data[entryOf(v.storage.key)]!, entryOf(v.storage.key), name);
        done.set(v, t);
      }
      return t;
    }
    if (v instanceof PickleGlobal) {
      if (opts.allowRefs?.has(v.qualified)) return new PtRef(v.module, v.name);
      throw new PtError(`${name}: ${pklName} holds ${v.qualified} as a value, which is not supported`);
    }
    if (v instanceof StorageRef) throw new PtError(`${name}: ${pklName} holds a bare storage, which is not supported (only tensors)`);
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || v instanceof PtRef || seen.has(v)) return v;
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = resolve(v[i]);
    } else {
      const d = v as Record<string, unknown>;
      for (const k of Object.keys(d)) d[k] = resolve(d[k]);
    }
    return v;
  };
  return resolve(root) as PtValue;
}

/** Reads a `.pt` file written by torch.save (zip format). */
export function readPt(path: string, opts: PtReadOptions = {}): PtValue {
  return parsePt(platform.readFile(path), path, opts);
}

/** True for a PtTensor (as opposed to the other values of the tree). */
export function isPtTensor(v: unknown): v is PtTensor {
  return v instanceof PtTensor;
}

/**
 * Converts a PtTensor to an mpno Tensor of `dtype` (default float32). bool becomes 0/1 and integers
 * become numbers (int64 beyond 2^53 first rounds to a double). float16/bfloat16 codes are copied as
 * they are when the target dtype is the same; otherwise every value is decoded exactly and rounded
 * once to the target dtype.
 */
export function ptToTensor(t: PtTensor, dtype: DType = 'float32', role: Role = 'other'): Tensor {
  const out = Tensor.empty(t.shape, dtype, role);
  try {
    const n = t.size;
    const dst = out.data;
    if (isHalf(dtype) && t.dtype === dtype) {
      dst.set(t.data as Uint16Array);
      return out;
    }
    let values: ArrayLike<number>;
    switch (t.dtype) {
      case 'float16': values = decodeF16(t.data as Uint16Array, new Float64Array(n)); break;
      case 'bfloat16': values = decodeBf16(t.data as Uint16Array, new Float64Array(n)); break;
      case 'int64': {
        const src = t.data as BigInt64Array;
        const v = new Float64Array(n);
        for (let i = 0; i < n; i++) v[i] = Number(src[i]!);
        values = v;
        break;
      }
      case 'bool': {
        const src = t.data as Uint8Array;
        const v = new Uint8Array(n);
        for (let i = 0; i < n; i++) v[i] = src[i]! !== 0 ? 1 : 0;
        values = v;
        break;
      }
      default: values = t.data as Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array;
    }
    out.set(values);
    return out;
  } catch (e) {
    out.release();
    throw e;
  }
}

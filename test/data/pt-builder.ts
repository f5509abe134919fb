/**
 * Test helpers: a pickle writer that emits the opcodes torch.save uses (written from the pickle
 * protocol description, independently of the reader), and a builder of `.pt`-like zip archives.
 */
import { zipSync } from 'fflate';

export const OP = {
  PROTO: 0x80, FRAME: 0x95, EMPTY_DICT: 0x7d, EMPTY_LIST: 0x5d, EMPTY_TUPLE: 0x29, MARK: 0x28, TUPLE: 0x74,
  TUPLE1: 0x85, TUPLE2: 0x86, TUPLE3: 0x87, LIST: 0x6c, DICT: 0x64, APPEND: 0x61, APPENDS: 0x65, SETITEM: 0x73,
  SETITEMS: 0x75, BINPUT: 0x71, LONG_BINPUT: 0x72, MEMOIZE: 0x94, BINGET: 0x68, LONG_BINGET: 0x6a, BININT: 0x4a,
  BININT1: 0x4b, BININT2: 0x4d, LONG1: 0x8a, BINFLOAT: 0x47, BINUNICODE: 0x58, SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d, BINBYTES: 0x42, SHORT_BINBYTES: 0x43, NONE: 0x4e, NEWTRUE: 0x88, NEWFALSE: 0x89, GLOBAL: 0x63,
  STACK_GLOBAL: 0x93, REDUCE: 0x52, BUILD: 0x62, BINPERSID: 0x51, PERSID: 0x50, NEWOBJ: 0x81, STOP: 0x2e,
} as const;

const enc = new TextEncoder();

function le(n: number, bytes: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(bytes * 8, BigInt(n));
  for (let i = 0; i < bytes; i++) {
    out.push(Number(v & 0xffn));
    v >>= 8n;
  }
  return out;
}

/** Builds a pickle opcode by opcode. Each method returns `this`. */
export class PickleWriter {
  private readonly out: number[] = [];

  raw(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }

  op(code: number): this {
    return this.raw(code);
  }

  proto(v = 2): this {
    return this.raw(OP.PROTO, v);
  }

  frame(len: number): this {
    return this.raw(OP.FRAME, ...le(len, 8));
  }

  mark(): this {
    return this.op(OP.MARK);
  }

  /** BINUNICODE (the form torch.save's protocol 2 pickles use). */
  str(s: string): this {
    const b = enc.encode(s);
    return this.raw(OP.BINUNICODE, ...le(b.length, 4), ...b);
  }

  shortStr(s: string): this {
    const b = enc.encode(s);
    return this.raw(OP.SHORT_BINUNICODE, b.length, ...b);
  }

  str8(s: string): this {
    const b = enc.encode(s);
    return this.raw(OP.BINUNICODE8, ...le(b.length, 8), ...b);
  }

  bytes(b: number[]): this {
    return b.length < 256 ? this.raw(OP.SHORT_BINBYTES, b.length, ...b) : this.raw(OP.BINBYTES, ...le(b.length, 4), ...b);
  }

  longBytes(b: number[]): this {
    return this.raw(OP.BINBYTES, ...le(b.length, 4), ...b);
  }

  /** The smallest int opcode Python's pickler would pick. */
  int(n: number | bigint): this {
    if (typeof n === 'number' && Number.isInteger(n)) {
      if (n >= 0 && n < 256) return this.raw(OP.BININT1, n);
      if (n >= 0 && n < 65536) return this.raw(OP.BININT2, ...le(n, 2));
      if (n >= -(2 ** 31) && n < 2 ** 31) return this.raw(OP.BININT, ...le(n, 4));
    }
    // LONG1: minimal two's complement, little-endian
    let v = BigInt(n);
    const b: number[] = [];
    for (;;) {
      b.push(Number(v & 0xffn));
      v >>= 8n;
      const top = b[b.length - 1]! & 0x80;
      if ((v === 0n && !top) || (v === -1n && top)) break;
    }
    return this.raw(OP.LONG1, b.length, ...b);
  }

  float(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return this.raw(OP.BINFLOAT, ...b);
  }

  none(): this {
    return this.op(OP.NONE);
  }

  bool(b: boolean): this {
    return this.op(b ? OP.NEWTRUE : OP.NEWFALSE);
  }

  global(module: string, name: string): this {
    return this.raw(OP.GLOBAL, ...enc.encode(`${module}\n${name}\n`));
  }

  put(i: number): this {
    return i < 256 ? this.raw(OP.BINPUT, i) : this.raw(OP.LONG_BINPUT, ...le(i, 4));
  }

  get(i: number): this {
    return i < 256 ? this.raw(OP.BINGET, i) : this.raw(OP.LONG_BINGET, ...le(i, 4));
  }

  intTuple(xs: number[]): this {
    if (xs.length === 0) return this.op(OP.EMPTY_TUPLE);
    if (xs.length <= 3) {
      for (const x of xs) this.int(x);
      return this.op([OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][xs.length - 1]!);
    }
    this.mark();
    for (const x of xs) this.int(x);
    return this.op(OP.TUPLE);
  }

  /**
   * A tensor the way torch.save pickles one: _rebuild_tensor_v2((persistent storage id), offset,
   * size, stride, requires_grad, OrderedDict()).
   */
  tensor(storage: string, key: string, numel: number, offset: number, size: number[], stride: number[], requiresGrad = false): this {
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.mark();
    this.mark().str('storage').global('torch', storage).str(key).str('cpu').int(numel).op(OP.TUPLE).op(OP.BINPERSID);
    this.int(offset).intTuple(size).intTuple(stride).bool(requiresGrad);
    this.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
    return this.op(OP.TUPLE).op(OP.REDUCE);
  }

  stop(): this {
    return this.op(OP.STOP);
  }

  build(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

export interface PtZipOptions {
  prefix?: string;
  byteorder?: string | null;
  version?: string | null;
}

/** A torch.save-style zip (stored entries): `<prefix>/data.pkl`, `<prefix>/data/<key>`, byteorder, version. */
export function makePtZip(pickle: Uint8Array | null, storages: Record<string, Uint8Array>, opts: PtZipOptions = {}): Uint8Array {
  const prefix = opts.prefix ?? 'archive';
  const files: Record<string, Uint8Array> = {};
  if (pickle !== null) files[`${prefix}/data.pkl`] = pickle;
  const byteorder = opts.byteorder === undefined ? 'little' : opts.byteorder;
  if (byteorder !== null) files[`${prefix}/byteorder`] = enc.encode(byteorder);
  for (const [k, v] of Object.entries(storages)) files[`${prefix}/data/${k}`] = v;
  const version = opts.version === undefined ? '3\n' : opts.version;
  if (version !== null) files[`${prefix}/version`] = enc.encode(version);
  return zipSync(files, { level: 0 });
}

/** Little-endian bytes of a typed array. */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

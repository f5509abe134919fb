// Tests of the float16 / bfloat16 codecs: the JS path (src/core/codecs.ts) and the wasm path
// (src/kernels/convert.ts over src/kernels/wasm/common.ts), against the @petamoriken/float16 oracle and
// an exact round-to-nearest-even oracle written here from first principles.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import {
  bf16BitsToNumber,
  f16BitsToNumber,
  f32ToBf16Bits,
  f32ToF16Bits,
  f64ToBf16Bits,
  f64ToF16Bits,
} from '../../src/core/codecs.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { convert } from '../../src/kernels/convert.js';
import { pool } from '../../src/kernels/pool.js';

type KDT = 'float32' | 'float16' | 'bfloat16';
type Bits = Uint16Array | Uint32Array;

// ---------------------------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------------------------

const dv = new DataView(new ArrayBuffer(8));

/** @petamoriken/float16: the float16 code of a number (written with setFloat16, read back as bits). */
function oracleF16(x: number): number {
  setFloat16(dv, 0, x);
  return dv.getUint16(0);
}

/** @petamoriken/float16: the value of a float16 code. */
function oracleF16Value(h: number): number {
  dv.setUint16(0, h);
  return getFloat16(dv, 0);
}

/** The float32 whose top 16 bits are the bfloat16 code (built independently through a DataView). */
function bf16ValueFromBits(h: number): number {
  dv.setUint32(0, h << 16);
  return dv.getFloat32(0);
}

function f32FromBits(b: number): number {
  dv.setUint32(0, b);
  return dv.getFloat32(0);
}

function f32Bits(x: number): number {
  dv.setFloat32(0, x);
  return dv.getUint32(0);
}

/** |x| = m * 2^e exactly, with m an integer below 2^53 (x finite and nonzero). */
function decompose(x: number): [number, number] {
  dv.setFloat64(0, Math.abs(x));
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const E = (hi >>> 20) & 0x7ff;
  const frac = (hi & 0xfffff) * 2 ** 32 + lo; // < 2^52: exact
  return E === 0 ? [frac, -1074] : [frac + 2 ** 52, E - 1075];
}

/** floor(log2(m)) for an integer 1 <= m < 2^53, exactly. */
function bitLength1(m: number): number {
  const hi = Math.floor(m / 2 ** 32);
  return hi > 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(m >>> 0);
}

/**
 * Exact round-to-nearest-even of any float64 to a 16-bit binary format with `t` fraction bits and
 * exponent bias `bias` (float16: 10, 15; bfloat16: 7, 127); returns the code. Works on the integer
 * significand m and exponent e of x (|x| = m·2^e) with integer arithmetic below 2^53 only, so every
 * step is exact. NaN returns -1 (callers check NaN separately).
 */
function exactEncode(x: number, t: number, bias: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const w = 15 - t; // exponent bits
  const expMask = ((1 << w) - 1) << t;
  if (!Number.isFinite(x)) return sign | expMask;
  if (x === 0) return sign;
  const [m, e] = decompose(x);
  const e2 = e + bitLength1(m); // floor(log2 |x|)
  const emin = 1 - bias;
  let q = Math.max(e2, emin) - t; // exponent of the quantum (one unit in the last place) at |x|
  const s = q - e; // bits of m below the quantum
  let r: number;
  if (s <= 0) {
    r = m * 2 ** -s; // exact, no rounding needed
  } else if (s > 54) {
    r = 0; // m < 2^53 < half a quantum
  } else {
    const p2 = 2 ** s;
    r = Math.floor(m / p2); // exact: division by a power of two, then floor
    const rem = m - r * p2; // exact integers < 2^53
    const half = p2 / 2;
    if (rem > half || (rem === half && r % 2 === 1)) r += 1;
  }
  if (r === 0) return sign;
  if (r < 2 ** t) return sign | r; // subnormal
  if (r === 2 ** (t + 1)) {
    r /= 2;
    q += 1;
  }
  const field = q + t + bias;
  if (field >= (1 << w) - 1) return sign | expMask; // overflow -> Inf
  return sign | (field << t) | (r - 2 ** t);
}

const exactF16 = (x: number): number => exactEncode(x, 10, 15);
const exactBf16 = (x: number): number => exactEncode(x, 7, 127);

/** float16 value of a finite code from its fields (independent of the code under test). */
function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  return s * (e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25));
}

const isNaN16 = (h: number): boolean => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isNaNBf16 = (h: number): boolean => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
const hex = (v: number, d = 4): string => '0x' + (v >>> 0).toString(16).padStart(d, '0');

/** Same number (NaN equals NaN, and 0 / -0 are told apart). */
function same(a: number, b: number): boolean {
  return Number.isNaN(b) ? Number.isNaN(a) : Object.is(a, b);
}

// ---------------------------------------------------------------------------------------------
// wasm path
// ---------------------------------------------------------------------------------------------

function bitsOf(t: Tensor): Bits {
  const d = t.data;
  return t.dtype === 'float32' ? new Uint32Array(d.buffer, d.byteOffset, d.length) : (d as Uint16Array);
}

/** Converts raw codes (f32 as Uint32 bits) with the wasm kernel and returns the output codes. */
function wasmConvert(src: Bits, from: KDT, to: KDT, threads = 1): Bits {
  const n = src.length;
  const x = Tensor.empty([n], from);
  const y = Tensor.empty([n], to);
  try {
    bitsOf(x).set(src);
    bitsOf(y).fill(to === 'float32' ? 0xa5a5a5a5 : 0xa5a5);
    pool.setThreads(threads);
    convert(x, y);
    return to === 'float32' ? Uint32Array.from(bitsOf(y)) : Uint16Array.from(bitsOf(y));
  } finally {
    pool.setThreads(1);
    x.release();
    y.release();
  }
}

function allCodes(): Uint16Array {
  const c = new Uint16Array(65536);
  for (let i = 0; i < 65536; i++) c[i] = i;
  return c;
}

/** Collects up to 12 mismatch descriptions and counts all of them. */
class Mismatches {
  count = 0;
  readonly first: string[] = [];
  add(msg: string): void {
    if (this.count++ < 12) this.first.push(msg);
  }
  check(what: string): void {
    assert.equal(this.count, 0, `${what}: ${this.count} mismatches, first: ${this.first.join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Encode inputs: >= 10^6 float32 values
// ---------------------------------------------------------------------------------------------

class BitList {
  buf = new Uint32Array(1 << 21);
  n = 0;
  push(b: number): void {
    if (this.n === this.buf.length) {
      const nb = new Uint32Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf[this.n++] = b >>> 0;
  }
  pushValue(x: number): void {
    this.push(f32Bits(x));
  }
  done(): Uint32Array {
    return this.buf.slice(0, this.n);
  }
}

/** Hand-picked float32 edge values (as numbers; each is a float32 value). */
const F32_EDGES: number[] = [
  0, -0, Infinity, -Infinity, NaN,
  2 ** -24, 2 ** -25, 3 * 2 ** -25, 5 * 2 ** -25, 2 ** -26, 2 ** -149, 2 ** -126,
  Math.fround(2 ** -25 * (1 + 2 ** -23)), Math.fround(2 ** -25 * (1 - 2 ** -24)),
  1023 * 2 ** -24, 2 ** -14, 2 ** -14 - 2 ** -25, 2 ** -14 + 2 ** -24, 2 ** -14 - 2 ** -24,
  Math.fround(2 ** -14 * (1 + 2 ** -23)), Math.fround(2 ** -14 * (1 - 2 ** -24)),
  65504, 65505, Math.fround(65519.996), 65520, Math.fround(65520 - 2 ** -8), 65536, 65535, 1e5,
  1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -10, 2 - 2 ** -11, 2 - 2 ** -12,
  3.4028234663852886e38, 3.3895313892515355e38, 1.7e38, 1e-40, 1e-45,
];

/** The encode inputs; the hand-picked edges and all ties start at index `structuredFrom`. */
function encodeInputs(): { bits: Uint32Array; structuredFrom: number } {
  const rng = new Rng(20240601);
  const L = new BitList();
  // random bit patterns: every exponent, so subnormals, huge values, Inf and NaN appear
  for (let i = 0; i < 1 << 20; i++) L.push(rng.nextU32());
  // random normals at several scales
  for (const scale of [2 ** -30, 1e-7, 6e-5, 1e-3, 1, 300, 3e4, 6.5e4, 1e30]) {
    for (let i = 0; i < 20000; i++) L.pushValue(rng.normal() * scale);
  }
  const structuredFrom = L.n;
  for (const x of F32_EDGES) {
    L.pushValue(x);
    L.pushValue(-x);
  }
  // float16 ties: the midpoint of every pair of neighbouring finite float16 values (exact in f32),
  // and the float32 values just below and above it; both signs
  for (let h = 0; h <= 0x7bff; h++) {
    const lo = f16Value(h);
    const hi = h === 0x7bff ? 65536 : f16Value(h + 1);
    const mb = f32Bits((lo + hi) / 2);
    for (const s of [0, 0x80000000]) for (const d of [-1, 0, 1]) L.push((mb + d) | s);
  }
  // bfloat16: every code exactly, and the midpoint of every pair of neighbours with its f32 neighbours
  for (let h = 0; h < 65536; h++) L.push(h << 16);
  for (let h = 0; h <= 0x7f7f; h++) {
    const mb = (h << 16) | 0x8000;
    for (const s of [0, 0x80000000]) for (const d of [-1, 0, 1]) L.push((mb + d) | s);
  }
  L.push(0x7f7fffff); // largest float32
  L.push(0xff7fffff);
  return { bits: L.done(), structuredFrom };
}

/**
 * Converts with the wasm kernel in calls of at most 3 elements, so that every element goes through
 * the scalar tail codecs (f32ToF16 / f16ToF32 / ...) instead of the 4-lane SIMD ones.
 */
function wasmConvertScalar(src: Bits, from: KDT, to: KDT): Bits {
  const n = src.length;
  const x = Tensor.empty([n], from);
  const y = Tensor.empty([n], to);
  try {
    bitsOf(x).set(src);
    for (let i = 0; i < n; i += 3) {
      const e = Math.min(n, i + 3);
      const xs = x.slice(i, e);
      const ys = y.slice(i, e);
      convert(xs, ys);
      xs.release();
      ys.release();
    }
    return to === 'float32' ? Uint32Array.from(bitsOf(y)) : Uint16Array.from(bitsOf(y));
  } finally {
    x.release();
    y.release();
  }
}

// ---------------------------------------------------------------------------------------------

describe('codec oracles', () => {
  it('the exact oracle gives known codes', () => {
    assert.equal(exactF16(1), 0x3c00);
    assert.equal(exactF16(-2), 0xc000);
    assert.equal(exactF16(65504), 0x7bff);
    assert.equal(exactF16(65520), 0x7c00);
    assert.equal(exactF16(2 ** -24), 0x0001);
    assert.equal(exactF16(2 ** -25), 0x0000);
    assert.equal(exactF16(3 * 2 ** -25), 0x0002);
    assert.equal(exactF16(1 + 2 ** -11), 0x3c00);
    assert.equal(exactF16(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(exactF16(5e-324), 0x0000);
    assert.equal(exactBf16(1), 0x3f80);
    assert.equal(exactBf16(1 + 2 ** -8), 0x3f80);
    assert.equal(exactBf16(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(exactBf16(-Infinity), 0xff80);
    assert.equal(exactBf16(2 ** -133), 0x0001);
    assert.equal(exactBf16(f32FromBits(0x7f7f8000)), 0x7f80);
    assert.equal(exactBf16(f32FromBits(0x7f7e8000)), 0x7f7e);
  });

  it('@petamoriken/float16 decodes known codes', () => {
    assert.equal(oracleF16Value(0x3c00), 1);
    assert.equal(oracleF16Value(0x0001), 2 ** -24);
    assert.equal(oracleF16Value(0x7bff), 65504);
    assert.ok(Object.is(oracleF16Value(0x8000), -0));
    assert.ok(Number.isNaN(oracleF16Value(0x7e00)));
  });
});

describe('decode (exhaustive)', () => {
  const codes = allCodes();

  it('float16: all 65536 codes, JS and wasm, equal the @petamoriken/float16 oracle', () => {
    const wasm = wasmConvert(codes, 'float16', 'float32') as Uint32Array;
    const mm = new Mismatches();
    for (let h = 0; h < 65536; h++) {
      const want = oracleF16Value(h);
      const js = f16BitsToNumber(h);
      const w = f32FromBits(wasm[h]!);
      if (!same(js, want)) mm.add(`JS ${hex(h)} -> ${js}, want ${want}`);
      if (!same(w, want)) mm.add(`wasm ${hex(h)} -> ${w}, want ${want}`);
      // a NaN code decodes to a NaN of the same sign on the wasm path (bits are visible there)
      if (Number.isNaN(want) && wasm[h]! >>> 31 !== h >>> 15) mm.add(`wasm ${hex(h)}: NaN sign lost (${hex(wasm[h]!, 8)})`);
    }
    mm.check('float16 decode');
  });

  it('float16 decode with normal and special codes (zero, subnormal, Inf, NaN) mixed in every vector: the in-order results', () => {
    // the SIMD decoder takes a short path when all 4 lanes are normal: shuffled codes mix both paths
    const rng = new Rng(12);
    const perm = Array.from({ length: 65536 }, (_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    const inOrder = wasmConvert(codes, 'float16', 'float32');
    const shuffled = wasmConvert(Uint16Array.from(perm), 'float16', 'float32');
    const mm = new Mismatches();
    perm.forEach((h, i) => {
      if (shuffled[i] !== inOrder[h]) mm.add(`${hex(h)} -> ${hex(shuffled[i]!, 8)} shuffled, ${hex(inOrder[h]!, 8)} in order`);
    });
    mm.check('shuffled float16 decode');
    // and back: encoding the decoded values of every code, shuffled, gives the codes (NaNs stay NaNs)
    const back = wasmConvert(shuffled, 'float32', 'float16');
    perm.forEach((h, i) => {
      if (back[i] !== h && !(isNaN16(h) && isNaN16(back[i]!))) mm.add(`encode of ${hex(shuffled[i]!, 8)} -> ${hex(back[i]!)}, want ${hex(h)}`);
    });
    mm.check('shuffled float16 round trip');
  });

  it('the scalar decoders (used for tails) give the SIMD results on all codes', () => {
    for (const from of ['float16', 'bfloat16'] as const) {
      const simd = wasmConvert(codes, from, 'float32');
      const scalar = wasmConvertScalar(codes, from, 'float32');
      assert.deepEqual(scalar, simd, from);
    }
  });

  it('bfloat16: all 65536 codes, JS and wasm, equal the float32 built from the bits', () => {
    const wasm = wasmConvert(codes, 'bfloat16', 'float32') as Uint32Array;
    const mm = new Mismatches();
    for (let h = 0; h < 65536; h++) {
      const want = bf16ValueFromBits(h);
      const js = bf16BitsToNumber(h);
      if (!same(js, want)) mm.add(`JS ${hex(h)} -> ${js}, want ${want}`);
      // decoding is a 16-bit shift: the wasm result is bit-exact, NaN payloads included
      if (wasm[h] !== ((h << 16) >>> 0)) mm.add(`wasm ${hex(h)} -> ${hex(wasm[h]!, 8)}`);
    }
    mm.check('bfloat16 decode');
  });
});

describe('encode float32 -> float16 / bfloat16', () => {
  const { bits, structuredFrom } = encodeInputs();
  const n = bits.length;
  const values = new Float32Array(bits.buffer, bits.byteOffset, n);

  it('has at least 10^6 inputs covering subnormals, NaN, Inf and ties', () => {
    assert.ok(n >= 1_000_000, `only ${n} inputs`);
    let sub = 0, nan = 0, inf = 0;
    for (let i = 0; i < n; i++) {
      const e = (bits[i]! >>> 23) & 0xff;
      if (e === 0 && (bits[i]! & 0x7fffff) !== 0) sub++;
      if (e === 0xff) ((bits[i]! & 0x7fffff) === 0 ? inf++ : nan++);
    }
    assert.ok(sub > 1000 && nan > 1000 && inf >= 4, `sub ${sub} nan ${nan} inf ${inf}`);
  });

  it('float16: JS f32ToF16Bits, f64ToF16Bits and wasm equal @petamoriken/float16 bit for bit', () => {
    const wasm = wasmConvert(bits, 'float32', 'float16') as Uint16Array;
    const mm = new Mismatches();
    for (let i = 0; i < n; i++) {
      const b = bits[i]!;
      const v = values[i]!;
      const want = oracleF16(v);
      const a = f32ToF16Bits(v);
      const c = f64ToF16Bits(v);
      const w = wasm[i]!;
      if (Number.isNaN(v)) {
        const sign = (b >>> 31) << 15;
        for (const [name, got] of [['f32ToF16Bits', a], ['f64ToF16Bits', c], ['wasm', w]] as const) {
          if (!isNaN16(got)) mm.add(`${name}(NaN ${hex(b, 8)}) = ${hex(got)} is not a NaN code`);
        }
        if ((w & 0x8000) !== sign) mm.add(`wasm(NaN ${hex(b, 8)}) = ${hex(w)} lost the sign`);
        if ((want & 0x8000) === sign) {
          // the oracle keeps the sign of this NaN: so must the JS path
          if ((a & 0x8000) !== sign) mm.add(`f32ToF16Bits(NaN ${hex(b, 8)}) = ${hex(a)} lost the sign`);
          if ((c & 0x8000) !== sign) mm.add(`f64ToF16Bits(NaN ${hex(b, 8)}) = ${hex(c)} lost the sign`);
        }
        continue;
      }
      // the oracle itself rounds to nearest even from float32 (checked against the exact oracle)
      const exact = exactF16(v);
      if (want !== exact) mm.add(`oracle(${v} ${hex(b, 8)}) = ${hex(want)}, exact ${hex(exact)}`);
      if (a !== want) mm.add(`f32ToF16Bits(${v} ${hex(b, 8)}) = ${hex(a)}, want ${hex(want)}`);
      if (c !== want) mm.add(`f64ToF16Bits(${v} ${hex(b, 8)}) = ${hex(c)}, want ${hex(want)}`);
      if (w !== want) mm.add(`wasm(${v} ${hex(b, 8)}) = ${hex(w)}, want ${hex(want)}`);
    }
    mm.check('float16 encode');
  });

  it('bfloat16: JS f32ToBf16Bits, f64ToBf16Bits and wasm agree bit for bit and with the exact oracle', () => {
    const wasm = wasmConvert(bits, 'float32', 'bfloat16') as Uint16Array;
    const mm = new Mismatches();
    for (let i = 0; i < n; i++) {
      const b = bits[i]!;
      const v = values[i]!;
      const a = f32ToBf16Bits(v);
      const c = f64ToBf16Bits(v);
      const w = wasm[i]!;
      if (a !== w || c !== w) mm.add(`${hex(b, 8)}: f32ToBf16Bits ${hex(a)}, f64ToBf16Bits ${hex(c)}, wasm ${hex(w)}`);
      if (Number.isNaN(v)) {
        if (!isNaNBf16(w) || (w & 0x8000) !== (b >>> 31) << 15) mm.add(`NaN ${hex(b, 8)} -> ${hex(w)}`);
        continue;
      }
      const want = exactBf16(v);
      if (w !== want) mm.add(`${v} ${hex(b, 8)} -> ${hex(w)}, exact ${hex(want)}`);
    }
    mm.check('bfloat16 encode');
  });

  it('the scalar codecs (used for tails) give the SIMD codes on every edge and tie input', () => {
    const sub = bits.subarray(structuredFrom);
    assert.ok(sub.length > 400_000, `${sub.length} structured inputs`);
    for (const to of ['float16', 'bfloat16'] as const) {
      const simd = wasmConvert(sub, 'float32', to);
      const scalar = wasmConvertScalar(sub, 'float32', to);
      const mm = new Mismatches();
      for (let i = 0; i < sub.length; i++) {
        if (scalar[i] !== simd[i]) mm.add(`${hex(sub[i]!, 8)}: scalar ${hex(scalar[i]!)}, SIMD ${hex(simd[i]!)}`);
      }
      mm.check(`float32 -> ${to} scalar vs SIMD`);
    }
  });

  it('the large conversion gives the same codes with 2 threads as with 1', () => {
    for (const to of ['float16', 'bfloat16'] as const) {
      const one = wasmConvert(bits, 'float32', to, 1);
      const two = wasmConvert(bits, 'float32', to, 2);
      assert.deepEqual(two, one, `float32 -> ${to}`);
    }
  });
});

describe('encode: hand-picked edges', () => {
  // [float32 value, float16 code, bfloat16 code]
  const cases: [number, number, number][] = [
    [0, 0x0000, 0x0000],
    [-0, 0x8000, 0x8000],
    [Infinity, 0x7c00, 0x7f80],
    [-Infinity, 0xfc00, 0xff80],
    [2 ** -24, 0x0001, 0x3380], // smallest float16 subnormal
    [2 ** -25, 0x0000, 0x3300], // halfway between 0 and 2^-24: ties to even (0)
    [-(2 ** -25), 0x8000, 0xb300],
    [3 * 2 ** -25, 0x0002, 0x33c0], // halfway between 1 and 2 units: ties to even (2)
    [Math.fround(2 ** -25 * (1 + 2 ** -23)), 0x0001, 0x3300], // just above the tie
    [1023 * 2 ** -24, 0x03ff, 0x387f + 1], // largest subnormal (bf16: 0x387fc000 rounds up to 0x3880)
    [2 ** -14 - 2 ** -25, 0x0400, 0x3880], // halfway between the largest subnormal and 2^-14: to even
    [2 ** -14, 0x0400, 0x3880], // smallest normal
    [2 ** -14 + 2 ** -24, 0x0401, 0x3880],
    [65504, 0x7bff, 0x477f + 1], // 65504 = 0x477fe000 rounds up to 0x4780 in bf16
    [Math.fround(65519.996), 0x7bff, 0x4780],
    [65520, 0x7c00, 0x4780], // overflows to Inf in float16
    [65536, 0x7c00, 0x4780],
    [1 + 2 ** -11, 0x3c00, 0x3f80], // float16 tie, even below
    [1 + 3 * 2 ** -11, 0x3c02, 0x3f80], // float16 tie, even above
    [1 + 2 ** -8, 0x3c04, 0x3f80], // bfloat16 tie, even below
    [1 + 3 * 2 ** -8, 0x3c0c, 0x3f82], // bfloat16 tie, even above
    [3.4028234663852886e38, 0x7c00, 0x7f80], // largest float32 rounds up to Inf in bfloat16
    [3.3895313892515355e38, 0x7c00, 0x7f7f], // largest bfloat16
    [f32FromBits(0x7f7f8000), 0x7c00, 0x7f80], // tie between it and 2^128: even is 2^128 -> Inf
    [f32FromBits(0x7f7e8000), 0x7c00, 0x7f7e], // tie, even below
    [2 ** -149, 0x0000, 0x0000],
    [f32FromBits(0x00008000), 0x0000, 0x0000], // bf16 tie between 0 and the smallest subnormal
    [f32FromBits(0x00018000), 0x0000, 0x0002], // bf16 tie between 1 and 2 units: even 2
  ];

  it('JS and wasm give the expected codes', () => {
    const inBits = Uint32Array.from(cases, ([v]) => f32Bits(v));
    const w16 = wasmConvert(inBits, 'float32', 'float16');
    const wbf = wasmConvert(inBits, 'float32', 'bfloat16');
    cases.forEach(([v, h, bf], i) => {
      assert.equal(exactF16(v), h, `exact f16 oracle of ${v}`);
      assert.equal(exactBf16(v), bf, `exact bf16 oracle of ${v}`);
      assert.equal(oracleF16(v), h, `@petamoriken of ${v}`);
      assert.equal(f32ToF16Bits(v), h, `f32ToF16Bits(${v})`);
      assert.equal(f64ToF16Bits(v), h, `f64ToF16Bits(${v})`);
      assert.equal(w16[i], h, `wasm f16 of ${v}`);
      assert.equal(f32ToBf16Bits(v), bf, `f32ToBf16Bits(${v})`);
      assert.equal(f64ToBf16Bits(v), bf, `f64ToBf16Bits(${v})`);
      assert.equal(wbf[i], bf, `wasm bf16 of ${v}`);
    });
  });

  it('NaN encodes to a quiet NaN code that keeps the sign', () => {
    const nans = Uint32Array.from([0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0xffffffff]);
    const w16 = wasmConvert(nans, 'float32', 'float16');
    const wbf = wasmConvert(nans, 'float32', 'bfloat16');
    nans.forEach((b, i) => {
      const sign = (b >>> 31) << 15;
      const v = f32FromBits(b);
      for (const h of [w16[i]!, f32ToF16Bits(v), f64ToF16Bits(v)]) {
        assert.ok(isNaN16(h) && (h & 0x0200) !== 0 && (h & 0x8000) === sign, `f16 NaN ${hex(b, 8)} -> ${hex(h)}`);
      }
      for (const h of [wbf[i]!, f32ToBf16Bits(v), f64ToBf16Bits(v)]) {
        assert.ok(isNaNBf16(h) && (h & 0x0040) !== 0 && (h & 0x8000) === sign, `bf16 NaN ${hex(b, 8)} -> ${hex(h)}`);
      }
    });
    // a float64 NaN of either sign
    assert.equal(f64ToF16Bits(NaN) & 0x7fff, 0x7e00);
    assert.ok(isNaN16(f64ToF16Bits(-NaN)));
    assert.ok(isNaNBf16(f64ToBf16Bits(NaN)));
  });
});

describe('float64 -> float16 / bfloat16 rounds once', () => {
  it('random doubles near ties equal the exact oracle (not the f32 double rounding)', () => {
    const rng = new Rng(77);
    const mm = new Mismatches();
    let notF32 = 0;
    let viaF32Wrong16 = 0;
    let viaF32WrongBf = 0;
    const N = 200_000;
    for (let i = 0; i < N; i++) {
      let x: number;
      const neg = rng.random() < 0.5 ? -1 : 1;
      if (i % 2 === 0) {
        // near a float16 midpoint
        const h = rng.int(0x7c00);
        const lo = f16Value(h);
        const hi = h === 0x7bff ? 65536 : f16Value(h + 1);
        const d = i % 16 === 0 ? 0 : (rng.random() - 0.5) * (hi - lo) * 2 ** -(rng.int(44) + 1);
        x = neg * ((lo + hi) / 2 + d);
      } else {
        // near a bfloat16 midpoint
        const h = rng.int(0x7f80);
        const lo = bf16ValueFromBits(h);
        const hi = h === 0x7f7f ? 2 ** 128 : bf16ValueFromBits(h + 1);
        const d = i % 16 === 1 ? 0 : (rng.random() - 0.5) * (hi - lo) * 2 ** -(rng.int(44) + 1);
        x = neg * ((lo + hi) / 2 + d);
      }
      if (Math.fround(x) !== x) notF32++;
      const e16 = exactF16(x);
      const ebf = exactBf16(x);
      const g16 = f64ToF16Bits(x);
      const gbf = f64ToBf16Bits(x);
      if (g16 !== e16) mm.add(`f64ToF16Bits(${x}) = ${hex(g16)}, exact ${hex(e16)}`);
      if (gbf !== ebf) mm.add(`f64ToBf16Bits(${x}) = ${hex(gbf)}, exact ${hex(ebf)}`);
      if (f32ToF16Bits(x) !== e16) viaF32Wrong16++;
      if (f32ToBf16Bits(x) !== ebf) viaF32WrongBf++;
    }
    mm.check('float64 encode');
    // the inputs exercise the property: most are not float32 values, and rounding through f32 gets
    // some of them wrong
    assert.ok(notF32 > N * 0.8, `only ${notF32} of ${N} inputs are not float32 values`);
    assert.ok(viaF32Wrong16 > 100 && viaF32WrongBf > 100, `double-rounding traps: f16 ${viaF32Wrong16}, bf16 ${viaF32WrongBf}`);
  });

  it('hand-picked doubles', () => {
    // just above a float16 tie by less than half a float32 ulp: via f32 it would become the tie and go to even
    assert.equal(f64ToF16Bits(1 + 2 ** -11 + 2 ** -40), 0x3c01);
    assert.equal(f32ToF16Bits(1 + 2 ** -11 + 2 ** -40), 0x3c00); // documented: the f32 path rounds to f32 first
    assert.equal(f64ToF16Bits(-(1 + 2 ** -11 + 2 ** -40)), 0xbc01);
    assert.equal(f64ToF16Bits(1 + 3 * 2 ** -11 - 2 ** -40), 0x3c01);
    assert.equal(f64ToBf16Bits(1 + 2 ** -8 + 2 ** -40), 0x3f81);
    assert.equal(f64ToBf16Bits(1 + 3 * 2 ** -8 - 2 ** -40), 0x3f81);
    // just below the float16 overflow threshold 65520
    assert.equal(f64ToF16Bits(65520 - 2 ** -30), 0x7bff);
    assert.equal(f64ToF16Bits(65520), 0x7c00);
    // just below the bfloat16 overflow threshold 2^128 - 2^119 (via f32 it would be the tie -> Inf)
    const nearMax = 2 ** 128 - 2 ** 119 - 2 ** 90;
    assert.equal(f64ToBf16Bits(nearMax), 0x7f7f);
    assert.equal(f32ToBf16Bits(nearMax), 0x7f80);
    assert.equal(f64ToBf16Bits(2 ** 128 - 2 ** 119), 0x7f80);
    assert.equal(f64ToBf16Bits(1e300), 0x7f80);
    assert.equal(f64ToBf16Bits(-1e300), 0xff80);
    assert.equal(f64ToF16Bits(1e300), 0x7c00);
    // beyond float32 range in the other direction: tiny doubles round to signed zero
    assert.equal(f64ToF16Bits(1e-300), 0x0000);
    assert.equal(f64ToF16Bits(-1e-300), 0x8000);
    assert.equal(f64ToBf16Bits(-5e-324), 0x8000);
    assert.equal(f64ToF16Bits(-0), 0x8000);
    // float16 subnormal tie region with a double offset below f32 resolution
    assert.equal(f64ToF16Bits(2 ** -25 + 2 ** -60), 0x0001);
    assert.equal(f64ToF16Bits(3 * 2 ** -25 - 2 ** -60), 0x0001);
    // bfloat16 subnormal: just above the tie between 0 and 2^-133
    assert.equal(f64ToBf16Bits(2 ** -134 + 2 ** -170), 0x0001);
    assert.equal(f64ToBf16Bits(2 ** -134), 0x0000);
  });
});

describe('16-bit to 16-bit through f32 (wasm)', () => {
  const codes = allCodes();

  it('float16 -> bfloat16 equals the JS composition for all codes', () => {
    const w = wasmConvert(codes, 'float16', 'bfloat16');
    const mm = new Mismatches();
    for (let h = 0; h < 65536; h++) {
      const got = w[h]!;
      if (isNaN16(h)) {
        if (!isNaNBf16(got) || (got & 0x8000) !== (h & 0x8000)) mm.add(`NaN ${hex(h)} -> ${hex(got)}`);
        continue;
      }
      const want = f32ToBf16Bits(f16BitsToNumber(h));
      if (got !== want) mm.add(`${hex(h)} -> ${hex(got)}, want ${hex(want)}`);
    }
    mm.check('float16 -> bfloat16');
  });

  it('bfloat16 -> float16 equals the JS composition for all codes', () => {
    const w = wasmConvert(codes, 'bfloat16', 'float16');
    const mm = new Mismatches();
    for (let h = 0; h < 65536; h++) {
      const got = w[h]!;
      if (isNaNBf16(h)) {
        if (!isNaN16(got) || (got & 0x8000) !== (h & 0x8000)) mm.add(`NaN ${hex(h)} -> ${hex(got)}`);
        continue;
      }
      const want = f32ToF16Bits(bf16BitsToNumber(h));
      if (got !== want) mm.add(`${hex(h)} -> ${hex(got)}, want ${hex(want)}`);
      if (want !== exactF16(bf16ValueFromBits(h))) mm.add(`composition ${hex(h)} is not the exact rounding`);
    }
    mm.check('bfloat16 -> float16');
  });

  it('float16 -> float16 and bfloat16 -> bfloat16 keep every non-NaN code', () => {
    for (const dt of ['float16', 'bfloat16'] as const) {
      const w = wasmConvert(codes, dt, dt);
      const nan = dt === 'float16' ? isNaN16 : isNaNBf16;
      const mm = new Mismatches();
      for (let h = 0; h < 65536; h++) {
        if (nan(h) ? !nan(w[h]!) || (w[h]! & 0x8000) !== (h & 0x8000) : w[h] !== h) mm.add(`${hex(h)} -> ${hex(w[h]!)}`);
      }
      mm.check(`${dt} -> ${dt}`);
    }
  });
});

describe('wasm convert: sizes that are not multiples of 4 (scalar tails) and unaligned views', () => {
  const dts: KDT[] = ['float32', 'float16', 'bfloat16'];

  function jsExpected(from: KDT, to: KDT, code: number): { nan: boolean; code: number } {
    const v = from === 'float32' ? f32FromBits(code) : from === 'float16' ? f16BitsToNumber(code) : bf16BitsToNumber(code);
    if (Number.isNaN(v)) return { nan: true, code: 0 };
    const out = to === 'float32' ? f32Bits(v) : to === 'float16' ? f32ToF16Bits(v) : f32ToBf16Bits(v);
    return { nan: false, code: out };
  }

  for (const n of [1, 3, 5, 7, 1023]) {
    it(`n = ${n}, every dtype pair, source offset 1, output guard untouched`, () => {
      const rng = new Rng(1000 + n);
      for (const from of dts) {
        for (const to of dts) {
          const src = Tensor.empty([n + 1], from);
          const dst = Tensor.empty([n + 9], to);
          try {
            const sb = bitsOf(src);
            for (let i = 0; i < sb.length; i++) sb[i] = from === 'float32' ? rng.nextU32() : rng.int(65536);
            const db = bitsOf(dst);
            const sentinel = to === 'float32' ? 0xa5a5a5a5 : 0xa5a5;
            db.fill(sentinel);
            const xs = src.slice(1, n + 1);
            const ys = dst.slice(1, n + 1);
            try {
              convert(xs, ys);
            } finally {
              xs.release();
              ys.release();
            }
            assert.equal(db[0], sentinel, `${from}->${to} n=${n}: wrote before the output`);
            for (let i = n + 1; i < n + 9; i++) assert.equal(db[i], sentinel, `${from}->${to} n=${n}: wrote past the end at ${i}`);
            for (let i = 0; i < n; i++) {
              const inCode = sb[i + 1]!;
              const got = db[i + 1]!;
              const e = jsExpected(from, to, inCode);
              if (from === to && from === 'float32') {
                assert.equal(got, inCode, `float32 copy of ${hex(inCode, 8)}`);
              } else if (e.nan) {
                const isNan = to === 'float32' ? (got & 0x7f800000) === 0x7f800000 && (got & 0x7fffff) !== 0 : to === 'float16' ? isNaN16(got) : isNaNBf16(got);
                assert.ok(isNan, `${from}->${to} n=${n} i=${i}: NaN ${hex(inCode)} -> ${hex(got)}`);
              } else {
                assert.equal(got, e.code, `${from}->${to} n=${n} i=${i}: ${hex(inCode)} -> ${hex(got)}, want ${hex(e.code)}`);
              }
            }
          } finally {
            src.release();
            dst.release();
          }
        }
      }
    });
  }
});

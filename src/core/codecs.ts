/**
 * Scalar and array codecs between numbers and the 16-bit float formats, round-to-nearest-even.
 * These are the JS path (small arrays, scalars, float64 sources); bulk conversion runs in wasm.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 value (any JS number is first rounded to f32) -> float16 bits. */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  let x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  x &= 0x7fffffff;
  if (x >= 0x47800000) return sign | (x > 0x7f800000 ? 0x7e00 : 0x7c00);
  if (x < 0x38800000) {
    f32[0] = value < 0 ? -value : value; // |x| as f32
    f32[0] = f32[0]! + 0.5;
    return sign | (u32[0]! - 0x3f000000);
  }
  const odd = (x >>> 13) & 1;
  return sign | (((x + 0xc8000fff + odd) >>> 13) & 0xffff);
}

export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToNumber(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/**
 * Rounds a float64 value straight to a binary format with `p` significand bits and minimum normal
 * exponent `emin`, overflowing to Infinity at `overflow` (round-to-nearest-even, no double rounding).
 */
function roundToFormat(x: number, p: number, emin: number, emax: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  else if (2 ** (e + 1) <= a) e += 1;
  const q = Math.max(e, emin) - (p - 1); // quantum exponent
  const scaled = a * 2 ** -q; // exact: power-of-two scaling within range
  let r = Math.floor(scaled);
  const frac = scaled - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const y = r * 2 ** q;
  const maxv = (2 - 2 ** (1 - p)) * 2 ** emax;
  if (y > maxv) return x < 0 ? -Infinity : Infinity;
  return x < 0 ? -y : y;
}

/** float64 -> float16 bits, rounded once (no intermediate f32 rounding). NaN stays NaN with its sign. */
export function f64ToF16Bits(x: number): number {
  if (Number.isNaN(x)) return f32ToF16Bits(x); // quiet NaN, sign kept (as the f32 path and the wasm kernels do)
  const y = roundToFormat(x, 11, -14, 15);
  if (y === 0) return Object.is(y, -0) || x < 0 ? 0x8000 : 0;
  return f32ToF16Bits(y); // exact: y is representable
}

/** float64 -> bfloat16 bits, rounded once. NaN stays NaN with its sign and leading payload bits. */
export function f64ToBf16Bits(x: number): number {
  if (Number.isNaN(x)) return f32ToBf16Bits(x); // same NaN code as the f32 path and the wasm kernels
  const y = roundToFormat(x, 8, -126, 127);
  if (y === 0) return Object.is(y, -0) || x < 0 ? 0x8000 : 0;
  return f32ToBf16Bits(y);
}

/** Rounds a number to the nearest float16 value (as a number). */
export function roundF16(x: number): number {
  return f16BitsToNumber(f64ToF16Bits(x));
}

/** Rounds a number to the nearest bfloat16 value (as a number). */
export function roundBf16(x: number): number {
  return bf16BitsToNumber(f64ToBf16Bits(x));
}

export function encodeF16(src: ArrayLike<number>, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = f64ToF16Bits(src[i]!);
  return dst;
}

export function decodeF16(src: Uint16Array, dst: Float64Array | Float32Array = new Float32Array(src.length)): Float64Array | Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = f16BitsToNumber(src[i]!);
  return dst;
}

export function encodeBf16(src: ArrayLike<number>, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = f64ToBf16Bits(src[i]!);
  return dst;
}

export function decodeBf16(src: Uint16Array, dst: Float64Array | Float32Array = new Float32Array(src.length)): Float64Array | Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = bf16BitsToNumber(src[i]!);
  return dst;
}

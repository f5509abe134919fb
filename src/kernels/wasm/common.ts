// Shared helpers for the mpno WebAssembly kernels (AssemblyScript).
// Every kernel computes in f32 and loads/stores its operands through load4/store4,
// which convert from/to the storage dtype. Dtype codes must match src/kernels/dtcode.ts.

export const DT_F32: i32 = 0;
export const DT_F16: i32 = 1;
export const DT_BF16: i32 = 2;

// ---- scalar codecs (round-to-nearest-even) ----

@inline export function f16ToF32(h: u32): f32 {
  const sign = (h & 0x8000) << 16;
  const em = h & 0x7fff;
  if (em >= 0x7c00) return reinterpret<f32>(sign | 0x7f800000 | ((em & 0x3ff) << 13));
  if (em >= 0x400) return reinterpret<f32>(sign | ((em << 13) + (112 << 23)));
  // zero or subnormal: em * 2^-24 is exact in f32
  return reinterpret<f32>(sign | reinterpret<u32>(<f32>em * 5.9604644775390625e-8));
}

@inline export function f32ToF16(f: f32): u32 {
  let x = reinterpret<u32>(f);
  const sign = (x >> 16) & 0x8000;
  x &= 0x7fffffff;
  let o: u32;
  if (x >= 0x47800000) {
    // >= 65536: Inf, or NaN (kept quiet, sign preserved)
    o = x > 0x7f800000 ? 0x7e00 : 0x7c00;
  } else if (x < 0x38800000) {
    // result is subnormal or zero: let the f32 adder round at 2^-24
    o = reinterpret<u32>(reinterpret<f32>(x) + 0.5) - 0x3f000000;
  } else {
    const odd = (x >> 13) & 1;
    o = (x + 0xc8000fff + odd) >> 13; // rebias exponent (-112<<23) and round to nearest even
  }
  return o | sign;
}

@inline export function bf16ToF32(h: u32): f32 {
  return reinterpret<f32>(h << 16);
}

@inline export function f32ToBf16(f: f32): u32 {
  const x = reinterpret<u32>(f);
  if ((x & 0x7fffffff) > 0x7f800000) return (x >> 16) | 0x40;
  return (x + 0x7fff + ((x >> 16) & 1)) >> 16;
}

/**
 * a where the lanes of mask are all ones, b where they are all zeros (mask: a comparison's result): one
 * blend in the relaxed-SIMD build (its lane select is exact for such masks), a bitwise select otherwise.
 */
@inline export function sel(a: v128, b: v128, mask: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_laneselect(a, b, mask);
  return v128.bitselect(a, b, mask);
}

// ---- SIMD codecs on 4 lanes (i32x4 of 16-bit codes <-> f32x4) ----

@inline export function decF16x4(h: v128): v128 {
  // branchless (gradients mix subnormals with normals, and a data-dependent branch mispredicts):
  // normal lanes rebias the exponent with one add, Inf/NaN lanes add the rebias twice (exponent 255),
  // zero/subnormal lanes are em·2^-24, exact in f32
  const em = v128.and(h, ki(I_0x7fff));
  const sign = i32x4.shl(v128.and(h, ki(I_0x8000)), 16);
  let o = i32x4.add(i32x4.shl(em, 13), ki(I_112s23));
  o = i32x4.add(o, v128.and(i32x4.gt_s(em, ki(I_0x7bff)), ki(I_112s23)));
  const sub = f32x4.mul(f32x4.convert_i32x4_s(em), kf(F_5_9604644775390625eM8));
  o = sel(sub, o, i32x4.lt_s(em, ki(I_0x400)));
  return v128.or(o, sign);
}

@inline export function encF16x4(f: v128): v128 {
  // branchless, like decF16x4: the normal-range result (rebias, round to nearest even), the subnormal
  // one (the f32 adder rounds at 2^-24) and Inf/NaN are all computed and selected per lane
  const sign = i32x4.shr_u(v128.and(f, ki(I_0x80000000)), 16);
  const x = v128.and(f, ki(I_0x7fffffff));
  const odd = v128.and(i32x4.shr_u(x, 13), ki(I_1));
  const norm = i32x4.shr_u(i32x4.add(i32x4.add(x, ki(I_0xc8000fff)), odd), 13);
  const small = i32x4.sub(f32x4.add(x, kf(F_0_5)), ki(I_0x3f000000));
  let o = sel(small, norm, i32x4.lt_s(x, ki(I_0x38800000)));
  // ≥ 65520 rounds to Inf; NaN stays a quiet NaN (0x7e00)
  const big = v128.or(ki(I_0x7c00), v128.and(i32x4.gt_s(x, ki(I_0x7f800000)), ki(I_0x200)));
  o = sel(big, o, i32x4.gt_s(x, ki(I_0x477fffff)));
  return v128.or(o, sign);
}

@inline export function decBf16x4(h: v128): v128 {
  return i32x4.shl(h, 16);
}

@inline export function encBf16x4(f: v128): v128 {
  const odd = v128.and(i32x4.shr_u(f, 16), ki(I_1));
  const r = i32x4.shr_u(i32x4.add(i32x4.add(f, ki(I_0x7fff)), odd), 16);
  const nan = v128.or(i32x4.shr_u(f, 16), ki(I_0x40));
  return sel(nan, r, f32x4.ne(f, f)); // NaN: kept quiet (the rounding add could carry it into Inf or −0)
}

// ---- dtype-generic 4-lane load/store (element index i, 4 elements) ----

@inline export function load4(p: usize, i: usize, dt: i32): v128 {
  if (dt == DT_F32) return v128.load(p + (i << 2));
  const h = v128.load16x4_u(p + (i << 1));
  return dt == DT_F16 ? decF16x4(h) : decBf16x4(h);
}

@inline export function store4(p: usize, i: usize, dt: i32, v: v128): void {
  if (dt == DT_F32) {
    v128.store(p + (i << 2), v);
  } else {
    const e = dt == DT_F16 ? encF16x4(v) : encBf16x4(v);
    v128.store64_lane(p + (i << 1), i16x8.narrow_i32x4_u(e, e), 0);
  }
}

/** Stores 8 elements i..i+7 (a: the first 4, b: the next 4); 16-bit codes go out in one 128-bit store. */
@inline export function store8(p: usize, i: usize, dt: i32, a: v128, b: v128): void {
  if (dt == DT_F32) {
    v128.store(p + (i << 2), a);
    v128.store(p + (i << 2), b, 16);
  } else {
    const ea = dt == DT_F16 ? encF16x4(a) : encBf16x4(a);
    const eb = dt == DT_F16 ? encF16x4(b) : encBf16x4(b);
    v128.store(p + (i << 1), i16x8.narrow_i32x4_u(ea, eb));
  }
}

@inline export function load1(p: usize, i: usize, dt: i32): f32 {
  if (dt == DT_F32) return load<f32>(p + (i << 2));
  const h = <u32>load<u16>(p + (i << 1));
  return dt == DT_F16 ? f16ToF32(h) : bf16ToF32(h);
}

@inline export function store1(p: usize, i: usize, dt: i32, v: f32): void {
  if (dt == DT_F32) store<f32>(p + (i << 2), v);
  else store<u16>(p + (i << 1), <u16>(dt == DT_F16 ? f32ToF16(v) : f32ToBf16(v)));
}

/** Stores the transpose of the 4×4 block with rows r0..r3: column c goes to dst + c·stride (bytes). */
@inline export function storeT4(dst: usize, stride: i32, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const a = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const b = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const c = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const d = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(a, b, 0, 1, 4, 5));
  v128.store(dst + <usize>stride, i32x4.shuffle(a, b, 2, 3, 6, 7));
  v128.store(dst + <usize>(2 * stride), i32x4.shuffle(c, d, 0, 1, 4, 5));
  v128.store(dst + <usize>(3 * stride), i32x4.shuffle(c, d, 2, 3, 6, 7));
}

// ---- constant tables ----
//
// V8 (x64, Node 20) builds every non-zero v128.const from immediates with three instructions at each use,
// inside loops, which made these kernels ALU-bound. A splat load from a static table is a single load µop.
// The tables are static data in page 0 (below the arena base); every instance writes the same bytes.

const KF_TABLE = memory.data<f32>([
  5.9604644775390625e-8, // F_5_9604644775390625eM8
  0.5, // F_0_5
]);
const F_5_9604644775390625eM8: i32 = 0;
const F_0_5: i32 = 1;
@inline function kf(i: i32): v128 {
  return v128.load32_splat(KF_TABLE + (<usize>i << 2));
}

const KI_TABLE = memory.data<u32>([
  0x8000, // I_0x8000
  0x7fff, // I_0x7fff
  112 << 23, // I_112s23
  0x7bff, // I_0x7bff
  0x400, // I_0x400
  0x80000000, // I_0x80000000
  0x7fffffff, // I_0x7fffffff
  0x200, // I_0x200
  0x7c00, // I_0x7c00
  0x7f800000, // I_0x7f800000
  0x3f000000, // I_0x3f000000
  1, // I_1
  0xc8000fff, // I_0xc8000fff
  0x38800000, // I_0x38800000
  0x477fffff, // I_0x477fffff
  0x40, // I_0x40
]);
const I_0x8000: i32 = 0;
const I_0x7fff: i32 = 1;
const I_112s23: i32 = 2;
const I_0x7bff: i32 = 3;
const I_0x400: i32 = 4;
const I_0x80000000: i32 = 5;
const I_0x7fffffff: i32 = 6;
const I_0x200: i32 = 7;
const I_0x7c00: i32 = 8;
const I_0x7f800000: i32 = 9;
const I_0x3f000000: i32 = 10;
const I_1: i32 = 11;
const I_0xc8000fff: i32 = 12;
const I_0x38800000: i32 = 13;
const I_0x477fffff: i32 = 14;
const I_0x40: i32 = 15;
@inline function ki(i: i32): v128 {
  return v128.load32_splat(KI_TABLE + (<usize>i << 2));
}

// Reductions over n elements of one operand (f32/f16/bf16), returned as f64.
//   op 0: sum, 1: sum of squares — f32x4 lanes (4 accumulators, 16 elements a step) over chunks of
//         CHUNK elements; each chunk's sum is added into an f64 accumulator, so the error is bounded by
//         about (CHUNK/16 + 4)·u32·Σ|x| however large n is. (Squares above ≈ 3.4e38 overflow in f32.)
//   op 2: max |x| (NaN if any element is NaN; 0 for n = 0), exact, on the sign-stripped bit patterns.
//   op 3: count of non-finite elements (±Inf, NaN), on the bit patterns.
import { DT_F16, DT_F32, bf16ToF32, f16ToF32, load1, load4 } from "./common";

const CHUNK: i32 = 1024;

@inline function hsum(v: v128): f64 {
  return <f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1)
    + <f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3);
}

@inline function sq(v: v128, squares: bool): v128 {
  return squares ? f32x4.mul(v, v) : v;
}

@inline function sumLoop(x: usize, dt: i32, n: i32, squares: bool): f64 {
  let total: f64 = 0;
  for (let c: i32 = 0; c < n; c += CHUNK) {
    const end: i32 = min(n, c + CHUNK);
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let i: i32 = c;
    for (; i + 16 <= end; i += 16) {
      const k = <usize>i;
      a0 = f32x4.add(a0, sq(load4(x, k, dt), squares));
      a1 = f32x4.add(a1, sq(load4(x, k + 4, dt), squares));
      a2 = f32x4.add(a2, sq(load4(x, k + 8, dt), squares));
      a3 = f32x4.add(a3, sq(load4(x, k + 12, dt), squares));
    }
    for (; i + 4 <= end; i += 4) a0 = f32x4.add(a0, sq(load4(x, <usize>i, dt), squares));
    let s: f32 = 0;
    for (; i < end; i++) {
      const v = load1(x, <usize>i, dt);
      s += squares ? v * v : v;
    }
    total += hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3))) + <f64>s;
  }
  return total;
}

/** Largest sign-stripped bit pattern (as an unsigned integer). */
@inline function maxBits(x: usize, dt: i32, n: i32): u32 {
  let i: i32 = 0;
  let m: u32 = 0;
  if (dt == DT_F32) {
    let acc = i32x4.splat(0);
    const mask = i32x4.splat(0x7fffffff);
    for (; i + 4 <= n; i += 4) acc = i32x4.max_u(acc, v128.and(v128.load(x + (<usize>i << 2)), mask));
    m = max(max(i32x4.extract_lane(acc, 0), i32x4.extract_lane(acc, 1)), max(i32x4.extract_lane(acc, 2), i32x4.extract_lane(acc, 3)));
    for (; i < n; i++) m = max(m, load<u32>(x + (<usize>i << 2)) & 0x7fffffff);
  } else {
    let acc = i16x8.splat(0);
    const mask = i16x8.splat(0x7fff);
    for (; i + 8 <= n; i += 8) acc = i16x8.max_u(acc, v128.and(v128.load(x + (<usize>i << 1)), mask));
    // widen the 8 lanes to two i32x4 and fold
    const w = i32x4.max_u(i32x4.extend_low_i16x8_u(acc), i32x4.extend_high_i16x8_u(acc));
    m = max(max(i32x4.extract_lane(w, 0), i32x4.extract_lane(w, 1)), max(i32x4.extract_lane(w, 2), i32x4.extract_lane(w, 3)));
    for (; i < n; i++) m = max(m, <u32>load<u16>(x + (<usize>i << 1)) & 0x7fff);
  }
  return m;
}

@inline function maxAbs(x: usize, dt: i32, n: i32): f64 {
  const m = maxBits(x, dt, n);
  if (dt == DT_F32) return m > 0x7f800000 ? NaN : <f64>reinterpret<f32>(m);
  if (dt == DT_F16) return m > 0x7c00 ? NaN : <f64>f16ToF32(m);
  return m > 0x7f80 ? NaN : <f64>bf16ToF32(m);
}

@inline function countNonFinite(x: usize, dt: i32, n: i32): f64 {
  let i: i32 = 0;
  let count: i64 = 0;
  if (dt == DT_F32) {
    const mask = i32x4.splat(0x7fffffff);
    const inf = i32x4.splat(0x7f800000);
    let acc = i32x4.splat(0); // at most n/4 < 2^29 per lane
    for (; i + 4 <= n; i += 4) {
      acc = i32x4.sub(acc, i32x4.ge_u(v128.and(v128.load(x + (<usize>i << 2)), mask), inf));
    }
    count = <i64>i32x4.extract_lane(acc, 0) + <i64>i32x4.extract_lane(acc, 1)
      + <i64>i32x4.extract_lane(acc, 2) + <i64>i32x4.extract_lane(acc, 3);
    for (; i < n; i++) if ((load<u32>(x + (<usize>i << 2)) & 0x7fffffff) >= 0x7f800000) count++;
  } else {
    const lim: u32 = dt == DT_F16 ? 0x7c00 : 0x7f80;
    const mask = i16x8.splat(0x7fff);
    const inf = i16x8.splat(<i16>lim);
    // 16-bit lane counters: at most 4096 per lane per block of 32768 elements
    for (let c: i32 = 0; c < n; c += 32768) {
      const end: i32 = min(n, c + 32768);
      let acc = i16x8.splat(0);
      for (; i + 8 <= end; i += 8) {
        acc = i16x8.sub(acc, i16x8.ge_u(v128.and(v128.load(x + (<usize>i << 1)), mask), inf));
      }
      const w = i32x4.extadd_pairwise_i16x8_u(acc);
      count += <i64>i32x4.extract_lane(w, 0) + <i64>i32x4.extract_lane(w, 1)
        + <i64>i32x4.extract_lane(w, 2) + <i64>i32x4.extract_lane(w, 3);
    }
    for (; i < n; i++) if ((<u32>load<u16>(x + (<usize>i << 1)) & 0x7fff) >= lim) count++;
  }
  return <f64>count;
}

/** op: 0 sum, 1 sum of squares, 2 max |x| (NaN if any NaN), 3 count of Inf/NaN elements. */
export function reduce(op: i32, x: usize, xDt: i32, n: i32): f64 {
  if (n <= 0) return 0;
  if (op == 0) return sumLoop(x, xDt, n, false);
  if (op == 1) return sumLoop(x, xDt, n, true);
  if (op == 2) return maxAbs(x, xDt, n);
  return countNonFinite(x, xDt, n);
}

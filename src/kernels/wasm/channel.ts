// Per-channel kernels on [B, C, S] tensors (rows r = b·C + c of S contiguous elements): the bias add
// and per-channel scale of a layer, and the per-channel sums that are their gradients.
//   channelAffine: out[r, s] = x[r, s]·scale[c] + shift[c] (scale / shift 0: 1 / 0), rows [r0, r1).
//   channelSum:    out[c] = Σ_b Σ_s x[b, c, s] (·y[b, c, s] where y ≠ 0), channels [c0, c1); each
//                  row is summed in f32 lanes over chunks of CHUNK elements added into an f64 total, the
//                  rows in batch order, so the result does not depend on how channels are split.
import { DT_F32, load1, load4, store1, store4, store8 } from "./common";

const CHUNK: i32 = 1024;

@inline function affineRow(x: usize, xDt: i32, out: usize, outDt: i32, s: i32, w: f32, b: f32): void {
  const wv = f32x4.splat(w);
  const bv = f32x4.splat(b);
  let i: i32 = 0;
  for (; i + 8 <= s; i += 8) {
    const k = <usize>i;
    store8(out, k, outDt, f32x4.add(f32x4.mul(load4(x, k, xDt), wv), bv), f32x4.add(f32x4.mul(load4(x, k + 4, xDt), wv), bv));
  }
  for (; i + 4 <= s; i += 4) store4(out, <usize>i, outDt, f32x4.add(f32x4.mul(load4(x, <usize>i, xDt), wv), bv));
  for (; i < s; i++) store1(out, <usize>i, outDt, load1(x, <usize>i, xDt) * w + b);
}

@inline function affineLoop(
  x: usize, xDt: i32, out: usize, outDt: i32, scale: usize, scaleDt: i32, shift: usize, shiftDt: i32,
  c: i32, s: i32, r0: i32, r1: i32,
): void {
  const xs: usize = xDt == DT_F32 ? 4 : 2;
  const os: usize = outDt == DT_F32 ? 4 : 2;
  for (let r = r0; r < r1; r++) {
    const ch = <usize>(r % c);
    const w: f32 = scale != 0 ? load1(scale, ch, scaleDt) : 1;
    const b: f32 = shift != 0 ? load1(shift, ch, shiftDt) : 0;
    const off = <usize>r * <usize>s;
    affineRow(x + off * xs, xDt, out + off * os, outDt, s, w, b);
  }
}

/** out = x·scale[c] + shift[c] for rows [r0, r1) of [B·C, S]; out may be x. */
export function channelAffine(
  x: usize, xDt: i32, out: usize, outDt: i32, scale: usize, scaleDt: i32, shift: usize, shiftDt: i32,
  c: i32, s: i32, r0: i32, r1: i32,
): void {
  if (xDt == DT_F32 && outDt == DT_F32) affineLoop(x, DT_F32, out, DT_F32, scale, scaleDt, shift, shiftDt, c, s, r0, r1);
  else affineLoop(x, xDt, out, outDt, scale, scaleDt, shift, shiftDt, c, s, r0, r1);
}

@inline function hsum(v: v128): f64 {
  return <f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1)
    + <f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3);
}

@inline function rowSum(x: usize, xDt: i32, y: usize, yDt: i32, s: i32, withY: bool): f64 {
  let total: f64 = 0;
  for (let c: i32 = 0; c < s; c += CHUNK) {
    const end: i32 = min(s, c + CHUNK);
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let i: i32 = c;
    for (; i + 8 <= end; i += 8) {
      const k = <usize>i;
      let v0 = load4(x, k, xDt);
      let v1 = load4(x, k + 4, xDt);
      if (withY) {
        v0 = f32x4.mul(v0, load4(y, k, yDt));
        v1 = f32x4.mul(v1, load4(y, k + 4, yDt));
      }
      a0 = f32x4.add(a0, v0);
      a1 = f32x4.add(a1, v1);
    }
    let t: f32 = 0;
    for (; i < end; i++) {
      const v = load1(x, <usize>i, xDt);
      t += withY ? v * load1(y, <usize>i, yDt) : v;
    }
    total += hsum(f32x4.add(a0, a1)) + <f64>t;
  }
  return total;
}

@inline function sumLoop(
  x: usize, xDt: i32, y: usize, yDt: i32, out: usize, outDt: i32,
  b: i32, c: i32, s: i32, c0: i32, c1: i32, withY: bool,
): void {
  const xs: usize = xDt == DT_F32 ? 4 : 2;
  const ys: usize = yDt == DT_F32 ? 4 : 2;
  for (let ch = c0; ch < c1; ch++) {
    let total: f64 = 0;
    for (let bi: i32 = 0; bi < b; bi++) {
      const off = (<usize>bi * <usize>c + <usize>ch) * <usize>s;
      total += rowSum(x + off * xs, xDt, withY ? y + off * ys : 0, yDt, s, withY);
    }
    store1(out, <usize>ch, outDt, <f32>total);
  }
}

/** out[ch] = Σ_b Σ_s x[b, ch, s]·(y[b, ch, s] if y ≠ 0) for channels [c0, c1). */
export function channelSum(
  x: usize, xDt: i32, y: usize, yDt: i32, out: usize, outDt: i32,
  b: i32, c: i32, s: i32, c0: i32, c1: i32,
): void {
  if (y != 0) {
    if (xDt == DT_F32 && yDt == DT_F32) sumLoop(x, DT_F32, y, DT_F32, out, outDt, b, c, s, c0, c1, true);
    else sumLoop(x, xDt, y, yDt, out, outDt, b, c, s, c0, c1, true);
  } else if (xDt == DT_F32) {
    sumLoop(x, DT_F32, 0, DT_F32, out, outDt, b, c, s, c0, c1, false);
  } else {
    sumLoop(x, xDt, 0, DT_F32, out, outDt, b, c, s, c0, c1, false);
  }
}

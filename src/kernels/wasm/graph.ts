// Graph kernels of a GNO layer over row-major [rows, C] tensors, C (channels) the SIMD axis: 4 f32 lanes,
// 32 or 16 channels a step where C allows, then 4, then a scalar tail (C need not be a multiple of 4).
// One storage dtype per call (f32, f16 or bf16); sums are formed in f32 and each output is rounded once
// into the dtype. Index arrays are Int32 arrays staged in the arena by the caller, already validated
// (graphCheckIndex, or the caller's row-pointer check).
//   gatherRows:     out[e, :] = x[idx[e], :], edges [e0, e1): a copy of the stored bytes (codes stay codes).
//   scatterAddRows: out[idx[e], :] += src[e, :] over every edge, channels [c0, c1) (the caller passes all
//                   of them: split across threads, the column blocks did not pay, see graph.ts); edges
//                   in order. 16-bit outputs are decoded into an f32 accumulator [rows, C] first and
//                   encoded once at the end.
//   segmentSum:     out[q, :] = Σ_{e ∈ [rowPtr[q], rowPtr[q+1])} x[e, :] (÷ the count when mean; an empty
//                   segment gives 0), segments [q0, q1), edges in order.
//
// Radius neighbour search (see src/kernels/neighbors.ts for the grid): nbrSort counting-sorts the data
// points into the cells of the grid and stores their coordinates in cell order (x, y, z planes, f64);
// nbrCount counts each query's neighbours (into rowPtr[q + 1]); nbrFill writes each query's neighbours
// at rowPtr[q] in increasing index order. Distances are the float64 expression d0·d0 + d1·d1 + d2·d2
// (f64x2 lanes: the same IEEE operations as the scalar form), compared with r² — bit for bit the
// reference's test, on the reference's grid, so the result is the reference's.
import { DT_BF16, DT_F16, DT_F32, load1, load4, store1, store4 } from "./common";

// ---- index validation ----

/** The first e in [0, n) with idx[e] outside [0, rows), or −1. */
export function graphCheckIndex(idx: usize, n: i32, rows: i32): i32 {
  const lim = i32x4.splat(rows);
  let e: i32 = 0;
  for (; e + 16 <= n; e += 16) {
    const p = idx + (<usize>e << 2);
    const bad = v128.or(
      v128.or(i32x4.ge_u(v128.load(p), lim), i32x4.ge_u(v128.load(p, 16), lim)),
      v128.or(i32x4.ge_u(v128.load(p, 32), lim), i32x4.ge_u(v128.load(p, 48), lim)),
    );
    if (v128.any_true(bad)) break;
  }
  for (; e < n; e++) if (load<u32>(idx + (<usize>e << 2)) >= <u32>rows) return e;
  return -1;
}

// ---- gather ----

@inline function copyRow(s: usize, d: usize, n: usize): void {
  let b: usize = 0;
  for (; b + 64 <= n; b += 64) {
    const v0 = v128.load(s + b);
    const v1 = v128.load(s + b, 16);
    const v2 = v128.load(s + b, 32);
    const v3 = v128.load(s + b, 48);
    v128.store(d + b, v0);
    v128.store(d + b, v1, 16);
    v128.store(d + b, v2, 32);
    v128.store(d + b, v3, 48);
  }
  for (; b + 16 <= n; b += 16) v128.store(d + b, v128.load(s + b));
  if (b + 8 <= n) {
    store<u64>(d + b, load<u64>(s + b));
    b += 8;
  }
  if (b + 4 <= n) {
    store<u32>(d + b, load<u32>(s + b));
    b += 4;
  }
  if (b + 2 <= n) store<u16>(d + b, load<u16>(s + b));
}

/** out[e, :] = x[idx[e], :] for edges [e0, e1); rows of `rowBytes` bytes (C times the element size). */
export function gatherRows(x: usize, idx: usize, out: usize, rowBytes: i32, e0: i32, e1: i32): void {
  const rb = <usize>rowBytes;
  for (let e = e0; e < e1; e++) {
    const s = x + <usize>load<i32>(idx + (<usize>e << 2)) * rb;
    copyRow(s, out + <usize>e * rb, rb);
  }
}

// ---- scatter-add ----

/** acc[r, c0:c1] (f32) = decoded out[r, c0:c1], or the reverse (encode), for every row. */
@inline function codeColumns(out: usize, dt: i32, acc: usize, rows: i32, c: i32, c0: i32, c1: i32, encode: bool): void {
  for (let r: i32 = 0; r < rows; r++) {
    const base = <usize>r * <usize>c;
    let ch = c0;
    for (; ch + 4 <= c1; ch += 4) {
      const k = base + <usize>ch;
      if (encode) store4(out, k, dt, v128.load(acc + (k << 2)));
      else v128.store(acc + (k << 2), load4(out, k, dt));
    }
    for (; ch < c1; ch++) {
      const k = base + <usize>ch;
      if (encode) store1(out, k, dt, load<f32>(acc + (k << 2)));
      else store<f32>(acc + (k << 2), load1(out, k, dt));
    }
  }
}

/** acc[idx[k], c0:c1] += src[k, c0:c1] (acc f32 [., c]), the edges in order. */
@inline function scatterLoop(src: usize, dt: i32, idx: usize, acc: usize, e: i32, c: i32, c0: i32, c1: i32): void {
  const cc = <usize>c;
  for (let k: i32 = 0; k < e; k++) {
    const s = <usize>k * cc; // element index of src row k
    const a = acc + ((<usize>load<i32>(idx + (<usize>k << 2)) * cc) << 2);
    let ch = c0;
    for (; ch + 16 <= c1; ch += 16) {
      const p = a + (<usize>ch << 2);
      const i = s + <usize>ch;
      const v0 = f32x4.add(v128.load(p), load4(src, i, dt));
      const v1 = f32x4.add(v128.load(p, 16), load4(src, i + 4, dt));
      const v2 = f32x4.add(v128.load(p, 32), load4(src, i + 8, dt));
      const v3 = f32x4.add(v128.load(p, 48), load4(src, i + 12, dt));
      v128.store(p, v0);
      v128.store(p, v1, 16);
      v128.store(p, v2, 32);
      v128.store(p, v3, 48);
    }
    for (; ch + 4 <= c1; ch += 4) {
      const p = a + (<usize>ch << 2);
      v128.store(p, f32x4.add(v128.load(p), load4(src, s + <usize>ch, dt)));
    }
    for (; ch < c1; ch++) {
      const p = a + (<usize>ch << 2);
      store<f32>(p, load<f32>(p) + load1(src, s + <usize>ch, dt));
    }
  }
}

/**
 * out[idx[k], c0:c1] += src[k, c0:c1] for k in [0, e); out [rows, c], src [e, c], both in dtype dt.
 * f32: summed in place. 16-bit: `acc` is an f32 [rows, c] buffer (only columns [c0, c1) are used).
 */
export function scatterAddRows(src: usize, dt: i32, idx: usize, out: usize, acc: usize, rows: i32, e: i32, c: i32, c0: i32, c1: i32): void {
  if (dt == DT_F32) {
    scatterLoop(src, DT_F32, idx, out, e, c, c0, c1);
  } else if (dt == DT_F16) {
    codeColumns(out, DT_F16, acc, rows, c, c0, c1, false);
    scatterLoop(src, DT_F16, idx, acc, e, c, c0, c1);
    codeColumns(out, DT_F16, acc, rows, c, c0, c1, true);
  } else {
    codeColumns(out, DT_BF16, acc, rows, c, c0, c1, false);
    scatterLoop(src, DT_BF16, idx, acc, e, c, c0, c1);
    codeColumns(out, DT_BF16, acc, rows, c, c0, c1, true);
  }
}

// ---- segment sum / mean ----

@inline function segmentLoop(x: usize, dt: i32, rowPtr: usize, out: usize, c: i32, mean: bool, q0: i32, q1: i32): void {
  const cc = <usize>c;
  const sh: usize = dt == DT_F32 ? 2 : 1;
  const step = cc << sh; // bytes from one edge's row to the next
  for (let q = q0; q < q1; q++) {
    const a = load<i32>(rowPtr + (<usize>q << 2));
    const b = load<i32>(rowPtr + (<usize>q << 2), 4);
    const row = x + ((<usize>a * cc) << sh);
    const o = <usize>q * cc;
    const div = f32x4.splat(<f32>(b - a));
    const scale = mean && b > a;
    let ch: i32 = 0;
    // 32 channels a pass (8 accumulators): a pass reads 128 of every row's bytes (f32), two cache lines
    for (; ch + 32 <= c; ch += 32) {
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let a4 = f32x4.splat(0);
      let a5 = f32x4.splat(0);
      let a6 = f32x4.splat(0);
      let a7 = f32x4.splat(0);
      let p = row + (<usize>ch << sh);
      for (let e = a; e < b; e++) {
        a0 = f32x4.add(a0, load4(p, 0, dt));
        a1 = f32x4.add(a1, load4(p, 4, dt));
        a2 = f32x4.add(a2, load4(p, 8, dt));
        a3 = f32x4.add(a3, load4(p, 12, dt));
        a4 = f32x4.add(a4, load4(p, 16, dt));
        a5 = f32x4.add(a5, load4(p, 20, dt));
        a6 = f32x4.add(a6, load4(p, 24, dt));
        a7 = f32x4.add(a7, load4(p, 28, dt));
        p += step;
      }
      if (scale) {
        a0 = f32x4.div(a0, div);
        a1 = f32x4.div(a1, div);
        a2 = f32x4.div(a2, div);
        a3 = f32x4.div(a3, div);
        a4 = f32x4.div(a4, div);
        a5 = f32x4.div(a5, div);
        a6 = f32x4.div(a6, div);
        a7 = f32x4.div(a7, div);
      }
      const k = o + <usize>ch;
      store4(out, k, dt, a0);
      store4(out, k + 4, dt, a1);
      store4(out, k + 8, dt, a2);
      store4(out, k + 12, dt, a3);
      store4(out, k + 16, dt, a4);
      store4(out, k + 20, dt, a5);
      store4(out, k + 24, dt, a6);
      store4(out, k + 28, dt, a7);
    }
    for (; ch + 16 <= c; ch += 16) {
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      let p = row + (<usize>ch << sh);
      for (let e = a; e < b; e++) {
        a0 = f32x4.add(a0, load4(p, 0, dt));
        a1 = f32x4.add(a1, load4(p, 4, dt));
        a2 = f32x4.add(a2, load4(p, 8, dt));
        a3 = f32x4.add(a3, load4(p, 12, dt));
        p += step;
      }
      if (scale) {
        a0 = f32x4.div(a0, div);
        a1 = f32x4.div(a1, div);
        a2 = f32x4.div(a2, div);
        a3 = f32x4.div(a3, div);
      }
      const k = o + <usize>ch;
      store4(out, k, dt, a0);
      store4(out, k + 4, dt, a1);
      store4(out, k + 8, dt, a2);
      store4(out, k + 12, dt, a3);
    }
    for (; ch + 4 <= c; ch += 4) {
      let a0 = f32x4.splat(0);
      let p = row + (<usize>ch << sh);
      for (let e = a; e < b; e++) {
        a0 = f32x4.add(a0, load4(p, 0, dt));
        p += step;
      }
      if (scale) a0 = f32x4.div(a0, div);
      store4(out, o + <usize>ch, dt, a0);
    }
    for (; ch < c; ch++) {
      let s: f32 = 0;
      let p = row + (<usize>ch << sh);
      for (let e = a; e < b; e++) {
        s += load1(p, 0, dt);
        p += step;
      }
      if (scale) s /= <f32>(b - a);
      store1(out, o + <usize>ch, dt, s);
    }
  }
}

/** out[q, :] = Σ x[rowPtr[q] … rowPtr[q+1]−1, :] (÷ the count if mean ≠ 0) for segments [q0, q1); x [E, c], out [M, c]. */
export function segmentSum(x: usize, dt: i32, rowPtr: usize, out: usize, c: i32, mean: i32, q0: i32, q1: i32): void {
  const m = mean != 0;
  if (dt == DT_F32) segmentLoop(x, DT_F32, rowPtr, out, c, m, q0, q1);
  else if (dt == DT_F16) segmentLoop(x, DT_F16, rowPtr, out, c, m, q0, q1);
  else segmentLoop(x, DT_BF16, rowPtr, out, c, m, q0, q1);
}

// ---- radius neighbour search ----
//
// Descriptor (f64 slots): 0 points (f64 [n, 3]), 1 n, 2 cell (i32 [n], scratch), 3 start (i32 [cells + 1]),
// 4 order (i32 [n]), 5 sorted (f64 [3, n]: x, y, z planes in cell order), 6 queries (f64 [m, 3]),
// 7–9 nx, ny, nz, 10–12 lo, 13–15 side, 16 radius, 17 r², 18 rowPtr (i32 [m + 1]), 19 indices (i32).

/**
 * Byte shuffles that move the lanes set in a 4-bit mask (i32 lanes) to the front, in order (0x80:
 * zero), 16 bytes per mask: the compaction of four candidates' indices to their hits.
 */
const COMPACT = memory.data<u8>([
  128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  4, 5, 6, 7, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 4, 5, 6, 7, 128, 128, 128, 128, 128, 128, 128, 128,
  8, 9, 10, 11, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 8, 9, 10, 11, 128, 128, 128, 128, 128, 128, 128, 128,
  4, 5, 6, 7, 8, 9, 10, 11, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 128, 128, 128, 128,
  12, 13, 14, 15, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 12, 13, 14, 15, 128, 128, 128, 128, 128, 128, 128, 128,
  4, 5, 6, 7, 12, 13, 14, 15, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15, 128, 128, 128, 128,
  8, 9, 10, 11, 12, 13, 14, 15, 128, 128, 128, 128, 128, 128, 128, 128,
  0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 128, 128, 128, 128,
  4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 128, 128, 128, 128,
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
]);

@inline function dp(desc: usize, i: i32): usize {
  return <usize>load<f64>(desc + (<usize>i << 3));
}

@inline function df(desc: usize, i: i32): f64 {
  return load<f64>(desc + (<usize>i << 3));
}

@inline function axisCell(v: f64, lo: f64, side: f64, nf: f64): i32 {
  return <i32>min(nf - 1, Math.floor((v - lo) / side));
}

/**
 * The bounding box of n points (f64 [n, 3]) into out (f64: min x, y, z, then max x, y, z); returns 1
 * when a coordinate is not finite (then out is meaningless), else 0. Two points a step, as the lanes
 * (x0, y0), (z0, x1), (y1, z1).
 */
export function nbrBounds(p: usize, n: i32, out: usize): i32 {
  const inf = f64x2.splat(Infinity);
  const ninf = f64x2.splat(-Infinity);
  let loA = inf;
  let loB = inf;
  let loC = inf;
  let hiA = ninf;
  let hiB = ninf;
  let hiC = ninf;
  let bad = f64x2.splat(0); // Σ (v − v): 0 while every v is finite, NaN after any other
  let i: i32 = 0;
  for (; i + 2 <= n; i += 2) {
    const q = p + <usize>i * 24;
    const a = v128.load(q);
    const b = v128.load(q, 16);
    const c = v128.load(q, 32);
    loA = f64x2.pmin(loA, a);
    loB = f64x2.pmin(loB, b);
    loC = f64x2.pmin(loC, c);
    hiA = f64x2.pmax(hiA, a);
    hiB = f64x2.pmax(hiB, b);
    hiC = f64x2.pmax(hiC, c);
    bad = f64x2.add(bad, f64x2.add(f64x2.add(f64x2.sub(a, a), f64x2.sub(b, b)), f64x2.sub(c, c)));
  }
  let lx = min(f64x2.extract_lane(loA, 0), f64x2.extract_lane(loB, 1));
  let ly = min(f64x2.extract_lane(loA, 1), f64x2.extract_lane(loC, 0));
  let lz = min(f64x2.extract_lane(loB, 0), f64x2.extract_lane(loC, 1));
  let hx = max(f64x2.extract_lane(hiA, 0), f64x2.extract_lane(hiB, 1));
  let hy = max(f64x2.extract_lane(hiA, 1), f64x2.extract_lane(hiC, 0));
  let hz = max(f64x2.extract_lane(hiB, 0), f64x2.extract_lane(hiC, 1));
  let b: f64 = f64x2.extract_lane(bad, 0) + f64x2.extract_lane(bad, 1);
  if (i < n) {
    const q = p + <usize>i * 24;
    const x = load<f64>(q);
    const y = load<f64>(q, 8);
    const z = load<f64>(q, 16);
    lx = min(lx, x);
    ly = min(ly, y);
    lz = min(lz, z);
    hx = max(hx, x);
    hy = max(hy, y);
    hz = max(hz, z);
    b += (x - x) + (y - y) + (z - z);
  }
  store<f64>(out, lx);
  store<f64>(out, ly, 8);
  store<f64>(out, lz, 16);
  store<f64>(out, hx, 24);
  store<f64>(out, hy, 32);
  store<f64>(out, hz, 40);
  return b == 0 ? 0 : 1;
}

/** Counting-sorts the n data points into the grid's cells (increasing index within a cell). */
export function nbrSort(desc: usize): void {
  const pts = dp(desc, 0);
  const n = <i32>df(desc, 1);
  const cell = dp(desc, 2);
  const start = dp(desc, 3);
  const order = dp(desc, 4);
  const sorted = dp(desc, 5);
  const nx = <i32>df(desc, 7);
  const ny = <i32>df(desc, 8);
  const nz = <i32>df(desc, 9);
  const lo0 = df(desc, 10);
  const lo1 = df(desc, 11);
  const lo2 = df(desc, 12);
  const s0 = df(desc, 13);
  const s1 = df(desc, 14);
  const s2 = df(desc, 15);
  const cells = nx * ny * nz;
  memory.fill(start, 0, (<usize>cells + 1) << 2);
  for (let i: i32 = 0; i < n; i++) {
    const p = pts + <usize>i * 24;
    const k = (axisCell(load<f64>(p), lo0, s0, <f64>nx) * ny + axisCell(load<f64>(p, 8), lo1, s1, <f64>ny)) * nz
      + axisCell(load<f64>(p, 16), lo2, s2, <f64>nz);
    store<i32>(cell + (<usize>i << 2), k);
    const sp = start + ((<usize>k + 1) << 2);
    store<i32>(sp, load<i32>(sp) + 1);
  }
  let run: i32 = 0;
  for (let k: i32 = 1; k <= cells; k++) {
    const sp = start + (<usize>k << 2);
    run += load<i32>(sp);
    store<i32>(sp, run);
  }
  // place (start[k] is advanced while placing, then restored from the counts' end positions)
  for (let i: i32 = 0; i < n; i++) {
    const sp = start + (<usize>load<i32>(cell + (<usize>i << 2)) << 2);
    const s = load<i32>(sp);
    store<i32>(sp, s + 1);
    store<i32>(order + (<usize>s << 2), i);
    const p = pts + <usize>i * 24;
    const d = sorted + (<usize>s << 3);
    store<f64>(d, load<f64>(p));
    store<f64>(d + (<usize>n << 3), load<f64>(p, 8));
    store<f64>(d + (<usize>n << 4), load<f64>(p, 16));
  }
  // start[k] now holds the end of cell k, which is the start of cell k + 1: shift back by one
  for (let k = cells; k > 0; k--) store<i32>(start + (<usize>k << 2), load<i32>(start + (<usize>(k - 1) << 2)));
  store<i32>(start, 0);
}

/**
 * Visits the spans of sorted positions (one per (x, y) cell column, the z cells of a column being
 * contiguous) that the ball around query q touches, clipped to the grid; `fill` false counts the
 * points within r, true writes their indices at `dst` (in cell order) and returns the count.
 */
@inline function visit(desc: usize, q: i32, fill: bool, dst: usize): i32 {
  const n = <usize><i32>df(desc, 1);
  const start = dp(desc, 3);
  const order = dp(desc, 4);
  const xs = dp(desc, 5);
  const ys = xs + (n << 3);
  const zs = xs + (n << 4);
  const qp = dp(desc, 6) + <usize>q * 24;
  const nxf = df(desc, 7);
  const nyf = df(desc, 8);
  const nzf = df(desc, 9);
  const ny = <i32>nyf;
  const nz = <i32>nzf;
  const radius = df(desc, 16);
  const r2 = df(desc, 17);
  const y0 = load<f64>(qp);
  const y1 = load<f64>(qp, 8);
  const y2 = load<f64>(qp, 16);
  const lo0 = df(desc, 10);
  const lo1 = df(desc, 11);
  const lo2 = df(desc, 12);
  const s0 = df(desc, 13);
  const s1 = df(desc, 14);
  const s2 = df(desc, 15);
  // the reference's cell ranges, formed in the same float64 operations
  const a0 = max(0.0, Math.floor((y0 - radius - lo0) / s0));
  const a1 = min(nxf - 1, Math.floor((y0 + radius - lo0) / s0));
  const b0 = max(0.0, Math.floor((y1 - radius - lo1) / s1));
  const b1 = min(nyf - 1, Math.floor((y1 + radius - lo1) / s1));
  const c0 = max(0.0, Math.floor((y2 - radius - lo2) / s2));
  const c1 = min(nzf - 1, Math.floor((y2 + radius - lo2) / s2));
  if (!(a0 <= a1 && b0 <= b1 && c0 <= c1)) return 0;
  const ia0 = <i32>a0;
  const ia1 = <i32>a1;
  const ib0 = <i32>b0;
  const ib1 = <i32>b1;
  const ic0 = <i32>c0;
  const ic1 = <i32>c1;
  const v0 = f64x2.splat(y0);
  const v1 = f64x2.splat(y1);
  const v2 = f64x2.splat(y2);
  const vr = f64x2.splat(r2);
  let cnt = i64x2.splat(0);
  let found: i32 = 0;
  for (let a = ia0; a <= ia1; a++) {
    for (let b = ib0; b <= ib1; b++) {
      const k = (a * ny + b) * nz;
      let s = <usize>load<i32>(start + (<usize>(k + ic0) << 2));
      const e = <usize>load<i32>(start + (<usize>(k + ic1 + 1) << 2));
      if (fill) {
        // four points a step: the hits' indices compacted by one byte shuffle and stored as one vector
        // (up to 3 entries past the hits are written: dst has slack)
        for (; s + 4 <= e; s += 4) {
          const x0 = f64x2.sub(v128.load(xs + (s << 3)), v0);
          const x1 = f64x2.sub(v128.load(ys + (s << 3)), v1);
          const x2 = f64x2.sub(v128.load(zs + (s << 3)), v2);
          const h0 = f64x2.le(f64x2.add(f64x2.add(f64x2.mul(x0, x0), f64x2.mul(x1, x1)), f64x2.mul(x2, x2)), vr);
          const u0 = f64x2.sub(v128.load(xs + (s << 3), 16), v0);
          const u1 = f64x2.sub(v128.load(ys + (s << 3), 16), v1);
          const u2 = f64x2.sub(v128.load(zs + (s << 3), 16), v2);
          const h1 = f64x2.le(f64x2.add(f64x2.add(f64x2.mul(u0, u0), f64x2.mul(u1, u1)), f64x2.mul(u2, u2)), vr);
          const bits = i64x2.bitmask(h0) | (i64x2.bitmask(h1) << 2);
          const sel = v128.load(COMPACT + (<usize>bits << 4));
          v128.store(dst + (<usize>found << 2), i8x16.swizzle(v128.load(order + (s << 2)), sel));
          found += <i32>popcnt(bits);
        }
      }
      for (; s + 2 <= e; s += 2) {
        const d0 = f64x2.sub(v128.load(xs + (s << 3)), v0);
        const d1 = f64x2.sub(v128.load(ys + (s << 3)), v1);
        const d2 = f64x2.sub(v128.load(zs + (s << 3)), v2);
        const d = f64x2.add(f64x2.add(f64x2.mul(d0, d0), f64x2.mul(d1, d1)), f64x2.mul(d2, d2));
        const hit = f64x2.le(d, vr);
        if (fill) {
          // branch-free: both lanes are written, the cursor advances past the hits only
          const bits = i64x2.bitmask(hit);
          const op = order + (s << 2);
          store<i32>(dst + (<usize>found << 2), load<i32>(op));
          found += bits & 1;
          store<i32>(dst + (<usize>found << 2), load<i32>(op, 4));
          found += bits >> 1;
        } else {
          cnt = i64x2.sub(cnt, hit);
        }
      }
      if (s < e) {
        const d0 = load<f64>(xs + (s << 3)) - y0;
        const d1 = load<f64>(ys + (s << 3)) - y1;
        const d2 = load<f64>(zs + (s << 3)) - y2;
        if (d0 * d0 + d1 * d1 + d2 * d2 <= r2) {
          if (fill) store<i32>(dst + (<usize>found << 2), load<i32>(order + (s << 2)));
          found++;
        }
      }
    }
  }
  return found + <i32>(i64x2.extract_lane(cnt, 0) + i64x2.extract_lane(cnt, 1));
}

/** Counts the neighbours of queries [q0, q1) into rowPtr[q + 1]; returns the largest count. */
export function nbrCount(desc: usize, q0: i32, q1: i32): i32 {
  const rowPtr = dp(desc, 18);
  let most: i32 = 0;
  for (let q = q0; q < q1; q++) {
    const k = visit(desc, q, false, 0);
    store<i32>(rowPtr + (<usize>(q + 1) << 2), k);
    if (k > most) most = k;
  }
  return most;
}

/** The end of the increasing run of a[0 .. k) that starts at i. */
@inline function runEnd(a: usize, i: i32, k: i32): i32 {
  let j = i + 1;
  while (j < k && load<i32>(a + (<usize>j << 2)) > load<i32>(a + (<usize>(j - 1) << 2))) j++;
  return j;
}

/** Merges the increasing runs a[i .. j) and a[j .. l) into b[i .. l). */
@inline function merge(a: usize, i: i32, j: i32, l: i32, b: usize): void {
  let u = i;
  let v = j;
  let o = i;
  while (u < j && v < l) {
    const x = load<i32>(a + (<usize>u << 2));
    const y = load<i32>(a + (<usize>v << 2));
    const takeX = x < y;
    store<i32>(b + (<usize>o << 2), takeX ? x : y);
    u += <i32>takeX;
    v += <i32>!takeX;
    o++;
  }
  if (u < j) memory.copy(b + (<usize>o << 2), a + (<usize>u << 2), <usize>(j - u) << 2);
  else if (v < l) memory.copy(b + (<usize>o << 2), a + (<usize>v << 2), <usize>(l - v) << 2);
}

/**
 * Sorts the k distinct values at a (which holds a few increasing runs: one per cell) into dst, by
 * natural merge sort (pairs of runs merged per pass) between a and b.
 */
function sortRuns(a: usize, b: usize, k: i32, dst: usize): void {
  let src = a;
  let tmp = b;
  for (;;) {
    let i: i32 = 0;
    while (i < k) {
      const j = runEnd(src, i, k);
      if (j == k) {
        if (i == 0) {
          memory.copy(dst, src, <usize>k << 2);
          return;
        }
        memory.copy(tmp + (<usize>i << 2), src + (<usize>i << 2), <usize>(k - i) << 2);
        break;
      }
      const l = runEnd(src, j, k);
      merge(src, i, j, l, tmp);
      i = l;
    }
    const t = src;
    src = tmp;
    tmp = t;
  }
}

/** Sorts d[0 .. k) in place by insertion (short or nearly sorted lists). */
@inline function insertionSort(d: usize, k: i32): void {
  for (let j: i32 = 1; j < k; j++) {
    const v = load<i32>(d + (<usize>j << 2));
    let i = j - 1;
    while (i >= 0 && load<i32>(d + (<usize>i << 2)) > v) {
      store<i32>(d + (<usize>(i + 1) << 2), load<i32>(d + (<usize>i << 2)));
      i--;
    }
    store<i32>(d + (<usize>(i + 1) << 2), v);
  }
}

/** Buckets of the counting pass: at most 2^BUCKET_BITS. */
const BUCKET_BITS: i32 = 12;
/** A list of at most this many is sorted by insertion alone. */
const SHORT: i32 = 32;
/** Above this many values in one bucket, the runs are merged instead (insertion would be quadratic). */
const CROWDED: i32 = 32;

/** Bytes of one nbrFill task's work area: two lists of most + 4 entries and the bucket counters. */
export function nbrWorkBytes(most: i32): i32 {
  return ((most + 4) << 3) + (((1 << BUCKET_BITS) + 1) << 2);
}

/**
 * Writes the neighbours of queries [q0, q1) at indices[rowPtr[q] …], increasing; work: nbrWorkBytes(most).
 * A row is collected in cell order (a few increasing runs, one per cell), then put in order: short
 * rows by insertion; longer ones by one counting pass into 2k … 4k buckets (at most 4096) over the
 * row's index range [lo, hi] followed by insertion (each bucket holds a handful), or, where one bucket
 * would be crowded (indices bunched in a narrow part of the range), by merging the runs.
 */
export function nbrFill(desc: usize, q0: i32, q1: i32, work: usize, most: i32): void {
  const rowPtr = dp(desc, 18);
  const indices = dp(desc, 19);
  const wa = work;
  const wb = work + ((<usize>most + 4) << 2);
  const cnt = work + ((<usize>most + 4) << 3);
  for (let q = q0; q < q1; q++) {
    const k = visit(desc, q, true, wa);
    if (k == 0) continue;
    const dst = indices + (<usize>load<i32>(rowPtr + (<usize>q << 2)) << 2);
    if (k <= SHORT) {
      memory.copy(dst, wa, <usize>k << 2);
      insertionSort(dst, k);
      continue;
    }
    let lo: i32 = 0x7fffffff;
    let hi: i32 = 0;
    for (let j: i32 = 0; j < k; j++) {
      const i = load<i32>(wa + (<usize>j << 2));
      lo = min(lo, i);
      hi = max(hi, i);
    }
    const span = hi - lo;
    const shift = max(0, (32 - <i32>clz(span)) - min(BUCKET_BITS, 33 - <i32>clz(k)));
    const nb = (span >> shift) + 1;
    memory.fill(cnt, 0, (<usize>nb + 1) << 2);
    for (let j: i32 = 0; j < k; j++) {
      const cp = cnt + (<usize>(((load<i32>(wa + (<usize>j << 2)) - lo) >> shift) + 1) << 2);
      store<i32>(cp, load<i32>(cp) + 1);
    }
    // counts → starts (cnt[b] = the start of bucket b), noting the fullest bucket
    let run: i32 = 0;
    let full: i32 = 0;
    for (let b: i32 = 0; b < nb; b++) {
      const cp = cnt + (<usize>b << 2);
      const c = load<i32>(cp, 4);
      store<i32>(cp, run);
      run += c;
      full = max(full, c);
    }
    if (full > CROWDED) {
      sortRuns(wa, wb, k, dst);
      continue;
    }
    for (let j: i32 = 0; j < k; j++) {
      const v = load<i32>(wa + (<usize>j << 2));
      const cp = cnt + (<usize>((v - lo) >> shift) << 2);
      const at = load<i32>(cp);
      store<i32>(cp, at + 1);
      store<i32>(dst + (<usize>at << 2), v);
    }
    insertionSort(dst, k);
  }
}

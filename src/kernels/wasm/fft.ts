// Batched 1-D FFTs along one axis, vectorised across "lanes" (independent signals), in f32.
//
// A descriptor (i32 fields, written by src/kernels/fft.ts) says where the signals are: row j of lane
// l lives at src + (s·srcSJ + l1·srcL1 + l2·srcL2) elements, l = l1 + L1·l2, for source row s whose
// transform position is inMap[s] (positions not listed are zero); output position outMap[t] goes to
// destination row t. Lanes are processed in groups of G = 16 complex lanes (4 f32x4 vectors per row)
// in a scratch buffer laid out [row][lane]; the Stockham stages are vectorised across those lanes.
// Real transforms pack two real signals into one complex lane (lanes i and i + G of a group).
//
// kind 0: complex→complex (direction from `inverse`); kind 1: real→half spectrum (forward);
// kind 2: half spectrum→real (inverse; imaginary parts of the DC and Nyquist terms are ignored,
// i.e. Hermitian symmetry is enforced). Output is multiplied by `scale`. With emu = 1 (f16) or
// 2 (bf16), every stage's output (and the twiddles) is rounded to that type: an emulated
// half-precision FFT.
import { DT_F32, decBf16x4, decF16x4, encBf16x4, encF16x4, load1, load4, store1, store4, storeT4 } from "./common";

const G: i32 = 16;
const RB: usize = 64; // bytes per scratch row (G f32)

// descriptor fields (i32 index)
const D_KIND = 0, D_INV = 1, D_N = 2, D_PLAN = 3;
const D_SRE = 4, D_SIM = 5, D_SDT = 6, D_SSJ = 7, D_SL1 = 8, D_SL2 = 9, D_NIN = 10, D_INMAP = 11;
const D_DRE = 12, D_DIM = 13, D_DDT = 14, D_DSJ = 15, D_DL1 = 16, D_DL2 = 17, D_NOUT = 18, D_OUTMAP = 19;
const D_L1 = 20, D_EMU = 22, D_SCALE = 23, D_ROWS = 24;

@inline function fld(d: usize, i: i32): i32 {
  return load<i32>(d + (<usize>i << 2));
}

@inline function rnd(v: v128, emu: i32): v128 {
  if (emu == 1) return decF16x4(encF16x4(v));
  if (emu == 2) return decBf16x4(encBf16x4(v));
  return v;
}

@inline function cmulRe(ar: v128, ai: v128, br: v128, bi: v128): v128 {
  return f32x4.sub(f32x4.mul(ar, br), f32x4.mul(ai, bi));
}
@inline function cmulIm(ar: v128, ai: v128, br: v128, bi: v128): v128 {
  return f32x4.add(f32x4.mul(ar, bi), f32x4.mul(ai, br));
}

// Twiddle tables are uploaded already rounded to the emulated type (see src/kernels/fft.ts).
@inline function twr(tw: usize, idx: i32): v128 {
  return f32x4.splat(load<f32>(tw + (<usize>idx << 3)));
}
@inline function twi(tw: usize, idx: i32, sg: f32): v128 {
  return f32x4.splat(sg * load<f32>(tw + (<usize>idx << 3), 4));
}

/** Rounds `bytes` of f32 data in place to the emulated type. */
function roundBuf(p: usize, bytes: usize, emu: i32): void {
  for (let o: usize = 0; o < bytes; o += 16) v128.store(p + o, rnd(v128.load(p + o), emu));
}

function radix2(m: i32, s: i32, tw: usize, xr: usize, xi: usize, yr: usize, yi: usize, sg: f32): void {
  for (let p: i32 = 0; p < m; p++) {
    const w1r = twr(tw, p), w1i = twi(tw, p, sg);
    for (let q: i32 = 0; q < s; q++) {
      const i0 = <usize>(q + s * p) * RB, i1 = <usize>(q + s * (p + m)) * RB;
      const o0 = <usize>(q + s * 2 * p) * RB, o1 = o0 + <usize>s * RB;
      for (let v: usize = 0; v < RB; v += 16) {
        const a0r = v128.load(xr + i0 + v), a0i = v128.load(xi + i0 + v);
        const a1r = v128.load(xr + i1 + v), a1i = v128.load(xi + i1 + v);
        v128.store(yr + o0 + v, f32x4.add(a0r, a1r));
        v128.store(yi + o0 + v, f32x4.add(a0i, a1i));
        const dr = f32x4.sub(a0r, a1r), di = f32x4.sub(a0i, a1i);
        v128.store(yr + o1 + v, cmulRe(dr, di, w1r, w1i));
        v128.store(yi + o1 + v, cmulIm(dr, di, w1r, w1i));
      }
    }
  }
}

function radix4(m: i32, s: i32, tw: usize, xr: usize, xi: usize, yr: usize, yi: usize, sg: f32): void {
  const sgv = f32x4.splat(sg);
  for (let p: i32 = 0; p < m; p++) {
    // twiddles stay in memory (splat-loaded where used): keeping six vectors live spills registers
    const tp = tw + <usize>(p * 3) * 8;
    for (let q: i32 = 0; q < s; q++) {
      const sm = <usize>(s * m) * RB;
      const i0 = <usize>(q + s * p) * RB, i1 = i0 + sm, i2 = i1 + sm, i3 = i2 + sm;
      const o0 = <usize>(q + s * 4 * p) * RB, os = <usize>s * RB;
      const o1 = o0 + os, o2 = o1 + os, o3 = o2 + os;
      for (let v: usize = 0; v < RB; v += 16) {
        const a0r = v128.load(xr + i0 + v), a0i = v128.load(xi + i0 + v);
        const a2r = v128.load(xr + i2 + v), a2i = v128.load(xi + i2 + v);
        const t0r = f32x4.add(a0r, a2r), t0i = f32x4.add(a0i, a2i);
        const t1r = f32x4.sub(a0r, a2r), t1i = f32x4.sub(a0i, a2i);
        const a1r = v128.load(xr + i1 + v), a1i = v128.load(xi + i1 + v);
        const a3r = v128.load(xr + i3 + v), a3i = v128.load(xi + i3 + v);
        const t2r = f32x4.add(a1r, a3r), t2i = f32x4.add(a1i, a3i);
        // t3 = ∓i·(a1 − a3): forward −i, inverse +i
        const dr = f32x4.sub(a1r, a3r), di = f32x4.sub(a1i, a3i);
        const t3r = f32x4.mul(di, sgv), t3i = f32x4.neg(f32x4.mul(dr, sgv));
        v128.store(yr + o0 + v, f32x4.add(t0r, t2r));
        v128.store(yi + o0 + v, f32x4.add(t0i, t2i));
        const b2r = f32x4.sub(t0r, t2r), b2i = f32x4.sub(t0i, t2i);
        let wr = v128.load32_splat(tp, 8), wi = f32x4.mul(v128.load32_splat(tp, 12), sgv);
        v128.store(yr + o2 + v, cmulRe(b2r, b2i, wr, wi));
        v128.store(yi + o2 + v, cmulIm(b2r, b2i, wr, wi));
        const b1r = f32x4.add(t1r, t3r), b1i = f32x4.add(t1i, t3i);
        wr = v128.load32_splat(tp);
        wi = f32x4.mul(v128.load32_splat(tp, 4), sgv);
        v128.store(yr + o1 + v, cmulRe(b1r, b1i, wr, wi));
        v128.store(yi + o1 + v, cmulIm(b1r, b1i, wr, wi));
        const b3r = f32x4.sub(t1r, t3r), b3i = f32x4.sub(t1i, t3i);
        wr = v128.load32_splat(tp, 16);
        wi = f32x4.mul(v128.load32_splat(tp, 20), sgv);
        v128.store(yr + o3 + v, cmulRe(b3r, b3i, wr, wi));
        v128.store(yi + o3 + v, cmulIm(b3r, b3i, wr, wi));
      }
    }
  }
}

function radix3(m: i32, s: i32, tw: usize, xr: usize, xi: usize, yr: usize, yi: usize, sg: f32): void {
  const half = f32x4.splat(0.5);
  const s3 = f32x4.splat(sg * 0.8660254037844386); // sin(2π/3), sign by direction
  for (let p: i32 = 0; p < m; p++) {
    const w1r = twr(tw, p * 2), w1i = twi(tw, p * 2, sg);
    const w2r = twr(tw, p * 2 + 1), w2i = twi(tw, p * 2 + 1, sg);
    for (let q: i32 = 0; q < s; q++) {
      const sm = <usize>(s * m) * RB;
      const i0 = <usize>(q + s * p) * RB, i1 = i0 + sm, i2 = i1 + sm;
      const o0 = <usize>(q + s * 3 * p) * RB, os = <usize>s * RB;
      const o1 = o0 + os, o2 = o1 + os;
      for (let v: usize = 0; v < RB; v += 16) {
        const a0r = v128.load(xr + i0 + v), a0i = v128.load(xi + i0 + v);
        const a1r = v128.load(xr + i1 + v), a1i = v128.load(xi + i1 + v);
        const a2r = v128.load(xr + i2 + v), a2i = v128.load(xi + i2 + v);
        const t1r = f32x4.add(a1r, a2r), t1i = f32x4.add(a1i, a2i);
        const t2r = f32x4.sub(a1r, a2r), t2i = f32x4.sub(a1i, a2i);
        v128.store(yr + o0 + v, f32x4.add(a0r, t1r));
        v128.store(yi + o0 + v, f32x4.add(a0i, t1i));
        const m1r = f32x4.sub(a0r, f32x4.mul(half, t1r)), m1i = f32x4.sub(a0i, f32x4.mul(half, t1i));
        // m2 = ∓i·sin(2π/3)·t2
        const m2r = f32x4.mul(s3, t2i), m2i = f32x4.neg(f32x4.mul(s3, t2r));
        const b1r = f32x4.add(m1r, m2r), b1i = f32x4.add(m1i, m2i);
        const b2r = f32x4.sub(m1r, m2r), b2i = f32x4.sub(m1i, m2i);
        v128.store(yr + o1 + v, cmulRe(b1r, b1i, w1r, w1i));
        v128.store(yi + o1 + v, cmulIm(b1r, b1i, w1r, w1i));
        v128.store(yr + o2 + v, cmulRe(b2r, b2i, w2r, w2i));
        v128.store(yi + o2 + v, cmulIm(b2r, b2i, w2r, w2i));
      }
    }
  }
}

function radix5(m: i32, s: i32, tw: usize, xr: usize, xi: usize, yr: usize, yi: usize, sg: f32): void {
  const c1 = f32x4.splat(0.30901699437494745), c2 = f32x4.splat(-0.8090169943749473);
  const s1 = f32x4.splat(sg * 0.9510565162951535), s2 = f32x4.splat(sg * 0.5877852522924732);
  for (let p: i32 = 0; p < m; p++) {
    const w1r = twr(tw, p * 4), w1i = twi(tw, p * 4, sg);
    const w2r = twr(tw, p * 4 + 1), w2i = twi(tw, p * 4 + 1, sg);
    const w3r = twr(tw, p * 4 + 2), w3i = twi(tw, p * 4 + 2, sg);
    const w4r = twr(tw, p * 4 + 3), w4i = twi(tw, p * 4 + 3, sg);
    for (let q: i32 = 0; q < s; q++) {
      const sm = <usize>(s * m) * RB;
      const i0 = <usize>(q + s * p) * RB, i1 = i0 + sm, i2 = i1 + sm, i3 = i2 + sm, i4 = i3 + sm;
      const o0 = <usize>(q + s * 5 * p) * RB, os = <usize>s * RB;
      const o1 = o0 + os, o2 = o1 + os, o3 = o2 + os, o4 = o3 + os;
      for (let v: usize = 0; v < RB; v += 16) {
        const a0r = v128.load(xr + i0 + v), a0i = v128.load(xi + i0 + v);
        const a1r = v128.load(xr + i1 + v), a1i = v128.load(xi + i1 + v);
        const a2r = v128.load(xr + i2 + v), a2i = v128.load(xi + i2 + v);
        const a3r = v128.load(xr + i3 + v), a3i = v128.load(xi + i3 + v);
        const a4r = v128.load(xr + i4 + v), a4i = v128.load(xi + i4 + v);
        const t1r = f32x4.add(a1r, a4r), t1i = f32x4.add(a1i, a4i);
        const t2r = f32x4.add(a2r, a3r), t2i = f32x4.add(a2i, a3i);
        const t3r = f32x4.sub(a1r, a4r), t3i = f32x4.sub(a1i, a4i);
        const t4r = f32x4.sub(a2r, a3r), t4i = f32x4.sub(a2i, a3i);
        v128.store(yr + o0 + v, f32x4.add(a0r, f32x4.add(t1r, t2r)));
        v128.store(yi + o0 + v, f32x4.add(a0i, f32x4.add(t1i, t2i)));
        const m1r = f32x4.add(a0r, f32x4.add(f32x4.mul(c1, t1r), f32x4.mul(c2, t2r)));
        const m1i = f32x4.add(a0i, f32x4.add(f32x4.mul(c1, t1i), f32x4.mul(c2, t2i)));
        const m2r = f32x4.add(a0r, f32x4.add(f32x4.mul(c2, t1r), f32x4.mul(c1, t2r)));
        const m2i = f32x4.add(a0i, f32x4.add(f32x4.mul(c2, t1i), f32x4.mul(c1, t2i)));
        const n1r = f32x4.add(f32x4.mul(s1, t3r), f32x4.mul(s2, t4r));
        const n1i = f32x4.add(f32x4.mul(s1, t3i), f32x4.mul(s2, t4i));
        const n2r = f32x4.sub(f32x4.mul(s2, t3r), f32x4.mul(s1, t4r));
        const n2i = f32x4.sub(f32x4.mul(s2, t3i), f32x4.mul(s1, t4i));
        // b1 = m1 − i·n1, b4 = m1 + i·n1, b2 = m2 − i·n2, b3 = m2 + i·n2 (sign of i folded into s1, s2)
        const b1r = f32x4.add(m1r, n1i), b1i = f32x4.sub(m1i, n1r);
        const b4r = f32x4.sub(m1r, n1i), b4i = f32x4.add(m1i, n1r);
        const b2r = f32x4.add(m2r, n2i), b2i = f32x4.sub(m2i, n2r);
        const b3r = f32x4.sub(m2r, n2i), b3i = f32x4.add(m2i, n2r);
        v128.store(yr + o1 + v, cmulRe(b1r, b1i, w1r, w1i));
        v128.store(yi + o1 + v, cmulIm(b1r, b1i, w1r, w1i));
        v128.store(yr + o2 + v, cmulRe(b2r, b2i, w2r, w2i));
        v128.store(yi + o2 + v, cmulIm(b2r, b2i, w2r, w2i));
        v128.store(yr + o3 + v, cmulRe(b3r, b3i, w3r, w3i));
        v128.store(yi + o3 + v, cmulIm(b3r, b3i, w3r, w3i));
        v128.store(yr + o4 + v, cmulRe(b4r, b4i, w4r, w4i));
        v128.store(yi + o4 + v, cmulIm(b4r, b4i, w4r, w4i));
      }
    }
  }
}

/** Runs a Stockham plan on buffer x (y is the other buffer); returns 0 if the result is in x, 1 if in y. */
function stockham(plan: usize, xr: usize, xi: usize, yr: usize, yi: usize, inv: bool, emu: i32): i32 {
  const ns = load<i32>(plan, 4);
  const sg: f32 = inv ? -1 : 1;
  let cur: i32 = 0;
  for (let k: i32 = 0; k < ns; k++) {
    const st = plan + 8 + (<usize>k << 4);
    const r = load<i32>(st), m = load<i32>(st, 4), s = load<i32>(st, 8);
    const tw = <usize>load<i32>(st, 12);
    const ar = cur == 0 ? xr : yr, ai = cur == 0 ? xi : yi;
    const br = cur == 0 ? yr : xr, bi = cur == 0 ? yi : xi;
    if (r == 4) radix4(m, s, tw, ar, ai, br, bi, sg);
    else if (r == 2) radix2(m, s, tw, ar, ai, br, bi, sg);
    else if (r == 3) radix3(m, s, tw, ar, ai, br, bi, sg);
    else radix5(m, s, tw, ar, ai, br, bi, sg);
    if (emu > 0) {
      // every stage's output rounded to the half type (re and im of the n rows in use)
      const bytes = <usize>(m * r * s) * RB;
      roundBuf(br, bytes, emu);
      roundBuf(bi, bytes, emu);
    }
    cur ^= 1;
  }
  return cur;
}

/** Multiplies rows 0..rows−1 of (re, im) by the complex scalars tab[j] (conjugated if conj). */
function rowMul(re: usize, im: usize, rows: i32, tab: usize, conj: bool, emu: i32): void {
  const sg: f32 = conj ? -1 : 1;
  for (let j: i32 = 0; j < rows; j++) {
    const wr = f32x4.splat(load<f32>(tab + (<usize>j << 3)));
    const wi = f32x4.splat(sg * load<f32>(tab + (<usize>j << 3), 4));
    const o = <usize>j * RB;
    for (let v: usize = 0; v < RB; v += 16) {
      const ar = v128.load(re + o + v), ai = v128.load(im + o + v);
      v128.store(re + o + v, rnd(cmulRe(ar, ai, wr, wi), emu));
      v128.store(im + o + v, rnd(cmulIm(ar, ai, wr, wi), emu));
    }
  }
}

/** Full transform of the gathered group in buffer A; returns 0 if the result is in A, 1 if in B. */
function transform(plan: usize, are: usize, aim: usize, bre: usize, bim: usize, inv: bool, emu: i32): i32 {
  if (load<i32>(plan) == 0) return stockham(plan, are, aim, bre, bim, inv, emu);
  // Bluestein: plan = [1, M, subPlan, chirp, filter, n]
  const mm = load<i32>(plan, 4);
  const sub = <usize>load<i32>(plan, 8);
  const chirp = <usize>load<i32>(plan, 12);
  const filter = <usize>load<i32>(plan, 16);
  const n = load<i32>(plan, 20);
  rowMul(are, aim, n, chirp, inv, emu);
  let r = stockham(sub, are, aim, bre, bim, false, emu);
  let cr = r == 0 ? are : bre, ci = r == 0 ? aim : bim;
  // multiply by the filter; the inverse direction uses conj(filter[(M − j) mod M])
  for (let j: i32 = 0; j < mm; j++) {
    const jj = inv ? (mm - j) % mm : j;
    const wr = f32x4.splat(load<f32>(filter + (<usize>jj << 3)));
    const wi = f32x4.splat((inv ? <f32>-1 : <f32>1) * load<f32>(filter + (<usize>jj << 3), 4));
    const o = <usize>j * RB;
    for (let v: usize = 0; v < RB; v += 16) {
      const ar = v128.load(cr + o + v), ai = v128.load(ci + o + v);
      v128.store(cr + o + v, rnd(cmulRe(ar, ai, wr, wi), emu));
      v128.store(ci + o + v, rnd(cmulIm(ar, ai, wr, wi), emu));
    }
  }
  const r2 = stockham(sub, cr, ci, r == 0 ? bre : are, r == 0 ? bim : aim, true, emu);
  const fin = r2 == 0 ? r : r ^ 1;
  cr = fin == 0 ? are : bre;
  ci = fin == 0 ? aim : bim;
  rowMul(cr, ci, n, chirp, inv, emu);
  return fin;
}

/**
 * Element offsets of lanes g0..g0+cnt−1 into off[], and the group's contiguous runs into runs[]
 * (triples: first lane, end lane, offset of the first lane); returns the number of runs.
 */
function laneOffsets(off: usize, runs: usize, g0: i32, cnt: i32, l1n: i32, sl1: i32, sl2: i32): i32 {
  let nr: i32 = 0;
  let l1 = g0 % l1n, l2 = g0 / l1n;
  let prev: i32 = 0;
  for (let i: i32 = 0; i < cnt; i++) {
    const o = l1 * sl1 + l2 * sl2;
    store<i32>(off + (<usize>i << 2), o);
    if (i == 0 || o != prev + 1) {
      if (nr > 0) store<i32>(runs + <usize>(nr - 1) * 12, i, 4);
      store<i32>(runs + <usize>nr * 12, i);
      store<i32>(runs + <usize>nr * 12, o, 8);
      nr++;
    }
    prev = o;
    l1++;
    if (l1 == l1n) { l1 = 0; l2++; }
  }
  if (nr > 0) store<i32>(runs + <usize>(nr - 1) * 12, cnt, 4);
  return nr;
}

// Lane-access modes of a group: 0 scalar (offset table), 1 a few runs of consecutive lanes (vector
// loads per run), 2 rows consecutive (row stride 1: 4×4 SIMD transposes).
@inline function accessMode(nruns: i32, cnt: i32, rowStride: i32): i32 {
  if (nruns == 1 || (nruns <= 4 && cnt >= 4 * nruns)) return 1;
  return rowStride == 1 ? 2 : 0;
}

@inline function mapped(map: usize, i: i32): usize {
  return <usize>(map != 0 ? load<i32>(map + (<usize>i << 2)) : i);
}

/**
 * Loads source rows 0..nrows−1, lanes [from, to), into rows map[s] (or s when map = 0) of a scratch
 * buffer [row][lane − from] of G floats per row; lanes past the count are set to zero.
 */
function loadRows(src: usize, dt: i32, rs: i32, nrows: i32, off: usize, runs: usize, nruns: i32, from: i32, to: i32, mode: i32, buf: usize, map: usize): void {
  const cnt = to - from;
  if (cnt < G) {
    // lanes past cnt must be zero: in real transforms they share complex lanes with real signals
    for (let s: i32 = 0; s < nrows; s++) memory.fill(buf + mapped(map, s) * RB + (<usize>cnt << 2), 0, <usize>(G - cnt) << 2);
  }
  if (mode == 1) {
    for (let q: i32 = 0; q < nruns; q++) {
      const rf = max(from, load<i32>(runs + <usize>q * 12)), rt = min(to, load<i32>(runs + <usize>q * 12, 4));
      if (rf >= rt) continue;
      const base = load<i32>(runs + <usize>q * 12, 8) + rf - load<i32>(runs + <usize>q * 12);
      const len = rt - rf;
      const lane0 = <usize>(rf - from) << 2;
      if (dt == DT_F32 && len == G) {
        // the common case: a whole group of f32 lanes, four plain vector copies per row
        for (let s: i32 = 0; s < nrows; s++) {
          const sp = src + (<usize>(base + s * rs) << 2);
          const d = buf + mapped(map, s) * RB + lane0;
          v128.store(d, v128.load(sp));
          v128.store(d, v128.load(sp, 16), 16);
          v128.store(d, v128.load(sp, 32), 32);
          v128.store(d, v128.load(sp, 48), 48);
        }
        continue;
      }
      for (let s: i32 = 0; s < nrows; s++) {
        const o = base + s * rs;
        const d = buf + mapped(map, s) * RB + lane0;
        let i: i32 = 0;
        for (; i + 4 <= len; i += 4) v128.store(d + (<usize>i << 2), load4(src, <usize>(o + i), dt));
        for (; i < len; i++) store<f32>(d + (<usize>i << 2), load1(src, <usize>(o + i), dt));
      }
    }
    return;
  }
  let s0: i32 = 0;
  if (mode == 2) {
    const q4 = cnt & ~3;
    for (; s0 + 4 <= nrows; s0 += 4) {
      const d0 = buf + mapped(map, s0) * RB, d1 = buf + mapped(map, s0 + 1) * RB;
      const d2 = buf + mapped(map, s0 + 2) * RB, d3 = buf + mapped(map, s0 + 3) * RB;
      for (let i: i32 = 0; i < q4; i += 4) {
        const p = off + (<usize>(from + i) << 2);
        let r0: v128, r1: v128, r2: v128, r3: v128;
        if (dt == DT_F32) {
          r0 = v128.load(src + (<usize>(load<i32>(p) + s0) << 2));
          r1 = v128.load(src + (<usize>(load<i32>(p, 4) + s0) << 2));
          r2 = v128.load(src + (<usize>(load<i32>(p, 8) + s0) << 2));
          r3 = v128.load(src + (<usize>(load<i32>(p, 12) + s0) << 2));
        } else {
          r0 = load4(src, <usize>(load<i32>(p) + s0), dt);
          r1 = load4(src, <usize>(load<i32>(p, 4) + s0), dt);
          r2 = load4(src, <usize>(load<i32>(p, 8) + s0), dt);
          r3 = load4(src, <usize>(load<i32>(p, 12) + s0), dt);
        }
        const a = i32x4.shuffle(r0, r1, 0, 4, 1, 5), b = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
        const c = i32x4.shuffle(r0, r1, 2, 6, 3, 7), e = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
        const li = <usize>i << 2;
        v128.store(d0 + li, i32x4.shuffle(a, b, 0, 1, 4, 5));
        v128.store(d1 + li, i32x4.shuffle(a, b, 2, 3, 6, 7));
        v128.store(d2 + li, i32x4.shuffle(c, e, 0, 1, 4, 5));
        v128.store(d3 + li, i32x4.shuffle(c, e, 2, 3, 6, 7));
      }
      for (let i = q4; i < cnt; i++) {
        const o = load<i32>(off + (<usize>(from + i) << 2)) + s0;
        const li = <usize>i << 2;
        store<f32>(d0 + li, load1(src, <usize>o, dt));
        store<f32>(d1 + li, load1(src, <usize>(o + 1), dt));
        store<f32>(d2 + li, load1(src, <usize>(o + 2), dt));
        store<f32>(d3 + li, load1(src, <usize>(o + 3), dt));
      }
    }
  }
  for (let s = s0; s < nrows; s++) {
    const d = buf + mapped(map, s) * RB;
    for (let i: i32 = 0; i < cnt; i++) {
      store<f32>(d + (<usize>i << 2), load1(src, <usize>(load<i32>(off + (<usize>(from + i) << 2)) + s * rs), dt));
    }
  }
}

/**
 * Stores rows map[t] (or t) of a scratch buffer, times scale and rounded to the emulated type, to
 * destination rows t = 0..nrows−1, lanes [from, to).
 */
function storeRows(buf: usize, map: usize, dst: usize, dt: i32, rs: i32, nrows: i32, off: usize, runs: usize, nruns: i32, from: i32, to: i32, mode: i32, scale: v128, emu: i32): void {
  const cnt = to - from;
  if (mode == 1) {
    for (let q: i32 = 0; q < nruns; q++) {
      const rf = max(from, load<i32>(runs + <usize>q * 12)), rt = min(to, load<i32>(runs + <usize>q * 12, 4));
      if (rf >= rt) continue;
      const base = load<i32>(runs + <usize>q * 12, 8) + rf - load<i32>(runs + <usize>q * 12);
      const len = rt - rf;
      const lane0 = <usize>(rf - from) << 2;
      if (dt == DT_F32 && emu == 0 && len == G) {
        // the common case: a whole group of f32 lanes, four scaled vector copies per row
        for (let t: i32 = 0; t < nrows; t++) {
          const dp = dst + (<usize>(base + t * rs) << 2);
          const v = buf + mapped(map, t) * RB + lane0;
          v128.store(dp, f32x4.mul(v128.load(v), scale));
          v128.store(dp, f32x4.mul(v128.load(v, 16), scale), 16);
          v128.store(dp, f32x4.mul(v128.load(v, 32), scale), 32);
          v128.store(dp, f32x4.mul(v128.load(v, 48), scale), 48);
        }
        continue;
      }
      for (let t: i32 = 0; t < nrows; t++) {
        const o = base + t * rs;
        const v = buf + mapped(map, t) * RB + lane0;
        let i: i32 = 0;
        for (; i + 4 <= len; i += 4) store4(dst, <usize>(o + i), dt, rnd(f32x4.mul(v128.load(v + (<usize>i << 2)), scale), emu));
        for (; i < len; i++) {
          store1(dst, <usize>(o + i), dt, f32x4.extract_lane(rnd(f32x4.mul(v128.load32_splat(v + (<usize>i << 2)), scale), emu), 0));
        }
      }
    }
    return;
  }
  let t0: i32 = 0;
  if (mode == 2) {
    const q4 = cnt & ~3;
    for (; t0 + 4 <= nrows; t0 += 4) {
      const v0 = buf + mapped(map, t0) * RB, v1 = buf + mapped(map, t0 + 1) * RB;
      const v2 = buf + mapped(map, t0 + 2) * RB, v3 = buf + mapped(map, t0 + 3) * RB;
      for (let i: i32 = 0; i < q4; i += 4) {
        const li = <usize>i << 2;
        const r0 = rnd(f32x4.mul(v128.load(v0 + li), scale), emu), r1 = rnd(f32x4.mul(v128.load(v1 + li), scale), emu);
        const r2 = rnd(f32x4.mul(v128.load(v2 + li), scale), emu), r3 = rnd(f32x4.mul(v128.load(v3 + li), scale), emu);
        const a = i32x4.shuffle(r0, r1, 0, 4, 1, 5), b = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
        const c = i32x4.shuffle(r0, r1, 2, 6, 3, 7), d = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
        const p = off + (<usize>(from + i) << 2);
        if (dt == DT_F32) {
          v128.store(dst + (<usize>(load<i32>(p) + t0) << 2), i32x4.shuffle(a, b, 0, 1, 4, 5));
          v128.store(dst + (<usize>(load<i32>(p, 4) + t0) << 2), i32x4.shuffle(a, b, 2, 3, 6, 7));
          v128.store(dst + (<usize>(load<i32>(p, 8) + t0) << 2), i32x4.shuffle(c, d, 0, 1, 4, 5));
          v128.store(dst + (<usize>(load<i32>(p, 12) + t0) << 2), i32x4.shuffle(c, d, 2, 3, 6, 7));
        } else {
          store4(dst, <usize>(load<i32>(p) + t0), dt, i32x4.shuffle(a, b, 0, 1, 4, 5));
          store4(dst, <usize>(load<i32>(p, 4) + t0), dt, i32x4.shuffle(a, b, 2, 3, 6, 7));
          store4(dst, <usize>(load<i32>(p, 8) + t0), dt, i32x4.shuffle(c, d, 0, 1, 4, 5));
          store4(dst, <usize>(load<i32>(p, 12) + t0), dt, i32x4.shuffle(c, d, 2, 3, 6, 7));
        }
      }
      for (let i = q4; i < cnt; i++) {
        const o = load<i32>(off + (<usize>(from + i) << 2)) + t0;
        const li = <usize>i << 2;
        const w = rnd(f32x4.mul(f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(v0 + li)), 1, load<f32>(v1 + li)), 2, load<f32>(v2 + li)), 3, load<f32>(v3 + li)), scale), emu);
        store1(dst, <usize>o, dt, f32x4.extract_lane(w, 0));
        store1(dst, <usize>(o + 1), dt, f32x4.extract_lane(w, 1));
        store1(dst, <usize>(o + 2), dt, f32x4.extract_lane(w, 2));
        store1(dst, <usize>(o + 3), dt, f32x4.extract_lane(w, 3));
      }
    }
  }
  for (let t = t0; t < nrows; t++) {
    const v = buf + mapped(map, t) * RB;
    for (let i: i32 = 0; i < cnt; i++) {
      const w = f32x4.extract_lane(rnd(f32x4.mul(v128.load32_splat(v + (<usize>i << 2)), scale), emu), 0);
      store1(dst, <usize>(load<i32>(off + (<usize>(from + i) << 2)) + t * rs), dt, w);
    }
  }
}

/** Scratch bytes fftRun needs: two buffers of `rows` rows, four staging sets of `stageRows` rows. */
export function fftWorkBytes(rows: i32, stageRows: i32): i32 {
  return 4 * rows * <i32>RB + 4 * stageRows * <i32>RB + 2 * 2 * G * 4 + 2 * 2 * G * 12;
}

@inline function copyRow(src: usize, dst: usize): void {
  for (let v: usize = 0; v < RB; v += 16) v128.store(dst + v, v128.load(src + v));
}


/** Runs the descriptor's transforms for lanes [laneStart, laneEnd) (real lanes for kinds 1 and 2). */
export function fftRun(desc: usize, laneStart: i32, laneEnd: i32, work: usize): void {
  const kind = fld(desc, D_KIND);
  const inv = fld(desc, D_INV) != 0;
  const n = fld(desc, D_N);
  const plan = <usize>fld(desc, D_PLAN);
  const sre = <usize>fld(desc, D_SRE), sim = <usize>fld(desc, D_SIM), sdt = fld(desc, D_SDT);
  const ssj = fld(desc, D_SSJ), sl1 = fld(desc, D_SL1), sl2 = fld(desc, D_SL2);
  const nin = fld(desc, D_NIN), inMap = <usize>fld(desc, D_INMAP);
  const dre = <usize>fld(desc, D_DRE), dim = <usize>fld(desc, D_DIM), ddt = fld(desc, D_DDT);
  const dsj = fld(desc, D_DSJ), dl1 = fld(desc, D_DL1), dl2 = fld(desc, D_DL2);
  const nout = fld(desc, D_NOUT), outMap = <usize>fld(desc, D_OUTMAP);
  const l1n = fld(desc, D_L1);
  const emu = fld(desc, D_EMU);
  const scale = f32x4.splat(reinterpret<f32>(fld(desc, D_SCALE)));
  const rows = fld(desc, D_ROWS);
  const srows = max(nin, nout);

  const bufBytes = <usize>rows * RB;
  const stBytes = <usize>srows * RB;
  const are = work, aim = are + bufBytes, bre = aim + bufBytes, bim = bre + bufBytes;
  const s0 = bim + bufBytes, s1 = s0 + stBytes, s2 = s1 + stBytes, s3 = s2 + stBytes;
  const offS = s3 + stBytes, offD = offS + <usize>(2 * G * 4);
  const runS = offD + <usize>(2 * G * 4), runD = runS + <usize>(2 * G * 12);
  // signals per group: real transforms pack two real signals per complex lane, except when emulating
  // half precision, where the packing would mix the two signals' rounding errors (a small signal
  // paired with a large one would inherit the large one's absolute error)
  const per: i32 = kind == 0 || emu > 0 ? G : 2 * G;

  const one = f32x4.splat(1);
  for (let g0 = laneStart; g0 < laneEnd; g0 += per) {
    const cnt = min(per, laneEnd - g0);
    const nrs = laneOffsets(offS, runS, g0, cnt, l1n, sl1, sl2);
    const nrd = laneOffsets(offD, runD, g0, cnt, l1n, dl1, dl2);
    const ms = accessMode(nrs, cnt, ssj);
    const md = accessMode(nrd, cnt, dsj);
    const lo = min(cnt, G); // lanes in the first (real-part) half
    // rows that no source row fills must be zero
    if (kind == 2 || nin < rows) memory.fill(are, 0, bufBytes * 2);
    else if ((kind == 1 && cnt <= G) || (kind == 0 && sim == 0)) memory.fill(aim, 0, bufBytes);
    if (kind == 0) {
      loadRows(sre, sdt, ssj, nin, offS, runS, nrs, 0, cnt, ms, are, inMap);
      if (sim != 0) loadRows(sim, sdt, ssj, nin, offS, runS, nrs, 0, cnt, ms, aim, inMap);
    } else if (kind == 1) {
      // two real signals per complex lane: lanes [0, G) → re, [G, 2G) → im
      loadRows(sre, sdt, ssj, nin, offS, runS, nrs, 0, lo, ms, are, inMap);
      if (cnt > G) loadRows(sre, sdt, ssj, nin, offS, runS, nrs, G, cnt, ms, aim, inMap);
    } else {
      // half spectra X_a (lanes [0, G)) and X_b (lanes [G, 2G)) → Z = X_a + i·X_b on all n rows
      loadRows(sre, sdt, ssj, nin, offS, runS, nrs, 0, lo, ms, s0, 0);
      loadRows(sim, sdt, ssj, nin, offS, runS, nrs, 0, lo, ms, s1, 0);
      if (cnt > G) {
        loadRows(sre, sdt, ssj, nin, offS, runS, nrs, G, cnt, ms, s2, 0);
        loadRows(sim, sdt, ssj, nin, offS, runS, nrs, G, cnt, ms, s3, 0);
      } else {
        memory.fill(s2, 0, stBytes * 2);
      }
      for (let s: i32 = 0; s < nin; s++) {
        const k = <i32>mapped(inMap, s);
        const so = <usize>s * RB;
        const zk = <usize>k * RB;
        if (k == 0 || 2 * k == n) {
          copyRow(s0 + so, are + zk);
          copyRow(s2 + so, aim + zk);
        } else {
          const zn = <usize>(n - k) * RB;
          for (let v: usize = 0; v < RB; v += 16) {
            const ar = v128.load(s0 + so + v), ai = v128.load(s1 + so + v);
            const br = v128.load(s2 + so + v), bi = v128.load(s3 + so + v);
            v128.store(are + zk + v, f32x4.sub(ar, bi));
            v128.store(aim + zk + v, f32x4.add(ai, br));
            v128.store(are + zn + v, f32x4.add(ar, bi));
            v128.store(aim + zn + v, f32x4.sub(br, ai));
          }
        }
      }
    }
    if (emu > 0) roundBuf(are, bufBytes * 2, emu); // the input of a half FFT is half
    const r = transform(plan, are, aim, bre, bim, kind == 0 ? inv : kind == 2, emu);
    const xr = r == 0 ? are : bre, xi = r == 0 ? aim : bim;
    if (kind == 0) {
      storeRows(xr, outMap, dre, ddt, dsj, nout, offD, runD, nrd, 0, cnt, md, scale, emu);
      storeRows(xi, outMap, dim, ddt, dsj, nout, offD, runD, nrd, 0, cnt, md, scale, emu);
    } else if (kind == 1) {
      // split Z into the spectra of the two real signals: A = (Z[j] + conj Z[−j])/2, B = (Z[j] − conj Z[−j])/(2i)
      const h = f32x4.mul(f32x4.splat(0.5), scale);
      for (let t: i32 = 0; t < nout; t++) {
        const j = <i32>mapped(outMap, t);
        const zj = <usize>j * RB, zn = <usize>((n - j) % n) * RB, so = <usize>t * RB;
        for (let v: usize = 0; v < RB; v += 16) {
          const zr = v128.load(xr + zj + v), zi = v128.load(xi + zj + v);
          const wr = v128.load(xr + zn + v), wi = v128.load(xi + zn + v);
          v128.store(s0 + so + v, rnd(f32x4.mul(h, f32x4.add(zr, wr)), emu));
          v128.store(s1 + so + v, rnd(f32x4.mul(h, f32x4.sub(zi, wi)), emu));
          v128.store(s2 + so + v, rnd(f32x4.mul(h, f32x4.add(zi, wi)), emu));
          v128.store(s3 + so + v, rnd(f32x4.mul(h, f32x4.sub(wr, zr)), emu));
        }
      }
      storeRows(s0, 0, dre, ddt, dsj, nout, offD, runD, nrd, 0, lo, md, one, 0);
      storeRows(s1, 0, dim, ddt, dsj, nout, offD, runD, nrd, 0, lo, md, one, 0);
      if (cnt > G) {
        storeRows(s2, 0, dre, ddt, dsj, nout, offD, runD, nrd, G, cnt, md, one, 0);
        storeRows(s3, 0, dim, ddt, dsj, nout, offD, runD, nrd, G, cnt, md, one, 0);
      }
    } else {
      storeRows(xr, outMap, dre, ddt, dsj, nout, offD, runD, nrd, 0, lo, md, scale, emu);
      if (cnt > G) storeRows(xi, outMap, dre, ddt, dsj, nout, offD, runD, nrd, G, cnt, md, scale, emu);
    }
  }
}

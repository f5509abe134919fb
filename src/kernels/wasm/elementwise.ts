// Elementwise kernels: binary ops, scale/tanh/gelu/clamp and their backward forms, axpy.
// Every operand has its own dtype (f32/f16/bf16); values are decoded to f32, computed 4 lanes at a time
// in f32x4 SIMD, and rounded once into the output dtype. The scalar tail runs the same vector math on a
// splatted lane, so the tail and the body give bit-identical results. Nothing is written past n.
//
// Accuracy (relative, against float64): exp/tanh/gelu are within a few f32 ulps. Where the exp
// argument is large and itself the result of f32 arithmetic (−x²/2 in gelu-erf, −2u in gelu-tanh),
// its absolute error would turn into a relative error of the result of up to ~1e-5 near |arg| ≈ 87;
// those arguments are therefore formed and range-reduced in f64x2 lanes (expW), and only the reduced
// argument r ∈ [−ln2/2, ln2/2] goes through the f32 polynomial.
import { load1, load4, store1, store4 } from "./common";

// ---- vector math helpers ----

const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693359375; // 355/512: n·LN2_HI is exact for |n| < 2^15
const LN2_LO: f32 = -2.1219444005469057e-4;
const LOG2E_D: f64 = 1.4426950408889634;
const LN2_D: f64 = 0.6931471805599453;

// exp(r) − 1 − r ≈ r²·(E2 + r·(E3 + r·(E4 + r·(E5 + r·E6)))) on |r| ≤ ln2/2 (fitted, rel. error 3e-9)
const E2: f32 = 0.4999999333802378;
const E3: f32 = 0.16666519005720964;
const E4: f32 = 0.04166840718609145;
const E5: f32 = 0.008368913691138647;
const E6: f32 = 0.0013814190750921045;

// tanh(x) ≈ x + x³·(T0 + s·(T1 + s·(T2 + s·(T3 + s·T4)))), s = x², |x| ≤ 0.55 (fitted, rel. error 1.3e-9)
const T0: f32 = -0.3333331467761348;
const T1: f32 = 0.13332480557122897;
const T2: f32 = -0.0538405191840386;
const T3: f32 = 0.021020556012438563;
const T4: f32 = -0.006198726021464017;
const TANH_SMALL: f32 = 0.55;

const SQRT1_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;
// gelu tanh form: u = √(2/π)·(x + C3·x³); K2 = 2·√(2/π)
const GC3: f32 = 0.044715;
const GC3_D: f64 = 0.044715;
const K2: f32 = 1.5957691216057308;
const K2_D: f64 = 1.5957691216057308;

@inline function splat(c: f32): v128 {
  return f32x4.splat(c);
}

/** acc·x + c */
@inline function horner(acc: v128, x: v128, c: f32): v128 {
  return f32x4.add(f32x4.mul(acc, x), f32x4.splat(c));
}

/**
 * p(r)·2^n for the reduced argument r ∈ [−ln2/2, ln2/2] and integer lanes n. n < −125 gives 0 (no
 * subnormal results, which are slow on some CPUs); n > 128 overflows to +Inf. 2^n is applied as two
 * factors so that every exponent field stays in range.
 */
@inline function expCore(n: v128, r: v128): v128 {
  let q = horner(splat(E6), r, E5);
  q = horner(q, r, E4);
  q = horner(q, r, E3);
  q = horner(q, r, E2);
  const p = f32x4.add(splat(1), f32x4.add(r, f32x4.mul(f32x4.mul(r, r), q)));
  const zero = i32x4.lt_s(n, i32x4.splat(-125));
  const nc = i32x4.max_s(i32x4.min_s(n, i32x4.splat(129)), i32x4.splat(-125));
  const n1 = i32x4.shr_s(nc, 1);
  const n2 = i32x4.sub(nc, n1);
  const s1 = i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(f32x4.mul(p, s1), s2), zero);
}

/** exp of 4 f32 lanes (NaN → NaN, +Inf → +Inf, below ≈ −87 → 0). */
@inline function expf(x: v128): v128 {
  const xc = f32x4.min(f32x4.max(x, splat(-104)), splat(104)); // min/max keep NaN
  const nf = f32x4.nearest(f32x4.mul(xc, splat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(nf, splat(LN2_HI))), f32x4.mul(nf, splat(LN2_LO)));
  return expCore(i32x4.trunc_sat_f32x4_s(nf), r);
}

/** The low two and the high two f32 lanes of v, as f64x2 vectors. */
@inline function lo64(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}
@inline function hi64(v: v128): v128 {
  return f64x2.promote_low_f32x4(f32x4.shuffle(v, v, 2, 3, 2, 3));
}

/** exp of 4 arguments given in f64 (w0: lanes 0–1, w1: lanes 2–3); reduction in f64, polynomial in f32. */
@inline function expW(w0: v128, w1: v128): v128 {
  const c0 = f64x2.min(f64x2.max(w0, f64x2.splat(-200)), f64x2.splat(200));
  const c1 = f64x2.min(f64x2.max(w1, f64x2.splat(-200)), f64x2.splat(200));
  const nf0 = f64x2.nearest(f64x2.mul(c0, f64x2.splat(LOG2E_D)));
  const nf1 = f64x2.nearest(f64x2.mul(c1, f64x2.splat(LOG2E_D)));
  const r0 = f32x4.demote_f64x2_zero(f64x2.sub(c0, f64x2.mul(nf0, f64x2.splat(LN2_D))));
  const r1 = f32x4.demote_f64x2_zero(f64x2.sub(c1, f64x2.mul(nf1, f64x2.splat(LN2_D))));
  const n0 = i32x4.trunc_sat_f64x2_s_zero(nf0);
  const n1 = i32x4.trunc_sat_f64x2_s_zero(nf1);
  return expCore(i32x4.shuffle(n0, n1, 0, 1, 4, 5), f32x4.shuffle(r0, r1, 0, 1, 4, 5));
}

@inline function signOf(x: v128): v128 {
  return v128.and(x, i32x4.splat(0x80000000));
}

@inline function isInf(x: v128): v128 {
  return f32x4.eq(f32x4.abs(x), splat(Infinity));
}

@inline function tanhV(x: v128): v128 {
  const ax = f32x4.abs(x);
  // large: 1 − 2/(e^{2|x|} + 1)
  const e = expf(f32x4.add(ax, ax));
  const big = f32x4.sub(splat(1), f32x4.div(splat(2), f32x4.add(e, splat(1))));
  // small: odd polynomial
  const s = f32x4.mul(ax, ax);
  let q = horner(splat(T4), s, T3);
  q = horner(q, s, T2);
  q = horner(q, s, T1);
  q = horner(q, s, T0);
  const small = f32x4.add(ax, f32x4.mul(f32x4.mul(ax, s), q));
  const t = v128.bitselect(big, small, f32x4.ge(ax, splat(TANH_SMALL)));
  return v128.or(t, signOf(x));
}

/** P(t) of erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2) (Chebyshev fit, fractional error < 1.2e-7). */
@inline function erfcPoly(t: v128): v128 {
  let q = horner(splat(0.17087277), t, -0.82215223);
  q = horner(q, t, 1.48851587);
  q = horner(q, t, -1.13520398);
  q = horner(q, t, 0.27886807);
  q = horner(q, t, -0.18628806);
  q = horner(q, t, 0.09678418);
  q = horner(q, t, 0.37409196);
  q = horner(q, t, 1.00002368);
  return horner(q, t, -1.26551223);
}

@inline function erfcT(ax: v128): v128 {
  const z = f32x4.mul(ax, splat(SQRT1_2));
  return f32x4.div(splat(1), f32x4.add(splat(1), f32x4.mul(z, splat(0.5))));
}

/** 0.5·x·(1 + erf(x/√2)). */
@inline function geluErfV(x: v128): v128 {
  const ax = f32x4.abs(x);
  const t = erfcT(ax);
  const p = erfcPoly(t);
  // w = P(t) − x²/2 in f64 (x² is exact there)
  const x0 = lo64(x);
  const x1 = hi64(x);
  const w0 = f64x2.sub(lo64(p), f64x2.mul(f64x2.mul(x0, x0), f64x2.splat(0.5)));
  const w1 = f64x2.sub(hi64(p), f64x2.mul(f64x2.mul(x1, x1), f64x2.splat(0.5)));
  const erfc = f32x4.mul(t, expW(w0, w1)); // erfc(|x|/√2)
  const h = v128.andnot(f32x4.mul(f32x4.mul(x, splat(0.5)), erfc), isInf(x));
  // x < 0: 0.5·x·erfc(|x|/√2); x ≥ 0: 0.5·x·(2 − erfc(x/√2)) = x − h
  return v128.bitselect(h, f32x4.sub(x, h), f32x4.lt(x, splat(0)));
}

/** −2u = −2√(2/π)·x·(1 + 0.044715·x²), formed in f64 (lanes 0–1 of the f64 halves). */
@inline function geluTanhArg(x64: v128): v128 {
  const g = f64x2.add(f64x2.splat(1), f64x2.mul(f64x2.mul(x64, x64), f64x2.splat(GC3_D)));
  return f64x2.mul(f64x2.mul(x64, f64x2.splat(-K2_D)), g);
}

/** 0.5·x·(1 + tanh(u)) = x·σ(2u) = x / (1 + e^{−2u}). */
@inline function geluTanhV(x: v128): v128 {
  const e = expW(geluTanhArg(lo64(x)), geluTanhArg(hi64(x)));
  const y = f32x4.div(x, f32x4.add(splat(1), e));
  return v128.andnot(y, f32x4.eq(x, splat(-Infinity))); // −Inf/Inf would be NaN; the limit is 0
}

/**
 * For |x| ≥ 20 both gelu gradients are 1 (x > 0) or 0 (x < 0) in f32 (the other terms are below
 * e^-200); setting them explicitly avoids Inf·0 for ±Inf and for |x| so large that x² overflows.
 */
@inline function saturateGrad(x: v128, d: v128): v128 {
  const big = f32x4.ge(f32x4.abs(x), splat(20));
  return v128.bitselect(v128.and(f32x4.gt(x, splat(0)), splat(1)), d, big);
}

/** d/dx gelu (erf form) = Φ(x) + x·φ(x). */
@inline function geluErfGradV(x: v128): v128 {
  const ax = f32x4.abs(x);
  const t = erfcT(ax);
  const eP = expf(erfcPoly(t));
  const x0 = lo64(x);
  const x1 = hi64(x);
  const half = f64x2.splat(-0.5);
  const E = expW(f64x2.mul(f64x2.mul(x0, x0), half), f64x2.mul(f64x2.mul(x1, x1), half)); // exp(−x²/2)
  // Φ(−|x|) = 0.5·t·eP·E, φ(x) = E/√(2π)
  const a = f32x4.mul(f32x4.mul(t, eP), splat(0.5));
  const b = f32x4.mul(x, splat(INV_SQRT_2PI));
  const neg = f32x4.lt(x, splat(0));
  const sa = v128.bitselect(a, f32x4.neg(a), neg);
  const g = f32x4.mul(E, f32x4.add(b, sa)); // x < 0: E·(a + b); x ≥ 0: E·(b − a), to which 1 is added
  const d = v128.bitselect(g, f32x4.add(splat(1), g), neg);
  return saturateGrad(x, d);
}

/** d/dx gelu (tanh form) = σ(2u) + x·σ(2u)·(1 − σ(2u))·2u′. */
@inline function geluTanhGradV(x: v128): v128 {
  const e = expW(geluTanhArg(lo64(x)), geluTanhArg(hi64(x)));
  const sig = f32x4.div(splat(1), f32x4.add(splat(1), e));
  const om = f32x4.pmin(splat(1), f32x4.mul(e, sig)); // 1 − σ = e/(1 + e); Inf·0 = NaN → 1
  const du = f32x4.mul(splat(K2), f32x4.add(splat(1), f32x4.mul(f32x4.mul(x, x), splat(3 * GC3))));
  const d = f32x4.mul(sig, f32x4.add(splat(1), f32x4.mul(f32x4.mul(x, om), du)));
  return saturateGrad(x, d);
}

// ---- per-op vector functions (op is a constant after inlining) ----

@inline function binaryV(op: i32, a: v128, b: v128): v128 {
  if (op == 0) return f32x4.add(a, b);
  if (op == 1) return f32x4.sub(a, b);
  return f32x4.mul(a, b);
}

@inline function unaryV(op: i32, x: v128, p0: v128, p1: v128): v128 {
  if (op == 0) return f32x4.mul(x, p0);
  if (op == 1) return tanhV(x);
  if (op == 2) return geluErfV(x);
  if (op == 3) return geluTanhV(x);
  return f32x4.min(f32x4.max(x, p0), p1);
}

@inline function unaryBackwardV(op: i32, x: v128, dy: v128, p0: v128, p1: v128): v128 {
  if (op == 1) return f32x4.mul(dy, f32x4.mul(f32x4.sub(splat(1), x), f32x4.add(splat(1), x)));
  if (op == 2) return f32x4.mul(dy, geluErfGradV(x));
  if (op == 3) return f32x4.mul(dy, geluTanhGradV(x));
  return v128.and(dy, v128.and(f32x4.ge(x, p0), f32x4.le(x, p1)));
}

// ---- loops ----

@inline function binaryLoop(op: i32, a: usize, aDt: i32, b: usize, bDt: i32, out: usize, outDt: i32, n: i32): void {
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i;
    store4(out, k, outDt, binaryV(op, load4(a, k, aDt), load4(b, k, bDt)));
  }
  for (; i < n; i++) {
    const k = <usize>i;
    const r = binaryV(op, f32x4.splat(load1(a, k, aDt)), f32x4.splat(load1(b, k, bDt)));
    store1(out, k, outDt, f32x4.extract_lane(r, 0));
  }
}

/** out = a ∘ b; op: 0 add, 1 sub, 2 mul. */
export function binary(op: i32, a: usize, aDt: i32, b: usize, bDt: i32, out: usize, outDt: i32, n: i32): void {
  if (op == 0) binaryLoop(0, a, aDt, b, bDt, out, outDt, n);
  else if (op == 1) binaryLoop(1, a, aDt, b, bDt, out, outDt, n);
  else binaryLoop(2, a, aDt, b, bDt, out, outDt, n);
}

@inline function unaryLoop(op: i32, x: usize, xDt: i32, out: usize, outDt: i32, n: i32, p0: f32, p1: f32): void {
  const v0 = f32x4.splat(p0);
  const v1 = f32x4.splat(p1);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i;
    store4(out, k, outDt, unaryV(op, load4(x, k, xDt), v0, v1));
  }
  for (; i < n; i++) {
    const k = <usize>i;
    store1(out, k, outDt, f32x4.extract_lane(unaryV(op, f32x4.splat(load1(x, k, xDt)), v0, v1), 0));
  }
}

/**
 * out = f(x); op: 0 scale (p0·x), 1 tanh, 2 gelu (erf form), 3 gelu (tanh form), 4 clamp to [p0, p1].
 */
export function unary(op: i32, x: usize, xDt: i32, out: usize, outDt: i32, n: i32, p0: f32, p1: f32): void {
  if (op == 0) unaryLoop(0, x, xDt, out, outDt, n, p0, p1);
  else if (op == 1) unaryLoop(1, x, xDt, out, outDt, n, p0, p1);
  else if (op == 2) unaryLoop(2, x, xDt, out, outDt, n, p0, p1);
  else if (op == 3) unaryLoop(3, x, xDt, out, outDt, n, p0, p1);
  else unaryLoop(4, x, xDt, out, outDt, n, p0, p1);
}

@inline function backwardLoop(
  op: i32, x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32, p0: f32, p1: f32,
): void {
  const v0 = f32x4.splat(p0);
  const v1 = f32x4.splat(p1);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i;
    store4(dx, k, dxDt, unaryBackwardV(op, load4(x, k, xDt), load4(dy, k, dyDt), v0, v1));
  }
  for (; i < n; i++) {
    const k = <usize>i;
    const r = unaryBackwardV(op, f32x4.splat(load1(x, k, xDt)), f32x4.splat(load1(dy, k, dyDt)), v0, v1);
    store1(dx, k, dxDt, f32x4.extract_lane(r, 0));
  }
}

/**
 * dx = dy·f′; op: 1 tanh (x is the forward output y: dx = dy·(1 − y²)), 2 gelu (erf form),
 * 3 gelu (tanh form), 4 clamp (dx = dy where p0 ≤ x ≤ p1, else 0).
 */
export function unaryBackward(
  op: i32, x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32, p0: f32, p1: f32,
): void {
  if (op == 1) backwardLoop(1, x, xDt, dy, dyDt, dx, dxDt, n, p0, p1);
  else if (op == 2) backwardLoop(2, x, xDt, dy, dyDt, dx, dxDt, n, p0, p1);
  else if (op == 3) backwardLoop(3, x, xDt, dy, dyDt, dx, dxDt, n, p0, p1);
  else backwardLoop(4, x, xDt, dy, dyDt, dx, dxDt, n, p0, p1);
}

/** y += alpha·x. */
export function axpy(alpha: f32, x: usize, xDt: i32, y: usize, yDt: i32, n: i32): void {
  const av = f32x4.splat(alpha);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i;
    store4(y, k, yDt, f32x4.add(load4(y, k, yDt), f32x4.mul(av, load4(x, k, xDt))));
  }
  for (; i < n; i++) {
    const k = <usize>i;
    store1(y, k, yDt, load1(y, k, yDt) + alpha * load1(x, k, xDt));
  }
}

// Elementwise kernels: binary ops, scale/tanh/gelu/clamp and their backward forms, gelu with its derivative, axpy.
// Every operand has its own dtype (f32/f16/bf16); values are decoded to f32, computed 4 lanes at a time
// in f32x4 SIMD, and rounded once into the output dtype. The scalar tail runs the same vector math on a
// splatted lane, so the tail and the body give bit-identical results. Nothing is written past n.
//
// Accuracy (relative, against float64): exp/tanh/gelu are within a few f32 ulps (an erf gelu whose result
// is rounded to 16 bits: within 1e-5 before that rounding, see X0…X5). Where the exp
// argument is large and itself the result of f32 arithmetic (−x²/2 in gelu-erf, −2u in gelu-tanh),
// its absolute error would turn into a relative error of the result of up to ~1e-5 near |arg| ≈ 87;
// those arguments are therefore formed and range-reduced in f64x2 lanes (expW), and only the reduced
// argument r ∈ [−ln2/2, ln2/2] goes through the f32 polynomial.
import { DT_BF16, DT_F16, DT_F32, load1, load4, sel, store1, store4, store8 } from "./common";

// ---- vector math helpers ----
//
// Cost notes (V8 on x64, measured): f32x4.min/max, f32x4.nearest+trunc_sat and f64x2 min/max expand into
// long instruction sequences, so the helpers below clamp with pmin/pmax (one instruction each; NaN in the
// first operand is kept) and round to an integer with the 1.5·2^23 (f64: 1.5·2^52) magic-number addition,
// which also yields the integer in the low bits. Polynomials use Estrin's scheme (shorter dependency chains),
// and the loops run two vectors per iteration so that their chains overlap.

const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693359375; // 355/512: n·LN2_HI is exact for |n| < 2^15
const LN2_LO: f32 = -2.1219444005469057e-4;
const LOG2E_D: f64 = 1.4426950408889634;
const LN2_D: f64 = 0.6931471805599453;
const MAGIC: f32 = 12582912.0; // 1.5·2^23: x + MAGIC rounds x to an integer (|x| < 2^22)
const MAGIC_BITS: i32 = 0x4b400000;
const MAGIC_D: f64 = 6755399441055744.0; // 1.5·2^52

// exp(r) − 1 − r ≈ r²·(E2 + r·(E3 + r·(E4 + r·(E5 + r·E6)))) on |r| ≤ ln2/2 (fitted, rel. error 3e-9)
const E2: f32 = 0.4999999333802378;
const E3: f32 = 0.16666519005720964;
const E4: f32 = 0.04166840718609145;
const E5: f32 = 0.008368913691138647;
const E6: f32 = 0.0013814190750921045;

// erfc(|x|/√2) = R(|x|)·exp(−x²/2), R(a) = erfcx(a/√2) = t·Q(t), t = 1/(1 + a/4), Q of degree 8 fitted
// (iteratively reweighted least squares on relative error) on a ∈ [0, 13.4], the range where
// exp(−x²/2) > 0 in f32: relative error 5e-8 in exact arithmetic, 4e-7 evaluated in f32 (mostly the
// rounding of t). Beyond 13.4 the exp factor is 0 and R only needs to stay finite (t → 0, Q(0) = Q0).
const Q0: f32 = 0.19960753254239424;
const Q1: f32 = 0.19682987136569585;
const Q2: f32 = 0.2088864974074273;
const Q3: f32 = 0.06060716534722952;
const Q4: f32 = 0.415456896668898;
const Q5: f32 = -0.42839399413228313;
const Q6: f32 = 0.6066202812336183;
const Q7: f32 = -0.3124408352925301;
const Q8: f32 = 0.05282653433452188;

// tanh(x)/x ≈ P(s)/Q(s), s = x², P and Q of degree 4 (Q(0) = 1), fitted (iteratively reweighted least
// squares on relative error, scripts/fit-tanh.py) on x ∈ [0, 9.5], beyond which tanh is 1 in f32: relative
// error 3.4e-8 in exact arithmetic, ≤ 6 ulp evaluated in f32 (the script's grid over [0, 12] and down to 1e-30)
const T_CLAMP: f32 = 9.5;
const T_P0: f32 = 0.999999966223463;
const T_P1: f32 = 0.13347998775043368;
const T_P2: f32 = 0.0034565055265570518;
const T_P3: f32 = 1.9972981219952303e-05;
const T_P4: f32 = 1.2489695889649074e-08;
const T_Q1: f32 = 0.4668130379506906;
const T_Q2: f32 = 0.025727915042412664;
const T_Q3: f32 = 0.00032220041651951937;
const T_Q4: f32 = 7.418875364038999e-07;

// tanh for results rounded to 16 bits (scripts/fit-tanh.py --low): c·P(s)/Q(s) with c = x clamped to ±5
// (beyond, tanh rounds to 1 in fp16 and bf16), P of degree 2, Q of degree 3: 2.3e-6 relative evaluated in f32
const TL_CLAMP: f32 = 5;
const TL_P0: f32 = 0.9999979640193314;
const TL_P1: f32 = 0.1166190124658858;
const TL_P2: f32 = 0.0016371975039254718;
const TL_Q1: f32 = 0.44993613612472727;
const TL_Q2: f32 = 0.018304310320024875;
const TL_Q3: f32 = 6.446748212351039e-05;

// For 16-bit outputs (scripts/fit-gelu16.py): the result is rounded to 8 or 11 significant bits, so
// erf-gelu's transcendental parts need a relative error of about 1e-6, not f32's 1e-7, and no exact
// argument split: exp(−x²/2) = 2^t, t = −x²·log2(e)/2 formed in f32, 2^f on f ∈ [−½, ½] a degree-5
// polynomial (X0…X5, 7.6e-8); R(|x|) = t·L(t), t = 1/(1 + |x|/4), L of degree 6 (L0…L6, 2.5e-6 on
// [0, 13.4]). Evaluated in f32, erfc(|x|/√2) and gelu are within 1e-5 relative (3e-6 where |x| ≤ 3),
// against half an ulp of 2.4e-4 (fp16) or 2e-3 (bf16).
const X0: f32 = 1.000000071529566;
const X1: f32 = 0.6931469672387883;
const X2: f32 = 0.240221203077417;
const X3: f32 = 0.05550713317452232;
const X4: f32 = 0.009675511079238653;
const X5: f32 = 0.001327636344056172;
const L0: f32 = 0.19861442685206468;
const L1: f32 = 0.21256558778588164;
const L2: f32 = 0.10534546137789993;
const L3: f32 = 0.42985797584502483;
const L4: f32 = -0.3650395177018008;
const L5: f32 = 0.57286677439911;
const L6: f32 = -0.15420821815023905;

const INV_SQRT_2PI: f32 = 0.3989422804014327;
// gelu tanh form: u = √(2/π)·(x + C3·x³); K2 = 2·√(2/π)
const GC3: f32 = 0.044715;
const GC3_D: f64 = 0.044715;
const K2: f32 = 1.5957691216057308;
const K2_D: f64 = 1.5957691216057308;

/** a + b·x */
@inline function madd(a: v128, b: v128, x: v128): v128 {
  // fused in the relaxed-SIMD build (one rounding, and a shorter dependency chain: these kernels are
  // latency-bound, not throughput-bound); every kernel, vector body and scalar tail alike, goes through here
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(b, x, a);
  return f32x4.add(a, f32x4.mul(b, x));
}

/** c0 + c1·x */
@inline function lin(c0: v128, c1: v128, x: v128): v128 {
  return madd(c0, c1, x);
}

/**
 * (p·2)·2^(n−1) for the reduced argument r ∈ [−ln2/2, ln2/2] and integer lanes n ∈ [−126, 128]
 * (the caller has clamped its argument so): p·2 ∈ [1.4, 2.9], so every factor and the product stay
 * normal down to n = −125; n = −126 gives 0 (no subnormal results, which are slow on some CPUs).
 */
@inline function expCore(n: v128, r: v128): v128 {
  const r2 = f32x4.mul(r, r);
  const q = madd(lin(kf(F_E2), kf(F_E3), r), r2, madd(lin(kf(F_E4), kf(F_E5), r), r2, kf(F_E6)));
  const p = f32x4.add(kf(F_2), madd(f32x4.add(r, r), f32x4.add(r2, r2), q));
  const s = i32x4.shl(i32x4.max_s(i32x4.add(n, ki(I_126)), i32x4.splat(0)), 23);
  return f32x4.mul(p, s);
}

/** exp of 4 f32 lanes (NaN → NaN, +Inf → +Inf, below ≈ −87.3 → 0). */
@inline function expf(x: v128): v128 {
  const xc = f32x4.pmax(f32x4.pmin(x, kf(F_89)), kf(F_M88)); // NaN stays NaN
  const t = madd(kf(F_MAGIC), xc, kf(F_LOG2E));
  const nf = f32x4.sub(t, kf(F_MAGIC));
  const r = madd(madd(xc, nf, kf(F_MLN2_HI)), nf, kf(F_MLN2_LO));
  return expCore(i32x4.sub(t, ki(I_MAGIC_BITS)), r);
}

/**
 * exp(−H − L) where H + L = x²/2 exactly (H ≫ |L|): the large part H is reduced exactly (H and n·LN2_HI
 * agree to within ln2/2, so their difference is exact), so the result keeps a relative error of a few
 * ulps even where H ≈ 87. Results below e^−87.3 are 0.
 */
@inline function expSplit(H: v128, L: v128): v128 {
  const w = f32x4.pmax(f32x4.neg(H), kf(F_M88)); // NaN stays NaN
  const t = f32x4.add(f32x4.mul(w, kf(F_LOG2E)), kf(F_MAGIC));
  const nf = f32x4.sub(t, kf(F_MAGIC));
  const n = i32x4.sub(t, ki(I_MAGIC_BITS));
  const hr = f32x4.sub(f32x4.neg(H), f32x4.mul(nf, kf(F_LN2_HI)));
  const r = f32x4.sub(f32x4.sub(hr, L), f32x4.mul(nf, kf(F_LN2_LO)));
  // where w was clamped (or H is Inf) r is out of range: the result there is 0
  return v128.andnot(expCore(n, r), i32x4.lt_s(n, ki(I_M125)));
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
  const c0 = f64x2.pmax(f64x2.pmin(w0, kd(D_89)), kd(D_M88));
  const c1 = f64x2.pmax(f64x2.pmin(w1, kd(D_89)), kd(D_M88));
  const t0 = f64x2.add(f64x2.mul(c0, kd(D_LOG2E_D)), kd(D_MAGIC_D));
  const t1 = f64x2.add(f64x2.mul(c1, kd(D_LOG2E_D)), kd(D_MAGIC_D));
  const nf0 = f64x2.sub(t0, kd(D_MAGIC_D));
  const nf1 = f64x2.sub(t1, kd(D_MAGIC_D));
  const r0 = f32x4.demote_f64x2_zero(f64x2.sub(c0, f64x2.mul(nf0, kd(D_LN2_D))));
  const r1 = f32x4.demote_f64x2_zero(f64x2.sub(c1, f64x2.mul(nf1, kd(D_LN2_D))));
  // the integers sit in the low 32 bits of t0, t1
  return expCore(i32x4.shuffle(t0, t1, 0, 2, 4, 6), f32x4.shuffle(r0, r1, 0, 1, 4, 5));
}

@inline function signOf(x: v128): v128 {
  return v128.and(x, ki(I_0x80000000));
}

@inline function isInf(x: v128): v128 {
  return f32x4.eq(f32x4.abs(x), kf(F_Infinity));
}

/** tanh for a 16-bit result (see TL_P0…TL_Q3); |result| < 1, NaN stays NaN. */
@inline function tanhLowV(x: v128): v128 {
  const c = f32x4.pmax(f32x4.pmin(x, kf(F_TL_CLAMP)), kf(F_MTL_CLAMP));
  const s = f32x4.mul(c, c);
  const s2 = f32x4.mul(s, s);
  const p = madd(lin(kf(F_TL_P0), kf(F_TL_P1), s), s2, kf(F_TL_P2));
  const q = madd(lin(kf(F_1), kf(F_TL_Q1), s), s2, lin(kf(F_TL_Q2), kf(F_TL_Q3), s));
  return f32x4.div(f32x4.mul(c, p), q);
}

@inline function tanhV(x: v128): v128 {
  // tanh(x) = c·P(c²)/Q(c²) with c = x clamped to ±9.5 (T_CLAMP), the result clamped to ±1 (see
  // T_P0…T_Q4): a short dependency chain (the exp-based form, latency-bound, took twice the time); ±0,
  // the sign and NaN pass through (pmin/pmax keep a NaN first operand)
  const c = f32x4.pmax(f32x4.pmin(x, kf(F_T_CLAMP)), kf(F_MT_CLAMP));
  const s = f32x4.mul(c, c);
  const s2 = f32x4.mul(s, s);
  const s4 = f32x4.mul(s2, s2);
  const p = madd(madd(lin(kf(F_T_P0), kf(F_T_P1), s), s2, lin(kf(F_T_P2), kf(F_T_P3), s)), s4, kf(F_T_P4));
  const q = madd(madd(lin(kf(F_1), kf(F_T_Q1), s), s2, lin(kf(F_T_Q2), kf(F_T_Q3), s)), s4, kf(F_T_Q4));
  const t = f32x4.div(f32x4.mul(c, p), q);
  return f32x4.pmax(f32x4.pmin(t, kf(F_1)), kf(F_M1));
}

/**
 * 1 − tanh²(x) = sech²(x) = 4e/(1 + e)² with e = exp(−2|x|) ∈ (0, 1]: relative accuracy of a few ulps for
 * every x (1 − t² from a rounded t = tanh(x) loses it where t is close to ±1); 0 where e underflows. low: for
 * a 16-bit result.
 */
@inline function sech2V(x: v128, low: bool): v128 {
  if (low) {
    // for a 16-bit result: e = 2^(−2|x|·log2 e) through the 16-bit exp (X0…X5), within 1e-5 relative
    const e = exp2LowV(f32x4.mul(f32x4.abs(x), kf(F_M2LOG2E)));
    const sl = f32x4.add(kf(F_1), e);
    const el = f32x4.add(e, e);
    return f32x4.div(f32x4.add(el, el), f32x4.mul(sl, sl));
  }
  const ax = f32x4.abs(x);
  const e = expf(f32x4.neg(f32x4.add(ax, ax)));
  const s = f32x4.add(kf(F_1), e);
  const e2 = f32x4.add(e, e);
  return f32x4.div(f32x4.add(e2, e2), f32x4.mul(s, s));
}

/** R(|x|) = erfcx(|x|/√2) = t·Q(t), t = 1/(1 + |x|/4) (see Q0…Q8). */
@inline function erfcxHalfV(x: v128): v128 {
  const t = f32x4.div(kf(F_1), f32x4.add(kf(F_1), f32x4.mul(f32x4.abs(x), kf(F_0_25))));
  const t2 = f32x4.mul(t, t);
  const t4 = f32x4.mul(t2, t2);
  const q0 = madd(lin(kf(F_Q0), kf(F_Q1), t), t2, lin(kf(F_Q2), kf(F_Q3), t));
  const q1 = madd(lin(kf(F_Q4), kf(F_Q5), t), t2, lin(kf(F_Q6), kf(F_Q7), t));
  const q = madd(q0, t4, madd(q1, t4, kf(F_Q8)));
  return f32x4.mul(t, q);
}

/** x & ~0xfff: the top 12 significant bits of x, so that hx² and hx·(x − hx) are exact in f32. */
@inline function hiBits(x: v128): v128 {
  return v128.and(x, ki(I_0xfffff000));
}

/**
 * exp(−x²/2), with x²/2 = H + L split exactly enough (H = xh²/2 exact, L = xh·xl + xl²/2) so that the
 * large part is reduced exactly (expSplit): a few ulps even where x²/2 ≈ 87.
 */
@inline function expHalfSqV(x: v128): v128 {
  const xh = hiBits(x);
  const xl = f32x4.sub(x, xh);
  const H = f32x4.mul(f32x4.mul(xh, xh), kf(F_0_5));
  const L = f32x4.mul(xl, f32x4.add(xh, f32x4.mul(xl, kf(F_0_5))));
  return expSplit(H, L);
}

/** erfc(|x|/√2) = R(|x|)·exp(−x²/2) from E = exp(−x²/2). */
@inline function erfcHalfFromE(x: v128, E: v128): v128 {
  return f32x4.mul(erfcxHalfV(x), E);
}

/** erfc(|x|/√2), the transcendental of gelu (erf form). */
@inline function erfcHalfV(x: v128): v128 {
  return erfcHalfFromE(x, expHalfSqV(x));
}

/**
 * exp(−x²/2) for 16-bit results: 2^t, t = −x²·log2(e)/2 clamped to −127 (2^−127 and below give 0), split
 * into an integer n and f ∈ [−½, ½] (2^f by X0…X5). NaN stays NaN, ±Inf gives 0.
 */
@inline function expHalfSqLowV(x: v128): v128 {
  return exp2LowV(f32x4.mul(f32x4.mul(x, x), kf(F_MHALF_LOG2E)));
}

/** 2^t for t ≤ 0 and 16-bit results (X0…X5): t clamped to −127 (results below 2^−126 are 0), NaN stays NaN. */
@inline function exp2LowV(w: v128): v128 {
  const t = f32x4.pmax(w, kf(F_M127)); // −Inf: −127
  const tm = f32x4.add(t, kf(F_MAGIC));
  const f = f32x4.sub(t, f32x4.sub(tm, kf(F_MAGIC)));
  const f2 = f32x4.mul(f, f);
  const p = madd(lin(kf(F_X0), kf(F_X1), f), f2, madd(lin(kf(F_X2), kf(F_X3), f), f2, lin(kf(F_X4), kf(F_X5), f)));
  const s = i32x4.shl(i32x4.max_s(i32x4.add(i32x4.sub(tm, ki(I_MAGIC_BITS)), ki(I_127)), i32x4.splat(0)), 23);
  return f32x4.mul(p, s);
}

/** erfc(|x|/√2) = R(|x|)·E for 16-bit results, R = t·L(t), t = 1/(1 + |x|/4) (see L0…L6). */
@inline function erfcHalfLowFromE(x: v128, E: v128): v128 {
  const t = f32x4.div(kf(F_1), madd(kf(F_1), f32x4.abs(x), kf(F_0_25)));
  const t2 = f32x4.mul(t, t);
  const q = madd(lin(kf(F_L0), kf(F_L1), t), t2, madd(lin(kf(F_L2), kf(F_L3), t), t2, madd(lin(kf(F_L4), kf(F_L5), t), t2, kf(F_L6))));
  return f32x4.mul(f32x4.mul(t, q), E);
}

/**
 * x clamped to ±20 (NaN stays NaN), for the 16-bit gelu's value and derivative: beyond it they are x or 0
 * and 1 or 0 in every dtype, and the clamp keeps Inf·0 out of them.
 */
@inline function clamp20(x: v128): v128 {
  return f32x4.pmax(f32x4.pmin(x, kf(F_20)), kf(F_M20));
}

/** The 16-bit gelu from erfc = erfc(|x|/√2) (of the low core): x·Φ(x). */
@inline function geluLowFromErfc(x: v128, erfc: v128): v128 {
  const h = f32x4.mul(f32x4.mul(clamp20(x), kf(F_0_5)), erfc);
  return sel(h, f32x4.sub(x, h), f32x4.lt(x, f32x4.splat(0)));
}

/** The 16-bit gelu′ = Φ(x) + x·φ(x) from the low core (erfc and E = exp(−x²/2)). */
@inline function geluLowGrad(x: v128, erfc: v128, E: v128): v128 {
  const a = f32x4.mul(erfc, kf(F_0_5));
  const bE = f32x4.mul(f32x4.mul(clamp20(x), kf(F_INV_SQRT_2PI)), E);
  return sel(f32x4.add(a, bE), f32x4.add(kf(F_1), f32x4.sub(bE, a)), f32x4.lt(x, f32x4.splat(0)));
}

/** 0.5·x·(1 + erf(x/√2)) from erfc = erfc(|x|/√2). */
@inline function geluErfFromErfc(x: v128, erfc: v128): v128 {
  const h = v128.andnot(f32x4.mul(f32x4.mul(x, kf(F_0_5)), erfc), isInf(x));
  // x < 0: 0.5·x·erfc(|x|/√2); x ≥ 0: 0.5·x·(2 − erfc(x/√2)) = x − h
  return sel(h, f32x4.sub(x, h), f32x4.lt(x, f32x4.splat(0)));
}

/** 0.5·x·(1 + erf(x/√2)); low: accurate enough for a 16-bit result (see X0…X5), not for f32. */
@inline export function geluErfV(x: v128, low: bool = false): v128 {
  if (low) return geluLowFromErfc(x, erfcHalfLowFromE(x, expHalfSqLowV(x)));
  return geluErfFromErfc(x, erfcHalfV(x));
}

/** −2u = −2√(2/π)·x·(1 + 0.044715·x²), formed in f64 (lanes 0–1 of the f64 halves). */
@inline function geluTanhArg(x64: v128): v128 {
  const g = f64x2.add(kd(D_1), f64x2.mul(f64x2.mul(x64, x64), kd(D_GC3_D)));
  return f64x2.mul(f64x2.mul(x64, kd(D_MK2_D)), g);
}

/** e^{−2u}, the one transcendental of gelu (tanh form). */
@inline function geluTanhE(x: v128): v128 {
  return expW(geluTanhArg(lo64(x)), geluTanhArg(hi64(x)));
}

/** x·σ(2u) = x / (1 + e^{−2u}) from e = e^{−2u}. */
@inline function geluTanhFromE(x: v128, e: v128): v128 {
  const y = f32x4.div(x, f32x4.add(kf(F_1), e));
  return v128.andnot(y, f32x4.eq(x, kf(F_MInfinity))); // −Inf/Inf would be NaN; the limit is 0
}

/** 0.5·x·(1 + tanh(u)) = x·σ(2u) = x / (1 + e^{−2u}). */
@inline export function geluTanhV(x: v128): v128 {
  return geluTanhFromE(x, geluTanhE(x));
}

/**
 * For |x| ≥ 20 both gelu gradients are 1 (x > 0) or 0 (x < 0) in f32 (the other terms are below
 * e^-200); setting them explicitly avoids Inf·0 for ±Inf and for |x| so large that x² overflows.
 */
@inline function saturateGrad(x: v128, d: v128): v128 {
  const big = f32x4.ge(f32x4.abs(x), kf(F_20));
  return sel(v128.and(f32x4.gt(x, f32x4.splat(0)), kf(F_1)), d, big);
}

/**
 * d/dx gelu (erf form) = Φ(x) + x·φ(x) from erfc = erfc(|x|/√2) and E = exp(−x²/2): Φ(−|x|) = erfc/2,
 * φ(x) = E/√(2π). The one exp E serves the value (erfc = R·E) and the derivative.
 */
@inline function geluErfGradFromParts(x: v128, erfc: v128, E: v128): v128 {
  const a = f32x4.mul(erfc, kf(F_0_5)); // Φ(−|x|)
  const bE = f32x4.mul(f32x4.mul(x, kf(F_INV_SQRT_2PI)), E); // x·φ(x)
  // x < 0: Φ(−|x|) + x·φ(x); x ≥ 0: 1 − Φ(−|x|) + x·φ(x)
  const d = sel(f32x4.add(a, bE), f32x4.add(kf(F_1), f32x4.sub(bE, a)), f32x4.lt(x, f32x4.splat(0)));
  return saturateGrad(x, d);
}

/** d/dx gelu (tanh form) = σ(2u) + x·σ(2u)·(1 − σ(2u))·2u′, from e = e^{−2u}. */
@inline function geluTanhGradFromE(x: v128, e: v128): v128 {
  const sig = f32x4.div(kf(F_1), f32x4.add(kf(F_1), e));
  const om = f32x4.pmin(kf(F_1), f32x4.mul(e, sig)); // 1 − σ = e/(1 + e); Inf·0 = NaN → 1
  const du = f32x4.mul(kf(F_K2), f32x4.add(kf(F_1), f32x4.mul(f32x4.mul(x, x), kf(F_3xGC3))));
  const d = f32x4.mul(sig, f32x4.add(kf(F_1), f32x4.mul(f32x4.mul(x, om), du)));
  return saturateGrad(x, d);
}

// A gelu and its derivative share their transcendental parts ("core"): in the erf form E = exp(−x²/2)
// (c) and erfc(|x|/√2) = R·E (c2); in the tanh form e^{−2u} (c; c2 is the same vector, unused). Forward
// passes that keep the derivative for the backward compute both from one core; the value is
// bit-identical to geluErfV / geluTanhV, the derivative to what unaryBackward uses.

/**
 * The exp of gelu's core (erf form if erfForm, else tanh form); low (erf form): for results that are
 * rounded to 16 bits (a cheaper, less accurate core; see X0…X5).
 */
@inline export function geluCoreV(erfForm: bool, low: bool, x: v128): v128 {
  if (erfForm) return low ? expHalfSqLowV(x) : expHalfSqV(x);
  return geluTanhE(x);
}

/** The second part of the core from the first: erfc(|x|/√2) in the erf form. */
@inline export function geluCore2V(erfForm: bool, low: bool, x: v128, c: v128): v128 {
  if (erfForm) return low ? erfcHalfLowFromE(x, c) : erfcHalfFromE(x, c);
  return c;
}

@inline export function geluFromCoreV(erfForm: bool, low: bool, x: v128, c: v128, c2: v128): v128 {
  if (erfForm) return low ? geluLowFromErfc(x, c2) : geluErfFromErfc(x, c2);
  return geluTanhFromE(x, c);
}

@inline export function geluGradFromCoreV(erfForm: bool, low: bool, x: v128, c: v128, c2: v128): v128 {
  if (erfForm) return low ? geluLowGrad(x, c2, c) : geluErfGradFromParts(x, c2, c);
  return geluTanhGradFromE(x, c);
}

@inline function geluErfGradV(x: v128, low: bool): v128 {
  const c = geluCoreV(true, low, x);
  return geluGradFromCoreV(true, low, x, c, geluCore2V(true, low, x, c));
}

@inline function geluTanhGradV(x: v128): v128 {
  return geluTanhGradFromE(x, geluTanhE(x));
}

// ---- per-op vector functions (op is a constant after inlining) ----

@inline function binaryV(op: i32, a: v128, b: v128): v128 {
  if (op == 0) return f32x4.add(a, b);
  if (op == 1) return f32x4.sub(a, b);
  return f32x4.mul(a, b);
}

/** low: the result is rounded to a 16-bit dtype (erf-gelu then uses its cheaper 16-bit core). */
@inline function unaryV(op: i32, low: bool, x: v128, p0: v128, p1: v128): v128 {
  if (op == 0) return f32x4.mul(x, p0);
  if (op == 1) return low ? tanhLowV(x) : tanhV(x);
  if (op == 2) return geluErfV(x, low);
  if (op == 3) return geluTanhV(x);
  return f32x4.min(f32x4.max(x, p0), p1);
}

@inline function unaryBackwardV(op: i32, low: bool, x: v128, dy: v128, p0: v128, p1: v128): v128 {
  if (op == 1) return f32x4.mul(dy, f32x4.mul(f32x4.sub(kf(F_1), x), f32x4.add(kf(F_1), x)));
  if (op == 5 || op == 6) return f32x4.mul(dy, sech2V(x, low));
  if (op == 2) return f32x4.mul(dy, geluErfGradV(x, low));
  if (op == 3) return f32x4.mul(dy, geluTanhGradV(x));
  return v128.and(dy, v128.and(f32x4.ge(x, p0), f32x4.le(x, p1)));
}

// ---- loops ----
//
// Every loop runs 8 elements per iteration (two vectors whose dependency chains overlap; 16-bit outputs
// in one 128-bit store), then one vector, then a scalar tail through the same vector math. The exported
// kernels dispatch the common dtype combinations (every operand of one dtype) to loops compiled with
// constant dtypes, so that the per-element dtype branches disappear; other mixes run the generic loop.

@inline function binaryBody(op: i32, a: usize, aDt: i32, b: usize, bDt: i32, out: usize, outDt: i32, n: i32): void {
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const k = <usize>i;
    const a0 = load4(a, k, aDt);
    const a1 = load4(a, k + 4, aDt);
    const b0 = load4(b, k, bDt);
    const b1 = load4(b, k + 4, bDt);
    store8(out, k, outDt, binaryV(op, a0, b0), binaryV(op, a1, b1));
  }
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

@inline function binaryLoop(op: i32, a: usize, aDt: i32, b: usize, bDt: i32, out: usize, outDt: i32, n: i32): void {
  if (aDt == bDt && aDt == outDt) {
    if (aDt == DT_F32) binaryBody(op, a, DT_F32, b, DT_F32, out, DT_F32, n);
    else if (aDt == DT_F16) binaryBody(op, a, DT_F16, b, DT_F16, out, DT_F16, n);
    else binaryBody(op, a, DT_BF16, b, DT_BF16, out, DT_BF16, n);
  } else {
    binaryBody(op, a, aDt, b, bDt, out, outDt, n);
  }
}

/** out = a ∘ b; op: 0 add, 1 sub, 2 mul. */
export function binary(op: i32, a: usize, aDt: i32, b: usize, bDt: i32, out: usize, outDt: i32, n: i32): void {
  if (op == 0) binaryLoop(0, a, aDt, b, bDt, out, outDt, n);
  else if (op == 1) binaryLoop(1, a, aDt, b, bDt, out, outDt, n);
  else binaryLoop(2, a, aDt, b, bDt, out, outDt, n);
}

@inline function unaryBody(op: i32, low: bool, x: usize, xDt: i32, out: usize, outDt: i32, n: i32, p0: f32, p1: f32): void {
  const v0 = f32x4.splat(p0);
  const v1 = f32x4.splat(p1);
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const k = <usize>i;
    const a = load4(x, k, xDt);
    const b = load4(x, k + 4, xDt);
    store8(out, k, outDt, unaryV(op, low, a, v0, v1), unaryV(op, low, b, v0, v1));
  }
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i;
    store4(out, k, outDt, unaryV(op, low, load4(x, k, xDt), v0, v1));
  }
  for (; i < n; i++) {
    const k = <usize>i;
    store1(out, k, outDt, f32x4.extract_lane(unaryV(op, low, f32x4.splat(load1(x, k, xDt)), v0, v1), 0));
  }
}

@inline function unaryLoop(op: i32, x: usize, xDt: i32, out: usize, outDt: i32, n: i32, p0: f32, p1: f32): void {
  if (xDt == outDt) {
    if (xDt == DT_F32) unaryBody(op, false, x, DT_F32, out, DT_F32, n, p0, p1);
    else if (xDt == DT_F16) unaryBody(op, false, x, DT_F16, out, DT_F16, n, p0, p1);
    else unaryBody(op, false, x, DT_BF16, out, DT_BF16, n, p0, p1);
  } else {
    unaryBody(op, false, x, xDt, out, outDt, n, p0, p1);
  }
}

/**
 * out = f(x); op: 0 scale (p0·x), 1 tanh, 2 gelu (erf form), 3 gelu (tanh form), 4 clamp to [p0, p1].
 */
/** Whether unary's op has a form for 16-bit results: 1 tanh, 2 the erf gelu. */
@inline function unaryHasLow(op: i32): bool {
  return op == 1 || op == 2;
}

/** Whether unaryBackward's op has a form for 16-bit results: 2 the erf gelu, 5 and 6 sech². */
@inline function backwardHasLow(op: i32): bool {
  return op == 2 || op == 5 || op == 6;
}

/** unaryBody for one dtype throughout (a constant): the 16-bit form where op has one. */
@inline function unarySame(op: i32, x: usize, dt: i32, out: usize, n: i32): void {
  unaryBody(op, unaryHasLow(op) && dt != DT_F32, x, dt, out, dt, n, 0, 0);
}

/** unaryBody for other mixes: `low` a constant in each loop (one form per loop), chosen by the output dtype. */
@inline function unaryMixed(op: i32, x: usize, xDt: i32, out: usize, outDt: i32, n: i32): void {
  if (!unaryHasLow(op)) unaryBody(op, false, x, xDt, out, outDt, n, 0, 0);
  else if (outDt == DT_F32) unaryBody(op, false, x, xDt, out, DT_F32, n, 0, 0);
  else unaryBody(op, true, x, xDt, out, outDt, n, 0, 0);
}

/** backwardBody for one dtype throughout, as unarySame. */
@inline function backwardSame(op: i32, x: usize, dt: i32, dy: usize, dx: usize, n: i32): void {
  backwardBody(op, backwardHasLow(op) && dt != DT_F32, x, dt, dy, dt, dx, dt, n, 0, 0);
}

/** backwardBody for other mixes, as unaryMixed (chosen by dx's dtype). */
@inline function backwardMixed(op: i32, x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32): void {
  if (!backwardHasLow(op)) backwardBody(op, false, x, xDt, dy, dyDt, dx, dxDt, n, 0, 0);
  else if (dxDt == DT_F32) backwardBody(op, false, x, xDt, dy, dyDt, dx, DT_F32, n, 0, 0);
  else backwardBody(op, true, x, xDt, dy, dyDt, dx, dxDt, n, 0, 0);
}

// Each transcendental op runs in small functions of its own, one per dtype combination where every
// operand has one dtype and one for the other mixes: V8 compiled these latency-bound loops measurably
// slower inside one function holding several of them (tanh f32: 1.6 ns/element with every op's loops,
// 1.1 with one op's four, 0.75 alone). `low` (a 16-bit result) selects the cheaper forms of tanh, sech²
// and the erf gelu (accurate to about 1e-5, against half an ulp of 2.4e-4 or more).
@noinline function unaryTanhF32(x: usize, out: usize, n: i32): void { unarySame(1, x, DT_F32, out, n); }
@noinline function unaryTanhF16(x: usize, out: usize, n: i32): void { unarySame(1, x, DT_F16, out, n); }
@noinline function unaryTanhBf16(x: usize, out: usize, n: i32): void { unarySame(1, x, DT_BF16, out, n); }
@noinline function unaryTanhMix(x: usize, xDt: i32, out: usize, outDt: i32, n: i32): void { unaryMixed(1, x, xDt, out, outDt, n); }
@noinline function unaryGeluErfF32(x: usize, out: usize, n: i32): void { unarySame(2, x, DT_F32, out, n); }
@noinline function unaryGeluErfF16(x: usize, out: usize, n: i32): void { unarySame(2, x, DT_F16, out, n); }
@noinline function unaryGeluErfBf16(x: usize, out: usize, n: i32): void { unarySame(2, x, DT_BF16, out, n); }
@noinline function unaryGeluErfMix(x: usize, xDt: i32, out: usize, outDt: i32, n: i32): void { unaryMixed(2, x, xDt, out, outDt, n); }
@noinline function unaryGeluTanhF32(x: usize, out: usize, n: i32): void { unarySame(3, x, DT_F32, out, n); }
@noinline function unaryGeluTanhF16(x: usize, out: usize, n: i32): void { unarySame(3, x, DT_F16, out, n); }
@noinline function unaryGeluTanhBf16(x: usize, out: usize, n: i32): void { unarySame(3, x, DT_BF16, out, n); }
@noinline function unaryGeluTanhMix(x: usize, xDt: i32, out: usize, outDt: i32, n: i32): void { unaryMixed(3, x, xDt, out, outDt, n); }

/** The transcendental op's function for these dtypes (op 1 tanh, 2 gelu erf form, 3 gelu tanh form). */
@inline function unaryFast(op: i32, x: usize, xDt: i32, out: usize, outDt: i32, n: i32): void {
  if (op == 1) {
    if (xDt != outDt) unaryTanhMix(x, xDt, out, outDt, n);
    else if (xDt == DT_F32) unaryTanhF32(x, out, n);
    else if (xDt == DT_F16) unaryTanhF16(x, out, n);
    else unaryTanhBf16(x, out, n);
  }
  if (op == 2) {
    if (xDt != outDt) unaryGeluErfMix(x, xDt, out, outDt, n);
    else if (xDt == DT_F32) unaryGeluErfF32(x, out, n);
    else if (xDt == DT_F16) unaryGeluErfF16(x, out, n);
    else unaryGeluErfBf16(x, out, n);
  }
  if (op == 3) {
    if (xDt != outDt) unaryGeluTanhMix(x, xDt, out, outDt, n);
    else if (xDt == DT_F32) unaryGeluTanhF32(x, out, n);
    else if (xDt == DT_F16) unaryGeluTanhF16(x, out, n);
    else unaryGeluTanhBf16(x, out, n);
  }
}

export function unary(op: i32, x: usize, xDt: i32, out: usize, outDt: i32, n: i32, p0: f32, p1: f32): void {
  if (op == 0) unaryLoop(0, x, xDt, out, outDt, n, p0, p1);
  else if (op == 1) unaryFast(1, x, xDt, out, outDt, n);
  else if (op == 2) unaryFast(2, x, xDt, out, outDt, n);
  else if (op == 3) unaryFast(3, x, xDt, out, outDt, n);
  else unaryLoop(4, x, xDt, out, outDt, n, p0, p1);
}

@inline function backwardBody(
  op: i32, low: bool, x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32, p0: f32, p1: f32,
): void {
  const v0 = f32x4.splat(p0);
  const v1 = f32x4.splat(p1);
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const k = <usize>i;
    const xa = load4(x, k, xDt);
    const xb = load4(x, k + 4, xDt);
    const ya = load4(dy, k, dyDt);
    const yb = load4(dy, k + 4, dyDt);
    let ra = unaryBackwardV(op, low, xa, ya, v0, v1);
    let rb = unaryBackwardV(op, low, xb, yb, v0, v1);
    if (op == 6) {
      ra = f32x4.add(load4(dx, k, dxDt), ra);
      rb = f32x4.add(load4(dx, k + 4, dxDt), rb);
    }
    store8(dx, k, dxDt, ra, rb);
  }
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i;
    let r = unaryBackwardV(op, low, load4(x, k, xDt), load4(dy, k, dyDt), v0, v1);
    if (op == 6) r = f32x4.add(load4(dx, k, dxDt), r);
    store4(dx, k, dxDt, r);
  }
  for (; i < n; i++) {
    const k = <usize>i;
    let r = unaryBackwardV(op, low, f32x4.splat(load1(x, k, xDt)), f32x4.splat(load1(dy, k, dyDt)), v0, v1);
    if (op == 6) r = f32x4.add(f32x4.splat(load1(dx, k, dxDt)), r);
    store1(dx, k, dxDt, f32x4.extract_lane(r, 0));
  }
}

@inline function backwardLoop(
  op: i32, x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32, p0: f32, p1: f32,
): void {
  if (xDt == dyDt && xDt == dxDt) {
    if (xDt == DT_F32) backwardBody(op, false, x, DT_F32, dy, DT_F32, dx, DT_F32, n, p0, p1);
    else if (xDt == DT_F16) backwardBody(op, false, x, DT_F16, dy, DT_F16, dx, DT_F16, n, p0, p1);
    else backwardBody(op, false, x, DT_BF16, dy, DT_BF16, dx, DT_BF16, n, p0, p1);
  } else {
    backwardBody(op, false, x, xDt, dy, dyDt, dx, dxDt, n, p0, p1);
  }
}

/**
 * dx = dy·f′; op: 1 tanh (x is the forward output y: dx = dy·(1 − y²)), 2 gelu (erf form),
 * 3 gelu (tanh form), 4 clamp (dx = dy where p0 ≤ x ≤ p1, else 0), 5 tanh from its input x
 * (dx = dy·sech²(x), recomputed), 6 the same added to dx (dx += dy·sech²(x)).
 */
// The backward forms, split the same way as unary's.
@noinline function backwardTanhF32(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(1, x, DT_F32, dy, dx, n); }
@noinline function backwardTanhF16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(1, x, DT_F16, dy, dx, n); }
@noinline function backwardTanhBf16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(1, x, DT_BF16, dy, dx, n); }
@noinline function backwardTanhMix(x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32): void { backwardMixed(1, x, xDt, dy, dyDt, dx, dxDt, n); }
@noinline function backwardSech2F32(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(5, x, DT_F32, dy, dx, n); }
@noinline function backwardSech2F16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(5, x, DT_F16, dy, dx, n); }
@noinline function backwardSech2Bf16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(5, x, DT_BF16, dy, dx, n); }
@noinline function backwardSech2Mix(x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32): void { backwardMixed(5, x, xDt, dy, dyDt, dx, dxDt, n); }
@noinline function backwardSech2AccF32(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(6, x, DT_F32, dy, dx, n); }
@noinline function backwardSech2AccF16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(6, x, DT_F16, dy, dx, n); }
@noinline function backwardSech2AccBf16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(6, x, DT_BF16, dy, dx, n); }
@noinline function backwardSech2AccMix(x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32): void { backwardMixed(6, x, xDt, dy, dyDt, dx, dxDt, n); }
@noinline function backwardGeluErfF32(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(2, x, DT_F32, dy, dx, n); }
@noinline function backwardGeluErfF16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(2, x, DT_F16, dy, dx, n); }
@noinline function backwardGeluErfBf16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(2, x, DT_BF16, dy, dx, n); }
@noinline function backwardGeluErfMix(x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32): void { backwardMixed(2, x, xDt, dy, dyDt, dx, dxDt, n); }
@noinline function backwardGeluTanhF32(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(3, x, DT_F32, dy, dx, n); }
@noinline function backwardGeluTanhF16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(3, x, DT_F16, dy, dx, n); }
@noinline function backwardGeluTanhBf16(x: usize, dy: usize, dx: usize, n: i32): void { backwardSame(3, x, DT_BF16, dy, dx, n); }
@noinline function backwardGeluTanhMix(x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32): void { backwardMixed(3, x, xDt, dy, dyDt, dx, dxDt, n); }

@inline function backwardFast(op: i32, x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32): void {
  const same = xDt == dyDt && xDt == dxDt;
  if (op == 1) {
    if (!same) backwardTanhMix(x, xDt, dy, dyDt, dx, dxDt, n);
    else if (xDt == DT_F32) backwardTanhF32(x, dy, dx, n);
    else if (xDt == DT_F16) backwardTanhF16(x, dy, dx, n);
    else backwardTanhBf16(x, dy, dx, n);
  }
  if (op == 5) {
    if (!same) backwardSech2Mix(x, xDt, dy, dyDt, dx, dxDt, n);
    else if (xDt == DT_F32) backwardSech2F32(x, dy, dx, n);
    else if (xDt == DT_F16) backwardSech2F16(x, dy, dx, n);
    else backwardSech2Bf16(x, dy, dx, n);
  }
  if (op == 6) {
    if (!same) backwardSech2AccMix(x, xDt, dy, dyDt, dx, dxDt, n);
    else if (xDt == DT_F32) backwardSech2AccF32(x, dy, dx, n);
    else if (xDt == DT_F16) backwardSech2AccF16(x, dy, dx, n);
    else backwardSech2AccBf16(x, dy, dx, n);
  }
  if (op == 2) {
    if (!same) backwardGeluErfMix(x, xDt, dy, dyDt, dx, dxDt, n);
    else if (xDt == DT_F32) backwardGeluErfF32(x, dy, dx, n);
    else if (xDt == DT_F16) backwardGeluErfF16(x, dy, dx, n);
    else backwardGeluErfBf16(x, dy, dx, n);
  }
  if (op == 3) {
    if (!same) backwardGeluTanhMix(x, xDt, dy, dyDt, dx, dxDt, n);
    else if (xDt == DT_F32) backwardGeluTanhF32(x, dy, dx, n);
    else if (xDt == DT_F16) backwardGeluTanhF16(x, dy, dx, n);
    else backwardGeluTanhBf16(x, dy, dx, n);
  }
}

export function unaryBackward(
  op: i32, x: usize, xDt: i32, dy: usize, dyDt: i32, dx: usize, dxDt: i32, n: i32, p0: f32, p1: f32,
): void {
  if (op == 1) backwardFast(1, x, xDt, dy, dyDt, dx, dxDt, n);
  else if (op == 5) backwardFast(5, x, xDt, dy, dyDt, dx, dxDt, n);
  else if (op == 6) backwardFast(6, x, xDt, dy, dyDt, dx, dxDt, n);
  else if (op == 2) backwardFast(2, x, xDt, dy, dyDt, dx, dxDt, n);
  else if (op == 3) backwardFast(3, x, xDt, dy, dyDt, dx, dxDt, n);
  else backwardLoop(4, x, xDt, dy, dyDt, dx, dxDt, n, p0, p1);
}

/**
 * The core for the value (lowV: rounded to 16 bits) and the derivative (lowG); one core serves both where
 * they are alike, so the value is bit-identical to unary's and the derivative to unaryBackward's factor.
 */
@inline function geluParts(erfForm: bool, lowV: bool, lowG: bool, a: v128, g: usize, gDt: i32, k: usize, one: bool): v128 {
  const ca = geluCoreV(erfForm, lowV, a);
  const da = geluCore2V(erfForm, lowV, a, ca);
  if (lowV == lowG || !erfForm) {
    const d = geluGradFromCoreV(erfForm, lowV, a, ca, da);
    if (one) store1(g, k, gDt, f32x4.extract_lane(d, 0));
    else store4(g, k, gDt, d);
  } else {
    const cg = geluCoreV(erfForm, lowG, a);
    const d = geluGradFromCoreV(erfForm, lowG, a, cg, geluCore2V(erfForm, lowG, a, cg));
    if (one) store1(g, k, gDt, f32x4.extract_lane(d, 0));
    else store4(g, k, gDt, d);
  }
  return geluFromCoreV(erfForm, lowV, a, ca, da);
}

@inline function geluGradBody(
  erfForm: bool, lowV: bool, lowG: bool, x: usize, xDt: i32, out: usize, outDt: i32, g: usize, gDt: i32, n: i32,
): void {
  let i: i32 = 0;
  if (lowV == lowG) {
    for (; i + 8 <= n; i += 8) {
      const k = <usize>i;
      const a = load4(x, k, xDt);
      const b = load4(x, k + 4, xDt);
      const ca = geluCoreV(erfForm, lowV, a);
      const cb = geluCoreV(erfForm, lowV, b);
      const da = geluCore2V(erfForm, lowV, a, ca);
      const db = geluCore2V(erfForm, lowV, b, cb);
      store8(out, k, outDt, geluFromCoreV(erfForm, lowV, a, ca, da), geluFromCoreV(erfForm, lowV, b, cb, db));
      store8(g, k, gDt, geluGradFromCoreV(erfForm, lowV, a, ca, da), geluGradFromCoreV(erfForm, lowV, b, cb, db));
    }
  }
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i;
    store4(out, k, outDt, geluParts(erfForm, lowV, lowG, load4(x, k, xDt), g, gDt, k, false));
  }
  for (; i < n; i++) {
    const k = <usize>i;
    const v = geluParts(erfForm, lowV, lowG, f32x4.splat(load1(x, k, xDt)), g, gDt, k, true);
    store1(out, k, outDt, f32x4.extract_lane(v, 0));
  }
}

/**
 * out = gelu(x) and g = gelu′(x) in one pass (for a backward that is then dy·g); op: 2 erf form, 3 tanh
 * form. out is bit-identical to unary's, g to the factor unaryBackward multiplies dy by.
 */
@noinline function geluGradErfF32(x: usize, out: usize, g: usize, n: i32): void { geluGradBody(true, false, false, x, DT_F32, out, DT_F32, g, DT_F32, n); }
@noinline function geluGradErfF16(x: usize, out: usize, g: usize, n: i32): void { geluGradBody(true, true, true, x, DT_F16, out, DT_F16, g, DT_F16, n); }
@noinline function geluGradErfBf16(x: usize, out: usize, g: usize, n: i32): void { geluGradBody(true, true, true, x, DT_BF16, out, DT_BF16, g, DT_BF16, n); }
@noinline function geluGradErfMix(x: usize, xDt: i32, out: usize, outDt: i32, g: usize, gDt: i32, n: i32): void {
  const lowV = outDt != DT_F32;
  const lowG = gDt != DT_F32;
  if (lowV && lowG) geluGradBody(true, true, true, x, xDt, out, outDt, g, gDt, n);
  else if (lowV) geluGradBody(true, true, false, x, xDt, out, outDt, g, gDt, n);
  else if (lowG) geluGradBody(true, false, true, x, xDt, out, outDt, g, gDt, n);
  else geluGradBody(true, false, false, x, xDt, out, outDt, g, gDt, n);
}
@noinline function geluGradTanhF32(x: usize, out: usize, g: usize, n: i32): void { geluGradBody(false, false, false, x, DT_F32, out, DT_F32, g, DT_F32, n); }
@noinline function geluGradTanhF16(x: usize, out: usize, g: usize, n: i32): void { geluGradBody(false, false, false, x, DT_F16, out, DT_F16, g, DT_F16, n); }
@noinline function geluGradTanhBf16(x: usize, out: usize, g: usize, n: i32): void { geluGradBody(false, false, false, x, DT_BF16, out, DT_BF16, g, DT_BF16, n); }
@noinline function geluGradTanhMix(x: usize, xDt: i32, out: usize, outDt: i32, g: usize, gDt: i32, n: i32): void { geluGradBody(false, false, false, x, xDt, out, outDt, g, gDt, n); }

@inline function geluGradFast(erfForm: bool, x: usize, xDt: i32, out: usize, outDt: i32, g: usize, gDt: i32, n: i32): void {
  const same = xDt == outDt && xDt == gDt;
  if (erfForm) {
    if (!same) geluGradErfMix(x, xDt, out, outDt, g, gDt, n);
    else if (xDt == DT_F32) geluGradErfF32(x, out, g, n);
    else if (xDt == DT_F16) geluGradErfF16(x, out, g, n);
    else geluGradErfBf16(x, out, g, n);
  }
  if (!erfForm) {
    if (!same) geluGradTanhMix(x, xDt, out, outDt, g, gDt, n);
    else if (xDt == DT_F32) geluGradTanhF32(x, out, g, n);
    else if (xDt == DT_F16) geluGradTanhF16(x, out, g, n);
    else geluGradTanhBf16(x, out, g, n);
  }
}

export function geluGrad(op: i32, x: usize, xDt: i32, out: usize, outDt: i32, g: usize, gDt: i32, n: i32): void {
  if (op == 2) geluGradFast(true, x, xDt, out, outDt, g, gDt, n);
  else geluGradFast(false, x, xDt, out, outDt, g, gDt, n);
}

@inline function axpyBody(alpha: f32, x: usize, xDt: i32, y: usize, yDt: i32, n: i32): void {
  const av = f32x4.splat(alpha);
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const k = <usize>i;
    const r0 = f32x4.add(load4(y, k, yDt), f32x4.mul(av, load4(x, k, xDt)));
    const r1 = f32x4.add(load4(y, k + 4, yDt), f32x4.mul(av, load4(x, k + 4, xDt)));
    store8(y, k, yDt, r0, r1);
  }
  for (; i + 4 <= n; i += 4) {
    const k = <usize>i;
    store4(y, k, yDt, f32x4.add(load4(y, k, yDt), f32x4.mul(av, load4(x, k, xDt))));
  }
  for (; i < n; i++) {
    const k = <usize>i;
    store1(y, k, yDt, load1(y, k, yDt) + alpha * load1(x, k, xDt));
  }
}

/** y += alpha·x. */
export function axpy(alpha: f32, x: usize, xDt: i32, y: usize, yDt: i32, n: i32): void {
  if (xDt == yDt) {
    if (xDt == DT_F32) axpyBody(alpha, x, DT_F32, y, DT_F32, n);
    else if (xDt == DT_F16) axpyBody(alpha, x, DT_F16, y, DT_F16, n);
    else axpyBody(alpha, x, DT_BF16, y, DT_BF16, n);
  } else {
    axpyBody(alpha, x, xDt, y, yDt, n);
  }
}

// ---- constant tables ----
//
// V8 (x64, Node 20) builds every non-zero v128.const from immediates with three instructions at each use,
// inside loops, which made these kernels ALU-bound. A splat load from a static table is a single load µop.
// The tables are static data in page 0 (below the arena base); every instance writes the same bytes.

const KF_TABLE = memory.data<f32>([
  E6, // F_E6
  2, // F_2
  89, // F_89
  -88, // F_M88
  LOG2E, // F_LOG2E
  MAGIC, // F_MAGIC
  LN2_HI, // F_LN2_HI
  LN2_LO, // F_LN2_LO
  Infinity, // F_Infinity
  1, // F_1
  0.5, // F_0_5
  -Infinity, // F_MInfinity
  20, // F_20
  INV_SQRT_2PI, // F_INV_SQRT_2PI
  K2, // F_K2
  3 * GC3, // F_3xGC3
  Q0, // F_Q0
  Q1, // F_Q1
  Q2, // F_Q2
  Q3, // F_Q3
  Q4, // F_Q4
  Q5, // F_Q5
  Q6, // F_Q6
  Q7, // F_Q7
  Q8, // F_Q8
  0.25, // F_0_25
  E2, // F_E2
  E3, // F_E3
  E4, // F_E4
  E5, // F_E5
  T_CLAMP, // F_T_CLAMP
  -T_CLAMP, // F_MT_CLAMP
  T_P0, // F_T_P0
  T_P1, // F_T_P1
  T_P2, // F_T_P2
  T_P3, // F_T_P3
  T_P4, // F_T_P4
  T_Q1, // F_T_Q1
  T_Q2, // F_T_Q2
  T_Q3, // F_T_Q3
  T_Q4, // F_T_Q4
  -1, // F_M1
  -LN2_HI, // F_MLN2_HI
  -LN2_LO, // F_MLN2_LO
  X0, // F_X0
  X1, // F_X1
  X2, // F_X2
  X3, // F_X3
  X4, // F_X4
  X5, // F_X5
  L0, // F_L0
  L1, // F_L1
  L2, // F_L2
  L3, // F_L3
  L4, // F_L4
  L5, // F_L5
  L6, // F_L6
  <f32>(-0.5 * LOG2E_D), // F_MHALF_LOG2E
  -127, // F_M127
  -20, // F_M20
  TL_CLAMP, // F_TL_CLAMP
  -TL_CLAMP, // F_MTL_CLAMP
  TL_P0, // F_TL_P0
  TL_P1, // F_TL_P1
  TL_P2, // F_TL_P2
  TL_Q1, // F_TL_Q1
  TL_Q2, // F_TL_Q2
  TL_Q3, // F_TL_Q3
  <f32>(-2 * LOG2E_D), // F_M2LOG2E
]);
const F_E6: i32 = 0;
const F_2: i32 = 1;
const F_89: i32 = 2;
const F_M88: i32 = 3;
const F_LOG2E: i32 = 4;
const F_MAGIC: i32 = 5;
const F_LN2_HI: i32 = 6;
const F_LN2_LO: i32 = 7;
const F_Infinity: i32 = 8;
const F_1: i32 = 9;
const F_0_5: i32 = 10;
const F_MInfinity: i32 = 11;
const F_20: i32 = 12;
const F_INV_SQRT_2PI: i32 = 13;
const F_K2: i32 = 14;
const F_3xGC3: i32 = 15;
const F_Q0: i32 = 16;
const F_Q1: i32 = 17;
const F_Q2: i32 = 18;
const F_Q3: i32 = 19;
const F_Q4: i32 = 20;
const F_Q5: i32 = 21;
const F_Q6: i32 = 22;
const F_Q7: i32 = 23;
const F_Q8: i32 = 24;
const F_0_25: i32 = 25;
const F_E2: i32 = 26;
const F_E3: i32 = 27;
const F_E4: i32 = 28;
const F_E5: i32 = 29;
const F_T_CLAMP: i32 = 30;
const F_MT_CLAMP: i32 = 31;
const F_T_P0: i32 = 32;
const F_T_P1: i32 = 33;
const F_T_P2: i32 = 34;
const F_T_P3: i32 = 35;
const F_T_P4: i32 = 36;
const F_T_Q1: i32 = 37;
const F_T_Q2: i32 = 38;
const F_T_Q3: i32 = 39;
const F_T_Q4: i32 = 40;
const F_M1: i32 = 41;
const F_MLN2_HI: i32 = 42;
const F_MLN2_LO: i32 = 43;
const F_X0: i32 = 44;
const F_X1: i32 = 45;
const F_X2: i32 = 46;
const F_X3: i32 = 47;
const F_X4: i32 = 48;
const F_X5: i32 = 49;
const F_L0: i32 = 50;
const F_L1: i32 = 51;
const F_L2: i32 = 52;
const F_L3: i32 = 53;
const F_L4: i32 = 54;
const F_L5: i32 = 55;
const F_L6: i32 = 56;
const F_MHALF_LOG2E: i32 = 57;
const F_M127: i32 = 58;
const F_M20: i32 = 59;
const F_TL_CLAMP: i32 = 60;
const F_MTL_CLAMP: i32 = 61;
const F_TL_P0: i32 = 62;
const F_TL_P1: i32 = 63;
const F_TL_P2: i32 = 64;
const F_TL_Q1: i32 = 65;
const F_TL_Q2: i32 = 66;
const F_TL_Q3: i32 = 67;
const F_M2LOG2E: i32 = 68;
@inline function kf(i: i32): v128 {
  return v128.load32_splat(KF_TABLE + (<usize>i << 2));
}

const KI_TABLE = memory.data<u32>([
  126, // I_126
  MAGIC_BITS, // I_MAGIC_BITS
  -125, // I_M125
  0x80000000, // I_0x80000000
  0xfffff000, // I_0xfffff000
  127, // I_127
]);
const I_126: i32 = 0;
const I_MAGIC_BITS: i32 = 1;
const I_M125: i32 = 2;
const I_0x80000000: i32 = 3;
const I_0xfffff000: i32 = 4;
const I_127: i32 = 5;
@inline function ki(i: i32): v128 {
  return v128.load32_splat(KI_TABLE + (<usize>i << 2));
}

const KD_TABLE = memory.data<f64>([
  89, // D_89
  -88, // D_M88
  LOG2E_D, // D_LOG2E_D
  MAGIC_D, // D_MAGIC_D
  LN2_D, // D_LN2_D
  1, // D_1
  GC3_D, // D_GC3_D
  -K2_D, // D_MK2_D
]);
const D_89: i32 = 0;
const D_M88: i32 = 1;
const D_LOG2E_D: i32 = 2;
const D_MAGIC_D: i32 = 3;
const D_LN2_D: i32 = 4;
const D_1: i32 = 5;
const D_GC3_D: i32 = 6;
const D_MK2_D: i32 = 7;
@inline function kd(i: i32): v128 {
  return v128.load64_splat(KD_TABLE + (<usize>i << 3));
}

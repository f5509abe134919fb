import type { Tensor } from '../../core/tensor.js';
import type { BinaryOp, GeluApproximate, ReduceOp } from '../backend.js';
import { checkChannelAffine, checkChannelSum, checkFiniteNumber, checkGeluGrad, checkLive, checkSameShape } from '../check.js';

/**
 * Reference elementwise ops and reductions: every operand is decoded to float64, the math is done in
 * float64, and the result is rounded once into the output's dtype (out.set). Every dtype is accepted,
 * float64 included. These are the oracle of the wasm kernel tests and the float64 path of the CPU backend.
 */

const SQRT1_2 = Math.SQRT1_2;
const TWO_OVER_SQRT_PI = 1.1283791670955126;
const INV_SQRT_PI = 0.5641895835477563;
const INV_SQRT_2PI = 0.3989422804014327;
const SQRT_2_OVER_PI = 0.7978845608028654;
const GELU_C = 0.044715;

// ---- float64 erf / erfc ----

/** erf by its Maclaurin series (|z| < 1: terms fall by z²/n, at most ~20 of them). */
function erfSeries(z: number): number {
  const z2 = z * z;
  let term = z; // z^(2n+1)·(−1)^n / n!
  let sum = z;
  for (let n = 1; n < 60; n++) {
    term *= -z2 / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** exp(−z²) with z² split as zh² + (z − zh)(z + zh), zh having 24 bits so zh² is exact. */
function expMinusSquare(z: number): number {
  const zh = Math.fround(z);
  return Math.exp(-zh * zh) * Math.exp(-(z - zh) * (z + zh));
}

/**
 * erfc(z) for z ≥ 1 by Laplace's continued fraction erfc(z) = e^{−z²}/√π · 1/(z + ½/(z + 1/(z + 3⁄2/(z + …)))),
 * evaluated with the modified Lentz method (≈ 190 terms at z = 1, 57 at z = 2, 11 at z = 9).
 */
function erfcFraction(z: number): number {
  const tiny = 1e-300;
  let f = z;
  let c = z;
  let d = 0;
  for (let k = 1; k < 1000; k++) {
    const a = k / 2;
    d = z + a * d;
    if (d === 0) d = tiny;
    d = 1 / d;
    c = z + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return (expMinusSquare(z) * INV_SQRT_PI) / f;
}

/** Complementary error function in float64 (relative error ≈ 1e-15). */
export function refErfc(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (z < 0) return 2 - refErfc(-z);
  if (z < 1) return 1 - erfSeries(z);
  if (z > 27.3) return 0; // below the smallest float64
  return erfcFraction(z);
}

/** Error function in float64. */
export function refErf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  if (Math.abs(z) < 1) return erfSeries(z);
  return z > 0 ? 1 - refErfc(z) : refErfc(-z) - 1;
}

// ---- shared validation (the same messages as the wasm fronts) ----

const BINARY_OPS: readonly BinaryOp[] = ['add', 'sub', 'mul'];
const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'sumSquares', 'maxAbs', 'countNonFinite'];

function checkGelu(approximate: GeluApproximate, op: string): void {
  if (approximate !== 'none' && approximate !== 'tanh') {
    throw new TypeError(`${op}: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
  }
}

function checkBounds(op: string, min: number, max: number): void {
  checkFiniteNumber(op, 'min', min);
  checkFiniteNumber(op, 'max', max);
  if (min > max) throw new RangeError(`${op}: min (${min}) is greater than max (${max})`);
}

function map1(x: Tensor, out: Tensor, f: (v: number) => number): void {
  const X = x.toFloat64();
  for (let i = 0; i < X.length; i++) X[i] = f(X[i]!);
  out.set(X);
}

function map2(a: Tensor, b: Tensor, out: Tensor, f: (u: number, v: number) => number): void {
  const A = a.toFloat64();
  const B = b.toFloat64();
  for (let i = 0; i < A.length; i++) A[i] = f(A[i]!, B[i]!);
  out.set(A);
}

// ---- scalar functions ----

/** gelu (erf form) of one float64 value (also the fused GEMM epilogue's reference). */
export function geluErf(x: number): number {
  if (x === -Infinity) return 0;
  return 0.5 * x * refErfc(-x * SQRT1_2);
}

/** 0.5·x·(1 + tanh(u)) written as x·σ(2u), which keeps its relative accuracy for x ≪ 0. */
export function geluTanh(x: number): number {
  if (x === -Infinity) return 0;
  const u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
  return x / (1 + Math.exp(-2 * u));
}

/** d/dx gelu (erf form) of one float64 value. */
export function geluErfGrad(x: number): number {
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  const e = Math.exp(-0.5 * x * x);
  if (e === 0) return x > 0 ? 1 : 0; // |x| > 38.6 (and x·e could be Inf·0)
  return 0.5 * refErfc(-x * SQRT1_2) + x * e * INV_SQRT_2PI;
}

/** d/dx gelu (tanh form) of one float64 value. */
export function geluTanhGrad(x: number): number {
  if (x === Infinity) return 1;
  if (x === -Infinity) return 0;
  const u = SQRT_2_OVER_PI * (x + GELU_C * x * x * x);
  const e = Math.exp(-2 * u);
  const s = 1 / (1 + e); // σ(2u)
  const om = 1 / (1 + 1 / e); // 1 − σ(2u), without cancellation
  if (s === 0) return 0; // x ≲ −19.5: the gradient is below 1e-300 (and x·σ·u′ could be 0·Inf)
  if (om === 0) return 1;
  const du2 = 2 * SQRT_2_OVER_PI * (1 + 3 * GELU_C * x * x);
  return s + x * s * om * du2;
}

// ---- ops ----

export function refBinary(op: BinaryOp, a: Tensor, b: Tensor, out: Tensor): void {
  if (typeof op !== 'string' || !BINARY_OPS.includes(op)) {
    throw new TypeError(`binary: unknown op '${String(op)}' (expected add, sub or mul)`);
  }
  checkSameShape(`binary ${op}`, ['a', a], ['b', b], ['out', out]);
  if (op === 'add') map2(a, b, out, (u, v) => u + v);
  else if (op === 'sub') map2(a, b, out, (u, v) => u - v);
  else map2(a, b, out, (u, v) => u * v);
}

export function refScale(x: Tensor, alpha: number, out: Tensor): void {
  checkFiniteNumber('scale', 'alpha', alpha);
  checkSameShape('scale', ['x', x], ['out', out]);
  map1(x, out, (v) => alpha * v);
}

export function refAxpy(alpha: number, x: Tensor, y: Tensor): void {
  checkFiniteNumber('axpy', 'alpha', alpha);
  checkSameShape('axpy', ['x', x], ['y', y]);
  map2(y, x, y, (yv, xv) => yv + alpha * xv);
}

export function refTanh(x: Tensor, out: Tensor): void {
  checkSameShape('tanh', ['x', x], ['out', out]);
  map1(x, out, Math.tanh);
}

export function refTanhBackward(y: Tensor, dy: Tensor, dx: Tensor): void {
  checkSameShape('tanhBackward', ['y', y], ['dy', dy], ['dx', dx]);
  map2(y, dy, dx, (yv, g) => g * ((1 - yv) * (1 + yv)));
}

/** dx = dy·sech²(x) = dy·4e/(1 + e)², e = exp(−2|x|); with `accumulate`, dx += that. */
export function refTanhBackwardFromInput(x: Tensor, dy: Tensor, dx: Tensor, accumulate = false): void {
  checkSameShape('tanhBackwardFromInput', ['x', x], ['dy', dy], ['dx', dx]);
  const X = x.toFloat64();
  const G = dy.toFloat64();
  const D = accumulate ? dx.toFloat64() : new Float64Array(X.length);
  for (let i = 0; i < X.length; i++) {
    const e = Math.exp(-2 * Math.abs(X[i]!));
    D[i] = D[i]! + G[i]! * ((4 * e) / ((1 + e) * (1 + e)));
  }
  dx.set(D);
}

export function refGelu(x: Tensor, out: Tensor, approximate: GeluApproximate = 'none', grad?: Tensor): void {
  checkGelu(approximate, 'gelu');
  if (grad) checkGeluGrad(x, out, grad);
  else checkSameShape('gelu', ['x', x], ['out', out]);
  if (grad) map1(x, grad, approximate === 'tanh' ? geluTanhGrad : geluErfGrad);
  map1(x, out, approximate === 'tanh' ? geluTanh : geluErf);
}

export function refGeluBackward(x: Tensor, dy: Tensor, dx: Tensor, approximate: GeluApproximate = 'none'): void {
  checkGelu(approximate, 'geluBackward');
  checkSameShape('geluBackward', ['x', x], ['dy', dy], ['dx', dx]);
  const grad = approximate === 'tanh' ? geluTanhGrad : geluErfGrad;
  map2(x, dy, dx, (xv, g) => g * grad(xv));
}

export function refClamp(x: Tensor, min: number, max: number, out: Tensor): void {
  checkBounds('clamp', min, max);
  checkSameShape('clamp', ['x', x], ['out', out]);
  map1(x, out, (v) => Math.min(Math.max(v, min), max));
}

export function refClampBackward(x: Tensor, min: number, max: number, dy: Tensor, dx: Tensor): void {
  checkBounds('clampBackward', min, max);
  checkSameShape('clampBackward', ['x', x], ['dy', dy], ['dx', dx]);
  map2(x, dy, dx, (xv, g) => (xv >= min && xv <= max ? g : 0));
}

/** Reductions in float64 (sums compensated, Neumaier); maxAbs is NaN if any element is NaN, 0 when empty. */
export function refReduce(op: ReduceOp, x: Tensor): number {
  if (typeof op !== 'string' || !REDUCE_OPS.includes(op)) {
    throw new TypeError(`reduce: unknown op '${String(op)}' (expected sum, sumSquares, maxAbs or countNonFinite)`);
  }
  checkLive(`reduce ${op}`, ['x', x]);
  const X = x.toFloat64();
  if (op === 'maxAbs') {
    let m = 0;
    for (const v of X) {
      if (Number.isNaN(v)) return NaN;
      const a = Math.abs(v);
      if (a > m) m = a;
    }
    return m;
  }
  if (op === 'countNonFinite') {
    let c = 0;
    for (const v of X) if (!Number.isFinite(v)) c++;
    return c;
  }
  let s = 0;
  let comp = 0;
  for (const raw of X) {
    const v = op === 'sumSquares' ? raw * raw : raw;
    const t = s + v;
    comp += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
    s = t;
  }
  return Number.isFinite(s) ? s + comp : s;
}

export function refConvert(x: Tensor, out: Tensor): void {
  checkSameShape('convert', ['x', x], ['out', out]);
  out.set(x.toFloat64());
}


/** out[b, c, …] = x[b, c, …]·scale[c] + shift[c] in float64, rounded once into out. */
export function refChannelAffine(x: Tensor, scale: Tensor | null, shift: Tensor | null, out: Tensor): void {
  const { C, S } = checkChannelAffine(x, scale, shift, out);
  const X = x.toFloat64();
  const w = scale?.toFloat64();
  const b = shift?.toFloat64();
  for (let i = 0; i < X.length; i++) {
    const c = Math.floor(i / S) % C;
    X[i] = X[i]! * (w ? w[c]! : 1) + (b ? b[c]! : 0);
  }
  out.set(X);
}

/** out[c] = Σ_{b, …} x[b, c, …]·(y[b, c, …] if y is given) in float64, rounded once into out. */
export function refChannelSum(x: Tensor, y: Tensor | null, out: Tensor): void {
  const { B, C, S } = checkChannelSum(x, y, out);
  const X = x.toFloat64();
  const Y = y?.toFloat64();
  const o = new Float64Array(C);
  for (let bi = 0; bi < B; bi++) {
    for (let c = 0; c < C; c++) {
      const off = (bi * C + c) * S;
      let s = 0;
      for (let i = off; i < off + S; i++) s += X[i]! * (Y ? Y[i]! : 1);
      o[c] = o[c]! + s;
    }
  }
  out.set(o);
}

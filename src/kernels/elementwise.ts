import type { Tensor } from '../core/tensor.js';
import type { BinaryOp, GeluApproximate, ReduceOp } from './backend.js';
import { checkChannelAffine, checkChannelSum, checkFiniteNumber, checkGeluGrad, checkLive, checkSameShape } from './check.js';
import { dtCode } from './dtcode.js';
import type { KernelName } from './module.js';
import { pool, splitRange } from './pool.js';

/**
 * Elementwise ops and reductions on the wasm SIMD kernels (src/kernels/wasm/elementwise.ts, reduce.ts).
 * Every operand may have its own dtype (float32, float16, bfloat16; float64 is rejected: the CPU backend
 * sends it to the reference). Computation is in f32 with one rounding into the output's dtype. Outputs
 * may be the same tensor as an input. Large tensors are split across the thread pool.
 */

/** Elements per thread below which cheap ops (add, scale, clamp, axpy, reductions) stay on one thread. */
const PARALLEL_CHEAP = 1 << 18;
/** Elements per thread below which transcendental ops (tanh, gelu and their gradients) stay on one thread. */
const PARALLEL_MATH = 1 << 16;
/** Range starts are multiples of this many elements (whole vectors, and whole 64-byte lines for f32). */
const ALIGN = 16;

const BINARY_OPS: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2 };
const REDUCE_OPS: Record<ReduceOp, number> = { sum: 0, sumSquares: 1, maxAbs: 2, countNonFinite: 3 };

const U_SCALE = 0;
const U_TANH = 1;
const U_GELU_ERF = 2;
const U_GELU_TANH = 3;
const U_CLAMP = 4;
const U_TANH_FROM_X = 5;
const U_TANH_FROM_X_ADD = 6;

function size(t: Tensor): number {
  return t.dtype === 'float32' ? 4 : 2;
}

/** The [start, end) ranges of [0, n) that the threads take. */
function ranges(n: number, perThread: number): [number, number][] {
  const parts = Math.min(pool.threads, Math.floor(n / perThread) + 1);
  return splitRange(n, parts, ALIGN);
}

/** Runs `name` over [0, n) split into ranges; `args` builds one call's arguments for a range. */
function runSplit(name: KernelName, n: number, perThread: number, args: (start: number, count: number) => number[]): number[] {
  if (n === 0) return [];
  return pool.run(name, ranges(n, perThread).map(([s, e]) => args(s, e - s)));
}

function geluOp(approximate: GeluApproximate, op: string): number {
  if (approximate === 'none') return U_GELU_ERF;
  if (approximate === 'tanh') return U_GELU_TANH;
  throw new TypeError(`${op}: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
}

function checkBounds(op: string, min: number, max: number): void {
  checkFiniteNumber(op, 'min', min);
  checkFiniteNumber(op, 'max', max);
  if (min > max) throw new RangeError(`${op}: min (${min}) is greater than max (${max})`);
}

const f32Box = new Float32Array(1);
const i32Box = new Int32Array(f32Box.buffer);

/** The next float32 above a float32 value f (f not NaN, not +Inf). */
function nextUpF32(f: number): number {
  if (f === 0) return 2 ** -149;
  f32Box[0] = f;
  i32Box[0] = f > 0 ? i32Box[0]! + 1 : i32Box[0]! - 1;
  return f32Box[0]!;
}

/** The smallest float32 ≥ v. */
function f32Up(v: number): number {
  const f = Math.fround(v);
  return f >= v ? f : nextUpF32(f);
}

/** The largest float32 ≤ v. */
function f32Down(v: number): number {
  return -f32Up(-v);
}

/** out = a ∘ b elementwise (same shapes, any dtypes). */
export function binary(op: BinaryOp, a: Tensor, b: Tensor, out: Tensor): void {
  if (typeof op !== 'string' || !Object.hasOwn(BINARY_OPS, op)) {
    throw new TypeError(`binary: unknown op '${String(op)}' (expected add, sub or mul)`);
  }
  const code = BINARY_OPS[op];
  checkSameShape(`binary ${op}`, ['a', a], ['b', b], ['out', out]);
  const ad = dtCode(a.dtype, `binary ${op}`);
  const bd = dtCode(b.dtype, `binary ${op}`);
  const od = dtCode(out.dtype, `binary ${op}`);
  const [ap, bp, op_] = [a.ptr, b.ptr, out.ptr];
  const [as, bs, os] = [size(a), size(b), size(out)];
  runSplit('binary', out.size, PARALLEL_CHEAP, (s, c) => [code, ap + s * as, ad, bp + s * bs, bd, op_ + s * os, od, c]);
}

function unaryRun(name: string, code: number, x: Tensor, out: Tensor, p0: number, p1: number, perThread: number): void {
  checkSameShape(name, ['x', x], ['out', out]);
  const xd = dtCode(x.dtype, name);
  const od = dtCode(out.dtype, name);
  const [xp, op] = [x.ptr, out.ptr];
  const [xs, os] = [size(x), size(out)];
  runSplit('unary', x.size, perThread, (s, c) => [code, xp + s * xs, xd, op + s * os, od, c, p0, p1]);
}

function backwardRun(
  name: string, code: number, xName: string, x: Tensor, dy: Tensor, dx: Tensor, p0: number, p1: number, perThread: number,
): void {
  checkSameShape(name, [xName, x], ['dy', dy], ['dx', dx]);
  const xd = dtCode(x.dtype, name);
  const yd = dtCode(dy.dtype, name);
  const dd = dtCode(dx.dtype, name);
  const [xp, yp, dp] = [x.ptr, dy.ptr, dx.ptr];
  const [xs, ys, ds] = [size(x), size(dy), size(dx)];
  runSplit('unaryBackward', x.size, perThread, (s, c) => [code, xp + s * xs, xd, yp + s * ys, yd, dp + s * ds, dd, c, p0, p1]);
}

/** out = alpha·x (alpha is rounded to f32). */
export function scale(x: Tensor, alpha: number, out: Tensor): void {
  checkFiniteNumber('scale', 'alpha', alpha);
  unaryRun('scale', U_SCALE, x, out, alpha, 0, PARALLEL_CHEAP);
}

/** y += alpha·x (alpha is rounded to f32). */
export function axpy(alpha: number, x: Tensor, y: Tensor): void {
  checkFiniteNumber('axpy', 'alpha', alpha);
  checkSameShape('axpy', ['x', x], ['y', y]);
  const xd = dtCode(x.dtype, 'axpy');
  const yd = dtCode(y.dtype, 'axpy');
  const [xp, yp] = [x.ptr, y.ptr];
  const [xs, ys] = [size(x), size(y)];
  runSplit('axpy', x.size, PARALLEL_CHEAP, (s, c) => [alpha, xp + s * xs, xd, yp + s * ys, yd, c]);
}

export function tanh(x: Tensor, out: Tensor): void {
  unaryRun('tanh', U_TANH, x, out, 0, 0, PARALLEL_MATH);
}

/** dx = dy·(1 − y²), from the forward output y. */
export function tanhBackward(y: Tensor, dy: Tensor, dx: Tensor): void {
  backwardRun('tanhBackward', U_TANH, 'y', y, dy, dx, 0, 0, PARALLEL_CHEAP);
}

/**
 * dx = dy·(1 − tanh²(x)), recomputed from the forward input x (sech², accurate also where tanh(x) ≈ ±1);
 * with `accumulate`, dx += dy·(1 − tanh²(x)) (one rounding into dx).
 */
export function tanhBackwardFromInput(x: Tensor, dy: Tensor, dx: Tensor, accumulate = false): void {
  backwardRun('tanhBackwardFromInput', accumulate ? U_TANH_FROM_X_ADD : U_TANH_FROM_X, 'x', x, dy, dx, 0, 0, PARALLEL_MATH);
}

/**
 * out = gelu(x): 'none' = 0.5·x·(1 + erf(x/√2)), 'tanh' = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 * With `grad`: also grad = gelu′(x) in the same pass (out is bit-identical either way; grad equals the
 * factor geluBackward multiplies dy by). grad must not overlap x or out.
 */
export function gelu(x: Tensor, out: Tensor, approximate: GeluApproximate = 'none', grad?: Tensor): void {
  const code = geluOp(approximate, 'gelu');
  if (!grad) {
    unaryRun('gelu', code, x, out, 0, 0, PARALLEL_MATH);
    return;
  }
  checkGeluGrad(x, out, grad);
  const xd = dtCode(x.dtype, 'gelu');
  const od = dtCode(out.dtype, 'gelu');
  const gd = dtCode(grad.dtype, 'gelu');
  const [xp, op, gp] = [x.ptr, out.ptr, grad.ptr];
  const [xs, os, gs] = [size(x), size(out), size(grad)];
  runSplit('geluGrad', x.size, PARALLEL_MATH, (s, c) => [code, xp + s * xs, xd, op + s * os, od, gp + s * gs, gd, c]);
}

/** dx = dy·gelu′(x). */
export function geluBackward(x: Tensor, dy: Tensor, dx: Tensor, approximate: GeluApproximate = 'none'): void {
  backwardRun('geluBackward', geluOp(approximate, 'geluBackward'), 'x', x, dy, dx, 0, 0, PARALLEL_MATH);
}

/** out = min(max(x, min), max); NaN stays NaN. */
export function clamp(x: Tensor, min: number, max: number, out: Tensor): void {
  checkBounds('clamp', min, max);
  // Round-to-nearest bounds give exactly the float64 result for every float32 x.
  unaryRun('clamp', U_CLAMP, x, out, min, max, PARALLEL_CHEAP);
}

/** dx = dy where min ≤ x ≤ max, else 0 (also 0 where x is NaN). */
export function clampBackward(x: Tensor, min: number, max: number, dy: Tensor, dx: Tensor): void {
  checkBounds('clampBackward', min, max);
  // Bounds rounded inwards, so that the f32 comparisons agree with the float64 ones for every f32 x.
  backwardRun('clampBackward', U_CLAMP, 'x', x, dy, dx, f32Up(min), f32Down(max), PARALLEL_CHEAP);
}

/**
 * A reduction over all elements as a float64 number: 'sum', 'sumSquares' (f32 lanes over chunks of 1024,
 * chunk sums in f64), 'maxAbs' (exact; NaN if any element is NaN; 0 for an empty tensor),
 * 'countNonFinite' (exact count of ±Inf and NaN).
 */
export function reduce(op: ReduceOp, x: Tensor): number {
  if (typeof op !== 'string' || !Object.hasOwn(REDUCE_OPS, op)) {
    throw new TypeError(`reduce: unknown op '${String(op)}' (expected sum, sumSquares, maxAbs or countNonFinite)`);
  }
  const name = `reduce ${op}`;
  checkLive(name, ['x', x]);
  const code = REDUCE_OPS[op];
  const xd = dtCode(x.dtype, name);
  const xp = x.ptr;
  const xs = size(x);
  const parts = runSplit('reduce', x.size, PARALLEL_CHEAP, (s, c) => [code, xp + s * xs, xd, c]);
  if (op === 'maxAbs') {
    let m = 0;
    for (const p of parts) {
      if (Number.isNaN(p)) return NaN;
      if (p > m) m = p;
    }
    return m;
  }
  let total = 0;
  for (const p of parts) total += p;
  return total;
}

/** out[b, c, …] = x[b, c, …]·scale[c] + shift[c] (either vector may be null); rows split across threads. */
export function channelAffine(x: Tensor, scale: Tensor | null, shift: Tensor | null, out: Tensor): void {
  const { B, C, S } = checkChannelAffine(x, scale, shift, out);
  const op = 'channelAffine';
  const xd = dtCode(x.dtype, op);
  const od = dtCode(out.dtype, op);
  const [wp, wd] = scale ? [scale.ptr, dtCode(scale.dtype, op)] : [0, 0];
  const [bp, bd] = shift ? [shift.ptr, dtCode(shift.dtype, op)] : [0, 0];
  const rows = B * C;
  if (rows === 0 || S === 0) return;
  const parts = Math.min(pool.threads, Math.floor((rows * S) / PARALLEL_CHEAP) + 1);
  const [xp, op_] = [x.ptr, out.ptr];
  pool.run('channelAffine', splitRange(rows, parts).map(([r0, r1]) => [xp, xd, op_, od, wp, wd, bp, bd, C, S, r0, r1]));
}

/**
 * out[c] = Σ_{b, …} x[b, c, …]·y[b, c, …] (y null: Σ x): each row in
 * f32 lanes over chunks of 1024 elements into an f64 total, the batch items in order; channels split
 * across threads, so the result does not depend on the thread count.
 */
export function channelSum(x: Tensor, y: Tensor | null, out: Tensor): void {
  const { B, C, S } = checkChannelSum(x, y, out);
  const op = 'channelSum';
  const xd = dtCode(x.dtype, op);
  const [yp, yd] = y ? [y.ptr, dtCode(y.dtype, op)] : [0, 0];
  const od = dtCode(out.dtype, op);
  if (C === 0) return;
  const parts = Math.min(pool.threads, Math.floor((B * C * S * (y ? 2 : 1)) / PARALLEL_CHEAP) + 1);
  const [xp, op_] = [x.ptr, out.ptr];
  pool.run('channelSum', splitRange(C, parts).map(([c0, c1]) => [xp, xd, yp, yd, op_, od, B, C, S, c0, c1]));
}

import { itemSize } from '../core/dtype.js';
import { type Tensor, fmtShape, shapeEq } from '../core/tensor.js';
import type { ComplexGemmOptions, ComplexPair, GemmOptions } from './backend.js';
import { checkDisjoint, checkFiniteNumber, checkLive, describe } from './check.js';

/** A validated GEMM call, in element strides: C[bi] = alpha·op(A[bi])·op(B[bi]) + beta·C[bi] + bias. */
export interface GemmPlan {
  batch: number;
  m: number;
  n: number;
  k: number;
  /** Row/column strides of op(A) and op(B). */
  rsA: number;
  csA: number;
  rsB: number;
  csB: number;
  ldc: number;
  /** Fused activation (0 none, 1 gelu erf, 2 gelu tanh) and the tensor that receives the values before it. */
  act: number;
  activationGrad: Tensor | undefined;
  /** Added before the activation / multiplied after it (each like C). */
  residual: Tensor | undefined;
  multiply: Tensor | undefined;
  /** Elements between batch items (0 when the operand is shared by all items). */
  strideA: number;
  strideB: number;
  strideC: number;
  alpha: number;
  beta: number;
  bias: Tensor | undefined;
  /** C is one [M, N] that receives the sum over the batch (strideC 0). */
  sumBatch: boolean;
}

/** Checks shapes and options of a gemm call; errors name 'gemm' and every operand's shape and dtype. */
export function planGemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): GemmPlan {
  const op = 'gemm';
  checkLive(op, ['A', a], ['B', b], ['C', c]);
  const ctx = () => `A ${describe(a)}${opts.transA ? ' (transposed)' : ''}, B ${describe(b)}${opts.transB ? ' (transposed)' : ''}, C ${describe(c)}`;
  for (const [name, t] of [['A', a], ['B', b], ['C', c]] as const) {
    if (t.ndim !== 2 && t.ndim !== 3) throw new RangeError(`${op}: ${name} must be 2-D or 3-D (batched); got ${ctx()}`);
  }
  const sumBatch = opts.sumBatch === true;
  if (sumBatch) {
    if (c.ndim !== 2 || (a.ndim !== 3 && b.ndim !== 3)) throw new RangeError(`${op}: sumBatch needs a batched A or B and a 2-D C [M, N]; got ${ctx()}`);
    if (opts.gelu !== undefined) throw new RangeError(`${op}: sumBatch does not take a fused activation (gelu); got ${ctx()}`);
  }
  const batch = sumBatch ? (a.ndim === 3 ? a.shape[0]! : b.shape[0]!) : c.ndim === 3 ? c.shape[0]! : 1;
  if (!sumBatch && c.ndim === 2 && (a.ndim === 3 || b.ndim === 3)) {
    throw new RangeError(`${op}: a batched A or B needs a batched C [batch, M, N] (or sumBatch); got ${ctx()}`);
  }
  if (a.ndim === 3 && a.shape[0] !== batch) throw new RangeError(`${op}: batch sizes differ; got ${ctx()}`);
  if (b.ndim === 3 && b.shape[0] !== batch) throw new RangeError(`${op}: batch sizes differ; got ${ctx()}`);
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, k] = opts.transA ? [ac, ar] : [ar, ac];
  const [k2, n] = opts.transB ? [bc, br] : [br, bc];
  if (k !== k2) throw new RangeError(`${op}: inner sizes differ (K = ${k} from A, ${k2} from B); got ${ctx()}`);
  const [cm, cn] = c.shape.slice(-2) as [number, number];
  if (cm !== m || cn !== n) throw new RangeError(`${op}: C must be [${m}, ${n}] (M×N) per batch item; got ${ctx()}`);
  const alpha = opts.alpha ?? 1;
  checkFiniteNumber(op, 'alpha', alpha);
  const bias = opts.bias;
  if (bias !== undefined) {
    checkLive(op, ['bias', bias]);
    if (bias.ndim !== 1 || bias.shape[0] !== m) throw new RangeError(`${op}: bias must be [${m}] (one value per row of C); got bias ${describe(bias)}, ${ctx()}`);
  }
  for (const [name, t] of [['A', a], ['B', b], ['C', c]] as const) {
    if (t.size > 0 && (t.ptr % itemSize(t.dtype)) !== 0) throw new Error(`${op}: ${name} is misaligned`);
  }
  let act = 0;
  const z = opts.activationGrad;
  if (opts.gelu !== undefined) {
    if (opts.gelu === 'none') act = 1;
    else if (opts.gelu === 'tanh') act = 2;
    else throw new TypeError(`${op}: gelu must be 'none' or 'tanh', got '${String(opts.gelu)}'`);
  }
  if (z !== undefined) {
    if (act === 0) throw new RangeError(`${op}: activationGrad is only written with a fused activation (gelu)`);
    checkLive(op, ['activationGrad', z]);
    if (!shapeEq(z.shape, c.shape) || z.dtype !== c.dtype) {
      throw new RangeError(`${op}: activationGrad must be a contiguous tensor like C; got activationGrad ${describe(z)}, ${ctx()}`);
    }
    checkDisjoint(op, ['activationGrad', z], ['A', a], ['B', b], ['C', c], ...(bias ? [['bias', bias] as [string, Tensor]] : []));
  }
  for (const [name, t] of [['residual', opts.residual], ['multiply', opts.multiply]] as const) {
    if (t === undefined) continue;
    if (sumBatch) throw new RangeError(`${op}: sumBatch does not take a ${name}; got ${ctx()}`);
    checkLive(op, [name, t]);
    if (!shapeEq(t.shape, c.shape) || t.dtype !== c.dtype) throw new RangeError(`${op}: ${name} must be a contiguous tensor like C; got ${name} ${describe(t)}, ${ctx()}`);
    checkDisjoint(op, [name, t], ['C', c], ...(z ? [['activationGrad', z] as [string, Tensor]] : []));
  }
  checkDisjoint(op, ['C', c], ['A', a], ['B', b], ...(bias ? [['bias', bias] as [string, Tensor]] : []));
  return {
    batch, m, n, k,
    rsA: opts.transA ? 1 : ac,
    csA: opts.transA ? ac : 1,
    rsB: opts.transB ? 1 : bc,
    csB: opts.transB ? bc : 1,
    ldc: n,
    strideA: a.ndim === 3 ? ar * ac : 0,
    strideB: b.ndim === 3 ? br * bc : 0,
    strideC: sumBatch ? 0 : m * n,
    alpha,
    beta: opts.accumulate ? 1 : 0,
    bias,
    act,
    activationGrad: z,
    residual: opts.residual,
    multiply: opts.multiply,
    sumBatch,
  };
}

/** Checks a complex GEMM: re parts as gemm does, im parts of the same shapes and dtypes, no overlaps. */
export function planComplexGemm(a: ComplexPair, b: ComplexPair, c: ComplexPair, opts: ComplexGemmOptions): GemmPlan {
  const p = planGemm(a.re, b.re, c.re, { ...(opts.transA ? { transA: true } : {}), ...(opts.transB ? { transB: true } : {}), ...(opts.accumulate ? { accumulate: true } : {}) });
  for (const [name, x] of [['A', a], ['B', b], ['C', c]] as const) {
    if (!shapeEq(x.re.shape, x.im.shape) || x.re.dtype !== x.im.dtype) {
      throw new TypeError(`complexGemm: ${name} real part ${fmtShape(x.re.shape)} ${x.re.dtype} and imaginary part ${fmtShape(x.im.shape)} ${x.im.dtype} differ`);
    }
  }
  checkDisjoint('complexGemm', ['C.im', c.im], ['A.re', a.re], ['A.im', a.im], ['B.re', b.re], ['B.im', b.im], ['C.re', c.re]);
  checkDisjoint('complexGemm', ['C.re', c.re], ['A.im', a.im], ['B.im', b.im]);
  return p;
}


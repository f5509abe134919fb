/**
 * The executor of the contraction engine: runs a plan (plan.ts) pairwise with batched real GEMMs, every
 * intermediate and the result stored in the requested dtype; and the permute helpers (on the
 * backend's permute).
 */
import type { DType } from '../../core/dtype.js';
import type { Role } from '../../core/ledger.js';
import { ComplexTensor, type Shape, Tensor, fmtShape } from '../../core/tensor.js';
import { backend } from '../../kernels/cpu.js';
import { ContractionPlanError, EinsumShapeError, type ParsedEinsum, indexSizes, maskOf, parseEinsum, pick, sizeOfOrder } from './parse.js';
import { type ContractDType, type ContractionPlan, type ContractionStrategy, type ProductForm, type StepLayout, planContraction } from './plan.js';

// ---------------------------------------------------------------------------------------------------
// Permute

/**
 * Copies src into dst with its axes permuted: dst axis d is src axis perm[d] (dst.shape[d] =
 * src.shape[perm[d]]). Same dtype: the stored values are copied exactly (Backend.permute); otherwise
 * each value is rounded once into dst's dtype (a permuted copy in src's dtype, then convert).
 */
export function permuteInto(src: Tensor, perm: readonly number[], dst: Tensor): void {
  const be = backend();
  if (src.dtype === dst.dtype) {
    be.permute(src, perm, dst);
    return;
  }
  const tmp = Tensor.empty(dst.shape, src.dtype, 'workspace');
  try {
    be.permute(src, perm, tmp);
    be.convert(tmp, dst);
  } finally {
    tmp.release();
  }
}

/** A new tensor holding src with its axes permuted (see permuteInto); same dtype unless given. */
export function permute(src: Tensor, perm: readonly number[], dtype: DType = src.dtype, role: Role = 'workspace'): Tensor {
  const out = Tensor.empty(perm.map((p) => src.shape[p] ?? -1), dtype, role);
  try {
    permuteInto(src, perm, out);
  } catch (e) {
    out.release();
    throw e;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Execution

/** A complex operand: a ComplexTensor, a plain (real) Tensor, or a pair whose imaginary part is absent. */
export type ComplexOperand = ComplexTensor | Tensor | { readonly re: Tensor; readonly im?: Tensor | null | undefined };

export interface ContractOptions {
  /** The dtype of every intermediate and of the result (float64 runs on the reference path). */
  dtype: ContractDType;
  /** Path search (default 'auto'); ignored when `plan` is given. */
  strategy?: ContractionStrategy;
  /** Complex product form: 'auto' (default) picks per dtype, see chooseForm. */
  form?: 'auto' | ProductForm;
  /** Ledger role of the result tensors (default 'other'); intermediates are 'workspace'. */
  role?: Role;
  /** A plan from planContraction for this equation and these shapes: it fixes the path and the GEMM layouts; the product form still comes from `form`. */
  plan?: ContractionPlan;
}

/**
 * The product form that form 'auto' uses: '3' (Gauss) for float32, '4' for float16, bfloat16 and
 * float64. The measurements behind it are in the comment on FORM_BY_DTYPE.
 */
export function chooseForm(dtype: ContractDType): ProductForm {
  return FORM_BY_DTYPE[dtype];
}

/*
 * Why: measured with this CPU backend (wasm SIMD GEMM with f32 accumulation). The machine was shared,
 * so the timings are medians of 9 runs, best of 2 rounds.
 *
 * Speed, median ms, 4-product → 3-product (ratio 3/4), 1 thread:
 *   dense 'xbi,xio->xbo' [288,8,32]·[288,32,32]:    f32 1.47 → 1.39 (0.94)  f16 2.09 → 3.69 (1.77)  bf16 1.59 → 1.84 (1.16)
 *   dense the same, batch 16, 64 channels:          f32 9.51 → 8.22 (0.86)  f16 10.5 → 16.4 (1.56)  bf16 8.82 → 9.37 (1.06)
 *   dense the same, batch 32, 128 channels:         f32 53.9 → 45.3 (0.84)  f16 59.1 → 76.6 (1.30)  bf16 53.2 → 50.3 (0.95)
 *   dense 'bixy,ioxy->boxy' (with permuted copies): f32 4.57 → 4.69 (1.03)  f16 5.24 → 6.85 (1.31)  bf16 4.74 → 4.98 (1.05)
 *   CP rank 16 'abcd,e,be,fe,ce,de->afcd' [8,32,32,9]: f32 3.42 → 3.44 (1.01) f16 3.78 → 5.41 (1.43) bf16 3.49 → 3.58 (1.03)
 *   CP rank 64, batch 16, 64 channels:              f32 21.9 → 19.3 (0.88)  f16 24.4 → 30.9 (1.26)  bf16 23.2 → 21.5 (0.93)
 * With 2 threads the ratios were f32 0.77–0.95, f16 0.91–1.37 and bf16 0.83–1.03. The 3-product form
 * saves a quarter of the GEMM flops but adds two input sums and three output subtractions. These are
 * elementwise passes, and in f16 each costs software f16↔f32 conversions, so f16 never gains.
 *
 * Error against float64. Operands are stored in the dtype and the reference uses the same stored
 * values. Figures are ‖Ĉ − C‖/‖C‖, then the real and imaginary parts separately:
 *   dense, random data:  f32 4: 1.1e-7            3: 1.6e-7 (im 2.0e-7)
 *                        f16 4: 2.5e-4            3: 5.2e-4 (im 6.7e-4)
 *                        bf16 4: 2.0e-3           3: 4.2e-3 (im 5.4e-3)
 *   dense, nearly real data (|im| = 1e-2·|re| in both operands, so the product has |im| ≪ |re|):
 *                        f32 4: im 1.1e-7         3: im 1.1e-5
 *                        f16 4: im 2.5e-4         3: im 3.0e-2
 *                        bf16 4: im 2.0e-3        3: im 2.4e-1
 *   CP rank 16, random:  f16 4: 5.6e-4 3: 1.1e-3; bf16 4: 4.6e-3 3: 8.9e-3
 *   CP, nearly real:     f16 im 5.4e-4 vs 3.4e-2; bf16 im 4.4e-3 vs 2.6e-1
 *   CP, x nearly real and factors nearly imaginary:
 *                        f16 re 5.4e-4 vs 2.4e-2; bf16 re 4.3e-3 vs 1.7e-1
 *                        (the cancellation of one step reaches the real part after a multiplication by an imaginary factor)
 * The Gauss form computes im = t3 − t1 − t2. When a product has |im| ≪ |re|, that subtraction cancels
 * and leaves an absolute error of about u·|re| on the small part, on top of the roundings of the sums
 * ar+ai and br+bi. Normwise the 3-product form is about 2× worse; componentwise it loses the small part
 * entirely in bf16. So: '4' for the half types. They are also not faster with '3' (f16 slower, bf16 even).
 * For f32 the 3-product form is 5–16% faster on the larger shapes and about even on the small ones, and
 * it stays accurate: ≤ 3e-7 normwise, and ≤ 1.2e-5 on the small part of nearly-real data. float64 (the
 * reference path) keeps '4'.
 */
const FORM_BY_DTYPE: Record<ContractDType, ProductForm> = {
  float64: '4',
  float32: '3',
  float16: '4',
  bfloat16: '4',
};

/** One operand or intermediate of a running contraction. */
interface Live {
  re: Tensor;
  im: Tensor | null;
  /** Read as its complex conjugate (the imaginary part negated): a sign in the GEMMs, never a copy. */
  conj: boolean;
  order: string;
  /** Intermediates are released once used; the caller's operands are not. */
  owned: boolean;
  /** The result's packed block [2, ...shape], of which re and im are views (absent elsewhere). */
  whole?: Tensor;
}

function releaseLive(x: Live): void {
  if (!x.owned) return;
  x.re.release();
  x.im?.release();
  x.whole?.release();
}

/** An operand of the internal entry (runContraction): parts in any dtype, optionally conjugated. */
export interface EngineOperand {
  re: Tensor;
  im: Tensor | null;
  conj?: boolean;
}

/** Checks a contractComplex operand and returns its parts. */
function toOperand(op: ComplexOperand, p: number, equation: string): EngineOperand {
  if (op instanceof Tensor) return { re: op, im: null };
  if (op === null || typeof op !== 'object' || !(op.re instanceof Tensor)) {
    throw new TypeError(`contractComplex '${equation}': operand ${p} is not a Tensor or a complex operand {re, im}`);
  }
  const im = op.im ?? null;
  if (im !== null) {
    if (!(im instanceof Tensor)) throw new TypeError(`contractComplex '${equation}': operand ${p}'s imaginary part is not a Tensor`);
    if (im.ndim !== op.re.ndim || im.shape.some((d, i) => d !== op.re.shape[i])) {
      throw new EinsumShapeError(`contractComplex '${equation}': operand ${p} has real part ${fmtShape(op.re.shape)} and imaginary part ${fmtShape(im.shape)}`);
    }
  }
  return { re: op.re, im };
}

/** A copy of x with its axes in the order `to` (parts keep their dtypes, the conjugation flag stays). */
function permuted(x: Live, to: string): Live {
  const perm = [...to].map((c) => x.order.indexOf(c));
  const be = backend();
  const copy = (t: Tensor): Tensor => {
    const out = Tensor.empty(perm.map((p) => t.shape[p]!), t.dtype, 'workspace');
    try {
      be.permute(t, perm, out);
    } catch (e) {
      out.release();
      throw e;
    }
    return out;
  };
  const re = copy(x.re);
  let im: Tensor | null = null;
  try {
    im = x.im ? copy(x.im) : null;
  } catch (e) {
    re.release();
    throw e;
  }
  return { re, im, conj: x.conj, order: to, owned: true };
}

function shapeFor(order: string, sizes: Map<string, number>): number[] {
  return [...order].map((c) => sizes.get(c)!);
}

/** Sums the indices `drop` out of x (one GEMM with a ones vector per part); result order: x's order without them. */
function sumOut(x: Live, drop: string, sizes: Map<string, number>, dtype: ContractDType): Live {
  const keep = pick(x.order, ~maskOf(drop));
  const src = x.order === keep + drop ? x : permuted(x, keep + drop);
  const nk = sizeOfOrder(keep, sizes);
  const nd = sizeOfOrder(drop, sizes);
  const ones = Tensor.full([nd, 1], 1, dtype === 'float64' ? 'float64' : 'float32', 'workspace');
  const re = Tensor.empty(shapeFor(keep, sizes), dtype, 'workspace');
  const im = src.im ? Tensor.empty(shapeFor(keep, sizes), dtype, 'workspace') : null;
  try {
    for (const [s, d] of [[src.re, re], [src.im, im]] as const) {
      if (!s || !d) continue;
      const s2 = s.reshape([nk, nd]);
      const d2 = d.reshape([nk, 1]);
      try {
        if (nd === 0) d2.data.fill(0);
        else backend().gemm(s2, ones, d2);
      } finally {
        s2.release();
        d2.release();
      }
    }
  } catch (e) {
    re.release();
    im?.release();
    throw e;
  } finally {
    ones.release();
    if (src !== x) releaseLive(src);
  }
  // the sum of conjugates is the conjugate of the sum
  return { re, im, conj: x.conj, order: keep, owned: true };
}

/** Releases every tensor in `ts` (views and temporaries of one step). */
function releaseAll(ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) if (t && !t.isReleased) t.release();
}

/**
 * Allocates the contraction's result in `order`: one packed block [2, ...shape] whose halves are the
 * parts (im null when `complex` is false: that half is zero-filled when the result is finished), or,
 * for a real-part-only result, one real tensor.
 */
function resultLive(order: string, sizes: Map<string, number>, dtype: ContractDType, role: Role, complex: boolean, realOutput: boolean): Live {
  const shape = shapeFor(order, sizes);
  if (realOutput) return { re: Tensor.empty(shape, dtype, role), im: null, conj: false, order, owned: true };
  const whole = Tensor.empty([2, ...shape], dtype, role);
  const re = whole.slice(0, 1).reshapeOwned(shape);
  const im = complex ? whole.slice(1, 2).reshapeOwned(shape) : null;
  return { re, im, conj: false, order, owned: true, whole };
}

/** What runStep writes on the last step. */
interface FinalTarget {
  order: string;
  role: Role;
  realOutput: boolean;
}

/**
 * One pairwise step: C[batch, m, n] = A[batch, m, k]·B[batch, k, n] in complex arithmetic with the
 * given form; C is allocated in `dtype` with the shape of the GEMM order (on the last step, when no
 * permute follows, the result itself).
 */
function runStep(A0: Live, B0: Live, l: StepLayout, sizes: Map<string, number>, dtype: ContractDType, form: ProductForm, final: FinalTarget | null): Live {
  const temps: Live[] = [];
  const views: Tensor[] = [];
  let C: Live | null = null;
  try {
    let A = A0;
    let B = B0;
    if (l.reduce[0]) temps.push((A = sumOut(A, l.reduce[0], sizes, dtype)));
    if (l.reduce[1]) temps.push((B = sumOut(B, l.reduce[1], sizes, dtype)));
    if (l.left === 1) [A, B] = [B, A];
    const nb = sizeOfOrder(l.batch, sizes);
    const nm = sizeOfOrder(l.m, sizes);
    const nk = sizeOfOrder(l.k, sizes);
    const nn = sizeOfOrder(l.n, sizes);
    if (l.copyA) temps.push((A = permuted(A, l.batch + l.m + l.k)));
    if (l.copyB) temps.push((B = permuted(B, l.batch + l.k + l.n)));
    const gemmOrder = l.batch + l.m + l.n;
    const complexOut = (A.im !== null || B.im !== null) && !(final?.realOutput ?? false);
    if (final !== null && !l.copyOut) {
      C = resultLive(gemmOrder, sizes, dtype, final.role, complexOut, final.realOutput);
    } else {
      const sh = shapeFor(gemmOrder, sizes);
      C = { re: Tensor.empty(sh, dtype, 'workspace'), im: null, conj: false, order: gemmOrder, owned: true };
      if (complexOut) C.im = Tensor.empty(sh, dtype, 'workspace');
    }
    const shA = l.transA ? [nb, nk, nm] : [nb, nm, nk];
    const shB = l.transB ? [nb, nn, nk] : [nb, nk, nn];
    const shC = [nb, nm, nn];
    const v = (t: Tensor, sh: number[]): Tensor => {
      const r = t.reshape(sh);
      views.push(r);
      return r;
    };
    const a: GemmFactor = { re: v(A.re, shA), im: A.im ? v(A.im, shA) : null, conj: A.conj };
    const b: GemmFactor = { re: v(B.re, shB), im: B.im ? v(B.im, shB) : null, conj: B.conj };
    const cr = v(C.re, shC);
    const ci = C.im ? v(C.im, shC) : null;
    if (nk === 0) {
      cr.data.fill(0);
      ci?.data.fill(0);
    } else {
      complexGemm(a, b, cr, ci, { transA: l.transA, transB: l.transB }, dtype, form);
    }
  } catch (e) {
    if (C) releaseLive(C);
    throw e;
  } finally {
    releaseAll(views);
    for (const t of temps) releaseLive(t);
  }
  return C;
}

/** A GEMM factor: parts shaped for the GEMM (im null: real), read conjugated when `conj`. */
interface GemmFactor {
  re: Tensor;
  im: Tensor | null;
  conj: boolean;
}

/**
 * cr + i·ci = a·b as batched GEMMs, with a = ar + i·sa·ai and b = br + i·sb·bi (s = −1 for a
 * conjugated factor; ai / bi null: a real factor). ci null: the product is real (both factors real)
 * or only its real part is wanted. Form '4': re = ar·br − sa·sb·ai·bi (the second GEMM accumulates
 * into the first), im = sb·ar·bi + sa·ai·br. Form '3' (both factors complex, both parts wanted):
 * t1 = ar·br → cr, t3 = (ar + sa·ai)·(br + sb·bi) → ci, t2 = ai·bi; ci = (t3 − t1) − s·t2,
 * cr = t1 − s·t2 with s = sa·sb. The signs are GEMM alphas or add/sub choices: exact, no copies.
 */
function complexGemm(a: GemmFactor, b: GemmFactor, cr: Tensor, ci: Tensor | null, t: { transA: boolean; transB: boolean }, dtype: ContractDType, form: ProductForm): void {
  const be = backend();
  const o = { transA: t.transA, transB: t.transB };
  const { re: ar, im: ai } = a;
  const { re: br, im: bi } = b;
  const sa = a.conj ? -1 : 1;
  const sb = b.conj ? -1 : 1;
  be.gemm(ar, br, cr, o);
  if (ai && bi) {
    if (form === '4' || !ci) {
      be.gemm(ai, bi, cr, { ...o, alpha: -sa * sb, accumulate: true });
      if (ci) {
        be.gemm(ar, bi, ci, { ...o, alpha: sb });
        be.gemm(ai, br, ci, { ...o, alpha: sa, accumulate: true });
      }
      return;
    }
    gaussGemm(a, b, cr, ci, o, dtype);
    return;
  }
  if (!ci) return;
  if (bi) be.gemm(ar, bi, ci, { ...o, alpha: sb });
  else if (ai) be.gemm(ai, br, ci, { ...o, alpha: sa });
}

/** The 3-product tail of complexGemm (t1 = ar·br is already in cr). */
function gaussGemm(a: GemmFactor, b: GemmFactor, cr: Tensor, ci: Tensor, o: { transA: boolean; transB: boolean }, dtype: ContractDType): void {
  const be = backend();
  const ai = a.im!;
  const bi = b.im!;
  const sumA = Tensor.empty(a.re.shape, dtype, 'workspace');
  const sumB = Tensor.empty(b.re.shape, dtype, 'workspace');
  let t2: Tensor | null = null;
  try {
    be.binary(a.conj ? 'sub' : 'add', a.re, ai, sumA);
    be.binary(b.conj ? 'sub' : 'add', b.re, bi, sumB);
    be.gemm(sumA, sumB, ci, o);
    sumA.release();
    sumB.release();
    t2 = Tensor.empty(cr.shape, dtype, 'workspace');
    be.gemm(ai, bi, t2, o);
    const s = a.conj === b.conj ? 'sub' : 'add';
    be.binary('sub', ci, cr, ci);
    be.binary(s, ci, t2, ci);
    be.binary(s, cr, t2, cr);
  } finally {
    releaseAll([sumA, sumB, t2]);
  }
}

function checkPlan(plan: ContractionPlan, equation: string, shapes: Shape[]): void {
  const ok = plan && plan.equation === equation && plan.shapes.length === shapes.length &&
    plan.shapes.every((s, i) => s.length === shapes[i]!.length && s.every((d, a) => d === shapes[i]![a]));
  if (!ok) {
    throw new ContractionPlanError(
      `contractComplex '${equation}': the given plan is for '${plan?.equation}' with shapes ${plan?.shapes.map(fmtShape).join(', ')}, not ${shapes.map(fmtShape).join(', ')}`,
    );
  }
}

/** Options of runContraction. */
export interface EngineOptions {
  dtype: ContractDType;
  form: ProductForm;
  /** A plan for this equation and these operand shapes (checked). */
  plan: ContractionPlan;
  /** Ledger role of the result. */
  role: Role;
  /**
   * Only the real part of the result is wanted: the last step computes it alone (2 GEMMs of a
   * complex·complex product) and the result is one real tensor [...outShape].
   */
  realOutput?: boolean;
}

/**
 * The executor behind contractComplex and the autograd op: runs `plan` over operands whose parts may
 * be of any dtype and may be read conjugated. Returns the result in o.dtype, owned by the caller:
 * packed [2, ...outShape] (index 0 the real part; zeros in the imaginary half when every operand is
 * real), or the real part [...outShape] alone with o.realOutput.
 */
export function runContraction(equation: string, operands: readonly EngineOperand[], o: EngineOptions): Tensor {
  const parsed: ParsedEinsum = parseEinsum(equation);
  const shapes = operands.map((x) => [...x.re.shape]);
  for (const [p, x] of operands.entries()) {
    if (x.re.isReleased || x.im?.isReleased) throw new Error(`contractComplex '${equation}': operand ${p} was already released`);
  }
  checkPlan(o.plan, equation, shapes);
  const sizes = indexSizes(equation, parsed, shapes);
  const realOutput = o.realOutput ?? false;
  const list: Live[] = operands.map((x, p) => ({ re: x.re, im: x.im, conj: x.conj ?? false, order: parsed.inputs[p]!, owned: false }));
  const steps = o.plan.steps;
  try {
    for (const [n, step] of steps.entries()) {
      const [i, j] = step.pair;
      const A = list[i]!;
      const B = list[j]!;
      const [ea, eb] = step.equation.split('->')[0]!.split(',');
      if (A.order !== ea || B.order !== eb) {
        throw new ContractionPlanError(`contractComplex '${equation}': step ${n + 1} of the plan expects '${ea},${eb}', the operands are '${A.order},${B.order}'`);
      }
      const final = n === steps.length - 1 ? { order: parsed.output, role: o.role, realOutput } : null;
      const C = runStep(A, B, step.layout, sizes, o.dtype, o.form, final);
      list.splice(j, 1);
      list.splice(i, 1);
      releaseLive(A);
      releaseLive(B);
      list.push(C);
    }
    let R = list[0]!;
    if (R.order !== parsed.output) {
      const perm = [...parsed.output].map((c) => R.order.indexOf(c));
      const out = resultLive(parsed.output, sizes, o.dtype, o.role, R.im !== null, realOutput);
      list.push(out);
      backend().permute(R.re, perm, out.re);
      if (R.im && out.im) backend().permute(R.im, perm, out.im);
      list.shift();
      releaseLive(R);
      R = out;
    }
    if (!R.owned || list.length !== 1) throw new Error(`contractComplex '${equation}': internal error: the result is an operand`);
    list.length = 0;
    if (!R.whole) return R.re;
    // every operand real: the imaginary half is zeros
    if (!R.im) {
      const im = R.whole.slice(1, 2);
      im.data.fill(0);
      im.release();
    }
    R.re.release();
    R.im?.release();
    return R.whole;
  } finally {
    for (const x of list) releaseLive(x);
  }
}

/**
 * Complex einsum of k ≥ 2 operands, contracted pairwise along a planned path with batched GEMMs. Each
 * intermediate and the result are stored in opts.dtype (f32 accumulation inside every GEMM); operands
 * may be complex, real (a Tensor, or {re} without im) and of any dtype. Returns a new ComplexTensor in
 * the output order (its imaginary part is zeros when every operand is real); its two parts are the
 * halves of one block (ComplexTensor.packed() views it without a copy).
 */
export function contractComplex(equation: string, operands: readonly ComplexOperand[], opts: ContractOptions): ComplexTensor {
  const dtype = opts?.dtype;
  checkContractDType(`contractComplex '${equation}'`, dtype);
  const form = resolveForm(`contractComplex '${equation}'`, opts.form, dtype);
  parseEinsum(equation);
  if (!Array.isArray(operands)) throw new TypeError(`contractComplex '${equation}': operands must be an array`);
  const ops = operands.map((op, p) => toOperand(op, p, equation));
  for (const [p, x] of ops.entries()) {
    if (x.re.isReleased || x.im?.isReleased) throw new Error(`contractComplex '${equation}': operand ${p} was already released`);
  }
  const shapes = ops.map((x) => [...x.re.shape]);
  const plan = opts.plan ?? planContraction(equation, shapes, { strategy: opts.strategy ?? 'auto', form, real: ops.map((x) => x.im === null) });
  const packed = runContraction(equation, ops, { dtype, form, plan, role: opts.role ?? 'other' });
  return ComplexTensor.fromPackedOwned(packed);
}

/** Throws a TypeError naming `what` unless dtype is one the engine computes in. */
export function checkContractDType(what: string, dtype: unknown): asserts dtype is ContractDType {
  if (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'bfloat16' && dtype !== 'float64') {
    throw new TypeError(`${what}: dtype must be 'float32', 'float16', 'bfloat16' or 'float64', got '${String(dtype)}'`);
  }
}

/** The product form of option `form` ('auto', the default, picks per dtype: chooseForm). */
export function resolveForm(what: string, form: unknown, dtype: ContractDType): ProductForm {
  const f = form ?? 'auto';
  if (f !== 'auto' && f !== '4' && f !== '3') throw new TypeError(`${what}: form must be 'auto', '4' or '3', got '${String(f)}'`);
  return f === 'auto' ? chooseForm(dtype) : f;
}

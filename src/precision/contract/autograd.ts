/**
 * The contraction engine as a differentiable op. Complex Variables are packed planar: value
 * [2, ...shape], index 0 the real part, index 1 the imaginary part (two contiguous halves), so one
 * Variable carries one complex tensor through the graph; the op reads the halves as views.
 *
 * Backward, for a real loss L and the output gradient G = ∂L/∂Re y + i·∂L/∂Im y (packed like y):
 * y = Σ Π_j A_j is multilinear, so the gradient of a complex operand is
 *   ∂L/∂Re A_k + i·∂L/∂Im A_k = einsum(G, conj(A_j) for j ≠ k → indices of A_k),
 * the convention of modeContract's dX = dY·W^H; a real operand gets the real part of that. The
 * conjugates are signs inside the GEMMs (no copies); the real part alone costs 2 GEMMs per complex
 * product on the last step. An index that only A_k has (summed out of it in the forward) does not
 * reach the gradient: it is broadcast, by a ones operand over those indices in the backward einsum.
 */
import type { DType } from '../../core/dtype.js';
import { ComplexTensor, type Shape, Tensor, fmtShape, shapeEq } from '../../core/tensor.js';
import { backend } from '../../kernels/cpu.js';
import { Variable, record, save } from '../../autograd/variable.js';
import { EinsumIndexError, EinsumShapeError, parseEinsum } from './parse.js';
import { type ContractDType, type ContractionPlan, type ContractionStrategy, type ProductForm, planContraction } from './plan.js';
import { type EngineOperand, checkContractDType, resolveForm, runContraction } from './execute.js';

export interface ContractVarOptions {
  /** Per operand: true when its value is packed complex [2, ...termShape], false when real [...termShape]. */
  complex: readonly boolean[];
  /** dtype of every intermediate and of the result, forward and backward (as contractComplex's). */
  dtype: ContractDType;
  /** Path search of the forward and the backward contractions (default 'auto'). */
  strategy?: ContractionStrategy;
  /** Complex product form: 'auto' (default) picks per dtype (chooseForm). */
  form?: 'auto' | ProductForm;
  /**
   * The forward plan (planContraction on the term shapes, i.e. without the packed axis); the
   * backward contractions are planned with `strategy` and cached.
   */
  plan?: ContractionPlan;
}

// ---------------------------------------------------------------------------------------------------
// Plan cache

/** Plans kept (least recently used dropped first): a model has a handful of distinct contractions. */
const PLAN_CACHE_SIZE = 256;
const planCache = new Map<string, ContractionPlan>();
const cacheStats = { hits: 0, misses: 0 };

function cachedPlan(equation: string, shapes: readonly Shape[], real: readonly boolean[], strategy: ContractionStrategy, form: ProductForm): ContractionPlan {
  const key = `${equation}|${shapes.map((s) => s.join('x')).join(',')}|${real.map((r) => (r ? 'r' : 'c')).join('')}|${strategy}|${form}`;
  const hit = planCache.get(key);
  if (hit) {
    cacheStats.hits++;
    planCache.delete(key);
    planCache.set(key, hit);
    return hit;
  }
  cacheStats.misses++;
  const plan = planContraction(equation, shapes, { strategy, form, real });
  planCache.set(key, plan);
  if (planCache.size > PLAN_CACHE_SIZE) planCache.delete(planCache.keys().next().value!);
  return plan;
}

/** The plan cache of `contract` (forward and backward plans): entries and lookups so far. */
export function contractPlanCacheStats(): { entries: number; hits: number; misses: number } {
  return { entries: planCache.size, ...cacheStats };
}

// ---------------------------------------------------------------------------------------------------
// The op

/** The halves of a packed complex tensor as an engine operand (views), or a real tensor as one. */
function operandOf(t: Tensor, complex: boolean, conj: boolean): { op: EngineOperand; views: ComplexTensor | null } {
  if (!complex) return { op: { re: t, im: null }, views: null };
  const c = ComplexTensor.fromPacked(t);
  return { op: { re: c.re, im: c.im, conj }, views: c };
}

function gradDType(v: Variable): DType {
  return v.dtype === 'float64' ? 'float64' : 'float32';
}

/** t in `dtype` (t itself when it already is; otherwise a converted copy, t released). */
function convertOwned(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  const out = Tensor.empty(t.shape, dtype, 'gradient');
  try {
    backend().convert(t, out);
  } finally {
    t.release();
  }
  return out;
}

/**
 * Differentiable complex einsum: contractComplex over Variables. Operand p is complex when
 * opts.complex[p] (value packed [2, ...termShape]) and real otherwise (value [...termShape]); any
 * dtype. The result is packed complex [2, ...outShape] in opts.dtype (ledger role 'activation'), equal
 * to contractComplex on the same operands (the same plan and kernels). Backward: see the module
 * comment; each operand's gradient is contracted in opts.dtype and returned in float32 (float64 for a
 * float64 operand), packed for a complex operand. Only the operands some other operand's gradient
 * reads are saved for backward.
 */
export function contract(equation: string, operands: readonly Variable[], opts: ContractVarOptions): Variable {
  const what = `contract '${equation}'`;
  checkContractDType(what, opts?.dtype);
  const dtype = opts.dtype;
  const form = resolveForm(what, opts.form, dtype);
  const strategy = opts.strategy ?? 'auto';
  const parsed = parseEinsum(equation);
  const n = parsed.inputs.length;
  if (!Array.isArray(operands) || operands.length !== n) {
    throw new EinsumIndexError(`${what}: the equation has ${n} operand${n === 1 ? '' : 's'}, got ${Array.isArray(operands) ? operands.length : 'no list of'} Variables`);
  }
  const complex = opts.complex;
  if (!Array.isArray(complex) || complex.length !== n || complex.some((c) => typeof c !== 'boolean')) {
    throw new TypeError(`${what}: opts.complex must hold one boolean per operand (${n}), got ${JSON.stringify(complex)}`);
  }
  const shapes: Shape[] = operands.map((v, p) => {
    const term = parsed.inputs[p]!;
    if (!(v instanceof Variable)) throw new TypeError(`${what}: operand ${p} ('${term}') is not a Variable`);
    if (v.isReleased) throw new Error(`${what}: operand ${p} ('${term}') was already released`);
    const sh = v.shape;
    if (complex[p]) {
      if (sh.length !== term.length + 1 || sh[0] !== 2) {
        throw new EinsumShapeError(`${what}: operand ${p} ('${term}') is complex, so its value is packed [2, ${term.length} axes], got ${fmtShape(sh)} ${v.dtype}`);
      }
      return sh.slice(1);
    }
    if (sh.length !== term.length) throw new EinsumShapeError(`${what}: operand ${p} ('${term}') is real and needs ${term.length} axes, got ${fmtShape(sh)} ${v.dtype}`);
    return sh;
  });
  const real = complex.map((c) => !c);
  const plan = opts.plan ?? cachedPlan(equation, shapes, real, strategy, form);
  const parts = operands.map((v, p) => operandOf(v.value, complex[p]!, false));
  let out: Tensor;
  try {
    out = runContraction(equation, parts.map((x) => x.op), { dtype, form, plan, role: 'activation' });
  } finally {
    for (const x of parts) x.views?.release();
  }
  // operand j is read by the gradient of every other operand: saved only when one of those is wanted
  const wants = operands.map((v) => v.requiresGrad);
  const saved = operands.map((v, j) => (wants.some((w, k) => w && k !== j) ? save(v.value) : null));
  const outShape = out.shape.slice(1);
  return record('contract', operands, out, (g, needs) => {
    const grads: (Tensor | null)[] = [];
    for (let k = 0; k < n; k++) {
      grads.push(needs[k] ? operandGrad(k, g) : null);
    }
    return grads;
  }, saved.filter((t): t is Tensor => t !== null));

  /** The gradient of operand k from the packed output gradient g. */
  function operandGrad(k: number, g: Tensor): Tensor {
    const others = operands.map((_, j) => j).filter((j) => j !== k);
    const reach = new Set(parsed.output + others.map((j) => parsed.inputs[j]!).join(''));
    const term = parsed.inputs[k]!;
    const missing = [...term].filter((c) => !reach.has(c)).join('');
    const terms = [parsed.output, ...others.map((j) => parsed.inputs[j]!)];
    const bShapes: Shape[] = [outShape, ...others.map((j) => shapes[j]!)];
    const bReal = [false, ...others.map((j) => real[j]!)];
    if (missing) {
      terms.push(missing);
      bShapes.push([...missing].map((c) => shapes[k]![term.indexOf(c)]!));
      bReal.push(true);
    }
    const eq = `${terms.join(',')}->${term}`;
    const bPlan = cachedPlan(eq, bShapes, bReal, strategy, form);
    const views: (ComplexTensor | null)[] = [];
    let ones: Tensor | null = null;
    try {
      const ops: EngineOperand[] = [];
      const push = (t: Tensor, cplx: boolean, conj: boolean): void => {
        const x = operandOf(t, cplx, conj);
        views.push(x.views);
        ops.push(x.op);
      };
      push(g, true, false);
      for (const j of others) {
        const s = saved[j];
        if (!s) throw new Error(`${what}: internal error: operand ${j} was not saved for the gradient of operand ${k}`);
        push(s, complex[j]!, true);
      }
      if (missing) {
        ones = Tensor.full(bShapes[bShapes.length - 1]!, 1, dtype, 'workspace');
        ops.push({ re: ones, im: null });
      }
      const r = runContraction(eq, ops, { dtype, form, plan: bPlan, role: 'gradient', realOutput: !complex[k] });
      return convertOwned(r, gradDType(operands[k]!));
    } finally {
      for (const v of views) v?.release();
      ones?.release();
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Packing

/** Half `part` of a packed gradient: a view of g when `view`, else a copy (so g's other half is not kept alive). */
function halfOf(g: Tensor, part: 0 | 1, view: boolean): Tensor {
  const h = g.slice(part, part + 1).reshapeOwned(g.shape.slice(1));
  if (view) return h;
  try {
    return h.clone('gradient');
  } finally {
    h.release();
  }
}

/**
 * A packed complex Variable [2, ...shape] from its real and imaginary parts (same shape and dtype;
 * one copy, ledger role 'activation'), e.g. a complex weight stored as a re/im Parameter pair.
 * Backward splits the gradient into its halves (views when both parts want one).
 */
export function packComplex(re: Variable, im: Variable): Variable {
  if (!(re instanceof Variable) || !(im instanceof Variable)) throw new TypeError('packComplex: the real and imaginary parts must be Variables');
  if (!shapeEq(re.shape, im.shape) || re.dtype !== im.dtype) {
    throw new RangeError(`packComplex: real part ${fmtShape(re.shape)} ${re.dtype} and imaginary part ${fmtShape(im.shape)} ${im.dtype} differ`);
  }
  const out = Tensor.empty([2, ...re.shape], re.dtype, 'activation');
  // raw storage copies (16-bit codes stay codes); the typed-array type is the same on all three
  const d = out.data as Float32Array;
  d.set(re.value.data as Float32Array, 0);
  d.set(im.value.data as Float32Array, re.size);
  return record('packComplex', [re, im], out, (g, needs) => {
    const both = needs[0]! && needs[1]!;
    return [needs[0] ? halfOf(g, 0, both) : null, needs[1] ? halfOf(g, 1, both) : null];
  });
}

/** One half of a packed complex Variable as a view; backward scatters the gradient into that half of zeros. */
function takePart(z: Variable, part: 0 | 1): Variable {
  const inner = z.shape.slice(1);
  const out = z.value.slice(part, part + 1).reshapeOwned(inner);
  return record(part === 0 ? 'complexParts.re' : 'complexParts.im', [z], out, (g) => {
    const gz = Tensor.empty([2, ...inner], g.dtype, 'gradient');
    const d = gz.data as Float32Array;
    const m = g.size;
    d.fill(0, (1 - part) * m, (2 - part) * m);
    d.set(g.data as Float32Array, part * m);
    return [gz];
  });
}

/**
 * The real and imaginary parts of a packed complex Variable [2, ...shape], each [...shape]: views of
 * its halves (no copies), two ops whose gradients add up in z's gradient.
 */
export function complexParts(z: Variable): { re: Variable; im: Variable } {
  if (!(z instanceof Variable)) throw new TypeError('complexParts: z must be a Variable');
  if (z.value.ndim < 1 || z.shape[0] !== 2) throw new RangeError(`complexParts: ${fmtShape(z.shape)} ${z.dtype} is not packed complex [2, ...shape]`);
  return { re: takePart(z, 0), im: takePart(z, 1) };
}

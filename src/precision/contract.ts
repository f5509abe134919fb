/**
 * Complex einsum over planar ComplexTensors, executed pairwise with batched real GEMMs, for the
 * contractions of spectral convolutions (dense 'bixy,ioxy->boxy', CP 'abcd,e,be,fe,ce,de->afcd',
 * Tucker and tensor-train chains).
 *
 * How neuralop does it in half precision (method notes §1.5): torch.einsum has no complex32, so it views
 * each operand as real, contracts the operands two at a time along opt_einsum's path and recombines
 * real and imaginary parts after every pairwise step, keeping every intermediate in fp16. Here:
 *
 * - `planContraction` finds the pairwise path (opt_einsum's 'greedy' heuristic or an exhaustive
 *   'optimal' search) and maps each pairwise step to ONE batched GEMM shape [batch, M, K]·[batch, K, N]:
 *   batch = indices in both operands and kept, K = in both and summed, M / N = in one operand only.
 *   It also picks, per step, which operand is the left factor and the order of the index groups so that
 *   as few permuted copies as possible are needed (GEMM transposes absorb a [K, M] layout).
 * - `contractComplex` runs the plan: each complex product is 4 real GEMMs (re = ar·br − ai·bi,
 *   im = ar·bi + ai·br, the second product of each part accumulating into the first) or 3 (Gauss:
 *   t1 = ar·br, t2 = ai·bi, t3 = (ar+ai)·(br+bi); re = t1 − t2, im = t3 − t1 − t2). A product with a
 *   real operand needs 2 GEMMs, real·real 1. Every value the contraction produces (each intermediate,
 *   the Gauss sums and partial products, the output) is stored in the requested dtype; inside each GEMM
 *   the accumulation is f32 (see Backend.gemm). Operands are read in their own dtype and are never
 *   rounded (their permuted copies, where needed, keep the operand's dtype).
 *
 * Cost model: a pairwise step costs `products × opt_einsum's flop count`, where opt_einsum counts
 * Π(sizes of all indices of the step) × (2 if some index is summed, else 1), and products is 1, 2, 3
 * or 4 as above. The 3-product form's input sums and output subtractions are not counted.
 */
import type { DType } from '../core/dtype.js';
import type { Role } from '../core/ledger.js';
import { ComplexTensor, type Shape, Tensor, fmtShape } from '../core/tensor.js';
import { backend } from '../kernels/cpu.js';

// ---------------------------------------------------------------------------------------------------
// Errors

/** Base class of every error the einsum parser, the planner and contractComplex raise. */
export class EinsumError extends Error {
  override name = 'EinsumError';
}

/** The equation is malformed: a character other than a–z, ',', '->' or spaces, or a stray '-'/'>'. */
export class EinsumSyntaxError extends EinsumError {
  override name = 'EinsumSyntaxError';
}

/**
 * The indices do not fit together: an output index that no input has, an index repeated in the output
 * or inside one operand (diagonals are not supported), or a different number of operands than terms.
 */
export class EinsumIndexError extends EinsumError {
  override name = 'EinsumIndexError';
}

/** The shapes do not fit the equation: wrong rank for a term, or one index with two different sizes. */
export class EinsumShapeError extends EinsumError {
  override name = 'EinsumShapeError';
}

/** The plan cannot be made: fewer than 2 operands, or 'optimal' asked for too many operands. */
export class ContractionPlanError extends EinsumError {
  override name = 'ContractionPlanError';
}

// ---------------------------------------------------------------------------------------------------
// Parsing

export interface ParsedEinsum {
  /** One index string per operand, e.g. ['bixy', 'ioxy']. */
  inputs: string[];
  /** The output indices; without '->', the indices that occur exactly once, in alphabetical order. */
  output: string;
}

/**
 * Parses an einsum equation with single lowercase letters as indices ('bixy,ioxy->boxy'). Spaces are
 * ignored. Throws EinsumSyntaxError / EinsumIndexError.
 */
export function parseEinsum(equation: string): ParsedEinsum {
  if (typeof equation !== 'string') throw new EinsumSyntaxError(`einsum: the equation must be a string, got ${typeof equation}`);
  const eq = equation.replace(/\s+/g, '');
  for (let i = 0; i < eq.length; i++) {
    const ch = eq[i]!;
    if (!/[a-z,\->]/.test(ch)) {
      throw new EinsumSyntaxError(
        `einsum '${equation}': unknown character '${ch}' (indices are single lowercase letters a–z; operands are separated by ',' and the output follows '->')`,
      );
    }
  }
  const arrow = eq.indexOf('->');
  if (arrow !== eq.lastIndexOf('->')) throw new EinsumSyntaxError(`einsum '${equation}': more than one '->'`);
  const lhs = arrow >= 0 ? eq.slice(0, arrow) : eq;
  const rhs = arrow >= 0 ? eq.slice(arrow + 2) : null;
  if (/[->]/.test(lhs) || (rhs !== null && /[->,]/.test(rhs))) {
    throw new EinsumSyntaxError(`einsum '${equation}': '-' and '>' may only appear together as '->', and the output is one term`);
  }
  const inputs = lhs.split(',');
  for (const [p, t] of inputs.entries()) {
    const seen = new Set<string>();
    for (const c of t) {
      if (seen.has(c)) {
        throw new EinsumIndexError(`einsum '${equation}': index '${c}' repeats inside operand ${p} ('${t}'); diagonals are not supported`);
      }
      seen.add(c);
    }
  }
  const counts = new Map<string, number>();
  for (const t of inputs) for (const c of t) counts.set(c, (counts.get(c) ?? 0) + 1);
  let output: string;
  if (rhs === null) {
    output = [...counts].filter(([, n]) => n === 1).map(([c]) => c).sort().join('');
  } else {
    output = rhs;
    const seen = new Set<string>();
    for (const c of output) {
      if (seen.has(c)) throw new EinsumIndexError(`einsum '${equation}': output index '${c}' repeats`);
      seen.add(c);
      if (!counts.has(c)) throw new EinsumIndexError(`einsum '${equation}': output index '${c}' is in no operand`);
    }
  }
  return { inputs, output };
}

/** Checks shapes against the parsed equation and returns the size of every index. */
function indexSizes(equation: string, p: ParsedEinsum, shapes: readonly Shape[]): Map<string, number> {
  if (!Array.isArray(shapes) || shapes.length !== p.inputs.length) {
    throw new EinsumIndexError(
      `einsum '${equation}': the equation has ${p.inputs.length} operand${p.inputs.length === 1 ? '' : 's'}, got ${Array.isArray(shapes) ? shapes.length : 'no list of'} shapes/operands`,
    );
  }
  const sizes = new Map<string, number>();
  const from = new Map<string, number>();
  for (const [o, term] of p.inputs.entries()) {
    const sh = shapes[o]!;
    if (sh.length !== term.length) {
      throw new EinsumShapeError(`einsum '${equation}': operand ${o} ('${term}') needs ${term.length} axes, got shape ${fmtShape(sh)}`);
    }
    for (let a = 0; a < term.length; a++) {
      const c = term[a]!;
      const d = sh[a]!;
      if (!Number.isInteger(d) || d < 0) throw new EinsumShapeError(`einsum '${equation}': operand ${o} has an invalid shape ${fmtShape(sh)}`);
      const prev = sizes.get(c);
      if (prev === undefined) {
        sizes.set(c, d);
        from.set(c, o);
      } else if (prev !== d) {
        throw new EinsumShapeError(
          `einsum '${equation}': index '${c}' has size ${prev} in operand ${from.get(c)} (${fmtShape(shapes[from.get(c)!]!)}) but ${d} in operand ${o} (${fmtShape(sh)})`,
        );
      }
    }
  }
  return sizes;
}

// ---------------------------------------------------------------------------------------------------
// Index sets as bit masks (a = bit 0 … z = bit 25)

function maskOf(s: string): number {
  let m = 0;
  for (const c of s) m |= 1 << (c.charCodeAt(0) - 97);
  return m;
}

/** The letters of `order` whose bit is in `mask`, in the order they appear. */
function pick(order: string, mask: number): string {
  let r = '';
  for (const c of order) if (mask & (1 << (c.charCodeAt(0) - 97))) r += c;
  return r;
}

function sizeOfMask(mask: number, bitSizes: Float64Array): number {
  let s = 1;
  for (let b = 0; mask !== 0; b++, mask >>>= 1) if (mask & 1) s *= bitSizes[b]!;
  return s;
}

function sizeOfOrder(order: string, sizes: Map<string, number>): number {
  let s = 1;
  for (const c of order) s *= sizes.get(c)!;
  return s;
}

// ---------------------------------------------------------------------------------------------------
// Planning

export type ContractionStrategy = 'greedy' | 'optimal' | 'auto';
/** '4': four real GEMMs per complex product; '3': Gauss's three-multiplication form. */
export type ProductForm = '4' | '3';

/** Largest operand count the 'optimal' search takes (a dynamic programme over subsets: 3^k splits). */
export const OPTIMAL_MAX_OPERANDS = 10;

export interface PlanOptions {
  /** 'greedy' (opt_einsum's default heuristic), 'optimal' (exhaustive), 'auto' (optimal up to OPTIMAL_MAX_OPERANDS, else greedy). Default 'auto'. */
  strategy?: ContractionStrategy;
  /** Real GEMMs per complex·complex product in the cost model (default '4'). */
  form?: ProductForm;
  /** Which operands are real (default: none); real factors make a step cheaper (2 or 1 products). */
  real?: readonly boolean[];
}

/** How one pairwise step maps onto one batched GEMM shape. Index strings list letters in memory order. */
export interface StepLayout {
  /** Which operand of the step (0: the first position of the pair, 1: the second) is the GEMM's left factor A. */
  left: 0 | 1;
  /** Indices summed out of each operand of the step before the GEMM (they occur nowhere else). */
  reduce: [string, string];
  /** Index groups: batch (in both, kept), m (only in A), k (in both, summed), n (only in B). */
  batch: string;
  m: string;
  k: string;
  n: string;
  /** A is used as stored [batch, k, m] / B as stored [batch, n, k]. */
  transA: boolean;
  transB: boolean;
  /** A / B need a permuted copy into [batch, m, k] / [batch, k, n] first. */
  copyA: boolean;
  copyB: boolean;
  /** The GEMM writes [batch, m, n]; on the last step, copyOut means it is then permuted into the output order. */
  copyOut: boolean;
}

export interface ContractionStep {
  /** Positions of the two operands in the current operand list (opt_einsum's convention: the two are removed, the result is appended). */
  pair: [number, number];
  /** The pairwise equation with every operand's index order as stored, e.g. 'ce,e->ce'. */
  equation: string;
  inputShapes: [Shape, Shape];
  outputShape: Shape;
  /** Real flops: products × opt_einsum's flop count of the step. */
  flops: number;
  /** Elements of the result (complex elements when it is complex). */
  intermediateSize: number;
  /** Real GEMMs for this step: 1 (real·real), 2 (one real operand), 3 or 4 (complex·complex, by form). */
  products: number;
  /** Whether the result is real (both operands real). */
  real: boolean;
  /** The batched GEMM [batch, m, k]·[batch, k, n]. */
  gemm: { batch: number; m: number; k: number; n: number };
  layout: StepLayout;
}

export interface ContractionPlan {
  equation: string;
  inputs: string[];
  output: string;
  shapes: Shape[];
  /** The strategy that made the path ('auto' resolved). */
  strategy: 'greedy' | 'optimal';
  form: ProductForm;
  real: boolean[];
  /** opt_einsum-style path: operand positions contracted at each step. */
  path: [number, number][];
  steps: ContractionStep[];
  totalFlops: number;
  /** Largest intermediate (the final output included), in elements. */
  largestIntermediate: number;
}

function productsOf(realA: boolean, realB: boolean, form: ProductForm): number {
  if (realA && realB) return 1;
  if (realA || realB) return 2;
  return form === '3' ? 3 : 4;
}

/** products × opt_einsum's flop count of contracting masks a and b keeping `keep`. */
function pairCost(a: number, b: number, keep: number, bitSizes: Float64Array, products: number): { flops: number; out: number; size: number } {
  const union = a | b;
  const out = union & keep;
  const inner = (union & ~keep) !== 0;
  return { flops: products * sizeOfMask(union, bitSizes) * (inner ? 2 : 1), out, size: sizeOfMask(out, bitSizes) };
}

interface Node {
  mask: number;
  real: boolean;
}

/** Indices of `nodes` except positions i and j, or'd with the output. */
function keepMask(nodes: Node[], i: number, j: number, outMask: number): number {
  let k = outMask;
  for (let p = 0; p < nodes.length; p++) if (p !== i && p !== j) k |= nodes[p]!.mask;
  return k;
}

/**
 * opt_einsum's greedy heuristic: first contract operands with identical index sets (Hadamard products),
 * then repeatedly the pair sharing an index whose result is smallest relative to its inputs
 * (size(result) − size(a) − size(b); ties: fewer flops, then the earliest pair); when no pair shares an
 * index, outer products of the smallest operands.
 */
function greedyPath(masks: number[], real: boolean[], outMask: number, bitSizes: Float64Array, form: ProductForm): [number, number][] {
  const nodes: Node[] = masks.map((mask, i) => ({ mask, real: real[i]! }));
  const path: [number, number][] = [];
  const contract = (i: number, j: number): void => {
    const keep = keepMask(nodes, i, j, outMask);
    const r: Node = { mask: (nodes[i]!.mask | nodes[j]!.mask) & keep, real: nodes[i]!.real && nodes[j]!.real };
    nodes.splice(j, 1);
    nodes.splice(i, 1);
    nodes.push(r);
    path.push([i, j]);
  };
  // Hadamard products of operands with the same index set
  for (;;) {
    let found: [number, number] | null = null;
    for (let i = 0; i < nodes.length && !found; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        if (nodes[i]!.mask === nodes[j]!.mask) {
          found = [i, j];
          break;
        }
      }
    }
    if (!found || nodes.length < 2) break;
    contract(found[0], found[1]);
  }
  while (nodes.length > 1) {
    let best: { i: number; j: number; cost: number; flops: number } | null = null;
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const a = nodes[i]!;
        const b = nodes[j]!;
        if ((a.mask & b.mask) === 0) continue;
        const keep = keepMask(nodes, i, j, outMask);
        const c = pairCost(a.mask, b.mask, keep, bitSizes, productsOf(a.real, b.real, form));
        const cost = c.size - sizeOfMask(a.mask, bitSizes) - sizeOfMask(b.mask, bitSizes);
        if (!best || cost < best.cost || (cost === best.cost && c.flops < best.flops)) best = { i, j, cost, flops: c.flops };
      }
    }
    if (!best) {
      // no shared indices left: outer products, smallest operands first
      let bi = 0;
      let bj = 1;
      let bs = Infinity;
      for (let i = 0; i < nodes.length; i++) {
        for (let j = i + 1; j < nodes.length; j++) {
          const s = sizeOfMask(nodes[i]!.mask, bitSizes) * sizeOfMask(nodes[j]!.mask, bitSizes);
          if (s < bs) {
            bs = s;
            bi = i;
            bj = j;
          }
        }
      }
      contract(bi, bj);
    } else {
      contract(best.i, best.j);
    }
  }
  return path;
}

/**
 * Exhaustive search for the path of least total flops (ties: the smaller largest intermediate). The
 * result of contracting a subset of operands does not depend on the order inside it, so a dynamic
 * programme over subsets (every split of every subset, 3^k in all) covers every pairwise order.
 */
function optimalPath(masks: number[], real: boolean[], outMask: number, bitSizes: Float64Array, form: ProductForm): [number, number][] {
  const k = masks.length;
  const full = (1 << k) - 1;
  const idx = new Int32Array(1 << k);
  for (let s = 1; s <= full; s++) {
    const low = s & -s;
    idx[s] = idx[s ^ low]! | masks[31 - Math.clz32(low)]!;
  }
  const allReal = (s: number): boolean => {
    for (let i = 0; i < k; i++) if (s & (1 << i) && !real[i]) return false;
    return true;
  };
  // indices of the contracted subset s: those it has that the output or the other operands need
  // (a single operand keeps all its indices: one that occurs nowhere else is summed in its first step)
  const resMask = (s: number): number => ((s & (s - 1)) === 0 ? idx[s]! : idx[s]! & (outMask | idx[full & ~s]!));
  const cost = new Float64Array(1 << k).fill(Infinity);
  const peak = new Float64Array(1 << k);
  const split = new Int32Array(1 << k);
  for (let i = 0; i < k; i++) {
    cost[1 << i] = 0;
    peak[1 << i] = 0;
  }
  // subsets in order of increasing popcount are not needed: every proper subset of s is < s
  for (let s = 1; s <= full; s++) {
    if ((s & (s - 1)) === 0) continue;
    const low = s & -s;
    const rs = resMask(s);
    const size = sizeOfMask(rs, bitSizes);
    // enumerate proper non-empty subsets a of s containing the lowest bit (each split once)
    for (let a = (s - 1) & s; a > 0; a = (a - 1) & s) {
      if (!(a & low)) continue;
      const b = s ^ a;
      const ra = resMask(a);
      const rb = resMask(b);
      const f = (productsOf(allReal(a), allReal(b), form) * sizeOfMask(ra | rb, bitSizes) * ((ra | rb) & ~rs ? 2 : 1));
      const c = cost[a]! + cost[b]! + f;
      const p = Math.max(peak[a]!, peak[b]!, size);
      if (c < cost[s]! || (c === cost[s]! && p < peak[s]!)) {
        cost[s] = c;
        peak[s] = p;
        split[s] = a;
      }
    }
  }
  // post-order walk of the split tree, then SSA ids → positions (removed pair, result appended)
  const order: [number, number, number][] = []; // [subset a, subset b, subset s]
  const walk = (s: number): void => {
    if ((s & (s - 1)) === 0) return;
    const a = split[s]!;
    walk(a);
    walk(s ^ a);
    order.push([a, s ^ a, s]);
  };
  walk(full);
  const live: number[] = masks.map((_, i) => 1 << i);
  const path: [number, number][] = [];
  for (const [a, b, s] of order) {
    const pa = live.indexOf(a);
    const pb = live.indexOf(b);
    const i = Math.min(pa, pb);
    const j = Math.max(pa, pb);
    live.splice(j, 1);
    live.splice(i, 1);
    live.push(s);
    path.push([i, j]);
  }
  return path;
}

interface LayoutChoice {
  layout: StepLayout;
  /** Order of the GEMM result [batch, m, n] (before a final copyOut). */
  gemmOrder: string;
}

/**
 * Chooses the GEMM mapping of one step: which operand is the left factor and the order inside each
 * index group, minimising the elements copied (permuted operand copies, and on the last step the copy
 * into the output order). Ties: the first operand on the left, orders taken from the operands.
 */
function chooseLayout(ordA: string, ordB: string, keep: number, finalOut: string | null, sizes: Map<string, number>, realA: boolean, realB: boolean): LayoutChoice {
  const mA = maskOf(ordA);
  const mB = maskOf(ordB);
  const redA = pick(ordA, mA & ~mB & ~keep);
  const redB = pick(ordB, mB & ~mA & ~keep);
  const a1 = pick(ordA, mA & (mB | keep));
  const b1 = pick(ordB, mB & (mA | keep));
  const m1 = maskOf(a1);
  const n1 = maskOf(b1);
  const btM = m1 & n1 & keep;
  const kM = m1 & n1 & ~keep;
  const mM = m1 & ~n1;
  const nM = n1 & ~m1;
  const uniq = (xs: string[]): string[] => [...new Set(xs)];
  const bts = uniq([pick(a1, btM), pick(b1, btM), ...(finalOut !== null ? [pick(finalOut, btM)] : [])]);
  const ks = uniq([pick(a1, kM), pick(b1, kM)]);
  const ms = uniq([pick(a1, mM), ...(finalOut !== null ? [pick(finalOut, mM)] : [])]);
  const ns = uniq([pick(b1, nM), ...(finalOut !== null ? [pick(finalOut, nM)] : [])]);
  const partsA = realA ? 1 : 2;
  const partsB = realB ? 1 : 2;
  const partsC = realA && realB ? 1 : 2;
  let best: { cost: number; choice: LayoutChoice } | null = null;
  for (const left of [0, 1] as const) {
    const L = left === 0 ? a1 : b1;
    const R = left === 0 ? b1 : a1;
    const pL = left === 0 ? partsA : partsB;
    const pR = left === 0 ? partsB : partsA;
    for (const bt of bts) {
      for (const k of ks) {
        for (const m of ms) {
          for (const n of ns) {
            const lf = left === 0 ? m : n;
            const rf = left === 0 ? n : m;
            const plainA = L === bt + lf + k;
            const transA = !plainA && L === bt + k + lf;
            const plainB = R === bt + k + rf;
            const transB = !plainB && R === bt + rf + k;
            const copyA = !plainA && !transA;
            const copyB = !plainB && !transB;
            const gemmOrder = bt + lf + rf;
            const copyOut = finalOut !== null && gemmOrder !== finalOut;
            const cost = (copyA ? sizeOfOrder(L, sizes) * pL : 0) + (copyB ? sizeOfOrder(R, sizes) * pR : 0) + (copyOut ? sizeOfOrder(gemmOrder, sizes) * partsC : 0);
            if (!best || cost < best.cost) {
              best = {
                cost,
                choice: {
                  layout: { left, reduce: [redA, redB], batch: bt, m: lf, k, n: rf, transA, transB, copyA, copyB, copyOut },
                  gemmOrder,
                },
              };
            }
          }
        }
      }
    }
  }
  return best!.choice;
}

/**
 * Plans a contraction: the pairwise path (opt_einsum's convention) and, for every step, its equation,
 * shapes, flops (real flops of the complex products, see the module comment), result size and GEMM
 * mapping. Errors: EinsumSyntaxError, EinsumIndexError, EinsumShapeError, ContractionPlanError.
 */
export function planContraction(equation: string, shapes: readonly Shape[], opts: PlanOptions = {}): ContractionPlan {
  const parsed = parseEinsum(equation);
  const sizes = indexSizes(equation, parsed, shapes);
  const k = parsed.inputs.length;
  if (k < 2) throw new ContractionPlanError(`einsum '${equation}': a pairwise contraction needs at least 2 operands, got ${k}`);
  const form = opts.form ?? '4';
  if (form !== '4' && form !== '3') throw new ContractionPlanError(`planContraction: form must be '4' or '3', got '${String(form)}'`);
  const requested = opts.strategy ?? 'auto';
  if (requested !== 'greedy' && requested !== 'optimal' && requested !== 'auto') {
    throw new ContractionPlanError(`planContraction: strategy must be 'greedy', 'optimal' or 'auto', got '${String(requested)}'`);
  }
  if (requested === 'optimal' && k > OPTIMAL_MAX_OPERANDS) {
    throw new ContractionPlanError(
      `planContraction: 'optimal' searches at most ${OPTIMAL_MAX_OPERANDS} operands (3^k splits), got ${k}; use 'greedy' or 'auto'`,
    );
  }
  const strategy = requested === 'auto' ? (k <= OPTIMAL_MAX_OPERANDS ? 'optimal' : 'greedy') : requested;
  const real = opts.real ? [...opts.real] : new Array<boolean>(k).fill(false);
  if (real.length !== k) throw new ContractionPlanError(`planContraction: real has ${real.length} entries for ${k} operands`);
  const bitSizes = new Float64Array(26);
  for (const [c, d] of sizes) bitSizes[c.charCodeAt(0) - 97] = d;
  const masks = parsed.inputs.map(maskOf);
  const outMask = maskOf(parsed.output);
  const path = strategy === 'optimal' ? optimalPath(masks, real, outMask, bitSizes, form) : greedyPath(masks, real, outMask, bitSizes, form);

  // simulate the path with the memory orders the executor will produce
  const live: { order: string; real: boolean }[] = parsed.inputs.map((order, i) => ({ order, real: real[i]! }));
  const steps: ContractionStep[] = [];
  let totalFlops = 0;
  let largest = 0;
  for (const [i, j] of path) {
    const A = live[i]!;
    const B = live[j]!;
    live.splice(j, 1);
    live.splice(i, 1);
    let keep = outMask;
    for (const o of live) keep |= maskOf(o.order);
    const final = live.length === 0;
    const { layout, gemmOrder } = chooseLayout(A.order, B.order, keep, final ? parsed.output : null, sizes, A.real, B.real);
    const resultOrder = final ? parsed.output : gemmOrder;
    const products = productsOf(A.real, B.real, form);
    const c = pairCost(maskOf(A.order), maskOf(B.order), keep, bitSizes, products);
    const r = { order: resultOrder, real: A.real && B.real };
    live.push(r);
    const size = sizeOfOrder(resultOrder, sizes);
    totalFlops += c.flops;
    largest = Math.max(largest, size);
    const shapeOf = (o: string): number[] => [...o].map((ch) => sizes.get(ch)!);
    steps.push({
      pair: [i, j],
      equation: `${A.order},${B.order}->${resultOrder}`,
      inputShapes: [shapeOf(A.order), shapeOf(B.order)],
      outputShape: shapeOf(resultOrder),
      flops: c.flops,
      intermediateSize: size,
      products,
      real: r.real,
      gemm: { batch: sizeOfOrder(layout.batch, sizes), m: sizeOfOrder(layout.m, sizes), k: sizeOfOrder(layout.k, sizes), n: sizeOfOrder(layout.n, sizes) },
      layout,
    });
  }
  return {
    equation,
    inputs: parsed.inputs,
    output: parsed.output,
    shapes: shapes.map((s) => [...s]),
    strategy,
    form,
    real,
    path,
    steps,
    totalFlops,
    largestIntermediate: largest,
  };
}

function fmtCount(n: number): string {
  if (n < 1e4) return String(n);
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [v, u] of units) if (n >= v) return `${(n / v).toPrecision(3)}${u}`;
  return String(n);
}

/** A readable listing of the plan: path, each step's equation, GEMM shape, flops and result size. */
export function formatPlan(plan: ContractionPlan): string {
  const lines: string[] = [];
  lines.push(`contraction ${plan.equation}  (${plan.strategy} path, ${plan.form}-product complex form)`);
  lines.push(`  operands: ${plan.inputs.map((t, i) => `${t}${fmtShape(plan.shapes[i]!)}${plan.real[i] ? ' real' : ''}`).join(', ')}`);
  lines.push(`  path: ${plan.path.map(([i, j]) => `(${i}, ${j})`).join(' ')}`);
  const rows = plan.steps.map((s, n) => {
    const l = s.layout;
    const notes = [
      l.reduce[0] || l.reduce[1] ? `sum out ${[l.reduce[0], l.reduce[1]].filter(Boolean).join('/')}` : '',
      l.copyA ? 'copy A' : l.transA ? 'Aᵀ' : '',
      l.copyB ? 'copy B' : l.transB ? 'Bᵀ' : '',
      l.copyOut ? 'permute out' : '',
    ].filter(Boolean).join(', ');
    return [
      `${n + 1}`,
      `(${s.pair[0]}, ${s.pair[1]})`,
      s.equation,
      `[${s.gemm.batch}]·${s.gemm.m}x${s.gemm.k}·${s.gemm.k}x${s.gemm.n}`,
      `${s.products}`,
      fmtCount(s.flops),
      `${fmtShape(s.outputShape)} = ${fmtCount(s.intermediateSize)}`,
      notes,
    ];
  });
  const head = ['step', 'pair', 'equation', 'gemm [batch]·MxK·KxN', 'gemms', 'flops', 'result (elements)', 'notes'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmtRow = (r: string[]): string => `  ${r.map((v, c) => v.padEnd(widths[c]!)).join('  ').trimEnd()}`;
  lines.push(fmtRow(head));
  for (const r of rows) lines.push(fmtRow(r));
  lines.push(`  total flops ${fmtCount(plan.totalFlops)}, largest intermediate ${fmtCount(plan.largestIntermediate)} elements`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Strided permute

type Arr = Float64Array | Float32Array | Uint16Array;

/**
 * Copies src into dst with its axes permuted: dst axis d is src axis perm[d] (dst.shape[d] =
 * src.shape[perm[d]]). Same dtype: the stored values are copied exactly; otherwise each value is
 * rounded once into dst's dtype.
 */
export function permuteInto(src: Tensor, perm: readonly number[], dst: Tensor): void {
  const nd = src.ndim;
  if (perm.length !== nd || [...perm].sort((x, y) => x - y).some((p, i) => p !== i)) {
    throw new RangeError(`permute: [${perm.join(', ')}] is not a permutation of the ${nd} axes of ${fmtShape(src.shape)}`);
  }
  const want = perm.map((p) => src.shape[p]!);
  if (dst.ndim !== nd || want.some((d, i) => d !== dst.shape[i])) {
    throw new RangeError(`permute: dst ${fmtShape(dst.shape)} must be ${fmtShape(want)} (src ${fmtShape(src.shape)} permuted by [${perm.join(', ')}])`);
  }
  if (src.size === 0) return;
  const srcStrides = new Array<number>(nd);
  for (let a = nd - 1, s = 1; a >= 0; a--) {
    srcStrides[a] = s;
    s *= src.shape[a]!;
  }
  // dst axes with their src strides; drop size-1 axes, merge neighbours contiguous in src too
  const dims: number[] = [];
  const strides: number[] = [];
  for (let d = 0; d < nd; d++) {
    const n = want[d]!;
    const st = srcStrides[perm[d]!]!;
    if (n === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides[last] === st * n) {
      dims[last] = dims[last]! * n;
      strides[last] = st;
    } else {
      dims.push(n);
      strides.push(st);
    }
  }
  if (src.dtype === dst.dtype) {
    stridedCopy(src.data, dst.data, dims, strides);
  } else {
    const tmp = new Float64Array(src.size);
    stridedCopy(src.toFloat64(), tmp, dims, strides);
    dst.set(tmp);
  }
}

function stridedCopy(s: Arr, d: Arr, dims: number[], strides: number[]): void {
  const n = dims.length;
  if (n === 0) {
    d[0] = s[0]!;
    return;
  }
  const inner = dims[n - 1]!;
  const istr = strides[n - 1]!;
  const q = strides.indexOf(1);
  if (istr !== 1 && q >= 0 && dims[q]! >= 8 && inner >= 8) {
    tiledCopy(s, d, dims, strides, q);
    return;
  }
  const total = d.length;
  const idx = new Int32Array(n);
  let off = 0;
  const src = s as Float32Array;
  const dst = d as Float32Array;
  for (let o = 0; o < total; o += inner) {
    if (istr === 1) {
      if (inner >= 16) dst.set(src.subarray(off, off + inner), o);
      else for (let j = 0; j < inner; j++) dst[o + j] = src[off + j]!;
    } else {
      for (let j = 0, p = off; j < inner; j++, p += istr) dst[o + j] = src[p]!;
    }
    for (let a = n - 2; a >= 0; a--) {
      off += strides[a]!;
      if (++idx[a]! < dims[a]!) break;
      off -= strides[a]! * dims[a]!;
      idx[a] = 0;
    }
  }
}

/**
 * stridedCopy when the innermost dst axis is strided in src and dst axis q is contiguous in src: a
 * blocked transpose of those two axes (TILE×TILE tiles) for every index of the other axes.
 */
function tiledCopy(s: Arr, d: Arr, dims: number[], strides: number[], q: number): void {
  const TILE = 32;
  const n = dims.length;
  const dstStrides = new Array<number>(n);
  for (let a = n - 1, st = 1; a >= 0; a--) {
    dstStrides[a] = st;
    st *= dims[a]!;
  }
  const nq = dims[q]!;
  const dq = dstStrides[q]!;
  const nl = dims[n - 1]!;
  const sl = strides[n - 1]!;
  const outer = dims.map((_, a) => a).filter((a) => a !== q && a !== n - 1);
  const idx = new Int32Array(outer.length);
  let outerCount = 1;
  for (const a of outer) outerCount *= dims[a]!;
  const src = s as Float32Array;
  const dst = d as Float32Array;
  let so = 0;
  let dso = 0;
  for (let o = 0; o < outerCount; o++) {
    for (let i0 = 0; i0 < nq; i0 += TILE) {
      const i1 = Math.min(nq, i0 + TILE);
      for (let j0 = 0; j0 < nl; j0 += TILE) {
        const j1 = Math.min(nl, j0 + TILE);
        for (let i = i0; i < i1; i++) {
          const drow = dso + i * dq;
          const srow = so + i;
          for (let j = j0; j < j1; j++) dst[drow + j] = src[srow + j * sl]!;
        }
      }
    }
    for (let t = outer.length - 1; t >= 0; t--) {
      const a = outer[t]!;
      so += strides[a]!;
      dso += dstStrides[a]!;
      if (++idx[t]! < dims[a]!) break;
      so -= strides[a]! * dims[a]!;
      dso -= dstStrides[a]! * dims[a]!;
      idx[t] = 0;
    }
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

export type ContractDType = 'float32' | 'float16' | 'bfloat16' | 'float64';

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

interface Live {
  re: Tensor;
  im: Tensor | null;
  order: string;
  /** Intermediates are released once used; the caller's operands are not. */
  owned: boolean;
}

function releaseLive(x: Live): void {
  if (!x.owned) return;
  x.re.release();
  x.im?.release();
}

function toLive(op: ComplexOperand, order: string, p: number, equation: string): Live {
  if (op instanceof Tensor) return { re: op, im: null, order, owned: false };
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
  return { re: op.re, im, order, owned: false };
}

/** A copy of x with its axes in the order `to` (parts keep their dtypes). */
function permuted(x: Live, to: string): Live {
  const perm = [...to].map((c) => x.order.indexOf(c));
  const re = permute(x.re, perm);
  let im: Tensor | null = null;
  try {
    im = x.im ? permute(x.im, perm) : null;
  } catch (e) {
    re.release();
    throw e;
  }
  return { re, im, order: to, owned: true };
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
  return { re, im, order: keep, owned: true };
}

/** Releases every tensor in `ts` (views and temporaries of one step). */
function releaseAll(ts: (Tensor | null | undefined)[]): void {
  for (const t of ts) if (t && !t.isReleased) t.release();
}

/**
 * One pairwise step: C[batch, m, n] = A[batch, m, k]·B[batch, k, n] in complex arithmetic with the
 * given form; C is allocated in `dtype` with the shape of `gemmOrder`.
 */
function runStep(A0: Live, B0: Live, l: StepLayout, sizes: Map<string, number>, dtype: ContractDType, form: ProductForm, outRole: Role, finalOrder: string | null): Live {
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
    const direct = finalOrder !== null && !l.copyOut;
    const role: Role = direct ? outRole : 'workspace';
    const complexOut = A.im !== null || B.im !== null;
    const cre = Tensor.empty(shapeFor(gemmOrder, sizes), dtype, role);
    C = { re: cre, im: null, order: gemmOrder, owned: true };
    if (complexOut) C.im = Tensor.empty(shapeFor(gemmOrder, sizes), dtype, role);
    const shA = l.transA ? [nb, nk, nm] : [nb, nm, nk];
    const shB = l.transB ? [nb, nn, nk] : [nb, nk, nn];
    const shC = [nb, nm, nn];
    const v = (t: Tensor, sh: number[]): Tensor => {
      const r = t.reshape(sh);
      views.push(r);
      return r;
    };
    const ar = v(A.re, shA);
    const ai = A.im ? v(A.im, shA) : null;
    const br = v(B.re, shB);
    const bi = B.im ? v(B.im, shB) : null;
    const cr = v(C.re, shC);
    const ci = C.im ? v(C.im, shC) : null;
    if (nk === 0) {
      cr.data.fill(0);
      ci?.data.fill(0);
    } else {
      complexGemm(ar, ai, br, bi, cr, ci, { transA: l.transA, transB: l.transB }, dtype, form);
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

/**
 * cr + i·ci = (ar + i·ai)·(br + i·bi) as batched GEMMs (ai / bi null: a real factor, ci null: both
 * real). Form '4': re = ar·br − ai·bi (second GEMM accumulates into the first), im = ar·bi + ai·br.
 * Form '3': t1 = ar·br → cr, t3 = (ar+ai)·(br+bi) → ci, t2 = ai·bi; ci = (t3 − t1) − t2, cr = t1 − t2.
 */
function complexGemm(ar: Tensor, ai: Tensor | null, br: Tensor, bi: Tensor | null, cr: Tensor, ci: Tensor | null, t: { transA: boolean; transB: boolean }, dtype: ContractDType, form: ProductForm): void {
  const be = backend();
  const o = { transA: t.transA, transB: t.transB };
  if (!ai && !bi) {
    be.gemm(ar, br, cr, o);
    return;
  }
  if (!ci) throw new Error('contractComplex: internal error: complex product without an imaginary output');
  if (!ai) {
    be.gemm(ar, br, cr, o);
    be.gemm(ar, bi!, ci, o);
    return;
  }
  if (!bi) {
    be.gemm(ar, br, cr, o);
    be.gemm(ai, br, ci, o);
    return;
  }
  if (form === '4') {
    be.gemm(ar, br, cr, o);
    be.gemm(ai, bi, cr, { ...o, alpha: -1, accumulate: true });
    be.gemm(ar, bi, ci, o);
    be.gemm(ai, br, ci, { ...o, accumulate: true });
    return;
  }
  const sa = Tensor.empty(ar.shape, dtype, 'workspace');
  const sb = Tensor.empty(br.shape, dtype, 'workspace');
  let t2: Tensor | null = null;
  try {
    be.binary('add', ar, ai, sa);
    be.binary('add', br, bi, sb);
    be.gemm(ar, br, cr, o);
    be.gemm(sa, sb, ci, o);
    sa.release();
    sb.release();
    t2 = Tensor.empty(cr.shape, dtype, 'workspace');
    be.gemm(ai, bi, t2, o);
    be.binary('sub', ci, cr, ci);
    be.binary('sub', ci, t2, ci);
    be.binary('sub', cr, t2, cr);
  } finally {
    releaseAll([sa, sb, t2]);
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

/**
 * Complex einsum of k ≥ 2 operands, contracted pairwise along a planned path with batched GEMMs. Each
 * intermediate and the result are stored in opts.dtype (f32 accumulation inside every GEMM); operands
 * may be complex, real (a Tensor, or {re} without im) and of any dtype. Returns a new ComplexTensor in
 * the output order (its imaginary part is zeros when every operand is real).
 */
export function contractComplex(equation: string, operands: readonly ComplexOperand[], opts: ContractOptions): ComplexTensor {
  const dtype = opts?.dtype;
  if (dtype !== 'float32' && dtype !== 'float16' && dtype !== 'bfloat16' && dtype !== 'float64') {
    throw new TypeError(`contractComplex '${equation}': dtype must be 'float32', 'float16', 'bfloat16' or 'float64', got '${String(dtype)}'`);
  }
  const formOpt = opts.form ?? 'auto';
  if (formOpt !== 'auto' && formOpt !== '4' && formOpt !== '3') {
    throw new TypeError(`contractComplex '${equation}': form must be 'auto', '4' or '3', got '${String(formOpt)}'`);
  }
  const form: ProductForm = formOpt === 'auto' ? chooseForm(dtype) : formOpt;
  const parsed = parseEinsum(equation);
  if (!Array.isArray(operands)) throw new TypeError(`contractComplex '${equation}': operands must be an array`);
  const lives = operands.map((op, p) => toLive(op, parsed.inputs[p] ?? '', p, equation));
  const shapes = lives.map((x) => [...x.re.shape]);
  for (const x of lives) if (x.re.isReleased || x.im?.isReleased) throw new Error(`contractComplex '${equation}': an operand was already released`);
  const real = lives.map((x) => x.im === null);
  let plan: ContractionPlan;
  if (opts.plan) {
    checkPlan(opts.plan, equation, shapes);
    plan = opts.plan;
  } else {
    plan = planContraction(equation, shapes, { strategy: opts.strategy ?? 'auto', form, real });
  }
  const sizes = indexSizes(equation, parsed, shapes);
  const role = opts.role ?? 'other';
  const list: Live[] = [...lives];
  try {
    for (const [n, step] of plan.steps.entries()) {
      const [i, j] = step.pair;
      const A = list[i]!;
      const B = list[j]!;
      const [ea, eb] = step.equation.split('->')[0]!.split(',');
      if (A.order !== ea || B.order !== eb) {
        throw new ContractionPlanError(`contractComplex '${equation}': step ${n + 1} of the plan expects '${ea},${eb}', the operands are '${A.order},${B.order}'`);
      }
      const final = n === plan.steps.length - 1;
      const C = runStep(A, B, step.layout, sizes, dtype, form, role, final ? parsed.output : null);
      list.splice(j, 1);
      list.splice(i, 1);
      releaseLive(A);
      releaseLive(B);
      list.push(C);
    }
    let R = list[0]!;
    if (R.order !== parsed.output) {
      const perm = [...parsed.output].map((c) => R.order.indexOf(c));
      const re = permute(R.re, perm, dtype, role);
      let im: Tensor | null = null;
      try {
        im = R.im ? permute(R.im, perm, dtype, role) : null;
      } catch (e) {
        re.release();
        throw e;
      }
      releaseLive(R);
      list[0] = R = { re, im, order: parsed.output, owned: true };
    }
    if (!R.owned) throw new Error(`contractComplex '${equation}': internal error: the result is an operand`);
    const im = R.im ?? Tensor.zeros(R.re.shape, dtype, role);
    list.length = 0;
    return new ComplexTensor(R.re, im);
  } finally {
    for (const x of list) releaseLive(x);
  }
}

/**
 * The pairwise path planner (opt_einsum style) and the GEMM mapping of every step; see index.ts for
 * the cost model.
 */
import { type DType, itemSize } from '../../core/dtype.js';
import { type Shape, fmtShape } from '../../core/tensor.js';
import { ContractionPlanError, indexSizes, maskOf, parseEinsum, pick, sizeOfMask, sizeOfOrder } from './parse.js';

/** The dtypes the engine stores intermediates and results in. */
export type ContractDType = DType;

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

export function productsOf(realA: boolean, realB: boolean, form: ProductForm): number {
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

/** Bytes of a step's result stored in `dtype` (a complex result counts both parts). */
export function stepBytes(step: ContractionStep, dtype: ContractDType): number {
  return step.intermediateSize * (step.real ? 1 : 2) * itemSize(dtype);
}

/** The step whose result is the largest in bytes stored in `dtype`, and those bytes (the plan's peak intermediate). */
export function peakIntermediate(plan: ContractionPlan, dtype: ContractDType): { step: number; elements: number; bytes: number; real: boolean } {
  let best = { step: 0, elements: 0, bytes: 0, real: true };
  for (const [n, s] of plan.steps.entries()) {
    const bytes = stepBytes(s, dtype);
    if (n === 0 || bytes > best.bytes) best = { step: n, elements: s.intermediateSize, bytes, real: s.real };
  }
  return best;
}

/**
 * A readable listing of the plan: the path, each step's equation, GEMM shape [batch]·M×K·K×N, real
 * GEMMs, flops, result size in elements and in bytes stored in `dtype` (default float32, as the
 * executor stores intermediates in the requested dtype), and the peak intermediate.
 */
export function formatPlan(plan: ContractionPlan, dtype: ContractDType = 'float32'): string {
  const lines: string[] = [];
  lines.push(`contraction ${plan.equation}  (${plan.strategy} path, ${plan.form}-product complex form, intermediates in ${dtype})`);
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
      `${fmtShape(s.outputShape)} = ${fmtCount(s.intermediateSize)}${s.real ? ' real' : ''}`,
      fmtBytes(stepBytes(s, dtype)),
      notes,
    ];
  });
  const head = ['step', 'pair', 'equation', 'gemm [batch]·MxK·KxN', 'gemms', 'flops', 'result (elements)', 'bytes', 'notes'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmtRow = (r: string[]): string => `  ${r.map((v, c) => v.padEnd(widths[c]!)).join('  ').trimEnd()}`;
  lines.push(fmtRow(head));
  for (const r of rows) lines.push(fmtRow(r));
  const peak = peakIntermediate(plan, dtype);
  lines.push(
    `  total flops ${fmtCount(plan.totalFlops)}, largest intermediate ${fmtCount(plan.largestIntermediate)} elements;` +
      ` peak intermediate step ${peak.step + 1}: ${fmtCount(peak.elements)} ${peak.real ? 'real' : 'complex'} elements = ${fmtBytes(peak.bytes)} in ${dtype}`,
  );
  return lines.join('\n');
}

/** Bytes with a binary unit (B, KiB, MiB, GiB). */
export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toPrecision(3)} ${units[u]}`;
}

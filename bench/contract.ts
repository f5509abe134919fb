import { parseDType } from '../src/core/dtype.js';
import { Rng } from '../src/core/rng.js';
import { ComplexTensor, type Shape, Tensor } from '../src/core/tensor.js';
import { backend } from '../src/kernels/cpu.js';
import { pool } from '../src/kernels/pool.js';
import {
  type ContractDType, type ContractionPlan, type ProductForm, contractComplex, parseEinsum, peakIntermediate, planContraction,
} from '../src/precision/contract/index.js';
import { runContraction } from '../src/precision/contract/execute.js';
import { fmtBytes } from '../src/precision/contract/plan.js';
import { type BenchRow, type SuiteOptions, measure } from './harness.js';

/**
 * Complex contractions of 2-D spectral convolutions: batch 8, 32 → 32 channels, 32×9 kept modes
 * (16 on each side of the first axis, 9 rfft bins), CP rank 16. 'dense' is neuralop's layout (the
 * operands and the result need permuted copies), 'dense mode-major' the layout mpno's spectralConv
 * stores ([modes, batch, in]·[modes, in, out], no copies).
 */
export interface ContractCase {
  name: string;
  equation: string;
  shapes: Shape[];
}

export const CONTRACT_CASES: ContractCase[] = [
  { name: 'dense', equation: 'bixy,ioxy->boxy', shapes: [[8, 32, 32, 9], [32, 32, 32, 9]] },
  { name: 'dense mode-major', equation: 'xbi,xio->xbo', shapes: [[288, 8, 32], [288, 32, 32]] },
  { name: 'cp r16', equation: 'abcd,e,be,fe,ce,de->afcd', shapes: [[8, 32, 32, 9], [16], [32, 16], [32, 16], [32, 16], [9, 16]] },
];

const QUICK_CASES: ContractCase[] = [
  { name: 'dense', equation: 'bixy,ioxy->boxy', shapes: [[2, 4, 4, 3], [4, 4, 4, 3]] },
  { name: 'cp r4', equation: 'abcd,e,be,fe,ce,de->afcd', shapes: [[2, 4, 4, 3], [4], [4, 4], [4, 4], [4, 4], [3, 4]] },
];

const FORMS: ProductForm[] = ['4', '3'];

/**
 * The naive baseline: neuralop's half einsum without the pairwise path. Every complex operand is
 * viewed as real with a trailing axis of 2 (a letter of its own), the whole contraction is one real
 * einsum whose output keeps all those axes ([2, …, 2, ...out]: 2^c real results for c complex
 * operands), and the real and imaginary parts are recombined at the end: the product that takes the
 * imaginary part of the operands in S carries i^|S|, so re = Σ_{|S| even} (−1)^{|S|/2}·row_S and
 * im = Σ_{|S| odd} (−1)^{(|S|−1)/2}·row_S. The one einsum runs on this engine with all operands real
 * (its best pairwise path for that einsum), so its largest intermediate is a lower bound of what
 * any evaluation of it holds.
 */
export interface NaiveEinsum {
  /** The real-view equation, the part letters first in the output. */
  equation: string;
  /** Shapes of the real views (complex operands with a trailing 2). */
  shapes: Shape[];
  /** Number of complex operands (the output has 2^complex real rows). */
  complex: number;
  plan: ContractionPlan;
}

export function naiveEinsum(equation: string, shapes: readonly Shape[], complex: readonly boolean[]): NaiveEinsum {
  const { inputs, output } = parseEinsum(equation);
  const free = [...'abcdefghijklmnopqrstuvwxyz'].filter((c) => !inputs.join('').includes(c));
  const c = complex.filter(Boolean).length;
  if (free.length < c) throw new RangeError(`bench contract: '${equation}' leaves ${free.length} free letters for ${c} complex operands`);
  let k = 0;
  const parts: string[] = [];
  const terms = inputs.map((t, p) => {
    if (!complex[p]) return t;
    parts.push(free[k++]!);
    return t + parts[parts.length - 1]!;
  });
  const eq = `${terms.join(',')}->${parts.join('')}${output}`;
  const views = shapes.map((sh, p) => (complex[p] ? [...sh, 2] : [...sh]));
  return { equation: eq, shapes: views, complex: c, plan: planContraction(eq, views, { real: views.map(() => true) }) };
}

/** Interleaved real views [..., 2] of the operands (a permuted copy of each packed operand). */
export function realViews(ops: ComplexTensor[], dtype: ContractDType): Tensor[] {
  return ops.map((o) => {
    const packed = o.packed('data');
    const nd = o.shape.length;
    const view = Tensor.empty([...o.shape, 2], dtype, 'data');
    backend().permute(packed, [...Array.from({ length: nd }, (_, a) => a + 1), 0], view);
    packed.release();
    return view;
  });
}

/** Runs the naive baseline: the one real einsum, then the recombination of the 2^c rows (axpy in the dtype). */
export function runNaive(n: NaiveEinsum, views: Tensor[], dtype: ContractDType): ComplexTensor {
  const rows = runContraction(n.equation, views.map((v) => ({ re: v, im: null })), { dtype, form: '4', plan: n.plan, role: 'workspace', realOutput: true });
  const R = 2 ** n.complex;
  const outShape = rows.shape.slice(n.complex);
  const flat = rows.reshapeOwned([R, rows.size / R]);
  const out = ComplexTensor.zeros(outShape, dtype, 'workspace');
  const re = out.re.reshape([flat.shape[1]!]);
  const im = out.im.reshape([flat.shape[1]!]);
  const be = backend();
  for (let r = 0; r < R; r++) {
    let bits = 0;
    for (let v = r; v; v >>= 1) bits += v & 1;
    const row = flat.slice(r, r + 1).reshapeOwned([flat.shape[1]!]);
    // i^bits: 1, i, −1, −i
    be.axpy(bits % 4 < 2 ? 1 : -1, row, bits % 2 === 0 ? re : im);
    row.release();
  }
  for (const t of [flat, re, im]) t.release();
  return out;
}

/**
 * bench contract: contractComplex on the cases above in each dtype (operands stored in that dtype,
 * every intermediate too, f32 accumulation) with the 4- and the 3-product complex form, and the naive
 * baseline (naiveEinsum) on the same operands. gflops counts the plan's real flops of the form
 * measured (so the 3-form row reports 3/4 of the 4-form's work; the naive row its one real einsum).
 * Every row reports its largest intermediate (elements and bytes in the dtype); the naive row also the
 * blow-up, its largest intermediate over the planned path's.
 */
export function benchContract(opts: SuiteOptions): BenchRow[] {
  const rows: BenchRow[] = [];
  const rng = new Rng(0);
  const prevThreads = pool.threads;
  try {
    for (const c of opts.quick ? QUICK_CASES : CONTRACT_CASES) {
      for (const dname of opts.dtypes) {
        const dtype = parseDType(dname);
        if (dtype === 'float64') throw new RangeError('bench contract: float64 has no wasm kernel');
        const dt: ContractDType = dtype;
        const ops = c.shapes.map((sh) => {
          const re = rng.fillNormal(Tensor.empty(sh, dt, 'data'));
          const im = rng.fillNormal(Tensor.empty(sh, dt, 'data'));
          return new ComplexTensor(re, im);
        });
        let plannedBytes = 0;
        for (const form of FORMS) {
          const plan = planContraction(c.equation, c.shapes, { form });
          const peak = peakIntermediate(plan, dt);
          if (form === '4') plannedBytes = peak.bytes;
          for (const t of opts.threads) {
            pool.setThreads(t);
            const r = measure(() => contractComplex(c.equation, ops, { dtype: dt, form, plan, role: 'workspace' }).release(), opts);
            const row: BenchRow = {
              suite: 'contract', name: `${c.name} ${form}-prod`, shape: c.equation, dtype: dt, threads: t,
              ...r, gflops: plan.totalFlops / (r.median_ms * 1e6),
              form, steps: plan.steps.length, flops: plan.totalFlops,
              largest_intermediate: peak.elements * (peak.real ? 1 : 2), largest_intermediate_bytes: peak.bytes, interm: fmtBytes(peak.bytes),
            };
            rows.push(row);
            opts.onRow(row);
          }
        }
        // the naive baseline on the same operands
        const naive = naiveEinsum(c.equation, c.shapes, c.shapes.map(() => true));
        const npeak = peakIntermediate(naive.plan, dt);
        const views = realViews(ops, dt);
        for (const t of opts.threads) {
          pool.setThreads(t);
          const r = measure(() => runNaive(naive, views, dt).release(), opts);
          const row: BenchRow = {
            suite: 'contract', name: `${c.name} naive 1-einsum`, shape: naive.equation, dtype: dt, threads: t,
            ...r, gflops: naive.plan.totalFlops / (r.median_ms * 1e6),
            form: 'real view', steps: naive.plan.steps.length, flops: naive.plan.totalFlops,
            largest_intermediate: npeak.elements, largest_intermediate_bytes: npeak.bytes, blowup: npeak.bytes / plannedBytes,
            interm: `${fmtBytes(npeak.bytes)} x${(npeak.bytes / plannedBytes).toPrecision(3)}`,
          };
          rows.push(row);
          opts.onRow(row);
        }
        for (const v of views) v.release();
        for (const o of ops) o.release();
      }
    }
  } finally {
    pool.setThreads(prevThreads);
  }
  return rows;
}

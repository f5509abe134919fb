import { parseDType } from '../src/core/dtype.js';
import { Rng } from '../src/core/rng.js';
import { ComplexTensor, type Shape, Tensor } from '../src/core/tensor.js';
import { pool } from '../src/kernels/pool.js';
import { type ContractDType, type ProductForm, contractComplex, planContraction } from '../src/precision/contract.js';
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
 * bench contract: contractComplex on the cases above in each dtype (operands stored in that dtype,
 * every intermediate too, f32 accumulation) with the 4- and the 3-product complex form. gflops counts
 * the plan's real flops of the form measured (so the 3-form row reports 3/4 of the 4-form's work).
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
        for (const form of FORMS) {
          const plan = planContraction(c.equation, c.shapes, { form });
          for (const t of opts.threads) {
            pool.setThreads(t);
            const r = measure(() => contractComplex(c.equation, ops, { dtype: dt, form, plan, role: 'workspace' }).release(), opts);
            const row: BenchRow = {
              suite: 'contract', name: `${c.name} ${form}-prod`, shape: c.equation, dtype: dt, threads: t,
              ...r, gflops: plan.totalFlops / (r.median_ms * 1e6),
              form, steps: plan.steps.length, flops: plan.totalFlops,
            };
            rows.push(row);
            opts.onRow(row);
          }
        }
        for (const o of ops) o.release();
      }
    }
  } finally {
    pool.setThreads(prevThreads);
  }
  return rows;
}

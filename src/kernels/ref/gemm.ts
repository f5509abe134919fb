import type { Tensor } from '../../core/tensor.js';
import type { GemmOptions } from '../backend.js';
import { planGemm } from '../gemm-plan.js';

/** Reference GEMM: decodes every operand to float64, computes in float64, rounds once into C's dtype. */
export function refGemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
  const p = planGemm(a, b, c, opts);
  const A = a.toFloat64();
  const B = b.toFloat64();
  const C = c.toFloat64();
  const bias = p.bias?.toFloat64();
  for (let bi = 0; bi < p.batch; bi++) {
    const oa = bi * p.strideA;
    const ob = bi * p.strideB;
    const oc = bi * p.strideC;
    for (let i = 0; i < p.m; i++) {
      for (let j = 0; j < p.n; j++) {
        let s = 0;
        for (let q = 0; q < p.k; q++) s += A[oa + i * p.rsA + q * p.csA]! * B[ob + q * p.rsB + j * p.csB]!;
        const idx = oc + i * p.ldc + j;
        C[idx] = p.alpha * s + (p.beta !== 0 ? p.beta * C[idx]! : 0) + (bias ? bias[i]! : 0);
      }
    }
  }
  c.set(C);
}

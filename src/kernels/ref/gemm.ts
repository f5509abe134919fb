import { Tensor } from '../../core/tensor.js';
import type { ComplexGemmOptions, ComplexPair, GemmOptions } from '../backend.js';
import { planComplexGemm, planGemm } from '../gemm-plan.js';
import { geluErf, geluErfGrad, geluTanh, geluTanhGrad } from './elementwise.js';

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
    // summed over the batch: C's old value and the bias enter once, with the first item
    const first = !p.sumBatch || bi === 0;
    const beta = first ? p.beta : 1;
    const bb = first ? bias : undefined;
    for (let i = 0; i < p.m; i++) {
      for (let j = 0; j < p.n; j++) {
        let s = 0;
        for (let q = 0; q < p.k; q++) s += A[oa + i * p.rsA + q * p.csA]! * B[ob + q * p.rsB + j * p.csB]!;
        const idx = oc + i * p.ldc + j;
        C[idx] = p.alpha * s + (beta !== 0 ? beta * C[idx]! : 0) + (bb ? bb[i]! : 0);
      }
    }
  }
  if (p.residual) {
    const R = p.residual.toFloat64();
    for (let i = 0; i < C.length; i++) C[i] = C[i]! + R[i]!;
  }
  // fused activation: on the float64 sums, each output rounded once
  if (p.act !== 0) {
    if (p.activationGrad) {
      const d = p.act === 1 ? geluErfGrad : geluTanhGrad;
      p.activationGrad.set(C.map(d));
    }
    const f = p.act === 1 ? geluErf : geluTanh;
    for (let i = 0; i < C.length; i++) C[i] = f(C[i]!);
  }
  if (p.multiply) {
    const M = p.multiply.toFloat64();
    for (let i = 0; i < C.length; i++) C[i] = C[i]! * M[i]!;
  }
  c.set(C);
}

/** Reference complex GEMM: four float64 real products (conjugation by sign), rounded once into C. */
export function refComplexGemm(a: ComplexPair, b: ComplexPair, c: ComplexPair, opts: ComplexGemmOptions = {}): void {
  planComplexGemm(a, b, c, opts);
  const g: GemmOptions = { ...(opts.transA ? { transA: true } : {}), ...(opts.transB ? { transB: true } : {}) };
  const f64 = (t: Tensor) => Tensor.fromArray(t.toFloat64(), t.shape, 'float64', 'workspace');
  const [ar, ai, br, bi] = [a.re, a.im, b.re, b.im].map(f64) as [Tensor, Tensor, Tensor, Tensor];
  const cr = f64(c.re);
  const ci = f64(c.im);
  const sA = opts.conjA ? -1 : 1;
  const sB = opts.conjB ? -1 : 1;
  const acc = opts.accumulate === true;
  try {
    refGemm(ar, br, cr, { ...g, accumulate: acc });
    refGemm(ai, bi, cr, { ...g, alpha: -sA * sB, accumulate: true });
    refGemm(ar, bi, ci, { ...g, alpha: sB, accumulate: acc });
    refGemm(ai, br, ci, { ...g, alpha: sA, accumulate: true });
    c.re.set(cr.toFloat64());
    c.im.set(ci.toFloat64());
  } finally {
    for (const t of [ar, ai, br, bi, cr, ci]) t.release();
  }
}

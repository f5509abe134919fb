import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DType, unitRoundoff } from '../../src/core/dtype.js';
import { ledger } from '../../src/core/ledger.js';
import { Rng } from '../../src/core/rng.js';
import { ComplexTensor, type Shape, Tensor } from '../../src/core/tensor.js';
import type { Backend } from '../../src/kernels/backend.js';
import { backend, setBackend } from '../../src/kernels/cpu.js';
import {
  type ComplexOperand, type ContractDType, ContractionPlanError, EinsumIndexError, EinsumShapeError, EinsumSyntaxError,
  OPTIMAL_MAX_OPERANDS, type ProductForm, chooseForm, contractComplex, formatPlan, parseEinsum, permute, planContraction,
} from '../../src/precision/contract/index.js';

// ---------------------------------------------------------------------------------------------------
// float64 reference: nested loops over every index of the equation

interface RefOperand {
  re: Float64Array;
  im: Float64Array | null;
  shape: readonly number[];
}

function refEinsum(equation: string, ops: RefOperand[]): { re: Float64Array; im: Float64Array } {
  const { inputs, output } = parseEinsum(equation);
  const letters = [...new Set(inputs.join('') + output)];
  const size = new Map<string, number>();
  inputs.forEach((t, o) => [...t].forEach((c, a) => size.set(c, ops[o]!.shape[a]!)));
  const strides = (term: string): number[] => {
    const st = new Array<number>(term.length);
    for (let a = term.length - 1, s = 1; a >= 0; a--) {
      st[a] = s;
      s *= size.get(term[a]!)!;
    }
    return st;
  };
  const inStr = inputs.map(strides);
  const outStr = strides(output);
  const outSize = [...output].reduce((s, c) => s * size.get(c)!, 1);
  const re = new Float64Array(outSize);
  const im = new Float64Array(outSize);
  const val = new Map<string, number>(letters.map((c) => [c, 0]));
  const total = letters.reduce((s, c) => s * size.get(c)!, 1);
  for (let it = 0; it < total; it++) {
    let rem = it;
    for (let l = letters.length - 1; l >= 0; l--) {
      const n = size.get(letters[l]!)!;
      val.set(letters[l]!, rem % n);
      rem = Math.floor(rem / n);
    }
    let pr = 1;
    let pi = 0;
    for (let o = 0; o < inputs.length; o++) {
      let off = 0;
      [...inputs[o]!].forEach((c, a) => (off += val.get(c)! * inStr[o]![a]!));
      const xr = ops[o]!.re[off]!;
      const xi = ops[o]!.im ? ops[o]!.im![off]! : 0;
      const nr = pr * xr - pi * xi;
      pi = pr * xi + pi * xr;
      pr = nr;
    }
    let oo = 0;
    [...output].forEach((c, a) => (oo += val.get(c)! * outStr[a]!));
    re[oo] += pr;
    im[oo] += pi;
  }
  return { re, im };
}

// ---------------------------------------------------------------------------------------------------
// Operands

interface Made {
  operands: ComplexOperand[];
  ref: RefOperand[];
  /** |x|₁ = |re| + |im| per element: the operands of the bound's absolute-value contraction. */
  abs: RefOperand[];
  release(): void;
}

/** Random operands stored in `dtype`; the reference uses the stored (already rounded) values. */
function makeOperands(rng: Rng, shapes: Shape[], dtype: DType, realMask: ('complex' | 'tensor' | 'noIm')[] = []): Made {
  const owned: Tensor[] = [];
  const operands: ComplexOperand[] = [];
  const ref: RefOperand[] = [];
  for (const [o, sh] of shapes.entries()) {
    const kind = realMask[o] ?? 'complex';
    const re = rng.fillNormal(Tensor.empty(sh, dtype));
    owned.push(re);
    if (kind === 'complex') {
      const im = rng.fillNormal(Tensor.empty(sh, dtype));
      owned.push(im);
      operands.push(new ComplexTensor(re, im));
      ref.push({ re: re.toFloat64(), im: im.toFloat64(), shape: sh });
    } else {
      operands.push(kind === 'tensor' ? re : { re });
      ref.push({ re: re.toFloat64(), im: null, shape: sh });
    }
  }
  const abs = ref.map((r) => ({ re: r.re.map((v, i) => Math.abs(v) + (r.im ? Math.abs(r.im[i]!) : 0)), im: null, shape: r.shape }));
  return { operands, ref, abs, release: () => owned.forEach((t) => t.release()) };
}

// ---------------------------------------------------------------------------------------------------
// Error bound
//
// Model: each GEMM accumulates in f32 (any summation order: error ≤ γ_{K+2}(u32)·Σ|terms| with the
// accumulated C and the product roundings of f32 inputs counted) and rounds once into the dtype (u);
// an elementwise op computes in f32 and rounds into the dtype (≤ u + 2·u32, double rounding).
// With |z|₁ = |re| + |im| and, per output element, S = Σ_K |a|₁·|b|₁ (note |a·b|₁ ≤ |a|₁·|b|₁):
//
//  4-product form: re = fl(fl(P1) − P2) with P1 = Σ ar·br, P2 = Σ ai·bi, so
//    |re − (P1 − P2)| ≤ u|P1| + u(|t1| + |P2|) + (1+u)·2g·Sre ≤ 2u(1+u)·Sre + 2g(1+u)·Sre, same for im with
//    Sim; Sre + Sim = S, so |error|₁ ≤ ε4·S with ε4 = 2u(1+u) + 2g(1+u), g = γ_{K+2}(u32).
//  3-product form: re as above (t1, t2 rounded once each, then one subtraction): ≤ (2u + g)·Sre (first
//    order). im = fl(fl(t3 − t1) − t2) with t3 = fl(Σ fl(ar+ai)·fl(br+bi)): the input sums cost 2u·S,
//    t3's rounding u·S, t1 and t2 u·Sre, the two subtractions u·(|t3| + |t1|) + u·(|d| + |t2|) ≤ 4u·S;
//    with g for each GEMM, |error|₁ ≤ (10u + 3g)·S to first order. ε3 = 11u + 4g covers the second-order
//    terms (they are ≤ 30u² ≤ u/8 for u ≤ 2^-8).
//  A real factor (2 GEMMs, one rounding per part) and a sum-out (one GEMM with ones) are within ε4.
//
// Propagation (induction over the path): if every operand x̂ of a step satisfies |x̂ − x|₁ ≤ θ_x·T_x and
// hence |x̂|₁ ≤ (1+θ_x)·T_x (T = the same contraction over |·|₁ values, elementwise), the step's result
// satisfies 1 + θ_c = (1 + ε)(1 + θ_a)(1 + θ_b). After s roundings along the path (steps plus sum-outs):
//    |Ĉ − C|₁ ≤ ((1 + ε)^s − 1)·T   elementwise, T = einsum of |operands|₁.
// Underflow (f16 subnormals below 6.1e-5, absolute error ≤ 2^-25 per rounding) is not in the model; the
// test data are O(1), so an absolute slack of 64·s·2^-25 (for f16) covers a few subnormal roundings.
//
// For random zero-mean data |C| ≈ T/√(contraction length) (a sum of L random-sign terms grows like √L,
// that of their magnitudes like L), so relative to ‖C‖ the bound reads ≈ s·ε·√L: unit roundoff ×
// √(contraction length) × steps, the form the issue suggests, with ε ≈ 2u (4-form) or ≈ 11u (3-form).

function gamma(n: number): number {
  const u = 2 ** -24;
  return (n * u) / (1 - n * u);
}

function stepEps(dtype: ContractDType, form: ProductForm, kMax: number): number {
  const u = unitRoundoff(dtype);
  const g = gamma(kMax + 2);
  return form === '4' ? 2 * u * (1 + u) + 2 * g * (1 + u) : 11 * u + 4 * g;
}

interface Checked {
  /** ‖Ĉ − C‖₁ / ‖C‖₁ summed over elements. */
  rel: number;
  /** Largest |Ĉ − C|₁ / bound over elements (≤ 1 required). */
  worstRatio: number;
  bound: number;
}

function checkAgainstRef(label: string, equation: string, got: ComplexTensor, m: Made, dtype: ContractDType, form: ProductForm, roundings: number, kMax: number): Checked {
  const want = refEinsum(equation, m.ref);
  const T = refEinsum(equation, m.abs).re;
  const gr = got.re.toFloat64();
  const gi = got.im.toFloat64();
  assert.equal(gr.length, want.re.length, `${label}: output size`);
  const eps = stepEps(dtype, form, kMax);
  const factor = (1 + eps) ** roundings - 1;
  const atol = dtype === 'float16' ? 64 * roundings * 2 ** -25 : 1e-30;
  let num = 0;
  let den = 0;
  let worst = 0;
  for (let i = 0; i < gr.length; i++) {
    const err = Math.abs(gr[i]! - want.re[i]!) + Math.abs(gi[i]! - want.im[i]!);
    const tol = factor * T[i]! + atol;
    if (!(err <= tol)) assert.fail(`${label}: element ${i}: |error|₁ ${err} exceeds the bound ${tol} (T ${T[i]}, ${roundings} roundings, ε ${eps})`);
    worst = Math.max(worst, err / tol);
    num += err;
    den += Math.abs(want.re[i]!) + Math.abs(want.im[i]!);
  }
  return { rel: num / den, worstRatio: worst, bound: factor };
}

/** Calls f with a backend that records the dtype of every output the contraction writes. */
function spyOutputs<T>(f: () => T): { result: T; outDtypes: Set<DType> } {
  const inner = backend();
  const outDtypes = new Set<DType>();
  const spy: Backend = {
    ...inner,
    name: 'spy',
    gemm: (a, b, c, o) => {
      outDtypes.add(c.dtype);
      inner.gemm(a, b, c, o);
    },
    binary: (op, a, b, out) => {
      outDtypes.add(out.dtype);
      inner.binary(op, a, b, out);
    },
  };
  const prev = setBackend(spy);
  try {
    return { result: f(), outDtypes };
  } finally {
    setBackend(prev);
  }
}

// ---------------------------------------------------------------------------------------------------
// Cases

interface Case {
  name: string;
  equation: string;
  shapes: Shape[];
  kinds?: ('complex' | 'tensor' | 'noIm')[];
}

const CASES: Case[] = [
  // dense spectral conv, neuralop's layout (needs permuted copies) and the mode-major layout (none)
  { name: 'dense bixy,ioxy->boxy', equation: 'bixy,ioxy->boxy', shapes: [[3, 4, 3, 2], [4, 5, 3, 2]] },
  { name: 'dense mode-major xbi,xio->xbo', equation: 'xbi,xio->xbo', shapes: [[5, 3, 6], [5, 6, 4]] },
  // CP: x, weights (rank), in-, out- and two mode factors
  { name: 'CP abcd,e,be,fe,ce,de->afcd', equation: 'abcd,e,be,fe,ce,de->afcd', shapes: [[2, 3, 4, 3], [3], [3, 3], [2, 3], [4, 3], [3, 3]] },
  { name: 'CP with real weights', equation: 'abcd,e,be,fe,ce,de->afcd', shapes: [[2, 3, 4, 3], [3], [3, 3], [2, 3], [4, 3], [3, 3]], kinds: ['complex', 'tensor', 'complex', 'noIm', 'complex', 'complex'] },
  // Tucker: x, core, in-, out- and mode factors
  { name: 'Tucker abcd,efgh,be,if,cg,dh->aicd', equation: 'abcd,efgh,be,if,cg,dh->aicd', shapes: [[2, 3, 3, 2], [2, 2, 2, 2], [3, 2], [3, 2], [3, 2], [2, 2]] },
  // tensor train: x and a chain of cores in → r1 → out → r2 → x-modes → r3 → y-modes
  { name: 'TT abcd,be,efg,gch,hd->afcd', equation: 'abcd,be,efg,gch,hd->afcd', shapes: [[2, 3, 3, 2], [3, 2], [2, 3, 2], [2, 3, 2], [2, 2]] },
  // three operands with indices summed out of one operand alone, and an implicit output
  { name: 'sum-out abc,cd,de->be', equation: 'abc,cd,de->be', shapes: [[3, 2, 4], [4, 3], [3, 2]] },
  { name: 'implicit output ab,bc', equation: 'ab,bc', shapes: [[3, 4], [4, 2]] },
];

/** Roundings along the path (steps plus sum-outs) and the largest K of any GEMM. */
function pathStats(equation: string, shapes: Shape[], real: boolean[], form: ProductForm): { roundings: number; kMax: number } {
  const plan = planContraction(equation, shapes, { form, real });
  const size = new Map<string, number>();
  plan.inputs.forEach((t, o) => [...t].forEach((c, a) => size.set(c, shapes[o]![a]!)));
  let roundings = 0;
  let kMax = 1;
  for (const s of plan.steps) {
    roundings += 1;
    kMax = Math.max(kMax, s.gemm.k);
    for (const r of s.layout.reduce) {
      if (!r) continue;
      roundings += 1;
      kMax = Math.max(kMax, [...r].reduce((p, c) => p * size.get(c)!, 1));
    }
  }
  return { roundings, kMax };
}

const DTYPES: ContractDType[] = ['float32', 'float16', 'bfloat16'];
const FORMS: ProductForm[] = ['4', '3'];

describe('contractComplex against a float64 einsum', () => {
  const report: string[] = [];
  /** Relative error per `${case} ${form}` and dtype, for the summary. */
  const rel = new Map<string, Partial<Record<ContractDType, number>>>();
  for (const c of CASES) {
    for (const dtype of DTYPES) {
      for (const form of FORMS) {
        it(`${c.name}, ${dtype}, ${form}-product form, within the derived bound`, () => {
          const rng = new Rng(1234);
          const m = makeOperands(rng, c.shapes, dtype, c.kinds);
          const real = (c.kinds ?? []).map((k) => k !== 'complex').concat(new Array(c.shapes.length).fill(false)).slice(0, c.shapes.length);
          const { roundings, kMax } = pathStats(c.equation, c.shapes, real, form);
          const before = ledger.snapshot().live;
          const { result: got, outDtypes } = spyOutputs(() => contractComplex(c.equation, m.operands, { dtype, form }));
          try {
            // every value the contraction wrote is in the requested dtype
            assert.deepEqual([...outDtypes], [dtype], `${c.name}: outputs written in ${[...outDtypes].join(', ')}`);
            assert.equal(got.dtype, dtype);
            const r = checkAgainstRef(`${c.name} ${dtype} form ${form}`, c.equation, got, m, dtype, form, roundings, kMax);
            // no leaks: only the result stays allocated
            assert.equal(ledger.snapshot().live - before, got.re.nbytes + got.im.nbytes, `${c.name}: leaked workspace`);
            if (dtype === 'float32') assert.ok(r.rel < 1e-5, `${c.name}: f32 relative error ${r.rel}`);
            else assert.ok(r.rel > 10 * 2 ** -24, `${c.name}: ${dtype} error ${r.rel} is at f32 level: intermediates were not stored in ${dtype}`);
            rel.set(`${c.name} ${form}`, { ...rel.get(`${c.name} ${form}`), [dtype]: r.rel });
            report.push(`${c.name.padEnd(38)} ${dtype.padEnd(8)} form ${form}: rel ${r.rel.toExponential(2)}, bound factor ${r.bound.toExponential(2)}, worst err/bound ${r.worstRatio.toFixed(3)}`);
          } finally {
            got.release();
            m.release();
          }
        });
      }
    }
  }
  it('summary: every case ran in every dtype and form, and the 16-bit errors scale with the unit roundoff', (t) => {
    t.diagnostic(report.join('\n'));
    assert.equal(report.length, CASES.length * DTYPES.length * FORMS.length);
    // bf16's u is 8× fp16's; the same path with the same roundings gives errors ~8× larger
    // (measured 7.2–8.3× over all cases and forms). A factor far from 8 means the intermediates
    // were stored in another type than the one asked for.
    for (const [k, r] of rel) {
      const q = r.bfloat16! / r.float16!;
      assert.ok(q > 4 && q < 16, `${k}: bf16/fp16 error ratio ${q.toFixed(2)} (expected about 8)`);
    }
  });
});

describe('contractComplex details', () => {
  it('the 3- and 4-product forms agree in f32', () => {
    const rng = new Rng(7);
    for (const c of CASES) {
      const m = makeOperands(rng, c.shapes, 'float32', c.kinds);
      const a = contractComplex(c.equation, m.operands, { dtype: 'float32', form: '4' });
      const b = contractComplex(c.equation, m.operands, { dtype: 'float32', form: '3' });
      const T = refEinsum(c.equation, m.abs).re;
      const ar = a.re.toFloat64();
      const ai = a.im.toFloat64();
      const br = b.re.toFloat64();
      const bi = b.im.toFloat64();
      let num = 0;
      let den = 0;
      for (let i = 0; i < ar.length; i++) {
        const d = Math.abs(ar[i]! - br[i]!) + Math.abs(ai[i]! - bi[i]!);
        assert.ok(d <= 1e-5 * T[i]!, `${c.name}: forms differ by ${d} at ${i} (T ${T[i]})`);
        num += d;
        den += Math.abs(ar[i]!) + Math.abs(ai[i]!);
      }
      assert.ok(num / den < 1e-5, `${c.name}: forms differ by ${num / den} relative`);
      a.release();
      b.release();
      m.release();
    }
  });

  it('real-only operands give a zero imaginary part; float64 runs on the reference path exactly enough', () => {
    const rng = new Rng(3);
    const m = makeOperands(rng, [[3, 4], [4, 5], [5]], 'float64', ['tensor', 'noIm', 'tensor']);
    const got = contractComplex('ab,bc,c->a', m.operands, { dtype: 'float64' });
    const want = refEinsum('ab,bc,c->a', m.ref);
    assert.deepEqual(got.im.toArray(), [0, 0, 0]);
    got.re.toArray().forEach((v, i) => assert.ok(Math.abs(v - want.re[i]!) <= 1e-12 * (1 + Math.abs(want.re[i]!))));
    got.release();
    m.release();
  });

  it('operands in another dtype than the computation are read exactly (not rounded first)', () => {
    const rng = new Rng(5);
    const m = makeOperands(rng, [[4, 6], [6, 3]], 'float32');
    const got = contractComplex('ab,bc->ac', m.operands, { dtype: 'float16', form: '4' });
    // one step, one GEMM product per part: the only rounding is the output's (≤ ε4·T)
    const r = checkAgainstRef('f32 operands, f16 result', 'ab,bc->ac', got, m, 'float16', '4', 1, 6);
    assert.ok(r.rel > 0);
    got.release();
    m.release();
  });

  it('a given plan is used and must match the equation and shapes', () => {
    // 'eb,de,ab->da' with e = a = 64, b = 96, d = 2: greedy contracts (eb, ab) first into a 64×64
    // intermediate, optimal contracts (eb, de) first into 96×2; the two plans differ. Real operands
    // hold small integers, so every f32 GEMM sum is exact and the only rounding is the float16
    // storage of each intermediate and of the result: a path's result is then exactly determined,
    // and executing a plan's steps one by one (each a two-operand contraction rounded to float16)
    // must give the executor's result bit for bit, while the other path's result differs.
    const eq = 'eb,de,ab->da';
    const shapes = [[64, 96], [2, 64], [64, 96]];
    const rng = new Rng(9);
    const ops = shapes.map((sh) => Tensor.fromArray(Array.from({ length: sh[0]! * sh[1]! }, () => rng.int(41) - 20), sh));
    const greedy = planContraction(eq, shapes, { strategy: 'greedy' });
    const optimal = planContraction(eq, shapes, { strategy: 'optimal' });
    assert.deepEqual(greedy.path, [[0, 2], [0, 1]]);
    assert.deepEqual(optimal.path, [[0, 1], [0, 1]]);
    assert.ok(greedy.largestIntermediate > 10 * optimal.largestIntermediate);
    /** The plan's steps run one at a time, each intermediate a separate float16 contraction. */
    const byHand = (plan: typeof greedy): Float64Array => {
      const list: Tensor[] = [...ops];
      const made: Tensor[] = [];
      for (const st of plan.steps) {
        const [i, j] = st.pair;
        const r = contractComplex(st.equation, [list[i]!, list[j]!], { dtype: 'float16' });
        r.im.release();
        made.push(r.re);
        list.splice(j, 1);
        list.splice(i, 1);
        list.push(r.re);
      }
      const out = list[0]!.toFloat64();
      for (const t of made) t.release();
      return out;
    };
    const run = (o: { plan?: typeof greedy; strategy?: 'greedy' | 'optimal' }): Float64Array => {
      const r = contractComplex(eq, ops, { dtype: 'float16', ...o });
      assert.ok(r.im.toFloat64().every((v) => v === 0));
      const out = r.re.toFloat64();
      r.release();
      return out;
    };
    const hg = byHand(greedy);
    const ho = byHand(optimal);
    assert.ok(hg.some((v, i) => v !== ho[i]), 'the two paths round differently');
    assert.deepEqual(run({ plan: greedy }), hg, 'the greedy plan is executed');
    assert.deepEqual(run({ plan: optimal }), ho, 'the optimal plan is executed');
    // a given plan overrides the strategy
    assert.deepEqual(run({ plan: greedy, strategy: 'optimal' }), hg);
    assert.deepEqual(run({ strategy: 'greedy' }), hg);
    assert.deepEqual(run({}), ho, "default 'auto' is optimal for 3 operands");
    const other = planContraction('xbi,xio->xbo', [[2, 2, 2], [2, 2, 2]]);
    assert.throws(() => contractComplex(eq, ops, { dtype: 'float32', plan: other }), ContractionPlanError);
    for (const t of ops) t.release();
  });

  it('rejects bad operands and options with named errors', () => {
    const x = Tensor.zeros([2, 3]);
    const y = Tensor.zeros([4, 5]);
    assert.throws(() => contractComplex('ab,bc->ac', [x, y], { dtype: 'float32' }), EinsumShapeError);
    assert.throws(() => contractComplex('ab,bc->ac', [x], { dtype: 'float32' }), EinsumIndexError);
    assert.throws(() => contractComplex('ab,bc->ac', [x, x], { dtype: 'int8' as unknown as ContractDType }), TypeError);
    assert.throws(() => contractComplex('ab,bc->ac', [x, x], { dtype: 'float32', form: '5' as unknown as ProductForm }), TypeError);
    x.release();
    y.release();
  });

  it("form 'auto' is the measured choice per dtype (3 products in f32, 4 in the half types) and runs it", () => {
    assert.deepEqual((['float32', 'float16', 'bfloat16', 'float64'] as const).map(chooseForm), ['3', '4', '4', '4']);
    const rng = new Rng(17);
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      const m = makeOperands(rng, [[6, 3, 5], [6, 5, 4]], dtype);
      const auto = contractComplex('xbi,xio->xbo', m.operands, { dtype });
      const explicit = contractComplex('xbi,xio->xbo', m.operands, { dtype, form: chooseForm(dtype) });
      assert.deepEqual(auto.re.toArray(), explicit.re.toArray());
      assert.deepEqual(auto.im.toArray(), explicit.im.toArray());
      auto.release();
      explicit.release();
      m.release();
    }
  });

  it('nearly real data: the 3-product form loses the small imaginary part in f16/bf16, the 4-product form keeps it', () => {
    const shapes: Shape[] = [[16, 4, 16], [16, 16, 8]];
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const rng = new Rng(19);
      const ops = shapes.map((sh) => {
        const n = sh.reduce((a, b) => a * b, 1);
        return new ComplexTensor(Tensor.fromArray(rng.normalArray(n), sh, dtype), Tensor.fromArray(rng.normalArray(n, 0, 1e-2), sh, dtype));
      });
      const ref = refEinsum('xbi,xio->xbo', ops.map((o) => ({ re: o.re.toFloat64(), im: o.im.toFloat64(), shape: o.shape })));
      const imErr = (form: ProductForm): number => {
        const got = contractComplex('xbi,xio->xbo', ops, { dtype, form });
        const gi = got.im.toFloat64();
        let num = 0;
        let den = 0;
        gi.forEach((v, i) => {
          num += (v - ref.im[i]!) ** 2;
          den += ref.im[i]! ** 2;
        });
        got.release();
        return Math.sqrt(num / den);
      };
      const e4 = imErr('4');
      const e3 = imErr('3');
      const u = unitRoundoff(dtype);
      assert.ok(e4 < 2 * u, `${dtype}: 4-product imaginary part error ${e4}`);
      assert.ok(e3 > 10 * e4, `${dtype}: 3-product imaginary part error ${e3} vs ${e4}`);
      ops.forEach((o) => o.release());
    }
  });

  it('permute copies any axis order exactly', () => {
    const rng = new Rng(11);
    const x = rng.fillNormal(Tensor.empty([2, 3, 4, 5], 'float16'));
    const v = x.toFloat64();
    const perm = [2, 0, 3, 1];
    const y = permute(x, perm);
    assert.deepEqual(y.shape, [4, 2, 5, 3]);
    const w = y.toFloat64();
    for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 4; c++) for (let d = 0; d < 5; d++) {
      assert.equal(w[((c * 2 + a) * 5 + d) * 3 + b], v[((a * 3 + b) * 4 + c) * 5 + d]);
    }
    assert.throws(() => permute(x, [0, 0, 1, 2]), RangeError);
    x.release();
    y.release();
  });

  it('permute matches a naive copy for random shapes and orders (tiled transposes included)', () => {
    const rng = new Rng(13);
    for (let t = 0; t < 30; t++) {
      const nd = 1 + rng.int(4);
      const shape = Array.from({ length: nd }, () => 1 + rng.int(t < 15 ? 40 : 6));
      const perm = rng.permutation(nd);
      const dtype: DType = (['float32', 'float16', 'bfloat16', 'float64'] as const)[t % 4]!;
      const x = rng.fillNormal(Tensor.empty(shape, dtype));
      const v = x.toFloat64();
      const y = permute(x, perm);
      const w = y.toFloat64();
      const outShape = perm.map((p) => shape[p]!);
      const src = new Array<number>(nd).fill(0);
      for (let o = 0; o < w.length; o++) {
        let rem = o;
        for (let a = nd - 1; a >= 0; a--) {
          src[perm[a]!] = rem % outShape[a]!;
          rem = Math.floor(rem / outShape[a]!);
        }
        let off = 0;
        for (let a = 0; a < nd; a++) off = off * shape[a]! + src[a]!;
        if (w[o] !== v[off]) assert.fail(`permute ${JSON.stringify(shape)} by [${perm}] (${dtype}): element ${o} is ${w[o]}, want ${v[off]}`);
      }
      x.release();
      y.release();
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// Planner

/** The documented cost model, computed independently: products × Π(all step indices) × (2 if summed). */
function bruteForceMin(equation: string, shapes: Shape[], real: boolean[], form: ProductForm): number {
  const { inputs, output } = parseEinsum(equation);
  const size = new Map<string, number>();
  inputs.forEach((t, o) => [...t].forEach((c, a) => size.set(c, shapes[o]![a]!)));
  const memo = new Map<string, number>();
  const go = (ops: { idx: string; real: boolean }[]): number => {
    if (ops.length === 1) return 0;
    const key = ops.map((o) => `${[...o.idx].sort().join('')}${o.real ? 'r' : 'c'}`).sort().join('|');
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let best = Infinity;
    for (let i = 0; i < ops.length; i++) {
      for (let j = i + 1; j < ops.length; j++) {
        const rest = ops.filter((_, p) => p !== i && p !== j);
        const keep = new Set(output + rest.map((o) => o.idx).join(''));
        const union = [...new Set(ops[i]!.idx + ops[j]!.idx)];
        const out = union.filter((c) => keep.has(c)).join('');
        const summed = union.some((c) => !keep.has(c));
        const both = ops[i]!.real && ops[j]!.real;
        const one = ops[i]!.real || ops[j]!.real;
        const products = both ? 1 : one ? 2 : form === '3' ? 3 : 4;
        const f = products * union.reduce((p, c) => p * size.get(c)!, 1) * (summed ? 2 : 1);
        best = Math.min(best, f + go([...rest, { idx: out, real: both }]));
      }
    }
    memo.set(key, best);
    return best;
  };
  return go(inputs.map((idx, o) => ({ idx, real: real[o]! })));
}

/** Replays a path and checks that it is a valid opt_einsum-style path whose steps match the plan. */
function checkPathValid(plan: ReturnType<typeof planContraction>): void {
  let n = plan.inputs.length;
  assert.equal(plan.path.length, n - 1);
  for (const [s, [i, j]] of plan.path.entries()) {
    assert.ok(i >= 0 && i < j && j < n, `step ${s}: pair (${i}, ${j}) of ${n} operands`);
    assert.deepEqual(plan.steps[s]!.pair, [i, j]);
    n--;
  }
  assert.equal(plan.totalFlops, plan.steps.reduce((a, s) => a + s.flops, 0));
  assert.equal(plan.largestIntermediate, Math.max(...plan.steps.map((s) => s.intermediateSize)));
}

interface PlanCase {
  equation: string;
  shapes: Shape[];
  real?: boolean[];
}

/** opt_einsum's documented examples and the spectral-conv contractions at realistic sizes. */
const PLAN_CASES: PlanCase[] = [
  // opt_einsum README: 'pi,qj,ijkl,rk,sl->pqrs' with all sizes 10 (the optimal path is 4 matrix products)
  { equation: 'pi,qj,ijkl,rk,sl->pqrs', shapes: [[10, 10], [10, 10], [10, 10, 10, 10], [10, 10], [10, 10]] },
  // opt_einsum docs (path finding): 'ea,fb,abcd,gc,hd->efgh' with mixed sizes
  { equation: 'ea,fb,abcd,gc,hd->efgh', shapes: [[10, 10], [10, 10], [10, 10, 10, 10], [10, 10], [10, 10]] },
  // opt_einsum docs: a chain of matrix products with uneven sizes
  { equation: 'ab,bc,cd,de->ae', shapes: [[2, 100], [100, 3], [3, 80], [80, 4]] },
  // FNO 2-D spectral convs: batch 8, 32 channels, 32×9 modes kept (16 each side × rfft 9), rank 8
  { equation: 'bixy,ioxy->boxy', shapes: [[8, 32, 32, 9], [32, 32, 32, 9]] },
  { equation: 'abcd,e,be,fe,ce,de->afcd', shapes: [[8, 32, 32, 9], [8], [32, 8], [32, 8], [32, 8], [9, 8]] },
  { equation: 'abcd,e,be,fe,ce,de->afcd', shapes: [[8, 32, 32, 9], [8], [32, 8], [32, 8], [32, 8], [9, 8]], real: [false, true, false, false, false, false] },
  { equation: 'abcd,efgh,be,if,cg,dh->aicd', shapes: [[8, 32, 32, 9], [8, 8, 8, 4], [32, 8], [32, 8], [32, 8], [9, 4]] },
  { equation: 'abcd,be,efg,gch,hd->afcd', shapes: [[8, 32, 32, 9], [32, 4], [4, 32, 4], [4, 32, 4], [4, 9]] },
];

describe('planContraction', () => {
  for (const [n, c] of PLAN_CASES.entries()) {
    for (const form of FORMS) {
      it(`case ${n} '${c.equation}' form ${form}: optimal = brute-force minimum, ≤ greedy, valid paths`, () => {
        const real = c.real ?? c.shapes.map(() => false);
        const opt = planContraction(c.equation, c.shapes, { strategy: 'optimal', form, real });
        const greedy = planContraction(c.equation, c.shapes, { strategy: 'greedy', form, real });
        checkPathValid(opt);
        checkPathValid(greedy);
        assert.equal(opt.strategy, 'optimal');
        assert.equal(greedy.strategy, 'greedy');
        assert.equal(opt.totalFlops, bruteForceMin(c.equation, c.shapes, real, form));
        assert.ok(opt.totalFlops <= greedy.totalFlops, `optimal ${opt.totalFlops} > greedy ${greedy.totalFlops}`);
      });
    }
  }

  it('optimal ≤ greedy and = brute force on random equations', () => {
    const rng = new Rng(21);
    const letters = 'abcdefgh';
    for (let t = 0; t < 40; t++) {
      const k = 2 + rng.int(4); // 2..5 operands
      const size = new Map([...letters].map((c) => [c, 1 + rng.int(5)]));
      const terms: string[] = [];
      for (let o = 0; o < k; o++) {
        const n = 1 + rng.int(3);
        const pick = new Set<string>();
        while (pick.size < n) pick.add(letters[rng.int(letters.length)]!);
        terms.push([...pick].join(''));
      }
      const all = [...new Set(terms.join(''))];
      const out = all.filter(() => rng.random() < 0.4).join('');
      const eq = `${terms.join(',')}->${out}`;
      const shapes = terms.map((tm) => [...tm].map((c) => size.get(c)!));
      const real = terms.map(() => rng.random() < 0.3);
      for (const form of FORMS) {
        const opt = planContraction(eq, shapes, { strategy: 'optimal', form, real });
        const greedy = planContraction(eq, shapes, { strategy: 'greedy', form, real });
        checkPathValid(opt);
        checkPathValid(greedy);
        assert.equal(opt.totalFlops, bruteForceMin(eq, shapes, real, form), eq);
        assert.ok(opt.totalFlops <= greedy.totalFlops, `${eq}: optimal ${opt.totalFlops} > greedy ${greedy.totalFlops}`);
      }
    }
  });

  it('counts real flops of the complex products and picks the known optimal path of the README example', () => {
    const dense = planContraction('bixy,ioxy->boxy', [[8, 32, 32, 9], [32, 32, 32, 9]]);
    const madds = 8 * 32 * 32 * 9 * 32;
    assert.equal(dense.totalFlops, 4 * 2 * madds);
    assert.deepEqual(dense.steps[0]!.gemm, { batch: 32 * 9, m: 8, k: 32, n: 32 });
    assert.equal(planContraction('bixy,ioxy->boxy', [[8, 32, 32, 9], [32, 32, 32, 9]], { form: '3' }).totalFlops, 3 * 2 * madds);
    assert.equal(planContraction('bixy,ioxy->boxy', [[8, 32, 32, 9], [32, 32, 32, 9]], { real: [false, true] }).totalFlops, 2 * 2 * madds);
    // 'pi,qj,ijkl,rk,sl->pqrs', all 10: four steps of 10^5 multiply-adds each (opt_einsum: 8e5 real flops)
    const readme = planContraction('pi,qj,ijkl,rk,sl->pqrs', [[10, 10], [10, 10], [10, 10, 10, 10], [10, 10], [10, 10]], { real: [true, true, true, true, true] });
    assert.equal(readme.totalFlops, 4 * 2 * 1e5);
    assert.equal(readme.largestIntermediate, 1e4);
  });

  it('the mode-major dense layout needs no copies; neuralop\'s layout copies the operands and the output', () => {
    const mm = planContraction('xbi,xio->xbo', [[288, 8, 32], [288, 32, 32]]);
    const l = mm.steps[0]!.layout;
    assert.deepEqual([l.copyA, l.copyB, l.copyOut, l.transA, l.transB], [false, false, false, false, false]);
    const nl = planContraction('bixy,ioxy->boxy', [[8, 32, 32, 9], [32, 32, 32, 9]]).steps[0]!.layout;
    assert.equal(nl.batch, 'xy');
    assert.ok(nl.copyOut);
  });

  it("'auto' is optimal up to OPTIMAL_MAX_OPERANDS and greedy beyond; 'optimal' refuses more", () => {
    const k = OPTIMAL_MAX_OPERANDS + 1;
    const letters = 'abcdefghijklmnopqrstuvwxyz';
    const terms = Array.from({ length: k }, (_, i) => letters[i]! + letters[i + 1]!);
    const eq = `${terms.join(',')}->${letters[0]}${letters[k]}`;
    const shapes = terms.map(() => [2, 2]);
    assert.equal(planContraction(eq, shapes, { strategy: 'auto' }).strategy, 'greedy');
    assert.throws(() => planContraction(eq, shapes, { strategy: 'optimal' }), (e: Error) => e instanceof ContractionPlanError && e.name === 'ContractionPlanError' && /at most/.test(e.message));
    const small = terms.slice(0, 4);
    assert.equal(planContraction(`${small.join(',')}->ae`, small.map(() => [2, 2]), { strategy: 'auto' }).strategy, 'optimal');
  });

  it('formatPlan prints the path, each step and the intermediate sizes', () => {
    const plan = planContraction('abcd,e,be,fe,ce,de->afcd', [[8, 32, 32, 9], [8], [32, 8], [32, 8], [32, 8], [9, 8]]);
    const text = formatPlan(plan);
    for (const [i, j] of plan.path) assert.ok(text.includes(`(${i}, ${j})`), text);
    for (const s of plan.steps) {
      assert.ok(text.includes(s.equation), `${s.equation} missing:\n${text}`);
      assert.ok(text.includes(`[${s.outputShape.join(', ')}]`), text);
    }
    assert.match(text, /largest intermediate/);
    assert.equal(text.split('\n').length, 4 + plan.steps.length + 1);
  });

  it('raises named errors for bad equations and shapes', () => {
    const cases: [string, Shape[], new (...a: never[]) => Error, string, RegExp][] = [
      ['ab,bc->ad', [[2, 3], [3, 4]], EinsumIndexError, 'EinsumIndexError', /'d' is in no operand/],
      ['ab,bc->aa', [[2, 3], [3, 4]], EinsumIndexError, 'EinsumIndexError', /repeats/],
      ['aab,bc->c', [[2, 2, 3], [3, 4]], EinsumIndexError, 'EinsumIndexError', /inside operand 0/],
      ['ab,bc->ac', [[2, 3], [4, 5]], EinsumShapeError, 'EinsumShapeError', /'b' has size 3 .* but 4/],
      ['ab,bc->ac', [[2, 3, 1], [3, 5]], EinsumShapeError, 'EinsumShapeError', /needs 2 axes/],
      ['ab,bc->ac', [[2, 3]], EinsumIndexError, 'EinsumIndexError', /2 operands, got 1/],
      ['aB,bc->ac', [[2, 3], [3, 4]], EinsumSyntaxError, 'EinsumSyntaxError', /unknown character 'B'/],
      ['a...,b->a', [[2], [3]], EinsumSyntaxError, 'EinsumSyntaxError', /unknown character '\.'/],
      ['ab,b1->a', [[2, 3], [3, 1]], EinsumSyntaxError, 'EinsumSyntaxError', /unknown character '1'/],
      ['ab->c->a', [[2, 3]], EinsumSyntaxError, 'EinsumSyntaxError', /more than one/],
      ['ab,b>a', [[2, 3], [3]], EinsumSyntaxError, 'EinsumSyntaxError', /'->'/],
      ['ab->a', [[2, 3]], ContractionPlanError, 'ContractionPlanError', /at least 2 operands/],
    ];
    for (const [eq, shapes, cls, name, re] of cases) {
      assert.throws(() => planContraction(eq, shapes), (e: Error) => {
        assert.ok(e instanceof cls, `${eq}: ${e.name}: ${e.message}`);
        assert.equal(e.name, name);
        assert.match(e.message, re);
        return true;
      });
    }
  });

  it('parses implicit outputs like numpy (indices that occur once, sorted)', () => {
    assert.deepEqual(parseEinsum('ba,ac'), { inputs: ['ba', 'ac'], output: 'bc' });
    assert.deepEqual(parseEinsum(' bixy , ioxy -> boxy '), { inputs: ['bixy', 'ioxy'], output: 'boxy' });
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DType } from '../../src/core/dtype.js';
import { ledger } from '../../src/core/ledger.js';
import { Rng } from '../../src/core/rng.js';
import { ComplexTensor, type Shape, Tensor } from '../../src/core/tensor.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import * as ops from '../../src/autograd/ops.js';
import { Variable, backward, disposeGraph, noGrad, tidy } from '../../src/autograd/variable.js';
import {
  type ContractDType, EinsumIndexError, EinsumShapeError, type ProductForm, complexParts, contract, contractComplex, contractPlanCacheStats,
  packComplex, planContraction,
} from '../../src/precision/contract/index.js';
import { relL2 } from '../helpers.js';

/**
 * The differentiable contraction `contract` over packed planar complex Variables ([2, ...shape]).
 *
 * Tensor-train form used here (the cores in the order in, out, x, y): 'bixy,ip,poq,qxr,ry->boxy', the
 * border ranks (1) squeezed: G1 [in, r1], G2 [r1, out, r2], G3 [r2, x, r3], G4 [r3, y]. The unsqueezed
 * form 'bixy,aip,poq,qxr,rys->boxy' (a = s = 1) is checked too: its border indices occur in one
 * operand only, so their gradients are broadcasts (a ones operand in the backward einsum).
 * Tucker is written 'bixy,pqrs,ip,oq,xr,ys->boxy' (core [r_in, r_out, r_x, r_y]) so that no rank
 * letter is also the batch letter.
 */

interface Case {
  name: string;
  equation: string;
  shapes: Shape[];
  complex: boolean[];
}

const all = (n: number): boolean[] => new Array<boolean>(n).fill(true);

/** Sizes of a spectral convolution's contraction: batch, in, out channels, modes x × y, rank(s). */
interface Sizes {
  b: number;
  i: number;
  o: number;
  x: number;
  y: number;
  r: number;
}

/** The FNO weight contractions (dense in both layouts, CP, Tucker, tensor train, CP with real parts) at the given sizes. */
function spectralCases({ b, i, o, x, y, r }: Sizes): Case[] {
  return [
    { name: 'dense bixy,ioxy->boxy', equation: 'bixy,ioxy->boxy', shapes: [[b, i, x, y], [i, o, x, y]], complex: all(2) },
    { name: 'mode-major dense xbi,xio->xbo', equation: 'xbi,xio->xbo', shapes: [[x * y, b, i], [x * y, i, o]], complex: all(2) },
    { name: 'CP bixy,r,ir,or,xr,yr->boxy', equation: 'bixy,r,ir,or,xr,yr->boxy', shapes: [[b, i, x, y], [r], [i, r], [o, r], [x, r], [y, r]], complex: all(6) },
    { name: 'Tucker bixy,pqrs,ip,oq,xr,ys->boxy', equation: 'bixy,pqrs,ip,oq,xr,ys->boxy', shapes: [[b, i, x, y], [r, r, r + 1, r - 1], [i, r], [o, r], [x, r + 1], [y, r - 1]], complex: all(6) },
    { name: 'TT bixy,ip,poq,qxr,ry->boxy', equation: 'bixy,ip,poq,qxr,ry->boxy', shapes: [[b, i, x, y], [i, r], [r, o, r + 1], [r + 1, x, r], [r, y]], complex: all(5) },
    // real and complex operands mixed: real CP weights and out-factor
    { name: 'CP, real weights and out-factor', equation: 'bixy,r,ir,or,xr,yr->boxy', shapes: [[b, i, x, y], [r], [i, r], [o, r], [x, r], [y, r]], complex: [true, false, true, false, true, true] },
  ];
}

/** Small shapes for the float64 gradient checks. */
const CASES: Case[] = [
  ...spectralCases({ b: 2, i: 3, o: 2, x: 3, y: 2, r: 2 }),
  { name: 'TT with border ranks 1 bixy,aip,poq,qxr,rys->boxy', equation: 'bixy,aip,poq,qxr,rys->boxy', shapes: [[2, 3, 3, 2], [1, 3, 2], [2, 2, 3], [3, 3, 2], [2, 2, 1]], complex: all(5) },
  { name: 'dense, real input', equation: 'bixy,ioxy->boxy', shapes: [[2, 3, 3, 2], [3, 2, 3, 2]], complex: [false, true] },
  { name: 'all real ab,bc,c->a', equation: 'ab,bc,c->a', shapes: [[3, 4], [4, 2], [2]], complex: [false, false, false] },
  // an index of one operand alone (summed out of it in the forward) and a scalar output
  { name: 'sum-out abc,cd->ad', equation: 'abc,cd->ad', shapes: [[2, 3, 4], [4, 2]], complex: all(2) },
  { name: 'scalar output ab,ab->', equation: 'ab,ab->', shapes: [[3, 2], [3, 2]], complex: [true, false] },
];

/** Random values (normal: never zero) in `dtype`, packed [2, ...shape] for complex operands. */
function makeValues(rng: Rng, c: Case, dtype: DType): Tensor[] {
  return c.shapes.map((sh, p) => rng.fillNormal(Tensor.empty(c.complex[p] ? [2, ...sh] : [...sh], dtype)));
}

function toF64(t: Tensor): Tensor {
  return Tensor.fromArray(t.toFloat64(), t.shape, 'float64');
}

describe('contract: float64 gradients match finite differences', () => {
  const worst: string[] = [];
  for (const c of CASES) {
    for (const form of ['4', '3'] as ProductForm[]) {
      it(`${c.name}, ${form}-product form: every operand`, () => {
        const rng = new Rng(31);
        const inputs = makeValues(rng, c, 'float64');
        const live = ledger.snapshot().live;
        const r = gradcheck((xs) => contract(c.equation, xs, { complex: c.complex, dtype: 'float64', form }), inputs, { samples: 24 });
        assert.equal(ledger.snapshot().live, live, `${c.name}: gradcheck leaked`);
        r.maxRelErr.forEach((e, p) => assert.ok(e < 1e-6, `${c.name}: operand ${p} gradient error ${e}`));
        worst.push(`${c.name} form ${form}: max gradient error ${Math.max(...r.maxRelErr).toExponential(2)}`);
        inputs.forEach((t) => t.release());
      });
    }
  }

  it('packComplex and complexParts: gradients, and complex weights stored as re/im pairs feed contract', () => {
    const rng = new Rng(8);
    const t = (sh: number[]) => rng.fillNormal(Tensor.empty(sh, 'float64'));
    const inputs = [t([2, 2, 3, 3, 2]), t([3, 2, 3, 2]), t([3, 2, 3, 2])];
    const r = gradcheck(([x, wr, wi]) => {
      const y = contract('bixy,ioxy->boxy', [x!, packComplex(wr!, wi!)], { complex: [true, true], dtype: 'float64' });
      const { re, im } = complexParts(y);
      // both parts, used unevenly, so that a scatter into the wrong half shows
      return packComplex(ops.scale(im, 2), ops.mul(re, re));
    }, inputs, { samples: 24 });
    r.maxRelErr.forEach((e, p) => assert.ok(e < 1e-6, `input ${p} gradient error ${e}`));
    worst.push(`packComplex/complexParts: max gradient error ${Math.max(...r.maxRelErr).toExponential(2)}`);
    inputs.forEach((x) => x.release());
  });

  it('summary', (t) => {
    t.diagnostic(worst.join('\n'));
    assert.equal(worst.length, CASES.length * 2 + 1);
  });
});

describe('contract forward', () => {
  for (const dtype of ['float32', 'float16', 'bfloat16'] as ContractDType[]) {
    it(`equals contractComplex on the same operands bit for bit (${dtype}; packed [2, ...out], role activation)`, () => {
      const rng = new Rng(5);
      for (const c of CASES) {
        const values = makeValues(rng, c, dtype);
        const y = noGrad(() => contract(c.equation, values.map((v) => Variable.constant(v)), { complex: c.complex, dtype }));
        const cops = values.map((v, p) => (c.complex[p] ? ComplexTensor.fromPacked(v) : v));
        const ref = contractComplex(c.equation, cops, { dtype });
        assert.deepEqual(y.shape, [2, ...ref.shape], c.name);
        assert.equal(y.dtype, dtype);
        assert.equal(y.value.role, 'activation');
        const got = Array.from(y.value.data);
        const want = [...Array.from(ref.re.data), ...Array.from(ref.im.data)];
        assert.equal(got.length, want.length);
        for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`${c.name} ${dtype}: element ${i} is ${got[i]}, contractComplex ${want[i]}`);
        y.release();
        ref.release();
        for (const o of cops) if (o instanceof ComplexTensor) o.release();
        values.forEach((v) => v.release());
      }
    });
  }

  it('the complex parts are views of the packed value (no copies)', () => {
    const z = new Variable(Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], 'float32'));
    const { re, im } = complexParts(z);
    assert.deepEqual([re.value.toArray(), im.value.toArray()], [[1, 2, 3], [4, 5, 6]]);
    assert.ok(re.value.isShared && im.value.isShared);
    z.value.data[4] = 50;
    assert.deepEqual(im.value.toArray(), [4, 50, 6]);
    for (const v of [re, im, z]) v.release();
  });
});

/** Larger shapes for the half-precision comparisons (contraction lengths 8–36). */
const HALF_CASES: Case[] = spectralCases({ b: 2, i: 8, o: 6, x: 4, y: 3, r: 4 });

/** Forward output and every operand's gradient (with the output gradient G), as float64 arrays. */
function forwardBackward(c: Case, values: Tensor[], dtype: ContractDType, G: Tensor): { out: Float64Array; grads: Float64Array[]; gradDTypes: DType[] } {
  return tidy(() => {
    const vars = values.map((v) => new Variable(v.clone(), { requiresGrad: true }));
    const y = contract(c.equation, vars, { complex: c.complex, dtype });
    assert.equal(y.dtype, dtype);
    const out = y.value.toFloat64();
    backward(y, G);
    const grads = vars.map((v) => v.grad!.toFloat64());
    const gradDTypes = vars.map((v) => v.grad!.dtype);
    vars.forEach((v) => v.release());
    return { out, grads, gradDTypes };
  });
}

describe('contract in float16 / bfloat16 against float64', () => {
  // measured maxima over the cases below (relative L2, forward and every gradient): see the diagnostic
  const TOL: Record<'float16' | 'bfloat16', number> = { float16: 2e-3, bfloat16: 1.5e-2 };
  const report: string[] = [];
  for (const dtype of ['float16', 'bfloat16'] as const) {
    for (const c of HALF_CASES) {
      it(`${c.name}, ${dtype}: forward and gradients within ${TOL[dtype]} relative L2; gradients are float32`, () => {
        const rng = new Rng(99);
        // operands stored in the half type; the float64 run reads the same stored values
        const values = makeValues(rng, c, dtype);
        const values64 = values.map(toF64);
        const outShape = planContraction(c.equation, c.shapes).steps.at(-1)!.outputShape;
        const G = rng.fillNormal(Tensor.empty([2, ...outShape], 'float32'));
        const G64 = toF64(G);
        const live = ledger.snapshot().live;
        const half = forwardBackward(c, values, dtype, G);
        const ref = forwardBackward(c, values64, 'float64', G64);
        assert.equal(ledger.snapshot().live, live, `${c.name} ${dtype}: leaked`);
        assert.deepEqual(half.gradDTypes, values.map(() => 'float32'));
        assert.deepEqual(ref.gradDTypes, values.map(() => 'float64'));
        const errs = [relL2(half.out, ref.out), ...half.grads.map((g, p) => relL2(g, ref.grads[p]!))];
        errs.forEach((e, p) => assert.ok(e < TOL[dtype], `${c.name} ${dtype}: ${p === 0 ? 'forward' : `operand ${p - 1} gradient`} relative L2 error ${e}`));
        // and not at float32 level: the intermediates really are stored in the half type
        assert.ok(Math.max(...errs) > 1e-5, `${c.name} ${dtype}: errors ${errs} are at float32 level`);
        report.push(`${c.name.padEnd(36)} ${dtype.padEnd(8)} forward ${errs[0]!.toExponential(2)}, gradients max ${Math.max(...errs.slice(1)).toExponential(2)}`);
        for (const t of [...values, ...values64, G, G64]) t.release();
      });
    }
  }
  it('summary', (t) => {
    t.diagnostic(report.join('\n'));
    assert.equal(report.length, HALF_CASES.length * 2);
  });
});

describe('contract mechanics', () => {
  it('saves only what the wanted gradients read; disposeGraph and backward free everything', () => {
    const rng = new Rng(3);
    const live0 = ledger.snapshot().live;
    const x = new Variable(rng.fillNormal(Tensor.empty([2, 4, 2, 3], 'float32')));
    const w = new Variable(rng.fillNormal(Tensor.empty([2, 4, 3, 5], 'float32')), { requiresGrad: true });
    const xBytes = x.value.nbytes;
    const y = contract('xbi,xio->xbo', [x, w], { complex: [true, true], dtype: 'float16' });
    // only w wants a gradient: it reads x, so x is kept; nothing reads w
    x.release();
    w.release();
    assert.equal(ledger.snapshot().live - live0, y.value.nbytes + xBytes);
    disposeGraph(y);
    assert.equal(ledger.snapshot().live - live0, y.value.nbytes);
    y.release();
    assert.equal(ledger.snapshot().live, live0);
  });

  it('a second call plans nothing: forward and backward plans come from the cache', () => {
    const rng = new Rng(4);
    const c = CASES.find((k) => k.name.startsWith('CP'))!;
    const values = makeValues(rng, c, 'float32');
    const step = (): void => {
      const vars = values.map((v) => new Variable(v.clone(), { requiresGrad: true }));
      const y = contract(c.equation, vars, { complex: c.complex, dtype: 'float32' });
      const G = Tensor.full(y.shape, 1, 'float32');
      backward(y, G);
      G.release();
      y.release();
      vars.forEach((v) => v.release());
    };
    step();
    const before = contractPlanCacheStats();
    step();
    const after = contractPlanCacheStats();
    assert.equal(after.misses, before.misses, 'nothing was re-planned');
    assert.equal(after.hits - before.hits, 1 + c.shapes.length, 'the forward plan and one backward plan per operand');
    values.forEach((v) => v.release());
  });

  it('float64 operands get float64 gradients; float32 ones in a float16 contraction get float32', () => {
    const run = (dt: DType, cdt: ContractDType): DType[] => {
      const a = new Variable(Tensor.full([2, 3, 2], 0.5, dt), { requiresGrad: true });
      const b = new Variable(Tensor.full([2], 0.25, dt), { requiresGrad: true });
      const y = contract('ab,b->a', [a, b], { complex: [true, false], dtype: cdt });
      const G = Tensor.full(y.shape, 1, 'float32');
      backward(y, G);
      const out = [a.grad!.dtype, b.grad!.dtype];
      for (const v of [a, b, y]) v.release();
      G.release();
      return out;
    };
    assert.deepEqual(run('float64', 'float16'), ['float64', 'float64']);
    assert.deepEqual(run('float32', 'float16'), ['float32', 'float32']);
    assert.deepEqual(run('bfloat16', 'bfloat16'), ['float32', 'float32']);
  });

  it('errors name the equation, the operand, its shape and dtype', () => {
    const a = Variable.constant(Tensor.zeros([3, 4], 'float16'));
    const b = Variable.constant(Tensor.zeros([4, 5], 'float32'));
    const a3 = Variable.constant(Tensor.zeros([2, 3, 4], 'float16'));
    const eq = 'ab,bc->ac';
    assert.throws(() => contract(eq, [a, b], { complex: [true, false], dtype: 'float32' }), (e: Error) =>
      e instanceof EinsumShapeError && /contract 'ab,bc->ac': operand 0 \('ab'\) is complex, so its value is packed \[2, 2 axes\], got \[3, 4\] float16/.test(e.message));
    assert.throws(() => contract(eq, [a, b], { complex: [false, true], dtype: 'float32' }), /operand 1 \('bc'\) is complex, so its value is packed \[2, 2 axes\], got \[4, 5\] float32/);
    assert.throws(() => contract(eq, [a3, b], { complex: [false, false], dtype: 'float32' }), /operand 0 \('ab'\) is real and needs 2 axes, got \[2, 3, 4\] float16/);
    assert.throws(() => contract(eq, [a], { complex: [false], dtype: 'float32' }), (e: Error) => e instanceof EinsumIndexError && /2 operands, got 1/.test(e.message));
    assert.throws(() => contract(eq, [a, b], { complex: [false], dtype: 'float32' }), /opts.complex must hold one boolean per operand \(2\)/);
    assert.throws(() => contract(eq, [a, b], { complex: [false, false], dtype: 'int8' as unknown as ContractDType }), /contract 'ab,bc->ac': dtype must be/);
    const c = Variable.constant(Tensor.zeros([2, 3, 5], 'float32'));
    assert.throws(() => contract(eq, [a, c], { complex: [false, true], dtype: 'float32' }), /index 'b' has size 4 .* but 3/);
    assert.throws(() => packComplex(b, a3), /packComplex: real part \[4, 5\] float32 and imaginary part \[2, 3, 4\] float16 differ/);
    assert.throws(() => complexParts(b), /complexParts: \[4, 5\] float32 is not packed complex/);
    for (const v of [a, a3, b, c]) v.release();
  });
});

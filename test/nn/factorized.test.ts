import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DType, unitRoundoff } from '../../src/core/dtype.js';
import { ledger } from '../../src/core/ledger.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor, shapeSize } from '../../src/core/tensor.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { Variable, backward, noGrad, tidy } from '../../src/autograd/variable.js';
import {
  type FactorizedImplementation, FactorizedSpectralWeight, cpRank, factorizedParameterCount, factorizedRanks, factorizedWeight, ttRanks, tuckerRanks,
} from '../../src/nn/factorized.js';
import { DenseSpectralWeight, SpectralConv } from '../../src/nn/spectral.js';
import { contractPlanCacheStats } from '../../src/precision/contract/index.js';
import { checkParameterGradients, relL2 } from '../helpers.js';

const rng = new Rng(31);
type Kind = 'cp' | 'tucker' | 'tt';
const KINDS: readonly Kind[] = ['cp', 'tucker', 'tt'];

// ---------------------------------------------------------------------------------------------------
// Plain float64 references, from the state dict (tltorch's layouts, re/im last): the dense weight in
// neuralop's layout (in, out, k1…kd) and the spectral contraction.

type C = [number, number];
const cmul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];

/** Entry `flat` of a complex tensor [...shape, 2] given as decoded values. */
function at(v: Float64Array, flat: number): C {
  return [v[2 * flat]!, v[2 * flat + 1]!];
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let a = shape.length - 1; a >= 0; a--) {
    idx[a] = i % shape[a]!;
    i = Math.floor(i / shape[a]!);
  }
  return idx;
}

/** The dense weight W (neuralop's layout, complex interleaved) the decomposition in `sd` stands for. */
function refWeight(w: FactorizedSpectralWeight, sd: Map<string, Tensor>): Float64Array {
  const shape = w.shape;
  const N = shape.length;
  const vals = w.factors.map((f) => sd.get(f.name)!.toFloat64());
  const out = new Float64Array(2 * shapeSize(shape));
  for (let e = 0; e < shapeSize(shape); e++) {
    const idx = unravel(e, shape);
    let s: C = [0, 0];
    if (w.kind === 'dense') {
      s = at(vals[0]!, e); // separable dense: the weight itself
    } else if (w.kind === 'cp') {
      const R = w.ranks[0]!;
      for (let r = 0; r < R; r++) {
        let p = at(vals[0]!, r);
        for (let n = 0; n < N; n++) p = cmul(p, at(vals[n + 1]!, idx[n]! * R + r));
        s = [s[0] + p[0], s[1] + p[1]];
      }
    } else if (w.kind === 'tucker') {
      const R = w.ranks;
      for (let q = 0; q < shapeSize(R); q++) {
        const r = unravel(q, R);
        let p = at(vals[0]!, q);
        for (let n = 0; n < N; n++) p = cmul(p, at(vals[n + 1]!, idx[n]! * R[n]! + r[n]!));
        s = [s[0] + p[0], s[1] + p[1]];
      }
    } else {
      // row vector times each core's slice G_n[:, i_n, :]
      const R = w.ranks;
      let row: C[] = [[1, 0]];
      for (let n = 0; n < N; n++) {
        const next: C[] = Array.from({ length: R[n + 1]! }, () => [0, 0]);
        for (let a = 0; a < R[n]!; a++) {
          for (let b = 0; b < R[n + 1]!; b++) {
            const p = cmul(row[a]!, at(vals[n]!, (a * shape[n]! + idx[n]!) * R[n + 1]! + b));
            next[b] = [next[b]![0] + p[0], next[b]![1] + p[1]];
          }
        }
        row = next;
      }
      s = row[0]!;
    }
    out[2 * e] = s[0];
    out[2 * e + 1] = s[1];
  }
  return out;
}

/** y = W·x on a packed spectrum [2, k…, B, in] (float64 loops), W from refWeight. */
function refContract(w: FactorizedSpectralWeight, W: Float64Array, X: Float64Array, B: number): Float64Array {
  const M = shapeSize(w.modes);
  const Ci = w.inChannels;
  const Co = w.outChannels;
  const half = M * B * Co;
  const Y = new Float64Array(2 * half);
  const xh = M * B * Ci;
  for (let m = 0; m < M; m++) {
    for (let b = 0; b < B; b++) {
      for (let o = 0; o < Co; o++) {
        let s: C = [0, 0];
        for (let i = 0; i < Ci; i++) {
          if (w.separable && i !== o) continue;
          const xi = (m * B + b) * Ci + i;
          const wi = w.separable ? i * M + m : (i * Co + o) * M + m;
          const p = cmul([X[xi]!, X[xh + xi]!], at(W, wi));
          s = [s[0] + p[0], s[1] + p[1]];
        }
        const yi = (m * B + b) * Co + o;
        Y[yi] = s[0];
        Y[half + yi] = s[1];
      }
    }
  }
  return Y;
}

/** A packed complex tensor of random values (never zeros). */
function spectrum(modes: readonly number[], B: number, C: number, dtype: DType = 'float64'): Tensor {
  return rng.fillNormal(Tensor.empty([2, ...modes, B, C], dtype));
}

function forward(w: FactorizedSpectralWeight, X: Tensor, impl?: FactorizedImplementation): Float64Array {
  return noGrad(() => tidy(() => w.contractWith(Variable.constant(X), w.packedFactors(), impl).value.toFloat64()));
}

const CASES = [
  { tag: '2-D', modes: [4, 3], separable: false },
  { tag: '1-D', modes: [5], separable: false },
  { tag: '1-D separable', modes: [5], separable: true },
  { tag: '3-D', modes: [3, 2, 2], separable: false },
  { tag: '2-D separable', modes: [4, 3], separable: true },
  { tag: '3-D separable', modes: [2, 3, 2], separable: true },
] as const;

describe('factorised spectral weights', () => {
  it('ranks and real parameter counts match hand computations', () => {
    // (8, 8, 6, 4): Π = 1536, Σ = 26.
    // CP 0.1: R = round(153.6 / 26 = 5.91) = 6; 6 + 6·26 = 162 complex → 324 real.
    // Tucker 0.1: c solves 1536c⁴ + 180c = 153.6 → c ≈ 0.4626; (8c, 8c, 6c, 4c) = (3.70, 3.70, 2.78, 1.85)
    //   → (4, 4, 3, 2); core 96 + factors 32 + 32 + 18 + 8 = 186 complex → 372 real.
    // TT 0.1: avg (8, 7, 5), a = 8·8·7 + 7·6·5 = 658, b = 8·8 + 4·5 = 84, t = (−84 + √(84² + 4·658·153.6)) / 1316
    //   = 0.4235; (3.39, 2.96, 2.12) → (1, 3, 3, 2, 1); 24 + 72 + 36 + 8 = 140 complex → 280 real.
    const s1 = [8, 8, 6, 4];
    assert.equal(cpRank(s1, 0.1), 6);
    assert.deepEqual(tuckerRanks(s1, 0.1), [4, 4, 3, 2]);
    assert.deepEqual(ttRanks(s1, 0.1), [1, 3, 3, 2, 1]);
    assert.equal(factorizedParameterCount(s1, 'cp', 0.1), 324);
    assert.equal(factorizedParameterCount(s1, 'Tucker', 0.1), 372);
    assert.equal(factorizedParameterCount(s1, 'TT', 0.1), 280);
    assert.equal(factorizedParameterCount(s1, 'dense', 0.1), 2 * 1536);
    // (16, 16, 8, 5) (hidden 16, n_modes (8, 10)): Π = 10240, Σ = 45.
    // CP 0.1: round(1024 / 45 = 22.76) = 23; 23 + 23·45 = 1058 → 2116.
    // Tucker 0.1: 10240c⁴ + 601c = 1024 → c ≈ 0.5141; (8.23, 8.23, 4.11, 2.57) → (8, 8, 4, 3);
    //   768 + 128 + 128 + 32 + 15 = 1071 → 2142.
    // TT 0.1: avg (16, 12, 6.5), a = 16·16·12 + 12·8·6.5 = 3696, b = 16·16 + 5·6.5 = 288.5,
    //   t = 0.4888; (7.82, 5.87, 3.18) → (1, 8, 6, 3, 1); 128 + 768 + 144 + 15 = 1055 → 2110.
    const s2 = [16, 16, 8, 5];
    assert.deepEqual(factorizedRanks(s2, 'cp', 0.1), [23]);
    assert.deepEqual(factorizedRanks(s2, 'tucker', 0.1), [8, 8, 4, 3]);
    assert.deepEqual(factorizedRanks(s2, 'tt', 0.1), [1, 8, 6, 3, 1]);
    assert.equal(factorizedParameterCount(s2, 'cp', 0.1), 2116);
    assert.equal(factorizedParameterCount(s2, 'tucker', 0.1), 2142);
    assert.equal(factorizedParameterCount(s2, 'tt', 0.1), 2110);
    // separable (in, k1, k2) = (6, 4, 3), rank 0.5: CP round(36 / 13 = 2.77) = 3 → 3 + 39 = 42 → 84.
    // TT: avg (5, 3.5), a = 5·4·3.5 = 70, b = 6·5 + 3·3.5 = 40.5, t = (−40.5 + √(1640.25 + 10080)) / 140 = 0.484;
    //   (2.42, 1.69) → (1, 2, 2, 1); 12 + 16 + 6 = 34 → 68.
    assert.equal(factorizedParameterCount([6, 4, 3], 'cp', 0.5), 84);
    assert.deepEqual(ttRanks([6, 4, 3], 0.5), [1, 2, 2, 1]);
    assert.equal(factorizedParameterCount([6, 4, 3], 'tt', 0.5), 68);
    // explicit ranks as given; the layer counts the same parameters
    assert.equal(factorizedParameterCount(s1, 'tucker', [2, 2, 2, 2]), 2 * (16 + 2 * 26));
    for (const kind of KINDS) {
      const w = new FactorizedSpectralWeight(8, 8, [6, 4], { factorization: kind, rank: 0.1, rng });
      assert.equal(w.parameters.reduce((a, [, p]) => a + p.size, 0), factorizedParameterCount(s1, kind, 0.1), kind);
      for (const [, p] of w.parameters) p.release();
    }
  });

  for (const kind of [...KINDS, 'dense'] as const) {
    // 'dense' as a factorised weight is neuralop's separable dense weight (in, k1…kd)
    for (const c of kind === 'dense' ? CASES.filter((x) => x.separable) : CASES) {
      it(`${kind} ${c.tag}: factorized = reconstructed = dense with the reconstructed weight = float64 loops (1e-12)`, () => {
        const Ci = 4;
        const Co = c.separable ? 4 : 3;
        const B = 2;
        const w = new FactorizedSpectralWeight(Ci, Co, c.modes, { factorization: kind, rank: 0.6, separable: c.separable, rng, dtype: 'float64' });
        const X = spectrum(c.modes, B, Ci);
        const fac = forward(w, X, 'factorized');
        const rec = forward(w, X, 'reconstructed');
        const sd = new Map(w.exportState());
        const Wref = refWeight(w, sd);
        const want = refContract(w, Wref, X.toFloat64(), B);
        assert.ok(relL2(fac, want) < 1e-12, `factorized vs loops ${relL2(fac, want)}`);
        assert.ok(relL2(rec, want) < 1e-12, `reconstructed vs loops ${relL2(rec, want)}`);
        // the reconstructed weight itself (mode-major) against the loops' weight (neuralop's layout)
        const Wm = noGrad(() => tidy(() => w.reconstruct().value.toFloat64()));
        const M = shapeSize(c.modes);
        const perm = new Float64Array(Wm.length);
        const Wsz = Wm.length / 2;
        for (let m = 0; m < M; m++) for (let i = 0; i < Ci; i++) for (let o = 0; o < (c.separable ? 1 : Co); o++) {
          const src = c.separable ? i * M + m : (i * Co + o) * M + m;
          const dst = c.separable ? m * Ci + i : (m * Ci + i) * Co + o;
          perm[dst] = Wref[2 * src]!;
          perm[Wsz + dst] = Wref[2 * src + 1]!;
        }
        assert.ok(relL2(Wm, perm) < 1e-13, `reconstruct() vs loops ${relL2(Wm, perm)}`);
        if (!c.separable) {
          // DenseSpectralWeight loaded with the reconstructed weight (its own state-dict layout)
          const dense = new DenseSpectralWeight(Ci, Co, c.modes, rng, 'float64');
          const wt = Tensor.fromArray(Wref, [Ci, Co, ...c.modes, 2], 'float64');
          dense.importState(new Map([['weight', wt]]));
          const yd = noGrad(() => tidy(() => dense.contract(Variable.constant(X)).value.toFloat64()));
          assert.ok(relL2(fac, yd) < 1e-12, `factorized vs dense ${relL2(fac, yd)}`);
          wt.release();
          dense.re.release();
          dense.im.release();
        }
        for (const [, t] of sd) t.release();
        X.release();
        for (const [, p] of w.parameters) p.release();
      });
    }
  }

  it('in float16 / bfloat16 the spectrum contraction stays within a few unit roundoffs of float64 (both implementations)', (t) => {
    // float32 factors; the float64 reference reads the same (16-bit) spectrum values and factors, so
    // the error is the contraction's own: every pairwise intermediate is 16-bit in 'factorized' (a few
    // roundings, each ≤ u), the weight is rounded once in 'reconstructed'. Measured (relative L2 / u)
    // over the 18 cases, in two runs with different random draws: factorized 0.66–2.04 (fp16 ≤ 1.48,
    // bf16 ≤ 2.04), reconstructed 0.39–0.70. Bounds: < 5u (2.5× the largest), > u/5 (a path silently
    // left in f32 gives ~1e-7, i.e. < 0.001u in fp16).
    const worst: Record<string, number> = {};
    const least: Record<string, number> = {};
    for (const kind of KINDS) {
      for (const c of CASES) {
        const Ci = 8;
        const w = new FactorizedSpectralWeight(Ci, c.separable ? Ci : 6, c.modes, { factorization: kind, rank: 0.5, separable: c.separable, rng });
        for (const half of ['float16', 'bfloat16'] as const) {
          const u = unitRoundoff(half);
          const Xh = spectrum(c.modes, 3, Ci, half);
          const X64 = Tensor.fromArray(Xh.toFloat64(), Xh.shape, 'float64');
          const want = forward(w, X64, 'factorized');
          for (const impl of ['factorized', 'reconstructed'] as const) {
            const got = forward(w, Xh, impl);
            const e = relL2(got, want) / u;
            const key = `${half} ${impl}`;
            worst[key] = Math.max(worst[key] ?? 0, e);
            least[key] = Math.min(least[key] ?? Infinity, e);
            assert.ok(e < 5 && e > 0.2, `${kind} ${c.tag} ${key}: error ${e} u`);
          }
          Xh.release();
          X64.release();
        }
        for (const [, p] of w.parameters) p.release();
      }
    }
    t.diagnostic(`error / u, largest: ${JSON.stringify(worst)}; smallest: ${JSON.stringify(least)}`);
  });

  for (const kind of KINDS) {
    for (const c of CASES.filter((k) => ['2-D', '3-D', '2-D separable'].includes(k.tag))) {
      for (const impl of ['factorized', 'reconstructed'] as const) {
        it(`${kind} ${c.tag} ${impl}: gradients of the spectrum and of every factor match finite differences (float64)`, () => {
          const Ci = 3;
          const w = new FactorizedSpectralWeight(Ci, c.separable ? Ci : 2, c.modes, { factorization: kind, rank: 0.6, separable: c.separable, rng, dtype: 'float64' });
          const X = spectrum(c.modes, 2, Ci);
          // random factors (the CP weights are ones at init)
          const facs = w.factors.map((f) => rng.fillNormal(Tensor.empty([2, ...f.termShape], 'float64')));
          const r = gradcheck(([x, ...fs]) => w.contractWith(x!, fs, impl), [X, ...facs], { samples: 6 });
          r.maxRelErr.forEach((e, k) => assert.ok(e < 1e-6, `${k === 0 ? 'spectrum' : w.factors[k - 1]!.name}: gradient error ${e}`));
          for (const t of [X, ...facs]) t.release();
          for (const [, p] of w.parameters) p.release();
        });
      }
    }
  }

  for (const kind of KINDS) {
    it(`${kind}: a SpectralConv's parameter gradients (re/im pairs through the FFT) match finite differences (float64)`, () => {
      const conv = new SpectralConv(3, 3, { nModes: [4, 4], weight: factorizedWeight({ factorization: kind, rank: 0.5 }), rng, dtype: 'float64' });
      const x = rng.fillNormal(Tensor.empty([2, 3, 6, 8], 'float64'));
      // the output is linear in each single entry (multilinear weights), so a large step is exact
      checkParameterGradients(conv, () => conv.forward(Variable.constant(x)), { rng, eps: 1e-3, tol: 1e-8, floor: 1e-12, samples: 2, gmaxShare: 1e-3, nonzero: true, label: kind });
      x.release();
      conv.release();
    });
  }

  it("init: the reconstructed weight's std is the dense init std √(2/(in+out)) (CP, Tucker, TT)", (t) => {
    // in = out = 16, modes (8, 5), rank 0.1: 10240 complex entries per draw. σ_f is chosen so that
    // E|W|² = std² exactly (TT: σ_f = (std/√ΠR)^(1/N), not tltorch's (std/ΠR)^(1/N), which would
    // leave the reconstructed TT weight √(Π R) smaller than the dense init). One draw's entries share
    // their factors, so a single draw's std scatters widely (measured over 40 draws: CP 0.84–1.18,
    // Tucker 0.64–1.31, TT 0.74–1.22 of the expected value); the rms over 30 draws is the estimate
    // (measured CP 1.019, Tucker 1.004, TT 0.975 over 40), required within 8 %.
    const std = Math.sqrt(2 / 32);
    const got: Record<string, number> = {};
    for (const kind of KINDS) {
      let ratio2 = 0;
      const draws = 30;
      for (let s = 0; s < draws; s++) {
        const w = new FactorizedSpectralWeight(16, 16, [8, 5], { factorization: kind, rank: 0.1, rng: new Rng(100 + s) });
        const W = noGrad(() => tidy(() => w.reconstruct('float64').value.toFloat64()));
        const emp2 = W.reduce((a, v) => a + v * v, 0) / (W.length / 2);
        const expect2 = std ** 2;
        ratio2 += emp2 / expect2 / draws;
        // CP weights start at λ = 1 exactly (re 1, im 0), as tltorch's normal_ sets them
        if (kind === 'cp') assert.ok(w.factors[0]!.re.value.toFloat64().every((v) => v === 1) && w.factors[0]!.im.value.toFloat64().every((v) => v === 0));
        for (const [, p] of w.parameters) p.release();
      }
      got[kind] = Math.sqrt(ratio2);
      assert.ok(Math.abs(got[kind]! - 1) < 0.08, `${kind}: rms std / expected ${got[kind]}`);
    }
    t.diagnostic(`rms empirical / expected std over 30 draws: ${JSON.stringify(got)}`);
  });

  it("state dict: descriptive names, [..., 2] re/im layout, tltorch's factor-list names load, shapes are checked", () => {
    const make = (kind: Kind, seed: number) => new SpectralConv(4, 4, { nModes: [4, 6], weight: factorizedWeight({ factorization: kind, rank: 0.3 }), rng: new Rng(seed) });
    const names: Record<Kind, string[]> = {
      cp: ['weight.weights', 'weight.factor_in', 'weight.factor_out', 'weight.factor_mode0', 'weight.factor_mode1', 'bias'],
      tucker: ['weight.core', 'weight.factor_in', 'weight.factor_out', 'weight.factor_mode0', 'weight.factor_mode1', 'bias'],
      tt: ['weight.core_in', 'weight.core_out', 'weight.core_mode0', 'weight.core_mode1', 'bias'],
    };
    const x = rng.fillNormal(Tensor.empty([2, 4, 8, 8]));
    for (const kind of KINDS) {
      const a = make(kind, 1);
      const b = make(kind, 2);
      const sd = a.stateDict();
      assert.deepEqual([...sd.keys()], names[kind]);
      const w = a.weight as FactorizedSpectralWeight;
      for (const f of w.factors) assert.deepEqual(sd.get(f.name)!.shape, [...f.shape, 2]);
      if (kind === 'tt') assert.deepEqual(sd.get('weight.core_in')!.shape, [1, 4, w.ranks[1], 2]);
      const ya = noGrad(() => tidy(() => a.forward(Variable.constant(x)).value.toFloat64()));
      // tltorch's names: the factor list (in, out, modes) as factors.<j> and as FactorList's factors.factor_<j>
      for (const style of ['factors.', 'factors.factor_']) {
        const renamed = new Map<string, Tensor>();
        const listed = w.factors.filter((f) => !['weight.weights', 'weight.core'].includes(f.name));
        for (const [k, v] of sd) {
          const j = listed.findIndex((f) => f.name === k);
          renamed.set(j >= 0 ? `weight.${style}${j}` : k, v);
        }
        const c = make(kind, 3);
        c.loadStateDict(renamed);
        const yc = noGrad(() => tidy(() => c.forward(Variable.constant(x)).value.toFloat64()));
        assert.deepEqual(yc, ya, `${kind} ${style}`);
        c.release();
      }
      b.loadStateDict(sd);
      const yb = noGrad(() => tidy(() => b.forward(Variable.constant(x)).value.toFloat64()));
      assert.deepEqual(yb, ya);
      // a wrong shape is a named error before anything is written
      const first = w.factors[0]!;
      const bad = Tensor.zeros([...first.shape.map((s) => s + 1), 2]);
      const before = b.stateDict();
      assert.throws(() => b.loadStateDict(new Map([...sd, [first.name, bad]])), new RegExp(`loadStateDict: '${first.name.replace('.', '\\.')}' of a ${kind} spectral weight has shape`));
      const after = b.stateDict();
      for (const [k, v] of before) assert.deepEqual(after.get(k)!.toArray(), v.toArray(), `${k} unchanged`);
      // a name and its tltorch alias together
      const both = new Map([...sd, [`weight.factors.0`, sd.get(w.factors.find((f) => f.name.endsWith('_in'))!.name)!]]);
      assert.throws(() => b.loadStateDict(both), /both '.*' and its alias 'weight\.factors\.0' are given/);
      for (const m of [sd, before, after]) for (const v of m.values()) v.release();
      bad.release();
      a.release();
      b.release();
    }
    x.release();
  });

  it('bad options are named RangeErrors before any allocation', () => {
    const live = ledger.snapshot().live;
    const mk = (o: Parameters<typeof factorizedWeight>[0], ci = 4, co = 4) => factorizedWeight(o)({ inChannels: ci, outChannels: co, modes: [4, 3], rng, dtype: 'float32' });
    assert.throws(() => mk({ factorization: 'cp', rank: 0 }), /factorized weight: rank must be a positive fraction of the dense size, got 0/);
    assert.throws(() => mk({ factorization: 'cp', rank: -0.5 }), /rank must be a positive fraction of the dense size, got -0.5/);
    assert.throws(() => mk({ factorization: 'cp', rank: Number.NaN }), /rank must be a positive fraction/);
    assert.throws(() => mk({ factorization: 'cp', rank: 0.001 }), /rank 0.001 gives a CP rank of 0 for a weight of shape \(4, 4, 4, 3\), an empty factor/);
    assert.throws(() => mk({ factorization: 'tucker', rank: [2, 0, 2, 2] }), /rank \[2,0,2,2\] must list 4 positive integers .*an empty factor/);
    assert.throws(() => mk({ factorization: 'tt', rank: [2, 2, 2, 2, 1] }), /must start and end with 1/);
    assert.throws(() => mk({ factorization: 'svd' }), /factorized weight: factorization must be one of dense, cp, tucker, tt \(any case\), got "svd"/);
    assert.throws(() => mk({ factorization: 'cp', implementation: 'lazy' as FactorizedImplementation }), /implementation must be one of factorized, reconstructed, got "lazy"/);
    assert.throws(() => mk({ factorization: 'tucker', separable: true }, 4, 5), /a separable weight needs in_channels == out_channels, got 4 and 5/);
    assert.equal(ledger.snapshot().live, live, 'nothing allocated');
    const w = mk({ factorization: 'CP' }) as FactorizedSpectralWeight;
    assert.throws(() => noGrad(() => tidy(() => w.contract(Variable.constant(Tensor.zeros([2, 4, 3, 1, 5]))))), /cp spectral weight: spectrum \[2, 4, 3, 1, 5\] is not packed \[2, 4, 3, batch, 4\]/);
    assert.equal(w.kind, 'cp');
    for (const [, p] of w.parameters) p.release();
    const dense = mk({ factorization: 'Dense' });
    assert.ok(dense instanceof DenseSpectralWeight);
    for (const [, p] of dense.parameters) p.release();
  });

  it('a forward and backward release every tensor they allocate (ledger) and plan each contraction once', () => {
    for (const kind of KINDS) {
      for (const impl of ['factorized', 'reconstructed'] as const) {
        const conv = new SpectralConv(4, 4, { nModes: [4, 4], weight: factorizedWeight({ factorization: kind, rank: 0.4, implementation: impl }), rng });
        const x = rng.fillNormal(Tensor.empty([2, 4, 8, 8]));
        // the second pass of each precision is measured (the first fills the FFT plan caches)
        for (const [pass, precision] of (['full', 'full', 'mixed', 'mixed'] as const).entries()) {
          conv.precision = precision;
          conv.zeroGrad();
          const live = ledger.snapshot().live;
          const misses = contractPlanCacheStats().misses;
          const y = tidy(() => conv.forward(Variable.constant(x)));
          const seed = Tensor.full(y.shape, 1, y.dtype, 'gradient');
          backward(y, seed);
          seed.release();
          y.release();
          const grads = conv.parameters().reduce((a, p) => a + p.grad!.nbytes, 0);
          if (pass % 2 === 1) {
            assert.equal(ledger.snapshot().live - live, grads, `${kind} ${impl} ${precision}: only the gradients stay`);
            // every contraction, forward and backward, was planned once (on the first pass)
            assert.equal(contractPlanCacheStats().misses, misses, `${kind} ${impl} ${precision}: no contraction planned again`);
          }
          conv.zeroGrad();
        }
        x.release();
        conv.release();
      }
    }
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DType } from '../../src/core/dtype.js';
import { Rng } from '../../src/core/rng.js';
import { ComplexTensor, Tensor } from '../../src/core/tensor.js';
import { type SphereGrid, latitudeGrid, legendreTable } from '../../src/fft/legendre.js';
import { isht, ishtModes, ishtModesAdjoint, sht, shtModes, shtModesAdjoint, shtPlan, velocityFromVorticityDivergence, vorticityDivergence } from '../../src/fft/sht.js';
import { relL2, withThreads } from '../helpers.js';

const rng = new Rng(4242);

/** Random band-limited coefficients [batch, lmax, mmax] (zero for m > l, real at m = 0). */
function randomCoefficients(batch: number, lmax: number, mmax: number, dtype: DType = 'float64'): ComplexTensor {
  const re = new Float64Array(batch * lmax * mmax);
  const im = new Float64Array(batch * lmax * mmax);
  for (let b = 0; b < batch; b++) for (let l = 0; l < lmax; l++) for (let m = 0; m < mmax && m <= l; m++) {
    const i = (b * lmax + l) * mmax + m;
    re[i] = rng.normal();
    im[i] = m === 0 ? 0 : rng.normal();
  }
  return new ComplexTensor(Tensor.fromArray(re, [batch, lmax, mmax], dtype), Tensor.fromArray(im, [batch, lmax, mmax], dtype));
}

/** f(θ_k, φ_j) = Σ_l [c_l0·P̄_l0 + Σ_{m>0} 2·Re(c_lm·e^{imφ})·P̄_lm], evaluated directly in float64. */
function synthesisDirect(c: ComplexTensor, nlat: number, nlon: number, grid: SphereGrid): Float64Array {
  const [batch, lmax, mmax] = c.shape as [number, number, number];
  const g = latitudeGrid(nlat, grid);
  const p = legendreTable(mmax, lmax, g.theta);
  const re = c.re.toFloat64();
  const im = c.im.toFloat64();
  const out = new Float64Array(batch * nlat * nlon);
  for (let b = 0; b < batch; b++) for (let k = 0; k < nlat; k++) for (let j = 0; j < nlon; j++) {
    const phi = (2 * Math.PI * j) / nlon;
    let s = 0;
    for (let m = 0; m < mmax; m++) for (let l = m; l < lmax; l++) {
      const i = (b * lmax + l) * mmax + m;
      const v = re[i]! * Math.cos(m * phi) - im[i]! * Math.sin(m * phi);
      s += (m === 0 ? 1 : 2) * v * p[(m * lmax + l) * nlat + k]!;
    }
    out[(b * nlat + k) * nlon + j] = s;
  }
  return out;
}

/** A random grid and a truncation its quadrature integrates exactly (band-limited round trips). */
function randomCase(grid: SphereGrid): { nlat: number; nlon: number; lmax: number; mmax: number } {
  const nlat = 3 + rng.int(22);
  const lExact = grid === 'equiangular' ? Math.floor((nlat + 1) / 2) : nlat;
  const lmax = 1 + rng.int(lExact);
  const mmax = 1 + rng.int(lmax);
  // nlon > 2(mmax − 1): the longitude samples resolve every kept order (any size, not only powers of 2)
  const nlon = 2 * mmax - 1 + rng.int(12);
  return { nlat, nlon: Math.max(nlon, 1), lmax, mmax };
}

function tol(dtype: DType): number {
  return dtype === 'float64' ? 1e-12 : dtype === 'float32' ? 2e-6 : dtype === 'float16' ? 3e-3 : 2.5e-2;
}

describe('spherical harmonic transforms', () => {
  it('inverse equals the harmonic series evaluated directly (conventions: orthonormal, no Condon–Shortley phase)', () => {
    for (const grid of ['equiangular', 'legendre-gauss'] as const) {
      const plan = shtPlan(9, 16, { lmax: 5, mmax: 4, grid });
      const c = randomCoefficients(2, 5, 4);
      const f = isht(c, plan);
      assert.deepEqual(f.shape, [2, 9, 16]);
      assert.ok(relL2(f.toFloat64(), synthesisDirect(c, 9, 16, grid)) < 1e-13);
    }
  });

  it('round trip is exact to float64 rounding for band-limited fields on both grids (random shapes)', () => {
    for (let t = 0; t < 16; t++) {
      const grid: SphereGrid = t % 2 === 0 ? 'equiangular' : 'legendre-gauss';
      const { nlat, nlon, lmax, mmax } = randomCase(grid);
      const plan = shtPlan(nlat, nlon, { lmax, mmax, grid });
      const batch = 1 + rng.int(3);
      const c = randomCoefficients(batch, lmax, mmax);
      const f = isht(c, plan);
      const c2 = sht(f, plan);
      assert.deepEqual(c2.shape, [batch, lmax, mmax]);
      const err = Math.max(relL2(c2.re.toFloat64(), c.re.toFloat64()), relL2(c2.im.toFloat64(), c.im.toFloat64()) || 0);
      assert.ok(err < 1e-12, `${grid} ${nlat}×${nlon} lmax ${lmax} mmax ${mmax}: coefficient error ${err}`);
      const f2 = isht(c2, plan);
      assert.ok(relL2(f2.toFloat64(), f.toFloat64()) < 1e-12);
    }
  });

  it('default truncation on a 32×64 equiangular grid is lmax = mmax = 16, and the round trip holds', () => {
    const plan = shtPlan(32, 64);
    assert.equal(plan.lmax, 16);
    assert.equal(plan.mmax, 16);
    const c = randomCoefficients(1, 16, 16);
    const c2 = sht(isht(c, plan), plan);
    assert.ok(relL2(c2.re.toFloat64(), c.re.toFloat64()) < 1e-12);
  });

  it('float32 and 16-bit inputs/outputs match the float64 transform within their precision, on 1 and 2 threads', () => {
    const plan = shtPlan(24, 48, { lmax: 12, mmax: 12, grid: 'legendre-gauss' });
    const x64 = Tensor.fromArray(rng.normalArray(6 * 24 * 48), [6, 24, 48], 'float64');
    const ref = shtModes(x64, plan);
    const refRe = ref.re.toFloat64();
    const refIm = ref.im.toFloat64();
    const c64 = randomCoefficients(6, 12, 12);
    const fref = isht(c64, plan).toFloat64();
    for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
      for (const threads of [1, 2]) {
        withThreads(threads, () => {
          const x = Tensor.fromArray(x64.toFloat64(), x64.shape, dtype);
          // 16-bit input and output, f32 work in between
          const Y = shtModes(x, plan);
          assert.equal(Y.dtype, dtype);
          const e = Math.max(relL2(Y.re.toFloat64(), refRe), relL2(Y.im.toFloat64(), refIm));
          assert.ok(e < tol(dtype), `${dtype} forward, ${threads} threads: ${e}`);
          const c = new ComplexTensor(Tensor.fromArray(c64.re.toFloat64(), c64.shape, dtype), Tensor.fromArray(c64.im.toFloat64(), c64.shape, dtype));
          const f = isht(c, plan);
          assert.equal(f.dtype, dtype);
          const e2 = relL2(f.toFloat64(), fref);
          assert.ok(e2 < tol(dtype), `${dtype} inverse, ${threads} threads: ${e2}`);
          if (dtype !== 'float32') {
            // wholly in half: the longitude FFT's output is stored in the half type too
            const Yh = shtModes(x, plan, { work: dtype });
            const eh = Math.max(relL2(Yh.re.toFloat64(), refRe), relL2(Yh.im.toFloat64(), refIm));
            assert.ok(eh < 2 * tol(dtype), `${dtype} all-half forward: ${eh}`);
          }
        });
      }
    }
  });

  it('adjoints satisfy ⟨T x, G⟩ = ⟨x, T* G⟩ (random grids, float64)', () => {
    for (let t = 0; t < 6; t++) {
      const grid: SphereGrid = t % 2 === 0 ? 'equiangular' : 'legendre-gauss';
      const nlat = 4 + rng.int(12);
      const nlon = 4 + rng.int(14);
      const plan = shtPlan(nlat, nlon, { lmax: 1 + rng.int(nlat), mmax: 1 + rng.int(Math.floor(nlon / 2) + 1), grid });
      const R = 2;
      const x = Tensor.fromArray(rng.normalArray(R * nlat * nlon), [R, nlat, nlon], 'float64');
      const G = new ComplexTensor(
        Tensor.fromArray(rng.normalArray(plan.mmax * plan.lmax * R), [plan.mmax, plan.lmax, R], 'float64'),
        Tensor.fromArray(rng.normalArray(plan.mmax * plan.lmax * R), [plan.mmax, plan.lmax, R], 'float64'),
      );
      const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
      const Tx = shtModes(x, plan);
      const lhs = dot(Tx.re.toFloat64(), G.re.toFloat64()) + dot(Tx.im.toFloat64(), G.im.toFloat64());
      const rhs = dot(x.toFloat64(), shtModesAdjoint(G, plan).toFloat64());
      assert.ok(Math.abs(lhs - rhs) < 1e-10 * (Math.abs(lhs) + 1), `forward adjoint: ${lhs} vs ${rhs}`);
      const Sx = ishtModes(G, plan);
      const lhs2 = dot(Sx.toFloat64(), x.toFloat64());
      const A = ishtModesAdjoint(x, plan);
      const rhs2 = dot(A.re.toFloat64(), G.re.toFloat64()) + dot(A.im.toFloat64(), G.im.toFloat64());
      assert.ok(Math.abs(lhs2 - rhs2) < 1e-10 * (Math.abs(lhs2) + 1), `inverse adjoint: ${lhs2} vs ${rhs2}`);
    }
  });

  it('names bad plans and shapes', () => {
    assert.throws(() => shtPlan(16, 32, { lmax: 17 }), /lmax must be an integer in 1…16 \(nlat\)/);
    assert.throws(() => shtPlan(16, 32, { mmax: 18 }), /mmax must be an integer in 1…17 \(nlon\/\/2 \+ 1\)/);
    assert.throws(() => shtPlan(16, 32, { grid: 'healpix' as never }), /grid must be one of equiangular, legendre-gauss/);
    const plan = shtPlan(16, 32);
    assert.throws(() => shtModes(Tensor.zeros([2, 16, 30], 'float32'), plan), /field \[2, 16, 30\] does not end in the plan's grid \[16, 32\]/);
    assert.throws(() => ishtModes(ComplexTensor.zeros([3, 3, 1], 'float32'), plan), /not mode-major \[8, 8, batch\]/);
  });
});

describe('vector spherical harmonic transform (vorticity/divergence ↔ velocity)', () => {
  /** A field [1, nlat, nlon] from f(θ, φ). */
  function field(nlat: number, nlon: number, grid: SphereGrid, f: (theta: number, phi: number) => number): Tensor {
    const g = latitudeGrid(nlat, grid);
    const a = new Float64Array(nlat * nlon);
    for (let k = 0; k < nlat; k++) for (let j = 0; j < nlon; j++) a[k * nlon + j] = f(g.theta[k]!, (2 * Math.PI * j) / nlon);
    return Tensor.fromArray(a, [1, nlat, nlon], 'float64');
  }
  /** Coefficient (m, l) of a mode-major [mmax, lmax, 1] tensor. */
  const coef = (c: ComplexTensor, m: number, l: number) => {
    const L = c.shape[1]!;
    return [c.re.toFloat64()[m * L + l]!, c.im.toFloat64()[m * L + l]!] as const;
  };
  const others = (c: ComplexTensor, keep: [number, number]) => {
    const L = c.shape[1]!;
    let worst = 0;
    for (const t of [c.re.toFloat64(), c.im.toFloat64()]) t.forEach((v, i) => {
      if (!(Math.floor(i / L) === keep[0] && i % L === keep[1])) worst = Math.max(worst, Math.abs(v));
    });
    return worst;
  };

  for (const grid of ['equiangular', 'legendre-gauss'] as const) {
    it(`solid-body rotation u = cos(lat) has vorticity 2·sin(lat) and no divergence; the velocity comes back (${grid})`, () => {
      const plan = shtPlan(17, 32, { lmax: 8, mmax: 8, grid });
      const u = field(17, 32, grid, (t) => Math.sin(t));
      const v = field(17, 32, grid, () => 0);
      const { vrt, div } = vorticityDivergence(u, v, plan);
      // 2 cos θ = 2·√(4π/3)·P̄_1^0
      const want = 2 * Math.sqrt((4 * Math.PI) / 3);
      assert.ok(Math.abs(coef(vrt, 0, 1)[0] - want) < 1e-12, `ζ_1^0 = ${coef(vrt, 0, 1)[0]}, expected ${want}`);
      assert.ok(others(vrt, [0, 1]) < 1e-12 && others(div, [-1, -1]) < 1e-12);
      const back = velocityFromVorticityDivergence(vrt, div, plan);
      assert.ok(relL2(back.u.toFloat64(), u.toFloat64()) < 1e-12);
      assert.ok(back.v.toFloat64().every((x) => Math.abs(x) < 1e-12));
    });

    it(`a potential flow v = cos(lat) (χ = cos θ) has divergence −2·sin(lat) and no vorticity (${grid})`, () => {
      const plan = shtPlan(17, 32, { lmax: 8, mmax: 8, grid });
      const { vrt, div } = vorticityDivergence(field(17, 32, grid, () => 0), field(17, 32, grid, (t) => Math.sin(t)), plan);
      const want = -2 * Math.sqrt((4 * Math.PI) / 3);
      assert.ok(Math.abs(coef(div, 0, 1)[0] - want) < 1e-12, `δ_1^0 = ${coef(div, 0, 1)[0]}`);
      assert.ok(others(div, [0, 1]) < 1e-12 && others(vrt, [-1, -1]) < 1e-12);
    });
  }

  it('a rotated (non-zonal) flow: u = cos(lat)·… from ψ = P̄_1^1 has ζ = −2ψ exactly', () => {
    // ψ = 2·Re(c·P̄_1^1 e^{iφ}) with c = 0.3 − 0.7i: its vorticity is ∇²ψ = −2ψ (degree 1)
    const plan = shtPlan(24, 40, { lmax: 10, mmax: 10, grid: 'legendre-gauss' });
    const vrt = ComplexTensor.zeros([10, 10, 1], 'float64');
    const div = ComplexTensor.zeros([10, 10, 1], 'float64');
    const re = vrt.re.toFloat64();
    const im = vrt.im.toFloat64();
    re[1 * 10 + 1] = -2 * 0.3;
    im[1 * 10 + 1] = -2 * -0.7;
    vrt.re.set(re);
    vrt.im.set(im);
    const { u, v } = velocityFromVorticityDivergence(vrt, div, plan);
    // ψ = 2·P̄_1^1(θ)·(0.3 cos φ + 0.7 sin φ), P̄_1^1 = √(3/8π) sin θ: u = ∂ψ/∂θ, v = (1/sin θ)∂ψ/∂φ
    const c = 2 * Math.sqrt(3 / (8 * Math.PI));
    const uw = field(24, 40, 'legendre-gauss', (t, p) => c * Math.cos(t) * (0.3 * Math.cos(p) + 0.7 * Math.sin(p)));
    const vw = field(24, 40, 'legendre-gauss', (_t, p) => c * (-0.3 * Math.sin(p) + 0.7 * Math.cos(p)));
    assert.ok(relL2(u.toFloat64(), uw.toFloat64()) < 1e-12, `u ${relL2(u.toFloat64(), uw.toFloat64())}`);
    assert.ok(relL2(v.toFloat64(), vw.toFloat64()) < 1e-12, `v ${relL2(v.toFloat64(), vw.toFloat64())}`);
  });

  it('round trip vorticity/divergence → velocity → vorticity/divergence for random band-limited fields (both grids)', () => {
    for (const grid of ['equiangular', 'legendre-gauss'] as const) {
      const nlat = grid === 'equiangular' ? 33 : 17;
      const plan = shtPlan(nlat, 36, { lmax: 16, mmax: 16, grid });
      // degrees 1…14: the velocity (degree ≤ 15) times the derivative tables stays in the exact range
      const make = () => {
        const c = randomCoefficients(2, 16, 16);
        const re = c.re.toFloat64();
        const im = c.im.toFloat64();
        for (let i = 0; i < re.length; i++) {
          const l = Math.floor(i / 16) % 16;
          if (l === 0 || l >= 15) re[i] = im[i] = 0;
        }
        // mode-major [mmax, lmax, R]
        const mm = (a: Float64Array) => {
          const o = new Float64Array(a.length);
          for (let b = 0; b < 2; b++) for (let l = 0; l < 16; l++) for (let m = 0; m < 16; m++) o[(m * 16 + l) * 2 + b] = a[(b * 16 + l) * 16 + m]!;
          return Tensor.fromArray(o, [16, 16, 2], 'float64');
        };
        return new ComplexTensor(mm(re), mm(im));
      };
      const vrt = make();
      const div = make();
      const { u, v } = velocityFromVorticityDivergence(vrt, div, plan);
      const back = vorticityDivergence(u, v, plan);
      for (const [got, want, name] of [[back.vrt, vrt, 'vorticity'], [back.div, div, 'divergence']] as const) {
        const e = Math.max(relL2(got.re.toFloat64(), want.re.toFloat64()), relL2(got.im.toFloat64(), want.im.toFloat64()));
        assert.ok(e < 1e-12, `${grid} ${name}: ${e}`);
      }
    }
  });
});

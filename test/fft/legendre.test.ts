import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { SPHERE_GRIDS, defaultTruncation, latitudeGrid, legendreDerivativeTables, legendreTable } from '../../src/fft/legendre.js';

const rng = new Rng(77);

describe('latitude grids and quadrature', () => {
  it('integrate polynomials exactly to their degree (Clenshaw–Curtis nlat − 1, Gauss–Legendre 2·nlat − 1)', () => {
    for (let t = 0; t < 12; t++) {
      const nlat = 2 + rng.int(40);
      for (const grid of SPHERE_GRIDS) {
        const g = latitudeGrid(nlat, grid);
        const maxDeg = grid === 'equiangular' ? nlat - 1 : 2 * nlat - 1;
        for (let deg = 0; deg <= maxDeg; deg++) {
          let s = 0;
          for (let j = 0; j < nlat; j++) s += g.weights[j]! * g.x[j]! ** deg;
          const exact = deg % 2 === 0 ? 2 / (deg + 1) : 0;
          assert.ok(Math.abs(s - exact) < 1e-13, `${grid} nlat ${nlat}: ∫x^${deg} = ${s}, expected ${exact}`);
        }
        for (let j = 1; j < nlat; j++) assert.ok(g.theta[j]! > g.theta[j - 1]!, 'colatitudes increase north to south');
      }
    }
  });

  it('equiangular nodes include both poles, Gauss–Legendre none', () => {
    const e = latitudeGrid(9, 'equiangular');
    assert.equal(e.theta[0], 0);
    assert.equal(e.theta[8], Math.PI);
    const g = latitudeGrid(9, 'legendre-gauss');
    assert.ok(g.theta[0]! > 0 && g.theta[8]! < Math.PI);
  });

  it('names a bad grid or size', () => {
    assert.throws(() => latitudeGrid(8, 'gaussian' as never), /grid must be one of equiangular, legendre-gauss/);
    assert.throws(() => latitudeGrid(1, 'equiangular'), /at least 2 latitudes/);
  });

  it('default truncation as torch-harmonics: triangular, (nlat+1)//2 equiangular, nlat Gauss', () => {
    assert.deepEqual(defaultTruncation(128, 256, 'equiangular'), { lmax: 64, mmax: 64 });
    assert.deepEqual(defaultTruncation(128, 256, 'legendre-gauss'), { lmax: 128, mmax: 128 });
    assert.deepEqual(defaultTruncation(32, 32, 'legendre-gauss'), { lmax: 17, mmax: 17 });
  });
});

describe('associated Legendre functions (orthonormal, no Condon–Shortley phase)', () => {
  it('match the closed forms of low degree', () => {
    const theta = Float64Array.from({ length: 7 }, () => rng.uniform() * Math.PI);
    const p = legendreTable(3, 3, theta);
    const K = theta.length;
    const at = (m: number, l: number, k: number) => p[(m * 3 + l) * K + k]!;
    for (let k = 0; k < K; k++) {
      const c = Math.cos(theta[k]!);
      const s = Math.sin(theta[k]!);
      const want: [number, number, number][] = [
        [0, 0, 1 / Math.sqrt(4 * Math.PI)],
        [0, 1, Math.sqrt(3 / (4 * Math.PI)) * c],
        [0, 2, Math.sqrt(5 / (16 * Math.PI)) * (3 * c * c - 1)],
        [1, 1, Math.sqrt(3 / (8 * Math.PI)) * s],
        [1, 2, Math.sqrt(15 / (8 * Math.PI)) * s * c],
        [2, 2, 0.25 * Math.sqrt(15 / (2 * Math.PI)) * s * s],
        [1, 0, 0], [2, 0, 0], [2, 1, 0],
      ];
      for (const [m, l, v] of want) assert.ok(Math.abs(at(m, l, k) - v) < 1e-14, `P̄_${l}^${m}(θ=${theta[k]}) = ${at(m, l, k)}, expected ${v}`);
    }
  });

  it('are orthonormal under each grid’s quadrature where it is exact', () => {
    for (const [grid, nlat] of [['equiangular', 41], ['legendre-gauss', 24], ['equiangular', 16], ['legendre-gauss', 7]] as const) {
      const g = latitudeGrid(nlat, grid);
      // exact for degree l + l' ≤ nlat − 1 (equiangular) / 2·nlat − 1 (Gauss)
      const lmax = grid === 'equiangular' ? Math.floor((nlat + 1) / 2) : nlat;
      const p = legendreTable(lmax, lmax, g.theta);
      let worst = 0;
      for (let m = 0; m < lmax; m++) {
        for (let l = m; l < lmax; l++) {
          for (let l2 = m; l2 < lmax; l2++) {
            let s = 0;
            for (let k = 0; k < nlat; k++) s += g.weights[k]! * p[(m * lmax + l) * nlat + k]! * p[(m * lmax + l2) * nlat + k]!;
            worst = Math.max(worst, Math.abs(2 * Math.PI * s - (l === l2 ? 1 : 0)));
          }
        }
      }
      assert.ok(worst < 1e-12, `${grid} nlat ${nlat}: orthonormality error ${worst}`);
    }
  });

  it('stay finite and accurate at high degree (lmax 400, no overflow in the recurrence)', () => {
    const g = latitudeGrid(801, 'equiangular');
    const p = legendreTable(400, 400, g.theta);
    for (const v of p) assert.ok(Number.isFinite(v));
    // Σ_m,l over one order of P̄² integrates to 1 per (l, m): check a few high ones
    for (const [m, l] of [[0, 399], [200, 399], [399, 399], [57, 300]] as const) {
      let s = 0;
      for (let k = 0; k < 801; k++) s += g.weights[k]! * p[(m * 400 + l) * 801 + k]! ** 2;
      assert.ok(Math.abs(2 * Math.PI * s - 1) < 1e-10, `‖P̄_${l}^${m}‖ = ${2 * Math.PI * s}`);
    }
  });

  it('derivative tables equal finite differences in θ and m·P̄/sin θ', () => {
    const mmax = 7;
    const lmax = 9;
    const theta = Float64Array.from({ length: 11 }, () => 0.05 + rng.uniform() * (Math.PI - 0.1));
    const { dtheta, mOverSin } = legendreDerivativeTables(mmax, lmax, theta);
    const h = 1e-5;
    const plus = legendreTable(mmax, lmax, theta.map((t) => t + h));
    const minus = legendreTable(mmax, lmax, theta.map((t) => t - h));
    const p = legendreTable(mmax, lmax, theta);
    let e1 = 0;
    let e2 = 0;
    for (let m = 0; m < mmax; m++) for (let l = 0; l < lmax; l++) for (let k = 0; k < theta.length; k++) {
      const i = (m * lmax + l) * theta.length + k;
      e1 = Math.max(e1, Math.abs(dtheta[i]! - (plus[i]! - minus[i]!) / (2 * h)));
      e2 = Math.max(e2, Math.abs(mOverSin[i]! - (m * p[i]!) / Math.sin(theta[k]!)));
    }
    assert.ok(e1 < 1e-8, `dP̄/dθ error ${e1}`);
    assert.ok(e2 < 1e-12, `m·P̄/sin θ error ${e2}`);
  });
});

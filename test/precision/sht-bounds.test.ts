import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { isht, shtPlan } from '../../src/fft/sht.js';
import { ComplexTensor } from '../../src/core/tensor.js';
import { shtErrorReport, shtMatrixNorms } from '../../src/precision/bounds.js';

const rng = new Rng(808);

describe('SHT precision bound (training path)', () => {
  it('holds on random inputs over random grids of both kinds, fp16 and bf16, half and mixed', () => {
    for (let t = 0; t < 10; t++) {
      const grid = t % 2 === 0 ? 'equiangular' : 'legendre-gauss';
      const nlat = 6 + rng.int(40);
      const nlon = 8 + rng.int(60);
      const lmax = 1 + rng.int(nlat);
      const mmax = 1 + rng.int(Math.min(lmax, Math.floor(nlon / 2) + 1));
      const plan = shtPlan(nlat, nlon, { lmax, mmax, grid });
      const x = rng.fillNormal(Tensor.empty([1 + rng.int(2), 1 + rng.int(3), nlat, nlon], 'float64'), 0, 10 ** (rng.uniform() * 4 - 2));
      for (const half of ['float16', 'bfloat16'] as const) {
        for (const p of ['half', 'mixed'] as const) {
          const r = shtErrorReport(x, plan, half, p);
          assert.ok(r.measured > 0 && r.measured <= r.worst, `${grid} ${nlat}×${nlon} lmax ${lmax} mmax ${mmax} ${half} ${p}: measured ${r.measured}, bound ${r.worst}`);
        }
      }
      x.release();
    }
  });

  it('is within a small factor of the measured error when the field lies in the kept modes (mixed: 16-bit output only)', () => {
    const plan = shtPlan(32, 64, { lmax: 16, mmax: 16, grid: 'legendre-gauss' });
    const re = new Float64Array(2 * 16 * 16);
    const im = new Float64Array(2 * 16 * 16);
    for (let i = 0; i < re.length; i++) {
      const l = Math.floor(i / 16) % 16;
      const m = i % 16;
      if (m <= l) {
        re[i] = rng.normal();
        im[i] = m === 0 ? 0 : rng.normal();
      }
    }
    const x = isht(new ComplexTensor(Tensor.fromArray(re, [2, 16, 16], 'float64'), Tensor.fromArray(im, [2, 16, 16], 'float64')), plan).reshapeOwned([2, 1, 32, 64]);
    for (const half of ['float16', 'bfloat16'] as const) {
      const r = shtErrorReport(x, plan, half, 'mixed');
      assert.ok(r.measured <= r.worst && r.worst < 8 * r.measured, `${half}: measured ${r.measured}, bound ${r.worst}`);
      const h = shtErrorReport(x, plan, half, 'half');
      assert.ok(h.measured <= h.worst && h.worst < 30 * h.measured, `${half} half: measured ${h.measured}, bound ${h.worst}`);
    }
    x.release();
  });

  it('matrix norms: ‖A[m]‖ is at least ‖A[m]·v‖ for unit v and at most the Frobenius norm', () => {
    const plan = shtPlan(20, 40, { lmax: 12, mmax: 12 });
    const { a, absA } = shtMatrixNorms(plan);
    const A = plan.matrices('float64').analysis.toFloat64();
    const [L, K] = [12, 20];
    let fro = 0;
    let lower = 0;
    for (let m = 0; m < 12; m++) {
      const blk = A.subarray(m * L * K, (m + 1) * L * K);
      fro = Math.max(fro, Math.sqrt(blk.reduce((s, v) => s + v * v, 0)));
      for (let t = 0; t < 5; t++) {
        const v = rng.normalArray(K);
        const nv = Math.sqrt(v.reduce((s, q) => s + q * q, 0));
        let s = 0;
        for (let i = 0; i < L; i++) {
          let d = 0;
          for (let j = 0; j < K; j++) d += blk[i * K + j]! * v[j]!;
          s += d * d;
        }
        lower = Math.max(lower, Math.sqrt(s) / nv);
      }
    }
    assert.ok(lower <= a && a <= fro * (1 + 1e-9), `${lower} ≤ ${a} ≤ ${fro}`);
    assert.ok(absA >= a * (1 - 1e-9));
  });

  it('names bad arguments', () => {
    const plan = shtPlan(8, 16);
    assert.throws(() => shtErrorReport(Tensor.zeros([1, 1, 8, 12], 'float64'), plan, 'float16'), /shtErrorReport: x \[1, 1, 8, 12\] is not \[batch, channels, 8, 16\]/);
    assert.throws(() => shtErrorReport(Tensor.zeros([1, 1, 8, 16], 'float64'), plan, 'float8' as 'float16'), /shtErrorReport: halfType must be 'float16' or 'bfloat16'/);
  });
});

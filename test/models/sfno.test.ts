import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { ComplexTensor, Tensor } from '../../src/core/tensor.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { Variable, backward, noGrad, tidy } from '../../src/autograd/variable.js';
import { isht, sht, shtPlan } from '../../src/fft/sht.js';
import { SphericalConv } from '../../src/nn/spherical.js';
import { SFNO, type SFNOOptions } from '../../src/models/sfno.js';
import { buildModel, modelNames } from '../../src/models/registry.js';
import { Adam } from '../../src/optim/index.js';
import { LpLoss } from '../../src/losses/index.js';
import { checkParameterGradients, relL2 } from '../helpers.js';
import { boundRows } from '../../src/cli/bound.js';

const rng = new Rng(31);

/** y = isht(W_l · sht(x)) + b in float64, directly from the state dict's weight [in, out, lmax, 2]. */
function sphericalConvReference(x: Tensor, w: Tensor, bias: Tensor, lmax: number, mmax: number, grid: 'equiangular' | 'legendre-gauss'): Float64Array {
  const [B, Ci, nlat, nlon] = x.shape as [number, number, number, number];
  const Co = w.shape[1]!;
  const plan = shtPlan(nlat, nlon, { lmax, mmax, grid });
  const X = sht(Tensor.fromArray(x.toFloat64(), x.shape, 'float64'), plan); // [B, Ci, lmax, mmax]
  const xr = X.re.toFloat64();
  const xi = X.im.toFloat64();
  const wv = w.toFloat64();
  const yr = new Float64Array(B * Co * lmax * mmax);
  const yi = new Float64Array(B * Co * lmax * mmax);
  for (let b = 0; b < B; b++) for (let o = 0; o < Co; o++) for (let l = 0; l < lmax; l++) for (let m = 0; m < mmax; m++) {
    let sr = 0;
    let si = 0;
    for (let i = 0; i < Ci; i++) {
      const a = ((b * Ci + i) * lmax + l) * mmax + m;
      const k = ((i * Co + o) * lmax + l) * 2;
      sr += xr[a]! * wv[k]! - xi[a]! * wv[k + 1]!;
      si += xr[a]! * wv[k + 1]! + xi[a]! * wv[k]!;
    }
    yr[((b * Co + o) * lmax + l) * mmax + m] = sr;
    yi[((b * Co + o) * lmax + l) * mmax + m] = si;
  }
  const Y = new ComplexTensor(Tensor.fromArray(yr, [B, Co, lmax, mmax], 'float64'), Tensor.fromArray(yi, [B, Co, lmax, mmax], 'float64'));
  const y = isht(Y, plan).toFloat64();
  const bv = bias.toFloat64();
  for (let i = 0; i < y.length; i++) y[i] += bv[Math.floor(i / (nlat * nlon)) % Co]!;
  return y;
}

describe('SphericalConv', () => {
  for (const grid of ['equiangular', 'legendre-gauss'] as const) {
    it(`equals SHT → per-degree complex weight → inverse SHT + bias in float64 (${grid})`, () => {
      const conv = new SphericalConv(3, 2, { nModes: [6, 10], grid, rng, dtype: 'float64' });
      const sd = conv.stateDict();
      assert.deepEqual(sd.get('weight')!.shape, [3, 2, 6, 2]);
      assert.deepEqual(sd.get('bias')!.shape, [2, 1, 1]);
      const x = rng.fillNormal(Tensor.empty([2, 3, 12, 20], 'float64'));
      const y = noGrad(() => tidy(() => conv.forward(Variable.constant(x)).value.clone()));
      const want = sphericalConvReference(x, sd.get('weight')!, sd.get('bias')!, 6, 5, grid);
      assert.ok(relL2(y.toFloat64(), want) < 1e-12, `${relL2(y.toFloat64(), want)}`);
      conv.release();
    });
  }

  it('gradients of input, weight and bias match finite differences (float64)', () => {
    for (const grid of ['equiangular', 'legendre-gauss'] as const) {
      const conv = new SphericalConv(2, 3, { nModes: [5, 8], grid, rng, dtype: 'float64' });
      const x = rng.fillNormal(Tensor.empty([2, 2, 9, 14], 'float64'));
      const r = gradcheck(([v]) => conv.forward(v!), [x], { samples: 6 });
      assert.ok(r.maxRelErr[0]! < 1e-6, `${grid}: input gradient error ${r.maxRelErr[0]}`);
      checkParameterGradients(conv, () => conv.forward(Variable.constant(x)), { rng, eps: 1e-6, tol: 1e-6, floor: 1, samples: 3, gmaxShare: 0, label: grid });
      x.release();
      conv.release();
    }
  });

  it('commutes with rotations about the polar axis (a shift in longitude), exactly up to rounding', () => {
    const conv = new SphericalConv(2, 2, { nModes: [8, 16], rng, dtype: 'float64' });
    const [B, C, nlat, nlon] = [1, 2, 16, 32];
    const x = rng.fillNormal(Tensor.empty([B, C, nlat, nlon], 'float64'));
    const shift = 5;
    const roll = (t: Float64Array) => {
      const o = new Float64Array(t.length);
      for (let r = 0; r < t.length / nlon; r++) for (let j = 0; j < nlon; j++) o[r * nlon + ((j + shift) % nlon)] = t[r * nlon + j]!;
      return o;
    };
    const y = noGrad(() => tidy(() => conv.forward(Variable.constant(x)).value.toFloat64()));
    const xs = Tensor.fromArray(roll(x.toFloat64()), x.shape, 'float64');
    const ys = noGrad(() => tidy(() => conv.forward(Variable.constant(xs)).value.toFloat64()));
    assert.ok(relL2(ys, roll(y)) < 1e-12);
    conv.release();
  });

  it('mixed and half precision stay close to full (fp16 and bf16), with 16-bit outputs where the input is 16-bit', () => {
    const conv = new SphericalConv(4, 4, { nModes: [12, 24], rng });
    const x = rng.fillNormal(Tensor.empty([2, 4, 24, 48], 'float32'));
    const full = noGrad(() => tidy(() => conv.forward(Variable.constant(x)).value.toFloat64()));
    for (const halfType of ['float16', 'bfloat16'] as const) {
      for (const precision of ['mixed', 'half'] as const) {
        conv.precision = precision;
        conv.halfType = halfType;
        const y = noGrad(() => tidy(() => conv.forward(Variable.constant(x)).value.toFloat64()));
        const e = relL2(y, full);
        assert.ok(e < (halfType === 'float16' ? 4e-3 : 3e-2) && e > 0, `${precision} ${halfType}: ${e}`);
      }
    }
    conv.precision = 'full';
    conv.release();
  });

  it('names a grid its modes do not fit', () => {
    const conv = new SphericalConv(1, 1, { nModes: [10, 20], rng });
    assert.throws(() => noGrad(() => tidy(() => conv.forward(Variable.constant(Tensor.zeros([1, 1, 8, 32]))))), /SphericalConv: input \[1, 1, 8, 32\] does not fit lmax 10, mmax 10: shtPlan: lmax must be an integer in 1…8 \(nlat\)/);
    assert.throws(() => noGrad(() => tidy(() => conv.forward(Variable.constant(Tensor.zeros([1, 1, 16, 16]))))), /SphericalConv: input \[1, 1, 16, 16\] does not fit lmax 10, mmax 10: shtPlan: mmax must be an integer in 1…9 \(nlon\/\/2 \+ 1\)/);
    assert.throws(() => new SphericalConv(1, 1, { nModes: [4], rng }), /SphericalConv: n_modes must have 2 entries/);
    conv.release();
  });
});

describe('SFNO', () => {
  it('is registered, has neuralop’s state-dict layout and runs at another resolution (zero-shot)', () => {
    assert.ok(modelNames().includes('SFNO'));
    const m = buildModel({ name: 'SFNO', n_modes: [8, 16], in_channels: 3, out_channels: 3, hidden_channels: 8, n_layers: 2 }, { seed: 1 });
    const sd = m.stateDict();
    assert.deepEqual(sd.get('fno_blocks.convs.0.weight')!.shape, [8, 8, 8, 2]);
    assert.deepEqual(sd.get('fno_blocks.convs.1.bias')!.shape, [8, 1, 1]);
    for (const t of sd.values()) t.release();
    for (const [nlat, nlon] of [[16, 32], [32, 64]] as const) {
      const y = noGrad(() => tidy(() => m.forward(Variable.constant(rng.fillNormal(Tensor.empty([2, 3, nlat, nlon])))).value.clone()));
      assert.deepEqual(y.shape, [2, 3, nlat, nlon]);
      for (const v of y.toFloat64()) assert.ok(Number.isFinite(v));
      y.release();
    }
    m.release();
  });

  it('gradients of the whole model match finite differences in float64 (Gauss–Legendre, tanh stabilizer)', () => {
    const m = new SFNO({ n_modes: [4, 6], in_channels: 2, out_channels: 1, hidden_channels: 4, n_layers: 2, dtype: 'float64', seed: 3, sht_grids: 'legendre-gauss', stabilizer: 'tanh' });
    const x = rng.fillNormal(Tensor.empty([2, 2, 6, 10], 'float64'));
    const r = gradcheck(([v]) => m.forward(v!), [x], { samples: 8 });
    assert.ok(r.maxRelErr[0]! < 1e-5, `input gradient error ${r.maxRelErr[0]}`);
    x.release();
    m.release();
  });

  it('trains: Adam lowers the loss on a fixed batch, in full and in mixed precision (fp16 AMP)', () => {
    for (const extra of [{}, { fno_block_precision: 'mixed', amp: true, stabilizer: 'tanh', half_type: 'float16' }] as const) {
      const m = new SFNO({ n_modes: [8, 16], in_channels: 1, out_channels: 1, hidden_channels: 8, n_layers: 2, seed: 2, ...extra } as SFNOOptions);
      const x = rng.fillNormal(Tensor.empty([4, 1, 16, 32]));
      // target: a smooth function of the input (its low-degree part, scaled)
      const plan = shtPlan(16, 32, { lmax: 6, mmax: 6 });
      const c = sht(x, plan);
      const y = isht(c, plan);
      c.release();
      const loss = new LpLoss({ d: 2, p: 2 });
      const opt = new Adam(m.parameters(), { lr: 1e-2 });
      const losses: number[] = [];
      for (let s = 0; s < 40; s++) {
        opt.zeroGrad();
        const l = tidy(() => loss.forward(m.forward(Variable.constant(x)), y));
        losses.push(l.value.item());
        backward(l);
        l.release();
        opt.step();
      }
      assert.ok(losses.at(-1)! < 0.5 * losses[0]!, `${JSON.stringify(extra)}: loss ${losses[0]} → ${losses.at(-1)}`);
      for (const t of [x, y]) t.release();
      opt.release();
      m.release();
    }
  });

  it('mpno bound gives each spherical layer the SHT bound of the training path, above the measured error', () => {
    const m = new SFNO({ n_modes: [6, 12], in_channels: 1, out_channels: 1, hidden_channels: 4, n_layers: 2, stabilizer: 'tanh' });
    const x = rng.fillNormal(Tensor.empty([2, 1, 12, 24]));
    const rows = boundRows(m, x);
    assert.equal(rows.length, 4); // 2 layers × 2 half types
    for (const r of rows) {
      assert.deepEqual(r.n, [12, 24]);
      assert.ok(r.training_measured_fft > 0 && r.training_measured_fft <= r.training_worst, `layer ${r.layer} ${r.half}: measured ${r.training_measured_fft}, bound ${r.training_worst}`);
      assert.ok(r.training_measured_spectral_conv > 0 && Number.isNaN(r.discretization));
    }
    x.release();
    m.release();
  });

  it('domain padding as neuralop applies it: the padded array goes through the SHT, the output has the input grid', () => {
    const m = new SFNO({ n_modes: [6, 12], in_channels: 1, out_channels: 1, hidden_channels: 4, n_layers: 2, domain_padding: 0.05 });
    for (const [nlat, nlon] of [[32, 64], [16, 32]] as const) {
      const y = noGrad(() => tidy(() => m.forward(Variable.constant(rng.fillNormal(Tensor.empty([1, 1, nlat, nlon])))).value.clone()));
      assert.deepEqual(y.shape, [1, 1, nlat, nlon]);
      assert.ok(y.toFloat64().every(Number.isFinite));
      y.release();
    }
    m.release();
  });

  it('bad options are named errors', () => {
    const base: SFNOOptions = { n_modes: [4, 8], in_channels: 1, out_channels: 1, hidden_channels: 4 };
    assert.throws(() => new SFNO({ ...base, n_modes: [4, 8, 8] }), /SFNO: n_modes must be \[lmax, 2·mmax\]/);
    assert.throws(() => new SFNO({ ...base, n_modes: [4, 1] }), /SFNO: n_modes\[1\] must be at least 2/);
    assert.throws(() => new SFNO({ ...base, sht_grids: 'healpix' as 'equiangular' }), /SFNO: sht_grids must be one of equiangular, legendre-gauss/);
    assert.throws(() => new SFNO({ ...base, sht_grids: ['equiangular', 'legendre-gauss'] }), /SFNO: sht_grids must name one grid/);
    assert.throws(() => new SFNO({ ...base, factorization: 'svd' }), /SFNO: factorization must be one of/);
    assert.throws(() => new SFNO({ ...base, ...({ sht_grid: 'equiangular' } as object) }), /SFNO: unknown option 'sht_grid'/);
  });

  it('a factorised (Tucker) per-degree weight builds, runs and has fewer parameters than the dense one', () => {
    const base: SFNOOptions = { n_modes: [8, 16], in_channels: 1, out_channels: 1, hidden_channels: 16, n_layers: 2 };
    const dense = new SFNO(base);
    const tucker = new SFNO({ ...base, factorization: 'tucker', rank: 0.2 });
    assert.ok(tucker.numParameters() < dense.numParameters());
    const y = noGrad(() => tidy(() => tucker.forward(Variable.constant(rng.fillNormal(Tensor.empty([1, 1, 16, 32])))).value.clone()));
    assert.deepEqual(y.shape, [1, 1, 16, 32]);
    y.release();
    dense.release();
    tucker.release();
  });
});

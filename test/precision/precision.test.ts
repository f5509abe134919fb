import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unitRoundoff } from '../../src/core/dtype.js';
import { ledger } from '../../src/core/ledger.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import * as ops from '../../src/autograd/ops.js';
import { Variable, backward, noGrad, tidy } from '../../src/autograd/variable.js';
import { FNO } from '../../src/models/fno.js';
import type { BlockPrecision, HalfType } from '../../src/precision/policy.js';
import { gridEmbedding } from '../../src/nn/layers.js';
import { Parameter } from '../../src/nn/module.js';
import { GradScaler } from '../../src/precision/scaler.js';
import { parsePrecisionSchedule, precisionAt, scheduleEpochs } from '../../src/precision/schedule.js';
import { relL2 } from '../helpers.js';

const rng = new Rng(21);

describe('precision schedule', () => {
  it('parses, resolves to epochs and names bad input', () => {
    const s = parsePrecisionSchedule('half:0.25, mixed:0.5, full:0.25');
    assert.deepEqual(s.map((e) => e.precision), ['half', 'mixed', 'full']);
    const ep = scheduleEpochs(s, 15);
    assert.deepEqual(ep.entries.map((e) => [e.start, e.end]), [[0, 4], [4, 11], [11, 15]]);
    assert.deepEqual(Array.from({ length: 15 }, (_, e) => precisionAt(ep, e)).join(','), 'half,half,half,half,mixed,mixed,mixed,mixed,mixed,mixed,mixed,full,full,full,full');
    assert.throws(() => parsePrecisionSchedule('half:0.5,full:0.4'), /fractions sum to 0.9, not 1/);
    assert.throws(() => parsePrecisionSchedule('quarter:1'), /unknown precision 'quarter'/);
    assert.throws(() => parsePrecisionSchedule('half'), /'half' is not mode:fraction/);
    assert.throws(() => parsePrecisionSchedule('half:-1,full:2'), /fraction '-1' of 'half' must be in \(0, 1\]/);
  });
});

describe('GradScaler', () => {
  it('skips on a non-finite gradient (dropping it), backs off, grows after clean steps, round-trips its state', () => {
    const p = new Parameter(Tensor.fromArray([1, 2], [2]));
    const s = new GradScaler({ initScale: 8, growthInterval: 2 });
    p.grad = Tensor.fromArray([16, Number.POSITIVE_INFINITY], [2], 'float32', 'gradient');
    assert.equal(s.unscaleAndCheck([p]), false);
    assert.equal(p.grad, null, 'a non-finite gradient never reaches the optimizer');
    assert.equal(s.scale, 4);
    assert.equal(s.skipped, 1);
    p.grad = Tensor.fromArray([8, -4], [2], 'float32', 'gradient');
    assert.equal(s.unscaleAndCheck([p]), true);
    assert.deepEqual(p.grad.toArray(), [2, -1]);
    p.zeroGrad();
    p.grad = Tensor.fromArray([4, 4], [2], 'float32', 'gradient');
    s.unscaleAndCheck([p]);
    assert.equal(s.scale, 8, 'doubles after growthInterval clean steps');
    const t = new GradScaler();
    t.setState(JSON.parse(JSON.stringify(s.getState())));
    assert.deepEqual(t.getState(), s.getState());
    assert.throws(() => new GradScaler({ backoffFactor: 2 }), /backoffFactor must be in \(0, 1\)/);
    p.release();
  });
});

describe('mixed-precision FNO', () => {
  const build = () => new FNO({ n_modes: [8, 8], in_channels: 1, out_channels: 1, hidden_channels: 12, n_layers: 2, stabilizer: 'tanh', seed: 4 });
  const x = rng.fillNormal(Tensor.empty([4, 1, 32, 32]));

  function runOnce(m: FNO, block: BlockPrecision, half: HalfType, amp: boolean) {
    m.setPrecision({ fno_block_precision: block, half_type: half, amp });
    m.zeroGrad();
    const live0 = ledger.snapshot().live;
    ledger.resetPeak();
    const y = tidy(() => m.forward(Variable.constant(x)));
    const peak = ledger.snapshot().peak - live0;
    const out = y.value.toFloat64();
    backward(y, Tensor.full(y.shape, 1, y.dtype, 'gradient'));
    y.release();
    const grads = m.parameters().map((p) => p.grad!.toFloat64());
    return { out, grads, peak };
  }

  /**
   * Relative error of each Fourier layer in its current precision, on the input the layer sees in
   * this forward pass: SpectralConv.forward as set by FNO.setPrecision vs the same layer in 'full'.
   */
  function layerErrors(m: FNO): number[] {
    const convs = m.fnoBlocks.spectralConvs;
    const inputs: Tensor[] = [];
    convs.forEach((c) => (c.capture = (t) => inputs.push(t.clone('workspace'))));
    noGrad(() => tidy(() => void m.forward(Variable.constant(x))));
    convs.forEach((c) => (c.capture = undefined));
    const errs = convs.map((c, i) => {
      const v = Variable.constant(inputs[i]!);
      const set = c.precision;
      const got = noGrad(() => tidy(() => c.forward(v).value.toFloat64()));
      c.precision = 'full';
      const want = noGrad(() => tidy(() => c.forward(v).value.toFloat64()));
      c.precision = set;
      return relL2(got, want);
    });
    for (const t of inputs) t.release();
    return errs;
  }

  it('every precision and half type stays within a few unit roundoffs of full f32, and each Fourier layer really runs in half', () => {
    // Tolerances, in units of the half type's unit roundoff u (fp16 2^-11, bf16 2^-8), from the
    // values measured on this model and input (seed 4 / 21), with 2–5× margin:
    // - one Fourier layer in 'mixed'/'half' (16-bit spectrum and weights, f32 arithmetic): measured
    //   0.16–0.44u without AMP, 0.40–0.73u with AMP (its input is then 16-bit too). Every value is
    //   a handful of roundings of size ≤ u, so ≤ 2u; and > u/10, three orders above what f32
    //   reordering gives (~1e-7 = 2e-4u in fp16): a layer silently left in f32 fails.
    // - model output with AMP (every activation stored in 16 bits): measured 0.36–0.37u → < 2u, and
    //   > u/10 (AMP really on). Without AMP only the spectral branch of each block is in half and
    //   the f32 skip/MLP path dominates the output: measured 0.002u → < 0.02u.
    // - parameter gradients: largest measured 2.1u (no AMP) and 5.4u (fp16) / 7.6u (bf16) with
    //   AMP, where every activation gradient is 16-bit → < 6u and < 16u.
    const m = build();
    const full = runOnce(m, 'full', 'float16', false);
    for (const half of ['float16', 'bfloat16'] as const) {
      const u = unitRoundoff(half);
      for (const [block, amp] of [['mixed', false], ['half', false], ['full', true], ['mixed', true], ['half', true]] as const) {
        const r = runOnce(m, block, half, amp);
        const tag = `${half} ${block} amp=${amp}`;
        const e = relL2(r.out, full.out);
        if (amp) assert.ok(e < 2 * u && e > u / 10, `${tag}: output error ${e / u} u`);
        else assert.ok(e < 0.02 * u && e > 0, `${tag}: output error ${e / u} u`);
        const gTol = (amp ? 16 : 6) * u;
        r.grads.forEach((g, i) => {
          assert.ok(g.every(Number.isFinite), `${tag}: gradient ${i} not finite`);
          const eg = relL2(g, full.grads[i]!);
          assert.ok(eg < gTol, `${tag}: gradient ${i} error ${eg / u} u`);
        });
        assert.ok(m.parameters().every((p) => p.grad!.dtype === 'float32' && p.value.dtype === 'float32'), 'master weights and their gradients stay f32');
        const le = layerErrors(m);
        assert.equal(le.length, 2);
        le.forEach((el, i) => {
          if (block === 'full') assert.equal(el, 0, `${tag}: layer ${i} is in full precision`);
          else assert.ok(el > u / 10 && el < 2 * u, `${tag}: layer ${i} error ${el / u} u (half precision must be on, within 2u)`);
        });
      }
    }
    m.release();
  });

  it('AMP stores activations in 16 bits: the forward peak of the ledger drops to about half', () => {
    const m = build();
    const full = runOnce(m, 'full', 'float16', false);
    const mixed = runOnce(m, 'mixed', 'float16', true);
    assert.ok(mixed.peak < 0.6 * full.peak, `peak ${mixed.peak} vs ${full.peak}`);
    m.release();
  });

  it('the tanh stabiliser and the half-precision weight copies keep no saved tensor of their own', () => {
    // bytes that a mixed-precision forward leaves saved for the backward, with and without the stabiliser
    const saved = (stabilizer: 'tanh' | null) => {
      const m = new FNO({ n_modes: [8, 8], in_channels: 1, out_channels: 1, hidden_channels: 12, n_layers: 2, stabilizer, seed: 4 });
      m.setPrecision({ fno_block_precision: 'mixed', half_type: 'bfloat16', amp: true });
      // activations only: the first forward also uploads FFT plans (cached workspace)
      const live0 = ledger.snapshot().byRole.activation.live;
      const y = tidy(() => m.forward(Variable.constant(x)));
      const bytes = ledger.snapshot().byRole.activation.live - live0;
      backward(y, Tensor.full(y.shape, 1, y.dtype, 'gradient'));
      const g = m.parameters().map((p) => p.grad!.toFloat64());
      y.release();
      m.release();
      return { bytes, g };
    };
    const withTanh = saved('tanh');
    const without = saved(null);
    // the stabiliser's backward recomputes sech² from its input, which the skip saves anyway
    assert.equal(withTanh.bytes, without.bytes);
    assert.ok(withTanh.g.every((v) => v.every(Number.isFinite)));
    // the contraction keeps views of the f32 master weights and rounds them again in the backward
    const M = 6, B = 2, Ci = 3, Co = 4;
    const X = Variable.constant(rng.fillNormal(Tensor.empty([2, M, B, Ci], 'bfloat16')));
    const Wr = new Parameter(rng.fillNormal(Tensor.empty([M, Ci, Co])));
    const Wi = new Parameter(rng.fillNormal(Tensor.empty([M, Ci, Co])));
    const live0 = ledger.snapshot().byRole.activation.live;
    const Y = ops.modeContract(X, Wr, Wi);
    assert.equal(ledger.snapshot().byRole.activation.live - live0, 2 * M * B * Co * 2, 'only the bfloat16 output is new');
    backward(Y, Tensor.full(Y.shape, 1, Y.dtype, 'gradient'));
    assert.ok(Wr.grad && Wi.grad);
    // the gradient equals the one from weights rounded once to bfloat16 and used as they are
    const hr = Variable.constant(Tensor.empty([M, Ci, Co], 'bfloat16'));
    const hi = Variable.constant(Tensor.empty([M, Ci, Co], 'bfloat16'));
    hr.value.set(Wr.value.toFloat64());
    hi.value.set(Wi.value.toFloat64());
    const Xg = new Parameter(X.value.clone());
    const Y2 = ops.modeContract(Xg, hr, hi);
    backward(Y2, Tensor.full(Y2.shape, 1, Y2.dtype, 'gradient'));
    const Xg1 = new Parameter(X.value.clone());
    const Y1 = ops.modeContract(Xg1, Wr, Wi);
    backward(Y1, Tensor.full(Y1.shape, 1, Y1.dtype, 'gradient'));
    assert.deepEqual([...Xg1.grad!.toFloat64()], [...Xg.grad!.toFloat64()]);
    for (const t of [Y, Y1, Y2]) t.release();
    for (const v of [X, Wr, Wi, hr, hi, Xg, Xg1]) v.value.release();
  });

  it('stabilisers: tanh / clip_hard / clip_sigma bound the spectral branch input; clip_sigma clamps to mean ± 2σ', () => {
    const v = new Variable(Tensor.fromArray([0, 0, 0, 0, 0, 0, 0, 10], [1, 1, 8]), { requiresGrad: true });
    const y = tidy(() => ops.clampSigma(v, 2));
    const mean = 10 / 8;
    const std = Math.sqrt(100 / 8 - mean * mean);
    assert.ok(Math.abs(y.value.toFloat64()[7]! - (mean + 2 * std)) < 1e-4);
    backward(y, Tensor.full([1, 1, 8], 1, 'float32', 'gradient'));
    assert.deepEqual(v.grad!.toArray(), [1, 1, 1, 1, 1, 1, 1, 0]);
    y.release();
    v.release();
    // in the model: the input of each Fourier layer, seen through the capture hook, is the block
    // input after the stabiliser. Layer 0's block input is lifting(grid ⊕ x), computed here from the
    // model's own lifting; the stabiliser is applied in float64 by the test (the oracle).
    const big = Tensor.fromArray(x.toFloat64().map((t) => 4 * t), x.shape);
    for (const st of ['tanh', 'clip_hard', 'clip_sigma'] as const) {
      const m = new FNO({ n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 4, n_layers: 2, stabilizer: st, seed: 3 });
      const seen: Float64Array[] = [];
      m.fnoBlocks.spectralConvs.forEach((c) => (c.capture = (t) => seen.push(t.toFloat64())));
      const out = tidy(() => m.forward(Variable.constant(big)));
      const h = noGrad(() => tidy(() => m.lifting.forward(gridEmbedding(Variable.constant(big))).value.toFloat64()));
      assert.ok(out.value.toFloat64().every(Number.isFinite));
      out.release();
      assert.equal(seen.length, 2);
      let mean = 0;
      for (const t of h) mean += t / h.length;
      let vr = 0;
      for (const t of h) vr += (t - mean) ** 2 / h.length;
      const [lo, hi] = st === 'clip_sigma' ? [mean - 2 * Math.sqrt(vr), mean + 2 * Math.sqrt(vr)] : [-1, 1];
      // the raw block input leaves the stabiliser's range, so an ignored stabiliser cannot pass
      assert.ok(h.some((t) => t < lo) && h.some((t) => t > hi), `${st}: raw input range [${Math.min(...h)}, ${Math.max(...h)}] vs [${lo}, ${hi}]`);
      const want = h.map((t) => (st === 'tanh' ? Math.tanh(t) : Math.min(hi, Math.max(lo, t))));
      const err = seen[0]!.reduce((a, t, i) => Math.max(a, Math.abs(t - want[i]!)), 0);
      assert.ok(err < 1e-5 * Math.max(1, hi - lo), `${st}: layer 0 spectral input differs from the stabilised block input by ${err}`);
      // every layer's spectral input lies in the stabiliser's range ([-1, 1], or mean ± 2σ of its own block input)
      if (st !== 'clip_sigma') for (const v of seen) assert.ok(v.every((t) => Math.abs(t) <= 1), `${st}: spectral input outside [-1, 1]`);
      m.release();
    }
    big.release();
  });

  it('a layer that keeps overflowing in fp16 is counted (and FNO.setPrecision can demote one layer)', () => {
    const m = new FNO({ n_modes: [8, 8], in_channels: 1, out_channels: 1, hidden_channels: 8, n_layers: 2, fft_norm: 'backward', seed: 1 });
    m.setPrecision({ fno_block_precision: 'half', half_type: 'float16' });
    // no stabiliser, backward norm, large input: the unnormalised fp16 FFT overflows
    const big = Tensor.fromArray(x.toFloat64().map((v) => 3000 * v), x.shape);
    const y = tidy(() => m.forward(Variable.constant(big)));
    y.release();
    const rep = m.precisionReport();
    assert.ok(rep.some((l) => l.overflows > 0), JSON.stringify(rep));
    m.setPrecision({ fno_block_precision: 'full', layer: 0 });
    assert.deepEqual(m.precisionReport().map((l) => l.precision), ['full', 'half']);
    assert.throws(() => m.setPrecision({ layer: 5 }), /there is no spectral layer 5 \(0…1\)/);
    assert.throws(() => m.setPrecision({ half_type: 'float8' as HalfType }), /half_type must be one of float16, bfloat16/);
    big.release();
    m.release();
  });
});

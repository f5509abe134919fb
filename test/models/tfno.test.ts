import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unitRoundoff } from '../../src/core/dtype.js';
import { ledger } from '../../src/core/ledger.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { Variable, backward, noGrad, tidy } from '../../src/autograd/variable.js';
import { LpLoss } from '../../src/losses/index.js';
import { FNO } from '../../src/models/fno.js';
import { buildModel, modelNames, validateModel } from '../../src/models/registry.js';
import { TFNO, type TFNOOptions } from '../../src/models/tfno.js';
import { FactorizedSpectralWeight, factorizedParameterCount } from '../../src/nn/factorized.js';
import { SpectralConv } from '../../src/nn/spectral.js';
import { AdamW } from '../../src/optim/index.js';
import { relL2 } from '../helpers.js';

const rng = new Rng(44);

const run = (m: FNO, x: Tensor): Float64Array => noGrad(() => tidy(() => m.forward(Variable.constant(x)).value.toFloat64()));

describe('TFNO', () => {
  it("defaults to Tucker rank 0.1 (factorized); parameter count = FNO's with the dense spectral weights replaced by hand-counted factors", () => {
    const base = { n_modes: [8, 10], in_channels: 1, out_channels: 1, hidden_channels: 16, n_layers: 2 };
    const fno = new FNO(base);
    const m = new TFNO(base);
    assert.deepEqual(m.factorized, { factorization: 'tucker', rank: 0.1, implementation: 'factorized', separable: false });
    const conv = m.fnoBlocks.spectralConvs[0] as SpectralConv;
    const w = conv.weight as FactorizedSpectralWeight;
    assert.ok(w instanceof FactorizedSpectralWeight);
    // weight (16, 16, 8, 6): Π 12288, Σ shape² 612; Tucker 0.1: 12288c⁴ + 612c = 1228.8 → c ≈ 0.5216 → (8, 8, 4, 3);
    // 768 + 128 + 128 + 32 + 18 = 1074 complex → 2148 real per layer; dense 2 · 12288 = 24576
    assert.deepEqual(w.shape, [16, 16, 8, 6]);
    assert.deepEqual(w.ranks, [8, 8, 4, 3]);
    assert.equal(factorizedParameterCount(w.shape, 'tucker', 0.1), 2148);
    assert.equal(m.numParameters(), fno.numParameters() - 2 * 24576 + 2 * 2148);
    assert.equal(conv.description, 'SpectralConv 8x6 modes tucker rank (8, 8, 4, 3) factorized');
    const sd = m.stateDict();
    assert.deepEqual(sd.get('fno_blocks.convs.1.weight.core')!.shape, [8, 8, 4, 3, 2]);
    assert.deepEqual(sd.get('fno_blocks.convs.0.weight.factor_mode1')!.shape, [6, 3, 2]);
    assert.ok(!sd.has('fno_blocks.convs.0.weight'));
    for (const t of sd.values()) t.release();
    // case-insensitive factorization as neuralop writes it; 'dense' is FNO's dense weight
    const dense = new TFNO({ ...base, factorization: 'Dense' });
    assert.equal(dense.numParameters(), fno.numParameters());
    const cp = new TFNO({ ...base, factorization: 'CP', rank: 0.05, implementation: 'reconstructed', separable: true });
    // separable (16, 8, 6), CP 0.05: round(768 · 0.05 / 30 = 1.28) = 1 → 1 + 30 = 31 complex → 62 real
    assert.equal((cp.fnoBlocks.spectralConvs[0] as SpectralConv).weight.description, 'cp rank 1 separable reconstructed');
    assert.equal(cp.numParameters(), fno.numParameters() - 2 * 24576 + 2 * 62);
    for (const x of [fno, m, dense, cp]) x.release();
  });

  for (const factorization of ['cp', 'tucker', 'tt'] as const) {
    it(`${factorization}: the state dict round-trips into a fresh model, and tltorch's names load (same outputs)`, () => {
      const opts: TFNOOptions = { n_modes: [6, 4], in_channels: 2, out_channels: 1, hidden_channels: 6, n_layers: 2, factorization, rank: 0.3, seed: 1 };
      const a = new TFNO(opts);
      const b = new TFNO({ ...opts, seed: 2 });
      const x = rng.fillNormal(Tensor.empty([2, 2, 12, 10]));
      const ya = run(a, x);
      assert.notDeepEqual(run(b, x), ya);
      const sd = a.stateDict();
      b.loadStateDict(sd);
      assert.deepEqual(run(b, x), ya);
      // tltorch: the factor list (in, out, modes) as weight.factors.factor_<j>; CP weights / Tucker core keep their names
      const order = ['in', 'out', 'mode0', 'mode1'];
      const tl = new Map<string, Tensor>();
      for (const [k, v] of sd) {
        const hit = /^(.*\.weight)\.(?:factor|core)_(in|out|mode\d)$/.exec(k);
        tl.set(hit ? `${hit[1]}.factors.factor_${order.indexOf(hit[2]!)}` : k, v);
      }
      assert.ok([...tl.keys()].some((k) => k.endsWith('.weight.factors.factor_3')));
      const c = new TFNO({ ...opts, seed: 3 });
      c.loadStateDict(tl);
      assert.deepEqual(run(c, x), ya);
      // a layer's factor of the wrong shape is a named error
      const key = [...sd.keys()].find((k) => k.startsWith('fno_blocks.convs.1.weight.'))!;
      const bad = new Map(sd);
      const wrong = Tensor.zeros([3, 2]);
      bad.set(key, wrong);
      assert.throws(() => c.loadStateDict(bad), new RegExp(`loadStateDict: '${key.split('.').slice(-2).join('\\.')}' of a ${factorization} spectral weight has shape \\[3, 2\\], expected`));
      sd.delete(key);
      assert.throws(() => c.loadStateDict(sd), new RegExp(`loadStateDict: missing ${key.replace(/\./g, '\\.')}`));
      for (const t of sd.values()) t.release();
      for (const t of [x, wrong]) t.release();
      for (const m of [a, b, c]) m.release();
    });
  }

  for (const implementation of ['factorized', 'reconstructed'] as const) {
    it(`a TFNO (${implementation}) trains: AdamW steps on a tiny random problem lower the loss, and release their tensors`, (t) => {
      const opts: TFNOOptions = { n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 8, n_layers: 2, factorization: 'cp', rank: 0.3, implementation };
      const m = new TFNO({ ...opts, seed: 5 });
      // a target the model can fit: another TFNO's output on the same inputs
      const teacher = new TFNO({ ...opts, seed: 9 });
      const x = rng.fillNormal(Tensor.empty([4, 1, 8, 8]));
      const y = noGrad(() => tidy(() => teacher.forward(Variable.constant(x)).value.clone()));
      teacher.release();
      const before = m.parameters().map((p) => p.value.toFloat64());
      const loss = new LpLoss({ d: 2 });
      const opt = new AdamW(m.namedParameters(), { lr: 1e-2 });
      const losses: number[] = [];
      let live = 0;
      for (let step = 0; step < 12; step++) {
        m.zeroGrad();
        if (step === 2) live = ledger.snapshot().live; // after the caches and the optimizer state exist
        const l = tidy(() => loss.forward(m.forward(Variable.constant(x)), y));
        losses.push(l.item());
        backward(l);
        l.release();
        opt.step();
      }
      m.zeroGrad();
      assert.ok(losses.every(Number.isFinite));
      assert.ok(losses[11]! < 0.9 * losses[0]!, `loss ${losses[0]} → ${losses[11]}`);
      assert.equal(ledger.snapshot().live - live, 0, 'ten training steps leave no tensor behind');
      // every tensor moved, the factors of the spectral weights included
      m.namedParameters().forEach(([name, p], i) => assert.ok(p.value.toFloat64().some((v, k) => v !== before[i]![k]), `${name} did not change`));
      t.diagnostic(`loss ${losses[0]!.toFixed(4)} → ${losses[11]!.toFixed(4)}`);
      opt.release();
      for (const t of [x, y]) t.release();
      m.release();
    });
  }

  it("setPrecision 'mixed' / 'half' runs every factorised layer in half and stays within tolerance of full", (t) => {
    // Relative L2 / u, measured on this model (tanh, rank 0.2, hidden 12, biases zeroed) and input:
    // each layer alone on the input it sees, against float64: 0.90–1.82u (all kinds, both half types,
    // mixed and half) → required in (u/5, 5u): it really runs in half (f32 would give < 0.001u) and
    // stays within a few roundings. The model output, where the f32 skip and channel-MLP paths
    // dominate: 0.0007–0.054u over inputs → required in (0, 0.15u).
    const found: string[] = [];
    for (const factorization of ['cp', 'tucker', 'tt'] as const) {
      const m = new TFNO({ n_modes: [8, 8], in_channels: 1, out_channels: 1, hidden_channels: 12, n_layers: 2, stabilizer: 'tanh', factorization, rank: 0.2, seed: 4 });
      const convs = m.fnoBlocks.spectralConvs;
      // the layers' biases are zeroed so that a layer's output is its spectral part alone (tltorch's TT
      // init makes that part about √(Π R) smaller than a dense layer's, and the exact f32 bias would hide it)
      for (const c of convs) {
        const b = (c as SpectralConv).bias!;
        b.value.set(new Float64Array(b.size));
      }
      const x = rng.fillNormal(Tensor.empty([2, 1, 16, 16]));
      const full = run(m, x);
      for (const half of ['float16', 'bfloat16'] as const) {
        const u = unitRoundoff(half);
        for (const block of ['mixed', 'half'] as const) {
          m.setPrecision({ fno_block_precision: block, half_type: half });
          const inputs: Tensor[] = [];
          convs.forEach((c) => (c.capture = (v) => inputs.push(v.clone('workspace'))));
          const got = run(m, x);
          convs.forEach((c) => (c.capture = undefined));
          const e = relL2(got, full);
          assert.ok(e > 0 && e < 0.15 * u, `${factorization} ${half} ${block}: output error ${e / u} u`);
          const layer = convs.map((c, i) => {
            const ref = c.evaluate(inputs[i]!, 'float64');
            const h = c.evaluate(inputs[i]!, c);
            const el = relL2(h.toFloat64(), ref.toFloat64());
            ref.release();
            h.release();
            return el / u;
          });
          for (const v of inputs) v.release();
          layer.forEach((el, i) => assert.ok(el > 0.2 && el < 5, `${factorization} ${half} ${block}: layer ${i} error ${el} u`));
          found.push(`${factorization} ${half} ${block}: output ${(e / u).toFixed(4)}u, layers ${layer.map((v) => v.toFixed(2)).join('/')}u`);
        }
      }
      m.setPrecision({ fno_block_precision: 'full' });
      assert.deepEqual(run(m, x), full);
      x.release();
      m.release();
    }
    t.diagnostic(found.join('; '));
  });

  it('is a registered model family; bad options are named errors before anything is built', () => {
    assert.ok(modelNames().includes('TFNO'));
    const spec = { name: 'TFNO', n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 4, n_layers: 1, factorization: 'TT' };
    validateModel(spec);
    const m = buildModel(spec, { seed: 3 });
    assert.ok(m instanceof TFNO);
    assert.equal(((m as TFNO).fnoBlocks.spectralConvs[0] as SpectralConv).weight.kind, 'tt');
    m.release();
    const live = ledger.snapshot().live;
    const base: TFNOOptions = { n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 4 };
    assert.throws(() => new TFNO({ ...base, factorization: 'svd' }), /TFNO: factorization must be one of dense, cp, tucker, tt \(any case\), got "svd"/);
    assert.throws(() => new TFNO({ ...base, rank: 0 }), /TFNO: rank must be a positive fraction of the dense weight's size \(or a list of explicit ranks\), got 0/);
    assert.throws(() => new TFNO({ ...base, rank: -1 }), /TFNO: rank must be a positive fraction/);
    assert.throws(() => new TFNO({ ...base, rank: '0.1' as unknown as number }), /TFNO: rank must be a positive fraction of the dense weight's size \(or a list of explicit ranks\), got "0.1"/);
    assert.throws(() => new TFNO({ ...base, rank: [4, 0, 3, 2] }), /TFNO: rank as explicit ranks must list positive integers, got \[4,0,3,2\]/);
    assert.throws(() => new TFNO({ ...base, implementation: 'lazy' as 'factorized' }), /TFNO: implementation must be one of factorized, reconstructed, got "lazy"/);
    assert.throws(() => new TFNO({ ...base, separable: 'yes' as unknown as boolean }), /TFNO: separable must be true or false, got "yes"/);
    // weight (4, 4, 4, 3): CP 0.01 → round(192 · 0.01 / 15 = 0.13) = 0
    assert.throws(() => new TFNO({ ...base, factorization: 'cp', rank: 0.01 }), /TFNO: rank 0.01 gives a CP rank of 0 for a weight of shape \(4, 4, 4, 3\), an empty factor/);
    // neuralop's separable dense weight: one tensor (in, modes…) per layer, under its DenseTensor name
    const sep = new TFNO({ ...base, factorization: 'dense', separable: true });
    const ssd = sep.stateDict();
    const w = ssd.get('fno_blocks.convs.0.weight.tensor');
    assert.ok(w, [...ssd.keys()].join(', '));
    assert.equal(w.shape[0], base.hidden_channels);
    assert.equal(w.shape.length, base.n_modes.length + 2);
    for (const t of ssd.values()) t.release();
    sep.release();
    assert.throws(() => new TFNO({ ...base, ...({ rnak: 0.1 } as object) }), /TFNO: unknown option 'rnak'/);
    assert.throws(() => new TFNO({ ...base, hidden_channels: 0 }), /hidden_channels must be a positive integer/);
    assert.throws(() => validateModel({ name: 'TFNO', ...base, factorization: 'cp', rank: 0.01 }), /TFNO: rank 0.01 gives a CP rank of 0/);
    assert.equal(ledger.snapshot().live, live, 'nothing allocated');
  });
});

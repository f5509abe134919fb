import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { checkParameterGradients } from '../helpers.js';
import { Tensor } from '../../src/core/tensor.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import * as ops from '../../src/autograd/ops.js';
import { dropout } from '../../src/nn/layers.js';
import { Variable, noGrad, tidy } from '../../src/autograd/variable.js';
import { FNO, type FNOOptions } from '../../src/models/fno.js';

const rng = new Rng(12);

describe('FNO', () => {
  it("neuralop's small-Darcy configuration has 191,881 parameters and neuralop's state-dict names", () => {
    const m = new FNO({ n_modes: [8, 8], in_channels: 1, out_channels: 1, hidden_channels: 24, projection_channel_ratio: 2 });
    assert.equal(m.numParameters(), 191881);
    const sd = m.stateDict();
    assert.deepEqual(sd.get('fno_blocks.convs.0.weight')!.shape, [24, 24, 8, 5, 2]);
    assert.deepEqual(sd.get('fno_blocks.convs.3.bias')!.shape, [24, 1, 1]);
    assert.deepEqual(sd.get('fno_blocks.fno_skips.2.conv.weight')!.shape, [24, 24, 1]);
    assert.deepEqual(sd.get('fno_blocks.channel_mlp_skips.1.weight')!.shape, [1, 24, 1, 1]);
    assert.deepEqual(sd.get('lifting.fcs.0.weight')!.shape, [48, 3, 1]);
    assert.deepEqual(sd.get('projection.fcs.1.bias')!.shape, [1]);
    assert.equal(sd.size, 40);
    // init statistics: spectral weights complex N(0, 2/(in+out)) → each part std √(1/48)
    const w = sd.get('fno_blocks.convs.0.weight')!.toFloat64();
    const sd2 = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    assert.ok(Math.abs(sd2 - Math.sqrt(1 / 48)) < 0.01, `${sd2}`);
    for (const t of sd.values()) t.release();
    m.release();
  });

  it('the state dict round-trips into a fresh model (same outputs)', () => {
    const opts: FNOOptions = { n_modes: [6, 4], in_channels: 2, out_channels: 3, hidden_channels: 8, n_layers: 2, seed: 1 };
    const a = new FNO(opts);
    const b = new FNO({ ...opts, seed: 2 });
    const x = rng.fillNormal(Tensor.empty([2, 2, 12, 10]));
    const ya = noGrad(() => tidy(() => a.forward(Variable.constant(x)).value.clone()));
    const sd = a.stateDict();
    b.loadStateDict(sd);
    const yb = noGrad(() => tidy(() => b.forward(Variable.constant(x)).value.clone()));
    assert.deepEqual(yb.toArray(), ya.toArray());
    sd.delete('projection.fcs.1.bias');
    assert.throws(() => b.loadStateDict(sd), /loadStateDict: missing projection.fcs.1.bias/);
    for (const t of sd.values()) t.release();
    for (const t of [x, ya, yb]) t.release();
    a.release();
    b.release();
  });

  for (const [name, extra] of [
    ['1-D, linear skip', { n_modes: [4] }],
    ['2-D, domain padding, identity and soft-gating skips, tanh stabilizer', { n_modes: [4, 4], domain_padding: 0.25, fno_skip: 'identity', stabilizer: 'tanh' }],
    ['2-D, soft-gating fno skip, no channel MLP, no grid', { n_modes: [3, 4], fno_skip: 'soft-gating', use_channel_mlp: false, positional_embedding: null }],
    ['3-D', { n_modes: [2, 2, 2], n_layers: 1 }],
    ['2-D, group norm (2 groups, affine) in the blocks', { n_modes: [4, 4], norm: 'group_norm', norm_groups: 2 }],
    ['2-D, silu non_linearity (blocks, lifting, projection)', { n_modes: [4, 4], non_linearity: 'silu' }],
    ['2-D, preactivation with group norm', { n_modes: [4, 4], preactivation: true, norm: 'group_norm', norm_groups: 2 }],
    ['2-D, channel-MLP dropout (masks of one training step)', { n_modes: [4, 4], channel_mlp_dropout: 0.3 }],
    ['2-D, n_modes larger than the padded grid on both axes (the modes that fit), per-axis domain padding', { n_modes: [12, 12], domain_padding: [0.25, 0] }],
  ] as const) {
    it(`gradients of the whole model match finite differences in float64 (${name})`, () => {
      const opts = { in_channels: 2, out_channels: 1, hidden_channels: 4, n_layers: 2, dtype: 'float64', seed: 3, ...extra } as unknown as FNOOptions;
      const m = new FNO(opts);
      const d = opts.n_modes.length;
      const sizes = d === 1 ? [9] : d === 2 ? [6, 8] : [4, 4, 4];
      const x = rng.fillNormal(Tensor.empty([2, 2, ...sizes], 'float64'));
      // the input, through gradcheck
      const r = gradcheck(([v]) => m.forward(v!), [x], { samples: 6 });
      assert.ok(r.maxRelErr[0]! < 1e-5, `${name}: input gradient error ${r.maxRelErr[0]}`);
      // every parameter tensor: analytic .grad of L = Σ y·R against central differences
      checkParameterGradients(m, () => m.forward(Variable.constant(x)), { rng, eps: 1e-5, tol: 1e-5, floor: 1e-10, samples: 2, gmaxShare: 1e-3, label: name });
      x.release();
      m.release();
    });
  }

  it('instance norm (groups = channels, no affine) and group norm: input and affine gradients match finite differences in float64', () => {
    const x = rng.fillNormal(Tensor.empty([2, 4, 5, 3], 'float64'));
    const w = Tensor.fromArray([0.5, -1.25, 2, 0.75], [4], 'float64');
    const b = Tensor.fromArray([0.1, -0.3, 0.2, 0.4], [4], 'float64');
    const inst = gradcheck(([v]) => ops.groupNorm(v!, 4, 1e-5), [x], { samples: 8 });
    assert.ok(inst.maxRelErr[0]! < 1e-6, `instance norm: ${inst.maxRelErr[0]}`);
    const grp = gradcheck(([v, a, c]) => ops.groupNorm(v!, 2, 1e-5, a, c), [x, w, b], { samples: 8 });
    grp.maxRelErr.forEach((e, i) => assert.ok(e < 1e-6, `group norm input ${i}: ${e}`));
    // per sample and channel: mean 0, biased variance var/(var + eps)
    const y = noGrad(() => ops.groupNorm(Variable.constant(x), 4, 1e-5)).value.toFloat64();
    const s0 = Array.from(y.subarray(0, 15));
    assert.ok(Math.abs(s0.reduce((p, q) => p + q, 0) / 15) < 1e-12);
    for (const t of [x, w, b]) t.release();
  });

  it('the non-GELU activations and their derivatives match finite differences in float64', () => {
    const x = rng.fillNormal(Tensor.empty([3, 2, 7], 'float64'));
    for (const kind of ['relu', 'silu', 'sigmoid', 'tanh'] as const) {
      const r = gradcheck(([v]) => ops.activate(v!, kind), [x], { samples: 10 });
      assert.ok(r.maxRelErr[0]! < 1e-6, `${kind}: ${r.maxRelErr[0]}`);
    }
    x.release();
  });

  it("channel_mlp_dropout: masks repeat within a training step and change with it, p of the values dropped, identity in eval", () => {
    const base = { n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 8, n_layers: 2, seed: 5 } as FNOOptions;
    const m = new FNO({ ...base, channel_mlp_dropout: 0.5 });
    const plain = new FNO(base);
    plain.loadStateDict(m.stateDict());
    const x = rng.fillNormal(Tensor.empty([2, 1, 8, 8]));
    const run = (model: FNO): number[] => noGrad(() => tidy(() => Array.from(model.forward(Variable.constant(x)).value.toFloat64())));
    m.train();
    m.setStep(3, 7);
    const a = run(m);
    assert.deepEqual(run(m), a, 'the same step draws the same masks');
    m.setStep(3, 8);
    const b = run(m);
    assert.notDeepEqual(b, a, 'another step draws other masks');
    m.eval();
    plain.eval();
    assert.deepEqual(run(m), run(plain), 'eval: no dropout');
    // the mask itself: about p dropped, the rest scaled by 1/(1 − p)
    const ones = Variable.constant(Tensor.full([4, 10, 500], 1));
    const d = noGrad(() => dropout(ones, { p: 0.3, seed: 1, id: 0, clock: { epoch: 0, step: 0 } }, 0)).value.toFloat64();
    const zeros = d.filter((v) => v === 0).length / d.length;
    assert.ok(Math.abs(zeros - 0.3) < 0.01, `dropped share ${zeros}`);
    assert.ok(d.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
    x.release();
    m.release();
    plain.release();
  });

  it('bad options are named errors', () => {
    const base: FNOOptions = { n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 4 };
    assert.throws(() => new FNO({ ...base, fno_skip: 'dense' as 'linear' }), /FNO: fno_skip must be one of linear, identity, soft-gating/);
    assert.throws(() => new FNO({ ...base, n_modes: [] }), /FNO: n_modes must list 1 to 3 mode counts/);
    assert.throws(() => new FNO({ ...base, hidden_channels: 0 }), /FNO: hidden_channels must be a positive integer/);
    assert.throws(() => new FNO({ ...base, ...({ hiden_channels: 3 } as object) }), /FNO: unknown option 'hiden_channels'/);
    assert.throws(() => new FNO({ ...base, stabilizer: 'sigmoid' as 'tanh' }), /FNO: stabilizer must be one of tanh, clip_hard, clip_sigma or null/);
    assert.throws(() => new FNO({ ...base, domain_padding: 1.5 }), /FNO: domain_padding must be null, a fraction in \(0, 1\) or one fraction per axis/);
    assert.throws(() => new FNO({ ...base, domain_padding: [0.25] }), /FNO: domain_padding as a list must give one fraction in \[0, 1\) per spatial axis \(2\)/);
    assert.throws(() => new FNO({ ...base, non_linearity: 'softplus' as 'relu' }), /FNO: non_linearity must be one of gelu, relu, silu, tanh, sigmoid, got "softplus"/);
    assert.throws(() => new FNO({ ...base, norm: 'batch_norm' as 'group_norm' }), /FNO: norm must be one of group_norm, instance_norm or null, got "batch_norm"/);
    assert.throws(() => new FNO({ ...base, norm: 'group_norm', norm_groups: 3 }), /FNO: norm_groups 3 does not divide the 4 hidden channels/);
    const m = new FNO(base);
    assert.throws(() => m.forward(Variable.constant(Tensor.zeros([1, 2, 8, 8]))), /FNO: input \[1, 2, 8, 8\] must be \[batch, 1, 2 spatial axes\]/);
    m.release();
  });
});

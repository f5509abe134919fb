/**
 * Parity with neuralop on weights and values made by PyTorch (test/fixtures/parity/, written by
 * scripts/fixtures/make_parity_fixtures.py, which follows neuralop's source and is cross-checked
 * bitwise against the PyTorch peer of neuralop's Darcy example; the SFNO fixture follows neuralop's
 * SphericalConv and torch-harmonics' RealSHT, Condon–Shortley phase included, which the per-degree
 * weight makes invisible in the output; the GINO fixture follows neuralop's GNOBlock, IntegralTransform
 * and GINO with the native neighbour search). Each fixture holds neuralop's state
 * dict (its names and layouts), an input and the output, and one training step: input, target, loss
 * and the gradient of every weight. References are computed in float64 from the float32 weights.
 *
 * Tolerances (float32 model), as relative L2 errors: the output and the loss within 1e-5, every
 * weight's gradient within 5e-5. Float32 rounding is 6e-8 per operation; through ~10 layers of FFTs
 * and GEMMs PyTorch's own float32 outputs land 0.7e-7 to 3e-7 from the float64 reference, and its
 * gradients, after the backward pass, up to 5.3e-6 (each fixture's metadata records these); mpno's
 * are at the same level (outputs ≤ 3e-7, gradients ≤ 1.4e-5, the last on a small spectral weight of
 * the last layer), and the bounds leave a factor of 3 to 30 over them. A model difference is far
 * larger: one GELU more or less moves the outputs by 1e-1, a padding of one cell more by 1e-2 or
 * more, and a different width or a missing skip does not even load.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../src/core/tensor.js';
import { Variable, backward, noGrad, tidy } from '../../src/autograd/variable.js';
import { readSafetensors } from '../../src/data/formats/safetensors.js';
import { GINO, type GINOOptions } from '../../src/models/gino.js';
import { type Batch, releaseBatch } from '../../src/core/batch.js';
import { H1Loss, LpLoss } from '../../src/losses/index.js';
import { FNO, type FNOOptions } from '../../src/models/fno.js';
import { SFNO } from '../../src/models/sfno.js';
import { loadConfig } from '../../src/train/config.js';
import { relL2 } from '../helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/darcy16.json', import.meta.url));
const DIR = fileURLToPath(new URL('../../../test/fixtures/parity/', import.meta.url));
const TOL = 1e-5;
const TOL_GRAD = 5e-5;

interface Fixture {
  config: FNOOptions;
  state: Map<string, Tensor>;
  grads: Map<string, Tensor>;
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
  release(): void;
}

function loadFixture(name: string): Fixture {
  const { tensors, metadata } = readSafetensors(`${DIR}${name}.safetensors`);
  const state = new Map<string, Tensor>();
  const grads = new Map<string, Tensor>();
  for (const [k, t] of Object.entries(tensors)) {
    if (k.startsWith('state/')) state.set(k.slice('state/'.length), t);
    if (k.startsWith('grad/')) grads.set(k.slice('grad/'.length), t);
  }
  const config = JSON.parse(metadata['config'] ?? 'null') as FNOOptions;
  assert.ok(config, `${name}: the fixture has no config metadata`);
  return { config, state, grads, tensors, metadata, release: () => Object.values(tensors).forEach((t) => t.release()) };
}

function get(f: Fixture, name: string): Tensor {
  const t = f.tensors[name];
  assert.ok(t, `the fixture has no tensor '${name}'`);
  return t;
}

/** The fixture's model family in mpno (metadata `family`: FNO unless it says SFNO), with fresh weights. */
function build(f: Fixture): FNO {
  return f.metadata['family'] === 'SFNO' ? new SFNO(f.config) : new FNO(f.config);
}

/** The fixture's model in mpno, loaded (strictly) from neuralop's state dict. */
function modelOf(f: Fixture): FNO {
  const m = build(f);
  m.loadStateDict(f.state);
  return m;
}

function checkForward(t: TestContext, name: string): void {
  const f = loadFixture(name);
  const m = modelOf(f).eval();
  const x = get(f, 'input');
  const y = noGrad(() => tidy(() => m.forward(Variable.constant(x)).value.clone()));
  const ref = get(f, 'output');
  assert.deepEqual(y.shape, ref.shape);
  const e = relL2(y.toFloat64(), ref.toFloat64());
  t.diagnostic(`${name}: output relative L2 error ${e.toExponential(2)} (PyTorch float32: ${f.metadata['torch_f32_output_rel_l2']})`);
  assert.ok(e <= TOL, `${name}: mpno's output is ${e.toExponential(3)} (relative L2) from PyTorch's, above ${TOL}`);
  y.release();
  m.release();
  f.release();
}

/** One training step: the loss and every weight's gradient, compared in neuralop's layout. */
function checkStep(t: TestContext, name: string, loss: (y: Variable, target: Tensor) => Variable): void {
  const f = loadFixture(name);
  const m = modelOf(f).train();
  m.zeroGrad();
  const l = tidy(() => loss(m.forward(Variable.constant(get(f, 'step_input'))), get(f, 'target')));
  const refLoss = get(f, 'loss').item();
  const lossValue = l.item();
  backward(l);
  l.release();
  const le = Math.abs(lossValue - refLoss) / Math.abs(refLoss);
  assert.ok(le <= TOL, `${name}: loss ${lossValue} vs PyTorch's ${refLoss} (relative error ${le.toExponential(3)})`);
  // PyTorch's gradients, loaded like weights into a second model, come out in mpno's parameter layout
  const g = build(f);
  g.loadStateDict(f.grads);
  const refGrads = new Map(g.namedParameters());
  let worst = 0;
  let worstName = '';
  for (const [pname, p] of m.namedParameters()) {
    assert.ok(p.grad, `${name}: ${pname} got no gradient`);
    const e = relL2(p.grad.toFloat64(), refGrads.get(pname)!.value.toFloat64());
    if (e > worst) [worst, worstName] = [e, pname];
    assert.ok(e <= TOL_GRAD, `${name}: the gradient of ${pname} is ${e.toExponential(3)} (relative L2) from PyTorch's, above ${TOL_GRAD}`);
  }
  t.diagnostic(`${name}: loss relative error ${le.toExponential(2)}; worst gradient ${worstName} ${worst.toExponential(2)} (PyTorch float32: ${f.metadata['torch_f32_grad_max_rel_l2']})`);
  g.release();
  m.release();
  f.release();
}

const l2 = new LpLoss({ d: 2, p: 2 });
const lpStep = (y: Variable, target: Tensor) => l2.rel(y, target);

describe("parity with neuralop on PyTorch's weights and values", () => {
  it('the default FNO with weights trained by PyTorch on Darcy: forward (no activation in the last layer)', (t) => {
    checkForward(t, 'darcy_trained');
  });

  it('the default FNO with weights trained by PyTorch on Darcy: H1 loss and every weight gradient of one training step', (t) => {
    const h1 = new H1Loss({ d: 2 });
    checkStep(t, 'darcy_trained', (y, target) => h1.rel(y, target));
  });

  for (const [name, what] of [
    ['no_channel_mlp', 'use_channel_mlp false: GELU twice in every layer but the last'],
    ['domain_padding', 'domain_padding 0.25 on a 10 × 18 grid: round(2.5) = 2, round(4.5) = 4'],
    ['widths', 'hidden 5: channel-MLP width round(2.5) = 2, lifting int(7.5) = 7, projection int(12.5) = 12'],
    ['null_skips', 'fno_skip and channel_mlp_skip null: no skips'],
  ] as const) {
    it(`${what}: forward and one L2 training step`, (t) => {
      checkForward(t, name);
      checkStep(t, name, lpStep);
    });
  }

  it("SFNO with weights trained by PyTorch (torch-harmonics' SHT with the Condon–Shortley phase, neuralop's SphericalConv): forward and one L2 training step", (t) => {
    checkForward(t, 'sfno_trained');
    checkStep(t, 'sfno_trained', lpStep);
  });

  it("GINO with weights trained by PyTorch (neuralop's GNOBlock, IntegralTransform, NeRF embedding, FNOBlocks on a 6³ latent grid): forward and one training step", (t) => {
    const f = loadFixture('gino_trained');
    const config = JSON.parse(f.metadata['config']!) as GINOOptions;
    const m = new GINO(config);
    m.loadStateDict(f.state);
    const P = get(f, 'input_geom').shape[0]!;
    const batch = (): Batch => ({
      size: 1,
      tensors: { input_geom: get(f, 'input_geom').clone(), latent_queries: get(f, 'latent_queries').clone(), latent_features: get(f, 'latent_features').clone() },
      segments: { input_geom: Int32Array.from([0, P]) },
    });
    const b = batch();
    const y = noGrad(() => tidy(() => m.forwardBatch(b).value.toFloat64()));
    const e = relL2(y, get(f, 'output').toFloat64());
    t.diagnostic(`gino_trained: output relative L2 error ${e.toExponential(2)} (PyTorch float32: ${f.metadata['torch_f32_output_rel_l2']})`);
    assert.ok(e <= TOL, `gino_trained: mpno's output is ${e.toExponential(3)} from PyTorch's`);
    m.zeroGrad();
    const l = tidy(() => new LpLoss({}).forward(m.forwardBatch(b), get(f, 'target'), Int32Array.from([0, P])));
    const le = Math.abs(l.item() - get(f, 'loss').item()) / get(f, 'loss').item();
    backward(l);
    l.release();
    assert.ok(le <= TOL, `gino_trained: loss relative error ${le}`);
    const g = new GINO(config);
    g.loadStateDict(f.grads);
    const ref = new Map(g.namedParameters());
    let worst = 0;
    for (const [name, p] of m.namedParameters()) {
      const ge = relL2(p.grad!.toFloat64(), ref.get(name)!.value.toFloat64());
      worst = Math.max(worst, ge);
      assert.ok(ge <= TOL_GRAD, `gino_trained: the gradient of ${name} is ${ge.toExponential(3)} from PyTorch's`);
    }
    t.diagnostic(`gino_trained: loss relative error ${le.toExponential(2)}; worst gradient ${worst.toExponential(2)} (PyTorch float32: ${f.metadata['torch_f32_grad_max_rel_l2']})`);
    releaseBatch(b);
    g.release();
    m.release();
    f.release();
  });

  it("neuralop's spectral weight name (weight.tensor) and mpno's (weight) both load, not both at once", () => {
    const f = loadFixture('null_skips');
    const m = modelOf(f);
    const sd = m.stateDict();
    assert.ok(sd.has('fno_blocks.convs.0.weight') && !sd.has('fno_blocks.convs.0.weight.tensor'));
    m.loadStateDict(sd);
    const both = new Map([...f.state, ['fno_blocks.convs.0.weight', sd.get('fno_blocks.convs.0.weight')!]]);
    assert.throws(() => m.loadStateDict(both), /loadStateDict: both 'fno_blocks.convs.0.weight' and its alias 'fno_blocks.convs.0.weight.tensor' are given/);
    for (const v of sd.values()) v.release();
    m.release();
    f.release();
  });

  it('null skips build no skip modules (neuralop None), unlike the defaults', () => {
    const base: FNOOptions = { n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 4, n_layers: 2 };
    const names = (o: FNOOptions) => {
      const m = new FNO(o);
      const n = m.namedParameters().map(([k]) => k);
      m.release();
      return n;
    };
    assert.ok(names(base).some((k) => k.includes('fno_skips')) && names(base).some((k) => k.includes('channel_mlp_skips')));
    const none = names({ ...base, fno_skip: null, channel_mlp_skip: null });
    assert.deepEqual(none.filter((k) => k.includes('skips')), []);
    assert.ok(names({ ...base, fno_skip: null }).some((k) => k.includes('channel_mlp_skips')));
  });

  it('a run config takes null skips (JSON null, or --set model.fno_skip=null) and keeps them null', () => {
    const c = loadConfig(EXAMPLE, ['model.fno_skip=null', 'model.channel_mlp_skip=null']);
    assert.equal(c.model.fno_skip, null);
    const { name: _n, ...opts } = c.model;
    void _n;
    const m = new FNO(opts);
    assert.equal(m.config.fno_skip, null);
    assert.equal(m.config.channel_mlp_skip, null);
    assert.deepEqual(m.namedParameters().filter(([k]) => k.includes('skips')), []);
    m.release();
  });
});

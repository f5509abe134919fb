/** The automatic precision schedule's decisions, on given measurements (the Trainer's probes are tested in test/train). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AutoPrecisionSchedule, checkAutoOptions, levelAbove } from '../../src/precision/auto.js';
import { relativeDifference, relativeL2 } from '../../src/core/norms.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { Variable, noGrad, tidy } from '../../src/autograd/variable.js';
import { buildModel } from '../../src/models/registry.js';
import { withPrecision } from '../../src/precision/policy.js';

describe('AutoPrecisionSchedule', () => {
  it('switches up one level after `patience` probes in a row above the threshold, never down', () => {
    const s = new AutoPrecisionSchedule({ probeEvery: 5, threshold: 0.5, patience: 2, noiseWeight: 1 });
    assert.equal(s.level, 'half');
    // noise 1 each time (weight 1: the mean is the last value), so the ratio is the error
    assert.equal(s.record(0, 4, 0.6, 1)!.switched, undefined);
    assert.equal(s.record(0, 9, 0.4, 1)!.switched, undefined); // the streak breaks
    assert.equal(s.record(0, 14, 0.7, 1)!.switched, undefined);
    const r = s.record(1, 4, 0.8, 1)!;
    assert.equal(r.switched?.to, 'mixed');
    assert.equal(r.probe.ratio, 0.8);
    assert.equal(s.level, 'mixed');
    assert.deepEqual(s.getState().switches, [{ epoch: 1, step: 4, from: 'half', to: 'mixed', ratios: [0.7, 0.8] }]);
    // a switch straight to full when the probes compared with it (mixed computing what half does)
    const t = new AutoPrecisionSchedule({ probeEvery: 1, threshold: 0.1, patience: 1 });
    assert.equal(t.record(0, 1, 0.5, 1, 'full')!.switched?.to, 'full');
    assert.equal(t.level, 'full');
    assert.equal(t.isProbeStep(3), false, 'no probes once in full');
  });

  it('keeps a running mean of the noise, ignores non-finite probes, and round-trips its state', () => {
    const s = new AutoPrecisionSchedule({ probeEvery: 2, threshold: 0.5, patience: 3, noiseWeight: 0.5 });
    s.record(0, 1, 0.1, 2);
    const p = s.record(0, 3, 0.1, 4)!.probe;
    assert.equal(p.noise_mean, 3);
    assert.ok(Math.abs(p.ratio - 0.1 / 3) < 1e-15);
    assert.equal(s.record(0, 5, Number.NaN, 1), undefined);
    assert.equal(s.getState().probes, 2);
    const copy = new AutoPrecisionSchedule(s.o);
    copy.setState(JSON.parse(JSON.stringify(s.getState())));
    assert.deepEqual(copy.getState(), s.getState());
    assert.throws(() => copy.setState({ level: 'quarter' }), /precision\.auto .* is not an auto schedule's state/);
  });

  it('probes steps k−1, 2k−1, … of an epoch, never its first', () => {
    const s = new AutoPrecisionSchedule({ probeEvery: 4, threshold: 1, patience: 1 });
    assert.deepEqual([...Array(12).keys()].filter((b) => s.isProbeStep(b)), [3, 7, 11]);
    const every = new AutoPrecisionSchedule({ probeEvery: 1, threshold: 1, patience: 1 });
    assert.deepEqual([...Array(4).keys()].filter((b) => every.isProbeStep(b)), [1, 2, 3]);
  });

  it('names bad options', () => {
    const ok = { probeEvery: 4, threshold: 0.1, patience: 3 };
    assert.throws(() => checkAutoOptions({ ...ok, probeEvery: 0 }, 10), /precision\.probe_every must be an integer ≥ 1, got 0/);
    assert.throws(() => checkAutoOptions({ ...ok, probeEvery: 11 }, 10), /probe_every = 11 is larger than an epoch \(10 training steps\)/);
    assert.throws(() => checkAutoOptions({ ...ok, threshold: 0 }, 10), /switch_threshold must be a number > 0, got 0/);
    assert.throws(() => checkAutoOptions({ ...ok, patience: 0 }, 10), /switch_patience must be an integer ≥ 1/);
    assert.throws(() => checkAutoOptions({ ...ok, probeEvery: 1 }, 1), /needs at least 2 training steps per epoch/);
    assert.throws(() => checkAutoOptions({ ...ok, by: 'block' as 'layer' }, 10), /precision\.switch_by must be one of model, layer, got "block"/);
    assert.throws(() => checkAutoOptions({ ...ok, by: 'layer' }, 10), /switch_by 'layer' needs the number of precision-controlled layers/);
    checkAutoOptions({ ...ok, by: 'layer', layers: 4 }, 10);
    checkAutoOptions(ok, 10);
  });

  it('by layer: every layer has its own noise mean and streak, and switches alone', () => {
    const s = new AutoPrecisionSchedule({ probeEvery: 2, threshold: 0.5, patience: 2, noiseWeight: 1, by: 'layer', layers: 3 });
    assert.equal(s.byLayer, true);
    assert.deepEqual(s.levels(), ['half', 'half', 'half']);
    const m = (layer: number, error: number, against: 'mixed' | 'full' = 'full') => ({ layer, error, noise: 1, against });
    // layer 1 above the threshold twice, layer 0 once (then below), layer 2 never
    let r = s.recordLayers(0, 1, [m(0, 0.6), m(1, 0.7), m(2, 0.1)])!;
    assert.deepEqual(r.switched, []);
    assert.deepEqual(r.probes.map((p) => [p.layer, p.ratio]), [[0, 0.6], [1, 0.7], [2, 0.1]]);
    r = s.recordLayers(0, 3, [m(0, 0.2), m(1, 0.9), m(2, 0.1)])!;
    assert.deepEqual(r.switched, [{ epoch: 0, step: 3, from: 'half', to: 'full', ratios: [0.7, 0.9], layer: 1 }]);
    assert.deepEqual(s.levels(), ['half', 'full', 'half']);
    assert.equal(s.level, 'half', 'the lowest layer');
    assert.equal(s.isProbeStep(1), true);
    // a layer in full is not measured any more; a non-finite measurement drops the whole probe
    assert.throws(() => s.recordLayers(0, 5, [m(1, 0.1)]), /layer 1 is already in full precision/);
    assert.throws(() => s.recordLayers(0, 5, [m(7, 0.1)]), /no layer 7 \(0…2\)/);
    assert.equal(s.recordLayers(0, 5, [m(0, Number.NaN), m(2, 0.9)]), undefined);
    assert.equal(s.getState().probes, 2);
    r = s.recordLayers(1, 1, [m(0, 0.8, 'mixed'), m(2, 0.9)])!;
    r = s.recordLayers(1, 3, [m(0, 0.8, 'mixed'), m(2, 0.9)])!;
    assert.deepEqual(r.switched.map((w) => [w.layer, w.to]), [[0, 'mixed'], [2, 'full']]);
    assert.deepEqual(s.levels(), ['mixed', 'full', 'full']);
    // state round trip; a state saved for the whole model (or another layer count) is refused by name
    const copy = new AutoPrecisionSchedule(s.o);
    copy.setState(JSON.parse(JSON.stringify(s.getState())));
    assert.deepEqual(copy.getState(), s.getState());
    const whole = new AutoPrecisionSchedule({ probeEvery: 2, threshold: 0.5, patience: 2 });
    assert.throws(() => whole.setState(s.getState()), /saved by layer over 3 layers, this run switches for the whole model \(precision\.switch_by\)/);
    assert.throws(() => new AutoPrecisionSchedule({ ...s.o, layers: 2 }).setState(s.getState()), /saved by layer over 3 layers, this run switches by layer over 2 layers/);
    assert.throws(() => copy.setState(whole.getState()), /saved for the whole model, this run switches by layer over 3 layers/);
    assert.throws(() => whole.recordLayers(0, 1, []), /switches the whole model; use record/);
    assert.throws(() => s.record(0, 1, 0.1, 1), /switches by layer; use recordLayers/);
    assert.equal(whole.levels(), undefined);
  });

  it('levels and the relative difference', () => {
    assert.deepEqual(['half', 'mixed', 'full'].map((p) => levelAbove(p as 'half')), ['mixed', 'full', undefined]);
    const a = [Float64Array.of(1, 2), Float64Array.of(2)];
    const b = [Float64Array.of(1, 2), Float64Array.of(0)];
    assert.ok(Math.abs(relativeDifference(a, b) - 2 / Math.sqrt(5)) < 1e-15);
    assert.equal(relativeDifference(b, b), 0);
    // scale factors: ‖2a − 4b‖ / ‖4b‖ with a = 2b is 0
    assert.equal(relativeDifference([Float64Array.of(2, 4)], [Float64Array.of(1, 2)], 2, 4), 0);
    assert.ok(Math.abs(relativeDifference([Float64Array.of(1, 0)], [Float64Array.of(1, 1)], 1, 0.5) - 1) < 1e-15);
    assert.equal(relativeL2([1], [0]), Infinity);
    assert.throws(() => relativeDifference([Float64Array.of(1)], [Float64Array.of(1, 2)]), /array 0 has 1 values against 2/);
  });
});

describe('half and mixed under AMP', () => {
  it('compute bit-identical outputs in an FNO (the probes skip mixed there), and differ without AMP', () => {
    const rng = new Rng(3);
    const x = Tensor.fromArray(Float64Array.from({ length: 2 * 1 * 12 * 12 }, () => rng.normal()), [2, 1, 12, 12], 'float32', 'data');
    for (const amp of [true, false]) {
      const model = buildModel({ name: 'FNO', n_modes: [6, 6], in_channels: 1, out_channels: 1, hidden_channels: 8, n_layers: 2, stabilizer: 'tanh', half_type: 'float16', amp, fno_block_precision: 'half' });
      const at = (p: 'half' | 'mixed') => withPrecision(model, { fno_block_precision: p, amp }, () => noGrad(() => tidy(() => {
        const y = model.forward(Variable.constant(x)).value;
        return Array.from(y.toFloat64());
      })));
      const [h, m] = [at('half'), at('mixed')];
      if (amp) assert.deepEqual(h, m);
      else assert.notDeepEqual(h, m);
      model.release();
    }
    x.release();
  });
});

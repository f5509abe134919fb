import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { DataLoader, TensorDataset } from '../../src/data/dataset.js';
import { LpLoss } from '../../src/losses/index.js';
import type { FNOOptions } from '../../src/models/fno.js';
import { type NeuralOperator, buildModel } from '../../src/models/registry.js';
import { Adam } from '../../src/optim/index.js';
import { GradScaler, type GradScalerState } from '../../src/precision/scaler.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { loadConfig } from '../../src/train/config.js';
import { type EpochRecord, Trainer } from '../../src/train/trainer.js';

/**
 * fp16 overflows driven through the library-level Trainer on a tiny FNO (one batch per epoch, so
 * every epoch record is one optimizer step): skipped steps, loss-scale back-off and growth,
 * precision.fallback_after demotion, and a resume from a checkpoint whose scaler state is not the
 * initial one.
 */

interface Run {
  trainer: Trainer;
  model: NeuralOperator;
  optimizer: Adam;
  scaler: GradScaler;
  loader: DataLoader;
  /** The parameters after each epoch (float64 copies). */
  weights: Float64Array[][];
  release(): void;
}

function setup(o: { model: FNOOptions; family?: string; inputScale: number; initScale: number; nEpochs: number; fallbackAfter?: number; runDir?: string; crashInEpoch?: number; evalInterval?: number }): Run {
  const rng = new Rng(3);
  const x = Tensor.fromArray(rng.normalArray(4 * 16 * 16).map((v) => v * o.inputScale), [4, 1, 16, 16]);
  const y = Tensor.fromArray(rng.normalArray(4 * 16 * 16), [4, 1, 16, 16]);
  const data = new TensorDataset(x, y);
  const model = buildModel({ name: o.family ?? 'FNO', ...o.model } as { name: string } & Record<string, unknown>);
  const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
  const scaler = new GradScaler({ initScale: o.initScale, growthInterval: 3 });
  const loader = new DataLoader(data, { batchSize: 4 });
  const weights: Float64Array[][] = [];
  const trainer = new Trainer({
    model, optimizer, trainLoss: new LpLoss({ d: 2 }), evalLosses: { l2: new LpLoss({ d: 2 }) },
    nEpochs: o.nEpochs, evalInterval: o.evalInterval ?? 1000, runDir: o.runDir,
    // checkpoints store the run config; this one describes the test's model
    config: o.runDir ? { ...loadConfig(fileURLToPath(new URL('../../../examples/darcy16.json', import.meta.url))), model: { name: o.family ?? 'FNO', ...o.model } } : undefined,
    precision: { model, scaler, fallbackAfter: o.fallbackAfter },
    onEpoch: (rec) => {
      // a crash in this epoch, after the previous epoch's checkpoint (thrown before its own)
      if (rec.epoch === o.crashInEpoch) throw new Error('crash');
      weights.push(model.parameters().map((p) => p.value.toFloat64()));
    },
  });
  return {
    trainer, model, optimizer, scaler, loader, weights,
    release: () => {
      optimizer.release();
      model.release();
      x.release();
      y.release();
    },
  };
}

/** No evaluation (unless `evaluate`): every forward pass of the model is a training step's. */
const train = (r: Run, evaluate = false) => r.trainer.train(r.loader, evaluate ? { test: r.loader } : {}, () => ({ normalizer: null }));

const same = (a: Float64Array[], b: Float64Array[]) => a.every((t, i) => t.every((v, j) => Object.is(v, b[i]![j])));
const finite = (a: Float64Array[]) => a.every((t) => t.every(Number.isFinite));

const tiny = { n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 6, n_layers: 2, seed: 1 };
/** AMP in fp16 with a tanh stabiliser: forward passes stay finite, activation gradients are fp16. */
const ampModel: FNOOptions = { ...tiny, stabilizer: 'tanh', amp: true, half_type: 'float16' };

describe('fp16 overflow through training', () => {
  it('a loss scale too large for fp16 gradients: steps are skipped (weights untouched), the scale backs off, then grows after clean steps', () => {
    // 2^30 times the loss gradient overflows the fp16 activation gradients (max 65504)
    const r = setup({ model: ampModel, inputScale: 1, initScale: 2 ** 30, nEpochs: 16 });
    const w0 = r.model.parameters().map((p) => p.value.toFloat64());
    train(r);
    const h = r.trainer.history;
    let scale = 2 ** 30;
    let skipped = 0;
    let clean = 0;
    let grew = 0;
    h.forEach((rec, e) => {
      const before = e === 0 ? w0 : r.weights[e - 1]!;
      assert.ok(finite(r.weights[e]!), `epoch ${e}: a non-finite value reached the weights`);
      assert.ok(Number.isFinite(rec.train_err), 'the loss itself is finite: only the gradients overflow');
      if (rec.skipped_steps! > skipped) {
        assert.equal(rec.skipped_steps, skipped + 1);
        assert.ok(same(r.weights[e]!, before), `epoch ${e}: a skipped step changed the weights`);
        assert.equal(rec.loss_scale, scale / 2, `epoch ${e}: the scale halves on overflow`);
        clean = 0;
      } else {
        assert.ok(!same(r.weights[e]!, before), `epoch ${e}: a clean step must update the weights`);
        clean++;
        // growthInterval 3: the third clean step in a row doubles the scale
        assert.equal(rec.loss_scale, clean === 3 ? scale * 2 : scale, `epoch ${e}: scale after ${clean} clean steps`);
        if (clean === 3) {
          grew++;
          clean = 0;
        }
      }
      scale = rec.loss_scale!;
      skipped = rec.skipped_steps!;
    });
    // it backed off from 2^30 by several halvings before the first clean step, and grew again later
    const firstClean = h.findIndex((rec, e) => rec.skipped_steps === (e === 0 ? 0 : h[e - 1]!.skipped_steps));
    assert.ok(firstClean >= 3, `first clean step at epoch ${firstClean}`);
    assert.ok(h[firstClean]!.loss_scale! <= 2 ** 27);
    assert.ok(grew >= 1 && skipped >= 4, `grew ${grew}×, skipped ${skipped}`);
    assert.ok(h.every((rec) => rec.precision!.every((p) => p === 'full')), 'no forward overflow, no fallback');
    r.release();
  });

  for (const [family, evaluate] of [['FNO', false], ['FNO', true], ['TFNO', false]] as const) it(`${family}: forward overflows in half Fourier layers are skipped and demote the layers half → mixed → full after fallback_after of them${evaluate ? ' (evaluating every epoch: evaluation passes do not count)' : ''}`, () => {
    // no stabiliser, unnormalised ('backward') FFT and inputs of 1e5: the 16-bit spectrum overflows
    const N = 2;
    const factorized = family === 'TFNO' ? { factorization: 'cp', rank: 0.5 } : {};
    const r = setup({ family, model: { ...tiny, ...factorized, fno_block_precision: 'half', half_type: 'float16', fft_norm: 'backward' }, inputScale: 1e5, initScale: 2 ** 16, nEpochs: 7, fallbackAfter: N, evalInterval: evaluate ? 1 : 1000 });
    const w0 = r.model.parameters().map((p) => p.value.toFloat64());
    train(r, evaluate);
    // each epoch records its own overflowing training passes (one batch per epoch), the demoting one included
    assert.deepEqual(r.trainer.history.map((rec) => rec.overflows), [[1, 1], [1, 1], [1, 1], [1, 1], [0, 0], [0, 0], [0, 0]]);
    const h = r.trainer.history;
    const events = h.flatMap((rec) => rec.events ?? []);
    for (const layer of [0, 1]) {
      // N overflowing passes in half, then N in mixed; each demotion happens on the N-th one
      assert.deepEqual(h.map((rec) => rec.precision![layer]), ['half', 'half', 'mixed', 'mixed', 'full', 'full', 'full']);
      assert.ok(events.includes(`layer ${layer} fell back from half to mixed after ${N} overflows (epoch 1)`), events.join('; '));
      assert.ok(events.includes(`layer ${layer} fell back from mixed to full after ${N} overflows (epoch 3)`), events.join('; '));
    }
    assert.deepEqual(r.model.precisionReport().map((l) => l.precision), ['full', 'full']);
    h.forEach((rec, e) => {
      const before = e === 0 ? w0 : r.weights[e - 1]!;
      assert.ok(finite(r.weights[e]!), `epoch ${e}: a non-finite value reached the weights`);
      if (e < 2 * N) {
        // the forward overflowed: the step is skipped and counted, the scale backs off
        assert.equal(rec.skipped_steps, e + 1);
        assert.equal(rec.loss_scale, 2 ** (15 - e));
        assert.equal(rec.train_err, 0, 'a skipped step adds no loss');
        assert.ok(same(r.weights[e]!, before), `epoch ${e}: a skipped step changed the weights`);
      } else {
        // in full precision the same inputs train normally
        assert.equal(rec.skipped_steps, 2 * N);
        assert.ok(Number.isFinite(rec.train_err) && rec.train_err > 0);
        assert.ok(!same(r.weights[e]!, before), `epoch ${e}: a clean step must update the weights`);
      }
    });
    r.release();
  });

  it('resuming from a checkpoint with a backed-off scale and a half-counted growth interval continues exactly like the uninterrupted run', () => {
    const E = 14;
    const a = setup({ model: ampModel, inputScale: 1, initScale: 2 ** 30, nEpochs: E });
    train(a);
    // the first epoch after which the scaler is mid-way through a growth interval, backed off
    const k = a.trainer.history.findIndex((rec, e) => rec.loss_scale! < 2 ** 30 && e >= 1 && rec.skipped_steps === a.trainer.history[e - 1]!.skipped_steps && rec.loss_scale === a.trainer.history[e - 1]!.loss_scale) + 1;
    assert.ok(k > 1 && k < E - 3, `checkpoint after epoch ${k}`);
    const dir = mkdtempSync(path.join(tmpdir(), 'mpno-overflow-'));
    const b1 = setup({ model: ampModel, inputScale: 1, initScale: 2 ** 30, nEpochs: E, runDir: dir, crashInEpoch: k });
    assert.throws(() => train(b1), /crash/);
    const ck = loadCheckpoint(dir);
    const saved = (ck.state.precision as { scaler: GradScalerState }).scaler;
    assert.ok(saved.scale < 2 ** 30 && saved.cleanSteps > 0 && saved.cleanSteps < 3 && saved.skipped > 0, JSON.stringify(saved));
    assert.equal(saved.scale, a.trainer.history[k - 1]!.loss_scale);
    assert.equal(saved.skipped, a.trainer.history[k - 1]!.skipped_steps);
    b1.release();
    // a fresh process-like start: new model, optimizer, scaler (at its initial scale) and loader
    const b2 = setup({ model: ampModel, inputScale: 1, initScale: 2 ** 30, nEpochs: E, runDir: dir });
    b2.model.loadStateDict(ck.weights);
    for (const t of Object.values(ck.weights)) t.release();
    b2.optimizer.loadStateDict(ck.state.optimizer as never);
    b2.loader.setState(ck.state.loaderRng as never);
    b2.trainer.epoch = ck.state.epoch;
    b2.trainer.history = ck.state.history as EpochRecord[];
    b2.trainer.restorePrecision(ck.state.precision);
    assert.deepEqual(b2.scaler.getState(), saved);
    train(b2);
    const strip = (rec: EpochRecord) => ({ ...rec, time_s: 0, samples_per_s: 0 });
    assert.deepEqual(b2.trainer.history.map(strip), a.trainer.history.map(strip));
    assert.deepEqual(b2.scaler.getState(), a.scaler.getState());
    assert.ok(same(b2.weights.at(-1)!, a.weights.at(-1)!), 'final weights are bit for bit those of the uninterrupted run');
    // the resumed run went through at least one more skip and one growth after the checkpoint
    const after = a.trainer.history.slice(k);
    assert.ok(after.some((rec) => rec.skipped_steps! > saved.skipped), 'a skipped step after the resume');
    assert.ok(after.some((rec) => rec.loss_scale! > saved.scale), 'a growth after the resume');
    a.release();
    b2.release();
  });
});

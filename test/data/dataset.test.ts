import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tensor } from '../../src/core/tensor.js';
import { DataLoader, TensorDataset, UnitGaussianNormalizer, loadDarcyPt } from '../../src/data/dataset.js';

const shared = (f: string) => fileURLToPath(new URL(`../../../../shared/data/neuralop/${f}`, import.meta.url));

describe('Darcy data as neuralop loads it', () => {
  it('darcy_train_16.pt: x [1000, 1, 16, 16] binary, y [1000, 1, 16, 16] finite', () => {
    const ds = loadDarcyPt(shared('darcy_train_16.pt'));
    assert.deepEqual(ds.x.shape, [1000, 1, 16, 16]);
    assert.deepEqual(ds.y.shape, [1000, 1, 16, 16]);
    const x = ds.x.toFloat64();
    assert.ok(x.every((v) => v === 0 || v === 1));
    assert.ok(x.some((v) => v === 0) && x.some((v) => v === 1));
    ds.release();
  });

  it('n limits the samples; asking for more than the file has is an error naming the file', () => {
    const ds = loadDarcyPt(shared('darcy_test_16.pt'), { n: 7 });
    assert.equal(ds.length, 7);
    ds.release();
    assert.throws(() => loadDarcyPt(shared('darcy_test_16.pt'), { n: 51 }), /darcy_test_16\.pt: asked for 51 samples, the file has 50/);
    assert.throws(() => loadDarcyPt(shared('mini_car.pt')), /mini_car\.pt: expected a dict with tensors 'x' and 'y'/);
    assert.throws(() => loadDarcyPt(shared('LICENSE')), /LICENSE/);
  });

  it('UnitGaussianNormalizer: one mean and unbiased std per channel; decode inverts encode', () => {
    const t = Tensor.fromArray([1, 2, 3, 4, 10, 20, 30, 40], [2, 2, 2], 'float64');
    const n = UnitGaussianNormalizer.fit(t);
    // channel 0 = {1, 2, 10, 20}, channel 1 = {3, 4, 30, 40}
    const m0 = 33 / 4;
    const s0 = Math.sqrt([1, 2, 10, 20].reduce((a, v) => a + (v - m0) ** 2, 0) / 3);
    assert.ok(Math.abs(n.mean[0]! - m0) < 1e-12 && Math.abs(n.std[0]! - s0) < 1e-12);
    const e = n.encode(t);
    const back = n.decode(e);
    back.toFloat64().forEach((v, i) => assert.ok(Math.abs(v - t.toFloat64()[i]!) < 1e-9));
    assert.throws(() => n.encode(Tensor.zeros([2, 3, 2])), /does not have 2 channel\(s\) on axis 1/);
    const s = UnitGaussianNormalizer.fromState(JSON.parse(JSON.stringify(n.getState())));
    assert.deepEqual(s.mean, n.mean);
  });

  it('DataLoader: in order, shuffled reproducibly by seed and state, drop_last', () => {
    const ds = new TensorDataset(Tensor.fromArray([0, 1, 2, 3, 4], [5, 1]), Tensor.fromArray([0, 1, 2, 3, 4], [5, 1]));
    assert.deepEqual(new DataLoader(ds, { batchSize: 2 }).epochBatches(), [[0, 1], [2, 3], [4]]);
    assert.deepEqual(new DataLoader(ds, { batchSize: 2, dropLast: true }).epochBatches(), [[0, 1], [2, 3]]);
    const a = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 9 });
    const b = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 9 });
    a.epochBatches();
    b.setState(a.getState());
    assert.deepEqual(a.epochBatches(), b.epochBatches());
    const { x } = ds.gather([4, 0]);
    assert.deepEqual(x.toArray(), [4, 0]);
    assert.throws(() => ds.gather([5]), /sample index 5 is outside 0…4/);
    assert.throws(() => new DataLoader(ds, { batchSize: 0 }), /batch size must be a positive integer/);
  });
});

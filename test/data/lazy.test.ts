import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { releaseBatch } from '../../src/core/batch.js';
import { DataLoader, TensorDataset, UnitGaussianNormalizer } from '../../src/data/dataset.js';
import { fitOutputNormalizer, loadAnyDataset, loadDataset, readDatasetMeta } from '../../src/data/dataset-file.js';
import { LazyGridDataset, SampleCache } from '../../src/data/lazy.js';

const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));

function mpno(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '1' } });
}

const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-lazy-'));
const whole = path.join(tmp, 'whole.safetensors');

describe('lazy datasets and shard sets', () => {
  before(() => {
    // 10 darcy samples at 9², all at once and as 3 shards of the same generation (plus one of another seed)
    let r = mpno('generate', 'darcy', '--n', '10', '--resolution', '9', '--seed', '5', '--out', whole, '--workers', '2');
    assert.equal(r.status, 0, r.stderr);
    for (let i = 0; i < 3; i++) {
      r = mpno('generate', 'darcy', '--n', '10', '--resolution', '9', '--seed', '5', '--out', path.join(tmp, 'set', 'd.safetensors'), '--shard', `${i}/3`, '--workers', '1');
      assert.equal(r.status, 0, r.stderr);
    }
    r = mpno('generate', 'darcy', '--n', '10', '--resolution', '9', '--seed', '6', '--out', path.join(tmp, 'other', 'd.safetensors'), '--shard', '1/3');
    assert.equal(r.status, 0, r.stderr);
  });

  it('a lazy dataset gives the in-memory batches bit for bit, shuffled, through a cache that never holds more than its budget', () => {
    const mem = loadDataset(whole);
    const per = 4 * (mem.x.size + mem.y.size) / mem.length;
    const cache = new SampleCache(3 * per);
    const lazy = loadAnyDataset(whole, { cache });
    assert.ok(lazy instanceof LazyGridDataset);
    try {
      assert.deepEqual(lazy.xShape, [...mem.x.shape]);
      const a = new DataLoader(mem, { batchSize: 4, shuffle: true, seed: 3 });
      const b = new DataLoader(lazy, { batchSize: 4, shuffle: true, seed: 3 });
      for (let epoch = 0; epoch < 3; epoch++) {
        const ea = a.epochBatches();
        assert.deepEqual(b.epochBatches(), ea);
        for (const idx of ea) {
          const want = mem.batch(idx);
          const got = lazy.batch(idx);
          assert.deepEqual(got.tensors['x']!.toArray(), want.tensors['x']!.toArray());
          assert.deepEqual(got.tensors['y']!.toArray(), want.tensors['y']!.toArray());
          releaseBatch(want);
          releaseBatch(got);
          assert.ok(cache.bytes <= 3 * per && cache.size <= 3, `cache holds ${cache.bytes} bytes`);
        }
      }
      assert.ok(cache.stats.evictions > 0 && cache.stats.hits > 0, JSON.stringify(cache.stats));
      assert.ok(cache.stats.peakBytes <= 3 * per);
      // repeated indices in one batch, and a hit after a miss
      const g = lazy.gather([7, 7, 2]);
      assert.deepEqual(g.x.toArray(), [...mem.gather([7]).x.toArray(), ...mem.gather([7]).x.toArray(), ...mem.gather([2]).x.toArray()]);
      g.x.release();
      g.y.release();
      assert.throws(() => lazy.batch([10]), /sample index 10 is outside 0…9/);
    } finally {
      lazy.release();
      mem.release();
    }
  });

  it('in-order misses are read as runs of consecutive samples; a shuffled batch reads single samples', () => {
    const cache = new SampleCache(1 << 20);
    const lazy = loadAnyDataset(whole, { cache }) as LazyGridDataset;
    try {
      releaseBatch(lazy.batch([0, 1, 2, 3, 4]));
      assert.equal(cache.stats.reads, 1);
      releaseBatch(lazy.batch([9, 6, 2]));
      assert.equal(cache.stats.reads, 3, 'two new samples, not adjacent: two reads, the third a hit');
      assert.equal(cache.stats.bytesRead, 7 * lazy.sampleBytes);
    } finally {
      lazy.release();
    }
  });

  it('the normaliser fitted in a streaming pass over a lazy dataset equals the in-memory fit bit for bit', () => {
    const mem = loadDataset(whole);
    const lazy = loadAnyDataset(whole, { cache: new SampleCache(1000) }) as LazyGridDataset;
    try {
      assert.deepEqual(fitOutputNormalizer(lazy).getState(), UnitGaussianNormalizer.fit(mem.y).getState());
      // in chunks of one sample
      let chunks = 0;
      const one = UnitGaussianNormalizer.fitChunks(lazy.yShape.slice(1), (fn) => lazy.forEachTargetChunk((y, n) => { chunks++; fn(y, n); }, 1));
      assert.equal(chunks, 20);
      assert.deepEqual(one.getState(), UnitGaussianNormalizer.fit(mem.y).getState());
    } finally {
      lazy.release();
      mem.release();
    }
  });

  it('generate --shard: each shard holds its range with its place in the metadata; the set reads as the unsharded dataset, bitwise', () => {
    const meta = readDatasetMeta(path.join(tmp, 'set', 'd-1-of-3.safetensors'))!;
    assert.deepEqual(meta.shard, { index: 1, count: 3, start: 3, end: 6, total: 10 });
    assert.equal(meta.seed, 5);
    assert.equal(meta.samples, 3);
    const mem = loadDataset(whole);
    const set = loadAnyDataset(path.join(tmp, 'set', 'd-*-of-3.safetensors'));
    try {
      assert.ok(set instanceof LazyGridDataset);
      assert.equal(set.length, 10);
      const all = set.gather(Array.from({ length: 10 }, (_, i) => i));
      assert.deepEqual(Buffer.from((all.x.data as Float32Array).buffer, (all.x.data as Float32Array).byteOffset, all.x.nbytes), Buffer.from((mem.x.data as Float32Array).buffer, (mem.x.data as Float32Array).byteOffset, mem.x.nbytes));
      assert.deepEqual(all.y.toArray(), mem.y.toArray());
      all.x.release();
      all.y.release();
      // a read across shard boundaries
      const mid = set.gather([2, 3, 4, 5, 6]);
      assert.deepEqual(mid.y.toArray(), mem.gather([2, 3, 4, 5, 6]).y.toArray());
      mid.x.release();
      mid.y.release();
    } finally {
      set.release();
      mem.release();
    }
  });

  it('a shard set with a missing or duplicated shard, or shards of different generations: named errors', () => {
    const dir = (name: string, files: [string, string][]) => {
      const d = path.join(tmp, name);
      mkdirSync(d);
      for (const [from, to] of files) copyFileSync(from, path.join(d, to));
      return path.join(d, 'd-*-of-3.safetensors');
    };
    const s = (i: number) => path.join(tmp, 'set', `d-${i}-of-3.safetensors`);
    assert.throws(() => loadAnyDataset(dir('missing', [[s(0), 'd-0-of-3.safetensors'], [s(2), 'd-2-of-3.safetensors']])), /shard 1 of 3 missing \(found 0, 2\)/);
    assert.throws(() => loadAnyDataset(dir('twice', [[s(0), 'd-0-of-3.safetensors'], [s(1), 'd-1-of-3.safetensors'], [s(1), 'd-01-of-3.safetensors'], [s(2), 'd-2-of-3.safetensors']])), /shard 1 of 3 appears twice \(.*d-01-of-3\.safetensors and .*d-1-of-3\.safetensors\)/);
    assert.throws(() => loadAnyDataset(dir('mixed', [[s(0), 'd-0-of-3.safetensors'], [path.join(tmp, 'other', 'd-1-of-3.safetensors'), 'd-1-of-3.safetensors'], [s(2), 'd-2-of-3.safetensors']])), /d-1-of-3\.safetensors and .*d-0-of-3\.safetensors are from different generations \(seed: 6 vs 5\)/);
    assert.throws(() => loadAnyDataset(dir('plain', [[whole, 'd-x-of-3.safetensors']])), /is not a shard \(no shard metadata/);
    assert.throws(() => loadAnyDataset(path.join(tmp, 'nowhere', 'd-*-of-3.safetensors')), /no such directory/);
    assert.throws(() => loadAnyDataset(path.join(tmp, 'set', 'e-*-of-3.safetensors')), /no file matches the shard-set pattern/);
    // generate refuses a bad --shard before any work
    let r = mpno('generate', 'darcy', '--n', '4', '--resolution', '9', '--out', path.join(tmp, 'x.safetensors'), '--shard', '3/3');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--shard takes i\/n with 0 ≤ i < n/);
    r = mpno('generate', 'darcy', '--n', '2', '--resolution', '9', '--out', path.join(tmp, 'x.safetensors'), '--shard', '0/3');
    assert.match(r.stderr, /shard 0 of 3 over --n 2 samples is empty/);
    assert.equal(existsSync(path.join(tmp, 'x-0-of-3.safetensors')), false);
  });

  it('mpno train on a shard set with --cache-mb; a shard set with a missing shard stops the run before anything is written', () => {
    const c = {
      data: { train: 'set/d-*-of-3.safetensors', test: { 9: 'whole.safetensors' }, batch_size: 2, test_batch_size: 5, shuffle: true, encode_output: true },
      model: { name: 'FNO', n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 8, projection_channel_ratio: 2 },
      optimizer: { name: 'AdamW', lr: 0.01, weight_decay: 0.0001 }, scheduler: null,
      training: { n_epochs: 1, eval_interval: 1, train_loss: 'l2', eval_losses: ['l2'], seed: 0 },
      output: { dir: path.join(tmp, 'run'), checkpoint_every: 1 },
    };
    writeFileSync(path.join(tmp, 'c.json'), JSON.stringify(c));
    let r = mpno('train', '--config', path.join(tmp, 'c.json'), '--cache-mb', '0.01', '--quiet');
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(path.join(tmp, 'run', 'metrics.jsonl')));
    c.data.train = 'missing/d-*-of-3.safetensors';
    c.output.dir = path.join(tmp, 'run2');
    writeFileSync(path.join(tmp, 'c.json'), JSON.stringify(c));
    r = mpno('train', '--config', path.join(tmp, 'c.json'), '--quiet');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /shard 1 of 3 missing/);
    assert.equal(existsSync(path.join(tmp, 'run2')), false);
  });

  it('an in-memory dataset and a lazy one report the same shapes', () => {
    const mem = loadDataset(whole);
    const lazy = loadAnyDataset(whole, { cache: new SampleCache() }) as LazyGridDataset;
    try {
      assert.ok(mem instanceof TensorDataset);
      assert.deepEqual([...mem.xShape], lazy.xShape);
      assert.deepEqual([...mem.yShape], lazy.yShape);
    } finally {
      lazy.release();
      mem.release();
    }
  });
});

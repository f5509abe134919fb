import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { releaseBatch } from '../../src/core/batch.js';
import { type AnyDataset, fitOutputNormalizer, loadAnyDataset } from '../../src/data/dataset-file.js';
import { UnitGaussianNormalizer } from '../../src/data/dataset.js';
import { fileKind, initHdf5 } from '../../src/data/formats/hdf5.js';
import { LazyGridDataset } from '../../src/data/lazy.js';
import type { DataSourceSpec } from '../../src/data/sources.js';
import { loadConfig } from '../../src/train/config.js';

// the fixtures of scripts/fixtures/make_hdf5_fixtures.py; every value is f of its logical index
const fx = fileURLToPath(new URL('../../../test/fixtures/hdf5/', import.meta.url));
const bin = fileURLToPath(new URL('../../../bin/mpno.js', import.meta.url));
const example = fileURLToPath(new URL('../../../examples/hdf5-ns-mat.json', import.meta.url));
const KIDS: Record<string, number> = { a: 1, u: 2, coeff: 3, sol: 4, nu: 5, tensor: 6, density: 7, pressure: 8, Vx: 9, Vy: 10, data: 11 };
const STEPS = [0.1, 0.01, 0.001, 0.0001];

/** The script's f(kid, n, i0, i1, …), left to right in float64. */
function f(key: string, n: number, ...idx: number[]): number {
  let v = KIDS[key]! * 100 + n;
  idx.forEach((i, k) => { v += i * STEPS[k]!; });
  return v;
}

/** The same for a per-sample group's array (the sample's n added first). */
function g(key: string, n: number, ...idx: number[]): number {
  return f(key, n, ...idx);
}

function load(spec: DataSourceSpec, n?: number): LazyGridDataset {
  const d = loadAnyDataset({ ...spec, file: path.join(fx, spec.file) }, n !== undefined ? { n } : {});
  assert.ok(d instanceof LazyGridDataset, 'HDF5 sources are read lazily');
  return d;
}

/** Every value of x (or y) of the whole dataset against want(b, c, i, j). */
function check(d: AnyDataset, field: 'x' | 'y', want: (b: number, c: number, ...s: number[]) => number): void {
  const b = d.batch(Array.from({ length: d.length }, (_, i) => i));
  try {
    const t = b.tensors[field]!;
    const v = t.toFloat64();
    const [B, C, ...sp] = t.shape as number[];
    const S = sp.reduce((a, x) => a * x, 1);
    for (let n = 0; n < B!; n++) for (let c = 0; c < C!; c++) for (let k = 0; k < S; k++) {
      const s = sp.length === 2 ? [Math.floor(k / sp[1]!), k % sp[1]!] : [k];
      const w = Math.fround(want(n, c, ...s));
      if (v[(n * C! + c) * S + k] !== w) assert.fail(`${field}[${n}, ${c}, ${s.join(', ')}] = ${v[(n * C! + c) * S + k]}, want ${w}`);
    }
  } finally {
    releaseBatch(b);
  }
}

describe('HDF5 and MATLAB v7.3 data sources', () => {
  before(() => initHdf5());

  it('tells the file kinds apart by their first bytes', () => {
    assert.equal(fileKind(path.join(fx, 'ns_v73.mat')), 'matlab-v73');
    assert.equal(fileKind(path.join(fx, 'pdebench_darcy.hdf5')), 'hdf5');
    assert.equal(fileKind(path.join(fx, 'v5.mat')), 'matlab-v5');
    assert.equal(fileKind(example), 'other');
  });

  it('MATLAB v7.3 (FNO Navier-Stokes): the arrays are read in MATLAB\'s index order, a → w(t)', () => {
    const d = load({ file: 'ns_v73.mat', x: 'a', y: 'u', time: { y: 2 } });
    try {
      assert.deepEqual(d.xShape, [4, 1, 8, 8]);
      assert.deepEqual(d.yShape, [4, 1, 8, 8]);
      check(d, 'x', (n, _c, i, j) => f('a', n, i!, j!));
      check(d, 'y', (n, _c, i, j) => f('u', n, i!, j!, 2));
    } finally {
      d.release();
    }
  });

  it('MATLAB v7.3: the FNO convention, the first steps as input channels, a later step as the target; index and subsample', () => {
    const d = load({ file: 'ns_v73.mat', x: 'u', y: 'u', time: { x: ':3', y: -1 }, index: '1:4', subsample: 2 });
    try {
      assert.deepEqual(d.xShape, [3, 3, 4, 4]);
      check(d, 'x', (b, c, i, j) => f('u', b + 1, 2 * i!, 2 * j!, c));
      check(d, 'y', (b, _c, i, j) => f('u', b + 1, 2 * i!, 2 * j!, 4));
    } finally {
      d.release();
    }
    // an index list, in its order, and n (data.n_train) after it
    const e = load({ file: 'ns_v73.mat', x: 'a', y: 'u', time: { y: '1:5:2' }, index: [3, 0, 2] }, 2);
    try {
      assert.equal(e.length, 2);
      check(e, 'x', (b, _c, i, j) => f('a', [3, 0][b]!, i!, j!));
      check(e, 'y', (b, c, i, j) => f('u', [3, 0][b]!, i!, j!, 1 + 2 * c));
    } finally {
      e.release();
    }
  });

  it('MATLAB v7.3 (FNO Darcy): coeff → sol on a vertex-centred grid subsampled by 2 (9 → 5 points)', () => {
    const d = load({ file: 'darcy_v73.mat', x: 'coeff', y: 'sol', subsample: 2 });
    try {
      assert.deepEqual(d.xShape, [4, 1, 5, 5]);
      check(d, 'x', (n, _c, i, j) => f('coeff', n, 2 * i!, 2 * j!));
      check(d, 'y', (n, _c, i, j) => f('sol', n, 2 * i!, 2 * j!));
    } finally {
      d.release();
    }
    // read as stored (layout 'hdf5'), the sample axis is MATLAB's last: [9, 9, 4] has 9 "samples" of 9 × 4
    const h = load({ file: 'darcy_v73.mat', x: 'coeff', y: 'sol', layout: 'hdf5' });
    try {
      assert.deepEqual(h.xShape, [9, 1, 9, 4]);
      check(h, 'x', (j, _c, i, n) => f('coeff', n!, i!, j));
    } finally {
      h.release();
    }
  });

  it('PDEBench 2D Darcy: nu [N, 8, 8] → tensor [N, 1, 8, 8] (the size-1 axis is a channel)', () => {
    const d = load({ file: 'pdebench_darcy.hdf5', x: 'nu', y: 'tensor' });
    try {
      assert.deepEqual(d.xShape, [4, 1, 8, 8]);
      assert.deepEqual(d.yShape, [4, 1, 8, 8]);
      check(d, 'x', (n, _c, i, j) => f('nu', n, i!, j!));
      check(d, 'y', (n, c, i, j) => f('tensor', n, c, i!, j!));
    } finally {
      d.release();
    }
  });

  it('PDEBench 1D time-dependent: tensor [N, T, X], the first step → the last', () => {
    const d = load({ file: 'pdebench_1d.hdf5', x: 'tensor', y: 'tensor', time: { x: 0, y: -1 } });
    try {
      assert.deepEqual(d.xShape, [4, 1, 16]);
      check(d, 'x', (n, _c, i) => f('tensor', n, 0, i!));
      check(d, 'y', (n, _c, i) => f('tensor', n, 4, i!));
    } finally {
      d.release();
    }
  });

  it('PDEBench 2D CFD: several fields stacked as channels, key by key, each key step by step', () => {
    const d = load({ file: 'pdebench_cfd.hdf5', x: ['density', 'Vx'], y: ['density', 'Vy'], time: { x: ':2', y: 4 } });
    try {
      assert.deepEqual(d.xShape, [4, 4, 8, 8]);
      assert.deepEqual(d.yShape, [4, 2, 8, 8]);
      check(d, 'x', (n, c, i, j) => f(c < 2 ? 'density' : 'Vx', n, c % 2, i!, j!));
      check(d, 'y', (n, c, i, j) => f(c === 0 ? 'density' : 'Vy', n, 4, i!, j!));
    } finally {
      d.release();
    }
  });

  it('PDEBench per-sample groups (0000/data [T, X, Y, C]): detected; channels time-major, then the c axis', () => {
    const d = load({ file: 'pdebench_groups.h5', x: 'data', y: 'data', time: { x: 0, y: '3:5' } });
    try {
      assert.deepEqual(d.xShape, [4, 2, 8, 8]);
      assert.deepEqual(d.yShape, [4, 4, 8, 8]);
      check(d, 'x', (n, c, i, j) => g('data', n, 0, i!, j!, c));
      check(d, 'y', (n, c, i, j) => g('data', n, 3 + Math.floor(c / 2), i!, j!, c % 2));
    } finally {
      d.release();
    }
  });

  it('the normaliser fitted in a streaming pass equals the in-memory fit bit for bit', () => {
    const d = load({ file: 'pdebench_cfd.hdf5', x: 'density', y: ['pressure', 'Vy'], time: { x: 0, y: '1:4' } });
    const b = d.batch([0, 1, 2, 3]);
    try {
      const whole = UnitGaussianNormalizer.fit(b.tensors['y']!);
      const streamed = fitOutputNormalizer(d);
      assert.deepEqual(streamed.getState(), whole.getState());
      // in chunks of one sample (the reader's smallest)
      const one = UnitGaussianNormalizer.fitChunks(d.yShape.slice(1), (fn) => {
        const v = b.tensors['y']!.toFloat64();
        const per = v.length / 4;
        for (let n = 0; n < 4; n++) fn(v.subarray(n * per, (n + 1) * per), 1);
      });
      assert.deepEqual(one.getState(), whole.getState());
    } finally {
      releaseBatch(b);
      d.release();
    }
  });

  it('bad input: named errors', () => {
    const fails = (spec: DataSourceSpec, re: RegExp) => assert.throws(() => load(spec).release(), re);
    fails({ file: 'v5.mat', x: 'a', y: 'u' }, /v5\.mat: a MATLAB v5\/v7 MAT-file \(not HDF5\).*save\('file\.mat', '-v7\.3'\).*scipy\.io\.loadmat/);
    // a v5 file named by its path alone is refused the same way
    assert.throws(() => loadAnyDataset(path.join(fx, 'v5.mat')), /MATLAB v5\/v7 MAT-file/);
    fails({ file: 'pdebench_darcy.hdf5', x: 'coef', y: 'tensor' }, /no dataset 'coef' \(data source: the file has flat, nan_field, nu, short, tensor, x-coordinate, y-coordinate\)/);
    fails({ file: 'pdebench_groups.h5', x: 'dat', y: 'data', samples: 'groups' }, /no dataset 'dat' \(data source: group '0000' has data, grid\)/);
    fails({ file: 'pdebench_darcy.hdf5', x: 'flat', y: 'nu' }, /dataset 'flat' \(\[4\], axes "n"\): no spatial axis \(rank 1\)/);
    fails({ file: 'pdebench_darcy.hdf5', x: 'nu', y: 'tensor', axes: 'nss' }, /dataset 'tensor' .*the axes name 3 axes but the dataset has 4/);
    fails({ file: 'pdebench_darcy.hdf5', x: 'short', y: 'nu' }, /y key 'nu' has 4 samples but 'short' has 3/);
    fails({ file: 'pdebench_darcy.hdf5', x: 'nu', y: 'tensor', index: '0:5' }, /index: 5 is out of range \(4 entries/);
    fails({ file: 'pdebench_darcy.hdf5', x: 'nu', y: 'tensor', index: [1, -5] }, /index: -5 is out of range/);
    fails({ file: 'pdebench_darcy.hdf5', x: 'nu', y: 'tensor', subsample: 3 }, /subsample 3 does not fit spatial axis 0 of 8 points \(the stride must divide 8 .* or 7/);
    fails({ file: 'pdebench_darcy.hdf5', x: 'nu', y: 'tensor', subsample: [2, 2, 2] }, /lists 3 strides for 2 spatial axes/);
    fails({ file: 'ns_v73.mat', x: 'a', y: 'u', time: { y: 5 } }, /time\.y: 5 is out of range \(5 entries/);
    fails({ file: 'ns_v73.mat', x: 'a', y: 'u', time: { x: 0, y: 1 }, axes: { a: 'nss' } }, /time\.x is given but no x key \('a' axes "nss"\) has a time axis t/);
    // without the axes, time.x makes a's last axis its time axis, and a's grid no longer matches u's
    fails({ file: 'ns_v73.mat', x: 'a', y: 'u', time: { x: 0, y: 1 } }, /key 'u' has spatial shape \[8, 8\] \(axes "nsst"\) but 'a' has \[8\]; every key must be on one grid \(check data source\.axes\)/);
    fails({ file: 'pdebench_cfd.hdf5', x: 'density', y: 'Vx', time: { y: 1 }, axes: { density: 'ntss' } }, /dataset 'density' .* has a time axis t of 5 steps; give data source\.time\.x/);
    fails({ file: 'pdebench_cfd.hdf5', x: 'density', y: 'Vx', time: { x: 0 } }, /key 'Vx' has spatial shape \[5, 8, 8\] .* but 'density' has \[8, 8\]; every key must be on one grid/);
    // a non-finite value: named when its sample is read
    const d = load({ file: 'pdebench_darcy.hdf5', x: 'nan_field', y: 'nu' });
    try {
      assert.doesNotThrow(() => releaseBatch(d.batch([0, 1, 3])));
      assert.throws(() => d.batch([2]), /dataset 'nan_field' has a non-finite value \(NaN\) in file sample 2/);
    } finally {
      d.release();
    }
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-h5-'));
    writeFileSync(path.join(tmp, 'text.h5'), 'not hdf5');
    assert.throws(() => loadAnyDataset(path.join(tmp, 'text.h5')), /text\.h5: not an HDF5 file/);
    assert.throws(() => loadAnyDataset({ file: path.join(tmp, 'none.h5') }), /none\.h5: no such data file/);
  });

  it('configs: a source object, paths relative to the config, fields validated by name', () => {
    const c = loadConfig(example);
    assert.equal(typeof c.data.train, 'object');
    assert.equal((c.data.train as DataSourceSpec).file, path.join(fx, 'ns_v73.mat'));
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-h5cfg-'));
    const raw = JSON.parse(readFileSync(example, 'utf8')) as { data: Record<string, unknown> };
    const bad = (train: unknown, re: RegExp, extra: Record<string, unknown> = {}) => {
      const file = path.join(tmp, 'c.json');
      writeFileSync(file, JSON.stringify({ ...raw, data: { ...raw.data, train, ...extra } }));
      assert.throws(() => loadConfig(file), re);
    };
    const ok = { file: 'x.mat', x: 'a', y: 'u' };
    bad({ ...ok, layout: 'fortran' }, /c\.json: 'data\.train\.layout' must be 'matlab' .* or 'hdf5'/);
    bad({ ...ok, keys: 'a' }, /c\.json: unknown config key 'data\.train\.keys'/);
    bad({ ...ok, x: [] }, /'data\.train\.x' must be a dataset key or a non-empty list of keys/);
    bad({ ...ok, index: '1-3' }, /'data\.train\.index' must be a slice "start:end\[:step\]"/);
    bad({ ...ok, subsample: 0 }, /'data\.train\.subsample' must be a positive integer or a list of them/);
    bad({ ...ok, time: { x: [0, 1] } }, /'data\.train\.time\.x' must be one step or a slice/);
    bad({ ...ok, time: { z: 1 } }, /unknown config key 'data\.train\.time\.z'/);
    bad({ ...ok, axes: 'nxy' }, /'data\.train\.axes' must be a string of axis letters n \(samples\), t \(time\), c \(channels\), s \(space\)/);
    bad({ ...ok, axes: { b: 'nss' } }, /'data\.train\.axes\.b': 'b' is not one of the source's keys \(a, u\)/);
    bad({ x: 'a' }, /'data\.train\.file' must be a file path/);
    bad(ok, /'data\.cache_mb' must be a number > 0/, { cache_mb: 0 });
  });

  it('mpno train runs on a MATLAB v7.3 file end to end (the example config, read lazily through a 1 MiB cache)', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'mpno-h5train-'));
    const r = spawnSync(process.execPath, [bin, 'train', '--config', example, '--epochs', '1', '--out', path.join(tmp, 'run'), '--quiet'], { encoding: 'utf8', env: { ...process.env, MPNO_THREADS: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const rec = JSON.parse(readFileSync(path.join(tmp, 'run', 'metrics.jsonl'), 'utf8').trim()) as { eval: Record<string, number> };
    assert.ok(Number.isFinite(rec.eval['8_l2']) && rec.eval['8_l2']! > 0, JSON.stringify(rec));
    assert.ok(existsSync(path.join(tmp, 'run', 'latest')));
    // a bad source stops the run before anything is written
    const bad = spawnSync(process.execPath, [bin, 'train', '--config', example, '--set', 'data.train.x="w"', '--out', path.join(tmp, 'bad'), '--quiet'], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /ns_v73\.mat: no dataset 'w' \(data\.train: the file has a, u\)/);
    assert.equal(existsSync(path.join(tmp, 'bad')), false);
  });
});

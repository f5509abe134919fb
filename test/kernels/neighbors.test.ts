import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { type Csr, radiusNeighbors } from '../../src/kernels/neighbors.js';

const rng = new Rng(1313);

/** Every pair within r by brute force, as CSR. */
function brute(points: Float64Array | Float32Array, queries: Float64Array | Float32Array, r: number): Csr {
  const rowPtr = new Int32Array(queries.length / 3 + 1);
  const idx: number[] = [];
  for (let q = 0; q < queries.length / 3; q++) {
    for (let i = 0; i < points.length / 3; i++) {
      let d = 0;
      for (let a = 0; a < 3; a++) d += (points[3 * i + a]! - queries[3 * q + a]!) ** 2;
      if (d <= r * r) idx.push(i);
    }
    rowPtr[q + 1] = idx.length;
  }
  return { rowPtr, indices: Int32Array.from(idx) };
}

function cloud(n: number, scale: number, f32 = false): Float64Array | Float32Array {
  const a = Float64Array.from({ length: 3 * n }, () => (rng.uniform() - 0.5) * scale);
  return f32 ? Float32Array.from(a) : a;
}

describe('radius neighbour search (CSR)', () => {
  it('equals brute force on random clouds of random sizes, radii and scales (float32 and float64 coordinates)', () => {
    for (let t = 0; t < 20; t++) {
      const n = rng.int(400);
      const m = 1 + rng.int(200);
      const scale = 10 ** (rng.uniform() * 4 - 2);
      const f32 = t % 2 === 0;
      const p = cloud(n, scale, f32);
      const q = cloud(m, 1.5 * scale, f32);
      const r = scale * (0.01 + rng.uniform() * 0.5);
      const got = radiusNeighbors(p, q, r);
      const want = brute(p, q, r);
      assert.deepEqual(Array.from(got.rowPtr), Array.from(want.rowPtr), `case ${t}: row pointers`);
      assert.deepEqual(Array.from(got.indices), Array.from(want.indices), `case ${t}: indices`);
    }
  });

  it('keeps pairs at distance exactly r, every duplicate point, and gives far queries empty rows', () => {
    // a unit lattice: each interior point has exactly 6 neighbours at distance 1, plus itself
    const pts: number[] = [];
    for (let x = 0; x < 4; x++) for (let y = 0; y < 4; y++) for (let z = 0; z < 4; z++) pts.push(x, y, z);
    pts.push(1, 1, 1, 1, 1, 1); // two duplicates of (1, 1, 1)
    const p = Float64Array.from(pts);
    const q = Float64Array.from([1, 1, 1, 100, 100, 100, -50, 0, 0]);
    const r = radiusNeighbors(p, q, 1);
    const row0 = Array.from(r.indices.subarray(r.rowPtr[0], r.rowPtr[1]));
    assert.equal(row0.length, 7 + 2, 'itself, 6 lattice neighbours at distance exactly 1, and the two duplicates');
    assert.deepEqual(row0, [...row0].sort((a, b) => a - b), 'indices increase within a row');
    assert.equal(r.rowPtr[2]! - r.rowPtr[1]!, 0);
    assert.equal(r.rowPtr[3]! - r.rowPtr[2]!, 0);
    assert.deepEqual(Array.from(r.indices), Array.from(brute(p, q, 1).indices));
  });

  it('handles empty clouds and all points in one place', () => {
    const none = radiusNeighbors(new Float64Array(0), Float64Array.from([0, 0, 0]), 1);
    assert.deepEqual(Array.from(none.rowPtr), [0, 0]);
    const same = radiusNeighbors(new Float64Array(30).fill(2), Float64Array.from([2, 2, 2, 2, 2, 3.5]), 1);
    assert.deepEqual(Array.from(same.rowPtr), [0, 10, 10]);
  });

  it('names bad input', () => {
    assert.throws(() => radiusNeighbors(new Float64Array(4), new Float64Array(3), 1), /points must hold 3 coordinates per point \(length 4/);
    assert.throws(() => radiusNeighbors(new Float64Array(3), new Float64Array(3), 0), /radius must be a positive finite number, got 0/);
    assert.throws(() => radiusNeighbors(Float64Array.from([0, NaN, 0]), new Float64Array(3), 1), /points point 0 has a non-finite coordinate/);
  });
});

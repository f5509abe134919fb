import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { type Csr, radiusNeighbors, radiusNeighborsRef } from '../../src/kernels/neighbors.js';
import { withThreadsPosted } from '../helpers.js';

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

function sameCsr(got: Csr, want: Csr, what: string): void {
  assert.ok(got.rowPtr instanceof Int32Array && got.indices instanceof Int32Array, `${what}: Int32Array CSR`);
  assert.equal(got.rowPtr.length, want.rowPtr.length, `${what}: rows`);
  assert.ok(Buffer.from(got.rowPtr.buffer, got.rowPtr.byteOffset, got.rowPtr.byteLength).equals(Buffer.from(want.rowPtr.buffer, want.rowPtr.byteOffset, want.rowPtr.byteLength)), `${what}: row pointers`);
  assert.equal(got.indices.length, want.indices.length, `${what}: pairs`);
  assert.ok(Buffer.from(got.indices.buffer, got.indices.byteOffset, got.indices.byteLength).equals(Buffer.from(want.indices.buffer, want.indices.byteOffset, want.indices.byteLength)), `${what}: indices`);
}


/** Gaussian blobs (σ = spread) around a few random centres in [0, 1]³, with some points repeated exactly. */
function clustered(n: number, blobs: number, spread: number): Float64Array {
  const centres = Array.from({ length: blobs }, () => [rng.uniform(), rng.uniform(), rng.uniform()]);
  const a = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    if (i > 0 && rng.uniform() < 0.05) {
      const j = rng.int(i);
      a[3 * i] = a[3 * j]!;
      a[3 * i + 1] = a[3 * j + 1]!;
      a[3 * i + 2] = a[3 * j + 2]!;
      continue;
    }
    const c = centres[rng.int(blobs)]!;
    for (let k = 0; k < 3; k++) a[3 * i + k] = c[k]! + spread * rng.normal();
  }
  return a;
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
      sameCsr(radiusNeighborsRef(p, q, r), want, `case ${t}: the reference`);
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

  it('the threaded search equals the reference and brute force on large uniform and clustered clouds (1 and 2 threads)', () => {
    const grid = (k: number, lo: number, hi: number) => {
      const q: number[] = [];
      for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) for (let c = 0; c < k; c++) q.push(...[a, b, c].map((v) => lo + ((hi - lo) * v) / (k - 1)));
      return Float64Array.from(q);
    };
    const cases: [string, Float64Array | Float32Array, Float64Array | Float32Array, number][] = [
      ['uniform', cloud(20000, 1), grid(12, -0.6, 0.6), 0.1],
      ['uniform f32, queries beyond the cloud', cloud(15000, 1, true), Float32Array.from(grid(11, -1, 1)), 0.12],
      ['points far beyond the queries', cloud(20000, 4), grid(12, -0.6, 0.6), 0.25],
      ['clustered with duplicates', clustered(20000, 6, 0.03), Float64Array.from({ length: 3 * 1500 }, () => rng.uniform(-0.1, 1.1)), 0.08],
    ];
    let empty = 0;
    for (const [name, p, q, r] of cases) {
      const want = brute(p, q, r);
      sameCsr(radiusNeighborsRef(p, q, r), want, `${name}: the reference`);
      const [one] = withThreadsPosted(1, () => radiusNeighbors(p, q, r));
      sameCsr(one, want, `${name}: one thread`);
      const [two, threaded] = withThreadsPosted(2, () => radiusNeighbors(p, q, r));
      assert.ok(threaded, `${name}: the queries were split across threads`);
      sameCsr(two, want, `${name}: two threads`);
      assert.ok(want.indices.length > 10000, `${name}: many pairs (${want.indices.length})`);
      if (want.rowPtr.some((v, i) => i > 0 && v === want.rowPtr[i - 1])) empty++;
    }
    assert.ok(empty >= 2, 'empty neighbourhoods in some of the cases');
  });

  it('pairs at distance exactly r (3-4-5 offsets), a single point, a radius larger than the cloud, all queries far away', () => {
    // r = 5/16: offsets (3, 4, 0)/16 and its permutations are exactly at r in float64, (3, 4, 0.001)/16 just beyond
    const r = 5 / 16;
    const q = Float64Array.from([0.5, 0.25, 0.75, -0.25, 0.5, 0.125]);
    const pts: number[] = [];
    for (let k = 0; k < 2; k++) {
      const [a, b, c] = [q[3 * k]!, q[3 * k + 1]!, q[3 * k + 2]!];
      for (const [dx, dy, dz] of [[3, 4, 0], [-4, 0, 3], [0, -3, -4], [3, 4, 0.001], [0, 0, 5.0001]]) pts.push(a + dx! / 16, b + dy! / 16, c + dz! / 16);
    }
    const p = Float64Array.from(pts);
    for (const t of [1, 2]) {
      const [got] = withThreadsPosted(t, () => radiusNeighbors(p, q, r));
      assert.deepEqual(Array.from(got.rowPtr), [0, 3, 6]);
      assert.deepEqual(Array.from(got.indices), [0, 1, 2, 5, 6, 7]);
      sameCsr(got, brute(p, q, r), `exact r, ${t} threads`);
    }
    const one = Float64Array.from([0.3, -0.2, 7]);
    sameCsr(radiusNeighbors(one, Float64Array.from([0.3, -0.2, 7, 0.3, -0.2, 7.5, 9, 9, 9]), 0.5), { rowPtr: Int32Array.from([0, 1, 2, 2]), indices: Int32Array.from([0, 0]) }, 'a single point');
    const c = cloud(3000, 1);
    const qs = cloud(200, 1);
    const all = radiusNeighbors(c, qs, 2);
    assert.equal(all.indices.length, 3000 * 200, 'a radius larger than the cloud: every pair');
    for (let k = 0; k < 200; k++) for (let i = 0; i < 3000; i++) if (all.indices[3000 * k + i] !== i) assert.fail(`row ${k} is not 0 … 2999 in order`);
    const far = radiusNeighbors(c, Float64Array.from([50, 0, 0, 0, -50, 0, 1e300, -1e300, 1e300]), 1);
    assert.deepEqual(Array.from(far.rowPtr), [0, 0, 0, 0]);
    assert.equal(far.indices.length, 0);
  });

  it('orders rows whose indices bunch in a narrow band of a wide range (many duplicates across two cells and one far-numbered point)', () => {
    const n = 10000;
    const p = new Float64Array(3 * n);
    for (let i = 0; i < n; i++) p.set([rng.uniform(2, 3), rng.uniform(2, 3), rng.uniform(2, 3)], 3 * i);
    p.set([0.5, 0.5, 0.5], 0); // the box's low corner: cells along z start at 0.5, of side 2.5/35
    for (let i = 1; i <= 60; i++) p.set([0.5, 0.5, i % 2 ? 0.565 : 0.575], 3 * i); // alternating between two cells
    p.set([0.5, 0.5, 0.57], 3 * (n - 1));
    const q = Float64Array.from([0.5, 0.5, 0.57, 0.5, 0.5, 0.52]);
    const want = brute(p, q, 0.05);
    assert.equal(want.rowPtr[1], 61);
    for (const t of [1, 2]) sameCsr(withThreadsPosted(t, () => radiusNeighbors(p, q, 0.05))[0], want, `${t} threads`);
  });

  it('names non-finite coordinates and bad radii as the reference does', () => {
    for (const f of [radiusNeighbors, radiusNeighborsRef]) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        const p = cloud(100, 1);
        p[3 * 57 + 2] = bad;
        assert.throws(() => f(p, cloud(5, 1), 0.2), new RegExp(`points point 57 has a non-finite coordinate \\(${bad}\\)`));
        const q = cloud(5, 1, true);
        q[3 * 4] = bad;
        assert.throws(() => f(cloud(100, 1), q, 0.2), new RegExp(`queries point 4 has a non-finite coordinate \\(${bad}\\)`));
      }
      for (const r of [0, -1, NaN, Infinity, -0]) assert.throws(() => f(cloud(10, 1), cloud(3, 1), r), /radius must be a positive finite number/);
      assert.throws(() => f(cloud(10, 1), new Float64Array(4), 1), /queries must hold 3 coordinates per point \(length 4/);
      const p = cloud(10, 1);
      p[0] = NaN;
      assert.throws(() => f(p, new Float64Array(4), 1), /points point 0 has a non-finite/, 'points are checked before queries');
    }
  });
});

/**
 * Radius neighbour search in 3-D (the graph of a GNO layer): for every query point y, every data
 * point x with ‖x − y‖₂ ≤ r, returned in CSR form (row pointers over the queries, then the data
 * indices of each row in increasing order).
 *
 * A uniform grid hash: the data points are counting-sorted into cubic cells of side r (one pass to
 * count, a prefix sum, one pass to place), and each query looks at the 27 cells around its own, so
 * the work is O(n + m + pairs) for roughly uniform clouds. Distances are compared in float64 from the
 * stored coordinates, so the result does not depend on the cell layout: a pair at distance exactly r
 * is kept, duplicate points each appear, an empty neighbourhood is an empty row.
 *
 * radiusNeighbors runs on the wasm kernels (src/kernels/wasm/graph.ts): the cell sort once (one
 * thread; it also lays the coordinates out in cell order, so that a query reads each column of cells
 * as one contiguous span, two points per f64x2 step), then the queries split across the thread pool
 * in two passes: count each query's neighbours, a prefix sum into the row pointers, then write each
 * row (merging its cells' increasing runs). It evaluates the reference's float64 expressions on the
 * reference's grid, so its CSR is exactly radiusNeighborsRef's, the plain-TypeScript version (one
 * thread), kept as the reference.
 */

import { Tensor } from '../core/tensor.js';
import { balancedRanges } from './graph.js';
import { wasm } from './module.js';
import { pool, splitRange } from './pool.js';

/** Neighbourhoods in CSR form: row q spans indices[rowPtr[q] .. rowPtr[q + 1]). */
export interface Csr {
  rowPtr: Int32Array;
  indices: Int32Array;
}

type Coords = Float32Array | Float64Array;

function checkRadius(radius: number): void {
  if (!(radius > 0) || !Number.isFinite(radius)) throw new RangeError(`radiusNeighbors: radius must be a positive finite number, got ${radius}`);
}

function checkLength(p: Coords, name: string): number {
  if (p.length % 3 !== 0) throw new RangeError(`radiusNeighbors: ${name} must hold 3 coordinates per point (length ${p.length} is not a multiple of 3)`);
  return p.length / 3;
}

/** Throws the named error of the first non-finite coordinate, if any. */
function checkFinite(p: Coords, name: string): void {
  for (let i = 0; i < p.length; i++) {
    if (!Number.isFinite(p[i]!)) throw new RangeError(`radiusNeighbors: ${name} point ${Math.floor(i / 3)} has a non-finite coordinate (${p[i]})`);
  }
}

function checkCloud(p: Coords, name: string): number {
  const n = checkLength(p, name);
  checkFinite(p, name);
  return n;
}

interface Grid {
  lo: [number, number, number];
  side: [number, number, number];
  dims: [number, number, number];
}

/** The grid over a bounding box [lo, hi] of n points: cells of side ≥ radius (at most ~4n cells in all). */
function gridOf(lo: Grid['lo'], hi: Grid['lo'], n: number, radius: number): Grid {
  const maxCells = Math.max(1, Math.ceil(Math.cbrt(4 * n)));
  const side = lo.map((l, a) => Math.max(radius, (hi[a]! - l) / maxCells)) as Grid['side'];
  const dims = lo.map((l, a) => Math.floor((hi[a]! - l) / side[a]!) + 1) as Grid['dims'];
  return { lo, side, dims };
}

/** The bounding box of the points. */
function boundsOf(points: Coords, n: number): [Grid['lo'], Grid['lo']] {
  const lo: Grid['lo'] = [Infinity, Infinity, Infinity];
  const hi: Grid['lo'] = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++) for (let a = 0; a < 3; a++) {
    const v = points[3 * i + a]!;
    if (v < lo[a]!) lo[a] = v;
    if (v > hi[a]!) hi[a] = v;
  }
  return [lo, hi];
}

/**
 * The neighbours within `radius` (inclusive) of each query among the data points, both [n, 3] flat:
 * the plain-TypeScript reference (one thread).
 */
export function radiusNeighborsRef(points: Coords, queries: Coords, radius: number): Csr {
  checkRadius(radius);
  const n = checkCloud(points, 'points');
  const m = checkCloud(queries, 'queries');
  const rowPtr = new Int32Array(m + 1);
  if (n === 0 || m === 0) return { rowPtr, indices: new Int32Array(0) };
  const { lo, side, dims } = gridOf(...boundsOf(points, n), n, radius);
  const [nx, ny, nz] = dims;
  const axisCell = (v: number, a: number, n: number) => Math.min(n - 1, Math.floor((v - lo[a]!) / side[a]!));
  const start = new Int32Array(nx * ny * nz + 1);
  const cell = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    cell[i] = (axisCell(points[3 * i]!, 0, nx) * ny + axisCell(points[3 * i + 1]!, 1, ny)) * nz + axisCell(points[3 * i + 2]!, 2, nz);
    start[cell[i]! + 1]++;
  }
  for (let c = 0; c < nx * ny * nz; c++) start[c + 1] += start[c]!;
  const order = new Int32Array(n);
  const fill = start.slice(0, -1);
  for (let i = 0; i < n; i++) order[fill[cell[i]!]!++] = i; // increasing i within each cell
  const r2 = radius * radius;
  const found: number[] = [];
  const row: number[] = [];
  for (let q = 0; q < m; q++) {
    const y0 = queries[3 * q]!;
    const y1 = queries[3 * q + 1]!;
    const y2 = queries[3 * q + 2]!;
    // the cells the ball around y touches, clipped to the grid
    const a0 = Math.max(0, Math.floor((y0 - radius - lo[0]!) / side[0]!));
    const a1 = Math.min(nx - 1, Math.floor((y0 + radius - lo[0]!) / side[0]!));
    const b0 = Math.max(0, Math.floor((y1 - radius - lo[1]!) / side[1]!));
    const b1 = Math.min(ny - 1, Math.floor((y1 + radius - lo[1]!) / side[1]!));
    const c0 = Math.max(0, Math.floor((y2 - radius - lo[2]!) / side[2]!));
    const c1 = Math.min(nz - 1, Math.floor((y2 + radius - lo[2]!) / side[2]!));
    row.length = 0;
    for (let a = a0; a <= a1; a++) for (let b = b0; b <= b1; b++) for (let c = c0; c <= c1; c++) {
      const k = (a * ny + b) * nz + c;
      for (let s = start[k]!; s < start[k + 1]!; s++) {
        const i = order[s]!;
        const d0 = points[3 * i]! - y0;
        const d1 = points[3 * i + 1]! - y1;
        const d2 = points[3 * i + 2]! - y2;
        if (d0 * d0 + d1 * d1 + d2 * d2 <= r2) row.push(i);
      }
    }
    row.sort((u, v) => u - v);
    for (const i of row) found.push(i);
    rowPtr[q + 1] = found.length;
  }
  return { rowPtr, indices: Int32Array.from(found) };
}

/** Candidate distance tests per thread below which a pass stays on one thread. */
const PARALLEL_CANDIDATES = 1 << 17;

const DESC_SLOTS = 20;
const pad = (bytes: number) => Math.ceil(bytes / 64) * 64;

/** About how many candidates (points in the cells a query's ball touches) the queries test, for uniform clouds. */
function candidates(g: Grid, n: number, m: number, radius: number): number {
  let f = 1;
  for (let a = 0; a < 3; a++) f *= Math.min(1, (2 * radius + g.side[a]) / (g.dims[a] * g.side[a]));
  return m * n * f;
}

/**
 * The neighbours within `radius` (inclusive) of each query among the data points, both [n, 3] flat:
 * the wasm kernels, the queries split across the thread pool when there are enough candidates to
 * test. Exactly radiusNeighborsRef's result (and its errors).
 */
export function radiusNeighbors(points: Coords, queries: Coords, radius: number): Csr {
  checkRadius(radius);
  const n = checkLength(points, 'points');
  const m = Math.floor(queries.length / 3);
  if (n === 0 || m === 0) return radiusNeighborsRef(points, queries, radius);
  // descriptor, the points and queries as f64 [., 3], their bounds
  const sizes1 = [8 * DESC_SLOTS, 24 * n, 24 * m, 48].map(pad);
  const ws1 = Tensor.empty([sizes1.reduce((a, b) => a + b) / 4], 'float32', 'workspace');
  try {
    const buf1 = ws1.data.buffer as ArrayBuffer;
    const desc = ws1.ptr;
    const pp = desc + sizes1[0]!;
    const qp = pp + sizes1[1]!;
    const bp = qp + sizes1[2]!;
    new Float64Array(buf1, pp, 3 * n).set(points);
    if (wasm.nbrBounds(pp, n, bp) !== 0) checkFinite(points, 'points');
    const b = new Float64Array(buf1, bp, 6);
    const g = gridOf([b[0]!, b[1]!, b[2]!], [b[3]!, b[4]!, b[5]!], n, radius);
    checkLength(queries, 'queries');
    new Float64Array(buf1, qp, 3 * m).set(queries);
    if (wasm.nbrBounds(qp, m, bp) !== 0) checkFinite(queries, 'queries');
    const cells = g.dims[0] * g.dims[1] * g.dims[2];
    // coordinates so far apart that the box's extent overflows: the reference's arithmetic, in TypeScript
    if (!(cells <= 2 ** 28) || ![...g.side, ...g.lo].every(Number.isFinite)) return radiusNeighborsRef(points, queries, radius);
    // cell ids, cell starts, order, sorted coordinates, row pointers
    const sizes2 = [4 * n, 4 * (cells + 1), 4 * n, 24 * n, 4 * (m + 1)].map(pad);
    const ws2 = Tensor.empty([sizes2.reduce((a, b) => a + b) / 4], 'float32', 'workspace');
    try {
      const buf = ws2.data.buffer as ArrayBuffer;
      const cp = ws2.ptr;
      const sp = cp + sizes2[0]!;
      const op = sp + sizes2[1]!;
      const xp = op + sizes2[2]!;
      const rp = xp + sizes2[3]!;
      const d = new Float64Array(buf, desc, DESC_SLOTS);
      d.set([pp, n, cp, sp, op, xp, qp, ...g.dims, ...g.lo, ...g.side, radius, radius * radius, rp, 0]);
      wasm.nbrSort(desc);
      const threads = Math.max(1, Math.min(pool.threads, m, Math.floor(candidates(g, n, m, radius) / PARALLEL_CANDIDATES) + 1));
      const most = Math.max(0, ...pool.run('nbrCount', splitRange(m, threads).map(([q0, q1]) => [desc, q0, q1])));
      const rowPtr = new Int32Array(buf, rp, m + 1);
      rowPtr[0] = 0;
      let pairs = 0;
      for (let q = 1; q <= m; q++) {
        pairs += rowPtr[q]!;
        rowPtr[q] = pairs;
      }
      if (pairs > 2 ** 31 - 1) throw new RangeError(`radiusNeighbors: ${pairs} pairs do not fit Int32 CSR indices`);
      const out = { rowPtr: rowPtr.slice(), indices: new Int32Array(0) };
      if (pairs === 0) return out;
      const ranges = balancedRanges(rowPtr, m, threads);
      const per = pad(wasm.nbrWorkBytes(most));
      const res = Tensor.empty([(pad(4 * pairs) + per * ranges.length) / 4], 'float32', 'workspace');
      try {
        d[19] = res.ptr;
        const w0 = res.ptr + pad(4 * pairs);
        pool.run('nbrFill', ranges.map(([q0, q1], t) => [desc, q0, q1, w0 + t * per, most]));
        out.indices = new Int32Array(res.data.buffer, res.ptr, pairs).slice();
      } finally {
        res.release();
      }
      return out;
    } finally {
      ws2.release();
    }
  } finally {
    ws1.release();
  }
}

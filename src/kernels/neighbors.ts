/**
 * Radius neighbour search in 3-D (the graph of a GNO layer): for every query point y, every data
 * point x with ‖x − y‖₂ ≤ r, returned in CSR form (row pointers over the queries, then the data
 * indices of each row in increasing order).
 *
 * A uniform grid hash: the data points are counting-sorted into cubic cells of side r (one pass to
 * count, a prefix sum, one pass to place), and each query looks at the 27 cells around its own, so
 * the work is O(n + m + pairs) for roughly uniform clouds. Distances are compared in float64 from the
 * stored coordinates, so the result does not depend on the cell layout: a pair at distance exactly r
 * is kept, duplicate points each appear, an empty neighbourhood is an empty row. Plain TypeScript,
 * one thread.
 */

/** Neighbourhoods in CSR form: row q spans indices[rowPtr[q] .. rowPtr[q + 1]). */
export interface Csr {
  rowPtr: Int32Array;
  indices: Int32Array;
}

type Coords = Float32Array | Float64Array;

function checkCloud(p: Coords, name: string): number {
  if (p.length % 3 !== 0) throw new RangeError(`radiusNeighbors: ${name} must hold 3 coordinates per point (length ${p.length} is not a multiple of 3)`);
  for (let i = 0; i < p.length; i++) {
    if (!Number.isFinite(p[i]!)) throw new RangeError(`radiusNeighbors: ${name} point ${Math.floor(i / 3)} has a non-finite coordinate (${p[i]})`);
  }
  return p.length / 3;
}

/** The neighbours within `radius` (inclusive) of each query among the data points, both [n, 3] flat. */
export function radiusNeighbors(points: Coords, queries: Coords, radius: number): Csr {
  if (!(radius > 0) || !Number.isFinite(radius)) throw new RangeError(`radiusNeighbors: radius must be a positive finite number, got ${radius}`);
  const n = checkCloud(points, 'points');
  const m = checkCloud(queries, 'queries');
  const rowPtr = new Int32Array(m + 1);
  if (n === 0 || m === 0) return { rowPtr, indices: new Int32Array(0) };
  // grid over the data points' bounding box; cells of side ≥ radius (at most ~n cells along all axes together)
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  for (let i = 0; i < n; i++) for (let a = 0; a < 3; a++) {
    const v = points[3 * i + a]!;
    if (v < lo[a]!) lo[a] = v;
    if (v > hi[a]!) hi[a] = v;
  }
  const maxCells = Math.max(1, Math.ceil(Math.cbrt(4 * n)));
  const side = lo.map((l, a) => Math.max(radius, (hi[a]! - l) / maxCells));
  const dims = lo.map((l, a) => Math.floor((hi[a]! - l) / side[a]!) + 1);
  const [nx, ny, nz] = dims as [number, number, number];
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

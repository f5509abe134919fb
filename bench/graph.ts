import { type DType, parseDType } from '../src/core/dtype.js';
import { Rng } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { gatherRows, scatterAddRows, segmentSum } from '../src/kernels/graph.js';
import { radiusNeighbors, radiusNeighborsRef } from '../src/kernels/neighbors.js';
import { pool } from '../src/kernels/pool.js';
import { refGatherRows, refScatterAddRows, refSegmentSum } from '../src/kernels/ref/graph.js';
import { type BenchRow, type SuiteOptions, measure } from './harness.js';

/** A GNO layer's graph from the issue: E edges from N nodes into M query segments, C channels. */
export const GRAPH_SHAPES: { E: number; N: number; M: number; C: number }[] = [
  { E: 200_000, N: 16_384, M: 4096, C: 32 },
  { E: 200_000, N: 16_384, M: 4096, C: 64 },
];
const QUICK_GRAPH = [{ E: 2000, N: 300, M: 64, C: 5 }];

/** Radius search from the issue: 4096 queries on a 16³ grid in [0, 1]³ against n uniform points, r = 0.1. */
export const RADIUS_POINTS = [3600, 100_000];
const QUICK_RADIUS = [500];

/** CSR row pointers of M segments over E edges with random lengths (some empty). */
function rowPointers(rng: Rng, E: number, M: number): Int32Array {
  const cuts = Array.from({ length: M - 1 }, () => rng.int(E + 1)).sort((a, b) => a - b);
  return Int32Array.from([0, ...cuts, E]);
}

function gridQueries(k: number): Float64Array {
  const q = new Float64Array(3 * k ** 3);
  let i = 0;
  for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) for (let c = 0; c < k; c++) {
    q[i++] = a / (k - 1);
    q[i++] = b / (k - 1);
    q[i++] = c / (k - 1);
  }
  return q;
}

/**
 * bench graph: gatherRows, scatterAddRows, segmentSum (sum) and radiusNeighbors, the wasm kernels at
 * each thread count against the float64 reference (one thread). The GFLOP/s column holds GB/s of
 * tensor data read and written (graph kernels) or million pairs per second (radius search).
 */
export function benchGraph(opts: SuiteOptions): BenchRow[] {
  const rows: BenchRow[] = [];
  const rng = new Rng(7);
  const prev = pool.threads;
  const emit = (row: BenchRow) => {
    rows.push(row);
    opts.onRow(row);
  };
  try {
    for (const { E, N, M, C } of opts.quick ? QUICK_GRAPH : GRAPH_SHAPES) {
      const index = Int32Array.from({ length: E }, () => rng.int(N));
      const rowPtr = rowPointers(rng, E, M);
      for (const dname of opts.dtypes) {
        const dt: DType = parseDType(dname);
        if (dt === 'float64') throw new RangeError('bench graph: float64 has no wasm kernel (it runs on the reference)');
        const size = dt === 'float32' ? 4 : 2;
        const x = Tensor.empty([N, C], dt, 'data').set(rng.normalArray(N * C));
        const edges = Tensor.empty([E, C], dt, 'data').set(rng.normalArray(E * C));
        const nodes = Tensor.zeros([N, C], dt, 'data');
        const seg = Tensor.empty([M, C], dt, 'data');
        const kernels: [string, number, () => void, () => void][] = [
          ['gatherRows', 2 * E * C * size, () => gatherRows(x, index, edges), () => refGatherRows(x, index, edges)],
          ['scatterAddRows', (E + 2 * N) * C * size, () => scatterAddRows(edges, index, nodes), () => refScatterAddRows(edges, index, nodes)],
          ['segmentSum', (E + M) * C * size, () => segmentSum(edges, rowPtr, seg), () => refSegmentSum(edges, rowPtr, seg)],
        ];
        for (const [kname, bytes, wasmRun, refRun] of kernels) {
          const shape = `E=${E} N=${N} M=${M} C=${C}`;
          for (const t of opts.threads) {
            pool.setThreads(t);
            const r = measure(wasmRun, opts);
            emit({ suite: 'graph', name: `${kname} wasm`, shape, dtype: dt, threads: t, ...r, gflops: bytes / (r.median_ms * 1e6) });
          }
          nodes.data.fill(0);
          const r = measure(refRun, { runs: Math.min(opts.runs, 5), warmup: 1 });
          emit({ suite: 'graph', name: `${kname} ref`, shape, dtype: dt, threads: 1, ...r, gflops: bytes / (r.median_ms * 1e6) });
          nodes.data.fill(0);
        }
        for (const t of [x, edges, nodes, seg]) t.release();
      }
    }
    const queries = gridQueries(opts.quick ? 6 : 16);
    for (const n of opts.quick ? QUICK_RADIUS : RADIUS_POINTS) {
      const points = Float64Array.from({ length: 3 * n }, () => rng.uniform());
      const shape = `${queries.length / 3} grid queries, ${n} points, r=0.1`;
      const pairs = radiusNeighborsRef(points, queries, 0.1).indices.length;
      for (const t of opts.threads) {
        pool.setThreads(t);
        const r = measure(() => void radiusNeighbors(points, queries, 0.1), opts);
        emit({ suite: 'graph', name: 'radiusNeighbors wasm', shape, dtype: 'float64', threads: t, ...r, gflops: pairs / (r.median_ms * 1e3), pairs });
      }
      const r = measure(() => void radiusNeighborsRef(points, queries, 0.1), { runs: Math.min(opts.runs, 5), warmup: 1 });
      emit({ suite: 'graph', name: 'radiusNeighbors ref', shape, dtype: 'float64', threads: 1, ...r, gflops: pairs / (r.median_ms * 1e3), pairs });
    }
  } finally {
    pool.setThreads(prev);
  }
  return rows;
}

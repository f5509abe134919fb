import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import * as ops from '../../src/autograd/ops.js';
import { cpuBackend } from '../../src/kernels/cpu.js';
import { radiusNeighbors } from '../../src/kernels/neighbors.js';

const rng = new Rng(2718);

/** A random CSR graph: M rows over N nodes, some rows empty, repeated indices allowed. */
function graph(M: number, N: number): { rowPtr: Int32Array; index: Int32Array } {
  const rowPtr = new Int32Array(M + 1);
  const idx: number[] = [];
  for (let q = 0; q < M; q++) {
    const k = rng.uniform() < 0.2 ? 0 : rng.int(6);
    for (let j = 0; j < k; j++) idx.push(rng.int(N));
    rowPtr[q + 1] = idx.length;
  }
  return { rowPtr, index: Int32Array.from(idx) };
}

describe('graph kernels: gather, scatter-add, segment sum/mean', () => {
  for (const dtype of ['float64', 'float32', 'float16', 'bfloat16'] as const) {
    it(`match direct float64 loops (${dtype}: values stored in the dtype, each output rounded once)`, () => {
      const [N, M, C] = [13, 9, 3];
      const { rowPtr, index } = graph(M, N);
      const E = index.length;
      const xv = rng.normalArray(N * C);
      const x = Tensor.fromArray(xv, [N, C], dtype);
      const xs = x.toFloat64(); // the stored values
      const g = Tensor.empty([E, C], dtype);
      cpuBackend.gatherRows(x, index, g);
      const gv = g.toFloat64();
      for (let e = 0; e < E; e++) for (let c = 0; c < C; c++) assert.equal(gv[e * C + c], xs[index[e]! * C + c]);
      for (const mean of [false, true]) {
        const out = Tensor.empty([M, C], 'float64');
        cpuBackend.segmentSum(g, rowPtr, out, mean);
        const o = out.toFloat64();
        for (let q = 0; q < M; q++) for (let c = 0; c < C; c++) {
          let s = 0;
          for (let e = rowPtr[q]!; e < rowPtr[q + 1]!; e++) s += gv[e * C + c]!;
          const n = rowPtr[q + 1]! - rowPtr[q]!;
          assert.ok(Math.abs(o[q * C + c]! - (mean && n > 0 ? s / n : s)) < 1e-12, `${mean ? 'mean' : 'sum'} row ${q}`);
        }
        out.release();
      }
      const acc = Tensor.zeros([N, C], 'float64');
      cpuBackend.scatterAddRows(g, index, acc);
      const a = acc.toFloat64();
      const want = new Float64Array(N * C);
      for (let e = 0; e < E; e++) for (let c = 0; c < C; c++) want[index[e]! * C + c] += gv[e * C + c]!;
      a.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-12));
      for (const t of [x, g, acc]) t.release();
    });
  }

  it('names bad indices, row pointers and shapes', () => {
    const x = Tensor.zeros([4, 2], 'float32');
    assert.throws(() => cpuBackend.gatherRows(x, Int32Array.from([0, 4]), Tensor.zeros([2, 2], 'float32')), /gatherRows: index\[1\] = 4 is outside 0…3/);
    assert.throws(() => cpuBackend.segmentSum(x, Int32Array.from([0, 3, 2, 4]), Tensor.zeros([3, 2], 'float32')), /segmentSum: row pointers decrease at row 1/);
    assert.throws(() => cpuBackend.segmentSum(x, Int32Array.from([0, 3]), Tensor.zeros([1, 2], 'float32')), /segmentSum: row pointers must run from 0 to the 4 edges/);
    assert.throws(() => ops.segmentReduce(ops.constant(x), Int32Array.from([0, 4]), 'max' as 'sum'), /reduce must be 'sum' or 'mean'/);
    x.release();
  });

  it('gradients of gather → weight → segment mean/sum match finite differences (float64), on a radius graph', () => {
    // a GNO-shaped composition: out(y) = reduce_{x ∈ N(y)} w(x, y)·f(x)
    const pts = Float64Array.from({ length: 3 * 20 }, () => rng.uniform());
    const qs = Float64Array.from({ length: 3 * 7 }, () => rng.uniform());
    const { rowPtr, indices } = radiusNeighbors(pts, qs, 0.45);
    const E = indices.length;
    assert.ok(E > 10 && rowPtr.length === 8);
    const f = Tensor.fromArray(rng.normalArray(20 * 3), [20, 3], 'float64');
    const w = Tensor.fromArray(rng.normalArray(E * 3), [E, 3], 'float64');
    for (const reduce of ['sum', 'mean'] as const) {
      const r = gradcheck(([fv, wv]) => ops.segmentReduce(ops.mul(ops.gatherRows(fv!, indices), wv!), rowPtr, reduce), [f, w], { samples: 10 });
      r.maxRelErr.forEach((e, k) => assert.ok(e < 1e-7, `${reduce}: input ${k} gradient error ${e}`));
    }
    f.release();
    w.release();
  });
});

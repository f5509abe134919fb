import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import * as ops from '../../src/autograd/ops.js';
import { cpuBackend } from '../../src/kernels/cpu.js';
import { refGatherRows, refScatterAddRows, refSegmentSum } from '../../src/kernels/ref/graph.js';
import { radiusNeighbors } from '../../src/kernels/neighbors.js';
import { withThreadsPosted } from '../helpers.js';

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

// ---- the wasm kernels (float32 / float16 / bfloat16) against float64 loops ----

type KDType = 'float32' | 'float16' | 'bfloat16';
const KDTYPES: readonly KDType[] = ['float32', 'float16', 'bfloat16'];
const MANT: Record<KDType, [number, number]> = { float32: [23, -126], float16: [10, -14], bfloat16: [7, -126] };

/** The spacing of the dtype's values at |v| (subnormal spacing below its normal range). */
function ulp(v: number, dtype: KDType): number {
  const [bits, emin] = MANT[dtype];
  const a = Math.abs(v);
  let e = a > 0 ? Math.floor(Math.log2(a)) : emin;
  if (a > 0 && 2 ** e > a) e--;
  if (a > 0 && 2 ** (e + 1) <= a) e++;
  return 2 ** (Math.max(e, emin) - bits);
}

/**
 * The tolerance of one output: the f32 summation bound (k − 1)·2⁻²⁴·Σ|terms| over its k terms, plus
 * half an ulp of the output dtype for the one rounding of a 16-bit result, plus one f32 ulp for a
 * mean's division. An f32 sum of one or two terms is therefore exact.
 */
function sumTol(k: number, absSum: number, want: number, got: number, dtype: KDType, divided: boolean): number {
  let t = Math.max(0, k - 1) * 2 ** -24 * absSum * (1 + 1e-6);
  const m = Math.max(Math.abs(want), Math.abs(got));
  if (dtype !== 'float32') t += 0.5 * ulp(m, dtype);
  if (divided) t += ulp(m, 'float32');
  return t;
}

/** Random values that are never zero: ±[0.5, 2). */
function nonzero(n: number): Float64Array {
  return Float64Array.from({ length: n }, () => (rng.uniform() < 0.5 ? -1 : 1) * rng.uniform(0.5, 2));
}

/** A CSR graph of M rows over N nodes with long rows too (0 … maxLen − 1 edges, a fifth of the rows empty). */
function graphOf(M: number, N: number, maxLen: number): { rowPtr: Int32Array; index: Int32Array } {
  const rowPtr = new Int32Array(M + 1);
  const idx: number[] = [];
  for (let q = 0; q < M; q++) {
    const k = rng.uniform() < 0.2 ? 0 : rng.int(maxLen);
    for (let j = 0; j < k; j++) idx.push(rng.int(N));
    rowPtr[q + 1] = idx.length;
  }
  return { rowPtr, index: Int32Array.from(idx) };
}


/** The stored bytes (copied). */
const codes = (t: Tensor) => Buffer.from(new Uint8Array(t.data.buffer, t.data.byteOffset, t.nbytes));

/** Checks gather, segment sum/mean and scatter-add of one random graph in one dtype; returns the outputs' stored codes. */
function checkAll(dtype: KDType, M: number, N: number, C: number, maxLen: number): { out: Buffer[] } {
  const { rowPtr, index } = graphOf(M, N, maxLen);
  const E = index.length;
  const x = Tensor.fromArray(nonzero(N * C), [N, C], dtype);
  const xs = x.toFloat64();
  const outs: Buffer[] = [];
  // gather: a copy of the stored codes, exactly the reference's
  const g = Tensor.full([E, C], 7, dtype);
  cpuBackend.gatherRows(x, index, g);
  const gRef = Tensor.empty([E, C], dtype);
  refGatherRows(x, index, gRef);
  assert.ok(codes(g).equals(codes(gRef)), `${dtype} C=${C}: gather equals the reference`);
  const gv = g.toFloat64();
  for (let e = 0; e < E; e++) for (let c = 0; c < C; c++) if (gv[e * C + c] !== xs[index[e]! * C + c]) assert.fail(`${dtype} C=${C}: gather [${e}, ${c}]`);
  outs.push(codes(g));
  // segment sum and mean (out starts as garbage: empty rows must come out 0)
  for (const mean of [false, true]) {
    const out = Tensor.full([M, C], 3, dtype);
    cpuBackend.segmentSum(g, rowPtr, out, mean);
    const o = out.toFloat64();
    for (let q = 0; q < M; q++) for (let c = 0; c < C; c++) {
      let s = 0;
      let abs = 0;
      for (let e = rowPtr[q]!; e < rowPtr[q + 1]!; e++) {
        s += gv[e * C + c]!;
        abs += Math.abs(gv[e * C + c]!);
      }
      const k = rowPtr[q + 1]! - rowPtr[q]!;
      const want = mean && k > 0 ? s / k : s;
      const got = o[q * C + c]!;
      const tol = sumTol(k, mean && k > 0 ? abs / k : abs, want, got, dtype, mean && k > 1);
      if (!(Math.abs(got - want) <= tol)) assert.fail(`${dtype} C=${C} ${mean ? 'mean' : 'sum'} [${q}, ${c}]: ${got} vs ${want} (tolerance ${tol}, ${k} edges)`);
      if (k === 0 && !Object.is(got, 0)) assert.fail(`${dtype}: empty segment ${q} gives ${got}`);
    }
    outs.push(codes(out));
    out.release();
  }
  // scatter-add into non-zero initial values
  const acc = Tensor.fromArray(nonzero(N * C), [N, C], dtype);
  const want = acc.toFloat64();
  const abs = want.map(Math.abs);
  const terms = new Int32Array(N * C).fill(1);
  for (let e = 0; e < E; e++) for (let c = 0; c < C; c++) {
    const i = index[e]! * C + c;
    want[i] += gv[e * C + c]!;
    abs[i] += Math.abs(gv[e * C + c]!);
    terms[i]++;
  }
  cpuBackend.scatterAddRows(g, index, acc);
  const a = acc.toFloat64();
  for (let i = 0; i < N * C; i++) {
    const tol = sumTol(terms[i]!, abs[i]!, want[i]!, a[i]!, dtype, false);
    if (!(Math.abs(a[i]! - want[i]!) <= tol)) assert.fail(`${dtype} C=${C} scatter [${Math.floor(i / C)}, ${i % C}]: ${a[i]} vs ${want[i]} (tolerance ${tol}, ${terms[i]} terms)`);
  }
  outs.push(codes(acc));
  for (const t of [x, g, gRef, acc]) t.release();
  return { out: outs };
}

describe('graph kernels on wasm (float32, float16, bfloat16)', () => {
  for (const dtype of KDTYPES) {
    it(`${dtype}: gather is the reference's copy; sums and means within the f32 summation bound + ½ ulp of ${dtype}; odd channel counts, empty segments`, () => {
      for (const C of [1, 3, 4, 5, 8, 16, 17, 33]) checkAll(dtype, 40, 23, C, 12);
    });
  }

  it('threaded calls (large graphs) split the work and give bit-identical results to one thread', () => {
    for (const dtype of KDTYPES) {
      for (const C of dtype === 'float32' ? [33, 64] : [33]) {
        const state = rng.getState();
        const [one] = withThreadsPosted(1, () => checkAll(dtype, 6000, 500, C, 10));
        rng.setState(state);
        const [two, ran] = withThreadsPosted(2, () => checkAll(dtype, 6000, 500, C, 10));
        assert.ok(ran, `${dtype} C=${C}: the threaded path ran`);
        two.out.forEach((o, k) => assert.ok(o.equals(one.out[k]!), `${dtype} C=${C}: output ${k} equals the one-thread result`));
      }
    }
  });

  it('handles no edges, no channels, and sends float64 and mixed dtypes to the reference', () => {
    for (const dtype of KDTYPES) {
      const x = Tensor.fromArray(nonzero(15), [5, 3], dtype);
      const none = new Int32Array(0);
      const g = Tensor.empty([0, 3], dtype);
      cpuBackend.gatherRows(x, none, g);
      const acc = Tensor.fromArray(nonzero(15), [5, 3], dtype);
      const before = codes(acc);
      cpuBackend.scatterAddRows(g, none, acc);
      assert.ok(codes(acc).equals(before), `${dtype}: scatter of no edges leaves out as it was`);
      const seg = Tensor.full([4, 3], 9, dtype);
      cpuBackend.segmentSum(g, new Int32Array(5), seg, true);
      assert.deepEqual(Array.from(seg.toFloat64()), new Array(12).fill(0), `${dtype}: segments of no edges are 0`);
      const x0 = Tensor.empty([5, 0], dtype);
      const g0 = Tensor.empty([2, 0], dtype);
      cpuBackend.gatherRows(x0, Int32Array.from([1, 4]), g0);
      assert.throws(() => cpuBackend.gatherRows(x0, Int32Array.from([5]), Tensor.empty([1, 0], dtype)), /gatherRows: index\[0\] = 5 is outside 0…4/);
      for (const t of [x, g, acc, seg, x0, g0]) t.release();
    }
    // mixed dtypes: the reference's float64 sums, rounded once
    const { rowPtr, index } = graphOf(30, 11, 8);
    const E = index.length;
    const src = Tensor.fromArray(nonzero(E * 5), [E, 5], 'float32');
    for (const od of ['bfloat16', 'float64'] as const) {
      const a = Tensor.zeros([30, 5], od);
      const b = Tensor.zeros([30, 5], od);
      cpuBackend.segmentSum(src, rowPtr, a, true);
      refSegmentSum(src, rowPtr, b, true);
      assert.ok(codes(a).equals(codes(b)), `float32 → ${od} segment mean on the reference`);
      const s1 = Tensor.fromArray(nonzero(11 * 5), [11, 5], od);
      const s2 = Tensor.fromArray(Array.from(s1.toFloat64()), [11, 5], od);
      cpuBackend.scatterAddRows(src, index, s1);
      refScatterAddRows(src, index, s2);
      assert.ok(codes(s1).equals(codes(s2)), `float32 → ${od} scatter-add on the reference`);
      for (const t of [a, b, s1, s2]) t.release();
    }
    src.release();
  });

  it('names bad indices (negative, too large, in a large array) and shapes on the wasm path, as the reference does', () => {
    for (const dtype of KDTYPES) {
      const x = Tensor.zeros([4, 5], dtype);
      const big = new Int32Array(1000).fill(3);
      big[777] = -2;
      assert.throws(() => cpuBackend.gatherRows(x, big, Tensor.zeros([1000, 5], dtype)), /gatherRows: index\[777\] = -2 is outside 0…3/);
      big[777] = 3;
      big[999] = 4;
      assert.throws(() => cpuBackend.scatterAddRows(Tensor.zeros([1000, 5], dtype), big, x), /scatterAddRows: index\[999\] = 4 is outside 0…3/);
      assert.throws(() => cpuBackend.gatherRows(x, Int32Array.from([0]), Tensor.zeros([1, 4], dtype)), /gatherRows: out \[1, 4\]/);
      assert.throws(() => cpuBackend.gatherRows(x, Int32Array.from([0]), Tensor.zeros([1, 5], dtype === 'float32' ? 'float16' : 'float32')), /gatherRows: out \[1, 5\]/);
      assert.throws(() => cpuBackend.segmentSum(x, Int32Array.from([0, 2, 4]), Tensor.zeros([3, 5], dtype)), /segmentSum: out \[3, 5\] must be \[2, 5\]/);
      assert.throws(() => cpuBackend.segmentSum(x, Int32Array.from([0, 3, 2, 4]), Tensor.zeros([3, 5], dtype)), /segmentSum: row pointers decrease at row 1/);
      assert.throws(() => cpuBackend.scatterAddRows(Tensor.zeros([2, 5], dtype), Int32Array.from([0]), x), /scatterAddRows: src \[2, 5\]/);
      assert.throws(() => cpuBackend.segmentSum(Tensor.zeros([4], dtype), Int32Array.from([0, 4]), x), /segmentSum: x must be 2-D/);
      x.release();
    }
  });
});

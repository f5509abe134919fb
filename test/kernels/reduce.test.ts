import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type KernelDType, KERNEL_DTYPES } from '../../src/core/dtype.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import type { ReduceOp } from '../../src/kernels/backend.js';
import { reduce } from '../../src/kernels/elementwise.js';
import { pool } from '../../src/kernels/pool.js';
import { refReduce } from '../../src/kernels/ref/elementwise.js';
import { withThreads } from '../helpers.js';

/**
 * Reductions against float64. The kernel sums in f32 lanes over chunks of 1024 elements (64 additions
 * per lane) and adds chunk sums in f64, so |got − want| ≤ (64 + 8)·u32·Σ|terms| for any n; maxAbs and
 * countNonFinite are exact.
 */

const U32 = 2 ** -24;
const SUM_BOUND = (1024 / 16 + 8) * U32;
const SIZES = [0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 1023, 1025, 4099, 40_001, 300_007];

function randTensor(rng: Rng, n: number, dt: KernelDType, gen: () => number): Tensor {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = gen();
    while (x === 0) x = gen();
    v[i] = x;
  }
  return Tensor.fromArray(v, [n], dt);
}

/** Σ|x| and Σx² over the decoded values (the scale of the rounding errors). */
function absSums(x: Tensor): { abs: number; sq: number } {
  let abs = 0;
  let sq = 0;
  for (const v of x.toFloat64()) {
    abs += Math.abs(v);
    sq += v * v;
  }
  return { abs, sq };
}

describe('reduce (wasm) against float64', () => {
  it('sum and sumSquares: random sizes, every dtype, 1, 2 and 3 threads', () => {
    const rng = new Rng(5);
    let worstSum = 0;
    let worstSq = 0;
    for (const n of SIZES) {
      for (const dt of KERNEL_DTYPES) {
        const x = randTensor(rng, n, dt, () => rng.normal(0.3, 2));
        const want = refReduce('sum', x);
        const wantSq = refReduce('sumSquares', x);
        const { abs, sq } = absSums(x);
        for (const th of [1, 2, 3]) {
          const got = withThreads(th, () => reduce('sum', x));
          const gotSq = withThreads(th, () => reduce('sumSquares', x));
          assert.ok(Math.abs(got - want) <= SUM_BOUND * abs, `sum ${dt} n=${n} threads=${th}: got ${got} want ${want}`);
          assert.ok(Math.abs(gotSq - wantSq) <= SUM_BOUND * sq, `sumSquares ${dt} n=${n} threads=${th}: got ${gotSq} want ${wantSq}`);
          if (abs > 0) worstSum = Math.max(worstSum, Math.abs(got - want) / abs);
          if (sq > 0) worstSq = Math.max(worstSq, Math.abs(gotSq - wantSq) / sq);
        }
        x.release();
      }
    }
    if (process.env['MPNO_ACCURACY'] === '1') console.log(`sum: max |err|/Σ|x| ${worstSum}; sumSquares: max |err|/Σx² ${worstSq}`);
  });

  it('sum of 10^7 elements stays within 1e-6·Σ|x| (chunked f32 + f64)', () => {
    const n = 10_000_000;
    const rng = new Rng(9);
    const x = Tensor.empty([n], 'float32');
    (x.data as Float32Array).set(rng.uniformArray(n, 0.5, 1.5));
    const want = refReduce('sum', x);
    const wantSq = refReduce('sumSquares', x);
    for (const th of [1, 2]) {
      const got = withThreads(th, () => reduce('sum', x));
      const gotSq = withThreads(th, () => reduce('sumSquares', x));
      assert.ok(Math.abs(got - want) <= 1e-6 * want, `sum n=1e7 threads=${th}: got ${got} want ${want} (rel ${Math.abs(got - want) / want})`);
      assert.ok(Math.abs(gotSq - wantSq) <= 1e-6 * wantSq, `sumSquares n=1e7 threads=${th}: rel ${Math.abs(gotSq - wantSq) / wantSq}`);
      if (process.env['MPNO_ACCURACY'] === '1') console.log(`n=1e7 threads=${th}: sum rel ${Math.abs(got - want) / want}, sumSquares rel ${Math.abs(gotSq - wantSq) / wantSq}`);
    }
    x.release();
  });

  it('maxAbs is exact, NaN if any element is NaN', () => {
    const rng = new Rng(6);
    for (const n of SIZES) {
      for (const dt of KERNEL_DTYPES) {
        const x = randTensor(rng, n, dt, () => rng.normal(0, 3));
        for (const th of [1, 2]) assert.equal(withThreads(th, () => reduce('maxAbs', x)), refReduce('maxAbs', x), `maxAbs ${dt} n=${n}`);
        if (n > 0) {
          // the largest magnitude negative, at a random place (often in the scalar tail)
          const v = x.toFloat64();
          const at = rng.int(n);
          v[at] = -1000;
          x.set(v);
          for (const th of [1, 2]) assert.equal(withThreads(th, () => reduce('maxAbs', x)), 1000, `maxAbs ${dt} n=${n} (-1000 at ${at})`);
          v[rng.int(n)] = -Infinity;
          x.set(v);
          assert.equal(reduce('maxAbs', x), Infinity);
          v[rng.int(n)] = NaN;
          x.set(v);
          for (const th of [1, 2]) assert.ok(Number.isNaN(withThreads(th, () => reduce('maxAbs', x))), `maxAbs ${dt} n=${n} with NaN`);
        } else {
          assert.equal(reduce('maxAbs', x), 0);
        }
        x.release();
      }
    }
  });

  it('countNonFinite counts ±Inf and NaN exactly', () => {
    const rng = new Rng(8);
    for (const n of SIZES) {
      for (const dt of KERNEL_DTYPES) {
        const v = new Float64Array(n);
        for (let i = 0; i < n; i++) v[i] = rng.normal(0, 100);
        // ~1% non-finite values, and the last element often
        for (let i = 0; i < n; i++) {
          const r = rng.random();
          if (r < 0.004) v[i] = Infinity;
          else if (r < 0.008) v[i] = -Infinity;
          else if (r < 0.012) v[i] = NaN;
        }
        if (n > 0 && rng.random() < 0.5) v[n - 1] = NaN;
        const x = Tensor.fromArray(v, [n], dt);
        const want = refReduce('countNonFinite', x);
        let plain = 0;
        for (const a of v) if (!Number.isFinite(a)) plain++;
        assert.equal(want, plain);
        for (const th of [1, 2, 3]) assert.equal(withThreads(th, () => reduce('countNonFinite', x)), want, `countNonFinite ${dt} n=${n} threads=${th}`);
        x.release();
      }
    }
  });

  it('float16 overflow to Inf is counted; sums propagate Inf and NaN', () => {
    const x = Tensor.fromArray([1, 70000, -1e6, 2, 3], [5], 'float16'); // 70000 and -1e6 overflow f16
    assert.equal(reduce('countNonFinite', x), 2);
    assert.equal(reduce('maxAbs', x), Infinity);
    assert.ok(Number.isNaN(reduce('sum', x))); // Inf + −Inf
    assert.equal(reduce('sumSquares', x), Infinity);
    x.release();
  });

  it('rejects bad arguments with messages that name the op and dtype', () => {
    const d = Tensor.zeros([3], 'float64');
    assert.throws(() => reduce('sum', d), /reduce sum: float64 has no wasm kernel/);
    assert.equal(refReduce('sum', d), 0); // the reference takes float64
    assert.throws(() => reduce('mean' as ReduceOp, d), /reduce: unknown op 'mean'/);
    assert.throws(() => refReduce('mean' as ReduceOp, d), /reduce: unknown op 'mean'/);
    const r = Tensor.zeros([2, 2], 'bfloat16');
    r.release();
    assert.throws(() => reduce('maxAbs', r), /reduce maxAbs: x \(\[2, 2\] bfloat16\) was already released/);
    assert.throws(() => refReduce('maxAbs', r), /reduce maxAbs: x \(\[2, 2\] bfloat16\) was already released/);
    d.release();
  });
});

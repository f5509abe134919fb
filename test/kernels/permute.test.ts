import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DType } from '../../src/core/dtype.js';
import { ledger } from '../../src/core/ledger.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { cpuBackend } from '../../src/kernels/cpu.js';
import { refBackend } from '../../src/kernels/ref/index.js';

/**
 * Backend.permute: the CPU backend's strided/tiled copy against the plain reference loop, bit for bit
 * (16-bit tensors are filled with random raw codes, NaN and infinity codes included, so a copy that
 * decoded and re-encoded them would show).
 */

const DTYPES: DType[] = ['float32', 'float16', 'bfloat16', 'float64'];

function filled(rng: Rng, shape: number[], dtype: DType): Tensor {
  const t = Tensor.empty(shape, dtype);
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const d = t.data as Uint16Array;
    for (let i = 0; i < d.length; i++) d[i] = rng.int(65536);
    return t;
  }
  return rng.fillNormal(t);
}

function permutedShape(shape: readonly number[], perm: readonly number[]): number[] {
  return perm.map((p) => shape[p]!);
}

describe('Backend.permute', () => {
  it('the reference permute is the index map dst[i_perm] = src[i] (hand-checked 2x3x4 case)', () => {
    const x = Tensor.fromArray(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4]);
    const y = Tensor.empty([4, 2, 3]);
    refBackend.permute(x, [2, 0, 1], y);
    const w = y.toArray();
    for (let a = 0; a < 2; a++) for (let b = 0; b < 3; b++) for (let c = 0; c < 4; c++) assert.equal(w[(c * 2 + a) * 3 + b], (a * 3 + b) * 4 + c);
    x.release();
    y.release();
  });

  it('cpu == ref bit for bit over random shapes, permutations and dtypes (tiled transposes, size-1 and empty axes)', () => {
    const rng = new Rng(2024);
    const seen = { tiled: 0, empty: 0, ones: 0, scalar: 0 };
    for (let t = 0; t < 300; t++) {
      // a third of the cases with large axes (the blocked transpose needs two axes of ≥ 8), 2 or 3 of them
      const big = t % 3 === 0;
      const nd = t === 0 ? 0 : big ? 2 + rng.int(2) : 1 + rng.int(5);
      const shape = Array.from({ length: nd }, () => (rng.random() < 0.15 ? 1 : 1 + rng.int(big ? 40 : 6)));
      if (t % 50 === 7 && nd > 0) shape[rng.int(nd)] = 0;
      const perm = rng.permutation(nd);
      const dtype = DTYPES[t % DTYPES.length]!;
      if (nd === 0) seen.scalar++;
      if (shape.includes(0)) seen.empty++;
      if (shape.includes(1)) seen.ones++;
      if (nd >= 2 && shape[perm[nd - 1]!]! >= 8 && shape[nd - 1]! >= 8 && perm[nd - 1] !== nd - 1) seen.tiled++;
      const x = filled(rng, shape, dtype);
      const before = Array.from(x.data);
      const got = Tensor.empty(permutedShape(shape, perm), dtype);
      const want = Tensor.empty(permutedShape(shape, perm), dtype);
      cpuBackend.permute(x, perm, got);
      refBackend.permute(x, perm, want);
      const g = Array.from(got.data);
      const w = Array.from(want.data);
      for (let i = 0; i < w.length; i++) {
        if (!Object.is(g[i], w[i])) assert.fail(`permute ${JSON.stringify(shape)} by [${perm}] (${dtype}): element ${i} is ${g[i]}, ref ${w[i]}`);
      }
      assert.deepEqual(Array.from(x.data), before, 'src is not modified');
      for (const u of [x, got, want]) u.release();
    }
    // the cases reach every path of the CPU copy
    assert.ok(seen.tiled >= 10 && seen.empty >= 3 && seen.ones >= 20 && seen.scalar === 1, JSON.stringify(seen));
  });

  it('permutes views (a leading-axis slice, a reshape) at their offset', () => {
    const rng = new Rng(3);
    for (const dtype of DTYPES) {
      const base = filled(rng, [3, 4, 5, 6], dtype);
      const v = base.slice(1, 3).reshapeOwned([2, 20, 6]);
      const got = Tensor.empty([6, 2, 20], dtype);
      const want = Tensor.empty([6, 2, 20], dtype);
      cpuBackend.permute(v, [2, 0, 1], got);
      refBackend.permute(v, [2, 0, 1], want);
      assert.deepEqual(Array.from(got.data), Array.from(want.data), dtype);
      for (const u of [base, v, got, want]) u.release();
    }
  });

  for (const be of [cpuBackend, refBackend]) {
    it(`${be.name}: errors name the problem; nothing leaks`, () => {
      const live = ledger.snapshot().live;
      const x = Tensor.zeros([2, 3, 4], 'float16');
      const y = Tensor.zeros([4, 2, 3], 'float16');
      assert.throws(() => be.permute(x, [0, 0, 1], y), (e: Error) => e instanceof RangeError && /\[0, 0, 1\] is not a permutation of the 3 axes of src \[2, 3, 4\] float16/.test(e.message));
      assert.throws(() => be.permute(x, [2, 0], y), /is not a permutation/);
      assert.throws(() => be.permute(x, [0, 1, 2], y), (e: Error) => e instanceof RangeError && /dst \[4, 2, 3\] float16 must be \[2, 3, 4\]/.test(e.message));
      const f32 = Tensor.zeros([4, 2, 3], 'float32');
      assert.throws(() => be.permute(x, [2, 0, 1], f32), (e: Error) => e instanceof TypeError && /permute keeps the dtype/.test(e.message));
      // dst inside src's storage
      const big = Tensor.zeros([2, 24], 'float16');
      const src = big.slice(0, 1).reshapeOwned([2, 3, 4]);
      const dst = big.slice(0, 1).reshapeOwned([4, 2, 3]);
      assert.throws(() => be.permute(src, [2, 0, 1], dst), /shares memory with src/);
      for (const u of [src, dst, big, f32]) u.release();
      y.release();
      assert.throws(() => be.permute(x, [2, 0, 1], y), /dst \(\[4, 2, 3\] float16\) was already released/);
      x.release();
      assert.equal(ledger.snapshot().live, live);
    });
  }
});

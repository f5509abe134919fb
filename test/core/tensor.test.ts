import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { f16round } from '@petamoriken/float16';
import { arena } from '../../src/core/arena.js';
import { roundBf16 } from '../../src/core/codecs.js';
import { type DType, DTYPES, itemSize } from '../../src/core/dtype.js';
import { ledger } from '../../src/core/ledger.js';
import { ComplexTensor, type Shape, Tensor } from '../../src/core/tensor.js';

/** The value `x` rounded once (round-to-nearest-even) to `dt`. */
function roundOnce(x: number, dt: DType): number {
  switch (dt) {
    case 'float64': return x;
    case 'float32': return Math.fround(x);
    case 'float16': return f16round(x); // @petamoriken/float16 rounds a double once
    case 'bfloat16': return roundBf16(x); // checked against an exact oracle in codecs.test
  }
}

/** Same number (0 and -0 told apart, NaN equal to NaN). */
function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, msg: string): void {
  assert.equal(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(Number.isNaN(e) ? Number.isNaN(a) : Object.is(a, e), `${msg}[${i}]: got ${a}, want ${e}`);
  }
}

const ARRAY_TYPE: Record<DType, Function> = {
  float64: Float64Array,
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
};

/** Values whose single rounding differs from rounding through float32 for the 16-bit types. */
const TIE16 = 1 + 2 ** -11 + 2 ** -30; // float16: once -> 1 + 2^-10, via f32 -> 1
const TIEBF = 1 + 2 ** -8 + 2 ** -30; // bfloat16: once -> 1 + 2^-7, via f32 -> 1
const ONCE: Record<DType, [number, number][]> = {
  float64: [[TIE16, TIE16], [0.1, 0.1]],
  float32: [[TIE16, 1 + 2 ** -11], [0.1, 0.10000000149011612]],
  float16: [[TIE16, 1 + 2 ** -10], [TIEBF, 1 + 2 ** -8], [0.1, 0.0999755859375], [70000, Infinity], [-1e-9, -0]],
  bfloat16: [[TIEBF, 1 + 2 ** -7], [TIE16, 1], [0.1, 0.10009765625], [-1e-50, -0]],
};

function liveBytes(): number {
  return ledger.snapshot().live;
}

describe('Tensor: creation and values', () => {
  for (const dt of DTYPES) {
    it(`${dt}: empty`, () => {
      const t = Tensor.empty([2, 3], dt);
      try {
        assert.deepEqual([...t.shape], [2, 3]);
        assert.ok(Object.isFrozen(t.shape));
        assert.equal(t.size, 6);
        assert.equal(t.ndim, 2);
        assert.equal(t.dtype, dt);
        assert.equal(t.nbytes, 6 * itemSize(dt));
        assert.equal(t.offset, 0);
        assert.equal(t.role, 'other');
        assert.equal(t.isReleased, false);
        assert.equal(t.isShared, false);
        assert.ok(t.data instanceof ARRAY_TYPE[dt], `data is a ${t.data.constructor.name}`);
        assert.equal(t.data.length, 6);
        assert.equal(t.ptr % 64, 0);
        assert.equal(t.data.byteOffset, t.ptr);
        assert.equal(t.data.buffer, arena.buffer);
        assert.equal(t.toString(), `Tensor([2, 3], ${dt})`);
      } finally {
        t.release();
      }
    });

    it(`${dt}: zeros / full round once`, () => {
      const z = Tensor.zeros([5], dt);
      z.data.fill(7); // stale contents must not leak into a later zeros()
      z.release();
      const z2 = Tensor.zeros([3, 5], dt);
      assertSame(z2.toFloat64(), new Array(15).fill(0), 'zeros');
      z2.release();
      for (const [x, want] of ONCE[dt]) {
        const f = Tensor.full([2, 2], x, dt);
        assertSame(f.toFloat64(), [want, want, want, want], `full(${x})`);
        assert.equal(roundOnce(x, dt), want, `oracle for ${x}`);
        f.release();
      }
      const s = Tensor.full([], -0.5, dt);
      assert.equal(s.size, 1);
      assert.equal(s.ndim, 0);
      assert.ok(Object.is(s.item(), -0.5));
      s.release();
    });

    it(`${dt}: fromArray / set / toFloat64 / toArray / item round once`, () => {
      const vals = [0.1, -2.5, 1e-9, 70000, TIE16, -TIEBF, -0, 3.14159, 1e-6, 65519, 1e38, -1e-45];
      const t = Tensor.fromArray(vals, [3, 4], dt);
      try {
        assert.deepEqual([...t.shape], [3, 4]);
        const want = vals.map((v) => roundOnce(v, dt));
        assertSame(t.toFloat64(), want, 'fromArray');
        assert.ok(t.toFloat64() instanceof Float64Array);
        assertSame(t.toArray(), want, 'toArray');
        assert.ok(Array.isArray(t.toArray()));
        for (const [x, w] of ONCE[dt]) {
          const one = Tensor.fromArray([x], [1], dt);
          assert.ok(Object.is(one.item(), w), `fromArray([${x}]).item() = ${one.item()}, want ${w}`);
          one.release();
        }
        const vals2 = vals.map((v) => -v / 3);
        t.set(vals2);
        assertSame(t.toFloat64(), vals2.map((v) => roundOnce(v, dt)), 'set');
        t.set(new Float64Array(12).fill(TIE16));
        assertSame(t.toFloat64(), new Array(12).fill(roundOnce(TIE16, dt)), 'set(Float64Array)');
        assert.throws(() => t.set([1, 2, 3]), (e: Error) => e instanceof RangeError && /Tensor\.set/.test(e.message) && /\[3, 4\]/.test(e.message));
        assert.throws(() => t.item(), (e: Error) => e instanceof RangeError && /Tensor\.item/.test(e.message) && /\[3, 4\]/.test(e.message));
        const d = Tensor.fromArray([1, 2, 3], undefined, dt);
        assert.deepEqual([...d.shape], [3]);
        d.release();
        assert.throws(
          () => Tensor.fromArray([1, 2, 3], [2, 2], dt),
          (e: Error) => e instanceof RangeError && /Tensor\.fromArray/.test(e.message) && /\[2, 2\]/.test(e.message),
        );
      } finally {
        t.release();
      }
    });

    it(`${dt}: clone copies into new storage`, () => {
      const t = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], dt, 'parameter');
      const c = t.clone();
      const c2 = t.clone('gradient');
      try {
        assert.notEqual(c.ptr, t.ptr);
        assert.deepEqual([...c.shape], [2, 3]);
        assert.equal(c.dtype, dt);
        assert.equal(c.role, 'parameter');
        assert.equal(c2.role, 'gradient');
        assert.equal(c.isShared, false);
        assertSame(c.toFloat64(), [1, 2, 3, 4, 5, 6], 'clone');
        c.set([9, 9, 9, 9, 9, 9]);
        assertSame(t.toFloat64(), [1, 2, 3, 4, 5, 6], 'original after writing the clone');
        // clone of a view copies just the view
        const v = t.slice(1);
        const cv = v.clone();
        assert.deepEqual([...cv.shape], [1, 3]);
        assertSame(cv.toFloat64(), [4, 5, 6], 'clone of a slice');
        cv.release();
        v.release();
      } finally {
        t.release();
        c.release();
        c2.release();
      }
    });
  }

  it('zero-size tensors', () => {
    const before = liveBytes();
    const t = Tensor.empty([0, 4], 'float16');
    assert.equal(t.size, 0);
    assert.equal(t.data.length, 0);
    assert.equal(t.toFloat64().length, 0);
    const r = t.reshape([4, 0, 7]);
    assert.equal(r.size, 0);
    r.release();
    t.release();
    assert.equal(liveBytes(), before);
  });
});

describe('Tensor: reshape', () => {
  for (const dt of ['float32', 'float16'] as const) {
    it(`${dt}: -1 inference, shared data, errors`, () => {
      const vals = Array.from({ length: 24 }, (_, i) => i);
      const t = Tensor.fromArray(vals, [2, 3, 4], dt);
      try {
        const cases: [Shape, number[]][] = [
          [[-1, 4], [6, 4]],
          [[4, -1], [4, 6]],
          [[-1], [24]],
          [[2, -1, 3], [2, 4, 3]],
          [[24, 1, -1], [24, 1, 1]],
          [[3, 8], [3, 8]],
        ];
        for (const [sh, want] of cases) {
          const r = t.reshape(sh);
          assert.deepEqual([...r.shape], want, `reshape(${sh})`);
          assert.equal(r.ptr, t.ptr);
          assert.equal(r.size, 24);
          assert.ok(r.isShared && t.isShared);
          assertSame(r.toFloat64(), vals, `reshape(${sh}) values`);
          r.release();
        }
        assert.equal(t.isShared, false);
        // writes through the view are visible in the base
        const r = t.reshape([6, 4]);
        r.set(vals.map((v) => -v));
        assertSame(t.toFloat64(), vals.map((v) => (v === 0 ? -0 : -v)), 'base after writing the reshaped view');
        r.release();
        const bad: Shape[] = [[-1, -1], [5, 5], [5, -1], [0, -1], [-2, -12], [1.5, 16], [25], [2, 3, 4, 1, 2]];
        for (const sh of bad) {
          assert.throws(
            () => t.reshape(sh),
            (e: Error) => e instanceof RangeError && /Tensor\.reshape/.test(e.message) && e.message.includes(`[${sh.join(', ')}]`),
            `reshape(${sh})`,
          );
        }
        assert.equal(t.isShared, false, 'a failed reshape must not hold a reference');
      } finally {
        t.release();
      }
    });
  }
});

describe('Tensor: slice of the leading axis', () => {
  for (const dt of DTYPES) {
    it(`${dt}: a view with the right offset, writes visible both ways`, () => {
      const vals = Array.from({ length: 12 }, (_, i) => i + 1);
      const t = Tensor.fromArray(vals, [4, 3], dt);
      const isz = itemSize(dt);
      try {
        const s = t.slice(1, 3);
        assert.deepEqual([...s.shape], [2, 3]);
        assert.equal(s.offset, 3);
        assert.equal(s.ptr, t.ptr + 3 * isz);
        assert.equal(s.data.byteOffset, t.ptr + 3 * isz);
        assert.equal(s.nbytes, 6 * isz);
        assertSame(s.toFloat64(), [4, 5, 6, 7, 8, 9], 'slice(1, 3)');
        s.set([-4, -5, -6, -7, -8, -9]);
        assertSame(t.toFloat64(), [1, 2, 3, -4, -5, -6, -7, -8, -9, 10, 11, 12], 'base after writing the slice');
        const full = Tensor.fromArray([100], [1], dt);
        s.data[1] = full.data[0]!; // raw code write through the view
        full.release();
        assert.equal(t.toFloat64()[4], 100);
        t.data[8] = t.data[0]!; // write through the base
        assert.equal(s.toFloat64()[5], 1);
        // slice of a slice, and default end
        const s2 = s.slice(1);
        assert.deepEqual([...s2.shape], [1, 3]);
        assert.equal(s2.offset, 6);
        assert.equal(s2.ptr, t.ptr + 6 * isz);
        assertSame(s2.toFloat64(), [-7, -8, 1], 'slice of a slice');
        const tail = t.slice(2);
        assert.deepEqual([...tail.shape], [2, 3]);
        assert.equal(tail.offset, 6);
        const empty = t.slice(4, 4);
        assert.equal(empty.size, 0);
        assert.deepEqual([...empty.shape], [0, 3]);
        // reshape of a slice keeps the offset
        const rs = s.reshape([-1]);
        assert.equal(rs.ptr, s.ptr);
        assert.equal(rs.offset, 3);
        assertSame(rs.toFloat64(), s.toFloat64(), 'reshape of a slice');
        for (const v of [s, s2, tail, empty, rs]) v.release();
        for (const [a, b] of [[-1, 2], [0, 5], [3, 2], [0.5, 1], [NaN, 2], [1, NaN]] as [number, number][]) {
          assert.throws(
            () => t.slice(a, b),
            (e: Error) => e instanceof RangeError && /Tensor\.slice/.test(e.message) && /\[4, 3\]/.test(e.message),
            `slice(${a}, ${b})`,
          );
        }
        assert.equal(t.isShared, false);
        const scalar = Tensor.full([], 1, dt);
        assert.throws(() => scalar.slice(0, 0), (e: Error) => e instanceof RangeError && /Tensor\.slice/.test(e.message));
        scalar.release();
        // 1-d slices
        const v1 = Tensor.fromArray([1, 2, 3, 4, 5], [5], dt);
        const m = v1.slice(1, 4);
        assertSame(m.toFloat64(), [2, 3, 4], '1-d slice');
        assert.equal(m.ptr, v1.ptr + isz);
        m.release();
        v1.release();
      } finally {
        t.release();
      }
    });
  }
});

describe('Tensor: release', () => {
  it('a released tensor cannot be used, and double release throws', () => {
    const t = Tensor.zeros([8], 'float32', 'activation');
    t.release();
    assert.equal(t.isReleased, true);
    assert.match(t.toString(), /released/);
    const named = (op: string) => (e: Error) => e instanceof Error && e.message.includes(op) && /already released/.test(e.message) && e.message.includes('[8]');
    assert.throws(() => t.data, named('Tensor.data'));
    assert.throws(() => t.ptr, named('Tensor.ptr'));
    assert.throws(() => t.reshape([2, 4]), named('Tensor.reshape'));
    assert.throws(() => t.slice(0, 1), named('Tensor.slice'));
    assert.throws(() => t.setRole('data'), named('Tensor.setRole'));
    assert.throws(() => t.toFloat64(), /already released/);
    assert.throws(() => t.set(new Array(8).fill(1)), /already released/);
    assert.throws(() => t.release(), named('Tensor.release'));
  });

  it('clone of a released tensor throws without allocating', () => {
    const t = Tensor.zeros([16], 'float64');
    t.release();
    const before = ledger.snapshot();
    const used = arena.usedBytes;
    assert.throws(() => t.clone(), /already released/);
    const after = ledger.snapshot();
    assert.equal(after.live, before.live);
    assert.equal(after.allocations, before.allocations);
    assert.equal(arena.usedBytes, used);
  });

  it('a view keeps the storage alive; the storage is freed exactly once, by the last release', () => {
    for (const order of [[0, 1, 2], [1, 0, 2], [2, 1, 0], [0, 2, 1]]) {
      const s0 = ledger.snapshot();
      const used0 = arena.usedBytes;
      const base = Tensor.fromArray(Array.from({ length: 16 }, (_, i) => i), [4, 4], 'float32', 'data');
      const views = [base, base.reshape([16]), base.slice(2)];
      assert.equal(arena.usedBytes, used0 + 64);
      assert.equal(ledger.snapshot().live, s0.live + 64);
      for (let k = 0; k < 3; k++) {
        const v = views[order[k]!]!;
        v.release();
        const snap = ledger.snapshot();
        if (k < 2) {
          assert.equal(snap.live, s0.live + 64, `still alive after ${k + 1} releases`);
          assert.equal(snap.releases, s0.releases);
          assert.equal(arena.usedBytes, used0 + 64);
          // the remaining views still read the data
          for (const w of views) if (!w.isReleased) assert.equal(w.toFloat64()[w.size - 1], 15);
        } else {
          assert.equal(snap.live, s0.live);
          assert.equal(snap.releases, s0.releases + 1);
          assert.equal(snap.allocations, s0.allocations + 1);
          assert.equal(arena.usedBytes, used0);
        }
      }
      for (const v of views) assert.throws(() => v.release(), /already released/);
      assert.equal(ledger.snapshot().releases, s0.releases + 1);
    }
  });

  it('isShared follows the live views', () => {
    const t = Tensor.zeros([2, 2]);
    const v = t.slice(0, 1);
    assert.ok(t.isShared && v.isShared);
    t.release();
    assert.equal(v.isShared, false);
    assertSame(v.toFloat64(), [0, 0], 'view after base release');
    v.release();
  });
});

describe('ComplexTensor', () => {
  it('checks that the parts agree in shape and dtype', () => {
    const a = Tensor.zeros([2, 3]);
    const b = Tensor.zeros([3, 2]);
    const c = Tensor.zeros([2, 3], 'float16');
    const d = Tensor.zeros([2, 3]);
    try {
      assert.throws(() => new ComplexTensor(a, b), (e: Error) => e instanceof TypeError && /ComplexTensor/.test(e.message) && /\[2, 3\]/.test(e.message) && /\[3, 2\]/.test(e.message));
      assert.throws(() => new ComplexTensor(a, c), (e: Error) => e instanceof TypeError && /ComplexTensor/.test(e.message) && /float32/.test(e.message) && /float16/.test(e.message));
      const z = new ComplexTensor(a, d);
      assert.equal(z.re, a);
      assert.equal(z.im, d);
      assert.deepEqual([...z.shape], [2, 3]);
      assert.equal(z.dtype, 'float32');
    } finally {
      for (const t of [a, b, c, d]) t.release();
    }
  });

  for (const dt of DTYPES) {
    it(`${dt}: empty / zeros / release`, () => {
      const before = liveBytes();
      const z = ComplexTensor.zeros([3, 5], dt, 'activation');
      assert.deepEqual([...z.shape], [3, 5]);
      assert.equal(z.dtype, dt);
      assert.notEqual(z.re.ptr, z.im.ptr);
      assert.equal(z.re.role, 'activation');
      assertSame(z.re.toFloat64(), new Array(15).fill(0), 're');
      assertSame(z.im.toFloat64(), new Array(15).fill(0), 'im');
      assert.equal(liveBytes(), before + 2 * 15 * itemSize(dt));
      const e = ComplexTensor.empty([4], dt);
      assert.equal(e.re.size, 4);
      e.release();
      z.release();
      assert.ok(z.re.isReleased && z.im.isReleased);
      assert.equal(liveBytes(), before);
    });
  }

  it('a failed allocation leaks nothing', () => {
    const before = liveBytes();
    const used = arena.usedBytes;
    assert.throws(() => ComplexTensor.zeros([2, -3]), /\[2, -3\]/);
    assert.throws(() => ComplexTensor.empty([2 ** 31, 2], 'float32'), RangeError); // 16 GiB: out of memory
    assert.equal(liveBytes(), before);
    assert.equal(arena.usedBytes, used);
  });
});

describe('Tensor: bad arguments', () => {
  const badShapes: Shape[] = [[2, -1], [1.5], [NaN], [3, Infinity], [-0.5, 2]];
  const ops: [string, (s: Shape) => Tensor][] = [
    ['Tensor.empty', (s) => Tensor.empty(s)],
    ['Tensor.zeros', (s) => Tensor.zeros(s, 'float16')],
    ['Tensor.full', (s) => Tensor.full(s, 1, 'bfloat16')],
    ['Tensor.fromArray', (s) => Tensor.fromArray([1, 2, 3], s)],
  ];
  for (const [op, make] of ops) {
    it(`${op}: bad shapes name the op and the shape`, () => {
      const before = ledger.snapshot();
      for (const s of badShapes) {
        assert.throws(
          () => make(s),
          (e: Error) => e instanceof RangeError && e.message.includes(op) && e.message.includes(`[${s.join(', ')}]`),
          `${op}(${String(s)})`,
        );
      }
      assert.throws(() => make(5 as unknown as Shape), (e: Error) => e instanceof TypeError && e.message.includes(op));
      assert.throws(() => make(['2'] as unknown as Shape), (e: Error) => e instanceof RangeError && e.message.includes(op));
      const after = ledger.snapshot();
      assert.equal(after.live, before.live);
      assert.equal(after.allocations, before.allocations);
    });
  }

  it('unknown dtype or role', () => {
    assert.throws(() => Tensor.empty([2], 'float8' as DType), (e: Error) => e instanceof TypeError && /Tensor\.empty/.test(e.message) && /float8/.test(e.message));
    assert.throws(() => Tensor.zeros([2], 'int32' as DType), (e: Error) => e instanceof TypeError && /Tensor\.zeros/.test(e.message) && /int32/.test(e.message));
    assert.throws(() => Tensor.empty([2], 'float32', 'weights' as never), (e: Error) => e instanceof TypeError && /weights/.test(e.message));
    const t = Tensor.zeros([2]);
    assert.throws(() => t.setRole('bogus' as never), (e: Error) => e instanceof TypeError && /Tensor\.setRole/.test(e.message));
    t.release();
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { convert } from '../../src/kernels/convert.js';
import { gelu, reduce } from '../../src/kernels/elementwise.js';
import { pool, spinFor, splitRange } from '../../src/kernels/pool.js';

/** Runs f with `threads` threads and a spin budget of `spin` µs, restoring both afterwards. */
function withPool<T>(threads: number, spin: number, f: () => T): T {
  const [t0, s0] = [pool.threads, pool.spinMicros];
  pool.setThreads(threads);
  pool.setSpinMicros(spin);
  try {
    return f();
  } finally {
    pool.setThreads(t0);
    pool.setSpinMicros(s0);
  }
}

const bitsOf = (t: Tensor) => Uint32Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.size));

function checkSplit(n: number, parts: number, align: number): void {
  const r = splitRange(n, parts, align);
  const what = `splitRange(${n}, ${parts}, ${align}) = ${JSON.stringify(r.length > 8 ? r.slice(0, 8) : r)}`;
  assert.ok(r.length <= parts, `${what}: more than ${parts} ranges`);
  if (n === 0) {
    assert.equal(r.length, 0, what);
    return;
  }
  assert.ok(r.length >= 1, what);
  assert.equal(r[0]![0], 0, `${what}: does not start at 0`);
  assert.equal(r[r.length - 1]![1], n, `${what}: does not end at n`);
  for (let i = 0; i < r.length; i++) {
    const [s, e] = r[i]!;
    assert.ok(Number.isInteger(s) && Number.isInteger(e), what);
    assert.ok(e > s, `${what}: empty range ${i}`);
    assert.equal(s % align, 0, `${what}: start ${s} not aligned`);
    if (i > 0) assert.equal(s, r[i - 1]![1], `${what}: gap or overlap before range ${i}`);
  }
  // as many ranges as there is work for, balanced to within one aligned unit
  const units = Math.ceil(n / align);
  assert.equal(r.length, Math.min(parts, units), `${what}: number of ranges`);
  const lens = r.map(([s, e]) => e - s);
  const full = lens.slice(0, -1); // the last range may be cut short by n
  if (full.length > 0) {
    assert.ok(Math.max(...full) - Math.min(...full) <= align, `${what}: unbalanced ${lens}`);
    assert.ok(lens[lens.length - 1]! <= Math.max(...full) + align, `${what}: unbalanced ${lens}`);
  }
}

describe('splitRange', () => {
  it('covers [0, n) exactly, in order, with aligned starts and at most `parts` ranges (random cases)', () => {
    const rng = new Rng(17);
    const aligns = [1, 2, 4, 8, 16, 64, 3, 7, 100];
    for (let i = 0; i < 20_000; i++) {
      const n = rng.random() < 0.3 ? rng.int(100) : rng.int(2_000_000);
      const parts = 1 + rng.int(rng.random() < 0.5 ? 8 : 300);
      const align = rng.random() < 0.8 ? aligns[rng.int(aligns.length)]! : 1 + rng.int(1000);
      checkSplit(n, parts, align);
    }
  });

  it('edge cases', () => {
    for (const [n, p, a] of [[0, 1, 1], [0, 4, 16], [1, 1, 1], [1, 8, 16], [15, 2, 16], [16, 2, 16], [17, 2, 16], [33, 3, 16], [100, 100, 1], [100, 1000, 1], [5, 3, 2]]) {
      checkSplit(n!, p!, a!);
    }
    assert.deepEqual(splitRange(10, 1), [[0, 10]]);
    assert.deepEqual(splitRange(10, 2), [[0, 5], [5, 10]]);
    assert.deepEqual(splitRange(40, 2, 16), [[0, 16], [16, 40]]);
    assert.deepEqual(splitRange(17, 4, 16), [[0, 16], [16, 17]]);
    assert.deepEqual(splitRange(0, 4, 16), []);
  });
});

describe('pool', () => {
  it('setThreads accepts 1..256 integers and rejects everything else', () => {
    const before = pool.threads;
    try {
      for (const bad of [0, -1, 1.5, 1000, 257, NaN, Infinity]) {
        assert.throws(() => pool.setThreads(bad), (e: Error) => e instanceof RangeError && /setThreads/.test(e.message), `setThreads(${bad})`);
        assert.equal(pool.threads, before, 'a rejected value changes nothing');
      }
      for (const ok of [1, 2, 256, 3]) {
        pool.setThreads(ok);
        assert.equal(pool.threads, ok);
      }
    } finally {
      pool.setThreads(before);
    }
  });

  it('a large convert with 2 threads equals the one with 1 thread', () => {
    const n = (1 << 20) + 7; // above the parallel threshold: split in 2 with a scalar tail
    assert.equal(splitRange(n, 2, 16).length, 2);
    const rng = new Rng(3);
    const x = Tensor.empty([n], 'float32');
    const bits = new Uint32Array(x.data.buffer, x.data.byteOffset, n);
    for (let i = 0; i < n; i++) bits[i] = rng.random() < 0.5 ? rng.nextU32() : (rng.nextU32() & 0x807fffff) | ((100 + rng.int(60)) << 23);
    const before = pool.threads;
    try {
      for (const dt of ['float16', 'bfloat16'] as const) {
        const outs: Uint16Array[] = [];
        const backs: Uint32Array[] = [];
        for (const threads of [1, 2]) {
          pool.setThreads(threads);
          const y = Tensor.empty([n], dt);
          const z = Tensor.empty([n], 'float32');
          (y.data as Uint16Array).fill(0xa5a5);
          convert(x, y);
          convert(y, z);
          outs.push(Uint16Array.from(y.data as Uint16Array));
          backs.push(Uint32Array.from(new Uint32Array(z.data.buffer, z.data.byteOffset, n)));
          y.release();
          z.release();
        }
        assert.deepEqual(outs[1], outs[0], `float32 -> ${dt}`);
        assert.deepEqual(backs[1], backs[0], `${dt} -> float32`);
        assert.ok(!outs[0]!.every((v) => v === 0xa5a5), 'the output was written');
      }
    } finally {
      pool.setThreads(before);
      x.release();
    }
  });

  it('MPNO_THREADS is parsed at startup: 1..256 accepted, anything else is a named error', () => {
    const url = new URL('../../src/kernels/pool.js', import.meta.url).href;
    const script = `import(${JSON.stringify(url)}).then((m) => console.log('threads=' + m.pool.threads), (e) => { console.log('error=' + e.message); });`;
    const run = (value: string) => {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { ...process.env, MPNO_THREADS: value },
        encoding: 'utf8',
        timeout: 30_000,
      });
      return r.stdout.trim();
    };
    assert.equal(run('3'), 'threads=3');
    assert.equal(run('256'), 'threads=256');
    for (const bad of ['0', '1.5', 'abc', '257', '-2']) {
      const out = run(bad);
      assert.ok(out.startsWith('error=') && out.includes('MPNO_THREADS') && out.includes(`'${bad}'`), `MPNO_THREADS=${bad}: ${out}`);
    }
  });

  it('many small hand-offs (spinning, sleeping, and claimed back by the main thread) give the serial results', () => {
    const rng = new Rng(11);
    const n = 3 * (1 << 16) + 5; // above gelu's split size: two tasks per call
    const x = rng.fillNormal(Tensor.empty([n], 'float32'));
    const want = Tensor.empty([n], 'float32');
    withPool(1, 0, () => gelu(x, want));
    const wantBits = bitsOf(want);
    const out = Tensor.empty([n], 'float32');
    try {
      for (const spin of [0, 5, 200, 5000]) {
        withPool(2, spin, () => {
          for (let i = 0; i < 300; i++) {
            (out.data as Float32Array).fill(NaN);
            gelu(x, out);
            if (i % 50 === 0 || i === 299) assert.deepEqual(bitsOf(out), wantBits, `spin ${spin} µs, call ${i}`);
          }
        });
      }
      // every posted task ran exactly once, by the worker or claimed back by this thread; either way the
      // sums are those of the same two ranges
      const sums = new Set<number>();
      withPool(2, 0, () => { for (let i = 0; i < 200; i++) sums.add(reduce('sum', x)); });
      withPool(2, 5000, () => { for (let i = 0; i < 200; i++) sums.add(reduce('sum', x)); });
      assert.equal(sums.size, 1, `sums differ between runs: ${[...sums]}`);
    } finally {
      for (const t of [x, want, out]) t.release();
    }
  });

  it('inline() runs the same tasks on this thread: identical results on both sides of the split size', () => {
    const rng = new Rng(5);
    for (const n of [1000, (1 << 18) * 2 + 77, (1 << 19) + 3]) {
      const x = rng.fillNormal(Tensor.empty([n], 'float32'));
      const a = Tensor.empty([n], 'float32');
      const b = Tensor.empty([n], 'float32');
      try {
        const [s1, m1] = withPool(2, 200, () => {
          gelu(x, a);
          return [reduce('sum', x), reduce('sumSquares', x)];
        });
        const [s2, m2] = withPool(2, 200, () => pool.inline(() => {
          assert.equal(pool.isInline, true);
          gelu(x, b);
          return [reduce('sum', x), reduce('sumSquares', x)];
        }));
        assert.equal(pool.isInline, false);
        assert.deepEqual(bitsOf(b), bitsOf(a), `gelu n = ${n}`);
        assert.equal(s2, s1, `sum n = ${n}`);
        assert.equal(m2, m1, `sumSquares n = ${n}`);
      } finally {
        for (const t of [x, a, b]) t.release();
      }
    }
    assert.throws(() => pool.inline(() => { throw new Error('boom'); }), /boom/);
    assert.equal(pool.isInline, false, 'an exception leaves inline mode');
  });

  it('a failing task throws from run(), whichever thread ran it, and the pool keeps working', () => {
    const x = Tensor.full([64], 1.5, 'float32');
    const y = Tensor.empty([64], 'bfloat16');
    const bad = 2 ** 32 - 64; // past the end of the memory: the kernel traps
    const good = () => [x.ptr, 0, y.ptr, 2, 32];
    try {
      for (const spin of [0, 5000]) {
        withPool(2, spin, () => {
          for (let i = 0; i < 20; i++) {
            assert.throws(() => pool.run('convert', [good(), [bad, 0, y.ptr, 2, 32]]), /out of bounds|failed on a worker/);
            const r = pool.run('convert', [good(), [x.ptr + 128, 0, y.ptr + 64, 2, 32]]);
            assert.equal(r.length, 2);
          }
        });
      }
      assert.ok(Array.from(y.toFloat64()).every((v) => v === 1.5));
    } finally {
      x.release();
      y.release();
    }
  });

  it('setSpinMicros validates its argument; spinFor sees a value set before or during the spin', () => {
    for (const bad of [-1, 1.5, 2_000_000, NaN]) assert.throws(() => pool.setSpinMicros(bad), RangeError);
    const c = new Int32Array(new SharedArrayBuffer(16));
    assert.equal(spinFor(c, 0, 0, 0), true);
    assert.equal(spinFor(c, 0, 1, 0), false);
    assert.equal(spinFor(c, 0, 1, 50), false);
    c[0] = 1;
    assert.equal(spinFor(c, 0, 1, 50), true);
  });
});

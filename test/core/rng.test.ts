import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng, type RngState } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';

/** Independent xoshiro128** in BigInt arithmetic, from the published algorithm. */
function xoshiroRef(state: readonly number[], count: number): number[] {
  const M = (1n << 32n) - 1n;
  const rotl = (x: bigint, k: number): bigint => ((x << BigInt(k)) | (x >> BigInt(32 - k))) & M;
  const s = state.map(BigInt);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number((rotl((s[1]! * 5n) & M, 7) * 9n) & M));
    const t = (s[1]! << 9n) & M;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
  }
  return out;
}

function moments(xs: ArrayLike<number>): { mean: number; variance: number; skew: number; kurt: number } {
  const n = xs.length;
  let m = 0;
  for (let i = 0; i < n; i++) m += xs[i]!;
  m /= n;
  let m2 = 0, m3 = 0, m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = xs[i]! - m;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  return { mean: m, variance: m2, skew: m3 / m2 ** 1.5, kurt: m4 / (m2 * m2) - 3 };
}

describe('Rng', () => {
  it('cross-machine determinism check: pinned outputs for seed 42', () => {
    // These literals were computed once from this implementation (xoshiro128** seeded through
    // splitmix32, Box–Muller with V8's portable Math functions). They must be the same on every
    // machine, OS and Node version: a change of the stream breaks reproducibility of every seeded run.
    const r = new Rng(42);
    assert.deepEqual([r.nextU32(), r.nextU32(), r.nextU32(), r.nextU32()], [3174542459, 3129206977, 3477447113, 4191756973]);
    const g = new Rng(42);
    assert.equal(g.normal(), 0.28466769663643904);
    assert.equal(g.normal(), -0.7235503836224032);
    assert.deepEqual(new Rng(42).getState(), { s: [3405601013, 2388135386, 2394578594, 3376995438], spare: null });
  });

  it('nextU32 is xoshiro128** (checked against an independent BigInt implementation)', () => {
    for (const seed of [0, 1, 42, -7, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
      const r = new Rng(seed);
      const st = r.getState().s;
      assert.ok(st.some((x) => x !== 0), 'the state is never all zero');
      const got = Array.from({ length: 2000 }, () => r.nextU32());
      assert.deepEqual(got, xoshiroRef(st, 2000), `seed ${seed}`);
      for (const x of got) assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
    }
  });

  it('the same seed gives the same sequence; different seeds differ', () => {
    for (const seed of [0, 1, 42, 123456789, -5, 2 ** 33 + 1]) {
      const a = new Rng(seed);
      const b = new Rng(seed);
      for (let i = 0; i < 200; i++) {
        assert.equal(a.nextU32(), b.nextU32());
        assert.equal(a.random(), b.random());
        assert.equal(a.normal(), b.normal());
        assert.equal(a.int(1000), b.int(1000));
      }
    }
    // 1000 seeds (including ones that differ only in the high 32 bits, or by sign) give 1000 different streams
    const seeds: number[] = [];
    for (let i = 0; i < 500; i++) seeds.push(i);
    for (let i = 1; i <= 250; i++) seeds.push(i * 2 ** 32, -i);
    const firsts = new Set(seeds.map((s) => {
      const r = new Rng(s);
      return `${r.nextU32()},${r.nextU32()}`;
    }));
    assert.equal(firsts.size, seeds.length);
    assert.notDeepEqual(new Rng(1).getState().s, new Rng(2 ** 32 + 1).getState().s);
    assert.notDeepEqual(new Rng(-1).getState().s, new Rng(2 ** 32 - 1).getState().s);
    assert.deepEqual(new Rng().getState(), new Rng(0).getState(), 'the default seed is 0');
  });

  it('bad seeds throw', () => {
    for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 53), '1' as unknown as number, null as unknown as number]) {
      assert.throws(() => new Rng(bad), (e: Error) => e instanceof TypeError && /Rng/.test(e.message), `seed ${String(bad)}`);
    }
  });

  it('getState / setState reproduce the continuation, including the cached Box–Muller spare', () => {
    const r = new Rng(2024);
    for (let i = 0; i < 17; i++) r.nextU32();
    r.normal(); // leaves a spare
    const st = r.getState();
    assert.notEqual(st.spare, null, 'a spare normal is cached after one normal()');
    const draw = (g: Rng) => [g.normal(), g.nextU32(), g.random(), g.normal(), g.normal(), g.int(77), g.uniform(-3, 5)];
    const a = draw(r);
    const fresh = new Rng(7);
    fresh.normal();
    fresh.setState(st);
    assert.deepEqual(draw(fresh), a);
    // setState also clears a spare the target had
    const noSpare = new Rng(11);
    const st2 = noSpare.getState();
    assert.equal(st2.spare, null);
    const b = draw(noSpare);
    const other = new Rng(3);
    other.normal(); // other has a spare now
    other.setState(st2);
    assert.deepEqual(draw(other), b);
    // the state is a copy: mutating it does not touch the generator, and it survives JSON
    const st3 = r.getState();
    const copy: RngState = JSON.parse(JSON.stringify(st3));
    st3.s[0] = 0;
    const c1 = new Rng(0);
    c1.setState(copy);
    assert.deepEqual(draw(c1), draw(r));
  });

  it('setState rejects malformed states', () => {
    const r = new Rng(1);
    const bad = [
      null, {}, { s: [1, 2, 3], spare: null }, { s: [1, 2, 3, 2 ** 32], spare: null }, { s: [1, 2, 3, -1], spare: null },
      { s: [1, 2, 3, 0.5], spare: null }, { s: 'abcd', spare: null },
      { s: [0, 0, 0, 0], spare: null }, // all zero: the generator would be stuck at 0
      { s: [1, 2, 3, 4], spare: 'x' }, { s: [1, 2, 3, 4], spare: NaN }, { s: [1, 2, 3, 4], spare: Infinity },
    ];
    const before = r.getState();
    for (const b of bad) assert.throws(() => r.setState(b as unknown as RngState), (e: Error) => e instanceof TypeError && /Rng\.setState/.test(e.message));
    assert.deepEqual(r.getState(), before);
  });

  it('random() is uniform in [0, 1) with 53 random bits', () => {
    const r = new Rng(31337);
    const twin = new Rng(31337);
    const n = 100_000;
    const xs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const x = r.random();
      assert.ok(x >= 0 && x < 1);
      // built from two 32-bit outputs: 27 + 26 bits
      const want = ((twin.nextU32() >>> 5) * 2 ** 26 + (twin.nextU32() >>> 6)) / 2 ** 53;
      if (x !== want) assert.fail(`random() #${i} = ${x}, want ${want}`);
      xs[i] = x;
    }
    const { mean, variance } = moments(xs);
    // 5 sigma: sd(mean) = sqrt(1/12/n) ~ 9.1e-4, sd(var) = sqrt((1/80 - 1/144)/n) ~ 2.4e-4
    assert.ok(Math.abs(mean - 0.5) < 5 * Math.sqrt(1 / 12 / n), `mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / 12) < 5 * Math.sqrt((1 / 80 - 1 / 144) / n), `variance ${variance}`);
    // each tenth of [0, 1) gets its share: sd of a bin count = sqrt(n·0.1·0.9) ~ 95
    const bins = new Array(10).fill(0);
    for (const x of xs) bins[Math.floor(x * 10)]++;
    for (const c of bins) assert.ok(Math.abs(c - n / 10) < 5 * Math.sqrt(n * 0.09), `bins ${bins}`);
    // low bits are used: some values need more than 32 bits
    assert.ok(xs.some((x) => !Number.isInteger(x * 2 ** 32)));
  });

  it('uniform(low, high) and uniformArray stay in range', () => {
    const r = new Rng(8);
    const a = r.uniformArray(10_000, -2, 3);
    assert.equal(a.length, 10_000);
    for (const x of a) assert.ok(x >= -2 && x < 3);
    const { mean } = moments(a);
    assert.ok(Math.abs(mean - 0.5) < 5 * Math.sqrt(25 / 12 / 10_000), `mean ${mean}`);
  });

  it('normal() has mean 0, variance 1, skew 0 and kurtosis 0 within 5 sigma', () => {
    const r = new Rng(4242);
    const n = 100_000;
    const xs = r.normalArray(n);
    const { mean, variance, skew, kurt } = moments(xs);
    assert.ok(Math.abs(mean) < 5 / Math.sqrt(n), `mean ${mean}`);
    assert.ok(Math.abs(variance - 1) < 5 * Math.sqrt(2 / n), `variance ${variance}`);
    assert.ok(Math.abs(skew) < 5 * Math.sqrt(6 / n), `skew ${skew}`);
    assert.ok(Math.abs(kurt) < 5 * Math.sqrt(24 / n), `excess kurtosis ${kurt}`);
    // tail mass beyond 2 sigma: p = 0.0455
    const p = 0.04550026;
    const tail = xs.filter((x) => Math.abs(x) > 2).length / n;
    assert.ok(Math.abs(tail - p) < 5 * Math.sqrt(p * (1 - p) / n), `tail ${tail}`);
    // scaled normals
    const ys = new Rng(5).normalArray(n, 10, 0.5);
    const m2 = moments(ys);
    assert.ok(Math.abs(m2.mean - 10) < 5 * 0.5 / Math.sqrt(n), `mean ${m2.mean}`);
    assert.ok(Math.abs(m2.variance - 0.25) < 5 * 0.25 * Math.sqrt(2 / n), `variance ${m2.variance}`);
  });

  it('normal() is Box–Muller over two random() draws, cos first then the cached sin', () => {
    const r = new Rng(77);
    const twin = new Rng(77);
    for (let i = 0; i < 100; i++) {
      const u = twin.random();
      const v = twin.random();
      const rad = Math.sqrt(-2 * Math.log(u));
      assert.equal(r.normal(), rad * Math.cos(2 * Math.PI * v));
      assert.equal(r.normal(), rad * Math.sin(2 * Math.PI * v));
    }
  });

  it('int(n) is unbiased over [0, n) and rejects bad n', () => {
    const r = new Rng(99);
    const n = 60_000;
    const counts = new Array(6).fill(0);
    for (let i = 0; i < n; i++) {
      const k = r.int(6);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 6);
      counts[k]++;
    }
    const sd = Math.sqrt(n * (1 / 6) * (5 / 6));
    for (const c of counts) assert.ok(Math.abs(c - n / 6) < 5 * sd, `counts ${counts}`);
    // n = 3·2^30: plain "x % n" would put half of all results below 2^30 instead of a third
    const m = 3 * 2 ** 30;
    let low = 0;
    const draws = 20_000;
    for (let i = 0; i < draws; i++) {
      const k = r.int(m);
      assert.ok(Number.isInteger(k) && k >= 0 && k < m);
      if (k < 2 ** 30) low++;
    }
    assert.ok(Math.abs(low / draws - 1 / 3) < 5 * Math.sqrt((1 / 3) * (2 / 3) / draws), `fraction below 2^30: ${low / draws}`);
    for (let i = 0; i < 100; i++) assert.equal(r.int(1), 0);
    for (let i = 0; i < 100; i++) {
      const k = r.int(2 ** 32);
      assert.ok(Number.isInteger(k) && k >= 0 && k < 2 ** 32);
    }
    for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 32 + 1, 2 ** 40]) {
      assert.throws(() => r.int(bad), (e: Error) => e instanceof RangeError && /Rng\.int/.test(e.message), `int(${bad})`);
    }
  });

  it('permutation(n) is a uniformly random permutation', () => {
    const r = new Rng(1234);
    for (const n of [0, 1, 2, 10, 1000]) {
      const p = r.permutation(n);
      assert.equal(p.length, n);
      assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
    }
    assert.notDeepEqual(r.permutation(1000), Array.from({ length: 1000 }, (_, i) => i));
    // all 6 orders of 3 elements, each ~1/6
    const counts = new Map<string, number>();
    const n = 60_000;
    for (let i = 0; i < n; i++) {
      const k = r.permutation(3).join('');
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    assert.equal(counts.size, 6);
    const sd = Math.sqrt(n * (1 / 6) * (5 / 6));
    for (const [k, c] of counts) assert.ok(Math.abs(c - n / 6) < 5 * sd, `${k}: ${c}`);
  });

  it('fillUniform / fillNormal round once into the tensor dtype and follow the stream', () => {
    for (const dt of ['float64', 'float32', 'float16', 'bfloat16'] as const) {
      const t = Tensor.empty([50], dt);
      new Rng(3).fillNormal(t, 1, 2);
      const ref = Tensor.fromArray(new Rng(3).normalArray(50, 1, 2), [50], dt);
      assert.deepEqual(t.toFloat64(), ref.toFloat64());
      new Rng(4).fillUniform(t, -1, 1);
      ref.set(new Rng(4).uniformArray(50, -1, 1));
      assert.deepEqual(t.toFloat64(), ref.toFloat64());
      t.release();
      ref.release();
    }
  });
});

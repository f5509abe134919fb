import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type KernelDType, KERNEL_DTYPES, unitRoundoff } from '../../src/core/dtype.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import type { GeluApproximate } from '../../src/kernels/backend.js';
import * as ew from '../../src/kernels/elementwise.js';
import { pool } from '../../src/kernels/pool.js';
import * as ref from '../../src/kernels/ref/elementwise.js';
import { withThreads } from '../helpers.js';

/**
 * Property tests: the wasm SIMD kernels against the float64 reference, over random sizes (tails of every
 * length, and one size large enough to run on two threads), dtype combinations and thread counts 1, 2.
 *
 * Tolerance for an output of dtype d: |got − want| ≤ rtol_d·|want| + atol, where rtol is 2e-5 for f32 (the
 * kernels are accurate to a few f32 ulps) and one ulp of the 16-bit type otherwise (the reference rounds
 * f64 → half once, the kernel rounds its f32 result: they may land on neighbouring codes). atol is the
 * smallest quantum of f16, or 1e-35 for f32/bf16 (tiny results may flush to 0), plus, where the result
 * crosses zero, rtol times the size of the terms that cancel.
 */

type Dt = KernelDType;
const RTOL: Record<Dt, number> = { float32: 2e-5, float16: 2 ** -10, bfloat16: 2 ** -7 };
// exp underflows to 0 below e^-87 ≈ 1.6e-38 in the kernels, and gelu/its gradient multiply that by up to
// |x|·|dy| (< 100 here): f32/bf16 results below 1e-35 may come out as 0.
const ATOL: Record<Dt, number> = { float32: 1e-35, float16: 2 ** -24, bfloat16: 1e-35 };

const SMALL_SIZES = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 33, 1001, 4099];
const LARGE = 300_007;
const THREADS = [1, 2];

/** Per function and dtype, the largest |got − want|/|want| seen (for the report; logged at the end). */
const worst = new Map<string, number>();

function note(key: string, err: number): void {
  const w = worst.get(key);
  if (w === undefined || err > w) worst.set(key, err);
}

/** A tensor of values from gen, never exactly 0 after rounding to dtype. */
function randTensor(n: number, dtype: Dt, gen: () => number): Tensor {
  const t = Tensor.empty([n], dtype);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = gen();
    while (x === 0) x = gen();
    v[i] = x;
  }
  t.set(v);
  // replace any value that rounded to zero (tiny normals into f16)
  const d = t.toFloat64();
  for (let i = 0; i < n; i++) if (d[i] === 0) v[i] = 1;
  t.set(v);
  return t;
}

/** Normal values with std 3, and every 16th value drawn from ±[10, 20] (tanh/gelu tails). */
function wide(rng: Rng): () => number {
  let k = 0;
  return () => {
    k++;
    if (k % 16 === 0) return (rng.random() < 0.5 ? -1 : 1) * rng.uniform(10, 20);
    return rng.normal(0, 3);
  };
}

/** Log-uniform magnitudes in [e^-4, e^4] with random signs. */
function logUniform(rng: Rng): () => number {
  return () => (rng.random() < 0.5 ? -1 : 1) * Math.exp(rng.uniform(-4, 4));
}

/**
 * Compares got with want elementwise; `scale[i]` (if given) is the size of the terms that cancel at
 * element i, so the bound there is rtol·scale[i].
 */
function compare(label: string, key: string, got: Float64Array, want: Float64Array, dt: Dt, scale?: Float64Array): void {
  const rtol = RTOL[dt];
  const atol = ATOL[dt];
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (!(Number.isNaN(w) && Number.isNaN(g))) assert.fail(`${label}: element ${i} got ${g} want ${w}`);
      continue;
    }
    const err = Math.abs(g - w);
    const tol = rtol * Math.max(Math.abs(w), scale ? scale[i]! : 0) + atol;
    if (!(err <= tol)) assert.fail(`${label}: element ${i} of ${got.length}: got ${g} want ${w} (|err| ${err}, tol ${tol})`);
    // relative error where nothing cancels; where terms cancel, the error relative to their size
    // (fp16 results below its smallest normal 2^-14 have an absolute quantum: the per-element bound covers them)
    if (Math.abs(w) > (dt === 'float16' ? 2 ** -14 : 1e-30) && (!scale || Math.abs(w) >= 0.5 * scale[i]!)) note(`${key} → ${dt}`, err / Math.abs(w));
    else if (scale && scale[i]! > 1e-30) note(`${key} → ${dt} (|err|/terms)`, err / scale[i]!);
  }
}

/** The fixed sizes plus a few random ones (seeded) between 18 and 3000. */
function sizes(rng: Rng): number[] {
  return [...SMALL_SIZES, 18 + rng.int(100), 18 + rng.int(3000), 18 + rng.int(3000)];
}

// ---- dtype combinations ----

const UNARY_COMBOS: [Dt, Dt][] = [
  ['float32', 'float32'], ['float16', 'float16'], ['bfloat16', 'bfloat16'],
  ['float16', 'float32'], ['bfloat16', 'float32'], ['float32', 'float16'], ['float32', 'bfloat16'],
];
const BINARY_COMBOS: [Dt, Dt, Dt][] = [
  ['float32', 'float32', 'float32'], ['float16', 'float16', 'float16'], ['bfloat16', 'bfloat16', 'bfloat16'],
  ['float16', 'float32', 'float32'], ['bfloat16', 'float32', 'float16'], ['float32', 'float16', 'bfloat16'],
  ['float16', 'bfloat16', 'float32'],
];
/** The combinations that also run at the large size. */
const LARGE_UNARY: [Dt, Dt][] = [['float32', 'float32'], ['float16', 'float32'], ['bfloat16', 'bfloat16']];
const LARGE_BINARY: [Dt, Dt, Dt][] = [['float32', 'float32', 'float32'], ['bfloat16', 'float32', 'float16']];

/**
 * Runs `kernel` (writing into fresh output tensors) with 1 and 2 threads and `reference` once, compares,
 * and checks that the thread count does not change the result.
 */
function runBoth(
  label: string, key: string, n: number, outDt: Dt,
  kernel: (out: Tensor) => void, reference: (out: Tensor) => void, scale?: Float64Array,
): void {
  const want = Tensor.empty([n], outDt);
  reference(want);
  const w = want.toFloat64();
  let first: Float64Array | undefined;
  for (const th of THREADS) {
    const out = Tensor.empty([n], outDt);
    withThreads(th, () => kernel(out));
    const g = out.toFloat64();
    compare(`${label} n=${n} threads=${th}`, key, g, w, outDt, scale);
    if (first === undefined) first = g;
    else {
      for (let i = 0; i < n; i++) {
        if (!Object.is(first[i], g[i]) && !(Number.isNaN(first[i]!) && Number.isNaN(g[i]!))) {
          assert.fail(`${label} n=${n}: threads=${th} gives ${g[i]} at ${i}, one thread ${first[i]}`);
        }
      }
    }
    out.release();
  }
  want.release();
}

// ---- the cancelling-term scales for the gradients ----

const SQRT_2_OVER_PI = 0.7978845608028654;

/** Φ(x) + |x|·φ(x): the size of the two terms of the erf-gelu gradient. */
function geluErfGradScale(x: number): number {
  return 0.5 * ref.refErfc(-x * Math.SQRT1_2) + Math.abs(x) * Math.exp(-0.5 * x * x) * 0.3989422804014327;
}

/** σ + |x|·σ(1 − σ)·2u′ for the tanh-gelu gradient. */
function geluTanhGradScale(x: number): number {
  const u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
  const e = Math.exp(-2 * u);
  const s = 1 / (1 + e);
  const om = 1 / (1 + 1 / e);
  return s + Math.abs(x) * s * om * 2 * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
}

// ---- tests ----

describe('elementwise kernels (wasm) against the float64 reference', () => {
  it('reference erf/erfc match known values to ~1e-15', () => {
    const known: [number, number][] = [
      [0.1, 0.8875370839817151016], [0.5, 0.47950012218695346232], [0.99, 0.16149193044463020018],
      [1, 0.15729920705028513066], [1.5, 0.033894853524689272933], [2, 0.0046777349810472658379],
      [3, 0.000022090496998585441373], [5, 1.5374597944280348502e-12], [9, 4.1370317465138102381e-37],
      [15, 7.2129941724512066666e-100], [26, 5.6631924088561428465e-296],
    ];
    for (const [z, v] of known) {
      assert.ok(Math.abs(ref.refErfc(z) - v) <= 4e-15 * v, `erfc(${z}) = ${ref.refErfc(z)}, want ${v}`);
      assert.ok(Math.abs(ref.refErfc(-z) - (2 - v)) <= 4e-16 * 2, `erfc(${-z})`);
      assert.ok(Math.abs(ref.refErf(z) - (1 - v)) <= 2e-16 * (1 + v), `erf(${z})`);
    }
    assert.equal(ref.refErfc(Infinity), 0);
    assert.equal(ref.refErfc(-Infinity), 2);
    assert.ok(Number.isNaN(ref.refErfc(NaN)));
  });

  for (const op of ['add', 'sub', 'mul'] as const) {
    it(`binary ${op}: random sizes, dtype mixes, 1 and 2 threads`, () => {
      const rng = new Rng(100 + op.length);
      const run = (n: number, [ad, bd, od]: [Dt, Dt, Dt]) => {
        const a = randTensor(n, ad, logUniform(rng));
        const b = randTensor(n, bd, logUniform(rng));
        let scale: Float64Array | undefined;
        if (op !== 'mul') {
          const A = a.toFloat64();
          const B = b.toFloat64();
          scale = A.map((v, i) => Math.abs(v) + Math.abs(B[i]!));
        }
        runBoth(`binary ${op} ${ad}+${bd}→${od}`, `binary ${op}`, n, od, (o) => ew.binary(op, a, b, o), (o) => ref.refBinary(op, a, b, o), scale);
        a.release();
        b.release();
      };
      for (const n of sizes(rng)) for (const c of BINARY_COMBOS) run(n, c);
      for (const c of LARGE_BINARY) run(LARGE, c);
    });
  }

  it('scale and axpy', () => {
    const rng = new Rng(7);
    const run = (n: number, [xd, od]: [Dt, Dt]) => {
      const alpha = (rng.random() < 0.5 ? -1 : 1) * Math.exp(rng.uniform(-3, 3));
      const x = randTensor(n, xd, logUniform(rng));
      runBoth(`scale ${xd}→${od}`, 'scale', n, od, (o) => ew.scale(x, alpha, o), (o) => ref.refScale(x, alpha, o));
      // axpy: y += alpha·x, y of dtype od; atol from the terms |y| + |alpha·x|
      const y0 = randTensor(n, od, logUniform(rng));
      const X = x.toFloat64();
      const Y = y0.toFloat64();
      const scale = Y.map((v, i) => Math.abs(v) + Math.abs(alpha * X[i]!));
      runBoth(`axpy ${xd}→${od}`, 'axpy', n, od, (o) => {
        o.set(Y);
        ew.axpy(alpha, x, o);
      }, (o) => {
        o.set(Y);
        ref.refAxpy(alpha, x, o);
      }, scale);
      x.release();
      y0.release();
    };
    for (const n of sizes(rng)) for (const c of UNARY_COMBOS) run(n, c);
    for (const c of LARGE_UNARY) run(LARGE, c);
  });

  it('tanh and tanhBackward', () => {
    const rng = new Rng(11);
    const run = (n: number, [xd, od]: [Dt, Dt]) => {
      const x = randTensor(n, xd, wide(rng));
      runBoth(`tanh ${xd}→${od}`, 'tanh', n, od, (o) => ew.tanh(x, o), (o) => ref.refTanh(x, o));
      // backward from y = tanh(x) stored in xd; dy in the other input dtype
      const y = Tensor.empty([n], xd);
      ref.refTanh(x, y);
      const dyDt: Dt = xd === 'float32' ? 'bfloat16' : 'float32';
      const dy = randTensor(n, dyDt, () => rng.normal(0, 2));
      runBoth(`tanhBackward y ${xd}, dy ${dyDt}→${od}`, 'tanhBackward', n, od, (o) => ew.tanhBackward(y, dy, o), (o) => ref.refTanhBackward(y, dy, o));
      // recomputed from x: sech²(x) keeps its relative accuracy in the tails (|x| up to 20 here)
      runBoth(`tanhBackwardFromInput x ${xd}, dy ${dyDt}→${od}`, 'tanhBackwardFromInput', n, od, (o) => ew.tanhBackwardFromInput(x, dy, o), (o) => ref.refTanhBackwardFromInput(x, dy, o));
      // … and added to a gradient already there (the reference adds in float64)
      const prior = randTensor(n, od, () => rng.normal(0, 1));
      const fill = (o: Tensor) => o.set(prior.toFloat64());
      const term = Tensor.empty([n], 'float64');
      ref.refTanhBackwardFromInput(x, dy, term);
      const p64 = prior.toFloat64();
      const scale = term.toFloat64().map((v, i) => Math.abs(v) + Math.abs(p64[i]!));
      runBoth(`tanhBackwardFromInput += x ${xd}, dy ${dyDt}→${od}`, 'tanhBackwardFromInput +=', n, od, (o) => { fill(o); ew.tanhBackwardFromInput(x, dy, o, true); }, (o) => { fill(o); ref.refTanhBackwardFromInput(x, dy, o, true); }, scale);
      for (const t of [prior, term]) t.release();
      for (const t of [x, y, dy]) t.release();
    };
    for (const n of sizes(rng)) for (const c of UNARY_COMBOS) run(n, c);
    for (const c of LARGE_UNARY) run(LARGE, c);
  });

  for (const approx of ['none', 'tanh'] as GeluApproximate[]) {
    it(`gelu (${approx}) and geluBackward`, () => {
      const rng = new Rng(approx === 'none' ? 21 : 22);
      const gradScale = approx === 'none' ? geluErfGradScale : geluTanhGradScale;
      const run = (n: number, [xd, od]: [Dt, Dt]) => {
        const x = randTensor(n, xd, wide(rng));
        runBoth(`gelu(${approx}) ${xd}→${od}`, `gelu ${approx}`, n, od, (o) => ew.gelu(x, o, approx), (o) => ref.refGelu(x, o, approx));
        const dyDt: Dt = xd === 'float16' ? 'float32' : xd;
        const dy = randTensor(n, dyDt, () => rng.normal(0, 2));
        const X = x.toFloat64();
        const DY = dy.toFloat64();
        const scale = X.map((v, i) => Math.abs(DY[i]!) * gradScale(v));
        runBoth(
          `geluBackward(${approx}) x ${xd}, dy ${dyDt}→${od}`, `geluBackward ${approx}`, n, od,
          (o) => ew.geluBackward(x, dy, o, approx), (o) => ref.refGeluBackward(x, dy, o, approx), scale,
        );
        // gelu with its derivative in one pass: the derivative against float64, the value bit-identical
        // to gelu alone, and in f32 the derivative is exactly the factor geluBackward multiplies by
        const plain = Tensor.empty([n], od);
        ew.gelu(x, plain, approx);
        const y = Tensor.empty([n], od);
        runBoth(
          `gelu(${approx}) with gelu′ ${xd}→${od}`, `gelu′ ${approx}`, n, od,
          (o) => ew.gelu(x, y, approx, o), (o) => {
            const t = Tensor.empty([n], od);
            ref.refGelu(x, t, approx, o);
            t.release();
          }, X.map((v) => gradScale(v)),
        );
        assert.deepEqual(y.toFloat64(), plain.toFloat64(), `gelu(${approx}) ${xd}→${od} n=${n}: the value changes when gelu′ is written too`);
        if (od === 'float32') {
          const d = Tensor.empty([n], od);
          const viaBackward = Tensor.empty([n], od);
          const ones = Tensor.full([n], 1, 'float32');
          ew.gelu(x, y, approx, d);
          ew.geluBackward(x, ones, viaBackward, approx);
          assert.deepEqual(d.toFloat64(), viaBackward.toFloat64(), `gelu′(${approx}) ${xd} n=${n} differs from geluBackward with dy = 1`);
          for (const t of [d, viaBackward, ones]) t.release();
        }
        for (const t of [x, dy, plain, y]) t.release();
      };
      for (const n of sizes(rng)) for (const c of UNARY_COMBOS) run(n, c);
      for (const c of LARGE_UNARY) run(LARGE, c);
    });
  }

  it('clamp and clampBackward (exact)', () => {
    const rng = new Rng(31);
    const run = (n: number, [xd, od]: [Dt, Dt]) => {
      const lo = rng.normal(0, 2);
      const hi = lo + Math.abs(rng.normal(0, 3));
      const x = randTensor(n, xd, () => rng.normal(0, 3));
      runBoth(`clamp ${xd}→${od}`, 'clamp', n, od, (o) => ew.clamp(x, lo, hi, o), (o) => ref.refClamp(x, lo, hi, o));
      const dy = randTensor(n, 'float32', () => rng.normal(0, 2));
      const want = Tensor.empty([n], od);
      ref.refClampBackward(x, lo, hi, dy, want);
      for (const th of THREADS) {
        const got = Tensor.empty([n], od);
        withThreads(th, () => ew.clampBackward(x, lo, hi, dy, got));
        assert.deepEqual(got.toFloat64(), want.toFloat64(), `clampBackward ${xd}→${od} n=${n} threads=${th}`);
        got.release();
      }
      for (const t of [x, dy, want]) t.release();
    };
    for (const n of sizes(rng)) for (const c of UNARY_COMBOS) run(n, c);
    for (const c of LARGE_UNARY) run(LARGE, c);
  });

  it('clamp bounds that are not float32 values compare like float64 at the boundary', () => {
    const f = Math.fround;
    const vals = [f(0.1), f(0.1) - 2 ** -27, f(0.1) + 2 ** -27, f(0.7), f(0.7) - 2 ** -24, f(0.7) + 2 ** -24, 0.5, -3, 3];
    const x = Tensor.fromArray(vals, [vals.length], 'float32');
    const dy = Tensor.full([vals.length], 1, 'float32');
    for (const [lo, hi] of [[0.1, 0.7], [f(0.1), f(0.7)], [0.1, 0.1]]) {
      const got = Tensor.empty([vals.length], 'float32');
      const want = Tensor.empty([vals.length], 'float32');
      ew.clampBackward(x, lo!, hi!, dy, got);
      ref.refClampBackward(x, lo!, hi!, dy, want);
      assert.deepEqual(got.toArray(), want.toArray(), `clampBackward [${lo}, ${hi}]`);
      ew.clamp(x, lo!, hi!, got);
      ref.refClamp(x, lo!, hi!, want);
      assert.deepEqual(got.toArray(), want.toArray(), `clamp [${lo}, ${hi}]`);
      got.release();
      want.release();
    }
    x.release();
    dy.release();
  });

  it('special values: ±Inf, NaN, ±0 and huge arguments', () => {
    const vals = [Infinity, -Infinity, NaN, 0, -0, 1e-30, -1e-30, 50, -50, 3e38, -3e38];
    const x = Tensor.fromArray(vals, [vals.length], 'float32');
    const dy = Tensor.full([vals.length], 1, 'float32');
    const got = Tensor.empty([vals.length], 'float32');
    const want = Tensor.empty([vals.length], 'float32');
    const same = (label: string) => {
      const g = got.toArray();
      const w = want.toArray();
      for (let i = 0; i < g.length; i++) {
        const ok = Number.isNaN(w[i]!) ? Number.isNaN(g[i]!) : g[i] === w[i] || Math.abs(g[i]! - w[i]!) <= 2e-7 * Math.abs(w[i]!);
        assert.ok(ok, `${label}(${vals[i]}) = ${g[i]}, want ${w[i]}`);
      }
    };
    ew.tanh(x, got);
    ref.refTanh(x, want);
    same('tanh');
    for (const a of ['none', 'tanh'] as GeluApproximate[]) {
      ew.gelu(x, got, a);
      ref.refGelu(x, want, a);
      same(`gelu ${a}`);
      ew.geluBackward(x, dy, got, a);
      ref.refGeluBackward(x, dy, want, a);
      same(`geluBackward ${a}`);
      const y = Tensor.empty([vals.length], 'float32');
      ew.gelu(x, y, a, got);
      ref.refGelu(x, y, a, want);
      same(`gelu′ ${a}`);
      y.release();
    }
    assert.deepEqual(Array.from(got.toArray().slice(0, 2)), [1, 0]);
    for (const t of [x, dy, got, want]) t.release();
  });

  it('outputs may alias inputs', () => {
    const rng = new Rng(41);
    for (const dt of ['float32', 'float16', 'bfloat16'] as Dt[]) {
      const n = 37;
      const a = randTensor(n, dt, () => rng.normal(0, 3));
      const b = randTensor(n, dt, () => rng.normal(0, 3));
      const want = Tensor.empty([n], dt);
      ref.refBinary('mul', a, b, want);
      ew.binary('mul', a, b, a);
      compare(`binary mul in place ${dt}`, 'binary mul', a.toFloat64(), want.toFloat64(), dt);
      ref.refGelu(b, want);
      ew.gelu(b, b);
      compare(`gelu in place ${dt}`, 'gelu none', b.toFloat64(), want.toFloat64(), dt);
      ref.refGeluBackward(a, b, want);
      const A = a.toFloat64();
      const B = b.toFloat64();
      ew.geluBackward(a, b, b);
      compare(`geluBackward in place ${dt}`, 'geluBackward none', b.toFloat64(), want.toFloat64(), dt, A.map((v, i) => Math.abs(B[i]!) * geluErfGradScale(v)));
      for (const t of [a, b, want]) t.release();
    }
  });

  it('works on views (slices) at any element offset', () => {
    const rng = new Rng(43);
    const base = randTensor(64, 'float16', () => rng.normal(0, 3));
    const v = base.slice(3, 40);
    const out = Tensor.empty([37], 'float32');
    const want = Tensor.empty([37], 'float32');
    ew.tanh(v, out);
    ref.refTanh(v, want);
    compare('tanh on a slice', 'tanh', out.toFloat64(), want.toFloat64(), 'float32');
    for (const t of [v, base, out, want]) t.release();
  });

  it('empty tensors are a no-op', () => {
    const x = Tensor.empty([0, 3], 'float32');
    const o = Tensor.empty([0, 3], 'float16');
    ew.gelu(x, o);
    ew.binary('add', x, x, o);
    ew.axpy(2, x, o);
    x.release();
    o.release();
  });

  it('rejects bad arguments with messages that name the op, shapes and dtypes', () => {
    const a = Tensor.zeros([2, 3], 'float32');
    const b = Tensor.zeros([3, 2], 'float16');
    const c = Tensor.zeros([2, 3], 'bfloat16');
    const d = Tensor.zeros([2, 3], 'float64');
    for (const f of [ew.binary, ref.refBinary]) {
      assert.throws(() => f('add', a, b, c), /binary add: shapes differ: a is \[2, 3\] float32, b is \[3, 2\] float16/);
      assert.throws(() => f('div' as 'add', a, a, c), /binary: unknown op 'div'/);
    }
    assert.throws(() => ew.tanhBackward(a, c, b), /tanhBackward: shapes differ: y is \[2, 3\] float32, dx is \[3, 2\] float16/);
    assert.throws(() => ew.geluBackward(a, b, c), /geluBackward: shapes differ: x is \[2, 3\] float32, dy is \[3, 2\] float16/);
    assert.throws(() => ew.gelu(a, a, 'none', b), /gelu: shapes differ: x is \[2, 3\] float32, grad is \[3, 2\] float16/);
    for (const f of [ew.gelu, ref.refGelu]) assert.throws(() => f(a, c, 'none', a), /gelu: grad .* shares memory with x/);
    assert.throws(() => ew.axpy(1, a, b), /axpy: shapes differ: x is \[2, 3\] float32, y is \[3, 2\] float16/);
    // float64 has no wasm kernel (the CPU backend sends it to the reference)
    assert.throws(() => ew.gelu(d, a), /gelu: float64 has no wasm kernel/);
    assert.throws(() => ew.binary('mul', a, d, c), /binary mul: float64 has no wasm kernel/);
    assert.throws(() => ew.clampBackward(a, 0, 1, a, d), /clampBackward: float64 has no wasm kernel/);
    ref.refGelu(d, a); // the reference takes float64
    // bounds and scalars
    for (const f of [ew.clamp, ref.refClamp]) {
      assert.throws(() => f(a, 2, 1, c), /clamp: min \(2\) is greater than max \(1\)/);
      assert.throws(() => f(a, NaN, 1, c), /clamp: min must be a finite number, got NaN/);
      assert.throws(() => f(a, 0, Infinity, c), /clamp: max must be a finite number, got Infinity/);
    }
    assert.throws(() => ew.clampBackward(a, 1, 0, a, c), /clampBackward: min \(1\) is greater than max \(0\)/);
    for (const f of [ew.scale, ref.refScale]) assert.throws(() => f(a, NaN, c), /scale: alpha must be a finite number, got NaN/);
    for (const f of [ew.axpy, ref.refAxpy]) assert.throws(() => f(-Infinity, a, c), /axpy: alpha must be a finite number, got -Infinity/);
    assert.throws(() => ew.gelu(a, c, 'erf' as GeluApproximate), /gelu: approximate must be 'none' or 'tanh', got 'erf'/);
    assert.throws(() => ref.refGeluBackward(a, a, c, 'fast' as GeluApproximate), /geluBackward: approximate must be 'none' or 'tanh'/);
    // released tensors
    const r = Tensor.zeros([4], 'float32');
    const o = Tensor.zeros([4], 'float32');
    r.release();
    for (const f of [ew.tanh, ref.refTanh]) assert.throws(() => f(r, o), /tanh: x \(\[4\] float32\) was already released/);
    assert.throws(() => ew.scale(o, 2, r), /scale: out \(\[4\] float32\) was already released/);
    assert.throws(() => ew.binary('sub', o, o, r), /binary sub: out \(\[4\] float32\) was already released/);
    for (const t of [a, b, c, d, o]) t.release();
  });

  it('accuracy summary: every function was checked in every output dtype, within 16 u32 (f32) and one ulp (16-bit)', (t) => {
    const lines = [...worst.entries()].sort(([p], [q]) => (p < q ? -1 : 1)).map(([k, v]) => `${k}: ${v.toExponential(2)}`);
    t.diagnostic(lines.join('\n'));
    if (process.env['MPNO_ACCURACY'] === '1') console.log(lines.join('\n'));
    // Tighter than the per-element RTOL (2e-5 ≈ 335 u32 for f32) that the tests above allow, from
    // what is measured over all of them (relative error where nothing cancels):
    // - f32 outputs: ≤ 9.9 u32 (geluBackward, erf/exp evaluated in f32), 0 for add/sub/mul → ≤ 16 u32;
    // - 16-bit outputs: the reference is rounded to the same dtype, so kernel and reference differ by
    //   at most one ulp (2u relative at a significand of 1): measured ≤ 1.97u (fp16), 1.72u (bf16);
    // - clamp is exact.
    const fns = ['binary add', 'binary sub', 'binary mul', 'scale', 'axpy', 'tanh', 'tanhBackward', 'tanhBackwardFromInput', 'gelu none', 'gelu tanh', 'geluBackward none', 'geluBackward tanh', 'clamp'];
    for (const f of fns) {
      for (const dt of KERNEL_DTYPES) {
        const w = worst.get(`${f} → ${dt}`);
        assert.ok(w !== undefined, `${f} was never checked with ${dt} output`);
        const tol = f === 'clamp' ? 0 : dt === 'float32' ? 16 * 2 ** -24 : 2 * unitRoundoff(dt);
        assert.ok(w <= tol, `${f} → ${dt}: worst relative error ${w.toExponential(3)} > ${tol.toExponential(3)}`);
      }
    }
  });
});

describe('gelu with 16-bit outputs: rounding of the f32 result', () => {
  it('gives the correctly rounded code or its neighbour, the neighbour for at most 0.2 % of values (fp16, bf16; gelu′ where its terms do not cancel)', () => {
    const rng = new Rng(31);
    const n = 100_000;
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.normal(0, 2.5);
    const x = Tensor.fromArray(v, [n], 'float32');
    const ones = Tensor.full([n], 1, 'float32');
    for (const dt of ['float16', 'bfloat16'] as const) {
      const outs = {
        gelu: [(o: Tensor) => ew.gelu(x, o), (o: Tensor) => ref.refGelu(x, o)],
        "gelu′ (with the value)": [(o: Tensor) => { const y = Tensor.empty([n], dt); ew.gelu(x, y, 'none', o); y.release(); }, (o: Tensor) => { const y = Tensor.empty([n], dt); ref.refGelu(x, y, 'none', o); y.release(); }],
        geluBackward: [(o: Tensor) => ew.geluBackward(x, ones, o), (o: Tensor) => ref.refGeluBackward(x, ones, o)],
      } as const;
      for (const [name, [kernel, reference]] of Object.entries(outs)) {
        const got = Tensor.empty([n], dt);
        const want = Tensor.empty([n], dt);
        kernel(got);
        reference(want);
        const g = got.data as Uint16Array;
        const w = want.data as Uint16Array;
        const W64 = want.toFloat64();
        let off = 0;
        for (let i = 0; i < n; i++) {
          if (g[i] === w[i]) continue;
          // gelu′ = Φ(x) + x·φ(x) cancels near its zero at x ≈ −0.75: there the error is the terms' (checked above)
          if (name !== 'gelu' && Math.abs(W64[i]!) < 0.5 * geluErfGradScale(v[i]!)) continue;
          // codes of one sign are ordered like the values: a neighbour differs by one
          const ok = (g[i]! & 0x8000) === (w[i]! & 0x8000) ? Math.abs(g[i]! - w[i]!) === 1 : (g[i]! & 0x7fff) === 0 && (w[i]! & 0x7fff) <= 1;
          assert.ok(ok, `${name} → ${dt}: x = ${v[i]}: code ${g[i]} is not the correctly rounded ${w[i]} or its neighbour`);
          off++;
        }
        assert.ok(off / n <= 0.002, `${name} → ${dt}: ${off} of ${n} results are the neighbour of the correctly rounded code`);
        got.release();
        want.release();
      }
    }
    x.release();
    ones.release();
  });
});

describe('gelu with its derivative in different dtypes', () => {
  it('a 16-bit value with an f32 derivative (and the reverse): each as gelu alone and geluBackward into its own dtype give it', () => {
    const rng = new Rng(41);
    for (const n of [1, 5, 8, 13, 1001]) {
      const x = randTensor(n, 'float32', wide(rng));
      const ones = Tensor.full([n], 1, 'float32');
      for (const [vd, gd] of [['float16', 'float32'], ['float32', 'bfloat16'], ['bfloat16', 'float32']] as [Dt, Dt][]) {
        const y = Tensor.empty([n], vd);
        const g = Tensor.empty([n], gd);
        ew.gelu(x, y, 'none', g);
        const plain = Tensor.empty([n], vd);
        ew.gelu(x, plain);
        const viaBackward = Tensor.empty([n], gd);
        ew.geluBackward(x, ones, viaBackward);
        assert.deepEqual(y.toFloat64(), plain.toFloat64(), `gelu → ${vd} with gelu′ → ${gd}, n=${n}: the value differs from gelu alone`);
        assert.deepEqual(g.toFloat64(), viaBackward.toFloat64(), `gelu′ → ${gd} with the value → ${vd}, n=${n}: differs from geluBackward with dy = 1`);
        for (const t of [y, g, plain, viaBackward]) t.release();
      }
      x.release();
      ones.release();
    }
  });
});

describe('per-channel kernels (channelAffine, channelSum) against the float64 reference', () => {
  const shapes: number[][] = [[1, 1], [2, 3, 5], [3, 4, 7, 9], [64, 24, 16, 16], [2, 5, 1], [4, 3, 1031]];

  it('channelAffine: x·scale[c] + shift[c] over random shapes, dtypes, with either vector absent, in place too', () => {
    const rng = new Rng(2024);
    for (const shape of shapes) for (const xDt of KERNEL_DTYPES) for (const threads of THREADS) {
      const oDt = KERNEL_DTYPES[rng.int(3)]!;
      const C = shape[1]!;
      const scale = rng.random() < 0.7 ? rng.fillNormal(Tensor.empty([C], KERNEL_DTYPES[rng.int(3)]!)) : null;
      const shift = scale === null || rng.random() < 0.7 ? rng.fillNormal(Tensor.empty([C], KERNEL_DTYPES[rng.int(3)]!)) : null;
      const x = rng.fillNormal(Tensor.empty(shape, xDt));
      const want = Tensor.empty(shape, 'float64');
      ref.refChannelAffine(x, scale, shift, want);
      const inPlace = oDt === xDt && rng.random() < 0.5;
      const out = inPlace ? x.clone() : Tensor.empty(shape, oDt);
      withThreads(threads, () => ew.channelAffine(inPlace ? out : x, scale, shift, out));
      const [g, w, X] = [out.toFloat64(), want.toFloat64(), x.toFloat64()];
      const S = x.size / (shape[0]! * C);
      const sv = scale?.toFloat64();
      const bv = shift?.toFloat64();
      const rt = Math.max(RTOL[oDt], 2 ** -22);
      for (let i = 0; i < g.length; i++) {
        const c = Math.floor(i / S) % C;
        // the kernel rounds x·scale to f32 before adding the shift
        const terms = Math.abs(X[i]! * (sv ? sv[c]! : 1)) + Math.abs(bv ? bv[c]! : 0);
        const tol = rt * Math.abs(w[i]!) + 2 ** -23 * terms + ATOL[oDt];
        if (!(Math.abs(g[i]! - w[i]!) <= tol)) assert.fail(`channelAffine ${JSON.stringify(shape)} ${xDt}->${oDt} t${threads}: ${i} got ${g[i]} want ${w[i]}`);
      }
      for (const t of [x, out, want, scale, shift]) t?.release();
    }
  });

  it('channelSum: Σ x (and Σ x·y) per channel over random shapes and dtypes, overwriting out, thread count independent', () => {
    const rng = new Rng(77);
    for (const shape of shapes) for (const xDt of KERNEL_DTYPES) for (const withY of [false, true]) {
      const C = shape[1]!;
      const x = rng.fillNormal(Tensor.empty(shape, xDt));
      const y = withY ? rng.fillNormal(Tensor.empty(shape, KERNEL_DTYPES[rng.int(3)]!)) : null;
      // out starts with random values: they must be overwritten, not added to
      const init = rng.fillNormal(Tensor.empty([C], 'float32'));
      const want = Tensor.empty([C], 'float64');
      ref.refChannelSum(x, y, want);
      // bound: f32 accumulation over chunks of 1024 (≈ 1030·u32·Σ|terms|) plus the final rounding
      const absX = Tensor.fromArray(x.toFloat64().map(Math.abs), shape, 'float64');
      const absY = y ? Tensor.fromArray(y.toFloat64().map(Math.abs), shape, 'float64') : null;
      const mag = Tensor.empty([C], 'float64');
      ref.refChannelSum(absX, absY, mag);
      const results: Float64Array[] = [];
      for (const threads of [1, 2, 3]) {
        const out = init.clone();
        withThreads(threads, () => ew.channelSum(x, y, out));
        results.push(out.toFloat64());
        out.release();
      }
      assert.deepEqual(results[1], results[0], 'two threads = one thread, bit for bit');
      assert.deepEqual(results[2], results[0], 'three threads = one thread, bit for bit');
      const [g, w, m] = [results[0]!, want.toFloat64(), mag.toFloat64()];
      for (let c = 0; c < C; c++) {
        const tol = 1030 * 2 ** -24 * m[c]! + 2 ** -24 * Math.abs(w[c]!);
        if (!(Math.abs(g[c]! - w[c]!) <= tol)) assert.fail(`channelSum ${JSON.stringify(shape)} ${xDt} y=${withY}: channel ${c} got ${g[c]} want ${w[c]} (tol ${tol})`);
      }
      for (const t of [x, y, init, want, absX, absY, mag]) t?.release();
    }
  });

  it('bad input names the operand and the shapes', () => {
    const f = (shape: number[]) => Tensor.zeros(shape);
    assert.throws(() => ew.channelAffine(f([2, 3, 4]), f([4]), null, f([2, 3, 4])), /channelAffine: scale \[4\] float32 must have one element per channel of x \[2, 3, 4\] float32 \(3\)/);
    assert.throws(() => ew.channelAffine(f([2, 3, 4]), null, f([3]), f([2, 3, 5])), /channelAffine: shapes differ/);
    assert.throws(() => ew.channelAffine(f([3]), null, f([3]), f([3])), /channelAffine: x must be \[batch, channels, \.\.\.\]/);
    const big = f([2, 3, 4]);
    assert.throws(() => ew.channelAffine(big, null, big.reshape([24]).slice(0, 3), big), /channelAffine: out .* shares memory with shift/);
    assert.throws(() => ew.channelSum(f([2, 3, 4]), f([2, 3, 5]), f([3])), /channelSum: shapes differ: x is \[2, 3, 4\] float32, y is \[2, 3, 5\] float32/);
    assert.throws(() => ew.channelSum(f([2, 3, 4]), null, f([2])), /channelSum: out \[2\] float32 must have one element per channel/);
  });
});

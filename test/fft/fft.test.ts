import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DType } from '../../src/core/dtype.js';
import { Rng } from '../../src/core/rng.js';
import { ComplexTensor, Tensor, shapeSize } from '../../src/core/tensor.js';
import {
  type FftNorm, FFT_NORMS, centredModes, fftn, ifftn, irfftn, irfftnModes, irfftnModesAdjoint, rfftn, rfftnModes,
  rfftnModesAdjoint,
} from '../../src/fft/index.js';
import { pool } from '../../src/kernels/pool.js';
import { dftn } from './dft.js';

const rng = new Rng(2024);
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;

function normScale(N: number, norm: FftNorm, inverse: boolean): number {
  if (norm === 'ortho') return 1 / Math.sqrt(N);
  if (norm === 'forward') return inverse ? 1 : 1 / N;
  return inverse ? 1 / N : 1;
}

/** max |got − want| / max |want| over re and im. */
function relErr(gr: Float64Array, gi: Float64Array | undefined, wr: Float64Array, wi: Float64Array | undefined): number {
  let e = 0;
  let s = 0;
  for (let i = 0; i < wr.length; i++) {
    e = Math.max(e, Math.abs(gr[i]! - wr[i]!), gi && wi ? Math.abs(gi[i]! - wi[i]!) : 0);
    s = Math.max(s, Math.abs(wr[i]!), wi ? Math.abs(wi[i]!) : 0);
  }
  return e / (s || 1);
}

function tolFor(dtype: DType, N: number): number {
  if (dtype === 'float64') return 1e-11;
  // f32 compute: error grows like log N; inputs/outputs in 16-bit add their rounding
  const base = 2e-6 * Math.max(1, Math.log2(N));
  return dtype === 'float32' ? base : dtype === 'float16' ? base + 2e-3 : base + 1.6e-2;
}

function randomSizes(d: number): number[] {
  const maxPer = d === 1 ? 256 : d === 2 ? 24 : 9;
  return Array.from({ length: d }, () => pick([1, 2, 3, 5, 7, 8, 11, 12, 13, 16, 17, 1 + rng.int(maxPer)]));
}

function randomBatch(): number[] {
  return pick([[], [1], [3], [2, 3], [5]]);
}

/** Copies the values of a [R, ...sizes] real array into a complex oracle input. */
function asComplex(re: Float64Array, im?: Float64Array) {
  return { re, im: im ?? new Float64Array(re.length) };
}

describe('FFT against a direct float64 DFT', () => {
  for (const dtype of ['float64', 'float32', 'float16', 'bfloat16'] as const) {
    it(`rfftn / irfftn, d = 1, 2, 3, random sizes, batches and norms (${dtype})`, () => {
      for (let trial = 0; trial < (dtype === 'float64' ? 18 : 30); trial++) {
        const d = 1 + rng.int(3);
        const sizes = randomSizes(d);
        const batch = randomBatch();
        const norm = pick(FFT_NORMS);
        const R = shapeSize(batch);
        const N = shapeSize(sizes);
        const x = rng.fillNormal(Tensor.empty([...batch, ...sizes], dtype));
        const X = rfftn(x, d, { norm });
        const want = dftn(asComplex(x.toFloat64()), R, sizes, false);
        // compare the half spectrum
        const h = Math.floor(sizes[d - 1]! / 2) + 1;
        const wr = new Float64Array(X.re.size);
        const wi = new Float64Array(X.re.size);
        const sc = normScale(N, norm, false);
        for (let i = 0; i < X.re.size; i++) {
          const col = i % h;
          const row = Math.floor(i / h);
          const src = row * sizes[d - 1]! + col;
          wr[i] = sc * want.re[src]!;
          wi[i] = sc * want.im[src]!;
        }
        const e = relErr(X.re.toFloat64(), X.im.toFloat64(), wr, wi);
        assert.ok(e <= tolFor(dtype, N), `rfftn ${dtype} sizes [${sizes}] batch [${batch}] ${norm}: rel err ${e}`);
        // inverse: irfftn(rfftn(x)) = x
        const y = irfftn(X, sizes, { norm });
        const e2 = relErr(y.toFloat64(), undefined, x.toFloat64(), undefined);
        assert.ok(e2 <= 2 * tolFor(dtype, N), `irfftn∘rfftn ${dtype} sizes [${sizes}] ${norm}: rel err ${e2}`);
        for (const t of [x, X, y]) t.release();
      }
    });

    it(`fftn / ifftn complex, random sizes and norms (${dtype})`, () => {
      for (let trial = 0; trial < 15; trial++) {
        const d = 1 + rng.int(3);
        const sizes = randomSizes(d);
        const batch = randomBatch();
        const norm = pick(FFT_NORMS);
        const inverse = rng.random() < 0.5;
        const R = shapeSize(batch);
        const N = shapeSize(sizes);
        const x = new ComplexTensor(
          rng.fillNormal(Tensor.empty([...batch, ...sizes], dtype)),
          rng.fillNormal(Tensor.empty([...batch, ...sizes], dtype)),
        );
        const X = inverse ? ifftn(x, d, { norm }) : fftn(x, d, { norm });
        const want = dftn({ re: x.re.toFloat64(), im: x.im.toFloat64() }, R, sizes, inverse);
        const sc = normScale(N, norm, inverse);
        const e = relErr(X.re.toFloat64(), X.im.toFloat64(), want.re.map((v) => v * sc), want.im.map((v) => v * sc));
        assert.ok(e <= tolFor(dtype, N), `${inverse ? 'ifftn' : 'fftn'} ${dtype} sizes [${sizes}] ${norm}: rel err ${e}`);
        x.release();
        X.release();
      }
    });
  }

  it('1-D lengths 1…256 including every prime below 256 (float32)', () => {
    for (let n = 1; n <= 256; n += n < 40 ? 1 : 7) {
      const x = rng.fillNormal(Tensor.empty([3, n]));
      const X = rfftn(x, 1);
      const want = dftn(asComplex(x.toFloat64()), 3, [n], false);
      const h = (n >> 1) + 1;
      const wr = new Float64Array(3 * h);
      const wi = new Float64Array(3 * h);
      for (let r = 0; r < 3; r++) for (let k = 0; k < h; k++) {
        wr[r * h + k] = want.re[r * n + k]!;
        wi[r * h + k] = want.im[r * n + k]!;
      }
      const e = relErr(X.re.toFloat64(), X.im.toFloat64(), wr, wi);
      assert.ok(e <= tolFor('float32', n), `n = ${n}: ${e}`);
      x.release();
      X.release();
    }
  });

  it('stale scratch memory never leaks into results (real transforms with 17…31 signals in a group)', () => {
    // Two real signals share one complex lane; a half-filled group must not pick up old scratch
    // contents as the partner signal. Poison the arena with NaN first.
    for (const [batch, sizes] of [[[1], [17, 11]], [[19], [8]], [[3], [7, 10]]] as const) {
      const junk = Tensor.empty([1 << 20]);
      junk.data.fill(Number.NaN);
      junk.release();
      const x = rng.fillNormal(Tensor.empty([...batch, ...sizes]));
      for (const y of [rfftn(x, sizes.length), rfftnModes(x, sizes.map((n, a) => (a === sizes.length - 1 ? (n >> 1) + 1 : n)))]) {
        assert.ok(!y.re.toFloat64().some(Number.isNaN) && !y.im.toFloat64().some(Number.isNaN), `NaN for [${batch}] [${sizes}]`);
        const back = irfftn(rfftn(x, sizes.length), [...sizes]);
        assert.ok(relErr(back.toFloat64(), undefined, x.toFloat64(), undefined) < 1e-5);
        back.release();
        y.release();
      }
      x.release();
    }
  });

  it('many signals across threads give the same result as one thread', () => {
    const x = rng.fillNormal(Tensor.empty([64, 48, 40]));
    const prev = pool.threads;
    try {
      pool.setThreads(1);
      const a = rfftn(x, 2, { norm: 'forward' });
      pool.setThreads(2);
      const b = rfftn(x, 2, { norm: 'forward' });
      assert.deepEqual(a.re.toArray(), b.re.toArray());
      assert.deepEqual(a.im.toArray(), b.im.toArray());
      a.release();
      b.release();
    } finally {
      pool.setThreads(prev);
    }
    x.release();
  });

  it('irfftn enforces Hermitian symmetry: the anti-Hermitian part of the DC and Nyquist columns is ignored', () => {
    // Adding to column c ∈ {0, W/2} the spectrum of a purely imaginary signal along the other axis
    // changes that column's inverse by an imaginary part only, which irfft must drop (neuralop zeroes
    // it); for 1-D this is just the imaginary part of the DC and Nyquist terms.
    for (const dtype of ['float64', 'float32'] as const) {
      for (const [H, W] of [[6, 8], [5, 10], [1, 6]] as const) {
        const x = rng.fillNormal(Tensor.empty([2, H, W], dtype));
        const X = rfftn(x, 2);
        const y0 = irfftn(X, [H, W]);
        const h = W / 2 + 1;
        const re = X.re.toFloat64();
        const im = X.im.toFloat64();
        for (const c of [0, W / 2]) {
          for (let b = 0; b < 2; b++) {
            const q = rng.normalArray(H);
            const P = dftn({ re: q, im: new Float64Array(H) }, 1, [H], false); // fft(q); i·fft(q) = fft(i·q)
            for (let r = 0; r < H; r++) {
              const i = (b * H + r) * h + c;
              re[i] = re[i]! - P.im[r]!;
              im[i] = im[i]! + P.re[r]!;
            }
          }
        }
        X.re.set(re);
        X.im.set(im);
        const y1 = irfftn(X, [H, W]);
        const e = relErr(y1.toFloat64(), undefined, y0.toFloat64(), undefined);
        assert.ok(e < (dtype === 'float64' ? 1e-12 : 1e-5), `${dtype} [${H}, ${W}]: ${e}`);
        // and a Hermitian (real-signal) perturbation does change the output
        for (let r = 0; r < H; r++) re[r * h + 1] = re[r * h + 1]! + 1;
        X.re.set(re);
        const y2 = irfftn(X, [H, W]);
        assert.ok(relErr(y2.toFloat64(), undefined, y0.toFloat64(), undefined) > 1e-3);
        for (const t of [x, X, y0, y1, y2]) t.release();
      }
    }
  });
});

describe('truncated transforms (mode-major)', () => {
  function sliceModes(Xfull: ComplexTensor, batch: number[], sizes: number[], modes: number[]) {
    // full natural [R, n1…n_{d−1}, h] → [k1…kd, R] via the centred mode positions
    const d = sizes.length;
    const R = shapeSize(batch);
    const h = Math.floor(sizes[d - 1]! / 2) + 1;
    const full = [...sizes.slice(0, -1), h];
    const rows = modes.map((k, a) => (a === d - 1 ? Int32Array.from({ length: k }, (_, i) => i) : centredModes(k, sizes[a]!)));
    const M = shapeSize(modes);
    const fr = Xfull.re.toFloat64();
    const fi = Xfull.im.toFloat64();
    const wr = new Float64Array(M * R);
    const wi = new Float64Array(M * R);
    for (let m = 0; m < M; m++) {
      let rem = m;
      const pos = new Array<number>(d);
      for (let a = d - 1; a >= 0; a--) {
        pos[a] = rows[a]![rem % modes[a]!]!;
        rem = Math.floor(rem / modes[a]!);
      }
      let off = 0;
      for (let a = 0; a < d; a++) off = off * full[a]! + pos[a]!;
      for (let r = 0; r < R; r++) {
        wr[m * R + r] = fr[r * shapeSize(full) + off]!;
        wi[m * R + r] = fi[r * shapeSize(full) + off]!;
      }
    }
    return { wr, wi };
  }

  function randomModes(sizes: number[]): number[] {
    const d = sizes.length;
    return sizes.map((n, a) => 1 + rng.int(a === d - 1 ? Math.floor(n / 2) + 1 : n));
  }

  for (const dtype of ['float64', 'float32', 'float16'] as const) {
    it(`rfftnModes equals the full transform sliced; irfftnModes equals irfftn of the zero-filled spectrum (${dtype})`, () => {
      for (let trial = 0; trial < 25; trial++) {
        const d = 1 + rng.int(3);
        const sizes = randomSizes(d);
        const modes = randomModes(sizes);
        const batch = randomBatch();
        const norm = pick(FFT_NORMS);
        const N = shapeSize(sizes);
        const x = rng.fillNormal(Tensor.empty([...batch, ...sizes], dtype));
        const full = rfftn(x, d, { norm, dtype: 'float64' === dtype ? 'float64' : 'float32' });
        const T = rfftnModes(x, modes, { norm });
        assert.deepEqual(T.shape, [...modes, ...batch]);
        const { wr, wi } = sliceModes(full, batch, sizes, modes);
        const e = relErr(T.re.toFloat64(), T.im.toFloat64(), wr, wi);
        assert.ok(e <= tolFor(dtype, N), `rfftnModes ${dtype} sizes [${sizes}] modes [${modes}] ${norm}: ${e}`);
        // inverse: zero-fill the full spectrum outside the kept modes, irfftn, compare
        const zf = ComplexTensor.zeros(full.shape, 'float64');
        const zr = zf.re.toFloat64();
        const zi = zf.im.toFloat64();
        const R = shapeSize(batch);
        const h = Math.floor(sizes[d - 1]! / 2) + 1;
        const fullSpec = [...sizes.slice(0, -1), h];
        const rows = modes.map((k, a) => (a === d - 1 ? Int32Array.from({ length: k }, (_, i) => i) : centredModes(k, sizes[a]!)));
        const Tr = T.re.toFloat64();
        const Ti = T.im.toFloat64();
        for (let m = 0; m < shapeSize(modes); m++) {
          let rem = m;
          let off = 0;
          const pos = new Array<number>(d);
          for (let a = d - 1; a >= 0; a--) {
            pos[a] = rows[a]![rem % modes[a]!]!;
            rem = Math.floor(rem / modes[a]!);
          }
          for (let a = 0; a < d; a++) off = off * fullSpec[a]! + pos[a]!;
          for (let r = 0; r < R; r++) {
            zr[r * shapeSize(fullSpec) + off] = Tr[m * R + r]!;
            zi[r * shapeSize(fullSpec) + off] = Ti[m * R + r]!;
          }
        }
        zf.re.set(zr);
        zf.im.set(zi);
        const yWant = irfftn(zf, sizes, { norm });
        const y = irfftnModes(T, sizes, { norm, dtype: dtype === 'float64' ? 'float64' : 'float32' });
        const e2 = relErr(y.toFloat64(), undefined, yWant.toFloat64(), undefined);
        assert.ok(e2 <= tolFor(dtype === 'float64' ? 'float64' : 'float32', N), `irfftnModes ${dtype} sizes [${sizes}] modes [${modes}] ${norm}: ${e2}`);
        for (const t of [x, full, T, zf, yWant, y]) t.release();
      }
    });
  }

  it('adjointness ⟨F x, y⟩ = ⟨x, F* y⟩ for the truncated pair (float64, all norms)', () => {
    for (let trial = 0; trial < 20; trial++) {
      const d = 1 + rng.int(3);
      const sizes = randomSizes(d);
      const modes = randomModes(sizes);
      const batch = randomBatch();
      const norm = pick(FFT_NORMS);
      const x = rng.fillNormal(Tensor.empty([...batch, ...sizes], 'float64'));
      const Y = new ComplexTensor(
        rng.fillNormal(Tensor.empty([...modes, ...batch], 'float64')),
        rng.fillNormal(Tensor.empty([...modes, ...batch], 'float64')),
      );
      const Fx = rfftnModes(x, modes, { norm });
      const FtY = rfftnModesAdjoint(Y, sizes, { norm });
      const a = Fx.re.toFloat64();
      const b = Fx.im.toFloat64();
      const yr = Y.re.toFloat64();
      const yi = Y.im.toFloat64();
      let lhs = 0;
      for (let i = 0; i < a.length; i++) lhs += a[i]! * yr[i]! + b[i]! * yi[i]!;
      const xs = x.toFloat64();
      const ft = FtY.toFloat64();
      let rhs = 0;
      for (let i = 0; i < xs.length; i++) rhs += xs[i]! * ft[i]!;
      assert.ok(Math.abs(lhs - rhs) <= 1e-10 * (Math.abs(lhs) + 1), `sizes [${sizes}] modes [${modes}] ${norm}: ${lhs} vs ${rhs}`);
      for (const t of [x, Y, Fx, FtY]) t.release();
    }
  });

  it('adjointness ⟨G Y, x⟩ = ⟨Y, G* x⟩ for the truncated inverse (float64, all norms)', () => {
    for (let trial = 0; trial < 20; trial++) {
      const d = 1 + rng.int(3);
      const sizes = randomSizes(d);
      const modes = randomModes(sizes);
      const batch = randomBatch();
      const norm = pick(FFT_NORMS);
      const x = rng.fillNormal(Tensor.empty([...batch, ...sizes], 'float64'));
      const Y = new ComplexTensor(
        rng.fillNormal(Tensor.empty([...modes, ...batch], 'float64')),
        rng.fillNormal(Tensor.empty([...modes, ...batch], 'float64')),
      );
      const GY = irfftnModes(Y, sizes, { norm });
      const Gtx = irfftnModesAdjoint(x, modes, { norm });
      const gy = GY.toFloat64();
      const xs = x.toFloat64();
      let lhs = 0;
      for (let i = 0; i < xs.length; i++) lhs += gy[i]! * xs[i]!;
      const yr = Y.re.toFloat64();
      const yi = Y.im.toFloat64();
      const ar = Gtx.re.toFloat64();
      const ai = Gtx.im.toFloat64();
      let rhs = 0;
      for (let i = 0; i < yr.length; i++) rhs += yr[i]! * ar[i]! + yi[i]! * ai[i]!;
      // the imaginary parts of DC/Nyquist columns do not reach the output; G* must give them zero
      assert.ok(Math.abs(lhs - rhs) <= 1e-10 * (Math.abs(lhs) + 1), `sizes [${sizes}] modes [${modes}] ${norm}: ${lhs} vs ${rhs}`);
      for (const t of [x, Y, GY, Gtx]) t.release();
    }
  });

  it('emulated half precision: errors grow over f32 by about the half unit roundoff', () => {
    const x = rng.fillNormal(Tensor.empty([8, 64, 64]));
    const ref = rfftn(Tensor.fromArray(x.toFloat64(), x.shape, 'float64'), 2, { norm: 'forward' });
    const errs: Record<string, number> = {};
    for (const emulate of [undefined, 'float16', 'bfloat16'] as const) {
      const X = rfftn(x, 2, { norm: 'forward', ...(emulate ? { emulate } : {}) });
      errs[emulate ?? 'float32'] = relErr(X.re.toFloat64(), X.im.toFloat64(), ref.re.toFloat64(), ref.im.toFloat64());
      X.release();
    }
    // ordering and magnitude: f32 ≪ fp16 ≈ a few u16 ≪ bf16 ≈ a few u_bf16
    assert.ok(errs['float32']! < 1e-5, JSON.stringify(errs));
    assert.ok(errs['float16']! > 1e-4 && errs['float16']! < 2e-2, JSON.stringify(errs));
    assert.ok(errs['bfloat16']! > 4 * errs['float16']! && errs['bfloat16']! < 0.1, JSON.stringify(errs));
    x.release();
    ref.release();
  });
});

describe('FFT bad input', () => {
  it('names the problem', () => {
    const x = Tensor.zeros([2, 8, 8]);
    assert.throws(() => rfftn(x, 4), /rfftn: d must be 1, 2 or 3/);
    assert.throws(() => rfftn(Tensor.zeros([8]), 2), /rfftn: a 2-D transform needs at least 2 axes/);
    assert.throws(() => rfftn(x, 2, { norm: 'unitary' as FftNorm }), /rfftn: unknown norm 'unitary'/);
    assert.throws(() => rfftnModes(x, [9, 3]), /rfftnModes: modes\[0\] = 9 is not allowed for a grid of size 8/);
    assert.throws(() => rfftnModes(x, [4, 6]), /rfftnModes: modes\[1\] = 6 .*n\/2\+1 on the last axis/);
    assert.throws(() => rfftnModes(x, [0, 3]), /modes\[0\] = 0/);
    const X = rfftn(x, 2);
    assert.throws(() => irfftn(X, [8, 11]), /irfftn: a spectrum of shape \[2, 8, 5\] does not match output sizes \[8, 11\]/);
    assert.throws(() => irfftn(X, [6, 8]), /does not match output sizes/);
    const odd = irfftn(X, [8, 9]); // 9 // 2 + 1 = 5 columns too: a valid odd output size
    assert.deepEqual(odd.shape, [2, 8, 9]);
    assert.throws(() => irfftn(X, [8, 7]), /does not match output sizes/);
    assert.throws(() => irfftn(X, [8, 0]), /irfftn: sizes must be positive integers/);
    assert.throws(() => rfftn(Tensor.zeros([4, 4], 'float64'), 1, { emulate: 'float16' }), /emulate 'float16' is not available for float64/);
  });
});

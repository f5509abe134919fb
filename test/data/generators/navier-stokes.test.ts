import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../../src/core/rng.js';
import { Tensor } from '../../../src/core/tensor.js';
import { rfftn } from '../../../src/fft/index.js';
import {
  NSBlowUpError,
  NSConfigError,
  NSError,
  NSUnstableDtError,
  NS_CFL_MAX,
  generateNS,
  maxStableDt,
  nsAdvection,
  nsForcing,
  nsGrf,
  nsGrfVariance,
  nsMaxVelocity,
  nsSampleSeed,
  nsSpectrum,
  simulateNS,
  subsampleNS,
} from '../../../src/data/generators/index.js';

const TWO_PI = 2 * Math.PI;

function field(s: number, fn: (x: number, y: number) => number): Float64Array {
  const w = new Float64Array(s * s);
  for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) w[i * s + j] = fn(i / s, j / s);
  return w;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function mean(a: ArrayLike<number>): number {
  let t = 0;
  for (let i = 0; i < a.length; i++) t += a[i]!;
  return t / a.length;
}

/** The project's float64 FFT (forward-normalised half spectrum), an independent reference. */
function refSpectrum(w: Float64Array, s: number): { re: Float64Array; im: Float64Array } {
  const t = Tensor.fromArray(w, [s, s], 'float64');
  const X = rfftn(t, 2, { norm: 'forward' });
  const out = { re: Float64Array.from(X.re.data), im: Float64Array.from(X.im.data) };
  X.release();
  t.release();
  return out;
}

describe('navier-stokes: spectral transforms', () => {
  it('nsSpectrum matches the project FFT (power-of-two and other even sizes)', () => {
    const rng = new Rng(11);
    for (const s of [8, 16, 12, 10]) {
      const w = rng.normalArray(s * s);
      const a = nsSpectrum(w, s);
      const b = refSpectrum(w, s);
      assert.ok(maxAbsDiff(a.re, b.re) < 1e-15, `s=${s} re`);
      assert.ok(maxAbsDiff(a.im, b.im) < 1e-15, `s=${s} im`);
    }
  });
});

describe('navier-stokes: Taylor–Green vortex (no forcing)', () => {
  // w0 = A sin(2πkx) sin(2πky): ψ ∝ w, so u·∇w = 0 and w(t) = w0·exp(−8π²k²ν t); Crank–Nicolson
  // multiplies by r = (1 − hλ/2)/(1 + hλ/2) per step, λ = 8π²k²ν, whose error against e^{−hλ} is
  // hλ³h²/12 + O(h⁴): after T the relative error is T·λ³·h²/12.
  const A = 1.5;
  const k = 2;
  const nu = 0.01;
  const T = 0.5;
  const lam = 8 * Math.PI * Math.PI * k * k * nu;

  function run(s: number, dt: number): { err: number; discreteErr: number } {
    const w0 = field(s, (x, y) => A * Math.sin(TWO_PI * k * x) * Math.sin(TWO_PI * k * y));
    const sol = simulateNS(w0, s, { nu, dt, T, recordInterval: 0.1, forcing: false });
    assert.deepEqual(sol.times.map((t) => +t.toFixed(12)), [0.1, 0.2, 0.3, 0.4, 0.5]);
    const r = (1 - (dt * lam) / 2) / (1 + (dt * lam) / 2);
    let discreteErr = 0;
    sol.w.forEach((w, m) => {
      const steps = Math.round(sol.times[m]! / dt);
      const g = r ** steps;
      discreteErr = Math.max(discreteErr, maxAbsDiff(w, w0.map((v) => v * g)) / A);
    });
    const exact = w0.map((v) => v * Math.exp(-lam * T));
    // relative to the largest grid value of w0 (A·sin²(π/3) at s = 12, A at s = 16)
    return { err: maxAbsDiff(sol.w[sol.w.length - 1]!, exact) / maxAbs(w0), discreteErr };
  }

  it('follows the Crank–Nicolson factor to round-off and the exact decay to its O(Δt²) error', () => {
    for (const s of [16, 12]) {
      const a = run(s, 0.01);
      const b = run(s, 0.005);
      assert.ok(a.discreteErr < 1e-13 && b.discreteErr < 1e-13, `s=${s}: nonlinear term not zero (${a.discreteErr}, ${b.discreteErr})`);
      const predicted = (dt: number): number => Math.exp(-lam * T) * T * lam ** 3 * dt * dt / 12;
      assert.ok(Math.abs(a.err / predicted(0.01) - 1) < 0.03, `s=${s}: error ${a.err} vs predicted ${predicted(0.01)}`);
      assert.ok(Math.abs(b.err / predicted(0.005) - 1) < 0.03, `s=${s}: error ${b.err} vs predicted ${predicted(0.005)}`);
      const order = Math.log2(a.err / b.err);
      assert.ok(Math.abs(order - 2) < 0.02, `s=${s}: observed order ${order}`);
    }
  });

  it('matches the exact solution to 1e-10 at the default ν = 1e-3, Δt = 1e-4 (cos·cos vortex)', () => {
    const s = 32;
    const w0 = field(s, (x, y) => 2 * TWO_PI * Math.cos(TWO_PI * x) * Math.cos(TWO_PI * y));
    const sol = simulateNS(w0, s, { nu: 1e-3, dt: 1e-4, T: 0.05, recordInterval: 0.05, forcing: false });
    const l1 = 8 * Math.PI * Math.PI * 1e-3;
    const exact = w0.map((v) => v * Math.exp(-l1 * 0.05));
    assert.ok(maxAbsDiff(sol.w[0]!, exact) / (2 * TWO_PI) < 1e-10);
    assert.ok(maxAbsDiff(sol.w[0]!, w0) / (2 * TWO_PI) > 1e-3); // it did decay
  });
});

describe('navier-stokes: forcing and conservation', () => {
  it('from rest, w(t) = f·(1 − e^{−λt})/λ (the forcing is one shell, so u·∇w = 0)', () => {
    const s = 16;
    const nu = 0.01;
    const dt = 0.01;
    const lam = 8 * Math.PI * Math.PI * nu;
    const f = nsForcing(s);
    assert.ok(Math.abs(f[1 * s + 2]! - 0.1 * (Math.sin(TWO_PI * 3 / s) + Math.cos(TWO_PI * 3 / s))) < 1e-15);
    const sol = simulateNS(new Float64Array(s * s), s, { nu, dt, T: 1, recordInterval: 0.25 });
    const r = (1 - (dt * lam) / 2) / (1 + (dt * lam) / 2);
    sol.w.forEach((w, m) => {
      const t = sol.times[m]!;
      const discrete = f.map((v) => (v / lam) * (1 - r ** Math.round(t / dt)));
      assert.ok(maxAbsDiff(w, discrete) < 1e-14, `t=${t}: discrete`);
      const exact = f.map((v) => (v / lam) * (1 - Math.exp(-lam * t)));
      const e = maxAbsDiff(w, exact) / maxAbs(exact);
      assert.ok(e < 1e-4 && e > 1e-8, `t=${t}: relative error ${e}`);
    });
  });

  it('conserves the spatial mean to 1e-12 with forcing on', () => {
    const s = 32;
    const w0 = nsGrf(s, new Rng(5)).map((v) => v + 0.3);
    const sol = simulateNS(w0, s, { nu: 1e-3, dt: 1e-3, T: 0.5, recordInterval: 0.1 });
    assert.equal(sol.w.length, 5);
    for (const w of sol.w) assert.ok(Math.abs(mean(w) - 0.3) < 1e-12, `mean ${mean(w)}`);
    assert.ok(maxAbsDiff(sol.w[4]!, w0) > 1e-2, 'the flow evolved');
    assert.ok(sol.w.every((w) => w.every(Number.isFinite)));
  });
});

describe('navier-stokes: the dealiased advection term', () => {
  // w = Σ c_j cos(θ_j), θ_j = 2π k_j·x + φ_j; ψ_j = w_j/(4π²|k_j|²); u = ψ_y, v = −ψ_x
  function analytic(s: number, modes: { kx: number; ky: number; c: number; phi: number }[]): { w: Float64Array; n: Float64Array } {
    const w = new Float64Array(s * s);
    const n = new Float64Array(s * s);
    for (let i = 0; i < s; i++) {
      for (let j = 0; j < s; j++) {
        const x = i / s;
        const y = j / s;
        let wv = 0;
        let u = 0;
        let v = 0;
        let wx = 0;
        let wy = 0;
        for (const m of modes) {
          const th = TWO_PI * (m.kx * x + m.ky * y) + m.phi;
          const k2 = 4 * Math.PI * Math.PI * (m.kx * m.kx + m.ky * m.ky);
          wv += m.c * Math.cos(th);
          wx += -m.c * TWO_PI * m.kx * Math.sin(th);
          wy += -m.c * TWO_PI * m.ky * Math.sin(th);
          u += (-m.c * TWO_PI * m.ky * Math.sin(th)) / k2;
          v += (m.c * TWO_PI * m.kx * Math.sin(th)) / k2;
        }
        w[i * s + j] = wv;
        n[i * s + j] = u * wx + v * wy;
      }
    }
    return { w, n };
  }

  it('equals u·∇w exactly when all product modes are kept', () => {
    const s = 32;
    const { w, n } = analytic(s, [
      { kx: 1, ky: 2, c: 1.3, phi: 0 },
      { kx: 3, ky: -1, c: -0.7, phi: -Math.PI / 2 },
    ]);
    assert.ok(maxAbs(n) > 0.1, 'non-trivial product');
    const got = nsAdvection(w, s);
    assert.ok(maxAbsDiff(got, n) < 1e-12 * maxAbs(n), `diff ${maxAbsDiff(got, n)}`);
  });

  it('removes the product modes beyond s/3 (2/3 rule) and keeps the others', () => {
    const s = 32; // cut at |k| ≤ 10; sum mode (11, −1) dropped, difference mode (1, 3) kept
    const { w, n } = analytic(s, [
      { kx: 6, ky: 1, c: 9, phi: 0.3 },
      { kx: 5, ky: -2, c: 11, phi: -1.1 },
    ]);
    const h = s / 2 + 1;
    const ref = refSpectrum(n, s);
    let dropped = 0;
    for (let i = 0; i < s; i++) {
      const kx = i < s / 2 ? i : i - s;
      for (let j = 0; j < h; j++) {
        if (Math.abs(kx) > s / 3 || j > s / 3) {
          dropped = Math.max(dropped, Math.hypot(ref.re[i * h + j]!, ref.im[i * h + j]!));
          ref.re[i * h + j] = 0;
          ref.im[i * h + j] = 0;
        }
      }
    }
    assert.ok(dropped > 0.1, 'the sum mode carries weight');
    const got = nsSpectrum(nsAdvection(w, s), s);
    const scale = maxAbs(ref.re) + maxAbs(ref.im);
    assert.ok(scale > 0.1, 'the difference mode carries weight');
    assert.ok(maxAbsDiff(got.re, ref.re) < 1e-13 * scale);
    assert.ok(maxAbsDiff(got.im, ref.im) < 1e-13 * scale);
  });
});

describe('navier-stokes: initial Gaussian random field', () => {
  it('has the prescribed spectrum E|ŵ_k|² = 2σ²(4π²|k|² + τ²)^(−α) within sampling error', () => {
    const s = 16;
    const h = s / 2 + 1;
    const M = 400;
    const rng = new Rng(7);
    // [kx, ky, self-conjugate]
    const modes: [number, number, boolean][] = [
      [1, 0, false], [0, 1, false], [1, 1, false], [-1, 1, false], [2, 0, false], [2, 1, false], [-2, 3, false],
      [0, 2, false], [8, 0, true], [0, 8, true],
    ];
    const sums = new Float64Array(modes.length);
    let pooled = 0;
    let pooledCount = 0;
    for (let m = 0; m < M; m++) {
      const w = nsGrf(s, rng);
      assert.ok(Math.abs(mean(w)) < 1e-15, 'zero mean');
      const X = nsSpectrum(w, s);
      modes.forEach(([kx, ky, self], q) => {
        const idx = (kx < 0 ? kx + s : kx) * h + ky;
        if (self) assert.ok(Math.abs(X.im[idx]!) < 1e-15, 'self-conjugate mode is real');
        sums[q]! += (X.re[idx]! ** 2 + X.im[idx]! ** 2) / nsGrfVariance(kx, ky === 8 ? -8 : ky);
      });
      for (let i = 0; i < s; i++) {
        for (let j = 1; j < s / 2; j++) {
          const kx = i < s / 2 ? i : i - s;
          if (kx * kx + j * j > 9) continue;
          pooled += (X.re[i * h + j]! ** 2 + X.im[i * h + j]! ** 2) / nsGrfVariance(kx, j);
          pooledCount++;
        }
      }
    }
    modes.forEach(([kx, ky, self], q) => {
      // |ŵ|²/target is Exp(1) (sd 1) for complex modes and χ²₁ (sd √2) for the real self-conjugate ones
      const se = (self ? Math.SQRT2 : 1) / Math.sqrt(M);
      const ratio = sums[q]! / M;
      assert.ok(Math.abs(ratio - 1) < 4 * se, `mode (${kx}, ${ky}): E|ŵ|²/target = ${ratio}`);
    });
    // pooled over the complex modes with |k| ≤ 3 (independent, ~ 20 per sample)
    const ratio = pooled / pooledCount;
    assert.ok(Math.abs(ratio - 1) < 4 / Math.sqrt(pooledCount), `pooled ratio ${ratio} over ${pooledCount}`);
  });

  it('has a law independent of the resolution (same target at s = 32)', () => {
    const s = 32;
    const h = s / 2 + 1;
    const rng = new Rng(8);
    let acc = 0;
    const M = 300;
    for (let m = 0; m < M; m++) {
      const X = nsSpectrum(nsGrf(s, rng), s);
      acc += (X.re[1 * h + 0]! ** 2 + X.im[1 * h + 0]! ** 2) / nsGrfVariance(1, 0);
    }
    assert.ok(Math.abs(acc / M - 1) < 4 / Math.sqrt(M));
  });

  it('changes with α (the spectrum test can fail)', () => {
    const s = 16;
    const rng = new Rng(9);
    let acc = 0;
    const M = 200;
    for (let m = 0; m < M; m++) {
      const X = nsSpectrum(nsGrf(s, rng, { alpha: 3.5 }), s);
      acc += (X.re[3]! ** 2 + X.im[3]! ** 2) / nsGrfVariance(0, 3);
    }
    assert.ok(acc / M < 0.2, `ratio ${acc / M}`);
  });
});

describe('navier-stokes: data sets', () => {
  const base = { resolution: 16, seed: 5, nu: 1e-3, dt: 1e-3, T: 0.04, recordInterval: 0.01 } as const;

  it('is deterministic for a seed, per sample, and differs across seeds', () => {
    const seen: number[] = [];
    const a = generateNS({ ...base, n: 3, layout: 'series', inSteps: 1, onSample: (i) => seen.push(i) });
    assert.deepEqual(seen, [0, 1, 2]);
    const b = generateNS({ ...base, n: 3, layout: 'series', inSteps: 1 });
    assert.deepEqual(a.x, b.x);
    assert.deepEqual(a.y, b.y);
    assert.deepEqual(a.xShape, [3, 1, 16, 16]);
    assert.deepEqual(a.yShape, [3, 3, 16, 16]);
    assert.equal(a.x.length, 3 * 256);
    assert.equal(a.y.length, 3 * 3 * 256);
    assert.deepEqual(a.meta.xTimes.map((t) => +t.toFixed(12)), [0.01]);
    assert.deepEqual(a.meta.yTimes.map((t) => +t.toFixed(12)), [0.02, 0.03, 0.04]);
    assert.equal(a.meta.nu, 1e-3);
    assert.equal(a.meta.layout, 'series');
    const c = generateNS({ ...base, n: 2, layout: 'series', inSteps: 1 });
    assert.deepEqual(c.x, a.x.subarray(0, 2 * 256));
    assert.deepEqual(c.y, a.y.subarray(0, 2 * 3 * 256));
    const d = generateNS({ ...base, seed: 6, n: 1, layout: 'series', inSteps: 1 });
    assert.ok(maxAbsDiff(d.x, a.x.subarray(0, 256)) > 1e-3);
    assert.notEqual(nsSampleSeed(5, 0), nsSampleSeed(5, 1));
    assert.notEqual(nsSampleSeed(5, 0), nsSampleSeed(6, 0));
    assert.ok(a.x.every(Number.isFinite) && a.y.every(Number.isFinite));
  });

  it("'map' is w(0) → w(T) of the simulated sample", () => {
    const m = generateNS({ ...base, n: 2, layout: 'map' });
    assert.deepEqual(m.xShape, [2, 1, 16, 16]);
    assert.deepEqual(m.yShape, [2, 1, 16, 16]);
    assert.deepEqual(m.meta.xTimes, [0]);
    assert.deepEqual(m.meta.yTimes, [0.04]);
    const w0 = nsGrf(16, new Rng(nsSampleSeed(5, 1)));
    assert.deepEqual(m.x.subarray(256, 512), Float32Array.from(w0));
    const sol = simulateNS(w0, 16, { nu: 1e-3, dt: 1e-3, T: 0.04, recordInterval: 0.01 });
    assert.deepEqual(m.y.subarray(256, 512), Float32Array.from(sol.w[3]!));
  });

  it('gives the same sample at several resolutions (simulate fine, take every r-th point)', () => {
    const fine = generateNS({ ...base, resolution: 32, simResolution: 32, n: 2, layout: 'series', inSteps: 2 });
    const coarse = generateNS({ ...base, resolution: 16, simResolution: 32, n: 2, layout: 'series', inSteps: 2 });
    assert.equal(coarse.meta.simResolution, 32);
    for (let i = 0; i < 2 * 2; i++) {
      assert.deepEqual(coarse.x.subarray(i * 256, (i + 1) * 256), subsampleNS(fine.x.subarray(i * 1024, (i + 1) * 1024), 32, 2));
    }
    const v = Float64Array.from({ length: 16 }, (_, i) => i);
    assert.deepEqual(subsampleNS(v, 4, 2), Float64Array.from([0, 2, 8, 10]));
  });
});

describe('navier-stokes: stability', () => {
  it('maxStableDt is CFL = NS_CFL_MAX for the initial velocity (plus the forcing estimate)', () => {
    const s = 32;
    const w0 = nsGrf(s, new Rng(3));
    const u = nsMaxVelocity(w0, s);
    assert.ok(u > 0);
    assert.ok(Math.abs(maxStableDt(w0, s, { forcing: false }) - NS_CFL_MAX / (u * s)) < 1e-15);
    assert.ok(maxStableDt(w0, s, { forcing: true, T: 10 }) < maxStableDt(w0, s, { forcing: false }));
    assert.equal(maxStableDt(new Float64Array(s * s), s, { forcing: false }), Infinity);
    // velocity of the cos·cos vortex A cos(2πx)cos(2πy): |u| ≤ A/(4π), reached at the grid points (x, 1/4)
    const A = 3;
    const tg = field(s, (x, y) => A * Math.cos(TWO_PI * x) * Math.cos(TWO_PI * y));
    assert.ok(Math.abs(nsMaxVelocity(tg, s) - A / (4 * Math.PI)) < 1e-14);
  });

  it('refuses an obviously unstable Δt up front with a named error', () => {
    const s = 32;
    const w0 = nsGrf(s, new Rng(4)).map((v) => 20 * v);
    const limit = maxStableDt(w0, s, { T: 5 });
    assert.throws(
      () => simulateNS(w0, s, { nu: 1e-3, dt: 0.05, T: 5, recordInterval: 0.05 }),
      (e: unknown) => {
        assert.ok(e instanceof NSUnstableDtError && e instanceof NSError);
        assert.equal(e.name, 'NSUnstableDtError');
        assert.equal(e.dt, 0.05);
        assert.ok(e.cfl > NS_CFL_MAX);
        assert.ok(Math.abs(e.maxStableDt - limit) < 1e-15);
        assert.match(e.message, /dt = 0\.05/);
        assert.match(e.message, /CFL/);
        return true;
      },
    );
  });

  it('detects a blow-up during the run (named error stating Δt and CFL, not NaNs)', () => {
    const s = 32;
    const w0 = nsGrf(s, new Rng(4)).map((v) => 20 * v);
    assert.throws(
      () => simulateNS(w0, s, { nu: 1e-3, dt: 0.05, T: 5, recordInterval: 0.05, checkStability: false }),
      (e: unknown) => {
        assert.ok(e instanceof NSBlowUpError && e instanceof NSError);
        assert.equal(e.name, 'NSBlowUpError');
        assert.equal(e.dt, 0.05);
        assert.ok(Number.isFinite(e.cfl) && e.cfl > 0.5, `cfl ${e.cfl}`);
        assert.ok(e.step > 0 && e.t < 5);
        assert.match(e.message, /dt = 0\.05/);
        assert.match(e.message, /CFL/);
        return true;
      },
    );
    // the same field at a stable Δt runs
    const ok = simulateNS(w0, s, { nu: 1e-3, dt: 1e-3, T: 0.05, recordInterval: 0.05 });
    assert.ok(ok.w[0]!.every(Number.isFinite));
  });
});

describe('navier-stokes: bad input', () => {
  const isConfig = (e: unknown): boolean => e instanceof NSConfigError && e instanceof NSError && e.name === 'NSConfigError';
  const w16 = new Float64Array(256);

  it('simulateNS', () => {
    assert.throws(() => simulateNS(new Float64Array(25), 5, { T: 1 }), isConfig); // odd s
    assert.throws(() => simulateNS(new Float64Array(0), 0, { T: 1 }), isConfig);
    assert.throws(() => simulateNS(w16, -16, { T: 1 }), isConfig);
    assert.throws(() => simulateNS(w16, 8, { T: 1 }), isConfig); // wrong length
    assert.throws(() => simulateNS(w16, 16, { T: 1, recordInterval: 0.3 }), isConfig);
    assert.throws(() => simulateNS(w16, 16, { T: 1, recordInterval: 0.5, dt: 0.3 }), isConfig);
    assert.throws(() => simulateNS(w16, 16, { T: -1 }), isConfig);
    assert.throws(() => simulateNS(w16, 16, { T: 1, nu: 0 }), isConfig);
    assert.throws(() => simulateNS(w16, 16, { T: 1, dt: Number.NaN }), isConfig);
    const bad = new Float64Array(256);
    bad[7] = Number.NaN;
    assert.throws(() => simulateNS(bad, 16, { T: 1 }), isConfig);
  });

  it('generateNS, nsGrf, subsampleNS', () => {
    const ok = { n: 1, resolution: 16, seed: 1, T: 0.02, dt: 1e-3, recordInterval: 0.01, layout: 'map' as const };
    assert.throws(() => generateNS({ ...ok, n: 0 }), isConfig);
    assert.throws(() => generateNS({ ...ok, n: 1.5 }), isConfig);
    assert.throws(() => generateNS({ ...ok, resolution: 15 }), isConfig);
    assert.throws(() => generateNS({ ...ok, resolution: -16 }), isConfig);
    assert.throws(() => generateNS({ ...ok, resolution: 16, simResolution: 24 }), isConfig);
    assert.throws(() => generateNS({ ...ok, layout: 'movie' as unknown as 'map' }), isConfig);
    assert.throws(() => generateNS({ ...ok, recordInterval: 0.015 }), isConfig);
    assert.throws(() => generateNS({ ...ok, layout: 'series', inSteps: 2 }), isConfig); // needs inSteps < T/recordInterval = 2
    assert.throws(() => generateNS({ ...ok, layout: 'series', inSteps: 0 }), isConfig);
    assert.throws(() => generateNS({ ...ok, inSteps: 3 }), isConfig);
    assert.throws(() => generateNS({ ...ok, seed: 0.5 }), isConfig);
    assert.throws(() => nsGrf(15, new Rng(1)), isConfig);
    assert.throws(() => nsGrf(16, new Rng(1), { tau: -1 }), isConfig);
    assert.throws(() => subsampleNS(w16, 16, 3), isConfig);
    assert.throws(() => subsampleNS(w16, 16, 0), isConfig);
    assert.throws(() => nsSampleSeed(1, -1), isConfig);
  });
});

describe('navier-stokes: progress inside a sample', () => {
  it('reports the time steps of each simulation, every 100 steps and at the end', () => {
    const seen: [number, number][] = [];
    generateNS({ n: 2, resolution: 8, seed: 0, layout: 'map', T: 0.25, dt: 0.001, recordInterval: 0.25, onStep: (d, t) => seen.push([d, t]) });
    const total = 250;
    const one = [[100, total], [200, total], [250, total]];
    assert.deepEqual(seen, [...one, ...one]);
  });
});

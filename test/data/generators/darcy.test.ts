import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../../src/core/rng.js';
import {
  DarcyCoefficientError,
  DarcyConvergenceError,
  DarcyError,
  DarcyResolutionError,
  DarcySubsampleError,
  darcyGrf,
  darcyPermeability,
  darcySampleSeed,
  generateDarcy,
  generateDarcySample,
  grfCoefficient,
  solveDarcy,
  subsampleFactorsFor,
  subsampledResolution,
  subsampleField,
} from '../../../src/data/generators/index.js';

const PI = Math.PI;

/** Manufactured problem: u = sin(πx)sin(πy), a = 1 + 0.5 sin(2πx)cos(πy), f = −∇·(a∇u). */
function manufactured(s: number): { a: Float64Array; f: Float64Array; u: Float64Array } {
  const a = new Float64Array(s * s);
  const f = new Float64Array(s * s);
  const u = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    for (let j = 0; j < s; j++) {
      const x = i / (s - 1);
      const y = j / (s - 1);
      const q = i * s + j;
      const av = 1 + 0.5 * Math.sin(2 * PI * x) * Math.cos(PI * y);
      const ax = PI * Math.cos(2 * PI * x) * Math.cos(PI * y);
      const ay = -0.5 * PI * Math.sin(2 * PI * x) * Math.sin(PI * y);
      const uv = Math.sin(PI * x) * Math.sin(PI * y);
      const ux = PI * Math.cos(PI * x) * Math.sin(PI * y);
      const uy = PI * Math.sin(PI * x) * Math.cos(PI * y);
      a[q] = av;
      u[q] = i === 0 || j === 0 || i === s - 1 || j === s - 1 ? 0 : uv;
      f[q] = 2 * PI * PI * av * uv - ax * ux - ay * uy;
    }
  }
  return { a, f, u };
}

/** The discrete operator applied independently of the solver: (Au)_ij on interior nodes, h-scaled. */
function discreteResidual(a: Float64Array, u: Float64Array, s: number, f: number): { rel: number; boundaryMax: number } {
  const h = 1 / (s - 1);
  let rr = 0;
  let bb = 0;
  for (let i = 1; i < s - 1; i++) {
    for (let j = 1; j < s - 1; j++) {
      const q = i * s + j;
      const fe = (a[q]! + a[q + s]!) / 2;
      const fw = (a[q]! + a[q - s]!) / 2;
      const fn = (a[q]! + a[q + 1]!) / 2;
      const fs = (a[q]! + a[q - 1]!) / 2;
      const lhs = (fe * (u[q]! - u[q + s]!) + fw * (u[q]! - u[q - s]!) + fn * (u[q]! - u[q + 1]!) + fs * (u[q]! - u[q - 1]!)) / (h * h);
      rr += (f - lhs) ** 2;
      bb += f * f;
    }
  }
  let boundaryMax = 0;
  for (let i = 0; i < s; i++) {
    for (const q of [i, (s - 1) * s + i, i * s, i * s + s - 1]) boundaryMax = Math.max(boundaryMax, Math.abs(u[q]!));
  }
  return { rel: Math.sqrt(rr / bb), boundaryMax };
}

describe('solveDarcy', () => {
  it('is second-order accurate on a manufactured solution with a smooth variable coefficient', () => {
    const sizes = [17, 33, 65, 129];
    const errs = sizes.map((s) => {
      const m = manufactured(s);
      const { u, residual } = solveDarcy(m.a, s, { f: m.f });
      assert.ok(residual <= 1e-10);
      let e = 0;
      for (let q = 0; q < s * s; q++) e = Math.max(e, Math.abs(u[q]! - m.u[q]!));
      return e;
    });
    const orders = errs.slice(1).map((e, k) => Math.log2(errs[k]! / e));
    for (const p of orders) assert.ok(p >= 1.8 && p <= 2.2, `observed order ${p} (errors ${errs.join(', ')})`);
    assert.ok(errs[3]! < 1e-3, `error at s = 129: ${errs[3]}`);
  });

  it('satisfies the discrete equations to the tolerance with a reasonable number of PCG iterations', () => {
    const s = 65;
    const a = darcyPermeability(darcyGrf(s, new Rng(7)));
    const iters: Record<string, number> = {};
    let ref: Float64Array | null = null;
    for (const pre of ['mic0', 'ic0', 'jacobi'] as const) {
      const { u, iterations, residual } = solveDarcy(a, s, { preconditioner: pre });
      const chk = discreteResidual(a, u, s, 1);
      assert.ok(residual <= 1e-10, `${pre}: reported residual ${residual}`);
      assert.ok(chk.rel <= 1.01e-10, `${pre}: independent residual ${chk.rel}`);
      assert.ok(Math.abs(chk.rel - residual) <= 1e-3 * residual + 1e-14, `${pre}: ${chk.rel} vs ${residual}`);
      assert.equal(chk.boundaryMax, 0);
      assert.ok(u.every((v) => v >= 0), 'f ≥ 0 gives u ≥ 0 (discrete maximum principle)');
      iters[pre] = iterations;
      if (ref) {
        let d = 0;
        for (let q = 0; q < s * s; q++) d = Math.max(d, Math.abs(u[q]! - ref[q]!));
        assert.ok(d < 1e-8, `${pre} differs from mic0 by ${d}`);
      } else ref = u;
    }
    // Measured at s = 65: mic0 ≈ 42, ic0 ≈ 84, jacobi ≈ 275.
    assert.ok(iters.mic0! >= 10 && iters.mic0! <= 80, `mic0 ${iters.mic0}`);
    assert.ok(iters.ic0! > iters.mic0! && iters.ic0! <= 150, `ic0 ${iters.ic0}`);
    assert.ok(iters.jacobi! > iters.ic0! && iters.jacobi! <= 500, `jacobi ${iters.jacobi}`);
    // A looser tolerance takes fewer iterations and still meets it.
    const loose = solveDarcy(a, s, { tol: 1e-4 });
    assert.ok(loose.residual <= 1e-4 && loose.iterations < iters.mic0!);
  });

  it('solves the constant-coefficient problem exactly at s = 3 (one unknown: 4a·u/h² = f)', () => {
    const a = new Float64Array(9).fill(2);
    const { u, iterations } = solveDarcy(a, 3, { f: 5 });
    assert.equal(iterations, 1);
    assert.ok(Math.abs(u[4]! - (5 * 0.25) / 8) < 1e-15);
    assert.deepEqual([...u].filter((_, q) => q !== 4), [0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('rejects bad input with named errors', () => {
    const s = 9;
    const good = new Float64Array(s * s).fill(1);
    assert.throws(() => solveDarcy(new Float64Array(4).fill(1), 2), DarcyResolutionError);
    assert.throws(() => solveDarcy(good, 8), DarcyResolutionError);
    const zero = Float64Array.from(good);
    zero[40] = 0;
    assert.throws(() => solveDarcy(zero, s), (e: unknown) => e instanceof DarcyCoefficientError && /positive/.test(e.message) && /\(4, 4\)/.test(e.message));
    const neg = Float64Array.from(good);
    neg[0] = -3;
    assert.throws(() => solveDarcy(neg, s), DarcyCoefficientError);
    const nan = Float64Array.from(good);
    nan[10] = NaN;
    assert.throws(() => solveDarcy(nan, s), DarcyCoefficientError);
    assert.throws(() => solveDarcy(good, s, { f: new Float64Array(3) }), DarcyCoefficientError);
    const a = darcyPermeability(darcyGrf(33, new Rng(3)));
    assert.throws(
      () => solveDarcy(a, 33, { maxIter: 3 }),
      (e: unknown) => e instanceof DarcyConvergenceError && e instanceof DarcyError && e.iterations === 3 && e.residual > 1e-10 && /did not reach/.test(e.message),
    );
    assert.throws(() => solveDarcy(a, 33, { tol: 0 }), DarcyError);
  });
});

describe('darcyGrf', () => {
  it('has the prescribed cosine spectrum c_k² within sampling error (200 fields at s = 33)', () => {
    const s = 33;
    const N = s - 1;
    const m = 200;
    // Discrete orthogonality of DCT-I: Σ_i w_i cos(πk i/N) cos(πl i/N) = δ_kl·(N for k ∈ {0, N}, else N/2),
    // w_i = 1/2 at i = 0, N and 1 inside.
    const w = (i: number): number => (i === 0 || i === N ? 0.5 : 1);
    const norm = (k: number): number => (k === 0 || k === N ? N : N / 2);
    const cos = new Float64Array(s * s);
    for (let i = 0; i < s; i++) for (let k = 0; k < s; k++) cos[i * s + k] = w(i) * Math.cos((PI * k * i) / N) / norm(k);
    const sum = new Float64Array(s * s);
    const sumSq = new Float64Array(s * s);
    const rng = new Rng(2024);
    const t = new Float64Array(s * s);
    for (let n = 0; n < m; n++) {
      const a = darcyGrf(s, rng);
      // coef[k1, k2] = Σ_ij P[i, k1] a[i, j] P[j, k2] with P[i, k] = w_i cos(πk x_i)/norm_k.
      t.fill(0);
      for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) for (let k2 = 0; k2 < s; k2++) t[i * s + k2]! += a[i * s + j]! * cos[j * s + k2]!;
      for (let k1 = 0; k1 < s; k1++) {
        for (let k2 = 0; k2 < s; k2++) {
          let v = 0;
          for (let i = 0; i < s; i++) v += cos[i * s + k1]! * t[i * s + k2]!;
          sum[k1 * s + k2]! += v;
          sumSq[k1 * s + k2]! += v * v;
        }
      }
    }
    const se = Math.sqrt(2 / (m - 1));
    let ratioSum = 0;
    let count = 0;
    for (let k1 = 0; k1 < s; k1++) {
      for (let k2 = 0; k2 < s; k2++) {
        const q = k1 * s + k2;
        const mean = sum[q]! / m;
        const variance = (sumSq[q]! - m * mean * mean) / (m - 1);
        if (k1 === 0 && k2 === 0) {
          assert.ok(Math.sqrt(sumSq[q]! / m) < 1e-12, `mean mode ${sumSq[q]}`);
          continue;
        }
        const c2 = grfCoefficient(k1, k2) ** 2;
        const ratio = variance / c2;
        if (k1 <= 5 && k2 <= 5) assert.ok(Math.abs(ratio - 1) <= 4.5 * se, `k = (${k1}, ${k2}): sample variance / c_k² = ${ratio}`);
        ratioSum += ratio;
        count++;
      }
    }
    // All s² − 1 modes together: the mean ratio has standard error se/√count (independent modes).
    const meanRatio = ratioSum / count;
    assert.ok(Math.abs(meanRatio - 1) <= 4 * (se / Math.sqrt(count)), `mean ratio ${meanRatio} over ${count} modes`);
    // The coefficient formula itself.
    assert.ok(Math.abs(grfCoefficient(1, 0) - 3 / (PI * PI + 9)) < 1e-15);
    assert.ok(Math.abs(grfCoefficient(2, 3, 3, 2) - 4 * (13 * PI * PI + 4) ** -1.5) < 1e-15);
  });

  it('thresholding gives only 3 and 12, with both present', () => {
    const s = 65;
    const field = darcyGrf(s, new Rng(11));
    const a = darcyPermeability(field);
    const n12 = a.filter((v) => v === 12).length;
    const n3 = a.filter((v) => v === 3).length;
    assert.equal(n12 + n3, s * s);
    assert.ok(n12 > 0 && n3 > 0, `${n12} of 12, ${n3} of 3`);
    for (let q = 0; q < s * s; q++) assert.equal(a[q], field[q]! >= 0 ? 12 : 3);
    assert.deepEqual([...darcyPermeability(Float64Array.from([0, -0, -1e-300, 1e-300]))], [12, 12, 3, 12]);
    assert.throws(() => darcyPermeability(Float64Array.from([NaN])), DarcyCoefficientError);
  });

  it('rejects resolutions below 3 and bad alpha/tau', () => {
    assert.throws(() => darcyGrf(2, new Rng(0)), DarcyResolutionError);
    assert.throws(() => darcyGrf(4.5, new Rng(0)), DarcyResolutionError);
    assert.throws(() => darcyGrf(9, new Rng(0), { tau: 0 }), DarcyError);
    assert.throws(() => darcyGrf(9, new Rng(0), { alpha: -1 }), DarcyError);
  });
});

describe('subsampling', () => {
  it('subsampleFactorsFor lists the divisors of s − 1 that leave ≥ 3 points', () => {
    assert.deepEqual(subsampleFactorsFor(257), [1, 2, 4, 8, 16, 32, 64, 128]);
    assert.deepEqual(subsampleFactorsFor(421).slice(0, 7), [1, 2, 3, 4, 5, 6, 7]);
    assert.ok(subsampleFactorsFor(421).includes(210) && !subsampleFactorsFor(421).includes(420));
    assert.deepEqual(subsampleFactorsFor(3), [1]);
    assert.deepEqual([2, 3, 4, 5, 7].map((r) => subsampledResolution(421, r)), [211, 141, 106, 85, 61]);
    assert.throws(() => subsampleFactorsFor(2), DarcyResolutionError);
    assert.throws(() => subsampledResolution(256, 2), (e: unknown) => e instanceof DarcySubsampleError && /does not divide s − 1 = 255/.test(e.message));
    assert.throws(() => subsampledResolution(33, 0), DarcySubsampleError);
    assert.throws(() => subsampledResolution(33, 32), DarcySubsampleError);
  });

  it('the coarse data equal the fine data at every r-th point', () => {
    const d = generateDarcy({ n: 3, resolution: 33, seed: 5, subsample: [1, 2, 4, 8] });
    assert.deepEqual(d.resolutions, [33, 17, 9, 5]);
    assert.deepEqual(d.meta.subsample, [1, 2, 4, 8]);
    const s = 33;
    for (let q = 1; q < 4; q++) {
      const r = d.meta.subsample[q]!;
      const c = d.resolutions[q]!;
      assert.equal(d.x[q]!.length, 3 * c * c);
      for (let k = 0; k < 3; k++) {
        for (let i = 0; i < c; i++) {
          for (let j = 0; j < c; j++) {
            assert.equal(d.x[q]![k * c * c + i * c + j], d.x[0]![k * s * s + i * r * s + j * r]);
            assert.equal(d.y[q]![k * c * c + i * c + j], d.y[0]![k * s * s + i * r * s + j * r]);
          }
        }
      }
    }
    // subsampleField agrees, and the fine data are the single-sample generator's, rounded to float32.
    const one = generateDarcySample(5, 1, s);
    assert.deepEqual(subsampleField(Float32Array.from(one.u), s, 4), d.y[2]!.slice(81, 162));
    assert.deepEqual(Float32Array.from(one.a), d.x[0]!.slice(s * s, 2 * s * s));
    assert.ok(d.y[0]!.some((v) => v > 0));
    assert.throws(() => generateDarcy({ n: 1, resolution: 33, seed: 5, subsample: [3] }), DarcySubsampleError);
    assert.throws(() => generateDarcy({ n: 1, resolution: 33, seed: 5, subsample: [2, 2] }), DarcySubsampleError);
    assert.throws(() => generateDarcy({ n: 1, resolution: 2, seed: 5 }), DarcyResolutionError);
  });
});

describe('generateDarcy', () => {
  it('is deterministic per seed and independent of the order in which samples are generated', () => {
    const opts = { n: 4, resolution: 17, seed: 123, subsample: [1, 2] };
    const seen: number[] = [];
    const d1 = generateDarcy({ ...opts, onSample: (i) => seen.push(i) });
    const d2 = generateDarcy(opts);
    assert.deepEqual(seen, [0, 1, 2, 3]);
    assert.deepEqual(d1.x, d2.x);
    assert.deepEqual(d1.y, d2.y);
    assert.deepEqual(d1.meta, { pde: 'darcy', alpha: 2, tau: 3, f: 1, tol: 1e-10, resolution: 17, seed: 123, subsample: [1, 2], start: 0, preconditioner: 'mic0' });
    // Samples in reverse order, one at a time, and a shard starting at 2, give the same data.
    const s = 17;
    for (const k of [3, 2, 1, 0]) {
      const one = generateDarcySample(123, k, s);
      assert.deepEqual(Float32Array.from(one.a), d1.x[0]!.slice(k * s * s, (k + 1) * s * s));
      assert.deepEqual(Float32Array.from(one.u), d1.y[0]!.slice(k * s * s, (k + 1) * s * s));
    }
    const shard = generateDarcy({ ...opts, n: 2, start: 2 });
    assert.deepEqual(shard.x[1], d1.x[1]!.slice(2 * 81));
    assert.deepEqual(shard.y[0], d1.y[0]!.slice(2 * s * s));
    // Different seeds and different samples differ.
    const d3 = generateDarcy({ ...opts, seed: 124 });
    assert.notDeepEqual(d3.x[0], d1.x[0]);
    assert.notDeepEqual(d1.x[0]!.slice(0, s * s), d1.x[0]!.slice(s * s, 2 * s * s));
    const seeds = new Set<number>();
    for (let seed = 0; seed < 20; seed++) for (let i = 0; i < 20; i++) seeds.add(darcySampleSeed(seed, i));
    assert.equal(seeds.size, 400);
    assert.ok([...seeds].every((v) => Number.isSafeInteger(v) && v >= 0));
  });

  it('rejects bad n, seed and solver options with named errors', () => {
    assert.throws(() => generateDarcy({ n: -1, resolution: 9, seed: 0 }), DarcyError);
    assert.throws(() => generateDarcy({ n: 1, resolution: 9, seed: 0.5 }), DarcyError);
    assert.throws(() => generateDarcy({ n: 1, resolution: 33, seed: 0, maxIter: 2 }), DarcyConvergenceError);
  });
});

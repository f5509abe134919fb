import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../../src/core/rng.js';
import { ShallowWaterSolver, generateSwe, releaseSweState } from '../../../src/data/generators/swe.js';

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('shallow-water solver on the rotating sphere', () => {
  it('conserves total mass to round-off over many steps from random initial conditions (Mach 0.2)', () => {
    const solver = new ShallowWaterSolver({ nlat: 32, nlon: 64, dt: 1200 });
    assert.equal(solver.lmax, 11); // ⌈32/3⌉
    const s0 = solver.randomInitialCondition([new Rng(1), new Rng(2)], 0.2);
    const g0 = solver.grids(s0);
    const m0 = solver.integrate(g0.phi);
    const s1 = solver.step(s0, 72); // one day
    const g1 = solver.grids(s1);
    const m1 = solver.integrate(g1.phi);
    for (let r = 0; r < 2; r++) assert.ok(Math.abs(m1[r]! - m0[r]!) / m0[r]! < 1e-13, `sample ${r}: mass ${m0[r]} → ${m1[r]}`);
    // the flow did evolve
    assert.ok(maxDiff(g1.vrt.toFloat64(), g0.vrt.toFloat64()) > 0.1 * maxAbs(g0.vrt.toFloat64()));
    for (const g of [g0, g1]) for (const t of [g.phi, g.vrt, g.div]) t.release();
    releaseSweState(s0);
    releaseSweState(s1);
  });

  it('random initial conditions of one seed share their low-degree coefficients across truncations', () => {
    const a = new ShallowWaterSolver({ nlat: 32, nlon: 64, dt: 1200 });
    const b = new ShallowWaterSolver({ nlat: 64, nlon: 128, dt: 600 });
    const sa = a.randomInitialCondition([new Rng(9)]);
    const sb = b.randomInitialCondition([new Rng(9)]);
    const [La, Lb] = [a.lmax, b.lmax];
    for (const k of ['phi', 'vrt', 'div'] as const) {
      const [ra, rb] = [sa[k].re.toFloat64(), sb[k].re.toFloat64()];
      for (let m = 0; m < La; m++) for (let l = m; l < La; l++) assert.equal(ra[m * La + l], rb[m * Lb + l], `${k} (l ${l}, m ${m})`);
    }
    releaseSweState(sa);
    releaseSweState(sb);
  });

  it('keeps Williamson test case 2 (steady nonlinear zonal flow) steady for 5 days', () => {
    const solver = new ShallowWaterSolver({ nlat: 32, nlon: 64, dt: 1200, lmax: 16, mmax: 16 });
    const s0 = solver.williamson2();
    const t0 = solver.tendency(s0);
    // the balance is exact for these degree-≤2 fields: tendencies vanish to round-off
    const scale = maxAbs(solver.grids(s0).phi.toFloat64());
    assert.ok(maxAbs(t0.phi.re.toFloat64()) * 86400 < 1e-9 * scale, `dΦ/dt ${maxAbs(t0.phi.re.toFloat64())}`);
    const s1 = solver.step(s0, 360);
    const [g0, g1] = [solver.grids(s0), solver.grids(s1)];
    // what changes is the hyperdiffusion's (tiny) damping of the degree-1 vorticity: ×(1 − 8e-10) per step
    const e = maxDiff(g1.phi.toFloat64(), g0.phi.toFloat64()) / maxAbs(g0.phi.toFloat64());
    assert.ok(e < 1e-7, `relative change of Φ after 5 days: ${e}`);
    const ev = maxDiff(g1.vrt.toFloat64(), g0.vrt.toFloat64()) / maxAbs(g0.vrt.toFloat64());
    assert.ok(ev < 1e-6, `relative change of ζ after 5 days: ${ev}`);
    for (const g of [g0, g1]) for (const t of [g.phi, g.vrt, g.div]) t.release();
    for (const s of [s0, s1, t0]) releaseSweState(s);
  });

  it('the Galewsky jet: stays zonal and keeps its strength without the bump, develops waves with it, conserves mass', () => {
    // neuralop's truncation and step for 64 latitudes (lmax ⌈64/3⌉ = 22, dt 600 s): the AB3 limit for gravity waves
    const solver = new ShallowWaterSolver({ nlat: 64, nlon: 128, dt: 600 });
    const steps = 144; // one day
    const nonZonal = (c: { re: { toFloat64(): Float64Array }; im: { toFloat64(): Float64Array } }) => {
      const L = solver.lmax;
      let z = 0;
      let nz = 0;
      for (const t of [c.re.toFloat64(), c.im.toFloat64()]) t.forEach((v, i) => (i < L ? (z += v * v) : (nz += v * v)));
      return Math.sqrt(nz / (z + nz));
    };
    const q0 = solver.galewsky(false);
    const quiet = solver.step(q0, steps);
    const b0 = solver.galewsky(true);
    const m0 = solver.integrate(solver.grids(b0).phi)[0]!;
    const bumped = solver.step(b0, steps);
    // zonal symmetry is exact in the dynamics: no order m > 0 appears from a zonal state
    assert.ok(nonZonal(quiet.vrt) < 1e-12, `unperturbed jet, non-zonal vorticity fraction ${nonZonal(quiet.vrt)}`);
    assert.ok(nonZonal(bumped.vrt) > 1e-3, `perturbed jet, non-zonal vorticity fraction ${nonZonal(bumped.vrt)}`);
    // the jet's peak vorticity (≈ 1e-4 1/s at this truncation) decays only by the hyperdiffusion, whose
    // e-folding time at the top degree is 2 hours (about a third of the peak in a day at T22)
    const peak = (s: typeof quiet) => maxAbs(solver.grids(s).vrt.toFloat64());
    assert.ok(peak(quiet) > 0.5 * peak(q0) && peak(q0) > 5e-5 && peak(q0) < 2e-4, `peak ζ ${peak(q0)} → ${peak(quiet)}`);
    const m1 = solver.integrate(solver.grids(bumped).phi)[0]!;
    assert.ok(Math.abs(m1 - m0) / m0 < 1e-13, `mass ${m0} → ${m1}`);
    for (const s of [q0, quiet, b0, bumped]) releaseSweState(s);
  });

  it('generateSwe follows neuralop’s recipe (steps, truncation, three channels) and is deterministic in (seed, index)', () => {
    const a = generateSwe({ n: 3, seed: 5, nlat: 32, nlon: 64, chunk: 2 });
    assert.equal(a.meta.nsteps, 3); // 3600 s / (256/32·150 s)
    assert.equal(a.meta.lmax, 11);
    assert.equal(a.x.length, 3 * 3 * 32 * 64);
    const b = generateSwe({ n: 2, start: 1, seed: 5, nlat: 32, nlon: 64, chunk: 1 });
    const per = 3 * 32 * 64;
    assert.deepEqual(Array.from(b.x.subarray(0, 2 * per)), Array.from(a.x.subarray(per, 3 * per)));
    assert.deepEqual(Array.from(b.y.subarray(0, 2 * per)), Array.from(a.y.subarray(per, 3 * per)));
    // normalised per channel by sample 0's input: mean 0, std 1 there
    const n = 32 * 64;
    for (let c = 0; c < 3; c++) {
      const ch = Array.from(a.x.subarray(c * n, (c + 1) * n));
      const m = ch.reduce((s, v) => s + v, 0) / n;
      const sd = Math.sqrt(ch.reduce((s, v) => s + (v - m) ** 2, 0) / (n - 1));
      assert.ok(Math.abs(m) < 1e-5 && Math.abs(sd - 1) < 1e-5, `channel ${c}: mean ${m}, std ${sd}`);
    }
    assert.equal(a.meta.normalization!.mean.length, 3);
    // raw: geopotential near g·havg ≈ 9.8e4 m²/s²
    const raw = generateSwe({ n: 1, seed: 5, nlat: 32, nlon: 64, normalize: false });
    const phi = raw.x.subarray(0, n);
    assert.ok(Math.abs(phi.reduce((s, v) => s + v, 0) / phi.length - 9.80616e4) < 2e3);
    assert.equal(raw.meta.normalization, null);
    assert.throws(() => generateSwe({ n: 1, seed: 0, nlat: 32, nlon: 64, dt: 600 }), /dt 600 s is shorter than one solver step \(1200 s at nlat 32\)/);
  });

  it('names bad grids, a non-finite state and a blow-up', () => {
    assert.throws(() => new ShallowWaterSolver({ nlat: 32, nlon: 63, dt: 1200 }), /nlon must be even, got 63/);
    assert.throws(() => new ShallowWaterSolver({ nlat: 32, nlon: 16, dt: 1200 }), /nlon 16 must be at least 2·mmax = 22/);
    assert.throws(() => new ShallowWaterSolver({ nlat: 8, nlon: 64, dt: 1200, lmax: 12 }), /lmax must be an integer in 1…8/);
    assert.throws(() => new ShallowWaterSolver({ nlat: 32, nlon: 64, dt: 1200, grid: 'healpix' as 'equiangular' }), /grid must be one of equiangular, legendre-gauss/);
    const solver = new ShallowWaterSolver({ nlat: 32, nlon: 64, dt: 1200 });
    const s = solver.randomInitialCondition([new Rng(1)]);
    const d = s.vrt.re.toFloat64();
    d[5] = NaN;
    s.vrt.re.set(d);
    assert.throws(() => solver.step(s, 1), /the initial state holds a non-finite value/);
    releaseSweState(s);
    // dt four times too long for lmax 11: gravity waves grow until the state overflows
    const fast = new ShallowWaterSolver({ nlat: 32, nlon: 64, dt: 9000 });
    const s2 = fast.randomInitialCondition([new Rng(2)], 0.2);
    assert.throws(() => fast.step(s2, 2000), /blow-up at step \d+ of 2000 .*ω·dt = 4\.\d+ for the fastest gravity wave at lmax 11/);
    releaseSweState(s2);
  });
});

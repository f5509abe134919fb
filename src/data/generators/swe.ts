/**
 * The shallow-water equations on the rotating sphere, solved spectrally as torch-harmonics'
 * ShallowWaterSolver does (the solver behind neuralop's load_spherical_swe), and the data set made
 * from it.
 *
 * State: spherical-harmonic coefficients of the geopotential Φ = g·h, the vorticity ζ and the
 * divergence δ (mode-major [mmax, lmax, R] for R samples at once). The tendencies, in vector-invariant
 * form with q = ζ + f the absolute vorticity, f = 2Ω·sin(latitude):
 *   ∂ζ/∂t = −∇·(q·u),   ∂δ/∂t = k̂·∇×(q·u) − ∇²(Φ + |u|²/2),   ∂Φ/∂t = −∇·(Φ·u)
 * the products formed on the grid, every derivative taken spectrally (the vector SHT of fft/sht.ts).
 * Time stepping: third-order Adams–Bashforth, started with forward Euler and AB2, and after each step
 * an implicit hyperdiffusion of ζ and δ: ×exp(−(dt/2/3600 s)·(l(l+1)/((lmax−1)·lmax))⁴).
 *
 * Initial conditions: torch-harmonics' random one (coefficients of every kept degree and order,
 * scaled to a Mach number), Galewsky et al.'s (2004) barotropically unstable jet with its height
 * perturbation, and Williamson et al.'s (1992) test case 2 (steady zonal flow).
 *
 * Everything runs in float64 by default (float32 on request): the Legendre GEMMs and FFTs go
 * through the kernels, the pointwise products are plain loops over the grid.
 */
import type { DType } from '../../core/dtype.js';
import { Rng, streamSeed } from '../../core/rng.js';
import { ComplexTensor, Tensor } from '../../core/tensor.js';
import type { SphereGrid } from '../../fft/legendre.js';
import { type ShtPlan, ishtModes, shtModes, shtPlan, velocityFromVorticityDivergence, vorticityDivergence } from '../../fft/sht.js';

export interface ShallowWaterOptions {
  nlat: number;
  nlon: number;
  /** Time step in seconds. */
  dt: number;
  /** Degrees and orders kept (exclusive); default ⌈nlat/3⌉ each, as neuralop's data set. */
  lmax?: number;
  mmax?: number;
  grid?: SphereGrid;
  /** Sphere radius (m), rotation rate (1/s), gravity (m/s²), mean height (m), height amplitude (m). */
  radius?: number;
  omega?: number;
  gravity?: number;
  havg?: number;
  hamp?: number;
  dtype?: 'float64' | 'float32';
}

/** The spectral state: Φ, ζ, δ, each mode-major [mmax, lmax, R]. */
export interface SweState {
  phi: ComplexTensor;
  vrt: ComplexTensor;
  div: ComplexTensor;
}

/** Grid values [R, nlat, nlon] of a state's three fields. */
export interface SweGrids {
  phi: Tensor;
  vrt: Tensor;
  div: Tensor;
}

function releaseState(s: SweState): void {
  s.phi.release();
  s.vrt.release();
  s.div.release();
}

function arr(t: Tensor): Float64Array | Float32Array {
  return t.data as Float64Array | Float32Array;
}

export class ShallowWaterSolver {
  readonly plan: ShtPlan;
  readonly nlat: number;
  readonly nlon: number;
  readonly lmax: number;
  readonly mmax: number;
  readonly dt: number;
  readonly radius: number;
  readonly omega: number;
  readonly gravity: number;
  readonly havg: number;
  readonly hamp: number;
  readonly dtype: DType;
  /** Latitudes (rad) of the grid rows, north to south. */
  readonly lats: Float64Array;
  /** Coriolis parameter 2Ω·sin(latitude) per row. */
  readonly coriolis: Float64Array;
  /** −l(l+1)/a² per degree. */
  readonly lap: Float64Array;
  /** Hyperdiffusion factor per degree (one time step). */
  readonly hyperdiff: Float64Array;

  constructor(o: ShallowWaterOptions) {
    const op = 'ShallowWaterSolver';
    for (const [k, v] of [['nlat', o.nlat], ['nlon', o.nlon]] as const) {
      if (!Number.isInteger(v) || v < 4) throw new RangeError(`${op}: ${k} must be an integer ≥ 4, got ${v}`);
    }
    if (!(o.dt > 0) || !Number.isFinite(o.dt)) throw new RangeError(`${op}: dt must be a positive number of seconds, got ${o.dt}`);
    this.nlat = o.nlat;
    this.nlon = o.nlon;
    const l = o.lmax ?? Math.ceil(o.nlat / 3);
    const mm = o.mmax ?? l;
    // the products on the grid need every kept order resolved in longitude (and the even grid torch-harmonics uses)
    if (o.nlon % 2 !== 0) throw new RangeError(`${op}: nlon must be even, got ${o.nlon}`);
    if (Number.isInteger(mm) && o.nlon < 2 * mm) throw new RangeError(`${op}: nlon ${o.nlon} must be at least 2·mmax = ${2 * mm}`);
    this.plan = shtPlan(o.nlat, o.nlon, { lmax: l, mmax: mm, grid: o.grid ?? 'equiangular' });
    this.lmax = this.plan.lmax;
    this.mmax = this.plan.mmax;
    this.dt = o.dt;
    this.radius = o.radius ?? 6.37122e6;
    this.omega = o.omega ?? 7.292e-5;
    this.gravity = o.gravity ?? 9.80616;
    this.havg = o.havg ?? 10.0e3;
    this.hamp = o.hamp ?? 120.0;
    for (const [k, v] of [['radius', this.radius], ['gravity', this.gravity], ['havg', this.havg]] as const) {
      if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${op}: ${k} must be a positive number, got ${v}`);
    }
    this.dtype = o.dtype ?? 'float64';
    const theta = this.plan.lat.theta;
    this.lats = Float64Array.from(theta, (t) => Math.PI / 2 - t);
    this.coriolis = Float64Array.from(this.lats, (p) => 2 * this.omega * Math.sin(p));
    const a2 = this.radius * this.radius;
    this.lap = Float64Array.from({ length: this.lmax }, (_, k) => (-k * (k + 1)) / a2);
    const top = this.lap[this.lmax - 1]! || -1;
    this.hyperdiff = Float64Array.from(this.lap, (v) => Math.exp((-this.dt / 2 / 3600) * (v / top) ** 4));
  }

  private zeros(R: number): ComplexTensor {
    return ComplexTensor.zeros([this.mmax, this.lmax, R], this.dtype, 'data');
  }

  private grid(R: number): Tensor {
    return Tensor.zeros([R, this.nlat, this.nlon], this.dtype, 'data');
  }

  private toSpec(g: Tensor): ComplexTensor {
    return shtModes(g, this.plan);
  }

  private toGrid(c: ComplexTensor): Tensor {
    return ishtModes(c, this.plan);
  }

  /** Grid values of a state's Φ, ζ, δ. */
  grids(s: SweState): SweGrids {
    return { phi: this.toGrid(s.phi), vrt: this.toGrid(s.vrt), div: this.toGrid(s.div) };
  }

  /** The velocity (eastward u, northward v) [R, nlat, nlon] in m/s of a state's ζ, δ. */
  velocity(s: SweState): { u: Tensor; v: Tensor } {
    const uv = velocityFromVorticityDivergence(s.vrt, s.div, this.plan);
    for (const t of [uv.u, uv.v]) {
      const d = arr(t);
      for (let i = 0; i < d.length; i++) d[i] *= this.radius;
    }
    return uv;
  }

  /** Vorticity and divergence coefficients (1/s) of a velocity field (m/s). */
  vorticityDivergence(u: Tensor, v: Tensor): { vrt: ComplexTensor; div: ComplexTensor } {
    const r = vorticityDivergence(u, v, this.plan);
    for (const c of [r.vrt, r.div]) for (const t of [c.re, c.im]) {
      const d = arr(t);
      for (let i = 0; i < d.length; i++) d[i] /= this.radius;
    }
    return r;
  }

  /** Time derivative of a state. */
  tendency(s: SweState): SweState {
    const R = s.phi.shape[2]!;
    const { nlat, nlon } = this;
    const n = nlat * nlon;
    const phiG = this.toGrid(s.phi);
    const vrtG = this.toGrid(s.vrt);
    const { u, v } = this.velocity(s);
    const qu = this.grid(R);
    const qv = this.grid(R);
    const pu = this.grid(R);
    const pv = this.grid(R);
    const bern = this.grid(R);
    {
      const [P, Z, U, V] = [arr(phiG), arr(vrtG), arr(u), arr(v)];
      const [QU, QV, PU, PV, E] = [arr(qu), arr(qv), arr(pu), arr(pv), arr(bern)];
      for (let i = 0; i < R * n; i++) {
        const q = Z[i]! + this.coriolis[Math.floor(i / nlon) % nlat]!;
        QU[i] = q * U[i]!;
        QV[i] = q * V[i]!;
        PU[i] = P[i]! * U[i]!;
        PV[i] = P[i]! * V[i]!;
        E[i] = P[i]! + 0.5 * (U[i]! * U[i]! + V[i]! * V[i]!);
      }
    }
    for (const t of [phiG, vrtG, u, v]) t.release();
    const a = this.vorticityDivergence(qu, qv);
    const b = this.vorticityDivergence(pu, pv);
    const e = this.toSpec(bern);
    for (const t of [qu, qv, pu, pv, bern]) t.release();
    b.vrt.release();
    // ∂ζ = −δ(q·u); ∂δ = ζ(q·u) − ∇²(Φ + KE); ∂Φ = −δ(Φ·u)
    const L = this.lmax;
    for (const t of [a.div.re, a.div.im, b.div.re, b.div.im]) {
      const d = arr(t);
      for (let i = 0; i < d.length; i++) d[i] = -d[i]!;
    }
    for (const [dst, src] of [[a.vrt.re, e.re], [a.vrt.im, e.im]] as const) {
      const d = arr(dst);
      const es = arr(src);
      for (let i = 0; i < d.length; i++) d[i] = d[i]! - this.lap[Math.floor(i / R) % L]! * es[i]!;
    }
    e.release();
    return { phi: b.div, vrt: a.div, div: a.vrt };
  }

  /**
   * nsteps steps of AB3 (Euler, then AB2, to start) with hyperdiffusion of ζ and δ after each;
   * returns a new state (the input is kept). `onStep(k)` after step k (1-based).
   */
  step(s0: SweState, nsteps: number, onStep?: (k: number) => void): SweState {
    if (!Number.isInteger(nsteps) || nsteps < 0) throw new RangeError(`ShallowWaterSolver.step: nsteps must be a non-negative integer, got ${nsteps}`);
    const R = s0.phi.shape[2]!;
    const L = this.lmax;
    if (!this.finite(s0)) throw new RangeError('ShallowWaterSolver.step: the initial state holds a non-finite value');
    const copy = (c: ComplexTensor) => new ComplexTensor(c.re.clone('data'), c.im.clone('data'));
    let s: SweState = { phi: copy(s0.phi), vrt: copy(s0.vrt), div: copy(s0.div) };
    const hist: SweState[] = [];
    for (let k = 0; k < nsteps; k++) {
      hist.unshift(this.tendency(s));
      if (hist.length > 3) releaseState(hist.pop()!);
      const [f0, f1, f2] = [hist[0]!, hist[1] ?? hist[0]!, hist[2] ?? hist[1] ?? hist[0]!];
      for (const key of ['phi', 'vrt', 'div'] as const) {
        const diffuse = key !== 'phi';
        for (const part of ['re', 'im'] as const) {
          const y = arr(s[key][part]);
          const [a, b, c] = [arr(f0[key][part]), arr(f1[key][part]), arr(f2[key][part])];
          for (let i = 0; i < y.length; i++) {
            const v = y[i]! + this.dt * ((23 / 12) * a[i]! - (16 / 12) * b[i]! + (5 / 12) * c[i]!);
            y[i] = diffuse ? this.hyperdiff[Math.floor(i / R) % L]! * v : v;
          }
        }
      }
      if (!this.finite(s)) {
        for (const h of hist) releaseState(h);
        releaseState(s);
        const omega = (Math.sqrt(this.gravity * this.havg) * Math.sqrt(L * (L - 1))) / this.radius;
        throw new RangeError(`ShallowWaterSolver: blow-up at step ${k + 1} of ${nsteps} (t = ${((k + 1) * this.dt).toFixed(0)} s): the state became non-finite; dt ${this.dt} s gives ω·dt = ${(omega * this.dt).toFixed(2)} for the fastest gravity wave at lmax ${L} (AB3 needs about 0.7 or less)`);
      }
      onStep?.(k + 1);
    }
    for (const h of hist) releaseState(h);
    return s;
  }

  /** Whether every coefficient of a state is finite. */
  private finite(s: SweState): boolean {
    for (const c of [s.phi, s.vrt, s.div]) for (const t of [c.re, c.im]) {
      const d = arr(t);
      for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return false;
    }
    return true;
  }

  /**
   * torch-harmonics' random initial condition for R samples: every coefficient with m ≤ l (m < mmax,
   * l < lmax) complex normal times √(4π/(120·121)); Φ scaled by g·hamp plus √(4π)·g·havg at l = m = 0,
   * ζ and δ by mach·√(g·havg)/a. (Imaginary parts at m = 0, which no real field has, are zero.)
   */
  randomInitialCondition(rngs: readonly Rng[], mach = 0.2): SweState {
    const R = rngs.length;
    const { lmax: L, mmax: M } = this;
    const s: SweState = { phi: this.zeros(R), vrt: this.zeros(R), div: this.zeros(R) };
    const scale = Math.sqrt((4 * Math.PI) / 120 / 121);
    const amp = [this.gravity * this.hamp, (mach * Math.sqrt(this.gravity * this.havg)) / this.radius, (mach * Math.sqrt(this.gravity * this.havg)) / this.radius];
    const fields = [s.phi, s.vrt, s.div];
    // per sample, in (l, m, field) order: a sample does not depend on R, and a lower truncation draws a
    // prefix of a higher one's numbers (the same low-degree state on every grid of a seed)
    rngs.forEach((rng, r) => {
      const parts = fields.map((f) => [arr(f.re), arr(f.im)] as const);
      for (let l = 0; l < L; l++) for (let m = 0; m <= l && m < M; m++) {
        const i = (m * L + l) * R + r;
        parts.forEach(([re, im], c) => {
          re[i] = (amp[c]! * scale * rng.normal()) / Math.SQRT2;
          const v = (amp[c]! * scale * rng.normal()) / Math.SQRT2;
          im[i] = m === 0 ? 0 : v;
        });
      }
      arr(s.phi.re)[r] += Math.sqrt(4 * Math.PI) * this.havg * this.gravity;
    });
    return s;
  }

  /** The spectral state of gridded fields (Φ from the height h, ζ and δ from the velocity). */
  fromGrid(h: Tensor, u: Tensor, v: Tensor): SweState {
    const R = h.shape[0]!;
    const phiG = this.grid(R);
    const P = arr(phiG);
    const H = arr(h);
    for (let i = 0; i < P.length; i++) P[i] = this.gravity * H[i]!;
    const phi = this.toSpec(phiG);
    phiG.release();
    const { vrt, div } = this.vorticityDivergence(u, v);
    return { phi, vrt, div };
  }

  /** Fills a grid [1, nlat, nlon] from f(latitude, longitude). */
  private field(f: (lat: number, lon: number) => number): Tensor {
    const t = this.grid(1);
    const d = arr(t);
    for (let k = 0; k < this.nlat; k++) for (let j = 0; j < this.nlon; j++) d[k * this.nlon + j] = f(this.lats[k]!, (2 * Math.PI * j) / this.nlon);
    return t;
  }

  /**
   * Williamson et al. (1992) test case 2, α = 0: u = u0·cos(lat), v = 0, g·h = g·h0 − (a·Ω·u0 + u0²/2)·sin²(lat),
   * u0 = 2πa/12 days, g·h0 = 2.94·10⁴ m²/s²: a steady solution of the nonlinear equations.
   */
  williamson2(): SweState {
    const u0 = (2 * Math.PI * this.radius) / (12 * 86400);
    const gh0 = 2.94e4;
    const h = this.field((p) => (gh0 - (this.radius * this.omega * u0 + 0.5 * u0 * u0) * Math.sin(p) ** 2) / this.gravity);
    const u = this.field((p) => u0 * Math.cos(p));
    const v = this.field(() => 0);
    const s = this.fromGrid(h, u, v);
    for (const t of [h, u, v]) t.release();
    return s;
  }

  /**
   * Galewsky et al. (2004): a zonal jet u = (umax/e_n)·exp(1/((φ − φ0)(φ − φ1))) between φ0 = π/7 and
   * φ1 = π/2 − φ0 (umax 80 m/s), its geopotential in gradient-wind balance (∇²Φ = k̂·∇×(q·u) − ∇²|u|²/2,
   * mean height havg), plus the height bump h' = hamp·cos φ·exp(−(λ'/α)²)·exp(−((φ2 − φ)/β)²), λ' = λ − π,
   * α = 1/3, β = 1/15, φ2 = π/4 that sets off the barotropic instability (`perturb` false: none).
   */
  galewsky(perturb = true): SweState {
    const umax = 80;
    const p0 = Math.PI / 7;
    const p1 = Math.PI / 2 - p0;
    const p2 = Math.PI / 4;
    const en = Math.exp(-4 / (p1 - p0) ** 2);
    const alpha = 1 / 3;
    const beta = 1 / 15;
    const u = this.field((p) => (p > p0 && p < p1 ? (umax / en) * Math.exp(1 / ((p - p0) * (p - p1))) : 0));
    const v = this.field(() => 0);
    const { vrt, div } = this.vorticityDivergence(u, v);
    // balance: Φ = ∇⁻²(k̂·∇×(q·u)) − |u|²/2 (+ g·havg + the bump)
    const vrtG = this.toGrid(vrt);
    const qu = this.grid(1);
    const qv = this.grid(1);
    const ke = this.grid(1);
    {
      const [Z, U, QU, KE] = [arr(vrtG), arr(u), arr(qu), arr(ke)];
      for (let i = 0; i < U.length; i++) {
        QU[i] = (Z[i]! + this.coriolis[Math.floor(i / this.nlon)]!) * U[i]!;
        KE[i] = 0.5 * U[i]! * U[i]!;
      }
    }
    const c = this.vorticityDivergence(qu, qv);
    const keS = this.toSpec(ke);
    const base = this.field((p, lam) => this.gravity * (this.havg + (perturb ? this.hamp * Math.cos(p) * Math.exp(-(((lam - Math.PI) / alpha) ** 2)) * Math.exp(-(((p2 - p) / beta) ** 2)) : 0)));
    const phi = this.toSpec(base);
    const L = this.lmax;
    for (const part of ['re', 'im'] as const) {
      const P = arr(phi[part]);
      const C = arr(c.vrt[part]);
      const K = arr(keS[part]);
      for (let i = 0; i < P.length; i++) {
        const l = i % L; // R = 1: index (m·L + l)
        P[i] = P[i]! + (l === 0 ? 0 : C[i]! / this.lap[l]!) - K[i]!;
      }
    }
    for (const t of [u, v, vrtG, qu, qv, ke, base]) t.release();
    c.vrt.release();
    c.div.release();
    keS.release();
    return { phi, vrt, div };
  }

  /** ∫ f dA over the sphere (m² × f's unit) of each of R grids [R, nlat, nlon], by the grid's quadrature. */
  integrate(g: Tensor): Float64Array {
    const R = g.shape[0]!;
    const d = arr(g);
    const w = this.plan.lat.weights;
    const out = new Float64Array(R);
    const dlon = (2 * Math.PI) / this.nlon;
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let k = 0; k < this.nlat; k++) {
        let row = 0;
        for (let j = 0; j < this.nlon; j++) row += d[(r * this.nlat + k) * this.nlon + j]!;
        s += w[k]! * row;
      }
      out[r] = s * dlon * this.radius * this.radius;
    }
    return out;
  }
}

export { releaseState as releaseSweState };

export interface GenerateSweOptions {
  n: number;
  /** Index of the first sample (samples are deterministic in (seed, index)). */
  start?: number;
  seed: number;
  nlat: number;
  nlon: number;
  /** Time from input to target (s); default 3600. */
  dt?: number;
  /**
   * Degrees and orders of the solver (default ⌈nlat/3⌉, neuralop's recipe). The same lmax on a finer
   * grid gives the same samples (one seed draws the same coefficients) resolved on more points: a
   * zero-shot super-resolution test set.
   */
  lmax?: number;
  /**
   * Solver steps from input to target (default neuralop's ⌊dt / (150·256/nlat s)⌋). With lmax, a finer
   * grid given the coarse grid's steps integrates the coarse data set's samples with the same scheme.
   */
  nsteps?: number;
  mach?: number;
  grid?: SphereGrid;
  /** 'random' (default) or 'galewsky' (every sample the same jet). */
  initialCondition?: 'random' | 'galewsky';
  /** Samples integrated at once (default 8). */
  chunk?: number;
  /**
   * Normalise x and y per channel by the mean and variance (unbiased, as torch.var) over the grid of
   * the input of sample 0, as neuralop's SphericalSWEDataset does with its first sample (default true).
   */
  normalize?: boolean;
  onSample?: (i: number) => void;
}

export interface SweMeta {
  pde: 'swe';
  nlat: number;
  nlon: number;
  grid: SphereGrid;
  lmax: number;
  mmax: number;
  dt: number;
  solverDt: number;
  nsteps: number;
  mach: number;
  initialCondition: string;
  channels: string[];
  scheme: string;
  /** Per channel, what was subtracted and divided by (null: raw values). */
  normalization: { mean: number[]; std: number[]; from: string } | null;
}

/** Per-channel mean and unbiased variance over the grid of one sample [3, nlat, nlon]. */
function channelStats(g: SweGrids, r: number): { mean: number[]; std: number[] } {
  const mean: number[] = [];
  const std: number[] = [];
  for (const t of [g.phi, g.vrt, g.div]) {
    const n = t.shape[1]! * t.shape[2]!;
    const d = arr(t).subarray(r * n, (r + 1) * n);
    let s = 0;
    for (const v of d) s += v;
    const m = s / n;
    let q = 0;
    for (const v of d) q += (v - m) ** 2;
    mean.push(m);
    std.push(Math.sqrt(q / (n - 1)));
  }
  return { mean, std };
}

/**
 * neuralop's SphericalSWEDataset recipe: solver step dt/⌊dt / (150·256/nlat s)⌋, lmax = mmax = ⌈nlat/3⌉
 * on the equiangular grid; x = the initial (Φ, ζ, δ) on the grid, y = the state dt later, [n, 3, nlat, nlon]
 * float32, raw (normalisation is the data set's: see sweNormalizer).
 */
export function generateSwe(o: GenerateSweOptions): { x: Float32Array; y: Float32Array; meta: SweMeta } {
  const dt = o.dt ?? 3600;
  const dtMin = (256 / o.nlat) * 150;
  const nsteps = o.nsteps ?? Math.floor(dt / dtMin);
  if (o.nsteps !== undefined && (!Number.isInteger(o.nsteps) || o.nsteps < 1)) throw new RangeError(`generate swe: nsteps must be a positive integer, got ${o.nsteps}`);
  if (nsteps < 1) throw new RangeError(`generate swe: dt ${dt} s is shorter than one solver step (${dtMin} s at nlat ${o.nlat})`);
  const mach = o.mach ?? 0.2;
  const solver = new ShallowWaterSolver({ nlat: o.nlat, nlon: o.nlon, dt: dt / nsteps, grid: o.grid ?? 'equiangular', ...(o.lmax !== undefined ? { lmax: o.lmax, mmax: o.lmax } : {}) });
  const per = 3 * o.nlat * o.nlon;
  const x = new Float32Array(o.n * per);
  const y = new Float32Array(o.n * per);
  const chunk = Math.max(1, o.chunk ?? 8);
  const start = o.start ?? 0;
  const ic = o.initialCondition ?? 'random';
  if (ic !== 'random' && ic !== 'galewsky') throw new RangeError(`generate swe: initialCondition must be 'random' or 'galewsky', got ${JSON.stringify(ic)}`);
  // the normalisation of every shard: from the input of sample 0 of the data set
  let norm: { mean: number[]; std: number[] } | null = null;
  if (o.normalize ?? true) {
    const s0 = ic === 'galewsky' ? solver.galewsky() : solver.randomInitialCondition([new Rng(streamSeed(o.seed, 0))], mach);
    const g = solver.grids(s0);
    norm = channelStats(g, 0);
    for (const t of [g.phi, g.vrt, g.div]) t.release();
    releaseState(s0);
  }
  for (let s0 = 0; s0 < o.n; s0 += chunk) {
    const R = Math.min(chunk, o.n - s0);
    // galewsky: the same state for every sample (one integrated, copied)
    const init = ic === 'galewsky'
      ? solver.galewsky()
      : solver.randomInitialCondition(Array.from({ length: R }, (_, r) => new Rng(streamSeed(o.seed, start + s0 + r))), mach);
    const R0 = init.phi.shape[2]!;
    const fin = solver.step(init, nsteps);
    const [gi, gf] = [solver.grids(init), solver.grids(fin)];
    for (let r = 0; r < R; r++) {
      const src = Math.min(r, R0 - 1);
      (['phi', 'vrt', 'div'] as const).forEach((k, c) => {
        const n = o.nlat * o.nlon;
        x.set(arr(gi[k]).subarray(src * n, (src + 1) * n), (s0 + r) * per + c * n);
        y.set(arr(gf[k]).subarray(src * n, (src + 1) * n), (s0 + r) * per + c * n);
      });
      o.onSample?.(s0 + r);
    }
    for (const g of [gi, gf]) for (const t of [g.phi, g.vrt, g.div]) t.release();
    releaseState(init);
    releaseState(fin);
  }
  if (norm) {
    const n = o.nlat * o.nlon;
    for (const a of [x, y]) for (let i = 0; i < a.length; i++) {
      const c = Math.floor(i / n) % 3;
      a[i] = (a[i]! - norm.mean[c]!) / norm.std[c]!;
    }
  }
  return {
    x, y,
    meta: {
      pde: 'swe', nlat: o.nlat, nlon: o.nlon, grid: solver.plan.grid, lmax: solver.lmax, mmax: solver.mmax, dt, solverDt: dt / nsteps, nsteps, mach,
      initialCondition: ic, channels: ['geopotential', 'vorticity', 'divergence'],
      scheme: 'spectral SHT, AB3 (Euler, AB2 start), hyperdiffusion order 4 (torch-harmonics ShallowWaterSolver)',
      normalization: norm ? { ...norm, from: 'input of sample 0 (per channel, over the grid)' } : null,
    },
  };
}

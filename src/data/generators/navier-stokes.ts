/**
 * 2-D incompressible Navier–Stokes data after the recipe of the original FNO data set: vorticity form
 * on the unit torus [0,1)²,
 *
 *   ∂w/∂t + u·∇w = νΔw + f,   ∇·u = 0,   u = ∇⊥ψ = (∂ψ/∂y, −∂ψ/∂x),   −Δψ = w,
 *
 * with the forcing f(x, y) = 0.1·(sin(2π(x + y)) + cos(2π(x + y))) and a Gaussian random field as
 * the initial vorticity.
 *
 * Grid. The periodic s×s grid x_i = i/s, i = 0..s−1 (s even). Arrays are row-major [s, s]: entry
 * i·s + j holds the value at (x_i, y_j). A coarser grid is every r-th point of a fine one (r | s), see
 * subsampleNS; generateNS simulates at `simResolution` and returns every r-th point.
 *
 * Fourier convention. ŵ_k = (1/s²) Σ_x w(x) e^{−2πi k·x}, so w(x) = Σ_k ŵ_k e^{2πi k·x} and ŵ_k is
 * the Fourier coefficient of the continuous field, independent of s. Spectra are kept as half
 * spectra [s, s/2+1] (k_x in FFT order along the first axis, k_y = 0…s/2 along the second, planar
 * re/im). Nyquist indices count as k = −s/2 in |k|² and get a zero derivative.
 *
 * Initial field (nsGrf). Zero-mean real Gaussian field whose coefficients are independent (up to
 * Hermitian symmetry ŵ_{−k} = conj ŵ_k) with
 *
 *   E|ŵ_k|² = 2σ²·(4π²|k|² + τ²)^(−α),   σ = τ^(α−1) (= τ^{(2α−d)/2}, d = 2),  α = 2.5, τ = 7:
 *
 * ŵ_k = σλ_k(a + ib), a, b ~ N(0, 1), for k ≠ −k, and ŵ_k = √2σλ_k·a for the self-conjugate Nyquist
 * modes, λ_k = (4π²|k|² + τ²)^(−α/2). This is the same law as the original GaussianRF(2, s, 2.5, 7)
 * (which takes the real part of the inverse FFT of s²·√2·σ·λ_k·(complex normal)): its s² factor only
 * cancels the 1/s² of the inverse FFT, and taking the real part gives the variance 2σ²λ_k² above. So
 * the field's law does not depend on s (beyond the modes the grid holds).
 *
 * Solver. Pseudo-spectral in space: u and v are formed in Fourier space and taken to the grid, and
 * u·∇w = (∂xx − ∂yy)(uv) + ∂x∂y(v² − u²) (the curl of ∇·(u⊗u); Basdevant's form, four transforms
 * instead of five) is assembled from the transforms of uv and v² − u². 2/3 rule: the vorticity entering the product and the product
 * itself are truncated to |k_x|, |k_y| ≤ s/3 (square mask, as the original), which removes all
 * aliasing of the quadratic term. Time stepping (as the original): Crank–Nicolson for νΔw, and Heun's
 * predictor–corrector (explicit trapezoid, 2nd order) for −u·∇w + f:
 *
 *   w* = [(1 + Δt·L/2)ŵ + Δt(f̂ − N(ŵ))] / (1 − Δt·L/2)
 *   ŵ⁺ = [(1 + Δt·L/2)ŵ + Δt(f̂ − (N(ŵ) + N(w*))/2)] / (1 − Δt·L/2),   L = −4π²ν|k|²,
 *
 * everything in float64. Second order in Δt overall. The transforms are this module's float64 real
 * 2-D FFT (radix 2, vectorised over lanes; other even s fall back to the project's float64 plans in
 * src/kernels/fft-plan.ts, correct but slower): the project's tensor FFT runs float64 on a reference
 * path ~20× slower at s = 64, and its float32 wasm path would not keep the mean to 1e-12.
 *
 * Stability. The viscous part is unconditionally stable; the explicit advection needs a CFL number
 * max|u|·Δt·s well below 1 (the fastest kept mode turns by 2π/3·CFL radians per step). simulateNS
 * refuses up front (NSUnstableDtError) a Δt above maxStableDt — CFL > 1 for the estimated largest
 * velocity, obviously unstable — and stops a run that blows up (non-finite values, max|w| beyond
 * blowUpFactor × its initial scale, or CFL > 10) with NSBlowUpError, which states Δt and the CFL.
 *
 * Determinism. Sample i of a data set with seed `seed` uses its own Rng seeded by nsSampleSeed(seed,
 * i); all arithmetic is plain float64 JavaScript, so the data are the same on every run and machine.
 */
import { Rng, streamSeed } from '../../core/rng.js';
import { fftInPlace64, makePlan, type Plan } from '../../kernels/fft-plan.js';

// ---------------------------------------------------------------------------------------------
// Errors

/** Every problem of the Navier–Stokes generator; subclasses name the kind of fault. */
export class NSError extends Error {
  override name = 'NSError';
}

/** Bad input: sizes, times, layout, arrays that do not match s. */
export class NSConfigError extends NSError {
  override name = 'NSConfigError';
}

/** A Δt refused before running: the CFL number of the estimated largest velocity exceeds NS_CFL_MAX. */
export class NSUnstableDtError extends NSError {
  override name = 'NSUnstableDtError';
  constructor(
    message: string,
    readonly dt: number,
    readonly cfl: number,
    readonly maxStableDt: number,
  ) {
    super(message);
  }
}

/** A run that blew up (non-finite values or runaway growth). */
export class NSBlowUpError extends NSError {
  override name = 'NSBlowUpError';
  constructor(
    message: string,
    readonly dt: number,
    readonly cfl: number,
    readonly t: number,
    readonly step: number,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Defaults

/** The up-front limit on max|u|·Δt·s (above it the explicit step is certainly unstable). */
export const NS_CFL_MAX = 1;
/** A run whose CFL number passes this is stopped as blown up. */
const CFL_BLOWUP = 10;

export const NS_DEFAULTS = Object.freeze({
  alpha: 2.5,
  tau: 7,
  nu: 1e-3,
  dt: 1e-4,
  T: 50,
  recordInterval: 1,
  inSteps: 10,
  forcing: true,
  blowUpFactor: 1e3,
});

// ---------------------------------------------------------------------------------------------
// Validation helpers

function checkS(s: number, op: string): void {
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 4 || s % 2 !== 0) {
    throw new NSConfigError(`${op}: resolution s must be an even integer ≥ 4, got ${String(s)}`);
  }
}

function checkPositive(v: unknown, what: string, op: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new NSConfigError(`${op}: ${what} must be a positive finite number, got ${String(v)}`);
  }
  return v;
}

function checkField(w: ArrayLike<number>, s: number, what: string, op: string): void {
  if (!(w instanceof Float64Array) && !(w instanceof Float32Array)) {
    throw new NSConfigError(`${op}: ${what} must be a Float64Array or Float32Array`);
  }
  if (w.length !== s * s) throw new NSConfigError(`${op}: ${what} has ${w.length} values, expected s·s = ${s * s} for s = ${s}`);
  for (let i = 0; i < w.length; i++) {
    if (!Number.isFinite(w[i]!)) throw new NSConfigError(`${op}: ${what} has a non-finite value at index ${i}`);
  }
}

/** round(a / b) when a / b is an integer up to 1e-9 relative, else undefined. */
function exactRatio(a: number, b: number): number | undefined {
  const q = Math.round(a / b);
  return q >= 1 && Math.abs(q * b - a) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b)) ? q : undefined;
}

// ---------------------------------------------------------------------------------------------
// float64 real 2-D FFT on the s×s periodic grid

/**
 * Complex FFTs of length n along the rows of an [n, L] array (re, im planar, row-major), applied to
 * lanes 0…nl−1 of every row at once: the inner loops run over contiguous lanes. Iterative radix-2 for
 * powers of two; other n gather each lane and use the project's float64 plans (slower).
 */
class LaneFft {
  private readonly rev: Uint32Array | undefined;
  private readonly cos: Float64Array | undefined;
  private readonly sin: Float64Array | undefined;
  private readonly plan: Plan | undefined;
  private readonly gr: Float64Array;
  private readonly gi: Float64Array;

  constructor(readonly n: number) {
    this.gr = new Float64Array(n);
    this.gi = new Float64Array(n);
    if ((n & (n - 1)) === 0) {
      const bits = Math.round(Math.log2(n));
      this.rev = new Uint32Array(n);
      for (let i = 0; i < n; i++) {
        let r = 0;
        for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
        this.rev[i] = r;
      }
      this.cos = new Float64Array(n / 2);
      this.sin = new Float64Array(n / 2);
      for (let j = 0; j < n / 2; j++) {
        this.cos[j] = Math.cos((2 * Math.PI * j) / n);
        this.sin[j] = Math.sin((2 * Math.PI * j) / n);
      }
    } else {
      this.plan = makePlan(n);
    }
  }

  /** Unnormalised, in place; forward uses e^{−2πi jk/n}, inverse e^{+2πi jk/n}. */
  run(re: Float64Array, im: Float64Array, L: number, nl: number, inverse: boolean): void {
    const n = this.n;
    if (this.plan) {
      const { gr, gi } = this;
      for (let l = 0; l < nl; l++) {
        for (let i = 0; i < n; i++) {
          gr[i] = re[i * L + l]!;
          gi[i] = im[i * L + l]!;
        }
        fftInPlace64(this.plan, gr, gi, inverse);
        for (let i = 0; i < n; i++) {
          re[i * L + l] = gr[i]!;
          im[i * L + l] = gi[i]!;
        }
      }
      return;
    }
    const rev = this.rev!;
    const ct = this.cos!;
    const st = this.sin!;
    for (let i = 0; i < n; i++) {
      const j = rev[i]!;
      if (j <= i) continue;
      const oi = i * L;
      const oj = j * L;
      for (let l = 0; l < nl; l++) {
        let t = re[oi + l]!;
        re[oi + l] = re[oj + l]!;
        re[oj + l] = t;
        t = im[oi + l]!;
        im[oi + l] = im[oj + l]!;
        im[oj + l] = t;
      }
    }
    const sg = inverse ? 1 : -1;
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let j = 0; j < half; j++) {
          const wr = ct[j * step]!;
          const wi = sg * st[j * step]!;
          const oa = (start + j) * L;
          const ob = oa + half * L;
          if (j === 0) {
            for (let l = 0; l < nl; l++) {
              const br = re[ob + l]!;
              const bi = im[ob + l]!;
              const ar = re[oa + l]!;
              const ai = im[oa + l]!;
              re[ob + l] = ar - br;
              im[ob + l] = ai - bi;
              re[oa + l] = ar + br;
              im[oa + l] = ai + bi;
            }
            continue;
          }
          for (let l = 0; l < nl; l++) {
            const br = re[ob + l]!;
            const bi = im[ob + l]!;
            const xr = br * wr - bi * wi;
            const xi = br * wi + bi * wr;
            const ar = re[oa + l]!;
            const ai = im[oa + l]!;
            re[ob + l] = ar - xr;
            im[ob + l] = ai - xi;
            re[oa + l] = ar + xr;
            im[oa + l] = ai + xi;
          }
        }
      }
    }
  }
}

/**
 * Real 2-D FFT between [s, s] grids and [s, s/2+1] half spectra (forward normalised by 1/s²). The
 * transform along y packs rows 2p and 2p+1 as one complex signal (z = row_a + i·row_b) and runs
 * on the transposed [s, s/2] array; the transform along x runs on the half spectrum's columns.
 */
class Rfft2 {
  readonly h: number;
  private readonly f: LaneFft;
  /** Transposed packed rows [s (y), s/2 (row pair)]. */
  private readonly pr: Float64Array;
  private readonly pi: Float64Array;
  private readonly tr: Float64Array;
  private readonly ti: Float64Array;

  constructor(readonly s: number) {
    this.h = s / 2 + 1;
    this.f = new LaneFft(s);
    this.pr = new Float64Array((s * s) / 2);
    this.pi = new Float64Array((s * s) / 2);
    this.tr = new Float64Array(s * this.h);
    this.ti = new Float64Array(s * this.h);
  }

  /**
   * x [s·s] → (re, im) [s·h], ŵ_k = (1/s²) Σ x e^{−2πi k·x}. Columns k_y > maxCol (default all kept)
   * are set to zero instead of computed.
   */
  forward(x: Float64Array, re: Float64Array, im: Float64Array, maxCol = this.h - 1): void {
    const { s, h, f, pr, pi } = this;
    const P = s / 2;
    const scale = 1 / (s * s);
    for (let p = 0; p < P; p++) {
      const oa = 2 * p * s;
      const ob = oa + s;
      for (let j = 0; j < s; j++) {
        pr[j * P + p] = x[oa + j]!;
        pi[j * P + p] = x[ob + j]!;
      }
    }
    f.run(pr, pi, P, P, false);
    for (let k = 0; k < h; k++) {
      if (k > maxCol) {
        for (let i = 0; i < s; i++) re[i * h + k] = im[i * h + k] = 0;
        continue;
      }
      const ok = k * P;
      const onk = (k === 0 ? 0 : s - k) * P;
      for (let p = 0; p < P; p++) {
        const zr = pr[ok + p]!;
        const zi = pi[ok + p]!;
        const cr = pr[onk + p]!;
        const ci = pi[onk + p]!;
        const ha = 2 * p * h + k;
        const hb = ha + h;
        // A = (Z_k + conj Z_{s−k})/2, B = (Z_k − conj Z_{s−k})/(2i)
        re[ha] = 0.5 * scale * (zr + cr);
        im[ha] = 0.5 * scale * (zi - ci);
        re[hb] = 0.5 * scale * (zi + ci);
        im[hb] = -0.5 * scale * (zr - cr);
      }
    }
    f.run(re, im, h, Math.min(maxCol + 1, h), false);
  }

  /**
   * (re, im) [s·h] → x [s·s] = Σ_k X_k e^{2πi k·x}; the inputs are left unchanged. Columns
   * k_y > maxCol (default none) are taken as zero.
   */
  inverse(re: Float64Array, im: Float64Array, x: Float64Array, maxCol = this.h - 1): void {
    const { s, h, f, pr, pi, tr, ti } = this;
    const P = s / 2;
    const nc = Math.min(maxCol + 1, h);
    tr.set(re);
    ti.set(im);
    f.run(tr, ti, h, nc, true);
    const half = s / 2;
    for (let k = 0; k <= half; k++) {
      const ok = k * P;
      const onk = (s - k) * P;
      if (k >= nc) {
        for (let p = 0; p < P; p++) pr[ok + p] = pi[ok + p] = pr[onk + p] = pi[onk + p] = 0;
        continue;
      }
      const edge = k === 0 || k === half;
      for (let p = 0; p < P; p++) {
        const ha = 2 * p * h + k;
        const hb = ha + h;
        // Z_k = A_k + i B_k; the DC and Nyquist entries of a real row are real
        const ar = tr[ha]!;
        const ai = edge ? 0 : ti[ha]!;
        const cr = tr[hb]!;
        const ci = edge ? 0 : ti[hb]!;
        pr[ok + p] = ar - ci;
        pi[ok + p] = ai + cr;
        if (!edge) {
          // Z_{s−k} = conj A_k + i conj B_k
          pr[onk + p] = ar + ci;
          pi[onk + p] = cr - ai;
        }
      }
    }
    f.run(pr, pi, P, P, true);
    for (let p = 0; p < P; p++) {
      const oa = 2 * p * s;
      const ob = oa + s;
      for (let j = 0; j < s; j++) {
        x[oa + j] = pr[j * P + p]!;
        x[ob + j] = pi[j * P + p]!;
      }
    }
  }
}

const fftCache = new Map<number, Rfft2>();
function rfft2(s: number): Rfft2 {
  let t = fftCache.get(s);
  if (!t) {
    t = new Rfft2(s);
    fftCache.set(s, t);
  }
  return t;
}

/** Signed frequency of FFT index i on an axis of length s (Nyquist as −s/2). */
function freq(i: number, s: number): number {
  return i < s / 2 ? i : i - s;
}

/**
 * Forward-normalised half spectrum of a real field w [s·s]: re, im [s·(s/2+1)], ŵ_k at index
 * kx_index·(s/2+1) + ky, ŵ_k = (1/s²) Σ_x w(x) e^{−2πi k·x}.
 */
export function nsSpectrum(w: Float64Array | Float32Array, s: number): { re: Float64Array; im: Float64Array } {
  checkS(s, 'nsSpectrum');
  checkField(w, s, 'w', 'nsSpectrum');
  const t = rfft2(s);
  const re = new Float64Array(s * t.h);
  const im = new Float64Array(s * t.h);
  t.forward(w instanceof Float64Array ? w : Float64Array.from(w), re, im);
  return { re, im };
}

// ---------------------------------------------------------------------------------------------
// Initial condition and forcing

export interface NSGrfOptions {
  /** Smoothness exponent (default 2.5). */
  alpha?: number;
  /** Inverse length scale (default 7). */
  tau?: number;
}

/** Target E|ŵ_k|² = 2σ²(4π²|k|² + τ²)^(−α), σ = τ^(α−1); 0 for k = 0. */
export function nsGrfVariance(kx: number, ky: number, alpha: number = NS_DEFAULTS.alpha, tau: number = NS_DEFAULTS.tau): number {
  if (kx === 0 && ky === 0) return 0;
  const sigma = tau ** (alpha - 1);
  return 2 * sigma * sigma * (4 * Math.PI * Math.PI * (kx * kx + ky * ky) + tau * tau) ** -alpha;
}

/** A zero-mean periodic Gaussian random field on the s×s grid (law in the module comment). */
export function nsGrf(s: number, rng: Rng, opts: NSGrfOptions = {}): Float64Array {
  const op = 'nsGrf';
  checkS(s, op);
  if (!(rng instanceof Rng)) throw new NSConfigError(`${op}: rng must be an Rng`);
  const alpha = checkPositive(opts.alpha ?? NS_DEFAULTS.alpha, 'alpha', op);
  const tau = checkPositive(opts.tau ?? NS_DEFAULTS.tau, 'tau', op);
  const t = rfft2(s);
  const h = t.h;
  const half = s / 2;
  const re = new Float64Array(s * h);
  const im = new Float64Array(s * h);
  for (let i = 0; i < s; i++) {
    const kx = freq(i, s);
    for (let j = 0; j < h; j++) {
      const ky = j === half ? -half : j;
      const edgeCol = j === 0 || j === half;
      const sd = Math.sqrt(nsGrfVariance(kx, ky, alpha, tau) / 2);
      if (!edgeCol) {
        re[i * h + j] = sd * rng.normal();
        im[i * h + j] = sd * rng.normal();
      } else if (i === 0 || i === half) {
        // self-conjugate mode: real, full variance (zero for k = 0)
        re[i * h + j] = i === 0 && j === 0 ? 0 : Math.SQRT2 * sd * rng.normal();
      } else if (i < half) {
        re[i * h + j] = sd * rng.normal();
        im[i * h + j] = sd * rng.normal();
        re[(s - i) * h + j] = re[i * h + j]!;
        im[(s - i) * h + j] = -im[i * h + j]!;
      }
    }
  }
  const w = new Float64Array(s * s);
  t.inverse(re, im, w);
  return w;
}

/** f(x, y) = 0.1·(sin(2π(x + y)) + cos(2π(x + y))) on the s×s grid. */
export function nsForcing(s: number): Float64Array {
  checkS(s, 'nsForcing');
  const f = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    for (let j = 0; j < s; j++) {
      const a = (2 * Math.PI * ((i + j) % s)) / s;
      f[i * s + j] = 0.1 * (Math.sin(a) + Math.cos(a));
    }
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// The spectral operator

/** Per-mode tables and scratch space of one grid size. */
class NSOperator {
  readonly t: Rfft2;
  readonly h: number;
  readonly n: number;
  /** 4π²|k|². */
  readonly lap: Float64Array;
  /** 1/(4π²|k|²), 0 at k = 0. */
  readonly invLap: Float64Array;
  /** 2πk_x, 2πk_y (zero on Nyquist indices). */
  readonly dx: Float64Array;
  readonly dy: Float64Array;
  /** 2/3-rule mask. */
  readonly mask: Uint8Array;
  /** Highest k_y column the mask keeps. */
  readonly cols: number;
  private readonly sr: Float64Array[];
  private readonly si: Float64Array[];
  private readonly phys: Float64Array[];

  constructor(readonly s: number) {
    this.t = rfft2(s);
    const h = (this.h = this.t.h);
    const n = (this.n = s * h);
    this.lap = new Float64Array(n);
    this.invLap = new Float64Array(n);
    this.dx = new Float64Array(n);
    this.dy = new Float64Array(n);
    this.mask = new Uint8Array(n);
    const half = s / 2;
    const cut = s / 3;
    for (let i = 0; i < s; i++) {
      const kx = freq(i, s);
      for (let j = 0; j < h; j++) {
        const ky = j === half ? -half : j;
        const m = i * h + j;
        const k2 = 4 * Math.PI * Math.PI * (kx * kx + ky * ky);
        this.lap[m] = k2;
        this.invLap[m] = k2 === 0 ? 0 : 1 / k2;
        this.dx[m] = i === half ? 0 : 2 * Math.PI * kx;
        this.dy[m] = j === half ? 0 : 2 * Math.PI * ky;
        this.mask[m] = Math.abs(kx) <= cut && Math.abs(ky) <= cut ? 1 : 0;
      }
    }
    this.cols = Math.floor(cut);
    this.sr = Array.from({ length: 4 }, () => new Float64Array(n));
    this.si = Array.from({ length: 4 }, () => new Float64Array(n));
    this.phys = Array.from({ length: 4 }, () => new Float64Array(s * s));
  }

  /**
   * N̂ = mask·FFT(u·∇w) of the masked vorticity spectrum (wr, wi) into (nr, ni); returns max |u| on
   * the grid (NaN if any value was not finite). Uses u·∇w = curl ∇·(u⊗u) =
   * (∂xx − ∂yy)(uv) + ∂x∂y(v² − u²), which needs two inverse and two forward transforms; the masked
   * columns k_y > s/3 are skipped in all four.
   */
  advection(wr: Float64Array, wi: Float64Array, nr: Float64Array, ni: Float64Array): number {
    const { n, invLap, dx, dy, mask, sr, si, phys, t, cols } = this;
    const [ur, vr, qr] = sr as [Float64Array, Float64Array, Float64Array];
    const [ui, vi, qi] = si as [Float64Array, Float64Array, Float64Array];
    for (let m = 0; m < n; m++) {
      if (mask[m] === 0) {
        ur[m] = ui[m] = vr[m] = vi[m] = 0;
        continue;
      }
      const pr = wr[m]! * invLap[m]!;
      const pi = wi[m]! * invLap[m]!;
      const kx = dx[m]!;
      const ky = dy[m]!;
      // u = ∂ψ/∂y, v = −∂ψ/∂x (multiplying by i·k: (p + iq)·ik = −kq + ikp)
      ur[m] = -ky * pi;
      ui[m] = ky * pr;
      vr[m] = kx * pi;
      vi[m] = -kx * pr;
    }
    const [u, v] = phys as [Float64Array, Float64Array];
    t.inverse(ur, ui, u, cols);
    t.inverse(vr, vi, v, cols);
    let umax2 = 0;
    let finite = 0;
    for (let p = 0; p < u.length; p++) {
      const uu = u[p]!;
      const vv = v[p]!;
      const uv2 = uu * uu;
      const vv2 = vv * vv;
      if (uv2 + vv2 > umax2) umax2 = uv2 + vv2;
      finite += (uu + vv) * 0;
      u[p] = uu * vv;
      v[p] = vv2 - uv2;
    }
    t.forward(u, nr, ni, cols);
    t.forward(v, qr, qi, cols);
    for (let m = 0; m < n; m++) {
      if (mask[m] === 0) {
        nr[m] = ni[m] = 0;
        continue;
      }
      const kx = dx[m]!;
      const ky = dy[m]!;
      const a = ky * ky - kx * kx;
      const b = -kx * ky;
      nr[m] = a * nr[m]! + b * qr[m]!;
      ni[m] = a * ni[m]! + b * qi[m]!;
    }
    return Number.isFinite(finite) && Number.isFinite(umax2) ? Math.sqrt(umax2) : NaN;
  }

  /** max |u| of the velocity of vorticity spectrum (wr, wi) (no mask). */
  maxVelocity(wr: Float64Array, wi: Float64Array): number {
    const { n, invLap, dx, dy, sr, si, phys, t } = this;
    const [ur, vr] = sr as [Float64Array, Float64Array];
    const [ui, vi] = si as [Float64Array, Float64Array];
    for (let m = 0; m < n; m++) {
      const pr = wr[m]! * invLap[m]!;
      const pi = wi[m]! * invLap[m]!;
      ur[m] = -dy[m]! * pi;
      ui[m] = dy[m]! * pr;
      vr[m] = dx[m]! * pi;
      vi[m] = -dx[m]! * pr;
    }
    const [u, v] = phys as [Float64Array, Float64Array];
    t.inverse(ur, ui, u);
    t.inverse(vr, vi, v);
    let q = 0;
    for (let p = 0; p < u.length; p++) q = Math.max(q, u[p]! * u[p]! + v[p]! * v[p]!);
    return Math.sqrt(q);
  }
}

const opCache = new Map<number, NSOperator>();
function nsOperator(s: number): NSOperator {
  let o = opCache.get(s);
  if (!o) {
    o = new NSOperator(s);
    opCache.set(s, o);
  }
  return o;
}

function maxAbs(w: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < w.length; i++) m = Math.max(m, Math.abs(w[i]!));
  return m;
}

/**
 * The dealiased advection term u·∇w on the grid, as the solver evaluates it: u from −Δψ = w, both w
 * and the product truncated to |k_x|, |k_y| ≤ s/3.
 */
export function nsAdvection(w: Float64Array, s: number): Float64Array {
  const op = 'nsAdvection';
  checkS(s, op);
  checkField(w, s, 'w', op);
  const o = nsOperator(s);
  const wr = new Float64Array(o.n);
  const wi = new Float64Array(o.n);
  o.t.forward(w, wr, wi);
  const nr = new Float64Array(o.n);
  const ni = new Float64Array(o.n);
  o.advection(wr, wi, nr, ni);
  const out = new Float64Array(s * s);
  o.t.inverse(nr, ni, out);
  return out;
}

/** max |u| (Euclidean norm of the velocity) of the flow with vorticity w. */
export function nsMaxVelocity(w: Float64Array, s: number): number {
  const op = 'nsMaxVelocity';
  checkS(s, op);
  checkField(w, s, 'w', op);
  const o = nsOperator(s);
  const wr = new Float64Array(o.n);
  const wi = new Float64Array(o.n);
  o.t.forward(w, wr, wi);
  return o.maxVelocity(wr, wi);
}

/** Largest speed the forcing alone can add per unit time: max |u| of the flow with vorticity f (0.1/(2π)). */
const FORCING_SPEED = 0.1 / (2 * Math.PI);

export interface NSStabilityOptions {
  /** Forcing on (default true): the velocity estimate then grows by max|u_f|·T. */
  forcing?: boolean;
  /** Run length the estimate covers (default 0: the initial velocity only). */
  T?: number;
}

/**
 * The Δt at which the CFL number max|u|·Δt·s reaches NS_CFL_MAX, for the velocity estimate
 * max|u(w0)| + (forcing ? T·0.1/(2π) : 0) (the forcing's velocity times the run length: a growth
 * bound in energy, used as an estimate for the maximum). Infinity for a flow at rest without forcing.
 * This is the largest Δt simulateNS accepts; runs should use a few times less (CFL ≲ 0.3). Measured
 * at s = 64, T = 20, forced: ν = 1e-5 ran at Δt = 0.01 (CFL ≈ 0.27) and blew up at Δt = 0.02; ν = 1e-3,
 * whose flow is smooth, ran up to Δt = 0.2.
 */
export function maxStableDt(w0: Float64Array, s: number, opts: NSStabilityOptions = {}): number {
  const op = 'maxStableDt';
  checkS(s, op);
  checkField(w0, s, 'w0', op);
  const T = opts.T ?? 0;
  if (typeof T !== 'number' || !Number.isFinite(T) || T < 0) throw new NSConfigError(`${op}: T must be a finite number ≥ 0, got ${String(T)}`);
  const uEst = nsMaxVelocity(w0, s) + ((opts.forcing ?? NS_DEFAULTS.forcing) ? FORCING_SPEED * T : 0);
  return uEst === 0 ? Infinity : NS_CFL_MAX / (uEst * s);
}

// ---------------------------------------------------------------------------------------------
// Time stepping

export interface SimulateNSOptions {
  /** Viscosity ν (default 1e-3; the FNO data use 1e-3, 1e-4, 1e-5). */
  nu?: number;
  /** Time step (default 1e-4). */
  dt?: number;
  /** Final time (default 50). */
  T?: number;
  /** Time between recorded fields (default 1); must divide T, and Δt must divide it. */
  recordInterval?: number;
  /** Add the forcing f (default true). */
  forcing?: boolean;
  /** Refuse a Δt above maxStableDt up front (default true). */
  checkStability?: boolean;
  /** Blow-up when max|w| exceeds this × max(max|w0|, 1) (default 1e3). */
  blowUpFactor?: number;
  /** Called every 100 time steps and after the last with (steps done, total steps): progress within a sample. */
  onStep?: (done: number, total: number) => void;
}

export interface NSSolution {
  /** recordInterval, 2·recordInterval, …, T. */
  times: number[];
  /** w at those times, each [s·s]. */
  w: Float64Array[];
}

/** How often (in steps) the vorticity's maximum is checked between records. */
const CHECK_EVERY = 100;

/** Integrates the vorticity equation from w0 [s·s] and records w every recordInterval up to T. */
export function simulateNS(w0: Float64Array, s: number, opts: SimulateNSOptions = {}): NSSolution {
  const op = 'simulateNS';
  checkS(s, op);
  checkField(w0, s, 'w0', op);
  const nu = checkPositive(opts.nu ?? NS_DEFAULTS.nu, 'nu', op);
  const dt = checkPositive(opts.dt ?? NS_DEFAULTS.dt, 'dt', op);
  const T = checkPositive(opts.T ?? NS_DEFAULTS.T, 'T', op);
  const recordInterval = checkPositive(opts.recordInterval ?? NS_DEFAULTS.recordInterval, 'recordInterval', op);
  const blowUpFactor = checkPositive(opts.blowUpFactor ?? NS_DEFAULTS.blowUpFactor, 'blowUpFactor', op);
  const forcing = opts.forcing ?? NS_DEFAULTS.forcing;
  if (typeof forcing !== 'boolean') throw new NSConfigError(`${op}: forcing must be a boolean`);
  const nRec = exactRatio(T, recordInterval);
  if (nRec === undefined) throw new NSConfigError(`${op}: recordInterval ${recordInterval} does not divide T = ${T}`);
  const perRec = exactRatio(recordInterval, dt);
  if (perRec === undefined) throw new NSConfigError(`${op}: dt ${dt} does not divide recordInterval = ${recordInterval}`);

  if (opts.checkStability ?? true) {
    const limit = maxStableDt(w0, s, { forcing, T });
    if (dt > limit) {
      const cfl = (dt / limit) * NS_CFL_MAX;
      throw new NSUnstableDtError(
        `${op}: dt = ${dt} is unstable for s = ${s}: estimated CFL max|u|·dt·s = ${cfl.toPrecision(3)} > ${NS_CFL_MAX} ` +
          `(max stable dt ≈ ${limit.toPrecision(3)}; use a few times less)`,
        dt, cfl, limit,
      );
    }
  }

  const o = nsOperator(s);
  const { n, lap, t: fft } = o;
  const wr = new Float64Array(n);
  const wi = new Float64Array(n);
  fft.forward(w0, wr, wi);
  const fr = new Float64Array(n);
  const fi = new Float64Array(n);
  if (forcing) fft.forward(nsForcing(s), fr, fi);
  // CN factors: (1 + Δt·L/2) and 1/(1 − Δt·L/2), L = −ν·4π²|k|²
  const cnA = new Float64Array(n);
  const cnB = new Float64Array(n);
  for (let m = 0; m < n; m++) {
    const hl = 0.5 * dt * nu * lap[m]!;
    cnA[m] = 1 - hl;
    cnB[m] = 1 / (1 + hl);
  }
  const n1r = new Float64Array(n);
  const n1i = new Float64Array(n);
  const n2r = new Float64Array(n);
  const n2i = new Float64Array(n);
  const pr = new Float64Array(n);
  const pi = new Float64Array(n);
  const phys = new Float64Array(s * s);
  const wLimit = blowUpFactor * Math.max(maxAbs(w0), 1);

  const blowUp = (why: string, step: number, umax: number): NSBlowUpError => {
    const cfl = umax * dt * s;
    const tNow = step * dt;
    return new NSBlowUpError(
      `${op}: blow-up at t = ${tNow.toPrecision(4)} (step ${step}): ${why}; dt = ${dt}, CFL max|u|·dt·s = ${
        Number.isFinite(cfl) ? cfl.toPrecision(3) : String(cfl)
      } (s = ${s}, nu = ${nu}); reduce dt`,
      dt, cfl, tNow, step,
    );
  };

  const times: number[] = [];
  const out: Float64Array[] = [];
  let lastU = 0;
  const steps = nRec * perRec;
  for (let step = 0; step < steps; step++) {
    const u1 = o.advection(wr, wi, n1r, n1i);
    if (!Number.isFinite(u1)) throw blowUp('non-finite values', step, lastU);
    if (u1 * dt * s > CFL_BLOWUP) throw blowUp(`CFL above ${CFL_BLOWUP}`, step, u1);
    lastU = u1;
    for (let m = 0; m < n; m++) {
      const a = cnA[m]!;
      const b = cnB[m]!;
      pr[m] = (a * wr[m]! + dt * (fr[m]! - n1r[m]!)) * b;
      pi[m] = (a * wi[m]! + dt * (fi[m]! - n1i[m]!)) * b;
    }
    const u2 = o.advection(pr, pi, n2r, n2i);
    if (!Number.isFinite(u2)) throw blowUp('non-finite values', step, u1);
    for (let m = 0; m < n; m++) {
      const a = cnA[m]!;
      const b = cnB[m]!;
      wr[m] = (a * wr[m]! + dt * (fr[m]! - 0.5 * (n1r[m]! + n2r[m]!))) * b;
      wi[m] = (a * wi[m]! + dt * (fi[m]! - 0.5 * (n1i[m]! + n2i[m]!))) * b;
    }
    const done = step + 1;
    const record = done % perRec === 0;
    if (record || done % CHECK_EVERY === 0) {
      fft.inverse(wr, wi, phys);
      const wm = maxAbs(phys);
      if (!Number.isFinite(wm)) throw blowUp('non-finite values', done, u2);
      if (wm > wLimit) throw blowUp(`max|w| = ${wm.toPrecision(3)} > ${blowUpFactor} × max(max|w0|, 1)`, done, u2);
      if (record) {
        out.push(Float64Array.from(phys));
        times.push((done / perRec) * recordInterval);
      }
    }
    if (opts.onStep && (done % CHECK_EVERY === 0 || done === steps)) opts.onStep(done, steps);
  }
  return { times, w: out };
}

// ---------------------------------------------------------------------------------------------
// Resolutions and data sets

/** Every r-th grid point of a periodic s×s field: (s/r)×(s/r), r | s. */
export function subsampleNS<T extends Float64Array | Float32Array>(w: T, s: number, r: number): T {
  const op = 'subsampleNS';
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 1) throw new NSConfigError(`${op}: s must be a positive integer, got ${String(s)}`);
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1 || s % r !== 0) {
    throw new NSConfigError(`${op}: the subsample factor must be a positive integer dividing s = ${s}, got ${String(r)}`);
  }
  if (w.length !== s * s) throw new NSConfigError(`${op}: field has ${w.length} values, expected ${s * s}`);
  const c = s / r;
  const out = (w instanceof Float64Array ? new Float64Array(c * c) : new Float32Array(c * c)) as T;
  for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) out[i * c + j] = w[i * r * s + j * r]!;
  return out;
}

/** The Rng seed of sample `index` of a data set with seed `seed` (a 53-bit hash of both). */
export function nsSampleSeed(seed: number, index: number): number {
  try {
    return streamSeed(seed, index);
  } catch (e) {
    throw new NSConfigError(e instanceof Error ? e.message : String(e));
  }
}

export type NSLayout = 'series' | 'map';

export interface GenerateNSOptions extends NSGrfOptions {
  /** Number of samples. */
  n: number;
  /** Output resolution s (even). */
  resolution: number;
  /** Simulation resolution (default: resolution); a multiple of it, the output is every r-th point. */
  simResolution?: number;
  seed: number;
  nu?: number;
  dt?: number;
  T?: number;
  recordInterval?: number;
  /** 'series': recorded steps 1…inSteps → the rest; 'map': w(0) → w(T). */
  layout: NSLayout;
  /** Input steps of the 'series' layout (default 10). */
  inSteps?: number;
  forcing?: boolean;
  checkStability?: boolean;
  onSample?: (i: number) => void;
  /** Progress within each sample's simulation (see SimulateNSOptions.onStep). */
  onStep?: (done: number, total: number) => void;
  /** Index of the first sample (default 0): samples start … start + n − 1, for sharding. */
  start?: number;
  /** Further output resolutions (each dividing simResolution), filled from the same simulations. */
  alsoResolutions?: number[];
}

export interface NSMeta {
  generator: 'navier-stokes-2d';
  n: number;
  resolution: number;
  simResolution: number;
  seed: number;
  nu: number;
  dt: number;
  T: number;
  recordInterval: number;
  layout: NSLayout;
  inSteps: number;
  outSteps: number;
  forcing: boolean;
  alpha: number;
  tau: number;
  /** Times of x's channels and y's channels. */
  xTimes: number[];
  yTimes: number[];
  scheme: string;
  forcingFormula: string;
  grf: string;
}

export interface NSDataset {
  x: Float32Array;
  y: Float32Array;
  xShape: number[];
  yShape: number[];
  meta: NSMeta;
  /** The same samples at each of opts.alsoResolutions (in that order). */
  also: { resolution: number; x: Float32Array; y: Float32Array; xShape: number[]; yShape: number[] }[];
}

/** One sample at the simulation resolution: w0 and the recorded fields. */
export function generateNSSample(seed: number, index: number, s: number, opts: Omit<GenerateNSOptions, 'n' | 'resolution' | 'seed' | 'layout'> = {}): { w0: Float64Array } & NSSolution {
  const rng = new Rng(nsSampleSeed(seed, index));
  const grf: NSGrfOptions = {};
  if (opts.alpha !== undefined) grf.alpha = opts.alpha;
  if (opts.tau !== undefined) grf.tau = opts.tau;
  const w0 = nsGrf(s, rng, grf);
  const sim: SimulateNSOptions = {};
  if (opts.nu !== undefined) sim.nu = opts.nu;
  if (opts.dt !== undefined) sim.dt = opts.dt;
  if (opts.T !== undefined) sim.T = opts.T;
  if (opts.recordInterval !== undefined) sim.recordInterval = opts.recordInterval;
  if (opts.forcing !== undefined) sim.forcing = opts.forcing;
  if (opts.checkStability !== undefined) sim.checkStability = opts.checkStability;
  if (opts.onStep !== undefined) sim.onStep = opts.onStep;
  return { w0, ...simulateNS(w0, s, sim) };
}

/** A data set of n samples (see NSMeta and the module comment); sample i is deterministic in (seed, i). */
export function generateNS(opts: GenerateNSOptions): NSDataset {
  const op = 'generateNS';
  if (opts === null || typeof opts !== 'object') throw new NSConfigError(`${op}: options object required`);
  const { n, resolution, seed, layout } = opts;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new NSConfigError(`${op}: n must be a positive integer, got ${String(n)}`);
  checkS(resolution, op);
  const simResolution = opts.simResolution ?? resolution;
  checkS(simResolution, op);
  if (simResolution % resolution !== 0) {
    throw new NSConfigError(`${op}: simResolution ${simResolution} is not a multiple of resolution ${resolution}`);
  }
  if (!Number.isSafeInteger(seed)) throw new NSConfigError(`${op}: seed must be a safe integer, got ${String(seed)}`);
  if (layout !== 'series' && layout !== 'map') throw new NSConfigError(`${op}: unknown layout '${String(layout)}' (expected 'series' or 'map')`);
  const nu = checkPositive(opts.nu ?? NS_DEFAULTS.nu, 'nu', op);
  const dt = checkPositive(opts.dt ?? NS_DEFAULTS.dt, 'dt', op);
  const T = checkPositive(opts.T ?? NS_DEFAULTS.T, 'T', op);
  const recordInterval = checkPositive(opts.recordInterval ?? NS_DEFAULTS.recordInterval, 'recordInterval', op);
  const alpha = checkPositive(opts.alpha ?? NS_DEFAULTS.alpha, 'alpha', op);
  const tau = checkPositive(opts.tau ?? NS_DEFAULTS.tau, 'tau', op);
  const forcing = opts.forcing ?? NS_DEFAULTS.forcing;
  const nRec = exactRatio(T, recordInterval);
  if (nRec === undefined) throw new NSConfigError(`${op}: recordInterval ${recordInterval} does not divide T = ${T}`);
  if (exactRatio(recordInterval, dt) === undefined) throw new NSConfigError(`${op}: dt ${dt} does not divide recordInterval = ${recordInterval}`);
  let inSteps = 1;
  let outSteps = 1;
  if (layout === 'series') {
    inSteps = opts.inSteps ?? NS_DEFAULTS.inSteps;
    if (typeof inSteps !== 'number' || !Number.isInteger(inSteps) || inSteps < 1 || inSteps >= nRec) {
      throw new NSConfigError(`${op}: inSteps must be an integer in [1, ${nRec - 1}] (T/recordInterval = ${nRec} recorded steps), got ${String(inSteps)}`);
    }
    outSteps = nRec - inSteps;
  } else if (opts.inSteps !== undefined && opts.inSteps !== 1) {
    throw new NSConfigError(`${op}: layout 'map' has one input step; inSteps = ${String(opts.inSteps)} is not allowed`);
  }
  const s = resolution;
  const start = opts.start ?? 0;
  if (!Number.isSafeInteger(start) || start < 0) throw new NSConfigError(`${op}: start must be a non-negative integer, got ${String(start)}`);
  const outs = [resolution, ...(opts.alsoResolutions ?? [])].map((res) => {
    checkS(res, op);
    if (simResolution % res !== 0) throw new NSConfigError(`${op}: simResolution ${simResolution} is not a multiple of resolution ${res}`);
    const plane = res * res;
    return { resolution: res, r: simResolution / res, plane, x: new Float32Array(n * inSteps * plane), y: new Float32Array(n * outSteps * plane) };
  });
  const times = Array.from({ length: nRec }, (_, k) => (k + 1) * recordInterval);
  for (let i = 0; i < n; i++) {
    const sample = generateNSSample(seed, start + i, simResolution, { nu, dt, T, recordInterval, forcing, alpha, tau, checkStability: opts.checkStability ?? true, ...(opts.onStep ? { onStep: opts.onStep } : {}) });
    const xs = layout === 'map' ? [sample.w0] : sample.w.slice(0, inSteps);
    const ys = layout === 'map' ? [sample.w[nRec - 1]!] : sample.w.slice(inSteps);
    for (const o of outs) {
      xs.forEach((f, c) => o.x.set(subsampleNS(f, simResolution, o.r), (i * inSteps + c) * o.plane));
      ys.forEach((f, c) => o.y.set(subsampleNS(f, simResolution, o.r), (i * outSteps + c) * o.plane));
    }
    opts.onSample?.(start + i);
  }
  const { x, y } = outs[0]!;
  return {
    also: outs.slice(1).map((o) => ({ resolution: o.resolution, x: o.x, y: o.y, xShape: [n, inSteps, o.resolution, o.resolution], yShape: [n, outSteps, o.resolution, o.resolution] })),
    x,
    y,
    xShape: [n, inSteps, s, s],
    yShape: [n, outSteps, s, s],
    meta: {
      generator: 'navier-stokes-2d',
      n, resolution, simResolution, seed, nu, dt, T, recordInterval, layout, inSteps, outSteps, forcing, alpha, tau,
      xTimes: layout === 'map' ? [0] : times.slice(0, inSteps),
      yTimes: layout === 'map' ? [T] : times.slice(inSteps),
      scheme: 'pseudo-spectral, 2/3-rule dealiasing (|kx|,|ky| <= s/3), Crank-Nicolson viscous + Heun explicit advection/forcing, float64',
      forcingFormula: forcing ? '0.1*(sin(2*pi*(x+y)) + cos(2*pi*(x+y)))' : 'none',
      grf: 'E|w_k|^2 = 2*tau^(2*(alpha-1))*(4*pi^2*|k|^2 + tau^2)^(-alpha), zero mean (law of the original GaussianRF)',
    },
  };
}

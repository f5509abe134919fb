/**
 * Darcy-flow data after the recipe of the original FNO Darcy data set: a thresholded Gaussian random
 * field as the permeability, and the pressure of −∇·(a∇u) = f, u = 0 on ∂[0,1]², as the target.
 *
 * Grid. Everything lives on the vertex-centred s×s grid x_i = i/(s−1), i = 0..s−1 (both boundaries
 * included, as in the original 421-point data). Arrays are row-major [s, s]: entry i·s + j holds the
 * value at (x_i, y_j). Coarser resolutions are every r-th point of a fine one, which needs r | s − 1:
 * 421 → 211 (r = 2), 141 (3), 106 (4), 85 (5), 61 (7); 257 → 129, 65, 33, 17. Cell-centred power-of-two
 * grids (256 → 128) are not supported: every-other-point subsampling of a vertex grid keeps the
 * boundary points, so use s = 2^k + 1 instead.
 *
 * Random field. a(x, y) = Σ_{(k1,k2) ≠ (0,0), 0 ≤ k1,k2 < s} c_k ξ_k cos(π k1 x) cos(π k2 y) with
 * ξ_k ~ N(0, 1) i.i.d. and c_k = τ^(α−1)·(π²(k1² + k2²) + τ²)^(−α/2): the Karhunen–Loève expansion of
 * a field with covariance (−Δ + τ²)^(−α) under Neumann boundary conditions, zero mean mode.
 * Normalisation: the plain cosine series above, with no grid-size factor. (The original MATLAB recipe
 * multiplies the coefficients by s and applies an orthonormal inverse DCT at cell centres, which
 * amounts to this sum with an extra factor √2 for each nonzero index; the permeability only depends
 * on the sign of a, which is unaffected by an overall scale, but those per-mode factors and the cell-
 * centred points make the two fields close in law, not identical.)
 *
 * Solver. 5-point finite differences on the same grid, h = 1/(s−1), face coefficients by the
 * arithmetic mean of the two neighbouring nodal values of a; the (s−2)² interior unknowns solve the
 * SPD system (h²-scaled) by preconditioned conjugate gradients, by default with modified incomplete
 * Cholesky MIC(0) (relaxation 0.97), to a relative residual ‖b − Au‖₂/‖b‖₂ ≤ tol (default 1e-10),
 * all in float64.
 *
 * Determinism. Sample i of a data set with seed `seed` uses its own Rng seeded by darcySampleSeed(seed,
 * i), so samples can be generated in any order or in parallel and give the same data.
 */
import { Rng, streamSeed } from '../../core/rng.js';

/** Every problem with Darcy generator input; subclasses name the kind of fault. */
export class DarcyError extends Error {
  override name = 'DarcyError';
}

/** A resolution that is not an integer ≥ 3 (or does not match the array it comes with). */
export class DarcyResolutionError extends DarcyError {
  override name = 'DarcyResolutionError';
}

/** A subsample factor that is not a positive integer dividing s − 1 (or leaves fewer than 3 points). */
export class DarcySubsampleError extends DarcyError {
  override name = 'DarcySubsampleError';
}

/** A coefficient field with a non-positive or non-finite value, or a bad right-hand side. */
export class DarcyCoefficientError extends DarcyError {
  override name = 'DarcyCoefficientError';
}

/** PCG stopped at maxIter without reaching the tolerance. */
export class DarcyConvergenceError extends DarcyError {
  override name = 'DarcyConvergenceError';
  constructor(
    message: string,
    readonly iterations: number,
    readonly residual: number,
  ) {
    super(message);
  }
}

export interface DarcyGrfOptions {
  /** Smoothness exponent of the covariance (−Δ + τ²)^(−α) (default 2). */
  alpha?: number;
  /** Inverse length scale (default 3). */
  tau?: number;
}

export type DarcyPreconditioner = 'jacobi' | 'ic0' | 'mic0';

export interface SolveDarcyOptions {
  /** Right-hand side: a constant or nodal values [s·s] (boundary entries unused). Default 1. */
  f?: number | Float64Array;
  /** Relative residual tolerance ‖b − Au‖₂/‖b‖₂ (default 1e-10). */
  tol?: number;
  /** Most PCG iterations before DarcyConvergenceError (default 10·s + 200). */
  maxIter?: number;
  /** Default 'mic0'. */
  preconditioner?: DarcyPreconditioner;
}

export interface DarcySolution {
  /** u on the full s×s grid, zero on the boundary. */
  u: Float64Array;
  iterations: number;
  /** True relative residual ‖b − Au‖₂/‖b‖₂ of the returned u (interior equations). */
  residual: number;
}

export const DARCY_DEFAULTS = Object.freeze({ alpha: 2, tau: 3, f: 1, tol: 1e-10, preconditioner: 'mic0' as DarcyPreconditioner });

function checkResolution(s: number, op: string): void {
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 3) {
    throw new DarcyResolutionError(`${op}: resolution must be an integer ≥ 3, got ${String(s)}`);
  }
}

function checkPositive(v: number, what: string, op: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new DarcyError(`${op}: ${what} must be a positive finite number, got ${String(v)}`);
  }
}

/** KL coefficient c_k for (k1, k2). */
export function grfCoefficient(k1: number, k2: number, alpha: number = DARCY_DEFAULTS.alpha, tau: number = DARCY_DEFAULTS.tau): number {
  if (k1 === 0 && k2 === 0) return 0;
  return tau ** (alpha - 1) * (Math.PI * Math.PI * (k1 * k1 + k2 * k2) + tau * tau) ** (-alpha / 2);
}

let cosCache: { s: number; m: Float64Array } | null = null;

/** C[i, k] = cos(π k x_i), x_i = i/(s−1), row-major [s, s]; built from a table of cos(π m/(s−1)). */
function cosineMatrix(s: number): Float64Array {
  if (cosCache?.s === s) return cosCache.m;
  const n = s - 1;
  const period = 2 * n;
  const table = new Float64Array(period);
  for (let q = 0; q < period; q++) table[q] = Math.cos((Math.PI * q) / n);
  const m = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    for (let k = 0; k < s; k++) m[i * s + k] = table[(i * k) % period]!;
  }
  cosCache = { s, m };
  return m;
}

/**
 * The Gaussian random field a on the s×s vertex grid (before thresholding): s² standard normals are
 * drawn from rng (k1-major; the one for k = (0,0) is drawn and discarded), then A = C·(c ⊙ Ξ)·Cᵀ.
 */
export function darcyGrf(s: number, rng: Rng, opts: DarcyGrfOptions = {}): Float64Array {
  checkResolution(s, 'darcyGrf');
  const alpha = opts.alpha ?? DARCY_DEFAULTS.alpha;
  const tau = opts.tau ?? DARCY_DEFAULTS.tau;
  checkPositive(alpha, 'alpha', 'darcyGrf');
  checkPositive(tau, 'tau', 'darcyGrf');
  const xi = rng.normalArray(s * s);
  const scale = tau ** (alpha - 1);
  for (let k1 = 0; k1 < s; k1++) {
    for (let k2 = 0; k2 < s; k2++) {
      const p = k1 * s + k2;
      xi[p] = k1 === 0 && k2 === 0 ? 0 : xi[p]! * scale * (Math.PI * Math.PI * (k1 * k1 + k2 * k2) + tau * tau) ** (-alpha / 2);
    }
  }
  const c = cosineMatrix(s);
  // T = C · L  (T[i, :] += C[i, k1] · L[k1, :])
  const t = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    const ti = i * s;
    for (let k1 = 0; k1 < s; k1++) {
      const w = c[ti + k1]!;
      const lk = k1 * s;
      for (let k2 = 0; k2 < s; k2++) t[ti + k2]! += w * xi[lk + k2]!;
    }
  }
  // A[i, j] = Σ_k2 T[i, k2] C[j, k2]
  const a = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    const ti = i * s;
    for (let j = 0; j < s; j++) {
      const cj = j * s;
      let acc = 0;
      for (let k = 0; k < s; k++) acc += t[ti + k]! * c[cj + k]!;
      a[ti + j] = acc;
    }
  }
  return a;
}

/** Thresholded permeability: 12 where field ≥ 0, 3 where field < 0. */
export function darcyPermeability(field: Float64Array): Float64Array {
  const out = new Float64Array(field.length);
  for (let i = 0; i < field.length; i++) {
    const v = field[i]!;
    if (Number.isNaN(v)) throw new DarcyCoefficientError(`darcyPermeability: field has NaN at index ${i}`);
    out[i] = v >= 0 ? 12 : 3;
  }
  return out;
}

/**
 * Solves −∇·(a∇u) = f on [0,1]², u = 0 on the boundary, for nodal a [s·s] on the vertex grid, by
 * PCG on the 5-point scheme with arithmetic-mean face coefficients.
 */
export function solveDarcy(a: Float64Array, s: number, opts: SolveDarcyOptions = {}): DarcySolution {
  checkResolution(s, 'solveDarcy');
  if (!(a instanceof Float64Array) || a.length !== s * s) {
    throw new DarcyResolutionError(`solveDarcy: a must be a Float64Array of s·s = ${s * s} values, got length ${(a as { length?: number })?.length}`);
  }
  for (let p = 0; p < a.length; p++) {
    const v = a[p]!;
    if (!(v > 0) || !Number.isFinite(v)) {
      throw new DarcyCoefficientError(`solveDarcy: coefficient a must be positive and finite, got ${v} at (${Math.floor(p / s)}, ${p % s})`);
    }
  }
  const tol = opts.tol ?? DARCY_DEFAULTS.tol;
  checkPositive(tol, 'tol', 'solveDarcy');
  const maxIter = opts.maxIter ?? 10 * s + 200;
  if (!Number.isInteger(maxIter) || maxIter < 0) throw new DarcyError(`solveDarcy: maxIter must be a non-negative integer, got ${maxIter}`);
  const pre = opts.preconditioner ?? DARCY_DEFAULTS.preconditioner;
  if (pre !== 'jacobi' && pre !== 'ic0' && pre !== 'mic0') throw new DarcyError(`solveDarcy: unknown preconditioner '${String(pre)}'`);
  const f = opts.f ?? DARCY_DEFAULTS.f;
  if (typeof f === 'number') {
    if (!Number.isFinite(f)) throw new DarcyCoefficientError(`solveDarcy: f must be finite, got ${f}`);
  } else if (!(f instanceof Float64Array) || f.length !== s * s) {
    throw new DarcyCoefficientError(`solveDarcy: f must be a number or a Float64Array of s·s = ${s * s} values`);
  }

  const m = s - 2;
  const N = m * m;
  const h = 1 / (s - 1);
  // Unknown p = (i−1)·m + (j−1) for interior node (i, j). e[p]: coupling to (i+1, j) (p + m), zero on
  // the last interior row; nn[p]: coupling to (i, j+1) (p + 1), zero on the last interior column.
  const d = new Float64Array(N);
  const e = new Float64Array(N);
  const nn = new Float64Array(N);
  const b = new Float64Array(N);
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= m; j++) {
      const q = i * s + j;
      const p = (i - 1) * m + (j - 1);
      const ac = a[q]!;
      const fe = 0.5 * (ac + a[q + s]!);
      const fw = 0.5 * (ac + a[q - s]!);
      const fn = 0.5 * (ac + a[q + 1]!);
      const fs = 0.5 * (ac + a[q - 1]!);
      d[p] = fe + fw + fn + fs;
      e[p] = i < m ? fe : 0;
      nn[p] = j < m ? fn : 0;
      b[p] = h * h * (typeof f === 'number' ? f : f[q]!);
    }
  }

  const matvec = (x: Float64Array, y: Float64Array): void => {
    for (let p = 0; p < N; p++) {
      let v = d[p]! * x[p]!;
      if (p + m < N) v -= e[p]! * x[p + m]!;
      if (p >= m) v -= e[p - m]! * x[p - m]!;
      if (p + 1 < N) v -= nn[p]! * x[p + 1]!;
      if (p >= 1) v -= nn[p - 1]! * x[p - 1]!;
      y[p] = v;
    }
  };

  // Preconditioner: Jacobi, or (M)IC(0) M = (D + L) D⁻¹ (D + Lᵀ) with L the strict lower part of A.
  const invD = new Float64Array(N);
  if (pre === 'jacobi') {
    for (let p = 0; p < N; p++) invD[p] = 1 / d[p]!;
  } else {
    const omega = pre === 'mic0' ? 0.97 : 0;
    const D = new Float64Array(N);
    for (let p = 0; p < N; p++) {
      let v = d[p]!;
      if (p >= m) {
        const q = p - m;
        v -= (e[q]! * (e[q]! + omega * nn[q]!)) / D[q]!;
      }
      if (p >= 1) {
        // nn is zero on the last interior column, so the previous row's last unknown adds nothing.
        const q = p - 1;
        v -= (nn[q]! * (nn[q]! + omega * e[q]!)) / D[q]!;
      }
      if (!(v > 0)) throw new DarcyError(`solveDarcy: ${pre} factorisation broke down (pivot ${v})`);
      D[p] = v;
      invD[p] = 1 / v;
    }
  }
  const applyM = (r: Float64Array, z: Float64Array): void => {
    if (pre === 'jacobi') {
      for (let p = 0; p < N; p++) z[p] = r[p]! * invD[p]!;
      return;
    }
    for (let p = 0; p < N; p++) {
      let v = r[p]!;
      if (p >= m) v += e[p - m]! * z[p - m]!;
      if (p >= 1) v += nn[p - 1]! * z[p - 1]!;
      z[p] = v * invD[p]!;
    }
    for (let p = N - 1; p >= 0; p--) {
      let v = 0;
      if (p + m < N) v += e[p]! * z[p + m]!;
      if (p + 1 < N) v += nn[p]! * z[p + 1]!;
      z[p] = z[p]! + v * invD[p]!;
    }
  };

  const dot = (x: Float64Array, y: Float64Array): number => {
    let acc = 0;
    for (let p = 0; p < N; p++) acc += x[p]! * y[p]!;
    return acc;
  };

  const x = new Float64Array(N);
  const r = Float64Array.from(b);
  const z = new Float64Array(N);
  const dir = new Float64Array(N);
  const ap = new Float64Array(N);
  const bnorm = Math.sqrt(dot(b, b));
  /** r = b − Ax recomputed; returns ‖r‖/‖b‖. */
  const trueResidual = (): number => {
    matvec(x, ap);
    for (let p = 0; p < N; p++) r[p] = b[p]! - ap[p]!;
    return bnorm > 0 ? Math.sqrt(dot(r, r)) / bnorm : 0;
  };
  let iterations = 0;
  let residual = bnorm > 0 ? 1 : 0;
  // PCG; when the recursive residual reaches tol, the true residual is checked, and PCG restarts from
  // it if rounding has made the two drift apart (the attainable accuracy is about 1e-12 here).
  while (residual > tol && iterations < maxIter) {
    applyM(r, z);
    dir.set(z);
    let rz = dot(r, z);
    let rel = 1;
    while (iterations < maxIter) {
      matvec(dir, ap);
      const alpha = rz / dot(dir, ap);
      for (let p = 0; p < N; p++) {
        x[p]! += alpha * dir[p]!;
        r[p]! -= alpha * ap[p]!;
      }
      iterations++;
      rel = Math.sqrt(dot(r, r)) / bnorm;
      if (rel <= tol) break;
      applyM(r, z);
      const rzNew = dot(r, z);
      const beta = rzNew / rz;
      rz = rzNew;
      for (let p = 0; p < N; p++) dir[p] = z[p]! + beta * dir[p]!;
    }
    residual = trueResidual();
  }
  if (!(residual <= tol)) {
    throw new DarcyConvergenceError(
      `solveDarcy: PCG (${pre}) did not reach relative residual ${tol} within ${maxIter} iterations at s = ${s} (residual ${residual.toExponential(3)})`,
      iterations,
      residual,
    );
  }
  const u = new Float64Array(s * s);
  for (let i = 1; i <= m; i++) {
    for (let j = 1; j <= m; j++) u[i * s + j] = x[(i - 1) * m + (j - 1)]!;
  }
  return { u, iterations, residual };
}

/** Subsample factors r ≥ 1 with r | s − 1 that leave at least 3 points, increasing (1 = full grid). */
export function subsampleFactorsFor(s: number): number[] {
  checkResolution(s, 'subsampleFactorsFor');
  const out: number[] = [];
  for (let r = 1; (s - 1) / r + 1 >= 3; r++) if ((s - 1) % r === 0) out.push(r);
  return out;
}

/** The resolution after taking every r-th point of an s-point vertex grid; checks r. */
export function subsampledResolution(s: number, r: number): number {
  checkResolution(s, 'subsampledResolution');
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) {
    throw new DarcySubsampleError(`subsample factor must be a positive integer, got ${String(r)}`);
  }
  if ((s - 1) % r !== 0) {
    throw new DarcySubsampleError(`subsample factor ${r} does not divide s − 1 = ${s - 1} (resolution ${s}); valid factors: ${subsampleFactorsFor(s).join(', ')}`);
  }
  const c = (s - 1) / r + 1;
  if (c < 3) throw new DarcySubsampleError(`subsample factor ${r} leaves ${c} points of resolution ${s}; at least 3 are needed`);
  return c;
}

/** Every r-th point of an s×s field (r | s − 1), as a new array of the same type. */
export function subsampleField<T extends Float64Array | Float32Array>(v: T, s: number, r: number): T {
  const c = subsampledResolution(s, r);
  if (v.length !== s * s) throw new DarcyResolutionError(`subsampleField: expected ${s * s} values, got ${v.length}`);
  const out = new (v.constructor as new (n: number) => T)(c * c);
  for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) out[i * c + j] = v[i * r * s + j * r]!;
  return out;
}

/** The Rng seed of sample `index` in a data set with seed `seed` (a 53-bit hash of both). */
export function darcySampleSeed(seed: number, index: number): number {
  try {
    return streamSeed(seed, index);
  } catch (e) {
    throw new DarcyError(e instanceof Error ? e.message : String(e));
  }
}

export interface DarcySampleOptions extends DarcyGrfOptions {
  /** Constant right-hand side (default 1). */
  f?: number;
  tol?: number;
  maxIter?: number;
  preconditioner?: DarcyPreconditioner;
}

export interface DarcySample {
  /** Permeability (12/3) [s·s]. */
  a: Float64Array;
  /** Solution [s·s]. */
  u: Float64Array;
  iterations: number;
  residual: number;
}

/** Sample `index` of the data set with seed `seed`, at the fine resolution s. */
export function generateDarcySample(seed: number, index: number, s: number, opts: DarcySampleOptions = {}): DarcySample {
  const rng = new Rng(darcySampleSeed(seed, index));
  const grfOpts: DarcyGrfOptions = {};
  if (opts.alpha !== undefined) grfOpts.alpha = opts.alpha;
  if (opts.tau !== undefined) grfOpts.tau = opts.tau;
  const a = darcyPermeability(darcyGrf(s, rng, grfOpts));
  const solveOpts: SolveDarcyOptions = {};
  if (opts.f !== undefined) solveOpts.f = opts.f;
  if (opts.tol !== undefined) solveOpts.tol = opts.tol;
  if (opts.maxIter !== undefined) solveOpts.maxIter = opts.maxIter;
  if (opts.preconditioner !== undefined) solveOpts.preconditioner = opts.preconditioner;
  const { u, iterations, residual } = solveDarcy(a, s, solveOpts);
  return { a, u, iterations, residual };
}

export interface GenerateDarcyOptions extends DarcySampleOptions {
  /** Number of samples. */
  n: number;
  /** Fine (generation) resolution s, vertex-centred; subsample factors must divide s − 1. */
  resolution: number;
  seed: number;
  /** Factors r of the stored resolutions (s − 1)/r + 1, in this order; 1 = the fine grid. Default [1]. */
  subsample?: number[];
  /** Index of the first sample (default 0): samples start … start + n − 1 are generated, for sharding. */
  start?: number;
  /** Called after each sample with its index. */
  onSample?: (i: number) => void;
}

export interface DarcyMeta {
  pde: 'darcy';
  alpha: number;
  tau: number;
  f: number;
  tol: number;
  resolution: number;
  seed: number;
  subsample: number[];
  start: number;
  preconditioner: DarcyPreconditioner;
}

export interface DarcyDataset {
  /** Stored resolutions, one per subsample factor. */
  resolutions: number[];
  /** Permeability per resolution: [n, r, r] row-major, sample k at offset k·r·r. */
  x: Float32Array[];
  /** Solution per resolution, laid out as x. */
  y: Float32Array[];
  meta: DarcyMeta;
  /** PCG iterations per sample. */
  iterations: number[];
}

/** Generates n Darcy samples at `resolution` and stores them at every requested subsampled resolution. */
export function generateDarcy(opts: GenerateDarcyOptions): DarcyDataset {
  const { n, resolution: s, seed } = opts;
  if (!Number.isInteger(n) || n < 0) throw new DarcyError(`generateDarcy: n must be a non-negative integer, got ${String(n)}`);
  checkResolution(s, 'generateDarcy');
  if (!Number.isSafeInteger(seed)) throw new DarcyError(`generateDarcy: seed must be a safe integer, got ${String(seed)}`);
  const start = opts.start ?? 0;
  if (!Number.isSafeInteger(start) || start < 0) throw new DarcyError(`generateDarcy: start must be a non-negative integer, got ${String(start)}`);
  const subsample = [...(opts.subsample ?? [1])];
  if (subsample.length === 0) throw new DarcySubsampleError('generateDarcy: subsample must list at least one factor');
  if (new Set(subsample).size !== subsample.length) throw new DarcySubsampleError(`generateDarcy: subsample factors repeat: ${subsample.join(', ')}`);
  const resolutions = subsample.map((r) => subsampledResolution(s, r));
  const alpha = opts.alpha ?? DARCY_DEFAULTS.alpha;
  const tau = opts.tau ?? DARCY_DEFAULTS.tau;
  const f = opts.f ?? DARCY_DEFAULTS.f;
  const tol = opts.tol ?? DARCY_DEFAULTS.tol;
  const preconditioner = opts.preconditioner ?? DARCY_DEFAULTS.preconditioner;
  checkPositive(alpha, 'alpha', 'generateDarcy');
  checkPositive(tau, 'tau', 'generateDarcy');
  checkPositive(tol, 'tol', 'generateDarcy');
  if (!Number.isFinite(f)) throw new DarcyCoefficientError(`generateDarcy: f must be finite, got ${f}`);
  const x = resolutions.map((c) => new Float32Array(n * c * c));
  const y = resolutions.map((c) => new Float32Array(n * c * c));
  const iterations: number[] = [];
  const sampleOpts: DarcySampleOptions = { alpha, tau, f, tol, preconditioner };
  if (opts.maxIter !== undefined) sampleOpts.maxIter = opts.maxIter;
  for (let k = 0; k < n; k++) {
    const sample = generateDarcySample(seed, start + k, s, sampleOpts);
    iterations.push(sample.iterations);
    subsample.forEach((r, q) => {
      const c = resolutions[q]!;
      const off = k * c * c;
      const xs = x[q]!;
      const ys = y[q]!;
      for (let i = 0; i < c; i++) {
        for (let j = 0; j < c; j++) {
          xs[off + i * c + j] = sample.a[i * r * s + j * r]!;
          ys[off + i * c + j] = sample.u[i * r * s + j * r]!;
        }
      }
    });
    opts.onSample?.(start + k);
  }
  return {
    resolutions,
    x,
    y,
    meta: { pde: 'darcy', alpha, tau, f, tol, resolution: s, seed, subsample, start, preconditioner },
    iterations,
  };
}

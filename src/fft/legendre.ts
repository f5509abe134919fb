/**
 * Latitude grids, quadrature and associated Legendre functions for spherical harmonic transforms,
 * all in float64.
 *
 * Colatitudes θ run from the north pole (θ = 0) to the south pole (θ = π), x = cos θ:
 * - 'equiangular': nlat ≥ 2 points θ_j = π·j/(nlat − 1), both poles included, with Clenshaw–Curtis
 *   weights in x (exact for polynomials of degree ≤ nlat − 1);
 * - 'legendre-gauss': the nlat Gauss–Legendre nodes in x, no poles (exact to degree 2·nlat − 1).
 *
 * The Legendre functions are orthonormal on the sphere without the Condon–Shortley phase:
 * Y_l^m(θ, φ) = P̄_l^m(cos θ)·e^{imφ} with 2π·∫₀^π P̄_l^m(cos θ)² sin θ dθ = 1, P̄_0^0 = 1/√(4π).
 * They come from the standard stable recurrence (diagonal P̄_m^m from sin θ, then the three-term
 * recurrence in l for each m), evaluated at sin θ computed from θ so that it stays accurate near the poles.
 */

export type SphereGrid = 'equiangular' | 'legendre-gauss';
export const SPHERE_GRIDS: readonly SphereGrid[] = ['equiangular', 'legendre-gauss'];

export interface LatitudeGrid {
  readonly grid: SphereGrid;
  /** Colatitudes θ_j, increasing (north to south). */
  readonly theta: Float64Array;
  /** cos θ_j. */
  readonly x: Float64Array;
  /** Quadrature weights in x = cos θ: Σ_j w_j f(x_j) ≈ ∫_{−1}^{1} f(x) dx (they sum to 2). */
  readonly weights: Float64Array;
}

function checkGridName(grid: string, op: string): SphereGrid {
  if (!(SPHERE_GRIDS as readonly string[]).includes(grid)) throw new RangeError(`${op}: grid must be one of ${SPHERE_GRIDS.join(', ')}, got ${JSON.stringify(grid)}`);
  return grid as SphereGrid;
}

/** Clenshaw–Curtis nodes θ_j = πj/n (n = nlat − 1) and weights (Waldvogel's closed form, O(nlat²)). */
function clenshawCurtis(nlat: number): LatitudeGrid {
  if (nlat < 2) throw new RangeError(`latitudeGrid: the equiangular grid needs at least 2 latitudes (both poles), got ${nlat}`);
  const n = nlat - 1;
  const theta = new Float64Array(nlat);
  const x = new Float64Array(nlat);
  const w = new Float64Array(nlat);
  for (let j = 0; j <= n; j++) {
    theta[j] = (Math.PI * j) / n;
    x[j] = Math.cos(theta[j]!);
    let s = 0;
    for (let k = 1; 2 * k <= n; k++) {
      const b = 2 * k === n ? 1 : 2;
      s += (b / (4 * k * k - 1)) * Math.cos((2 * Math.PI * j * k) / n);
    }
    const c = j === 0 || j === n ? 1 : 2;
    w[j] = (c / n) * (1 - s);
  }
  // the poles are exact; x at the equator exact zero for an odd count
  x[0] = 1;
  x[n] = -1;
  if (n % 2 === 0) x[n / 2] = 0;
  return { grid: 'equiangular', theta, x, weights: w };
}

/** [P_n(z), P_n′(z)] by the three-term recurrence (n ≥ 1, |z| < 1). */
function legendreWithDerivative(n: number, z: number): [number, number] {
  let p0 = 1;
  let p1 = z;
  for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * z * p1 - (k - 1) * p0) / k];
  // P_n′(z) = n (z P_n − P_{n−1}) / (z² − 1), with P_0 = 1 before the loop for n = 1
  return [p1, (n * (z * p1 - p0)) / (z * z - 1)];
}

/** Gauss–Legendre nodes (Newton on P_n from Tricomi's initial guess) and weights, ordered north to south. */
function gaussLegendre(nlat: number): LatitudeGrid {
  if (nlat < 1) throw new RangeError(`latitudeGrid: the legendre-gauss grid needs at least 1 latitude, got ${nlat}`);
  const n = nlat;
  const theta = new Float64Array(n);
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // the i-th largest root, near cos(π(i + 3/4)/(n + 1/2))
    let z = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    for (let it = 0; it < 100; it++) {
      const [p, dp] = legendreWithDerivative(n, z);
      const dz = p / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-16) break;
    }
    const dp = legendreWithDerivative(n, z)[1];
    x[i] = z;
    theta[i] = Math.acos(z);
    w[i] = 2 / ((1 - z * z) * dp * dp);
  }
  return { grid: 'legendre-gauss', theta, x, weights: w };
}

const gridCache = new Map<string, LatitudeGrid>();

/** The latitude grid of nlat points (cached; the arrays must not be written). */
export function latitudeGrid(nlat: number, grid: SphereGrid = 'equiangular'): LatitudeGrid {
  const g = checkGridName(grid, 'latitudeGrid');
  if (!Number.isInteger(nlat)) throw new RangeError(`latitudeGrid: nlat must be an integer, got ${nlat}`);
  const key = `${g}:${nlat}`;
  let r = gridCache.get(key);
  if (!r) {
    r = g === 'equiangular' ? clenshawCurtis(nlat) : gaussLegendre(nlat);
    gridCache.set(key, r);
  }
  return r;
}

/**
 * P̄_l^m(cos θ_k) for m < mmax, l < lmax, k < K as one array [mmax, lmax, K] (zero where l < m),
 * orthonormal on the sphere, no Condon–Shortley phase.
 */
export function legendreTable(mmax: number, lmax: number, theta: Float64Array): Float64Array {
  const K = theta.length;
  const out = new Float64Array(mmax * lmax * K);
  const sin = new Float64Array(K);
  const cos = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    sin[k] = Math.sin(theta[k]!);
    cos[k] = Math.cos(theta[k]!);
  }
  // exact values at the poles and the equator
  for (let k = 0; k < K; k++) {
    if (theta[k] === 0) { sin[k] = 0; cos[k] = 1; }
    if (theta[k] === Math.PI) { sin[k] = 0; cos[k] = -1; }
  }
  const diag = new Float64Array(K).fill(1 / Math.sqrt(4 * Math.PI)); // P̄_m^m, m = 0 first
  for (let m = 0; m < mmax; m++) {
    if (m > 0) {
      const f = Math.sqrt((2 * m + 1) / (2 * m));
      for (let k = 0; k < K; k++) diag[k] = f * sin[k]! * diag[k]!;
    }
    if (m >= lmax) continue;
    const row = (l: number) => (m * lmax + l) * K;
    out.set(diag, row(m));
    if (m + 1 < lmax) {
      const f = Math.sqrt(2 * m + 3);
      const r1 = row(m + 1);
      for (let k = 0; k < K; k++) out[r1 + k] = f * cos[k]! * diag[k]!;
    }
    for (let l = m + 2; l < lmax; l++) {
      const a = Math.sqrt(((2 * l - 1) * (2 * l + 1)) / ((l - m) * (l + m)));
      const b = Math.sqrt(((l + m - 1) * (l - m - 1) * (2 * l + 1)) / ((l - m) * (l + m) * (2 * l - 3)));
      const r = row(l);
      const r1 = row(l - 1);
      const r2 = row(l - 2);
      for (let k = 0; k < K; k++) out[r + k] = a * cos[k]! * out[r1 + k]! - b * out[r2 + k]!;
    }
  }
  return out;
}

/**
 * dP̄_l^m(cos θ)/dθ and m·P̄_l^m(cos θ)/sin θ at θ_k, each [mmax, lmax, K] (the vector SHT's two
 * tables), from the identities
 *   dP̄_l^m/dθ = ½(√((l+m)(l−m+1))·P̄_l^{m−1} − √((l−m)(l+m+1))·P̄_l^{m+1})   (m ≥ 1; dP̄_l^0/dθ = −√(l(l+1))·P̄_l^1)
 *   m·P̄_l^m/sin θ = ½·√((2l+1)/(2l−1))·(√((l−m)(l−m−1))·P̄_{l−1}^{m+1} + √((l+m)(l+m−1))·P̄_{l−1}^{m−1})   (m ≥ 1)
 * (no Condon–Shortley phase; the m = 0 row of the second table is zero), both finite at the poles.
 */
export function legendreDerivativeTables(mmax: number, lmax: number, theta: Float64Array): { dtheta: Float64Array; mOverSin: Float64Array } {
  const K = theta.length;
  // orders up to mmax (one past the kept ones: the identities reach m + 1)
  const M1 = mmax + 1;
  const p = legendreTable(M1, lmax, theta);
  const at = (m: number, l: number, k: number): number => (m < 0 || m > l || l >= lmax || m >= M1 ? 0 : p[(m * lmax + l) * K + k]!);
  const dtheta = new Float64Array(mmax * lmax * K);
  const mOverSin = new Float64Array(mmax * lmax * K);
  for (let m = 0; m < mmax; m++) {
    for (let l = m; l < lmax; l++) {
      const o = (m * lmax + l) * K;
      const c1 = Math.sqrt((l - m) * (l + m + 1));
      const c2 = Math.sqrt((l + m) * (l - m + 1));
      const d = l === 0 ? 0 : Math.sqrt((2 * l + 1) / (2 * l - 1));
      const e1 = Math.sqrt(Math.max(0, (l - m) * (l - m - 1)));
      const e2 = Math.sqrt((l + m) * (l + m - 1));
      for (let k = 0; k < K; k++) {
        dtheta[o + k] = m === 0 ? -Math.sqrt(l * (l + 1)) * at(1, l, k) : 0.5 * (c2 * at(m - 1, l, k) - c1 * at(m + 1, l, k));
        mOverSin[o + k] = m === 0 ? 0 : 0.5 * d * (e1 * at(m + 1, l - 1, k) + e2 * at(m - 1, l - 1, k));
      }
    }
  }
  return { dtheta, mOverSin };
}

/** The default truncation: lmax = (nlat + 1)//2 on the equiangular grid, nlat on Gauss–Legendre; mmax = nlon//2 + 1; then both the smaller of the two. */
export function defaultTruncation(nlat: number, nlon: number, grid: SphereGrid): { lmax: number; mmax: number } {
  const l = grid === 'equiangular' ? Math.floor((nlat + 1) / 2) : nlat;
  const m = Math.floor(nlon / 2) + 1;
  const t = Math.min(l, m);
  return { lmax: t, mmax: t };
}

/**
 * Real spherical harmonic transforms (SHT) on equiangular and Gauss–Legendre grids, built from the
 * FFT and GEMM kernels:
 *
 *   forward   f̂_l^m = 2π·Σ_k q_k·P̄_l^m(cos θ_k)·F_m(θ_k),   F_m = rfft(f(θ_k, ·), norm 'forward')
 *   inverse   f(θ_k, φ) = Σ_{m<mmax} Σ_{l<lmax} f̂_l^m·P̄_l^m(cos θ_k)·e^{imφ}   (+ conjugates for m > 0)
 *
 * with P̄ orthonormal without the Condon–Shortley phase (legendre.ts) and q_k the grid's quadrature
 * weights. This is torch-harmonics' RealSHT / InverseRealSHT ('ortho' norm) with csphase=False;
 * lmax and mmax are exclusive bounds (degrees 0…lmax−1, orders 0…mmax−1).
 *
 * The longitude FFT keeps the mmax lowest orders (rfftnModes, mode-major [mmax, R, nlat]); the
 * Legendre step is then one batched GEMM over the orders m per real/imaginary part:
 *   analysis   Y[m] = A[m]·F[m]ᵀ, A[m] = [lmax, nlat] (2π·q_k·P̄_l^m(x_k)) → [mmax, lmax, R]
 *   synthesis  Z[m] = Y[m]ᵀ·S[m], S[m] = [lmax, nlat] (P̄_l^m(x_k))     → [mmax, R, nlat]
 * so it runs in the fast kernels, on all threads, with 16-bit inputs and outputs (f32 accumulation).
 * The Legendre matrices are computed once per plan in float64 and kept in float32 (float64 for
 * float64 data). Rows l < m of A[m] and S[m] are zero (P̄_l^m vanishes there).
 */
import type { DType } from '../core/dtype.js';
import { ComplexTensor, Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import { backend } from '../kernels/cpu.js';
import { type FftOptions, irfftnModes, irfftnModesAdjoint, rfftnModes, rfftnModesAdjoint } from './index.js';
import { type LatitudeGrid, type SphereGrid, SPHERE_GRIDS, defaultTruncation, latitudeGrid, legendreDerivativeTables, legendreTable } from './legendre.js';

export interface ShtPlanOptions {
  /** Degrees kept, exclusive (default: see defaultTruncation). */
  lmax?: number;
  /** Orders kept, exclusive, ≤ nlon//2 + 1 (default: see defaultTruncation). */
  mmax?: number;
  grid?: SphereGrid;
}

/** The Legendre step's two matrices in one dtype, each [mmax, lmax, nlat]. */
interface LegendreMatrices {
  analysis: Tensor;
  synthesis: Tensor;
}

/**
 * The vector transform's matrices, each [mmax, lmax, nlat]: analysis D̂ = 2π·q_k·dP̄/dθ and
 * Q̂ = 2π·q_k·m·P̄/sin θ; synthesis from vorticity/divergence Ď = −dP̄/dθ / (l(l+1)) and
 * Q̌ = −(m·P̄/sin θ) / (l(l+1)) (zero at l = 0: the inverse Laplacian on the unit sphere folded in).
 */
interface VectorMatrices {
  dA: Tensor;
  qA: Tensor;
  dS: Tensor;
  qS: Tensor;
}

/** A cached transform between fields [.., nlat, nlon] and coefficients l < lmax, m < mmax. */
export class ShtPlan {
  readonly lat: LatitudeGrid;
  private readonly mats = new Map<string, LegendreMatrices>();
  private readonly vmats = new Map<string, VectorMatrices>();

  constructor(readonly nlat: number, readonly nlon: number, readonly lmax: number, readonly mmax: number, readonly grid: SphereGrid) {
    this.lat = latitudeGrid(nlat, grid);
  }

  /** The Legendre matrices in float32 (float64 for float64 data); built once, owned by the plan. */
  matrices(dtype: DType): LegendreMatrices {
    const key = dtype === 'float64' ? 'float64' : 'float32';
    let m = this.mats.get(key);
    if (!m) {
      const { nlat, lmax, mmax } = this;
      const p = legendreTable(mmax, lmax, this.lat.theta);
      const a = new Float64Array(p.length);
      for (let i = 0; i < p.length; i++) a[i] = 2 * Math.PI * this.lat.weights[i % nlat]! * p[i]!;
      m = {
        analysis: Tensor.fromArray(a, [mmax, lmax, nlat], key, 'data'),
        synthesis: Tensor.fromArray(p, [mmax, lmax, nlat], key, 'data'),
      };
      this.mats.set(key, m);
    }
    return m;
  }

  /** The vector transform's matrices (see VectorMatrices), built once. */
  vectorMatrices(dtype: DType): VectorMatrices {
    const key = dtype === 'float64' ? 'float64' : 'float32';
    let v = this.vmats.get(key);
    if (!v) {
      const { nlat, lmax, mmax } = this;
      const { dtheta, mOverSin } = legendreDerivativeTables(mmax, lmax, this.lat.theta);
      const n = dtheta.length;
      const [dA, qA, dS, qS] = [new Float64Array(n), new Float64Array(n), new Float64Array(n), new Float64Array(n)];
      for (let i = 0; i < n; i++) {
        const w = 2 * Math.PI * this.lat.weights[i % nlat]!;
        const l = Math.floor(i / nlat) % lmax;
        const inv = l === 0 ? 0 : -1 / (l * (l + 1));
        dA[i] = w * dtheta[i]!;
        qA[i] = w * mOverSin[i]!;
        dS[i] = inv * dtheta[i]!;
        qS[i] = inv * mOverSin[i]!;
      }
      const t = (a: Float64Array) => Tensor.fromArray(a, [mmax, lmax, nlat], key, 'data');
      v = { dA: t(dA), qA: t(qA), dS: t(dS), qS: t(qS) };
      this.vmats.set(key, v);
    }
    return v;
  }

  get description(): string {
    return `SHT ${this.grid} ${this.nlat}×${this.nlon}, lmax ${this.lmax}, mmax ${this.mmax}`;
  }
}

const planCache = new Map<string, ShtPlan>();

/**
 * The SHT plan of a grid (cached by its arguments). Errors name the bad argument: nlat, nlon, lmax
 * (1…nlat), mmax (1…nlon//2 + 1), grid.
 */
export function shtPlan(nlat: number, nlon: number, o: ShtPlanOptions = {}): ShtPlan {
  const op = 'shtPlan';
  const grid = o.grid ?? 'equiangular';
  if (!(SPHERE_GRIDS as readonly string[]).includes(grid)) throw new RangeError(`${op}: grid must be one of ${SPHERE_GRIDS.join(', ')}, got ${JSON.stringify(grid)}`);
  for (const [k, v] of [['nlat', nlat], ['nlon', nlon]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${op}: ${k} must be a positive integer, got ${v}`);
  }
  const def = defaultTruncation(nlat, nlon, grid);
  const lmax = o.lmax ?? def.lmax;
  const mmax = o.mmax ?? def.mmax;
  if (!Number.isInteger(lmax) || lmax < 1 || lmax > nlat) throw new RangeError(`${op}: lmax must be an integer in 1…${nlat} (nlat) on a ${nlat}×${nlon} grid, got ${lmax}`);
  const mLimit = Math.floor(nlon / 2) + 1;
  if (!Number.isInteger(mmax) || mmax < 1 || mmax > mLimit) throw new RangeError(`${op}: mmax must be an integer in 1…${mLimit} (nlon//2 + 1) on a ${nlat}×${nlon} grid, got ${mmax}`);
  const key = `${grid}:${nlat}:${nlon}:${lmax}:${mmax}`;
  let p = planCache.get(key);
  if (!p) {
    p = new ShtPlan(nlat, nlon, lmax, mmax, grid);
    planCache.set(key, p);
  }
  return p;
}

function checkField(x: Tensor, plan: ShtPlan, op: string): number {
  if (x.ndim < 2 || x.shape[x.ndim - 2] !== plan.nlat || x.shape[x.ndim - 1] !== plan.nlon) {
    throw new RangeError(`${op}: field ${fmtShape(x.shape)} does not end in the plan's grid [${plan.nlat}, ${plan.nlon}] (latitude, longitude)`);
  }
  return shapeSize(x.shape.slice(0, -2));
}

function checkModes(Y: ComplexTensor, plan: ShtPlan, op: string): number {
  if (Y.re.ndim !== 3 || Y.shape[0] !== plan.mmax || Y.shape[1] !== plan.lmax) {
    throw new RangeError(`${op}: coefficients ${fmtShape(Y.shape)} are not mode-major [${plan.mmax}, ${plan.lmax}, batch] (mmax, lmax, batch)`);
  }
  return Y.shape[2]!;
}

/**
 * Analysis form Y[m] = A[m]·F[m]ᵀ over F [mmax, R, nlat] → [mmax, lmax, R] in `dtype`, with A
 * [mmax, lmax, nlat] (one GEMM per part, batched over m).
 */
function analysisForm(F: ComplexTensor, A: Tensor, dtype: DType): ComplexTensor {
  const [M, R] = F.shape as [number, number, number];
  const L = A.shape[1]!;
  const Y = ComplexTensor.empty([M, L, R], dtype, 'activation');
  try {
    backend().gemm(A, F.re, Y.re, { transB: true });
    backend().gemm(A, F.im, Y.im, { transB: true });
  } catch (e) {
    Y.release();
    throw e;
  }
  return Y;
}

/** Synthesis form Z[m] = Y[m]ᵀ·S[m] over Y [mmax, lmax, R] → [mmax, R, nlat] in `dtype`. */
function synthesisForm(Y: ComplexTensor, S: Tensor, dtype: DType): ComplexTensor {
  const [M, , R] = Y.shape as [number, number, number];
  const K = S.shape[2]!;
  const Z = ComplexTensor.empty([M, R, K], dtype, 'activation');
  try {
    backend().gemm(Y.re, S, Z.re, { transA: true });
    backend().gemm(Y.im, S, Z.im, { transA: true });
  } catch (e) {
    Z.release();
    throw e;
  }
  return Z;
}

export interface ShtOptions {
  /** dtype of the result (default: the input's). */
  dtype?: DType;
  /**
   * dtype of the values between the longitude FFT and the Legendre step (default: float32, float64
   * for float64 input): the half type for a transform that runs wholly in half.
   */
  work?: DType;
  /** Emulated half arithmetic in the FFT stages (see FftOptions.emulate). */
  emulate?: FftOptions['emulate'];
}

function workOf(x: DType, o: ShtOptions): DType {
  return o.work ?? (x === 'float64' ? 'float64' : 'float32');
}

function fftOpts(dtype: DType, o: ShtOptions): FftOptions {
  return o.emulate ? { norm: 'forward', dtype, emulate: o.emulate } : { norm: 'forward', dtype };
}

/** The longitude transform `lon` (rfftnModes, or the adjoint of irfftnModes) of fields [batch…, nlat, nlon] → [mmax, R, nlat] in `work`. */
function longitudeModes(x: Tensor, plan: ShtPlan, op: string, work: DType, o: ShtOptions, lon: typeof rfftnModes = rfftnModes): ComplexTensor {
  const R = checkField(x, plan, op);
  const x3 = x.reshape([R, plan.nlat, plan.nlon]);
  try {
    return lon(x3, [plan.mmax], fftOpts(work, o));
  } finally {
    x3.release();
  }
}

/** Fields → coefficients [mmax, lmax, R]: the longitude transform `lon`, then the analysis form with the plan's `matrix`. */
function fieldsToModes(x: Tensor, plan: ShtPlan, op: string, o: ShtOptions, lon: typeof rfftnModes, matrix: keyof LegendreMatrices): ComplexTensor {
  const work = workOf(x.dtype, o);
  const F = longitudeModes(x, plan, op, work, o, lon);
  try {
    return analysisForm(F, plan.matrices(work)[matrix], o.dtype ?? x.dtype);
  } finally {
    F.release();
  }
}

/** Coefficients [mmax, lmax, R] → fields [R, nlat, nlon]: the synthesis form with the plan's `matrix`, then the longitude transform `lon`. */
function modesToFields(Y: ComplexTensor, plan: ShtPlan, op: string, o: ShtOptions, lon: typeof irfftnModes, matrix: keyof LegendreMatrices): Tensor {
  checkModes(Y, plan, op);
  const work = workOf(Y.dtype, o);
  const Z = synthesisForm(Y, plan.matrices(work)[matrix], work); // [M, R, nlat]
  try {
    return lon(Z, [plan.nlon], fftOpts(o.dtype ?? Y.dtype, o));
  } finally {
    Z.release();
  }
}

/** Forward SHT: x [batch…, nlat, nlon] → coefficients mode-major [mmax, lmax, R] (R = Π batch). */
export function shtModes(x: Tensor, plan: ShtPlan, o: ShtOptions = {}): ComplexTensor {
  return fieldsToModes(x, plan, 'shtModes', o, rfftnModes, 'analysis');
}

/** Inverse SHT: coefficients [mmax, lmax, R] → fields [R, nlat, nlon] (the other modes zero). */
export function ishtModes(Y: ComplexTensor, plan: ShtPlan, o: ShtOptions = {}): Tensor {
  return modesToFields(Y, plan, 'ishtModes', o, irfftnModes, 'synthesis');
}

/** The adjoint of shtModes (real-linear, ⟨Z, Y⟩ = Σ Re(conj Z·Y)): its backward. → [R, nlat, nlon]. */
export function shtModesAdjoint(G: ComplexTensor, plan: ShtPlan, o: ShtOptions = {}): Tensor {
  return modesToFields(G, plan, 'shtModesAdjoint', o, rfftnModesAdjoint, 'analysis'); // Aᵀ per m
}

/** The adjoint of ishtModes: its backward. g [batch…, nlat, nlon] → [mmax, lmax, R]. */
export function ishtModesAdjoint(g: Tensor, plan: ShtPlan, o: ShtOptions = {}): ComplexTensor {
  return fieldsToModes(g, plan, 'ishtModesAdjoint', o, irfftnModesAdjoint, 'synthesis');
}

/** Both parts of a complex tensor permuted into dst, src or dst seen in the given shape (null: as it is). */
function permuteParts(src: ComplexTensor, dst: ComplexTensor, perm: readonly number[], srcShape: readonly number[] | null, dstShape: readonly number[] | null): void {
  for (const [a, b] of [[src.re, dst.re], [src.im, dst.im]] as const) {
    const s = srcShape ? a.reshape(srcShape) : a;
    const d = dstShape ? b.reshape(dstShape) : b;
    try {
      backend().permute(s, perm, d);
    } finally {
      if (srcShape) s.release();
      if (dstShape) d.release();
    }
  }
}

/**
 * Forward SHT in torch-harmonics' layout: x [batch…, nlat, nlon] → complex [batch…, lmax, mmax]
 * (f̂_l^m at [.., l, m]; zero for m > l).
 */
export function sht(x: Tensor, plan: ShtPlan, o: ShtOptions = {}): ComplexTensor {
  const batch = x.shape.slice(0, -2);
  const Y = shtModes(x, plan, o);
  try {
    const out = ComplexTensor.empty([...batch, plan.lmax, plan.mmax], Y.dtype, 'activation');
    permuteParts(Y, out, [2, 1, 0], null, [shapeSize(batch), plan.lmax, plan.mmax]);
    return out;
  } finally {
    Y.release();
  }
}

/** Inverse SHT from torch-harmonics' layout: complex [batch…, lmax, mmax] → real [batch…, nlat, nlon]. */
export function isht(X: ComplexTensor, plan: ShtPlan, o: ShtOptions = {}): Tensor {
  if (X.re.ndim < 2 || X.shape[X.re.ndim - 2] !== plan.lmax || X.shape[X.re.ndim - 1] !== plan.mmax) {
    throw new RangeError(`isht: coefficients ${fmtShape(X.shape)} do not end in the plan's [${plan.lmax}, ${plan.mmax}] (lmax, mmax)`);
  }
  const batch = X.shape.slice(0, -2);
  const R = shapeSize(batch);
  const Y = ComplexTensor.empty([plan.mmax, plan.lmax, R], X.dtype, 'activation');
  try {
    permuteParts(X, Y, [2, 1, 0], [R, plan.lmax, plan.mmax], null);
    return ishtModes(Y, plan, o).reshapeOwned([...batch, plan.nlat, plan.nlon]);
  } finally {
    Y.release();
  }
}

/** Σ_t alpha_t·A_t[m]·src_t[m]ᵀ into out [mmax, lmax, R] (analysis form, one GEMM per term). */
function analysisSum(terms: readonly (readonly [Tensor, Tensor, number])[], out: Tensor): void {
  terms.forEach(([A, src, alpha], t) => backend().gemm(A, src, out, { transB: true, alpha, accumulate: t > 0 }));
}

/** Σ_t alpha_t·src_t[m]ᵀ·S_t[m] into out [mmax, R, nlat] (synthesis form). */
function synthesisSum(terms: readonly (readonly [Tensor, Tensor, number])[], out: Tensor): void {
  terms.forEach(([S, src, alpha], t) => backend().gemm(src, S, out, { transA: true, alpha, accumulate: t > 0 }));
}

/**
 * Vorticity and divergence coefficients of a tangent vector field on the unit sphere: u (eastward)
 * and v (northward) [batch…, nlat, nlon] → ζ = r̂·∇×(u, v) and δ = ∇·(u, v), each mode-major
 * [mmax, lmax, R]. Computed by parts from the quadrature (no derivative of gridded data):
 *   ζ_l^m = 2π Σ_k q_k (−dP̄/dθ·U_m + i·(m P̄/sin θ)·V_m),  δ_l^m = 2π Σ_k q_k (dP̄/dθ·V_m + i·(m P̄/sin θ)·U_m)
 * with U_m, V_m the longitude Fourier coefficients; exact for band-limited fields on grids whose
 * quadrature integrates the products. On a sphere of radius a, divide both by a.
 */
export function vorticityDivergence(u: Tensor, v: Tensor, plan: ShtPlan, o: ShtOptions = {}): { vrt: ComplexTensor; div: ComplexTensor } {
  const R = checkField(u, plan, 'vorticityDivergence');
  checkField(v, plan, 'vorticityDivergence');
  if (u.shape.join() !== v.shape.join()) throw new RangeError(`vorticityDivergence: u ${fmtShape(u.shape)} and v ${fmtShape(v.shape)} differ in shape`);
  const work = workOf(u.dtype, o);
  const dtype = o.dtype ?? u.dtype;
  const U = longitudeModes(u, plan, 'vorticityDivergence', work, o);
  const V = longitudeModes(v, plan, 'vorticityDivergence', work, o);
  const { dA, qA } = plan.vectorMatrices(work);
  const vrt = ComplexTensor.empty([plan.mmax, plan.lmax, R], dtype, 'activation');
  const div = ComplexTensor.empty([plan.mmax, plan.lmax, R], dtype, 'activation');
  try {
    analysisSum([[dA, U.re, -1], [qA, V.im, -1]], vrt.re);
    analysisSum([[dA, U.im, -1], [qA, V.re, 1]], vrt.im);
    analysisSum([[dA, V.re, 1], [qA, U.im, -1]], div.re);
    analysisSum([[dA, V.im, 1], [qA, U.re, 1]], div.im);
  } finally {
    U.release();
    V.release();
  }
  return { vrt, div };
}

/**
 * The velocity (u eastward, v northward) [R, nlat, nlon] on the unit sphere whose vorticity and
 * divergence have the coefficients vrt and div ([mmax, lmax, R]; their l = 0 terms, which no
 * velocity field has, are ignored): u = ∂ψ/∂θ + (1/sin θ)∂χ/∂φ, v = (1/sin θ)∂ψ/∂φ − ∂χ/∂θ with the
 * streamfunction ψ = ∇⁻²ζ and velocity potential χ = ∇⁻²δ. On a sphere of radius a, multiply by a.
 */
export function velocityFromVorticityDivergence(vrt: ComplexTensor, div: ComplexTensor, plan: ShtPlan, o: ShtOptions = {}): { u: Tensor; v: Tensor } {
  const R = checkModes(vrt, plan, 'velocityFromVorticityDivergence');
  checkModes(div, plan, 'velocityFromVorticityDivergence');
  const work = workOf(vrt.dtype, o);
  const dtype = o.dtype ?? vrt.dtype;
  const { dS, qS } = plan.vectorMatrices(work);
  const U = ComplexTensor.empty([plan.mmax, R, plan.nlat], work, 'activation');
  const V = ComplexTensor.empty([plan.mmax, R, plan.nlat], work, 'activation');
  try {
    synthesisSum([[dS, vrt.re, 1], [qS, div.im, -1]], U.re);
    synthesisSum([[dS, vrt.im, 1], [qS, div.re, 1]], U.im);
    synthesisSum([[qS, vrt.im, -1], [dS, div.re, -1]], V.re);
    synthesisSum([[qS, vrt.re, 1], [dS, div.im, -1]], V.im);
    return { u: irfftnModes(U, [plan.nlon], fftOpts(dtype, o)), v: irfftnModes(V, [plan.nlon], fftOpts(dtype, o)) };
  } finally {
    U.release();
    V.release();
  }
}

/**
 * Computable error bounds for the spectral part of a Fourier neural operator (docs/bounds.md):
 *
 * - discretisation: the error of a Fourier coefficient on the torus [0,1]^d approximated by the
 *   DFT of n1×…×nd samples (a left-endpoint Riemann sum), for a Lipschitz function;
 * - precision: the extra relative error of computing the (truncated) real DFT with mpno's own FFT
 *   in an emulated 16-bit type (src/fft, option `emulate`), as a rigorous worst case for that
 *   algorithm and as a typical (root-mean-square) estimate;
 * - precision of the path training runs (the default, `emulate_half_fft: false`): 16-bit input
 *   and output with f32 arithmetic inside the FFT (`halfIoFftBound`);
 * - measured: the actual relative error of the kept coefficients of `rfftnModes` on either path
 *   against float64 on a given batch.
 *
 * All functions are pure (measuredFftError/fftErrorReport allocate tensors and release them).
 * Bad input throws RangeError/TypeError whose message starts with the function's name.
 */
import { unitRoundoff } from '../core/dtype.js';
import type { HalfType } from './policy.js';
import { type ComplexTensor, Tensor, shapeSize } from '../core/tensor.js';
import { type FftNorm, FFT_NORMS, rfftnModes } from '../fft/index.js';
import { type ShtPlan, shtModes } from '../fft/sht.js';
import { backend } from '../kernels/cpu.js';
import { type Plan, isSmooth, makePlan } from '../kernels/fft-plan.js';

/** The 16-bit types the FFT can emulate (same as FftOptions['emulate']). */
type Half = HalfType;
const HALVES: readonly Half[] = ['float16', 'bfloat16'];

/** Unit roundoff of f32, the arithmetic the emulated FFT computes in between two roundings. */
export const FLOAT32_UNIT_ROUNDOFF = 2 ** -24;

/**
 * Unit roundoff u of a dtype (float16 2^-11, bfloat16 2^-8, float32 2^-24, float64 2^-53):
 * round-to-nearest gives |fl(x) − x| ≤ u·|x| in the normal range. Re-exported from core/dtype (the
 * same binding, so a barrel exporting both modules has no conflict).
 */
export { unitRoundoff } from '../core/dtype.js';

/** γ_k = k·u/(1 − k·u) (Higham's constant for k successive roundings). */
function gamma(k: number, u: number): number {
  return k * u < 1 ? (k * u) / (1 - k * u) : Infinity;
}

const U32 = FLOAT32_UNIT_ROUNDOFF;
/** Relative error of one complex multiplication in f32 (Higham, Lemma 3.5): √2·γ_2. */
const CMUL32 = Math.SQRT2 * gamma(2, U32);
/** Relative (2-norm) error of a radix-r butterfly evaluated in f32: at most 6 roundings on any path. */
const butterfly32 = (r: number): number => Math.sqrt(2 * r) * gamma(6, U32);

/**
 * Per-stage relative error of one emulated butterfly stage of radix r: the butterfly in f32, the
 * multiplication by a twiddle rounded to the half type (|ŵ − w| ≤ μ), and the rounding of the
 * stage's output to the half type (u):  η = μ + (1 + μ)·[(1 + α_r)(1 + √2γ₂)(1 + u) − 1].
 */
function stageEta(r: number, u: number): number {
  const mu = u;
  return mu + (1 + mu) * ((1 + butterfly32(r)) * (1 + CMUL32) * (1 + u) - 1);
}

/** One pointwise complex multiplication by a half-rounded factor, result rounded to half. */
function cmulEta(u: number): number {
  return u + (1 + u) * ((1 + CMUL32) * (1 + u) - 1);
}

/** Round-to-nearest with unit roundoff u (exponent range unbounded): the model of a half rounding. */
function roundTo(x: number, u: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  let e = Math.floor(Math.log2(Math.abs(x)));
  if (2 ** e > Math.abs(x)) e--;
  else if (2 ** (e + 1) <= Math.abs(x)) e++;
  const spacing = 2 * u * 2 ** e;
  return Math.round(x / spacing) * spacing;
}

/** Mean squared relative rounding error of one rounding, for log-uniformly distributed significands. */
const ROUNDING_MSE = 3 / 8 / Math.LN2 / 3; // E[δ²]/u² = E[1/m²]/3 with m log-uniform on [1, 2)

function checkU(u: number, op: string): void {
  if (typeof u !== 'number' || !Number.isFinite(u) || u <= 0 || u > 1 / 8) {
    throw new RangeError(`${op}: unit roundoff u must be a number in (0, 1/8], got ${String(u)}`);
  }
}

function checkSizeList(sizes: unknown, op: string, name = 'sizes'): number[] {
  if (!Array.isArray(sizes) || sizes.length < 1 || sizes.length > 3) {
    throw new RangeError(`${op}: ${name} must list 1 to 3 axis lengths, got ${Array.isArray(sizes) ? `[${sizes.join(', ')}]` : String(sizes)}`);
  }
  for (const n of sizes) {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1 << 24) {
      throw new RangeError(`${op}: ${name} must be positive integers up to 2^24, got [${sizes.join(', ')}]`);
    }
  }
  return sizes as number[];
}

function checkNormOpt(norm: unknown, op: string): FftNorm {
  if (!(FFT_NORMS as readonly unknown[]).includes(norm)) {
    throw new RangeError(`${op}: unknown norm '${String(norm)}' (expected backward, forward or ortho)`);
  }
  return norm as FftNorm;
}

function axisScale(n: number, norm: FftNorm): number {
  return norm === 'ortho' ? 1 / Math.sqrt(n) : norm === 'forward' ? 1 / n : 1;
}

/** Whether x·scale is exact for every half value x (scale a power of two, no under/overflow). */
function exactScale(scale: number): boolean {
  const f = Math.fround(scale);
  return f === scale && Number.isInteger(Math.log2(scale));
}

/** Precision bound of one 1-D pass (see FftPrecisionBound). */
export interface PassBound {
  /** Transform length of the pass. */
  n: number;
  kind: 'r2c' | 'c2c';
  /** 'stockham' (radix 4, 2, 3, 5 stages) or 'bluestein' (chirp-z over a smooth length m). */
  algorithm: 'stockham' | 'bluestein';
  /** Radices of the butterfly stages executed (Bluestein: the sub-length's, run twice). */
  radices: number[];
  /** Bluestein only: ‖exact path‖/‖DFT‖ = m·max|filter|/√n, the factor the chirp-z errors are amplified by. */
  amplification: number;
  /** Worst-case relative error of this pass (input rounding included for the first pass). */
  worst: number;
  /** Mean squared relative error of this pass in the rounding model (typical² contribution). */
  variance: number;
}

/** Result of fftPrecisionBound. */
export interface FftPrecisionBound {
  /**
   * Rigorous bound on ‖Ŷ_K − Y_K‖₂ / ‖Y‖₂ for mpno's emulated-half real FFT (rfftn / rfftnModes,
   * the subset K of kept coefficients of any batch), where ‖Y‖₂ is the norm of the FULL exact
   * spectrum (= c·√N·‖x‖₂ by Parseval, c the norm's scale). Assumes no overflow or underflow in
   * the half type. Applies to the batch as a whole (see docs/bounds.md on real-signal packing).
   */
  worst: number;
  /** Typical (root-mean-square) relative error for generic inputs: roundings as independent noise. */
  typical: number;
  /** Radix-2-equivalent levels Σ log2(n_a) (the t of Higham's bound). */
  levels: number;
  /** Butterfly stages actually executed over all passes. */
  stages: number;
  /** Higham's textbook bound t·η/(1 − t·η), η = u + γ₄(√2 + u), for a radix-2 FFT run entirely in the half type, t = levels (reference only). */
  higham: number;
  /** Per-pass details, in execution order (last axis first). */
  passes: PassBound[];
}

interface CoreBound {
  worst: number;
  variance: number;
  stages: number[];
  amplification: number;
}

const coreCache = new Map<string, CoreBound>();

/** Mean over a stage's n outputs of |ŵ − w|², with ŵ the twiddle rounded at unit roundoff u. */
function twiddleMse(tw: Float64Array, r: number, m: number, u: number): number {
  let s = 0;
  for (let i = 0; i < tw.length; i += 2) {
    const c = tw[i]!;
    const d = tw[i + 1]!;
    s += (roundTo(c, u) - c) ** 2 + (roundTo(d, u) - d) ** 2;
  }
  return s / (m * r);
}

/** Mean squared |x̂ − x|² of a table of complex values (re/im pairs) rounded at u, over `count` entries. */
function tableMse(tab: Float64Array, u: number, count: number): number {
  let s = 0;
  for (let i = 0; i < tab.length; i += 2) s += (roundTo(tab[i]!, u) - tab[i]!) ** 2 + (roundTo(tab[i + 1]!, u) - tab[i + 1]!) ** 2;
  return s / count;
}

/** Stockham chain of a smooth plan: worst Π(1 + η_k) − 1 and the model variance Σ(ρ² + τ_k). */
function stockhamCore(plan: Plan, u: number): CoreBound {
  let prod = 1;
  let variance = 0;
  const rho2 = ROUNDING_MSE * u * u;
  const stages: number[] = [];
  for (const st of plan.stages!) {
    prod *= 1 + stageEta(st.radix, u);
    variance += rho2 + twiddleMse(st.tw, st.radix, st.m, u);
    stages.push(st.radix);
  }
  return { worst: prod - 1, variance, stages, amplification: 1 };
}

/**
 * The core complex transform of length n (no input rounding, no output scaling): Stockham or
 * Bluestein. Bluestein: ŷ = chirp ⊙ F*_M(Ĝ ⊙ F_M(chirp ⊙ x)), five steps each with a relative error
 * δ_k against its operator norm; the product of the norms is m·max|G|, i.e. κ = m·max|G|/√n times
 * the norm √n of the DFT, so the relative bound is κ·[Π(1 + δ_k) − 1].
 */
function coreBound(n: number, u: number): CoreBound {
  const key = `${n}:${u}`;
  const hit = coreCache.get(key);
  if (hit) return hit;
  const plan = makePlan(n);
  let out: CoreBound;
  if (plan.stages) {
    out = stockhamCore(plan, u);
  } else {
    const b = plan.bluestein!;
    const sub = stockhamCore(b.sub, u);
    let gmax = 0;
    let g2 = 0;
    for (let j = 0; j < b.m; j++) {
      const a = b.filter[2 * j]! ** 2 + b.filter[2 * j + 1]! ** 2;
      gmax = Math.max(gmax, a);
      g2 += a;
    }
    gmax = Math.sqrt(gmax);
    const kappa = (b.m * gmax) / Math.sqrt(n);
    const ec = cmulEta(u);
    const worst = kappa * ((1 + ec) ** 3 * (1 + sub.worst) ** 2 - 1);
    // rounding model: steps 1 and 5 act through the (scaled unitary) DFT; errors made inside the
    // length-m convolution reach the n outputs with weight (2n − 1)/m (white errors, mean |G|²).
    const rho2 = ROUNDING_MSE * u * u;
    const chirpMse = tableMse(b.chirp, u, n);
    const filterRel = tableMse(b.filter, u, b.m) / (g2 / b.m);
    const w = (2 * n - 1) / b.m;
    const variance = 2 * (rho2 + chirpMse) + w * (2 * sub.variance + rho2 + filterRel);
    out = { worst, variance, stages: [...sub.stages, ...sub.stages], amplification: kappa };
  }
  coreCache.set(key, out);
  return out;
}

/**
 * Precision bound of mpno's emulated-half n-D FFT over the trailing axes `sizes` (d = 1…3):
 * rfftn / rfftnModes for `real` (default), fftn otherwise. Passes run last axis first; the first
 * pass rounds the input to the half type (f64 → f32 → half), the real first pass packs two real
 * signals per complex lane and splits the spectra afterwards (one more rounding), and a pass whose
 * norm scale is not a power of two rounds once more when it scales its output.
 *
 *   per pass:  ε_p = (1 + ε_in)(1 + ε_core)(1 + ε_out) − 1,   ε_core = Π_stages(1 + η_k) − 1
 *              (Bluestein: κ·[(1 + η_c)³(1 + ε_m)² − 1]);
 *   over passes: worst = Π_p(1 + ε_p) − 1;   typical = √(Σ_p variance_p).
 */
export function fftPrecisionBound(
  sizes: readonly number[], u: number, opts: { norm?: FftNorm; real?: boolean } = {},
): FftPrecisionBound {
  const op = 'fftPrecisionBound';
  const ns = checkSizeList(sizes, op);
  checkU(u, op);
  const norm = checkNormOpt(opts.norm ?? 'backward', op);
  const real = opts.real ?? true;
  const rho2 = ROUNDING_MSE * u * u;
  const epsIn = (1 + u) * (1 + U32) - 1;
  const passes: PassBound[] = [];
  let prod = 1;
  let variance = 0;
  for (let a = ns.length - 1; a >= 0; a--) {
    const n = ns[a]!;
    const first = a === ns.length - 1;
    const kind = first && real ? 'r2c' : 'c2c';
    const core = coreBound(n, u);
    const scale = axisScale(n, norm);
    // r2c: split A = h·(Z_j + conj Z_−j), h = scale/2 rounded to f32: one f32 add, one multiply, one half rounding
    const epsOut = kind === 'r2c' ? (1 + u) * (1 + U32) ** 3 - 1 : exactScale(scale) ? 0 : (1 + u) * (1 + U32) ** 2 - 1;
    const worst = (1 + (first ? epsIn : 0)) * (1 + core.worst) * (1 + epsOut) - 1;
    const v = (first ? rho2 : 0) + core.variance + (epsOut > 0 ? rho2 : 0);
    passes.push({
      n, kind, algorithm: isSmooth(n) ? 'stockham' : 'bluestein', radices: core.stages,
      amplification: core.amplification, worst, variance: v,
    });
    prod *= 1 + worst;
    variance += v;
  }
  const levels = ns.reduce((s, n) => s + Math.log2(n), 0);
  const etaH = u + gamma(4, u) * (Math.SQRT2 + u);
  const th = levels * etaH;
  return {
    worst: prod - 1,
    typical: Math.sqrt(variance),
    levels,
    stages: passes.reduce((s, p) => s + p.radices.length, 0),
    higham: th < 1 ? th / (1 - th) : Infinity,
    passes,
  };
}

/** Half the smallest subnormal spacing of a 16-bit type: the absolute error of rounding a tiny value. */
const TINY: Record<Half, number> = { float16: 2 ** -25, bfloat16: 2 ** -134 };

/** Result of halfIoFftBound. */
export interface HalfIoFftBound {
  /** Relative to ‖Y_K‖ (the kept coefficients' own norm): the rounding of each kept coefficient to the half type, u. */
  output: number;
  /** Relative to ‖Y‖ (the full exact spectrum's norm): input rounding and the f32 transform, (1 + u)(u + ε₃₂(1 + u)). */
  full: number;
  /** ε₃₂: the f32 transform's own worst case, fftPrecisionBound(sizes, 2^-24, {norm}).worst. */
  f32: number;
  /** Absolute error of rounding a value below the half type's normal range (half its smallest subnormal spacing). */
  tiny: number;
  /** RMS of one rounding relative to u·|value| (the typical estimate's unit: ≈ 0.425). */
  rho: number;
}

/**
 * Worst-case bound for the forward FFT that training runs in 'half' Fourier layers by default
 * (`emulate_half_fft: false`): the input is rounded to the half type, the transform computes in
 * f32 (f32 intermediates between passes), and each kept output coefficient is rounded to the half
 * type once. For a batch x with exact spectrum Y (‖Y‖ = c·√N·‖x‖₂) and kept set K:
 *
 *   ‖Ŷ_K − Y_K‖₂ ≤ output·‖Y_K‖₂ + full·‖Y‖₂ + tiny·[(1 + u)(1 + ε₃₂)·c·√N·√L + √(2|K|)]
 *
 * with L input values and |K| kept complex values in the batch; no overflow assumed (docs/bounds.md).
 * 'mixed' layers (f32 input) satisfy the same bound.
 */
export function halfIoFftBound(sizes: readonly number[], halfType: HalfType, opts: { norm?: FftNorm } = {}): HalfIoFftBound {
  const op = 'halfIoFftBound';
  const ns = checkSizeList(sizes, op);
  const half = checkHalf(halfType, op);
  const norm = checkNormOpt(opts.norm ?? 'backward', op);
  const u = unitRoundoff(half);
  const f32 = fftPrecisionBound(ns, U32, { norm }).worst;
  return { output: u, full: (1 + u) * (u + f32 * (1 + u)), f32, tiny: TINY[half], rho: Math.sqrt(ROUNDING_MSE) };
}

// ---------------------------------------------------------------------------------------------
// Discretisation

/** Arguments of discretizationBound. */
export interface DiscretizationArgs {
  /** Grid points per axis (samples at j/n_i, j < n_i, on [0,1]^d). */
  n: readonly number[];
  /**
   * Lipschitz constant of v: one number bounds every axis's partial Lipschitz constant (any
   * Euclidean Lipschitz constant does), or one constant per axis.
   */
  lipschitz: number | readonly number[];
  /** sup |v| over [0,1]^d. */
  supNorm: number;
  /** Largest |ω_i| per axis among the retained frequencies. */
  maxFrequency: readonly number[];
}

function checkNonNeg(x: unknown, op: string, name: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new RangeError(`${op}: ${name} must be a finite number ≥ 0, got ${String(x)}`);
  return x;
}

function lipschitzPerAxis(l: number | readonly number[], d: number, op: string): number[] {
  if (typeof l === 'number') return Array.from({ length: d }, () => checkNonNeg(l, op, 'lipschitz'));
  if (!Array.isArray(l) || l.length !== d) {
    throw new RangeError(`${op}: lipschitz must be a number or ${d} per-axis numbers, got ${Array.isArray(l) ? `${l.length} numbers` : String(l)}`);
  }
  return l.map((x, i) => checkNonNeg(x, op, `lipschitz[${i}]`));
}

function checkGrid(n: unknown, op: string): number[] {
  if (!Array.isArray(n) || n.length < 1) throw new RangeError(`${op}: n must list the grid points per axis, got ${String(n)}`);
  for (const x of n) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) throw new RangeError(`${op}: n must be positive integers, got [${n.join(', ')}]`);
  }
  return n as number[];
}

/** Σ_i (M_i + 2π|ω_i|·S) / (2 n_i) for one frequency. */
function coefficientBound(n: readonly number[], M: readonly number[], S: number, omega: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < n.length; i++) s += (M[i]! + 2 * Math.PI * Math.abs(omega[i]!) * S) / (2 * n[i]!);
  return s;
}

/**
 * Per-coefficient discretisation bound: for v with partial Lipschitz constants M_i and sup-norm S
 * on [0,1]^d, and every frequency with |ω_i| ≤ maxFrequency_i,
 *   |F v(ω) − F_n v(ω)| ≤ Σ_i (M_i + 2π|ω_i|·S) / (2 n_i),
 * F v(ω) = ∫ v(x) e^{−2πi⟨ω,x⟩} dx and F_n v(ω) = (1/N) Σ_j v(j/n) e^{−2πi⟨ω,j/n⟩} (the DFT with
 * norm 'forward'). Needs no periodicity. With equal n and a single M it is (d·M + 2π‖ω‖₁S)/(2n),
 * never above (M + 2π‖ω‖₂S)·√d/n for d ≤ 4.
 */
export function discretizationBound(args: DiscretizationArgs): number {
  const op = 'discretizationBound';
  const n = checkGrid(args?.n, op);
  const d = n.length;
  const M = lipschitzPerAxis(args.lipschitz, d, op);
  const S = checkNonNeg(args.supNorm, op, 'supNorm');
  if (!Array.isArray(args.maxFrequency) || args.maxFrequency.length !== d) {
    throw new RangeError(`${op}: maxFrequency must have ${d} entries (one per axis), got ${String(args.maxFrequency)}`);
  }
  const w = args.maxFrequency.map((x, i) => checkNonNeg(x, op, `maxFrequency[${i}]`));
  return coefficientBound(n, M, S, w);
}

/** The signed frequencies rfftnModes keeps on each axis (centred on all but the last, 0…k−1 on the last). */
export function keptFrequencies(modes: readonly number[]): number[][] {
  const d = modes.length;
  return modes.map((k, a) => (a === d - 1 ? Array.from({ length: k }, (_, i) => i) : Array.from({ length: k }, (_, i) => i - Math.floor(k / 2))));
}

/**
 * ℓ2 aggregate of the per-coefficient bound over the coefficients rfftnModes keeps (modes k_i):
 * √(Σ_{ω∈K} b(ω)²) ≥ ‖F v − F_n v‖ on K. This is what a spectral layer sees.
 */
export function discretizationBoundL2(args: Omit<DiscretizationArgs, 'maxFrequency'> & { modes: readonly number[] }): number {
  const op = 'discretizationBoundL2';
  const n = checkGrid(args?.n, op);
  const d = n.length;
  const M = lipschitzPerAxis(args.lipschitz, d, op);
  const S = checkNonNeg(args.supNorm, op, 'supNorm');
  if (!Array.isArray(args.modes) || args.modes.length !== d || args.modes.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new RangeError(`${op}: modes must be ${d} positive integers, got ${String(args.modes)}`);
  }
  const freqs = keptFrequencies(args.modes);
  let s = 0;
  const idx = new Array<number>(d).fill(0);
  const total = shapeSize(args.modes);
  for (let c = 0; c < total; c++) {
    let r = c;
    for (let a = d - 1; a >= 0; a--) {
      idx[a] = freqs[a]![r % args.modes[a]!]!;
      r = Math.floor(r / args.modes[a]!);
    }
    s += coefficientBound(n, M, S, idx) ** 2;
  }
  return Math.sqrt(s);
}

function checkField(values: unknown, sizes: unknown, op: string): { v: ArrayLike<number>; n: number[]; fields: number } {
  if (!(values instanceof Float64Array || values instanceof Float32Array || Array.isArray(values))) {
    throw new TypeError(`${op}: values must be a Float64Array, Float32Array or number[]`);
  }
  const n = checkGrid(sizes, op);
  const N = shapeSize(n);
  if (values.length === 0 || values.length % N !== 0) {
    throw new RangeError(`${op}: ${values.length} values are not a whole number of ${n.join('×')} grids`);
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`${op}: values[${i}] is not finite (${String(values[i])})`);
  }
  return { v: values as ArrayLike<number>, n, fields: values.length / N };
}

/**
 * Per-axis periodic finite-difference slopes max_j |v(j + e_i) − v(j)|·n_i (index j + e_i taken
 * modulo n_i), over every field of a [fields…, n1…nd] array. Each slope is a LOWER estimate of the
 * partial Lipschitz constant of the periodic extension of v (a secant never exceeds it).
 */
export function estimateLipschitzPerAxis(values: Float64Array | Float32Array | readonly number[], sizes: readonly number[]): number[] {
  const { v, n, fields } = checkField(values, sizes, 'estimateLipschitz');
  const d = n.length;
  const N = shapeSize(n);
  const out = new Array<number>(d).fill(0);
  for (let a = 0; a < d; a++) {
    const inner = shapeSize(n.slice(a + 1));
    const len = n[a]!;
    let m = 0;
    for (let f = 0; f < fields; f++) {
      const base = f * N;
      for (let i = 0; i < N; i++) {
        const ia = Math.floor(i / inner) % len;
        const j = ia === len - 1 ? i - (len - 1) * inner : i + inner;
        m = Math.max(m, Math.abs(v[base + j]! - v[base + i]!));
      }
    }
    out[a] = m * len;
  }
  return out;
}

/** max over axes of estimateLipschitzPerAxis: a lower estimate of a Lipschitz constant M. */
export function estimateLipschitz(values: Float64Array | Float32Array | readonly number[], sizes: readonly number[]): number {
  return Math.max(...estimateLipschitzPerAxis(values, sizes));
}

/**
 * sup |v| estimated from samples: max_j |v_j|, plus Σ_i M_i/n_i when Lipschitz constants are given
 * (every point of [0,1]^d is within 1/n_i of a sample along each axis), which makes it an upper
 * bound whenever the M_i are true Lipschitz constants.
 */
export function estimateSupNorm(
  values: Float64Array | Float32Array | readonly number[], sizes: readonly number[], lipschitz?: number | readonly number[],
): number {
  const op = 'estimateSupNorm';
  const { v, n } = checkField(values, sizes, op);
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]!));
  if (lipschitz === undefined) return m;
  const M = lipschitzPerAxis(lipschitz, n.length, op);
  return m + M.reduce((s, x, i) => s + x / n[i]!, 0);
}

// ---------------------------------------------------------------------------------------------
// Measured error

/**
 * Which half-precision forward FFT fftErrorReport measures and bounds: 'emulated' (every stage
 * rounded to the half type, `emulate_half_fft: true`) or 'training' (16-bit input and output, f32
 * arithmetic inside: what 'half' Fourier layers run by default).
 */
export type FftPath = 'emulated' | 'training';

/** Result of fftErrorReport: measured error and the bounds scaled to this batch. */
export interface FftErrorReport {
  path: FftPath;
  /** ‖Ŷ_K − Y_K‖₂ / ‖Y_K‖₂ over the kept coefficients of the whole batch (half vs float64). */
  measured: number;
  /**
   * Worst-case bound for this batch. Emulated: bound.worst · ‖Y‖₂ / ‖Y_K‖₂ (‖Y‖₂ the full
   * spectrum's norm). Training: halfIoFftBound's three terms divided by ‖Y_K‖₂.
   */
  worst: number;
  /**
   * Typical estimate for this batch. Emulated: bound.typical · ‖Y‖₂·√(K/N) / ‖Y_K‖₂ (errors spread
   * evenly). Training: ρu·√(1 + ‖Y‖₂²·(K/N)/‖Y_K‖₂²) (output rounding plus input rounding spread evenly).
   */
  typical: number;
  /** ‖Y‖₂ = c·√N·‖x‖₂ (Parseval; c the norm's scale). */
  fullNorm: number;
  /** ‖Y_K‖₂, the exact kept coefficients' norm. */
  keptNorm: number;
  /** The emulated FFT's bound (path 'emulated'), or the f32 transform's (path 'training', u = 2^-24). */
  bound: FftPrecisionBound;
  /** Path 'training' only: the terms of the bound. */
  halfIo?: HalfIoFftBound;
}

/** Σ|got − ref|² and Σ|ref|² over the complex values of two spectra of one shape, and their count. */
function keptErrors(ref: ComplexTensor, got: ComplexTensor): { e2: number; s2: number; count: number } {
  const [rr, ri, gr, gi] = [ref.re.toFloat64(), ref.im.toFloat64(), got.re.toFloat64(), got.im.toFloat64()];
  let e2 = 0;
  let s2 = 0;
  for (let i = 0; i < rr.length; i++) {
    e2 += (gr[i]! - rr[i]!) ** 2 + (gi[i]! - ri[i]!) ** 2;
    s2 += rr[i]! ** 2 + ri[i]! ** 2;
  }
  return { e2, s2, count: rr.length };
}

function checkHalf(halfType: unknown, op: string): Half {
  if (!(HALVES as readonly unknown[]).includes(halfType)) {
    throw new TypeError(`${op}: halfType must be 'float16' or 'bfloat16', got '${String(halfType)}'`);
  }
  return halfType as Half;
}

/**
 * Runs rfftnModes(x, modes) in `halfType` on an f32 copy of x and in float64 and compares the kept
 * coefficients; x is [batch…, n1…nd] with d = modes.length. `path` 'emulated' (default) runs the
 * emulated half FFT; 'training' rounds the input to the half type and runs the f32 FFT with a
 * half-type output, as a 'half' Fourier layer does in training.
 */
export function fftErrorReport(x: Tensor, modes: readonly number[], halfType: HalfType, opts: { norm?: FftNorm; path?: FftPath } = {}): FftErrorReport {
  const op = 'fftErrorReport';
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: x must be a Tensor`);
  const half = checkHalf(halfType, op);
  if (!Array.isArray(modes) || modes.length < 1 || modes.length > 3 || modes.length > x.ndim) {
    throw new RangeError(`${op}: modes must list 1 to 3 mode counts, at most x's ${x.ndim} axes; got ${String(modes)}`);
  }
  const norm = checkNormOpt(opts.norm ?? 'forward', op);
  const path = opts.path ?? 'emulated';
  if (path !== 'emulated' && path !== 'training') throw new RangeError(`${op}: path must be 'emulated' or 'training', got '${String(path)}'`);
  const d = modes.length;
  const sizes = x.shape.slice(-d);
  const vals = x.toFloat64();
  let x2 = 0;
  for (let i = 0; i < vals.length; i++) {
    if (!Number.isFinite(vals[i])) throw new RangeError(`${op}: x holds a non-finite value at ${i}`);
    x2 += vals[i]! * vals[i]!;
  }
  const x64 = Tensor.fromArray(vals, x.shape, 'float64', 'workspace');
  const x32 = Tensor.fromArray(vals, x.shape, 'float32', 'workspace');
  const made: { release(): void }[] = [x64, x32];
  try {
    const ref = rfftnModes(x64, modes, { norm });
    made.push(ref);
    let got: ReturnType<typeof rfftnModes>;
    if (path === 'emulated') got = rfftnModes(x32, modes, { norm, emulate: half, dtype: 'float32' });
    else {
      const xh = Tensor.empty(x.shape, half, 'workspace');
      made.push(xh);
      backend().convert(x32, xh);
      got = rfftnModes(xh, modes, { norm, dtype: half });
    }
    made.push(got);
    const { e2, s2, count } = keptErrors(ref, got);
    const N = shapeSize(sizes);
    const c = sizes.reduce((p, n) => p * axisScale(n, norm), 1);
    const fullNorm = c * Math.sqrt(N * x2);
    const keptNorm = Math.sqrt(s2);
    const K = shapeSize(modes);
    const measured = keptNorm > 0 ? Math.sqrt(e2) / keptNorm : e2 > 0 ? Infinity : 0;
    if (path === 'training') {
      const hb = halfIoFftBound(sizes, half, { norm });
      const u = hb.output;
      const tinyAbs = hb.tiny * ((1 + u) * (1 + hb.f32) * c * Math.sqrt(N * vals.length) + Math.sqrt(2 * count));
      return {
        path, measured,
        worst: keptNorm > 0 ? hb.output + (hb.full * fullNorm + tinyAbs) / keptNorm : Infinity,
        typical: keptNorm > 0 ? hb.rho * u * Math.sqrt(1 + ((fullNorm / keptNorm) ** 2 * K) / N) : Infinity,
        fullNorm, keptNorm, bound: fftPrecisionBound(sizes, U32, { norm }), halfIo: hb,
      };
    }
    const bound = fftPrecisionBound(sizes, unitRoundoff(half), { norm });
    return {
      path,
      measured,
      worst: keptNorm > 0 ? (bound.worst * fullNorm) / keptNorm : Infinity,
      typical: keptNorm > 0 ? (bound.typical * fullNorm * Math.sqrt(K / N)) / keptNorm : Infinity,
      fullNorm,
      keptNorm,
      bound,
    };
  } finally {
    for (const t of made) t.release();
  }
}

/** Relative L2 error of the kept coefficients of rfftnModes in half vs float64 (fftErrorReport().measured; emulated by default). */
export function measuredFftError(x: Tensor, modes: readonly number[], halfType: HalfType, opts: { norm?: FftNorm; path?: FftPath } = {}): number {
  return fftErrorReport(x, modes, halfType, opts).measured;
}

// ---------------------------------------------------------------------------------------------
// Budget: precision vs discretisation

/** Arguments of errorBudget. */
export interface ErrorBudgetArgs {
  /** Grid points per axis. */
  n: readonly number[];
  /** Modes kept per axis (as rfftnModes). */
  modes: readonly number[];
  /** Unit roundoff of the spectral arithmetic. */
  u: number;
  lipschitz: number | readonly number[];
  supNorm: number;
  /** RMS of v over the grid (default supNorm, which bounds it). */
  rms?: number;
}

/** Precision and discretisation errors of the kept Fourier coefficients, in the same units. */
export interface ErrorBudget {
  /** ℓ2 bound on the discretisation error over the kept coefficients (discretizationBoundL2). */
  discretization: number;
  /** Worst-case ℓ2 precision error of the kept coefficients (norm 'forward'): worst·rms. */
  precisionWorst: number;
  /** Typical ℓ2 precision error of the kept coefficients: typical·rms·√(K/N). */
  precisionTypical: number;
  /** precisionWorst / discretization. */
  ratioWorst: number;
  /** precisionTypical / discretization. */
  ratioTypical: number;
}

/**
 * Compares the two errors on the kept coefficients of one signal (Fourier-coefficient units, norm
 * 'forward'): the discretisation bound aggregated over K and the precision error, whose reference
 * is ‖Y‖₂ = ‖v‖_RMS over the grid.
 */
export function errorBudget(args: ErrorBudgetArgs): ErrorBudget {
  const op = 'errorBudget';
  const n = checkSizeList(args?.n, op, 'n');
  const rms = checkNonNeg(args.rms ?? args.supNorm, op, 'rms');
  const discretization = discretizationBoundL2({ n, modes: args.modes, lipschitz: args.lipschitz, supNorm: args.supNorm });
  const b = fftPrecisionBound(n, args.u, { norm: 'forward' });
  const K = shapeSize(args.modes);
  const N = shapeSize(n);
  const precisionWorst = b.worst * rms;
  const precisionTypical = b.typical * rms * Math.sqrt(K / N);
  return {
    discretization,
    precisionWorst,
    precisionTypical,
    ratioWorst: precisionWorst / discretization,
    ratioTypical: precisionTypical / discretization,
  };
}

// ---------------------------------------------------------------------------------------------
// The spherical harmonic transform (training path)

/** Norms of the analysis matrices A[m] = 2π·q_k·P̄_l^m(x_k) of a plan: max_m ‖A[m]‖₂ and max_m ‖|A[m]|‖₂. */
export interface ShtMatrixNorms {
  /** max over m of the spectral norm of A[m] (lmax × nlat). */
  a: number;
  /** max over m of the spectral norm of |A[m]| (entrywise absolute values), which bounds a GEMM's rounding. */
  absA: number;
}

const shtNormCache = new WeakMap<ShtPlan, ShtMatrixNorms>();

/** Largest singular value of the rows×cols matrix M (row-major, f64) by power iteration on MᵀM (converged to 1e-12). */
function spectralNorm(M: Float64Array, rows: number, cols: number): number {
  let v = new Float64Array(cols).fill(1 / Math.sqrt(cols));
  let s = 0;
  const w = new Float64Array(rows);
  for (let it = 0; it < 500; it++) {
    for (let i = 0; i < rows; i++) {
      let t = 0;
      for (let j = 0; j < cols; j++) t += M[i * cols + j]! * v[j]!;
      w[i] = t;
    }
    const z = new Float64Array(cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) z[j] += M[i * cols + j]! * w[i]!;
    const nz = Math.sqrt(z.reduce((a, q) => a + q * q, 0));
    if (nz === 0) return 0;
    const s2 = Math.sqrt(nz);
    v = z.map((q) => q / nz);
    if (Math.abs(s2 - s) <= 1e-12 * s2) return s2 * (1 + 1e-9);
    s = s2;
  }
  // not converged to 1e-12: a Frobenius norm is a safe upper bound
  return Math.sqrt(M.reduce((a, q) => a + q * q, 0));
}

/** The analysis matrices' norms of an SHT plan (float64, cached per plan). */
export function shtMatrixNorms(plan: ShtPlan): ShtMatrixNorms {
  let r = shtNormCache.get(plan);
  if (!r) {
    const A = plan.matrices('float64').analysis.toFloat64();
    const { lmax: L, nlat: K, mmax: M } = plan;
    let a = 0;
    let absA = 0;
    for (let m = 0; m < M; m++) {
      const blk = A.subarray(m * L * K, (m + 1) * L * K);
      a = Math.max(a, spectralNorm(blk, L, K));
      absA = Math.max(absA, spectralNorm(blk.map(Math.abs), L, K));
    }
    r = { a, absA };
    shtNormCache.set(plan, r);
  }
  return r;
}

/** What shtErrorReport measures and bounds for one batch. */
export interface ShtErrorReport {
  /** Measured ‖Ŷ − Y‖₂ / ‖Y‖₂ over the kept coefficients, half vs float64. */
  measured: number;
  /** Guaranteed bound on the same ratio (no overflow assumed). */
  worst: number;
  /** ‖Y‖₂ of the exact kept coefficients, and ‖x‖₂ of the batch. */
  keptNorm: number;
  inputNorm: number;
  /** The terms: ε_F of the longitude FFT (input rounding included), the work rounding, the GEMM's γ, the matrix norms. */
  terms: { fft: number; work: number; gemm: number; norms: ShtMatrixNorms };
}

/**
 * Worst-case bound and measured error of the forward SHT as a spherical layer runs it in training:
 * 'half': input rounded to the half type, the longitude FFT in f32 with its output stored in the half
 * type, the Legendre GEMM in f32 (f32 copy of the matrices), the coefficients rounded to the half type;
 * 'mixed': f32 input and FFT output, the coefficients rounded to the half type. For x [B, C, nlat, nlon]
 * (all signals together) with exact kept coefficients Y = A·F·x (docs/bounds.md, "(d)"):
 *
 *   ‖Ŷ − Y‖ ≤ u‖Y‖ + (1 + u)·[γ_{nlat+1}·‖|A|‖·(1 + e_w) + ‖A‖·e_w]·‖x‖/√nlon + tiny terms,
 *   e_F = u_in + ε₃₂(1 + u_in),   e_w = w(1 + e_F) + e_F
 *
 * with u_in = u ('half') or 0, w = u ('half') or 0, ε₃₂ the f32 FFT's worst case for nlon, γ_k = k·u₃₂/(1 − k·u₃₂),
 * ‖A‖ and ‖|A|‖ the largest norms over the orders of the analysis matrices (shtMatrixNorms).
 */
export function shtErrorReport(x: Tensor, plan: ShtPlan, halfType: HalfType, precision: 'half' | 'mixed' = 'half'): ShtErrorReport {
  const op = 'shtErrorReport';
  const half = checkHalf(halfType, op);
  if (precision !== 'half' && precision !== 'mixed') throw new RangeError(`${op}: precision must be 'half' or 'mixed', got '${String(precision)}'`);
  if (x.ndim !== 4 || x.shape[2] !== plan.nlat || x.shape[3] !== plan.nlon) throw new RangeError(`${op}: x [${x.shape.join(', ')}] is not [batch, channels, ${plan.nlat}, ${plan.nlon}]`);
  const vals = x.toFloat64();
  let x2 = 0;
  for (let i = 0; i < vals.length; i++) {
    if (!Number.isFinite(vals[i])) throw new RangeError(`${op}: x holds a non-finite value at ${i}`);
    x2 += vals[i]! * vals[i]!;
  }
  const made: { release(): void }[] = [];
  try {
    const x64 = Tensor.fromArray(vals, x.shape, 'float64', 'workspace');
    const x32 = Tensor.fromArray(vals, x.shape, 'float32', 'workspace');
    made.push(x64, x32);
    const ref = shtModes(x64, plan);
    made.push(ref);
    let xin = x32;
    if (precision === 'half') {
      xin = Tensor.empty(x.shape, half, 'workspace');
      made.push(xin);
      backend().convert(x32, xin);
    }
    const got = shtModes(xin, plan, { dtype: half, work: precision === 'half' ? half : 'float32' });
    made.push(got);
    const { e2, s2, count } = keptErrors(ref, got);
    const keptNorm = Math.sqrt(s2);
    const inputNorm = Math.sqrt(x2);
    const u = unitRoundoff(half);
    const uin = precision === 'half' ? u : 0;
    const w = precision === 'half' ? u : 0;
    const eps32 = fftPrecisionBound([plan.nlon], U32, { norm: 'forward' }).worst;
    const eF = uin + eps32 * (1 + uin);
    const ew = w * (1 + eF) + eF;
    const g = gamma(plan.nlat + 1, U32);
    const norms = shtMatrixNorms(plan);
    const sq = Math.sqrt(plan.nlon);
    // tiny values below the half type's normal range: absolute TINY per rounded value (input, FFT output, coefficients)
    const nIn = vals.length;
    const nWork = 2 * plan.mmax * plan.nlat * (vals.length / (plan.nlat * plan.nlon));
    const tiny = TINY[half] * (Math.sqrt(2 * count) + (precision === 'half' ? norms.a * (Math.sqrt(nWork) + ((1 + eps32) * Math.sqrt(nIn)) / sq) : 0));
    const abs = u * keptNorm + (1 + u) * ((g * norms.absA * (1 + ew) + norms.a * ew) * inputNorm / sq + tiny);
    return {
      measured: keptNorm > 0 ? Math.sqrt(e2) / keptNorm : e2 > 0 ? Infinity : 0,
      worst: keptNorm > 0 ? abs / keptNorm : Infinity,
      keptNorm, inputNorm,
      terms: { fft: eF, work: w, gemm: g, norms },
    };
  } finally {
    for (const t of made) t.release();
  }
}

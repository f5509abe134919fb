/**
 * n-D FFTs over the trailing d axes (d = 1, 2, 3) of [batch…, n1, …, nd], built from batched 1-D
 * passes (src/kernels/fft-pass.ts) run by the current backend: wasm SIMD in f32 for f32/f16/bf16
 * tensors, float64 for float64 tensors.
 *
 * - rfftn / irfftn: real ↔ half spectrum [batch…, n1, …, n_{d−1}, n_d/2+1] (natural FFT order).
 * - fftn / ifftn: complex ↔ complex.
 * - rfftnModes / irfftnModes: the truncated pair used by spectral convolutions. Forward keeps, on
 *   axes 1…d−1, the k_i lowest frequencies of both signs, in increasing order −⌊k_i/2⌋ … ⌈k_i/2⌉−1
 *   (neuralop's centred order), and on the last axis frequencies 0…k_d−1; output is mode-major
 *   [k1, …, kd, batch…] (planar re/im). The last-axis real FFT runs first and only the k_d kept
 *   columns are transformed along the other axes. The inverse zero-fills the missing modes and skips
 *   the zero columns the same way.
 *
 * Norms as numpy/torch: 'backward' (none forward, 1/N inverse), 'forward' (1/N forward, neuralop's
 * default), 'ortho' (1/√N both). The factor is applied per axis, in each axis's pass, so values stay
 * bounded in every pass (what keeps an fp16 pipeline from overflowing).
 * irfft enforces Hermitian symmetry: the imaginary parts of the DC and (even n) Nyquist columns of
 * the last axis are ignored.
 */
import type { DType, HalfDType } from '../core/dtype.js';
import { ComplexTensor, Tensor, fmtShape, shapeSize } from '../core/tensor.js';
import type { Backend } from '../kernels/backend.js';
import { backend } from '../kernels/cpu.js';
import type { FftPass, FftView } from '../kernels/fft-pass.js';

export type FftNorm = 'backward' | 'forward' | 'ortho';
export const FFT_NORMS: readonly FftNorm[] = ['backward', 'forward', 'ortho'];

export interface FftOptions {
  norm?: FftNorm;
  /** dtype of the result (default: the input's dtype). */
  dtype?: DType;
  /** Round every butterfly stage's output to this 16-bit type (an emulated half-precision FFT). */
  emulate?: HalfDType;
  /** Backend to run on (default: the current one). */
  backend?: Backend;
}

function checkNorm(norm: string, op: string): FftNorm {
  if (!(FFT_NORMS as readonly string[]).includes(norm)) {
    throw new RangeError(`${op}: unknown norm '${norm}' (expected backward, forward or ortho)`);
  }
  return norm as FftNorm;
}

function axisScale(n: number, norm: FftNorm, inverse: boolean): number {
  if (norm === 'ortho') return 1 / Math.sqrt(n);
  if (norm === 'forward') return inverse ? 1 : 1 / n;
  return inverse ? 1 / n : 1;
}

function checkD(d: number, ndim: number, op: string, shape: readonly number[]): void {
  if (!Number.isInteger(d) || d < 1 || d > 3) throw new RangeError(`${op}: d must be 1, 2 or 3, got ${d}`);
  if (ndim < d) throw new RangeError(`${op}: a ${d}-D transform needs at least ${d} axes; got shape ${fmtShape(shape)}`);
}

function checkSizes(sizes: readonly number[], op: string): void {
  for (const n of sizes) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`${op}: sizes must be positive integers, got [${sizes.join(', ')}]`);
  }
}

const iota = (k: number, start = 0): Int32Array => Int32Array.from({ length: k }, (_, i) => i + start);

/** Transform positions of the k centred modes of an axis of length n: frequencies −⌊k/2⌋ … ⌈k/2⌉−1. */
export function centredModes(k: number, n: number): Int32Array {
  const h = Math.floor(k / 2);
  return Int32Array.from({ length: k }, (_, i) => (((i - h) % n) + n) % n);
}

function checkModes(modes: readonly number[], sizes: readonly number[], op: string): void {
  const d = sizes.length;
  if (modes.length !== d) throw new RangeError(`${op}: ${modes.length} mode counts for a ${d}-D transform`);
  modes.forEach((k, a) => {
    const limit = a === d - 1 ? Math.floor(sizes[a]! / 2) + 1 : sizes[a]!;
    if (!Number.isInteger(k) || k < 1 || k > limit) {
      throw new RangeError(
        `${op}: modes[${a}] = ${k} is not allowed for a grid of size ${sizes[a]} (1…${limit}${a === d - 1 ? ', n/2+1 on the last axis' : ''})`,
      );
    }
  });
}

interface Ctx {
  be: Backend;
  work: DType;
  emulate: HalfDType | undefined;
}

function ctxOf(dtypes: DType[], opts: FftOptions): Ctx {
  const f64 = dtypes.includes('float64');
  if (f64 && opts.emulate) throw new TypeError(`fft: emulate '${opts.emulate}' is not available for float64 tensors`);
  if (opts.emulate !== undefined && opts.emulate !== 'float16' && opts.emulate !== 'bfloat16') {
    throw new TypeError(`fft: emulate must be 'float16' or 'bfloat16', got '${String(opts.emulate)}'`);
  }
  return { be: opts.backend ?? backend(), work: f64 ? 'float64' : 'float32', emulate: opts.emulate };
}

function view(t: Tensor, im: Tensor | undefined, rowStride: number, l1: number, l2: number, rows: Int32Array): FftView {
  return { re: t, im, offset: 0, rowStride, laneStride1: l1, laneStride2: l2, rows };
}

function run(ctx: Ctx, p: Omit<FftPass, 'emulate'>): void {
  ctx.be.fft({ ...p, emulate: ctx.emulate });
}

/**
 * Forward pipeline shared by rfftn, fftn and rfftnModes. `keep[a]` is the number of output
 * positions along axis a and `rowsOut[a]` their transform positions; `modeMajor` selects the output
 * layout [k1…kd, R] instead of [R, k1…kd].
 *
 * Intermediates are batch-major, [R, n1…n_a, k_{a+1}…kd]: the last-axis pass reads rows of stride 1
 * (SIMD-transposed gathers) and every other pass reads and writes contiguous lanes.
 */
function forward(
  ctx: Ctx, xr: Tensor, xi: Tensor | undefined, d: number, keep: number[], rowsOut: Int32Array[],
  modeMajor: boolean, inverse: boolean, norm: FftNorm, outDtype: DType,
): ComplexTensor {
  const sizes = xr.shape.slice(-d);
  const batch = xr.shape.slice(0, -d);
  const R = shapeSize(batch);
  const S = shapeSize(sizes.slice(0, -1));
  const nd = sizes[d - 1]!;
  const kd = keep[d - 1]!;
  const out = ComplexTensor.empty(modeMajor ? [...keep, ...batch] : [...batch, ...keep], outDtype, 'activation');
  const temps: ComplexTensor[] = [];
  try {
    // last axis: lanes = the R·S rows of length nd
    const last = d === 1;
    const dst = last ? out : ComplexTensor.empty([R * S, kd], ctx.work, 'workspace');
    if (!last) temps.push(dst);
    run(ctx, {
      kind: xi ? 'c2c' : 'r2c', inverse, n: nd, lanes1: R * S, lanes2: 1, scale: axisScale(nd, norm, inverse),
      src: view(xr, xi, 1, nd, 0, iota(nd)),
      dst: last && modeMajor ? view(dst.re, dst.im, R, 1, 0, rowsOut[0]!) : view(dst.re, dst.im, 1, kd, 0, rowsOut[d - 1]!),
    });
    let cur = dst;
    // axes d−2 … 0: [O, n_a, K] → [O, k_a, K], lanes (κ < K, o < O)
    for (let a = d - 2; a >= 0; a--) {
      const n = sizes[a]!;
      const k = keep[a]!;
      const K = shapeSize(keep.slice(a + 1));
      const O = R * shapeSize(sizes.slice(0, a));
      const final = a === 0;
      const next = final ? out : ComplexTensor.empty([O, k, K], ctx.work, 'workspace');
      if (!final) temps.push(next);
      run(ctx, {
        kind: 'c2c', inverse, n, scale: axisScale(n, norm, inverse), lanes1: K, lanes2: O,
        src: view(cur.re, cur.im, K, 1, n * K, iota(n)),
        dst: final && modeMajor ? view(next.re, next.im, K * R, R, 1, rowsOut[0]!) : view(next.re, next.im, K, 1, k * K, rowsOut[a]!),
      });
      cur = next;
    }
    return out;
  } catch (e) {
    out.release();
    throw e;
  } finally {
    for (const t of temps) t.release();
  }
}

/**
 * Inverse pipeline shared by irfftn, ifftn and irfftnModes: input spectrum in natural [R, k1…kd] or
 * mode-major [k1…kd, R] layout whose rows sit at transform positions rowsIn[a]; output [R, n1…nd].
 */
function inverseT(
  ctx: Ctx, X: ComplexTensor, batch: readonly number[], sizes: number[], keep: number[], rowsIn: Int32Array[],
  modeMajor: boolean, real: boolean, inverse: boolean, norm: FftNorm, outDtype: DType,
): Tensor | ComplexTensor {
  const d = sizes.length;
  const R = shapeSize(batch);
  const S = shapeSize(sizes.slice(0, -1));
  const nd = sizes[d - 1]!;
  const kd = keep[d - 1]!;
  const outShape = [...batch, ...sizes];
  const out: Tensor | ComplexTensor = real ? Tensor.empty(outShape, outDtype, 'activation') : ComplexTensor.empty(outShape, outDtype, 'activation');
  const outRe = out instanceof Tensor ? out : out.re;
  const outIm = out instanceof Tensor ? undefined : out.im;
  const temps: ComplexTensor[] = [];
  try {
    let cur = X;
    // axes 0 … d−2: [O, k_a, K] → [O, n_a, K], lanes (κ < K, o < O)
    for (let a = 0; a <= d - 2; a++) {
      const n = sizes[a]!;
      const k = keep[a]!;
      const K = shapeSize(keep.slice(a + 1));
      const O = R * shapeSize(sizes.slice(0, a));
      const next = ComplexTensor.empty([O, n, K], ctx.work, 'workspace');
      temps.push(next);
      run(ctx, {
        kind: 'c2c', inverse, n, scale: axisScale(n, norm, inverse), lanes1: K, lanes2: O,
        src: a === 0 && modeMajor ? view(cur.re, cur.im, K * R, R, 1, rowsIn[0]!) : view(cur.re, cur.im, K, 1, k * K, rowsIn[a]!),
        dst: view(next.re, next.im, K, 1, n * K, iota(n)),
      });
      cur = next;
    }
    // last axis: lanes = the R·S rows
    run(ctx, {
      kind: real ? 'c2r' : 'c2c', inverse, n: nd, lanes1: R * S, lanes2: 1, scale: axisScale(nd, norm, inverse),
      src: d === 1 && modeMajor ? view(cur.re, cur.im, R, 1, 0, rowsIn[0]!) : view(cur.re, cur.im, 1, kd, 0, rowsIn[d - 1]!),
      dst: view(outRe, outIm, 1, nd, 0, iota(nd)),
    });
    return out;
  } catch (e) {
    (out as Tensor).release();
    throw e;
  } finally {
    for (const t of temps) t.release();
  }
}

/** Real FFT over the last d axes: [batch…, n1…nd] → [batch…, n1…n_{d−1}, n_d/2+1] complex. */
export function rfftn(x: Tensor, d: number, opts: FftOptions = {}): ComplexTensor {
  const op = 'rfftn';
  checkD(d, x.ndim, op, x.shape);
  const norm = checkNorm(opts.norm ?? 'backward', op);
  const sizes = x.shape.slice(-d);
  const keep = [...sizes.slice(0, -1), Math.floor(sizes[d - 1]! / 2) + 1];
  const ctx = ctxOf([x.dtype], opts);
  return forward(ctx, x, undefined, d, keep, keep.map((k) => iota(k)), false, false, norm, opts.dtype ?? x.dtype);
}

/** Complex FFT over the last d axes (natural order); `inverse` for ifftn. */
function cfftn(x: ComplexTensor, d: number, inverse: boolean, opts: FftOptions, op: string): ComplexTensor {
  checkD(d, x.re.ndim, op, x.shape);
  const norm = checkNorm(opts.norm ?? 'backward', op);
  const sizes = x.shape.slice(-d);
  const ctx = ctxOf([x.dtype], opts);
  return forward(ctx, x.re, x.im, d, [...sizes], sizes.map((k) => iota(k)), false, inverse, norm, opts.dtype ?? x.dtype);
}

export function fftn(x: ComplexTensor, d: number, opts: FftOptions = {}): ComplexTensor {
  return cfftn(x, d, false, opts, 'fftn');
}

export function ifftn(x: ComplexTensor, d: number, opts: FftOptions = {}): ComplexTensor {
  return cfftn(x, d, true, opts, 'ifftn');
}

/**
 * Inverse real FFT: spectrum [batch…, n1…n_{d−1}, n_d/2+1] → real [batch…, n1…nd] with the output
 * sizes given (they fix n_d, which the half spectrum cannot tell apart from n_d − 1).
 */
export function irfftn(X: ComplexTensor, sizes: readonly number[], opts: FftOptions = {}): Tensor {
  const op = 'irfftn';
  const d = sizes.length;
  checkSizes(sizes, op);
  checkD(d, X.re.ndim, op, X.shape);
  const norm = checkNorm(opts.norm ?? 'backward', op);
  const keep = [...sizes.slice(0, -1), Math.floor(sizes[d - 1]! / 2) + 1];
  const spec = X.shape.slice(-d);
  if (spec.some((s, i) => s !== keep[i])) {
    throw new RangeError(`${op}: a spectrum of shape ${fmtShape(X.shape)} does not match output sizes [${sizes.join(', ')}] (expected trailing axes ${fmtShape(keep)})`);
  }
  const ctx = ctxOf([X.dtype], opts);
  return inverseT(ctx, X, X.shape.slice(0, -d), [...sizes], keep, keep.map((k) => iota(k)), false, true, true, norm, opts.dtype ?? X.dtype) as Tensor;
}

/** Truncated forward transform: [batch…, n1…nd] real → [k1…kd, batch…] complex (mode-major). */
export function rfftnModes(x: Tensor, modes: readonly number[], opts: FftOptions = {}): ComplexTensor {
  const op = 'rfftnModes';
  const d = modes.length;
  checkD(d, x.ndim, op, x.shape);
  const sizes = x.shape.slice(-d);
  checkModes(modes, sizes, op);
  const norm = checkNorm(opts.norm ?? 'backward', op);
  const rows = modes.map((k, a) => (a === d - 1 ? iota(k) : centredModes(k, sizes[a]!)));
  const ctx = ctxOf([x.dtype], opts);
  return forward(ctx, x, undefined, d, [...modes], rows, true, false, norm, opts.dtype ?? x.dtype);
}

/** Truncated inverse: [k1…kd, batch…] complex → [batch…, n1…nd] real, zero-filling the other modes. */
export function irfftnModes(X: ComplexTensor, sizes: readonly number[], opts: FftOptions = {}): Tensor {
  const op = 'irfftnModes';
  const d = sizes.length;
  checkSizes(sizes, op);
  checkD(d, X.re.ndim, op, X.shape);
  const modes = X.shape.slice(0, d);
  checkModes(modes, sizes, op);
  const norm = checkNorm(opts.norm ?? 'backward', op);
  const rows = modes.map((k, a) => (a === d - 1 ? iota(k) : centredModes(k, sizes[a]!)));
  const ctx = ctxOf([X.dtype], opts);
  return inverseT(ctx, X, X.shape.slice(d), [...sizes], [...modes], rows, true, true, true, norm, opts.dtype ?? X.dtype) as Tensor;
}

/** Column weights by (shape, d, n_d, interior, ratio, dtype), built once; the oldest go beyond 32 entries. */
const weightCache = new Map<string, Tensor>();
const WEIGHT_CACHE_SIZE = 32;

/**
 * Weights over a mode-major spectrum [k1…kd, batch…] by its last-axis column: `ratio` for the DC
 * column and (even n) the Nyquist column, `interior·ratio` for the others, which stand for two
 * conjugate terms of the full spectrum. Cached (the backward of every spectral convolution asks for
 * the same few); the caller must not release or write the tensor.
 */
function columnWeights(X: ComplexTensor, d: number, nd: number, interior: number, ratio: number): Tensor {
  const dtype = X.dtype === 'float64' ? 'float64' : 'float32';
  const key = `${X.shape.join(',')}|${d}|${nd}|${interior}|${ratio}|${dtype}`;
  const hit = weightCache.get(key);
  if (hit) return hit;
  const kd = X.shape[d - 1]!;
  const inner = shapeSize(X.shape.slice(d));
  const w = Tensor.empty(X.shape, dtype, 'workspace');
  const wv = new Float64Array(w.size);
  for (let i = 0; i < w.size; i++) {
    const col = Math.floor(i / inner) % kd;
    wv[i] = (col === 0 || 2 * col === nd ? 1 : interior) * ratio;
  }
  w.set(wv);
  if (weightCache.size >= WEIGHT_CACHE_SIZE) {
    const [oldest, t] = weightCache.entries().next().value as [string, Tensor];
    weightCache.delete(oldest);
    t.release();
  }
  weightCache.set(key, w);
  return w;
}

/**
 * The adjoint of rfftnModes (as a real-linear map, with ⟨Z, Y⟩ = Σ Re(conj Z·Y)): what the backward
 * pass of a truncated forward FFT computes. It is irfftnModes of Y with the last-axis columns that
 * stand for two conjugate terms (all but DC and Nyquist) halved, times c_forward / c_inverse of the norm.
 */
export function rfftnModesAdjoint(Y: ComplexTensor, sizes: readonly number[], opts: FftOptions = {}): Tensor {
  const op = 'rfftnModesAdjoint';
  const d = sizes.length;
  checkSizes(sizes, op);
  checkD(d, Y.re.ndim, op, Y.shape);
  const norm = checkNorm(opts.norm ?? 'backward', op);
  const N = shapeSize(sizes);
  const ratio = norm === 'backward' ? N : norm === 'forward' ? 1 / N : 1;
  const be = opts.backend ?? backend();
  // columns standing for two conjugate terms count once in ⟨Z, Y⟩ but twice in the inverse
  const w = columnWeights(Y, d, sizes[d - 1]!, 0.5, ratio);
  const Yw = ComplexTensor.empty(Y.shape, w.dtype, 'workspace');
  try {
    be.binary('mul', Y.re, w, Yw.re);
    be.binary('mul', Y.im, w, Yw.im);
    return irfftnModes(Yw, sizes, { ...opts, dtype: opts.dtype ?? Y.dtype });
  } finally {
    Yw.release();
  }
}

/**
 * The adjoint of irfftnModes (real-linear, ⟨Z, Y⟩ = Σ Re(conj Z·Y)): the backward of a truncated
 * inverse FFT. It is rfftnModes of g with the last-axis columns that stand for two conjugate terms
 * doubled, times c_inverse / c_forward of the norm.
 */
export function irfftnModesAdjoint(g: Tensor, modes: readonly number[], opts: FftOptions = {}): ComplexTensor {
  const op = 'irfftnModesAdjoint';
  const d = modes.length;
  checkD(d, g.ndim, op, g.shape);
  const sizes = g.shape.slice(-d);
  const norm = checkNorm(opts.norm ?? 'backward', op);
  const N = shapeSize(sizes);
  const ratio = norm === 'backward' ? 1 / N : norm === 'forward' ? N : 1;
  const be = opts.backend ?? backend();
  const G = rfftnModes(g, modes, opts);
  try {
    const wt = columnWeights(G, d, sizes[d - 1]!, 2, ratio);
    be.binary('mul', G.re, wt, G.re);
    be.binary('mul', G.im, wt, G.im);
    return G;
  } catch (e) {
    G.release();
    throw e;
  }
}

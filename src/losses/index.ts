/**
 * neuralop's data losses. Both compare a prediction with a target per (batch, channel) function and
 * reduce over those functions ('sum' by default, as neuralop; 'mean' divides by their count).
 * Computed in float64 on the host with an exact backward (they are cheap next to the model).
 */
import { Tensor, fmtShape, shapeEq, shapeSize } from '../core/tensor.js';
import { Variable, record } from '../autograd/variable.js';

export type Reduction = 'sum' | 'mean';

export interface LossOptions {
  /** Number of trailing spatial axes. */
  d?: number;
  reduction?: Reduction;
  /** Added to the target norm in relative losses (neuralop: 1e-8 UNVERIFIED). */
  eps?: number;
}

function targetOf(y: Variable | Tensor): Tensor {
  return y instanceof Variable ? y.value : y;
}

function prepare(op: string, x: Variable, y: Tensor, d: number) {
  if (!shapeEq(x.shape, y.shape)) throw new RangeError(`${op}: prediction ${fmtShape(x.shape)} and target ${fmtShape(y.shape)} differ`);
  if (x.value.ndim < d) throw new RangeError(`${op}: a ${d}-D loss needs at least ${d} axes, got ${fmtShape(x.shape)}`);
  const sizes = x.shape.slice(x.shape.length - d);
  const N = shapeSize(sizes);
  const G = x.size / Math.max(N, 1);
  const xv = x.value.toFloat64();
  const yv = y.toFloat64();
  // a non-finite target is bad data; a non-finite prediction (a 16-bit overflow, usually) gives a
  // non-finite loss, which the trainer turns into a skipped step (loss scaling) or a named error
  for (let i = 0; i < yv.length; i++) {
    if (!Number.isFinite(yv[i]!)) throw new RangeError(`${op}: the target ${fmtShape(y.shape)} has a non-finite value at element ${i}`);
  }
  return { sizes, N, G, xv, yv };
}

function scalarOut(v: number, dtype: 'float32' | 'float64'): Tensor {
  return Tensor.fromArray([v], [], dtype, 'activation');
}

function checkD(op: string, d: number): void {
  if (!Number.isInteger(d) || d < 1 || d > 3) throw new RangeError(`${op}: d must be 1, 2 or 3, got ${d}`);
}

function checkReduction(op: string, r: string): Reduction {
  if (r !== 'sum' && r !== 'mean') throw new RangeError(`${op}: reduction must be 'sum' or 'mean', got '${r}'`);
  return r;
}

/** Relative (and absolute) Lp loss over the last d axes. */
export class LpLoss {
  readonly d: number;
  readonly p: number;
  readonly reduction: Reduction;
  readonly eps: number;

  constructor(opts: LossOptions & { p?: number } = {}) {
    this.d = opts.d ?? 1;
    this.p = opts.p ?? 2;
    this.reduction = checkReduction('LpLoss', opts.reduction ?? 'sum');
    this.eps = opts.eps ?? 1e-8;
    checkD('LpLoss', this.d);
    if (!(this.p >= 1)) throw new RangeError(`LpLoss: p must be ≥ 1, got ${this.p}`);
  }

  /**
   * Σ over functions of ‖x − y‖_p / (‖y‖_p + eps) (the quadrature weights cancel). A function is one
   * (batch item, channel) of a grid batch [B, C, …] (its last d axes), or with `segments` one (sample,
   * channel) of a point field [points, C] whose samples' points are the row ranges segments[b] …
   * segments[b + 1] − 1.
   */
  rel(x: Variable, target: Variable | Tensor, segments?: Int32Array): Variable {
    const op = 'LpLoss';
    const y = targetOf(target);
    const { xv, yv, order, starts } = segments ? preparePoints(op, x, y, segments) : gridFunctions(op, x, y, this.d);
    const G = starts.length - 1;
    const p = this.p;
    const scale = this.reduction === 'mean' ? 1 / G : 1;
    const dn = new Float64Array(G);
    const yn = new Float64Array(G);
    let total = 0;
    for (let g = 0; g < G; g++) {
      let a = 0;
      let b = 0;
      for (let k = starts[g]!; k < starts[g + 1]!; k++) {
        const i = order ? order[k]! : k;
        a += Math.abs(xv[i]! - yv[i]!) ** p;
        b += Math.abs(yv[i]!) ** p;
      }
      dn[g] = a ** (1 / p);
      yn[g] = b ** (1 / p) + this.eps;
      total += dn[g]! / yn[g]!;
    }
    const out = scalarOut(total * scale, x.dtype === 'float64' ? 'float64' : 'float32');
    return record(op, [x], out, (gOut) => {
      const go = gOut.item() * scale;
      const grad = new Float64Array(xv.length);
      for (let g = 0; g < G; g++) {
        if (dn[g] === 0) continue;
        const c = go / (yn[g]! * dn[g]! ** (p - 1));
        for (let k = starts[g]!; k < starts[g + 1]!; k++) {
          const i = order ? order[k]! : k;
          const e = xv[i]! - yv[i]!;
          grad[i] = c * Math.sign(e) * Math.abs(e) ** (p - 1);
        }
      }
      return [Tensor.fromArray(grad, x.shape, x.dtype, 'gradient')];
    });
  }

  forward(x: Variable, y: Variable | Tensor, segments?: Int32Array): Variable {
    return this.rel(x, y, segments);
  }
}

/** The functions of a grid batch: G runs of N contiguous elements (the last d axes). */
function gridFunctions(op: string, x: Variable, y: Tensor, d: number): { xv: Float64Array; yv: Float64Array; order: null; starts: Int32Array } {
  const { N, G, xv, yv } = prepare(op, x, y, d);
  const starts = new Int32Array(G + 1);
  for (let g = 0; g <= G; g++) starts[g] = g * N;
  return { xv, yv, order: null, starts };
}

/**
 * The functions of a point field [R, C] (or [R]) with per-sample row pointers: function (b, c) is the
 * elements r·C + c for the rows r of sample b; `order` lists them function by function.
 */
function preparePoints(op: string, x: Variable, y: Tensor, segments: Int32Array): { xv: Float64Array; yv: Float64Array; order: Int32Array; starts: Int32Array } {
  if (!shapeEq(x.shape, y.shape)) throw new RangeError(`${op}: prediction ${fmtShape(x.shape)} and target ${fmtShape(y.shape)} differ`);
  if (x.value.ndim < 1 || x.value.ndim > 2) throw new RangeError(`${op}: a point field is [points, channels], got ${fmtShape(x.shape)}`);
  const R = x.shape[0]!;
  const C = x.value.ndim === 2 ? x.shape[1]! : 1;
  const B = segments.length - 1;
  if (B < 1 || segments[0] !== 0 || segments[B] !== R) throw new RangeError(`${op}: row pointers ${segments[0]} … ${segments[B]} do not span the ${R} points of ${fmtShape(x.shape)}`);
  const { xv, yv } = prepare(op, x, y, 1);
  const order = new Int32Array(R * C);
  const starts = new Int32Array(B * C + 1);
  let k = 0;
  for (let b = 0; b < B; b++) {
    if (segments[b + 1]! < segments[b]!) throw new RangeError(`${op}: row pointers decrease at sample ${b}`);
    for (let c = 0; c < C; c++) {
      for (let r = segments[b]!; r < segments[b + 1]!; r++) order[k++] = r * C + c;
      starts[b * C + c + 1] = k;
    }
  }
  return { xv, yv, order, starts };
}

/**
 * Relative H1 loss over the last d axes: √(Σ e² + Σ_a (D_a e)²) / √(Σ y² + Σ_a (D_a y)²) with
 * e = x − y and D_a the central difference (f[i+1] − f[i−1]) / (2h), h = 1/n_a, periodic by
 * default (one-sided first differences at the two ends otherwise).
 */
export class H1Loss {
  readonly d: number;
  readonly reduction: Reduction;
  readonly eps: number;
  readonly periodic: boolean;

  constructor(opts: LossOptions & { periodic?: boolean } = {}) {
    this.d = opts.d ?? 1;
    this.reduction = checkReduction('H1Loss', opts.reduction ?? 'sum');
    this.eps = opts.eps ?? 1e-8;
    this.periodic = opts.periodic ?? true;
    checkD('H1Loss', this.d);
  }

  /**
   * D_a f (into out) for one function f of the given sizes; `transpose` applies Dᵀ. Row i of D has up
   * to two coefficients (c1 on neighbour j1, then c2 on j2), added into out in that order, row by row.
   */
  private diff(f: Float64Array, sizes: readonly number[], a: number, out: Float64Array, transpose: boolean): void {
    const n = sizes[a]!;
    const inner = shapeSize(sizes.slice(a + 1));
    const outer = shapeSize(sizes.slice(0, a));
    const h = 1 / n;
    const cc = 1 / (2 * h);
    const cn = -1 / (2 * h);
    const oc = 1 / h;
    const on = -1 / h;
    out.fill(0);
    for (let o = 0; o < outer; o++) {
      for (let q = 0; q < inner; q++) {
        const base = o * n * inner + q;
        for (let i = 0; i < n; i++) {
          let j1: number, c1: number, j2: number, c2: number;
          if (this.periodic || (i > 0 && i < n - 1)) {
            j1 = (i + 1) % n; c1 = cc; j2 = (i - 1 + n) % n; c2 = cn;
          } else if (n === 1) {
            continue;
          } else if (i === 0) {
            j1 = 1; c1 = oc; j2 = 0; c2 = on;
          } else {
            j1 = n - 1; c1 = oc; j2 = n - 2; c2 = on;
          }
          const ii = base + i * inner;
          const i1 = base + j1 * inner;
          const i2 = base + j2 * inner;
          if (transpose) {
            out[i1] += c1 * f[ii]!;
            out[i2] += c2 * f[ii]!;
          } else {
            out[ii] += c1 * f[i1]!;
            out[ii] += c2 * f[i2]!;
          }
        }
      }
    }
  }

  rel(x: Variable, target: Variable | Tensor): Variable {
    const op = 'H1Loss';
    const y = targetOf(target);
    const { sizes, N, G, xv, yv } = prepare(op, x, y, this.d);
    const d = this.d;
    const scale = this.reduction === 'mean' ? 1 / G : 1;
    const num = new Float64Array(G);
    const den = new Float64Array(G);
    const e = new Float64Array(N);
    const yf = new Float64Array(N);
    const t = new Float64Array(N);
    const dE: Float64Array[] = [];
    let total = 0;
    for (let g = 0; g < G; g++) {
      for (let i = 0; i < N; i++) {
        e[i] = xv[g * N + i]! - yv[g * N + i]!;
        yf[i] = yv[g * N + i]!;
      }
      let a = 0;
      let b = 0;
      for (let i = 0; i < N; i++) {
        a += e[i]! ** 2;
        b += yf[i]! ** 2;
      }
      const de: Float64Array[] = [];
      for (let ax = 0; ax < d; ax++) {
        const De = new Float64Array(N);
        this.diff(e, sizes, ax, De, false);
        this.diff(yf, sizes, ax, t, false);
        for (let i = 0; i < N; i++) {
          a += De[i]! ** 2;
          b += t[i]! ** 2;
        }
        de.push(De);
      }
      dE.push(...de);
      num[g] = Math.sqrt(a);
      den[g] = Math.sqrt(b) + this.eps;
      total += num[g]! / den[g]!;
    }
    const out = scalarOut(total * scale, x.dtype === 'float64' ? 'float64' : 'float32');
    return record(op, [x], out, (gOut) => {
      const go = gOut.item() * scale;
      const grad = new Float64Array(xv.length);
      const acc = new Float64Array(N);
      for (let g = 0; g < G; g++) {
        if (num[g] === 0) continue;
        // ∂/∂x of √(Σ e² + Σ (D e)²) = (e + Σ Dᵀ D e) / √(…)
        for (let i = 0; i < N; i++) acc[i] = xv[g * N + i]! - yv[g * N + i]!;
        for (let ax = 0; ax < d; ax++) {
          this.diff(dE[g * d + ax]!, sizes, ax, t, true);
          for (let i = 0; i < N; i++) acc[i] += t[i]!;
        }
        const c = go / (num[g]! * den[g]!);
        for (let i = 0; i < N; i++) grad[g * N + i] = c * acc[i]!;
      }
      return [Tensor.fromArray(grad, x.shape, x.dtype, 'gradient')];
    });
  }

  forward(x: Variable, y: Variable | Tensor, segments?: Int32Array): Variable {
    if (segments) throw new RangeError('H1Loss: a point field has no grid to differentiate on; use the l2 loss for point clouds');
    return this.rel(x, y);
  }
}

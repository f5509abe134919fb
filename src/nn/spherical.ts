/**
 * The spherical-harmonic transform as a SpectralTransform, and SphericalConv = SpectralConv with it
 * (neuralop's SphericalConv, torch-harmonics' SHT): fields [B, C, nlat, nlon] on an equiangular or
 * Gauss–Legendre grid ↔ coefficients packed [2, lmax, mmax, B, C] (degree-major). The weight spans the
 * degrees l only and is shared over the orders m (neuralop's dhconv contraction, torch-harmonics'
 * default): y_l^m = Σ_i W[i, o, l]·x_l^m.
 *
 * Precision: 'full' runs everything in f32; 'mixed' the forward SHT in f32 (its output rounded to the
 * half type), the contraction, the Legendre synthesis and the longitude inverse FFT in half (16-bit
 * storage, f32 accumulation); 'half' also stores the forward's longitude FFT output in half.
 */
import type { DType } from '../core/dtype.js';
import { fmtShape } from '../core/tensor.js';
import * as ops from '../autograd/ops.js';
import type { Variable } from '../autograd/variable.js';
import type { FftNorm } from '../fft/index.js';
import { type SphereGrid, SPHERE_GRIDS } from '../fft/legendre.js';
import { type ShtPlan, shtPlan } from '../fft/sht.js';
import { type SpectralConvFactory, SpectralConv, type SpectralConvOptions, type SpectralTransform, type SpectralWeightFactory, denseWeight } from './spectral.js';

export class SphericalTransform implements SpectralTransform {
  readonly name = 'spherical';
  /** [lmax, mmax]: degrees l < lmax, orders m < mmax. */
  readonly modes: readonly number[];
  /** [lmax]: one weight per degree, shared over the orders. */
  readonly weightModes: readonly number[];
  readonly norm: FftNorm = 'forward';

  /**
   * lmax, mmax exclusive (neuralop's SphericalConv: lmax = n_modes[0], mmax = n_modes[1] // 2), on
   * the given latitude grid (any resolution with nlat ≥ lmax and nlon//2 + 1 ≥ mmax).
   */
  constructor(readonly lmax: number, readonly mmax: number, readonly grid: SphereGrid = 'equiangular') {
    for (const [k, v] of [['lmax', lmax], ['mmax', mmax]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`SphericalConv: ${k} must be a positive integer, got ${v}`);
    }
    if (!SPHERE_GRIDS.includes(grid)) throw new RangeError(`SphericalConv: sht_grid must be one of ${SPHERE_GRIDS.join(', ')}, got ${JSON.stringify(grid)}`);
    this.modes = Object.freeze([lmax, mmax]);
    this.weightModes = Object.freeze([lmax]);
  }

  get description(): string {
    return `lmax ${this.lmax} mmax ${this.mmax} (${this.grid})`;
  }

  checkGrid(sizes: readonly number[], inputShape: readonly number[]): void {
    if (sizes.length !== 2) throw new RangeError(`SphericalConv: input ${fmtShape(inputShape)} is not [batch, channels, nlat, nlon]`);
    // the plan's own checks (lmax ≤ nlat, mmax ≤ nlon//2 + 1), named for this layer and input
    try {
      this.plan(sizes[0]!, sizes[1]!);
    } catch (e) {
      throw new RangeError(`SphericalConv: input ${fmtShape(inputShape)} does not fit lmax ${this.lmax}, mmax ${this.mmax}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** The transform plan of a grid size (cached). */
  plan(nlat: number, nlon: number): ShtPlan {
    return shtPlan(nlat, nlon, { lmax: this.lmax, mmax: this.mmax, grid: this.grid });
  }

  forward(x: Variable, st: ops.SpectralStages): Variable {
    const [B, C, nlat, nlon] = x.shape as [number, number, number, number];
    const work = st.forwardWork ?? (x.dtype === 'float64' ? 'float64' : 'float32');
    const Y = ops.shtModes(x, this.plan(nlat, nlon), { spectrum: st.spectrum, work, transformIn: st.transformIn, emulate: st.forwardEmulate });
    // [2, mmax, lmax, B·C] → degree-major [2, lmax, mmax, B, C] for the per-degree weight
    return ops.reshape(ops.permute(Y, [0, 2, 1, 3]), [2, this.lmax, this.mmax, B, C]);
  }

  inverse(Y: Variable, sizes: readonly number[], dtype: DType, st: ops.SpectralStages, bias?: Variable): Variable {
    const [nlat, nlon] = sizes as [number, number];
    const B = Y.shape[3]!;
    const C = Y.shape[4]!;
    const P = ops.permute(ops.reshape(Y, [2, this.lmax, this.mmax, B * C]), [0, 2, 1, 3]);
    return ops.ishtModes(P, this.plan(nlat, nlon), [B, C], { dtype, emulate: st.inverseEmulate }, bias);
  }
}

export interface SphericalConvOptions extends Omit<SpectralConvOptions, 'transform' | 'fftNorm'> {
  /** Latitude grid of the data (neuralop's sht_grids; one grid for input and output). */
  grid?: SphereGrid;
}

/**
 * neuralop's SphericalConv: SHT → per-degree complex weight (dense, or factorised over [in, out, l])
 * → inverse SHT on the same grid, + bias [out, 1, 1]. nModes = [lmax, 2·mmax] as neuralop takes
 * them (the orders kept are nModes[1] // 2).
 */
export class SphericalConv extends SpectralConv {
  declare readonly transform: SphericalTransform;

  constructor(inChannels: number, outChannels: number, opts: SphericalConvOptions) {
    if (opts.nModes.length !== 2) throw new RangeError(`SphericalConv: n_modes must have 2 entries (lmax, 2·mmax), got [${opts.nModes.join(', ')}]`);
    const [l, m2] = opts.nModes as [number, number];
    const mmax = Math.floor(m2 / 2);
    if (!Number.isInteger(m2) || mmax < 1) throw new RangeError(`SphericalConv: n_modes[1] must be an integer ≥ 2 (it keeps n_modes[1] // 2 orders), got ${m2}`);
    super(inChannels, outChannels, { ...opts, transform: new SphericalTransform(l, mmax, opts.grid ?? 'equiangular') });
  }
}

/** The factory of SphericalConv with a given weight and grid (SFNO's conv_module). */
export function sphericalConvFactory(weight: SpectralWeightFactory = denseWeight, grid: SphereGrid = 'equiangular'): SpectralConvFactory {
  return (o) => new SphericalConv(o.inChannels, o.outChannels, { nModes: o.nModes, weight, grid, rng: o.rng, dtype: o.dtype });
}

/**
 * The Spherical FNO (neuralop's SFNO = FNO with conv_module=SphericalConv): the FNO architecture whose
 * spectral convolutions run in the spherical-harmonic basis (nn/spherical.ts). Data are fields on the
 * sphere [batch, channels, nlat, nlon], latitudes north to south on an equiangular grid (both poles
 * included) or a Gauss–Legendre grid.
 */
import { type RankSpec, checkFactorizedWeight, type Factorization, type FactorizedImplementation, factorizedWeight, parseFactorization, parseImplementation, rankOption } from '../nn/factorized.js';
import { denseWeight } from '../nn/spectral.js';
import { sphericalConvFactory } from '../nn/spherical.js';
import { type SphereGrid, SPHERE_GRIDS } from '../fft/legendre.js';
import { FNO, type FNOOptions, type ResolvedFnoOptions, resolveFnoOptions } from './fno.js';

/** SFNO options: FNO's (n_modes = [lmax, 2·mmax] as neuralop takes them) plus the grid and the weight's factorization. */
export interface SFNOOptions extends FNOOptions {
  /** The latitude grid of the data: 'equiangular' (default) or 'legendre-gauss' (neuralop's sht_grids, one grid for input and output). */
  sht_grids?: SphereGrid | [SphereGrid, SphereGrid];
  /** 'dense' (default, as neuralop's SFNO), 'cp', 'tucker' or 'tt': the per-degree weight [in, out, lmax] factorised. */
  factorization?: Factorization | string;
  /** Fraction of the dense weight's size a factorised weight keeps (default 0.5, neuralop's SphericalConv default). */
  rank?: RankSpec;
  implementation?: FactorizedImplementation;
}

export interface ResolvedSfnoOptions {
  fno: ResolvedFnoOptions;
  grid: SphereGrid;
  factorization: Factorization;
  rank: RankSpec;
  implementation: FactorizedImplementation;
}

const SFNO_KEYS = new Set(['sht_grids', 'factorization', 'rank', 'implementation']);

/** Validates SFNO options, naming the field of any problem; builds nothing. */
export function resolveSfnoOptions(o: SFNOOptions): ResolvedSfnoOptions {
  const who = 'SFNO';
  const fno = resolveFnoOptions(o, { who, extra: SFNO_KEYS });
  if (fno.n_modes.length !== 2) throw new RangeError(`${who}: n_modes must be [lmax, 2·mmax] (2 entries: degrees, and twice the orders kept), got ${JSON.stringify(fno.n_modes)}`);
  if (fno.n_modes[1]! < 2) throw new RangeError(`${who}: n_modes[1] must be at least 2 (it keeps n_modes[1] // 2 orders), got ${fno.n_modes[1]}`);
  // domain_padding is accepted as neuralop does (its SFNO example pads by 0.05): the padded array is
  // transformed as a grid of nlat + 2p latitudes, which is not the sphere's geometry (docs/sphere.md)
  const g = o.sht_grids ?? 'equiangular';
  const grids = Array.isArray(g) ? g : [g, g];
  for (const x of grids) if (!(SPHERE_GRIDS as readonly unknown[]).includes(x)) throw new RangeError(`${who}: sht_grids must be one of ${SPHERE_GRIDS.join(', ')}, got ${JSON.stringify(x)}`);
  if (grids.length !== 2 || grids[0] !== grids[1]) throw new RangeError(`${who}: sht_grids must name one grid for input and output (regridding between layers is not supported), got ${JSON.stringify(g)}`);
  const factorization = parseFactorization(o.factorization ?? 'dense', who);
  const implementation = parseImplementation(o.implementation ?? 'factorized', who);
  const rank = rankOption(o.rank ?? 0.5, 'rank', who);
  if (factorization !== 'dense') {
    checkFactorizedWeight({ factorization, rank, implementation }, { inChannels: fno.hidden_channels, outChannels: fno.hidden_channels, modes: [fno.n_modes[0]!] }, who);
  }
  return { fno, grid: grids[0] as SphereGrid, factorization, rank, implementation };
}

/**
 * neuralop's SFNO: grid embedding → lifting → Fourier blocks with SphericalConv → projection. Input
 * [batch, in_channels, nlat, nlon]; any resolution with nlat ≥ lmax and nlon//2 + 1 ≥ mmax (zero-shot
 * super-resolution on the same grid kind). State-dict names are FNO's; each spectral weight is
 * 'weight' [in, out, lmax, 2] (dense) as neuralop's ComplexDense [in, out, lmax].
 */
export class SFNO extends FNO {
  readonly sphere: ResolvedSfnoOptions;

  constructor(options: SFNOOptions) {
    const r = resolveSfnoOptions(options);
    const weight = r.factorization === 'dense' ? denseWeight : factorizedWeight({ factorization: r.factorization, rank: r.rank, implementation: r.implementation });
    super(options, { conv: sphericalConvFactory(weight, r.grid), family: 'SFNO', config: r.fno });
    this.sphere = r;
  }
}

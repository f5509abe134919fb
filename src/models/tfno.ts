/**
 * The Tensorized FNO (neuralop's TFNO): an FNO whose spectral convolutions learn their complex
 * weights in a factorised form (nn/factorized.ts), Tucker of rank 0.1 by default.
 */
import { type RankSpec, checkFactorizedWeight, type Factorization, type FactorizedImplementation, factorizedWeight, parseFactorization, parseImplementation, rankOption } from '../nn/factorized.js';
import { spectralConvFactory } from '../nn/spectral.js';
import { FNO, type FNOOptions, type ResolvedFnoOptions, resolveFnoOptions } from './fno.js';

/** TFNO options: FNO's plus the factorization of the spectral weights (neuralop's names). */
export interface TFNOOptions extends FNOOptions {
  /** 'dense', 'cp', 'tucker' (default) or 'tt', any case (neuralop writes 'Tucker'). */
  factorization?: Factorization | string;
  /** Fraction f > 0 of the dense weight's size the decomposition keeps (tensorly's float rank); default 0.1. */
  rank?: RankSpec;
  /** 'factorized' (default, as neuralop's FNO: the spectrum contracted with the factors) or 'reconstructed'. */
  implementation?: FactorizedImplementation;
  /** Separable spectral weights (in, k1…kd): channels are not mixed in the spectral branch. Default false. */
  separable?: boolean;
}

/** TFNO's own options with defaults filled in. */
export interface ResolvedTfnoFactorization {
  factorization: Factorization;
  rank: RankSpec;
  implementation: FactorizedImplementation;
  separable: boolean;
}

const TFNO_KEYS = new Set(['factorization', 'rank', 'implementation', 'separable']);

/**
 * Validates TFNO options (FNO's, then the factorization's, including the ranks each spectral layer
 * gets: a rank that empties a factor is an error here), building nothing.
 */
export function resolveTfnoOptions(o: TFNOOptions): { fno: ResolvedFnoOptions; factorized: ResolvedTfnoFactorization } {
  const who = 'TFNO';
  const fno = resolveFnoOptions(o, { who, extra: TFNO_KEYS });
  const factorization = parseFactorization(o.factorization ?? 'tucker', who);
  const implementation = parseImplementation(o.implementation ?? 'factorized', who);
  const rank = rankOption(o.rank ?? 0.1, 'rank', who);
  const separable = o.separable ?? false;
  if (typeof separable !== 'boolean') throw new RangeError(`${who}: separable must be true or false, got ${JSON.stringify(separable)}`);
  const factorized = { factorization, rank, implementation, separable };
  // every Fourier block maps hidden → hidden channels over the same modes (the last axis n//2 + 1)
  const d = fno.n_modes.length;
  const modes = fno.n_modes.map((m, i) => (i === d - 1 ? Math.floor(m / 2) + 1 : m));
  checkFactorizedWeight(factorized, { inChannels: fno.hidden_channels, outChannels: fno.hidden_channels, modes }, who);
  return { fno, factorized };
}

/**
 * neuralop's TFNO: FNO (grid embedding → lifting → Fourier blocks → projection) whose spectral
 * layers are SpectralConv with a factorised weight. State-dict names are FNO's, with each spectral
 * weight's entries as FactorizedSpectralWeight names them (tltorch's accepted on load).
 */
export class TFNO extends FNO {
  readonly factorized: ResolvedTfnoFactorization;

  constructor(options: TFNOOptions) {
    const r = resolveTfnoOptions(options);
    super(options, { conv: spectralConvFactory(factorizedWeight(r.factorized)), family: 'TFNO', config: r.fno });
    this.factorized = r.factorized;
  }
}

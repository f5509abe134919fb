// Whether a grid model's config fits data of a shape (used before a model is built: train, eval,
// predict, and the browser page).
import { fmtShape } from '../core/tensor.js';
import { domainPaddingAmounts } from './fno.js';

/** The model fields the check reads (a RunConfig's model section). */
export type ModelSpec = { name: string } & Record<string, unknown>;

/** Whether a Fourier model may meet grids with fewer frequencies than its n_modes (evaluation, prediction). */
export interface ModesCheck {
  coarserGrids?: boolean;
}

/**
 * Checks, before a model is built or anything is written, that a model config fits data x
 * [N, C, …spatial]: channels, the rank of n_modes, and that every axis's modes fit its grid (padded by
 * domain_padding), as the Fourier layers would require at their first forward pass.
 */
export function checkModelFitsData(model: ModelSpec, xShape: readonly number[], yShape: readonly number[], file: string, opts: ModesCheck = {}): void {
  const spatial = xShape.slice(2);
  const modes = model.n_modes;
  if (!Array.isArray(modes)) return; // the FNO constructor names this error
  if (modes.length !== spatial.length) {
    throw new RangeError(`model.n_modes ${JSON.stringify(modes)} has ${modes.length} entr${modes.length === 1 ? 'y' : 'ies'}, but ${file} is ${spatial.length}-D (x ${fmtShape([...xShape])}); give one mode count per spatial axis`);
  }
  const pad = domainPaddingAmounts(Array.isArray(model.domain_padding) || typeof model.domain_padding === 'number' ? model.domain_padding : null, spatial);
  modes.forEach((m, a) => {
    const n = spatial[a]! + 2 * pad[a]!;
    const last = a === modes.length - 1;
    // the last axis keeps m//2 + 1 of the n//2 + 1 rfft frequencies; the others keep m of n
    // a Fourier model runs on grids with fewer frequencies (neuralop keeps the modes that fit): allowed
    // where it is asked for (evaluation and prediction at other resolutions), not for the training data
    const fourier = model.name === 'FNO' || model.name === 'TFNO';
    if (typeof m === 'number' && !(opts.coarserGrids && fourier) && (last ? Math.floor(m / 2) + 1 > Math.floor(n / 2) + 1 : m > n)) {
      throw new RangeError(`model.n_modes[${a}] = ${m} does not fit the ${n}-point grid of axis ${a} of ${file} (x ${fmtShape([...xShape])}); at most ${last ? 2 * Math.floor(n / 2) + 1 : n}${fourier ? ' (for training; evaluation at a coarser grid keeps the modes that fit)' : ''}`);
    }
  });
  const cin = model.in_channels;
  const cout = model.out_channels;
  if (typeof cin !== 'number' || typeof cout !== 'number') return; // the FNO constructor names this error
  if (cin !== xShape[1] || cout !== yShape[1]) {
    throw new RangeError(`model.in_channels/out_channels (${cin}/${cout}) do not match the data (${xShape[1]} in, ${yShape[1]} out channels in ${file})`);
  }
}

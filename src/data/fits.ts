// Whether a model config fits a dataset (grid or point cloud), checked before a model is built.
import { fmtShape } from '../core/tensor.js';
import { type ModelSpec, type ModesCheck, checkModelFitsData } from '../models/fits.js';
import { modelFamily } from '../models/registry.js';
import { PointCloudDataset } from './points.js';

/** A grid dataset's shapes (TensorDataset, LazyGridDataset). */
type Dataset = { xShape: readonly number[]; yShape: readonly number[] } | PointCloudDataset;

/**
 * Checks that a model config fits a dataset: a grid family on grid data (checkModelFitsData), a
 * point-cloud family (GINO) on point data, its channels against the dataset's fields.
 */
export function checkModelFitsDataset(model: ModelSpec, data: Dataset, file: string, opts: ModesCheck = {}): void {
  const family = modelFamily(model.name);
  const points = family.data === 'points';
  if (!(data instanceof PointCloudDataset)) {
    if (points) throw new RangeError(`model ${model.name} takes point clouds, but ${file} is a grid dataset (x ${fmtShape(data.xShape)}); give it a point dataset (mpno generate bodies, or neuralop's car data)`);
    checkModelFitsData(model, data.xShape, data.yShape, file, opts);
    return;
  }
  if (!points) throw new RangeError(`model ${model.name} takes grid data {x, y}, but ${file} is a point-cloud dataset; use GINO for point clouds`);
  const s = data.samples[0]!;
  const m = model as Record<string, unknown>;
  const cout = s['y']!.shape[1];
  if (m['out_channels'] !== cout) throw new RangeError(`model.out_channels (${JSON.stringify(m['out_channels'])}) does not match the ${cout} target channel(s) of ${file}`);
  const cin = typeof m['in_channels'] === 'number' ? m['in_channels'] : 0;
  if (cin > 0 && s['x']?.shape[1] !== cin) throw new RangeError(`model.in_channels (${cin}) does not match the ${s['x']?.shape[1] ?? 0} input channel(s) on the points of ${file}`);
  const lf = m['latent_feature_channels'];
  if (typeof lf === 'number' && s['latent_features']?.shape[0] !== lf) throw new RangeError(`model.latent_feature_channels (${lf}) does not match the ${s['latent_features']?.shape[0] ?? 0} latent feature channel(s) of ${file}`);
  const grid = data.shared['latent_queries']?.shape.slice(0, 3) ?? [];
  const modes = m['fno_n_modes'];
  if (Array.isArray(modes)) {
    modes.forEach((k, a) => {
      const n = grid[a] ?? 0;
      const last = a === 2;
      if (typeof k === 'number' && (last ? Math.floor(k / 2) + 1 > Math.floor(n / 2) + 1 : k > n)) {
        throw new RangeError(`model.fno_n_modes[${a}] = ${k} does not fit the ${n}-point latent grid axis ${a} of ${file}`);
      }
    });
  }
}

import { fmtShape } from '../core/tensor.js';
import type { Tensor } from '../core/tensor.js';
import { type NormalizerState, UnitGaussianNormalizer } from '../data/dataset.js';
import { type AnyDataset, isGridDataset } from '../data/dataset-file.js';
import { checkWeightsFit } from '../nn/module.js';

export { checkWeightsFit };
import { type NeuralOperator, buildModel, modelFamily } from '../models/registry.js';
import { type ModesCheck, checkModelFitsData } from '../models/fits.js';

export { type ModesCheck, checkModelFitsData };
import { parsePrecisionSchedule, scheduleEpochs } from '../precision/schedule.js';
import type { TrainingState } from '../train/checkpoint.js';
import type { RunConfig } from '../train/config.js';
import { applySavedPrecision } from '../train/trainer.js';


/**
 * Checks that a model config fits a dataset: a grid family on grid data (checkModelFitsData), a
 * point-cloud family (GINO) on point data, its channels against the dataset's fields.
 */

export function checkModelFitsDataset(model: RunConfig['model'], data: AnyDataset, file: string, opts: ModesCheck = {}): void {
  const family = modelFamily(model.name);
  const points = family.data === 'points';
  if (isGridDataset(data)) {
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


/**
 * The model of a checkpoint, ready for eval/predict: built from the checkpoint's config after checking
 * it fits the data, its weights checked and loaded, and in the precision state the checkpoint
 * recorded (per-layer precision, the schedule's last mode), not the config's starting precision.
 */
export function modelFromCheckpoint(ck: { dir: string; state: TrainingState; weights: Record<string, Tensor> }, data: AnyDataset, dataFile: string): { model: NeuralOperator; config: RunConfig; normalizer: UnitGaussianNormalizer | undefined } {
  const config = ck.state.config;
  checkModelFitsDataset(config.model, data, dataFile, { coarserGrids: true });
  const model = buildModel(config.model, { seed: config.training.seed });
  try {
    checkWeightsFit(model, ck.weights, ck.dir, "the checkpoint's config (state.json)");
    model.loadStateDict(ck.weights);
    const sched = config.precision?.schedule;
    applySavedPrecision(model, ck.state.precision ?? null, {
      schedule: sched ? scheduleEpochs(parsePrecisionSchedule(sched), config.training.n_epochs) : undefined,
      ampInHalfPhases: config.model.amp ?? false,
      epoch: ck.state.epoch,
    });
  } catch (e) {
    model.release();
    throw e;
  }
  const normalizer = ck.state.normalizer ? UnitGaussianNormalizer.fromState(ck.state.normalizer as NormalizerState) : undefined;
  return { model, config, normalizer };
}

import type { Tensor } from '../core/tensor.js';
import { type NormalizerState, UnitGaussianNormalizer } from '../data/dataset.js';
import type { AnyDataset } from '../data/dataset-file.js';
import { checkModelFitsDataset } from '../data/fits.js';
import { type ModesCheck, checkModelFitsData } from '../models/fits.js';
import { type NeuralOperator, buildModel } from '../models/registry.js';
import { checkWeightsFit } from '../nn/module.js';
import { fixedSchedule } from '../precision/schedule.js';
import type { TrainingState } from '../train/checkpoint.js';
import type { RunConfig } from '../train/config.js';
import { applySavedPrecision } from '../train/trainer.js';

// the checks live with what they check; re-exported for the commands
export { type ModesCheck, checkModelFitsData, checkModelFitsDataset, checkWeightsFit };

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
      schedule: fixedSchedule(sched, config.training.n_epochs),
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

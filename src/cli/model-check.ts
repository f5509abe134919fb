import { fmtShape } from '../core/tensor.js';
import type { Tensor } from '../core/tensor.js';
import { type NormalizerState, UnitGaussianNormalizer } from '../data/dataset.js';
import { type AnyDataset, isGridDataset } from '../data/dataset-file.js';
import type { Module } from '../nn/module.js';
import { type NeuralOperator, buildModel, modelFamily } from '../models/registry.js';
import { domainPaddingAmounts } from '../models/fno.js';
import { parsePrecisionSchedule, scheduleEpochs } from '../precision/schedule.js';
import type { TrainingState } from '../train/checkpoint.js';
import type { RunConfig } from '../train/config.js';
import { applySavedPrecision } from '../train/trainer.js';

/**
 * Checks, before a model is built or anything is written, that a model config fits data x
 * [N, C, …spatial]: channels, the rank of n_modes, and that every axis's modes fit its grid (padded by
 * domain_padding), as the Fourier layers would require at their first forward pass.
 */
export function checkModelFitsData(model: RunConfig['model'], xShape: readonly number[], yShape: readonly number[], file: string, opts: ModesCheck = {}): void {
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

/**
 * Checks that a model config fits a dataset: a grid family on grid data (checkModelFitsData), a
 * point-cloud family (GINO) on point data, its channels against the dataset's fields.
 */
/** Whether a Fourier model may meet grids with fewer frequencies than its n_modes (evaluation, prediction). */
export interface ModesCheck {
  coarserGrids?: boolean;
}

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
 * Checks that checkpoint weights have the names and shapes of a model's parameters, naming the first
 * one that differs with its qualified name; `source` says where the model's config came from.
 */
export function checkWeightsFit(model: Module, weights: Record<string, Tensor>, checkpoint: string, source: string): void {
  const expected = model.stateDict();
  try {
    const hint = `the checkpoint and ${source} describe different models`;
    for (const [name, t] of expected) {
      const w = weights[name];
      if (w === undefined) throw new RangeError(`${checkpoint}: the checkpoint has no '${name}' (${fmtShape(t.shape)}), which the model built from ${source} has; ${hint}`);
      if (fmtShape(w.shape) !== fmtShape(t.shape)) {
        throw new RangeError(`${checkpoint}: '${name}' has shape ${fmtShape(w.shape)} in the checkpoint, but the model built from ${source} expects ${fmtShape(t.shape)}; ${hint}`);
      }
    }
    const extra = Object.keys(weights).filter((k) => !expected.has(k));
    if (extra.length) throw new RangeError(`${checkpoint}: the checkpoint has '${extra[0]}', which the model built from ${source} lacks; ${hint}`);
  } finally {
    for (const t of expected.values()) t.release();
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

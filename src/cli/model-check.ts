import { fmtShape } from '../core/tensor.js';
import type { Tensor } from '../core/tensor.js';
import { type NormalizerState, UnitGaussianNormalizer } from '../data/dataset.js';
import type { Module } from '../nn/module.js';
import { type NeuralOperator, buildModel } from '../models/registry.js';
import { parsePrecisionSchedule, scheduleEpochs } from '../precision/schedule.js';
import type { TrainingState } from '../train/checkpoint.js';
import type { RunConfig } from '../train/config.js';
import { applySavedPrecision } from '../train/trainer.js';

/**
 * Checks, before a model is built or anything is written, that a model config fits data x
 * [N, C, …spatial]: channels, the rank of n_modes, and that every axis's modes fit its grid (padded by
 * domain_padding), as the Fourier layers would require at their first forward pass.
 */
export function checkModelFitsData(model: RunConfig['model'], xShape: readonly number[], yShape: readonly number[], file: string): void {
  const spatial = xShape.slice(2);
  const modes = model.n_modes;
  if (!Array.isArray(modes)) return; // the FNO constructor names this error
  if (modes.length !== spatial.length) {
    throw new RangeError(`model.n_modes ${JSON.stringify(modes)} has ${modes.length} entr${modes.length === 1 ? 'y' : 'ies'}, but ${file} is ${spatial.length}-D (x ${fmtShape([...xShape])}); give one mode count per spatial axis`);
  }
  const p = typeof model.domain_padding === 'number' ? model.domain_padding : 0;
  modes.forEach((m, a) => {
    const n = spatial[a]! + 2 * Math.round(spatial[a]! * p);
    const last = a === modes.length - 1;
    // the last axis keeps m//2 + 1 of the n//2 + 1 rfft frequencies; the others keep m of n
    if (typeof m === 'number' && (last ? Math.floor(m / 2) + 1 > Math.floor(n / 2) + 1 : m > n)) {
      throw new RangeError(`model.n_modes[${a}] = ${m} does not fit the ${n}-point grid of axis ${a} of ${file} (x ${fmtShape([...xShape])}); at most ${last ? 2 * Math.floor(n / 2) + 1 : n}`);
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
export function modelFromCheckpoint(ck: { dir: string; state: TrainingState; weights: Record<string, Tensor> }, x: readonly number[], y: readonly number[], dataFile: string): { model: NeuralOperator; config: RunConfig; normalizer: UnitGaussianNormalizer | undefined } {
  const config = ck.state.config;
  checkModelFitsData(config.model, x, y, dataFile);
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

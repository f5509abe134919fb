/**
 * The inference path of the browser page, on bytes rather than files: a checkpoint's state.json and
 * model.safetensors, a dataset (an mpno safetensors dataset or neuralop's Darcy .pt), one sample run
 * through the model at its own grid or resampled to another. Nothing here touches the DOM or a Node
 * built-in, so the same module runs in the page's engine worker and in Node (the tests compare both).
 */
import { Variable, noGrad, tidy } from '../autograd/variable.js';
import { Tensor, fmtShape } from '../core/tensor.js';
import { relativeL2 } from '../core/norms.js';

export { relativeL2 };
import { UnitGaussianNormalizer, type NormalizerState, TensorDataset, darcyFromPt, gridFromSafetensors } from '../data/dataset.js';
import { parsePt } from '../data/formats/pt.js';
import { decodeSafetensors } from '../data/formats/safetensors-codec.js';
import { checkModelFitsDataset } from '../data/fits.js';
import { PointCloudDataset, bodiesFromContents, carsFromPt } from '../data/points.js';
import { releaseBatch } from '../core/batch.js';
import { generateDarcySample, subsampleField } from '../data/generators/darcy.js';
import type { ModelSpec } from '../models/fits.js';
import { type NeuralOperator, buildModel, modelNames, validateModel } from '../models/registry.js';
import { checkWeightsFit } from '../nn/module.js';
import { withPrecision } from '../precision/policy.js';
import { applySavedPrecision, fixedSchedule } from '../precision/schedule.js';
import { neuralopExportFromBytes, neuralopToMpno, toModelNames } from '../train/neuralop.js';

/** A checkpoint loaded for inference. */
export interface LoadedRun {
  name: string;
  model: NeuralOperator;
  spec: ModelSpec;
  normalizer: UnitGaussianNormalizer | undefined;
  epoch: number;
  /** The precision the checkpoint runs in, e.g. 'full' or 'mixed fp16 + AMP'. */
  precision: string;
  /** Whether some Fourier layer (or AMP) runs in half precision: the page offers full vs that. */
  hasHalf: boolean;
}

/** A problem with what the user gave the page (named file or field). */
export class InputError extends Error {
  override name = 'InputError';
}

/** fn's result; an error it throws becomes an InputError (with `context` and the message in brackets, if given). */
function asInput<T>(fn: () => T, context?: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InputError) throw e;
    const m = e instanceof Error ? e.message : String(e);
    throw new InputError(context ? `${context} (${m})` : m);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Loads a checkpoint from the text of its state.json and the bytes of its model.safetensors (as
 * `mpno train` writes them in each checkpoint directory), in the precision it was last run in.
 */
export function runFromBytes(stateText: string, weightBytes: Uint8Array, name: string): LoadedRun {
  let state: unknown;
  try {
    state = JSON.parse(stateText);
  } catch (e) {
    throw new InputError(`${name}/state.json is not JSON (${e instanceof Error ? e.message : String(e)}); pick a checkpoint directory written by mpno train or mpno import`);
  }
  if (!isRecord(state) || state['format'] !== 'mpno-checkpoint' || state['version'] !== 1) {
    throw new InputError(`${name}/state.json is not an mpno checkpoint (format ${isRecord(state) ? JSON.stringify(state['format']) : typeof state}); pick a checkpoint directory written by mpno train or mpno import`);
  }
  const config = state['config'];
  if (!isRecord(config) || !isRecord(config['model']) || typeof config['model']['name'] !== 'string') {
    throw new InputError(`${name}/state.json: config.model with a 'name' is missing`);
  }
  const spec = config['model'] as ModelSpec;
  if (!modelNames().includes(spec.name)) {
    throw new InputError(`${name}: model family '${spec.name}' is not known to this mpno (it has ${modelNames().join(', ')})`);
  }
  asInput(() => validateModel(spec), `${name}/state.json: the model section is not valid`);
  const epoch = typeof state['epoch'] === 'number' ? state['epoch'] : 0;
  let weights: Record<string, Tensor>;
  let metadata: Record<string, string>;
  ({ tensors: weights, metadata } = asInput(() => decodeSafetensors(weightBytes, `${name}/model.safetensors`, { role: 'data' })));
  const training = isRecord(config['training']) ? config['training'] : {};
  const seed = typeof training['seed'] === 'number' ? training['seed'] : 0;
  let model: NeuralOperator | undefined;
  try {
    if (metadata['epoch'] !== undefined && metadata['epoch'] !== String(epoch)) {
      throw new InputError(`${name}: model.safetensors is from epoch ${metadata['epoch']} but state.json from epoch ${epoch}; pick the two files of one checkpoint`);
    }
    model = buildModel(spec, { seed });
    checkWeightsFit(model, weights, `${name}/model.safetensors`, "the checkpoint's config (state.json)");
    model.loadStateDict(weights);
    const precisionCfg = isRecord(config['precision']) ? config['precision'] : {};
    const sched = typeof precisionCfg['schedule'] === 'string' ? precisionCfg['schedule'] : undefined;
    const nEpochs = typeof training['n_epochs'] === 'number' ? training['n_epochs'] : epoch;
    applySavedPrecision(model, state['precision'] ?? null, {
      schedule: fixedSchedule(sched, nEpochs),
      ampInHalfPhases: spec['amp'] === true,
      epoch,
    });
  } catch (e) {
    model?.release();
    throw e instanceof InputError ? e : new InputError(e instanceof Error ? e.message : String(e));
  } finally {
    for (const t of Object.values(weights)) t.release();
  }
  const normalizer = isRecord(state['normalizer']) ? UnitGaussianNormalizer.fromState(state['normalizer'] as unknown as NormalizerState) : undefined;
  return described(name, model, spec, normalizer, epoch);
}

function described(name: string, model: NeuralOperator, spec: ModelSpec, normalizer: UnitGaussianNormalizer | undefined, epoch: number): LoadedRun {
  model.eval();
  const layers = model.precisionReport();
  const policy = model.precisionPolicy;
  const hasHalf = policy.amp || layers.some((l) => l.precision !== 'full');
  const modes = [...new Set(layers.map((l) => l.precision))].join('/');
  const precision = hasHalf ? `${modes} ${policy.half_type}${policy.amp ? ' + AMP' : ''}` : 'full';
  return { name, model, spec, normalizer, epoch, precision, hasHalf };
}

/**
 * Loads a model exported by `mpno export --format neuralop` (or written by PyTorch in that layout):
 * config.json (neuralop's constructor arguments), model.safetensors (neuralop's names, with the class
 * in its metadata) and, where there is one, data_processor.safetensors (out_normalizer.mean / .std).
 * It runs in full precision (neuralop's arguments carry no mpno precision).
 */
export function runFromExport(configText: string, weightBytes: Uint8Array, dataProcessor: Uint8Array | undefined, name: string): LoadedRun {
  let model: NeuralOperator | undefined;
  let spec: ModelSpec;
  let normalizer: UnitGaussianNormalizer | undefined;
  try {
    const ex = neuralopExportFromBytes(configText, `${name}/config.json`, weightBytes, `${name}/model.safetensors`);
    const nm = neuralopToMpno(ex.metadata, ex.weights, name);
    spec = nm.model;
    try {
      model = buildModel(spec, { seed: 0 });
      const weights = toModelNames(model, nm.weights);
      checkWeightsFit(model, weights, `${name}/model.safetensors`, `${name}/config.json`);
      model.loadStateDict(weights);
    } finally {
      for (const t of nm.weights.values()) t.release();
    }
    if (dataProcessor) {
      const { tensors, metadata } = decodeSafetensors(dataProcessor, `${name}/data_processor.safetensors`, { role: 'data' });
      const mean = tensors['out_normalizer.mean'];
      const std = tensors['out_normalizer.std'];
      try {
        if (!mean || !std || mean.size !== std.size) throw new InputError(`${name}/data_processor.safetensors: needs out_normalizer.mean and out_normalizer.std of one size (found ${Object.keys(tensors).join(', ') || 'none'})`);
        const eps = Number(metadata['eps'] ?? 1e-7);
        normalizer = UnitGaussianNormalizer.fromState({ mean: [...mean.toFloat64()], std: [...std.toFloat64()], eps: Number.isFinite(eps) ? eps : 1e-7 });
      } finally {
        for (const t of Object.values(tensors)) t.release();
      }
    }
  } catch (e) {
    model?.release();
    throw e instanceof InputError ? e : new InputError(e instanceof Error ? e.message : String(e));
  }
  return described(name, model, spec, normalizer, 0);
}

/** Grid data ({x, y}) or point clouds (GINO's). */
export type PageDataset = TensorDataset | PointCloudDataset;

/**
 * A dataset from a file's bytes: an mpno safetensors dataset (grid, or generated bodies), neuralop's
 * Darcy .pt (a dict of x and y) or its car .pt (a list of samples).
 */
export function datasetFromBytes(bytes: Uint8Array, name: string): PageDataset {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) {
    return asInput(() => {
      const v = parsePt(bytes, name);
      return Array.isArray(v) ? carsFromPt(v, name) : darcyFromPt(v, name);
    });
  }
  const contents = asInput(() => decodeSafetensors(bytes, name, { role: 'data' }), `${name}: neither a safetensors dataset nor a .pt file`);
  let layout: unknown;
  try {
    layout = (JSON.parse(contents.metadata['mpno'] ?? '{}') as { params?: { layout?: unknown } }).params?.layout;
  } catch {
    layout = undefined;
  }
  return asInput(() => (layout === 'points' ? bodiesFromContents(contents, name) : gridFromSafetensors(contents, name)));
}

/** The grids of the page's built-in Darcy samples: every 4th, 2nd and 1st point of a 129-point grid. */
export const BUILTIN_DARCY_GRIDS: readonly number[] = [33, 65, 129];

/**
 * The page's built-in samples: `n` Darcy flows made by mpno's generator (the darcy64 example's
 * recipe: a thresholded Gaussian random field as the permeability, 12 or 3, and the pressure of
 * −∇·(a∇u) = 1 on [0, 1]²) at 129 × 129, with their exact subsamples at 33 and 65: one dataset per grid,
 * the same samples in each, so the model can be run zero-shot against the true solution.
 */
export function builtinDarcy(n: number, seed = 1): Map<number, TensorDataset> {
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InputError(`built-in samples: give 1 to 64 samples, got ${n}`);
  const fine = 129;
  const out = new Map<number, TensorDataset>();
  const samples = Array.from({ length: n }, (_, i) => generateDarcySample(seed, i, fine));
  for (const g of BUILTIN_DARCY_GRIDS) {
    const r = (fine - 1) / (g - 1);
    const x = new Float32Array(n * g * g);
    const y = new Float32Array(n * g * g);
    samples.forEach((smp, i) => {
      x.set(subsampleField(smp.a, fine, r), i * g * g);
      y.set(subsampleField(smp.u, fine, r), i * g * g);
    });
    out.set(g, new TensorDataset(Tensor.fromArray(x, [n, 1, g, g], 'float32', 'data'), Tensor.fromArray(y, [n, 1, g, g], 'float32', 'data'), `built-in Darcy ${g} × ${g}`));
  }
  return out;
}

/** Checks that a run's model takes a dataset's samples (family, channels, dimensions, modes against the grid). */
export function checkRunFitsData(run: LoadedRun, data: PageDataset | { xShape: readonly number[]; yShape: readonly number[]; name: string }): void {
  asInput(() => checkModelFitsDataset(run.spec, data, data.name, { coarserGrids: true }));
}

/**
 * The model's prediction for point-cloud sample `index` (GINO), decoded by the run's normaliser, with
 * the sample's truth and the points the values sit on ([P, 3], the output queries).
 */
export function predictPoints(run: LoadedRun, data: PointCloudDataset, index: number, precision: 'saved' | 'full' = 'saved'): { points: Float32Array; y: Float32Array; pred: Float32Array } {
  const model = run.model;
  if (!model.forwardBatch) throw new InputError(`${run.name}: ${run.spec.name} does not take point clouds`);
  const b = data.batch([index]);
  try {
    const pred = decodedRun(run, precision, () => model.forwardBatch!(b));
    const q = b.tensors['output_queries'] ?? b.tensors['input_geom']!;
    return { points: Float32Array.from(q.toFloat64()), y: Float32Array.from(b.tensors['y']!.toFloat64()), pred };
  } finally {
    releaseBatch(b);
  }
}

/**
 * Resamples the fields of x [C, H, W] (float64) to [C, h, w] on the same domain (cell-centred
 * points): nearest neighbour for a field of at most two values (a piecewise-constant coefficient stays
 * one), bilinear otherwise.
 */
export function resampleGrid(x: Float64Array, C: number, H: number, W: number, h: number, w: number): Float64Array {
  if (h === H && w === W) return x.slice();
  const out = new Float64Array(C * h * w);
  for (let c = 0; c < C; c++) {
    const src = x.subarray(c * H * W, (c + 1) * H * W);
    const values = new Set<number>();
    for (let i = 0; i < src.length && values.size <= 2; i++) values.add(src[i]!);
    const nearest = values.size <= 2;
    for (let i = 0; i < h; i++) {
      const fy = Math.min(H - 1, Math.max(0, ((i + 0.5) * H) / h - 0.5));
      for (let j = 0; j < w; j++) {
        const fx = Math.min(W - 1, Math.max(0, ((j + 0.5) * W) / w - 0.5));
        let v: number;
        if (nearest) v = src[Math.min(H - 1, Math.floor(((i + 0.5) * H) / h)) * W + Math.min(W - 1, Math.floor(((j + 0.5) * W) / w))]!;
        else {
          const y0 = Math.floor(fy);
          const x0 = Math.floor(fx);
          const y1 = Math.min(H - 1, y0 + 1);
          const x1 = Math.min(W - 1, x0 + 1);
          const ty = fy - y0;
          const tx = fx - x0;
          v = (1 - ty) * ((1 - tx) * src[y0 * W + x0]! + tx * src[y0 * W + x1]!) + ty * ((1 - tx) * src[y1 * W + x0]! + tx * src[y1 * W + x1]!);
        }
        out[(c * h + i) * w + j] = v;
      }
    }
  }
  return out;
}

/**
 * Runs `forward` without a graph in the checkpoint's precision ('saved') or in full precision, and
 * returns its output decoded by the run's normaliser.
 */
function decodedRun(run: LoadedRun, precision: 'saved' | 'full', forward: () => Variable): Float32Array {
  const go = (): Float32Array => noGrad(() => tidy(() => {
    const p = forward().value;
    const out = run.normalizer ? run.normalizer.decode(p) : p.clone('data');
    const f = Float32Array.from(out.toFloat64());
    out.release();
    return f;
  }));
  return precision === 'full' && run.hasHalf ? withPrecision(run.model, { fno_block_precision: 'full', amp: false }, go) : go();
}

/** The model's prediction for one input x [C, …grid] (float64 values), decoded by the run's normaliser. */
export function predictOne(run: LoadedRun, x: Float64Array, grid: readonly number[], precision: 'saved' | 'full' = 'saved'): Float32Array {
  const cin = x.length / grid.reduce((a, b) => a * b, 1);
  const xt = Tensor.fromArray(x, [1, cin, ...grid], 'float32', 'data');
  try {
    return decodedRun(run, precision, () => run.model.forward(Variable.constant(xt)));
  } finally {
    xt.release();
  }
}

/**
 * `mpno import neuralop` and `mpno export --format neuralop`: neuralop checkpoints in, mpno runs out,
 * and back (see src/train/neuralop.ts for the mapping, docs/neuralop.md for the user's side).
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Tensor } from '../core/tensor.js';
import { type NormalizerState, UnitGaussianNormalizer } from '../data/dataset.js';
import { fitOutputNormalizer, loadAnyDataset } from '../data/dataset-file.js';
import { fsStep } from '../data/formats/atomic.js';
import { writeSafetensors } from '../data/formats/safetensors.js';
import { type NeuralOperator, buildModel, modelFamily } from '../models/registry.js';
import { type TrainingState, loadCheckpoint, runEntries, saveCheckpoint } from '../train/checkpoint.js';
import { type RunConfig, loadConfig, validateConfig } from '../train/config.js';
import {
  NeuralopError, toModelNames, neuralopArguments, neuralopStateDict, neuralopToMpno, normalizerFromDataProcessor, readNeuralopCheckpoint, readNeuralopExport, readStateDict, sameModel, stateDictTensors,
} from '../train/neuralop.js';
import { checkModelFitsDataset, checkWeightsFit } from './model-check.js';
import { VERSION } from './version.js';

export interface ImportOptions {
  /** A directory holding <name>_state_dict.pt and <name>_metadata.pkl, or (without name) a state-dict file. */
  source: string;
  name?: string;
  out: string;
  /** A run config: its model section describes a plain state dict; its other sections go into the run. */
  config?: string;
  normalizer?: string;
  normalizerEps: number;
  fitNormalizer?: string;
  force: boolean;
}


/** The run config of an imported model: the user's config with the imported model, or one made for it. */
function importedConfig(model: RunConfig['model'], o: ImportOptions, sourceFile: string, notes: string[]): RunConfig {
  const points = modelFamily(model.name).data === 'points';
  if (o.config) {
    const c = loadConfig(o.config);
    // the config's own model section when it describes the same model (so that resume compares equal)
    const keep = sameModel(c.model, model);
    if (!keep) notes.push(`the model section of ${o.config} is replaced by the checkpoint's model`);
    return validateConfig({ ...c, model: keep ? c.model : model, output: { ...c.output, dir: path.resolve(o.out) } }, o.config);
  }
  const losses = points ? ['l2'] : ['l2', 'h1'];
  return validateConfig({
    data: { train: path.resolve(o.fitNormalizer ?? sourceFile), test: {}, batch_size: 32, test_batch_size: 32, shuffle: true, encode_output: o.normalizer !== undefined || o.fitNormalizer !== undefined },
    model,
    optimizer: { name: 'AdamW', lr: 1e-3, weight_decay: 1e-4 },
    scheduler: null,
    training: { n_epochs: 0, eval_interval: 1, train_loss: 'l2', eval_losses: losses, seed: 0 },
    output: { dir: path.resolve(o.out), checkpoint_every: 1 },
  }, `${sourceFile} (the imported model's config)`);
}

/**
 * Imports a neuralop checkpoint (or a plain state dict with a config) into an mpno run directory
 * (checkpoint epoch-0000) that eval, predict, export and resume read. Returns the checkpoint
 * directory and what the user should know.
 */
export function importCommand(o: ImportOptions): { dir: string; model: RunConfig['model']; notes: string[] } {
  if (o.normalizer !== undefined && o.fitNormalizer !== undefined) throw new NeuralopError('import: give --normalizer or --fit-normalizer, not both');
  if (!existsSync(o.source)) throw new NeuralopError(`${o.source}: no such file or directory`);
  if (!o.force && runEntries(o.out).length) throw new NeuralopError(`${o.out}: already holds an mpno run (use --force to replace it)`);
  let spec: RunConfig['model'];
  let weights: Map<string, Tensor>;
  let notes: string[] = [];
  let source: Record<string, unknown>;
  let sourceFile: string;
  if (o.name === undefined && statSync(o.source).isDirectory() && existsSync(path.join(o.source, 'config.json')) && existsSync(path.join(o.source, 'model.safetensors'))) {
    // what mpno export --format neuralop wrote
    const ex = readNeuralopExport(o.source);
    const m = neuralopToMpno(ex.metadata, ex.weights, ex.files[0]!);
    spec = m.model as RunConfig['model'];
    weights = m.weights;
    notes = m.notes;
    source = { format: 'neuralop-export', class: m.source.class, files: ex.files.map((f) => path.basename(f)) };
    sourceFile = ex.files[1]!;
  } else if (o.name !== undefined) {
    if (!statSync(o.source).isDirectory()) throw new NeuralopError(`${o.source}: not a directory (neuralop's save_checkpoint(dir, name) writes <name>_state_dict.pt and <name>_metadata.pkl into dir)`);
    const ck = readNeuralopCheckpoint(o.source, o.name);
    const m = neuralopToMpno(ck.metadata, ck.state, ck.files[0]!);
    spec = m.model as RunConfig['model'];
    weights = m.weights;
    notes = m.notes;
    source = { format: 'neuralop', class: m.source.class, version: m.source.version, files: ck.files.map((f) => path.basename(f)) };
    sourceFile = ck.files[1]!;
  } else {
    if (statSync(o.source).isDirectory()) throw new NeuralopError(`${o.source}: a directory without config.json and model.safetensors (an mpno export); for a neuralop checkpoint give its name too`);
    if (!o.config) throw new NeuralopError(`${o.source}: a state dict file alone does not say which model it is; give --config (a run config whose model section describes it), or a neuralop checkpoint directory and its name`);
    const state = readStateDict(o.source);
    const meta = state['_metadata'];
    if (meta !== undefined && meta !== null && typeof meta === 'object' && !Array.isArray(meta) && '_name' in meta) notes.push(`${o.source} carries neuralop metadata; its model is taken from --config`);
    spec = loadConfig(o.config).model;
    weights = stateDictTensors(state, o.source);
    source = { format: 'state_dict', files: [path.basename(o.source)] };
    sourceFile = o.source;
  }
  const released = (): void => {
    for (const t of weights.values()) if (!t.isReleased) t.release();
  };
  let model: NeuralOperator | undefined;
  try {
    const config = importedConfig(spec, o, sourceFile, notes);
    model = buildModel(config.model, { seed: config.training.seed });
    const named = toModelNames(model, weights);
    checkWeightsFit(model, named, sourceFile, 'its metadata');
    model.loadStateDict(named);
    let normalizer: NormalizerState | null = null;
    if (o.normalizer) {
      normalizer = normalizerFromDataProcessor(readStateDict(o.normalizer), o.normalizer, o.normalizerEps);
    } else if (o.fitNormalizer) {
      const data = loadAnyDataset(o.fitNormalizer);
      try {
        checkModelFitsDataset(config.model, data, o.fitNormalizer, { coarserGrids: true });
        normalizer = fitOutputNormalizer(data).getState();
      } finally {
        data.release();
      }
      notes.push(`output normaliser fitted on ${o.fitNormalizer} as neuralop fits it (channel-wise mean and unbiased std, eps 1e-7)`);
    }
    if (normalizer && normalizer.mean.length !== (config.model['out_channels'] as number)) {
      throw new NeuralopError(`${o.normalizer ?? o.fitNormalizer}: the normaliser has ${normalizer.mean.length} channel(s), the model ${String(config.model['out_channels'])} output channel(s)`);
    }
    const state: TrainingState = {
      format: 'mpno-checkpoint', version: 1, epoch: 0, config, optimizer: {}, scheduler: null, loaderRng: {}, normalizer, history: [],
      source,
    };
    const sd = model.stateDict();
    try {
      const dir = saveCheckpoint(o.out, sd, state);
      return { dir, model: config.model, notes };
    } finally {
      for (const t of sd.values()) t.release();
    }
  } finally {
    model?.release();
    released();
  }
}

export interface ExportOptions {
  run: string;
  out: string;
  format: string;
  force: boolean;
}

/**
 * Writes a run's model for neuralop: <out>/model.safetensors (neuralop's names, complex weights as
 * complex64), <out>/config.json (the constructor arguments) and, when the run normalises outputs,
 * <out>/data_processor.safetensors (out_normalizer.mean / .std as [1, C, 1, …]). The directory is
 * written under a temporary name and renamed into place.
 */
export function exportCommand(o: ExportOptions): { dir: string; cls: string; files: string[] } {
  if (o.format !== 'neuralop') throw new NeuralopError(`export: unknown --format '${o.format}' (mpno exports 'neuralop')`);
  if (existsSync(o.out) && !o.force) throw new NeuralopError(`${o.out}: exists; refusing to overwrite it (use --force)`);
  const ck = loadCheckpoint(o.run);
  const release = (): void => Object.values(ck.weights).forEach((t) => t.release());
  let model: NeuralOperator | undefined;
  try {
    const { cls, args } = neuralopArguments(ck.state.config.model);
    model = buildModel(ck.state.config.model, { seed: ck.state.config.training.seed });
    checkWeightsFit(model, ck.weights, ck.dir, "the checkpoint's config (state.json)");
    model.loadStateDict(ck.weights);
    const { tensors, complex } = neuralopStateDict(model);
    const tmp = `${o.out}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    fsStep('create the export directory', tmp, () => mkdirSync(tmp, { recursive: true }));
    const files = ['model.safetensors', 'config.json'];
    try {
      writeSafetensors(path.join(tmp, 'model.safetensors'), Object.fromEntries(tensors), { format: 'pt', neuralop_class: cls, mpno_version: VERSION, source_epoch: String(ck.state.epoch) }, { complex });
      fsStep('write the constructor arguments', path.join(tmp, 'config.json'), () => writeFileSync(path.join(tmp, 'config.json'), `${JSON.stringify(args, null, 2)}\n`));
      const norm = ck.state.normalizer as NormalizerState | null;
      if (norm) {
        const u = UnitGaussianNormalizer.fromState(norm);
        // neuralop's channel-wise normaliser: [1, C, 1, …] for grids, [1, C] for point values
        const family = modelFamily(ck.state.config.model.name);
        const dims = family.data === 'points' ? 0 : family.spatialDims(ck.state.config.model) ?? 0;
        const shape = [1, u.mean.length, ...Array<number>(dims).fill(1)];
        const mean = Tensor.fromArray(Float32Array.from(u.mean), shape, 'float32', 'data');
        const std = Tensor.fromArray(Float32Array.from(u.std), shape, 'float32', 'data');
        try {
          writeSafetensors(path.join(tmp, 'data_processor.safetensors'), { 'out_normalizer.mean': mean, 'out_normalizer.std': std }, { eps: String(u.eps) });
        } finally {
          mean.release();
          std.release();
        }
        files.push('data_processor.safetensors');
      }
      rmSync(o.out, { recursive: true, force: true });
      fsStep('rename the export into place', o.out, () => renameSync(tmp, o.out));
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      for (const t of tensors.values()) t.release();
    }
    return { dir: o.out, cls, files };
  } finally {
    model?.release();
    release();
  }
}

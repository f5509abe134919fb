import { existsSync } from 'node:fs';
import path from 'node:path';
import cliProgress from 'cli-progress';
import { DataLoader, type NormalizerState, UnitGaussianNormalizer } from '../data/dataset.js';
import { type AnyDataset, fitOutputNormalizer, loadAnyDataset } from '../data/dataset-file.js';
import { initHdf5 } from '../data/formats/hdf5.js';
import { SampleCache } from '../data/lazy.js';
import { needsHdf5, sourceFile } from '../data/sources.js';
import { generateCommand } from './generate.js';
import { checkModelFitsDataset, checkWeightsFit, modelFromCheckpoint } from './model-check.js';
import { H1Loss, LpLoss } from '../losses/index.js';
import { type NeuralOperator, buildModel, modelFamily, modelOptions } from '../models/registry.js';
import type { SpectralWeight } from '../nn/spectral.js';
import { Adam, AdamW, CosineAnnealingLR, StepLR } from '../optim/index.js';
import { fsStep, makeDirectory, writeFileAtomic } from '../data/formats/atomic.js';
import { type TrainingState, clearRun, latestName, loadCheckpoint, removeStaleTemporaries, runEntries } from '../train/checkpoint.js';
import { type RunConfig, loadConfig } from '../train/config.js';
import { type EpochRecord, type Loss, type PrecisionControl, type ProgressReporter, type SchedulerLike, Trainer } from '../train/trainer.js';
import { GradScaler } from '../precision/scaler.js';
import { isMixed, usesFloat16 } from '../precision/policy.js';
import { fixedSchedule, isAutoSchedule } from '../precision/schedule.js';
import { AUTO_PATIENCE, AUTO_PROBE_EVERY, AUTO_THRESHOLD, AutoPrecisionSchedule, checkAutoOptions } from '../precision/auto.js';

export interface TrainCommandOptions {
  config: string;
  set: string[];
  resume: boolean;
  /** Replace a run already in the run directory (its checkpoints and metrics are removed). */
  overwrite?: boolean;
  quiet: boolean;
}

/** The spatial axes the losses integrate over (the grid's; 1 for point data, whose losses run per sample's points). */
function spatialDims(config: RunConfig): number {
  return modelFamily(config.model.name).spatialDims(modelOptions(config.model)) ?? 1;
}

function lossOf(name: 'h1' | 'l2', d: number): Loss {
  return name === 'h1' ? new H1Loss({ d }) : new LpLoss({ d, p: 2 });
}

function progressReporter(): ProgressReporter | undefined {
  if (!process.stdout.isTTY) return undefined;
  let bar: cliProgress.SingleBar | undefined;
  return {
    start: (epoch, batches) => {
      bar = new cliProgress.SingleBar({ format: `epoch ${epoch} [{bar}] {value}/{total} batches  loss {loss}`, hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
      bar.start(batches, 0, { loss: '-' });
    },
    update: (b, loss) => bar?.update(b, { loss: loss.toFixed(4) }),
    stop: () => bar?.stop(),
  };
}

function fmtEval(e: Record<string, number>): string {
  return Object.entries(e).map(([k, v]) => `${k}=${v.toFixed(4)}`).join(' ');
}

export interface BuiltRun {
  config: RunConfig;
  model: NeuralOperator;
  train: AnyDataset;
  tests: Record<string, AnyDataset>;
  normalizer: UnitGaussianNormalizer | undefined;
  release(): void;
}

/**
 * Loads the data and builds the model described by a config; checks that the model fits the data
 * (channels, n_modes against the grids) before the model is built.
 */
export function buildRun(config: RunConfig, normalizerState?: NormalizerState): BuiltRun {
  // data.cache_mb: one LRU cache bounded in bytes for the training and test sets
  const cache = config.data.cache_mb != null ? new SampleCache(config.data.cache_mb * 2 ** 20) : undefined;
  const train = loadAnyDataset(config.data.train, { ...(config.data.n_train != null ? { n: config.data.n_train } : {}), ...(cache ? { cache } : {}), at: 'data.train' });
  const tests: Record<string, AnyDataset> = {};
  try {
    checkModelFitsDataset(config.model, train, sourceFile(config.data.train));
    for (const [name, p] of Object.entries(config.data.test)) {
      const n = config.data.n_test?.[name];
      tests[name] = loadAnyDataset(p, { ...(n !== undefined ? { n } : {}), ...(cache ? { cache } : {}), at: `data.test.${name}` });
      checkModelFitsDataset(config.model, tests[name], sourceFile(p), { coarserGrids: true });
    }
    const model = buildModel(config.model, { seed: config.training.seed });
    const normalizer = config.data.encode_output
      ? normalizerState ? UnitGaussianNormalizer.fromState(normalizerState) : fitOutputNormalizer(train)
      : undefined;
    return {
      config, model, train, tests, normalizer,
      release: () => {
        model.release();
        train.release();
        for (const t of Object.values(tests)) t.release();
      },
    };
  } catch (e) {
    train.release();
    for (const t of Object.values(tests)) t.release();
    throw e;
  }
}

/** Config keys a resumed run may change: the epoch count (to extend the run) and where/how often it checkpoints. */
export const RESUME_MAY_CHANGE: readonly string[] = ['training.n_epochs', 'output.dir', 'output.checkpoint_every'];

function leaves(v: unknown, at: string, out: Map<string, string>): Map<string, string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) leaves(x, at ? `${at}.${k}` : k, out);
  } else if (v !== undefined) out.set(at, JSON.stringify(v));
  return out;
}

/** `key: old → new` for every config value that differs between a checkpoint and the requested config. */
export function configDiff(saved: unknown, wanted: unknown): { key: string; from: string; to: string }[] {
  const a = leaves(JSON.parse(JSON.stringify(saved ?? {})), '', new Map());
  const b = leaves(JSON.parse(JSON.stringify(wanted ?? {})), '', new Map());
  return [...new Set([...a.keys(), ...b.keys()])].sort()
    .filter((k) => a.get(k) !== b.get(k))
    .map((key) => ({ key, from: a.get(key) ?? '(unset)', to: b.get(key) ?? '(unset)' }));
}

/**
 * The checks of --resume: the requested config must equal the checkpoint's except RESUME_MAY_CHANGE;
 * training.n_epochs may not be fewer than the epochs done, and may not change at all under a precision
 * schedule (its phases are fractions of n_epochs). Returns the changes that apply.
 */
export function checkResume(state: TrainingState, config: RunConfig, dir: string): string[] {
  const diff = configDiff(state.config, config);
  const refused = diff.filter((d) => !RESUME_MAY_CHANGE.includes(d.key));
  if (refused.length) {
    throw new RangeError(`--resume: the config differs from the checkpoint's (${dir}/state.json): ${refused.map((d) => `${d.key}: ${d.from} → ${d.to}`).join('; ')}. ` +
      `A resumed run may change only ${RESUME_MAY_CHANGE.join(', ')}; start a new run (another --out, or --overwrite) to change the rest`);
  }
  if (config.training.n_epochs < state.epoch) {
    throw new RangeError(`--resume: training.n_epochs = ${config.training.n_epochs}, but the checkpoint (${dir}) has completed ${state.epoch} epochs; ask for at least ${state.epoch}`);
  }
  const epochs = diff.find((d) => d.key === 'training.n_epochs');
  if (epochs && config.precision?.schedule && !isAutoSchedule(config.precision.schedule)) {
    throw new RangeError(`--resume: training.n_epochs: ${epochs.from} → ${epochs.to} would move the phases of precision.schedule '${config.precision.schedule}' (fractions of n_epochs); keep ${epochs.from}`);
  }
  return diff.map((d) => `${d.key}: ${d.from} → ${d.to}`);
}

/** Generates the config's data files that are missing (data.generate). */
export async function ensureData(config: RunConfig, quiet: boolean): Promise<void> {
  const sources = [config.data.train, ...Object.values(config.data.test)];
  if (sources.some(needsHdf5)) await initHdf5();
  const g = config.data.generate;
  if (!g) return;
  // with data.generate every data source is a path (validateConfig)
  const data = config.data as { train: string; test: Record<string, string> };
  const testNames = Object.keys(data.test);
  if (!existsSync(data.train)) {
    if (!quiet) console.log(`generating training data: ${g.train.n} ${g.pde} samples → ${data.train}`);
    await generateCommand({ pde: g.pde, n: g.train.n, resolution: g.resolution, subsample: [g.train.subsample], seed: g.train.seed, out: data.train, force: false, params: g.params ?? {}, quiet, paths: [data.train] });
  }
  if (g.test.resolutions && testNames.some((k) => !existsSync(data.test[k]!))) {
    // swe: each test set simulated on its own grid (one seed: the same random low-degree coefficients on every grid)
    const params = g.params ?? {};
    const ratio = (typeof params['nlon'] === 'number' ? params['nlon'] : 2 * g.resolution) / g.resolution;
    for (const [k, name] of testNames.entries()) {
      const path = data.test[name]!;
      if (existsSync(path)) continue;
      const nlat = g.test.resolutions[k]!;
      if (!quiet) console.log(`generating test data: ${g.test.n} ${g.pde} samples at ${nlat}×${Math.round(ratio * nlat)} → ${path}`);
      await generateCommand({ pde: g.pde, n: g.test.n, resolution: nlat, subsample: [1], seed: g.test.seed, out: path, force: true, params: { ...params, nlon: Math.round(ratio * nlat) }, quiet, paths: [path] });
    }
    return;
  }
  if (g.pde === 'bodies') {
    // each generated test set (.safetensors; others, such as neuralop's cars, are read as they are) from its own seed
    const generated = testNames.filter((k) => data.test[k]!.endsWith('.safetensors'));
    for (const [i, name] of generated.entries()) {
      const p = data.test[name]!;
      if (existsSync(p)) continue;
      if (!quiet) console.log(`generating test data: ${g.test.n} bodies → ${p}`);
      await generateCommand({ pde: g.pde, n: g.test.n, resolution: g.resolution, subsample: [1], seed: g.test.seed + i, out: p, force: true, params: g.params ?? {}, quiet, paths: [p] });
    }
    return;
  }
  if (testNames.some((k) => !existsSync(data.test[k]!))) {
    if (!quiet) console.log(`generating test data: ${g.test.n} ${g.pde} samples → ${testNames.map((k) => data.test[k]).join(', ')}`);
    await generateCommand({ pde: g.pde, n: g.test.n, resolution: g.resolution, subsample: g.test.subsample, seed: g.test.seed, out: data.test[testNames[0]!]!, force: true, params: g.params ?? {}, quiet, paths: testNames.map((k) => data.test[k]!) });
  }
}

/**
 * mpno train: trains from a config. A fresh run needs a run directory without a run in it (unless
 * `overwrite`); `resume` continues from its latest checkpoint (see checkResume). Everything is
 * validated (config, resume compatibility, data, model against data, checkpoint shapes) before
 * anything is written.
 */
export async function trainCommand(o: TrainCommandOptions): Promise<Record<string, number>> {
  const config = loadConfig(o.config, o.set);
  const runDir = path.resolve(config.output.dir);
  if (o.resume && o.overwrite) throw new RangeError('train: --resume continues the run in the run directory and --overwrite replaces it; give one of them');
  const entries = runEntries(runDir);
  const latest = latestName(runDir);
  const resume = o.resume && latest !== undefined;
  if (!o.resume && !o.overwrite && entries.length > 0) {
    throw new Error(`${runDir} already holds a run (${entries.map((e) => (e === 'latest' && latest ? `latest → ${latest}` : e)).join(', ')}); ` +
      'use --resume to continue it, --overwrite to replace it, or another --out');
  }
  if (o.resume && !resume && entries.some((e) => e.startsWith('epoch-'))) {
    throw new Error(`${runDir}: --resume finds checkpoints (${entries.filter((e) => e.startsWith('epoch-')).join(', ')}) but no 'latest' pointer; ` +
      "write the name of the checkpoint to continue from into 'latest', or use --overwrite to start again");
  }
  const ck = resume ? loadCheckpoint(runDir) : undefined;
  const changes = ck ? checkResume(ck.state, config, ck.dir) : [];
  await ensureData(config, o.quiet);
  const run = buildRun(config, ck ? (ck.state.normalizer as NormalizerState) : undefined);
  const d = spatialDims(config);
  try {
    if (ck) checkWeightsFit(run.model, ck.weights, ck.dir, `the config ${o.config}`);
    // everything is checked: now the run directory is created (or cleared) and written
    makeDirectory(runDir, 'run directory');
    const stale = removeStaleTemporaries(runDir);
    if (!o.quiet && stale.length) console.log(`removed ${stale.length} temporar${stale.length === 1 ? 'y' : 'ies'} of killed runs: ${stale.join(', ')}`);
    if (!resume && entries.length > 0) {
      clearRun(runDir);
      if (!o.quiet) console.log(`${o.overwrite ? '--overwrite' : '--resume without a checkpoint'}: removed the previous run's ${entries.join(', ')}`);
    }
    const params = run.model.parameters();
    const oc = config.optimizer;
    const optimizer = oc.name === 'AdamW'
      ? new AdamW(params, { lr: oc.lr, weight_decay: oc.weight_decay, ...(oc.betas ? { betas: oc.betas } : {}), ...(oc.eps !== undefined ? { eps: oc.eps } : {}) })
      : new Adam(params, { lr: oc.lr, weight_decay: oc.weight_decay, ...(oc.betas ? { betas: oc.betas } : {}), ...(oc.eps !== undefined ? { eps: oc.eps } : {}) });
    const sc = config.scheduler;
    const scheduler: SchedulerLike | undefined = sc === null ? undefined
      : sc.name === 'CosineAnnealingLR' ? new CosineAnnealingLR(optimizer, { T_max: sc.T_max, ...(sc.eta_min !== undefined ? { eta_min: sc.eta_min } : {}) })
      : new StepLR(optimizer, { step_size: sc.step_size, ...(sc.gamma !== undefined ? { gamma: sc.gamma } : {}) });
    const trainLoader = new DataLoader(run.train, { batchSize: config.data.batch_size, shuffle: config.data.shuffle, seed: config.training.seed });
    const testLoaders = Object.fromEntries(Object.entries(run.tests).map(([k, t]) => [k, new DataLoader(t, { batchSize: config.data.test_batch_size })]));
    // mixed precision: loss scaling when any part computes in fp16, the schedule, layer fallback
    const m = run.model.precisionPolicy;
    const pcfg = config.precision ?? {};
    const schedule = fixedSchedule(pcfg.schedule, config.training.n_epochs);
    let auto: AutoPrecisionSchedule | undefined;
    if (isAutoSchedule(pcfg.schedule)) {
      if (run.model.precisionLayers().length === 0 || (config.model as { dtype?: unknown }).dtype === 'float64') {
        throw new RangeError(`precision.schedule 'auto': model ${config.model.name} has no precision-controlled layers to switch${(config.model as { dtype?: unknown }).dtype === 'float64' ? ' (a float64 model runs in full precision)' : ' (no Fourier layers)'}`);
      }
      const steps = trainLoader.length;
      const opts = {
        probeEvery: pcfg.probe_every ?? Math.max(1, Math.min(AUTO_PROBE_EVERY, steps)),
        threshold: pcfg.switch_threshold ?? AUTO_THRESHOLD,
        patience: pcfg.switch_patience ?? AUTO_PATIENCE,
        by: pcfg.switch_by ?? 'model',
        layers: run.model.precisionLayers().length,
      };
      checkAutoOptions(opts, steps);
      auto = new AutoPrecisionSchedule(opts);
    }
    const usesFp16 = usesFloat16(m, auto ? ['half', 'mixed'] : schedule?.entries.map((e) => e.precision));
    const scaler = (pcfg.loss_scale ?? (usesFp16 ? 'dynamic' : 'none')) === 'dynamic' ? new GradScaler() : undefined;
    const precision: PrecisionControl | undefined = usesFp16 || schedule || auto || isMixed(m)
      ? { model: run.model, scaler, schedule, auto, fallbackAfter: pcfg.fallback_after ?? undefined, ampInHalfPhases: m.amp }
      : undefined;
    // fault injection for the kill/restart tests: 'E:B' kills at epoch E, batch B; 'E:checkpoint' while writing epoch E's checkpoint
    const crash = process.env['MPNO_TEST_CRASH_AT']?.split(':');
    const crashAt = crash ? { epoch: Number(crash[0]), batch: crash[1] === 'checkpoint' ? 'checkpoint' as const : Number(crash[1]) } : undefined;
    const trainer = new Trainer({
      model: run.model, optimizer, scheduler, trainLoss: lossOf(config.training.train_loss, d),
      evalLosses: Object.fromEntries(config.training.eval_losses.map((l) => [l, lossOf(l, d)])),
      outputNormalizer: run.normalizer, nEpochs: config.training.n_epochs, evalInterval: config.training.eval_interval,
      runDir, checkpointEvery: config.output.checkpoint_every, config, progress: o.quiet ? undefined : progressReporter(), crashAt, precision,
      onEpoch: (r: EpochRecord) => {
        if (o.quiet) return;
        for (const e of r.events ?? []) console.log(`  ${e}`);
        const prec = r.precision ? `  [${[...new Set(r.precision)].join('/')}${r.loss_scale !== undefined ? `, scale ${r.loss_scale}, skipped ${r.skipped_steps}` : ''}]` : '';
        console.log(`epoch ${r.epoch}: train_err ${r.train_err.toFixed(4)}  lr ${r.lr.toPrecision(3)}  ${r.time_s.toFixed(2)}s (${r.samples_per_s.toFixed(0)} samples/s)${prec}${r.eval ? `  ${fmtEval(r.eval)}` : ''}`);
      },
    });
    if (ck) {
      run.model.loadStateDict(ck.weights);
      for (const t of Object.values(ck.weights)) t.release();
      // imported weights (mpno import) carry no optimizer, scheduler or loader state: training starts from them
      const imported = ck.state.epoch === 0 && ck.state.source !== undefined;
      if (!imported) {
        optimizer.loadStateDict(ck.state.optimizer);
        if (scheduler && ck.state.scheduler) scheduler.loadStateDict(ck.state.scheduler);
        trainLoader.setState(ck.state.loaderRng);
      }
      trainer.epoch = ck.state.epoch;
      trainer.history = ck.state.history as EpochRecord[];
      trainer.restorePrecision(ck.state.precision ?? null);
      // the metrics log holds exactly the epochs of the checkpoint
      const log = path.join(runDir, 'metrics.jsonl');
      fsStep('write the metrics log', log, () => writeFileAtomic(log, new TextEncoder().encode(trainer.history.map((r) => `${JSON.stringify(r)}\n`).join(''))));
      if (!o.quiet) {
        console.log(ck.state.epoch === 0 && ck.state.source !== undefined
          ? `training from the weights imported into ${ck.dir} (${JSON.stringify(ck.state.source)})`
          : `resuming from ${ck.dir} (${ck.state.epoch} of ${config.training.n_epochs} epochs done)`);
        for (const c of changes) console.log(`  changed on resume: ${c}`);
      }
    }
    if (!o.quiet) {
      console.log(`model: ${config.model.name}, ${run.model.numParameters()} parameters; ${run.train.length} training samples; run directory ${runDir}`);
      // a factorised spectral weight: the contraction path the engine plans, in the dtype it runs in
      const layer = run.model.precisionLayers()[0];
      const weight = layer && 'weight' in layer ? (layer as { weight: SpectralWeight }).weight : undefined;
      if (weight?.describePlan) {
        const dt = layer!.precision === 'full' ? 'float32' : layer!.halfType;
        console.log(`spectral weight ${weight.description}; each layer's contraction (batch ${config.data.batch_size}):\n${weight.describePlan(config.data.batch_size, dt)}`);
      }
    }
    const t0 = performance.now();
    const final = trainer.train(trainLoader, testLoaders, () => ({ normalizer: run.normalizer?.getState() ?? null }));
    const secs = (performance.now() - t0) / 1000;
    const trained = trainer.history.filter((r) => r.epoch >= (ck?.state.epoch ?? 0));
    const samples = trained.reduce((a, r) => a + r.samples_per_s * r.time_s, 0);
    const result = Object.keys(final).length ? final : trainer.evaluate(testLoaders);
    if (!o.quiet) {
      console.log(`done in ${secs.toFixed(1)} s (${(samples / Math.max(secs, 1e-9)).toFixed(0)} training samples/s overall)`);
      console.log(`test errors: ${fmtEval(result)}`);
    }
    optimizer.release();
    return result;
  } finally {
    run.release();
  }
}

/**
 * mpno eval: loads a checkpoint (run directory or epoch directory) and evaluates it on a data file,
 * with the losses and in the precision state of the checkpoint's last epoch.
 */
export function evalCommand(o: { checkpoint: string; data: string; batchSize: number }): Record<string, number> {
  const ck = loadCheckpoint(o.checkpoint);
  let data: AnyDataset | undefined;
  let built: ReturnType<typeof modelFromCheckpoint> | undefined;
  try {
    data = loadAnyDataset(o.data);
    built = modelFromCheckpoint(ck, data, o.data);
    const { model, config, normalizer } = built;
    const d = spatialDims(config);
    const trainer = new Trainer({
      model, optimizer: { step() {}, zeroGrad() {}, lr: 0, stateDict: () => null, loadStateDict() {} },
      trainLoss: lossOf('l2', d), evalLosses: Object.fromEntries(config.training.eval_losses.map((l) => [l, lossOf(l, d)])),
      outputNormalizer: normalizer, nEpochs: 0, evalInterval: 1,
    });
    const name = path.basename(o.data).replace(/\.pt$/, '');
    return trainer.evaluate({ [name]: new DataLoader(data, { batchSize: o.batchSize }) });
  } finally {
    for (const t of Object.values(ck.weights)) t.release();
    built?.model.release();
    data?.release();
  }
}

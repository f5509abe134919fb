import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { Tensor } from '../core/tensor.js';
import { type BlockPrecision, type PrecisionControlled, demote } from '../precision/policy.js';
import type { GradScaler, GradScalerState } from '../precision/scaler.js';
import { type EpochSchedule, applySavedPrecision, precisionAt } from '../precision/schedule.js';
import { type AutoPrecisionSchedule, type AutoProbe, levelAbove } from '../precision/auto.js';
import { setLayerLevels, withPrecision } from '../precision/policy.js';
import { relativeDifference } from '../core/norms.js';
import { Variable, backward, disposeGraph, noGrad, tidy } from '../autograd/variable.js';
import type { DataLoader, UnitGaussianNormalizer } from '../data/dataset.js';
import { type Batch, releaseBatch } from '../core/batch.js';
import type { Module } from '../nn/module.js';
import { fsStep, makeDirectory } from '../data/formats/atomic.js';
import { type TrainingState, saveCheckpoint } from './checkpoint.js';
import type { RunConfig } from './config.js';

// moved to precision/schedule.ts (with the schedule); re-exported for the commands
export { applySavedPrecision };

export interface Loss {
  /**
   * The loss of a batch's prediction against its target. `segments`: the target is a point field
   * (the batch's samples concatenated along axis 0) with these per-sample row pointers.
   */
  forward(x: Variable, y: Tensor, segments?: Int32Array): Variable;
}

export interface OptimizerLike {
  step(): void;
  zeroGrad(): void;
  lr: number;
  stateDict(): unknown;
  loadStateDict(state: unknown): void;
}

export interface SchedulerLike {
  step(): void;
  stateDict(): unknown;
  loadStateDict(state: unknown): void;
}

export interface ModelLike extends Module {
  forward(x: Variable): Variable;
  /** A model that reads named batch fields (point clouds, latent grids) instead of one input x. */
  forwardBatch?(batch: Batch): Variable;
  /** Graph statistics of the forward passes since the last call (models with neighbourhood graphs). */
  takeGraphStats?(): GraphStats;
  /** The training step random layers (dropout) draw for: set before every step, so a resumed run draws the same. */
  setStep?(epoch: number, step: number): void;
}

/** Neighbourhood graphs of a model's forward passes: queries, queries with no neighbour, edges (per graph). */
export type GraphStats = Record<string, { queries: number; empty: number; edges: number }>;

/** The model's prediction of a batch: forwardBatch where the model reads named fields, else forward(x). */
export function predictBatch(model: ModelLike, batch: Batch): Variable {
  if (model.forwardBatch) return model.forwardBatch(batch);
  const x = batch.tensors['x'];
  if (!x) throw new RangeError(`the model takes a batch field 'x' (the batch has ${Object.keys(batch.tensors).join(', ')})`);
  return model.forward(Variable.constant(x));
}

/** One line of the metrics log (JSON lines). */
export interface EpochRecord {
  epoch: number;
  /** Σ batch losses / number of batches (neuralop's train_err). */
  train_err: number;
  /** Σ batch losses / number of samples. */
  avg_loss: number;
  lr: number;
  time_s: number;
  samples_per_s: number;
  /** `<test set>_<loss>`: Σ per-sample losses / samples, when evaluated this epoch. */
  eval?: Record<string, number>;
  /** Precision of each spectral layer during the epoch (in mixed-precision runs). */
  precision?: BlockPrecision[];
  /** Loss scale at the end of the epoch and steps skipped for non-finite gradients (fp16). */
  loss_scale?: number;
  skipped_steps?: number;
  /** Forward passes with an overflow, per Fourier layer, during the epoch. */
  overflows?: number[];
  /** What changed: precision switches of the schedule, layers that fell back. */
  events?: string[];
  /** Neighbourhood graphs of the epoch's training passes (GNO layers): queries, empty neighbourhoods, edges. */
  graphs?: GraphStats;
  /** The automatic schedule's probes of the epoch. */
  probes?: AutoProbe[];
}

/** Mixed-precision controls of a run. */
export interface PrecisionControl {
  model: PrecisionControlled;
  scaler?: GradScaler | undefined;
  schedule?: EpochSchedule | undefined;
  /** Demote a Fourier layer (half → mixed → full) after this many overflowing forward passes. */
  fallbackAfter?: number | undefined;
  /** AMP during the schedule's half/mixed phases (its 'full' phase turns AMP off, as the paper's code). */
  ampInHalfPhases?: boolean;
  /** The automatic schedule (precision.schedule 'auto'), instead of `schedule`. */
  auto?: AutoPrecisionSchedule | undefined;
}

export interface ProgressReporter {
  start(epoch: number, batches: number): void;
  update(batch: number, loss: number): void;
  stop(): void;
}

export interface TrainerOptions {
  model: ModelLike;
  optimizer: OptimizerLike;
  scheduler?: SchedulerLike | undefined;
  trainLoss: Loss;
  evalLosses: Record<string, Loss>;
  /** Encodes y for training and decodes predictions for evaluation (neuralop's data processor). */
  outputNormalizer?: UnitGaussianNormalizer | undefined;
  nEpochs: number;
  evalInterval: number;
  /** Directory for metrics.jsonl and checkpoints (none when undefined). */
  runDir?: string | undefined;
  /** Checkpoint every this many epochs (and after the last). */
  checkpointEvery?: number;
  /** The run configuration stored in checkpoints (required with runDir: a checkpoint is loaded by its config). */
  config?: RunConfig | undefined;
  progress?: ProgressReporter | undefined;
  onEpoch?: (r: EpochRecord) => void;
  /**
   * Fault injection for the kill/restart tests: SIGKILL self at this (epoch, batch), or (batch
   * 'checkpoint') while writing the checkpoint after that epoch, its temporary directory complete
   * and not yet renamed into place.
   */
  crashAt?: { epoch: number; batch: number | 'checkpoint' } | undefined;
  precision?: PrecisionControl | undefined;
}

/**
 * neuralop's Trainer loop: per epoch, the training loss summed over each batch is backpropagated
 * and the optimizer steps; the scheduler steps once per epoch; evaluation runs every eval_interval
 * epochs (epoch 0 included) and after the last one. A non-finite training loss stops training
 * before any update with an error naming the epoch and batch.
 */
export class Trainer {
  history: EpochRecord[] = [];
  epoch = 0;

  constructor(readonly o: TrainerOptions) {
    if (!Number.isInteger(o.nEpochs) || o.nEpochs < 0) throw new RangeError(`Trainer: n_epochs must be a non-negative integer, got ${o.nEpochs}`);
    if (!Number.isInteger(o.evalInterval) || o.evalInterval < 1) throw new RangeError(`Trainer: eval_interval must be a positive integer, got ${o.evalInterval}`);
    if (o.runDir !== undefined && o.config === undefined) throw new RangeError('Trainer: a run directory needs the run config (options.config), which every checkpoint stores');
  }

  /** Events of the current epoch (schedule switches, fallbacks). */
  private events: string[] = [];
  /** Overflowing training forward passes per Fourier layer in the current epoch. */
  private epochOverflows: number[] = [];
  /** Each layer's overflow counter when checkFallback last read it. */
  private overflowBase: number[] = [];

  /** Applies the precision schedule for this.epoch; returns a description of a switch, if any. */
  private applySchedule(): void {
    const pc = this.o.precision;
    if (pc?.auto) {
      const levels = pc.auto.levels();
      if (levels) this.applyLevels(levels, `precision by layer ${levels.join(', ')} (automatic schedule) from epoch ${this.epoch}`);
      else this.applyLevel(pc.auto.level, `precision ${pc.auto.level} (automatic schedule) from epoch ${this.epoch}`);
      return;
    }
    if (!pc?.schedule) return;
    const want = precisionAt(pc.schedule, this.epoch);
    if (pc.model.precisionPolicy.fno_block_precision !== want) {
      const amp = this.ampAt(want);
      pc.model.setPrecision({ fno_block_precision: want, amp });
      this.events.push(`precision ${want}${amp ? ' with AMP' : ''} from epoch ${this.epoch}`);
    }
  }

  /** AMP at a level of a schedule: off in full (as the paper's code), the run's setting below it. */
  private ampAt(level: BlockPrecision): boolean {
    const pc = this.o.precision!;
    return level === 'full' ? false : pc.ampInHalfPhases ?? pc.model.precisionPolicy.amp;
  }

  /** AMP with layers at these levels: on while any layer is below full (the run's setting), off in full. */
  private ampOfLevels(levels: readonly BlockPrecision[]): boolean {
    return this.ampAt(levels.some((l) => l !== 'full') ? 'half' : 'full');
  }

  /** Puts the model at a level of the automatic schedule (with AMP below full) unless it is there already. */
  private applyLevel(level: BlockPrecision, event: string): void {
    const pc = this.o.precision!;
    const amp = this.ampAt(level);
    const layers = pc.model.precisionReport();
    if (pc.model.precisionPolicy.fno_block_precision === level && pc.model.precisionPolicy.amp === amp && layers.every((l) => l.precision === level)) return;
    pc.model.setPrecision({ fno_block_precision: level, amp });
    this.events.push(event);
  }

  /**
   * Puts each layer at its level of the automatic schedule by layer (AMP on while any layer is below
   * full) unless they are there already.
   */
  private applyLevels(levels: readonly BlockPrecision[], event: string): void {
    const pc = this.o.precision!;
    const amp = this.ampOfLevels(levels);
    const now = pc.model.precisionReport();
    if (pc.model.precisionPolicy.amp === amp && now.every((l, i) => l.precision === levels[i])) return;
    setLayerLevels(pc.model, levels, amp);
    this.events.push(event);
  }

  /** The parameters' gradients as float64 arrays (zeros for a parameter without one). */
  private gradients(): Float64Array[] {
    return this.o.model.parameters().map((p) => (p.grad ? p.grad.toFloat64() : new Float64Array(p.value.size)));
  }

  /** The previous step's gradient, kept when the next step is a probe of the automatic schedule. */
  private prevGrads: Float64Array[] | undefined;
  private prevCount = 1;
  /**
   * Levels a probe found to compute bit for bit what the level below them does. Found again by the
   * first probe after a resume, so it need not be saved.
   */
  private readonly alike = new Set<BlockPrecision>();
  private epochProbes: AutoProbe[] = [];

  /**
   * A probe of the automatic schedule at step b: the step's gradient (already in the parameters,
   * unscaled) against the same batch's gradient one level up and against the previous step's
   * gradient. The parameters' gradients are left as the step computed them; overflow counters as
   * they were.
   */
  private probe(b: number, count: number, forward: () => Variable): void {
    const pc = this.o.precision!;
    const auto = pc.auto!;
    if (auto.byLayer) {
      this.probeLayers(b, count, forward);
      return;
    }
    const prev = this.prevGrads;
    this.prevGrads = undefined;
    let up = levelAbove(auto.level);
    if (!up || !prev) return;
    // a level found to compute exactly what this one does (half and mixed under AMP for an FFT layer,
    // whose spectral input is already in the half type) is no step up: compare with the level above it
    const skipped: BlockPrecision[] = [];
    while (up !== 'full' && this.alike.has(up)) {
      skipped.push(up);
      up = levelAbove(up)!;
    }
    const g = this.gradients();
    const scale = pc.scaler?.scale ?? 1;
    const gradientAt = (level: BlockPrecision): Float64Array[] => this.probeGradient(() => withPrecision(pc.model, { fno_block_precision: level, amp: this.ampAt(level) }, () => this.probeBackward(forward, scale)));
    let error = relativeDifference(g, gradientAt(up), 1, 1 / scale);
    // bit-identical: remembered (the run's policy decides it once), and the level above compared
    while (error === 0 && up !== 'full') {
      this.alike.add(up);
      skipped.push(up);
      up = levelAbove(up)!;
      error = relativeDifference(g, gradientAt(up), 1, 1 / scale);
    }
    // batch-to-batch variability of the per-sample mean gradient (the last batch may be smaller)
    const noise = relativeDifference(prev, g, 1 / this.prevCount, 1 / count);
    const r = auto.record(this.epoch, b, error, noise, up);
    if (!r) {
      this.events.push(`automatic schedule: the probe at epoch ${this.epoch}, step ${b} was not finite (not counted)`);
      return;
    }
    this.epochProbes.push(r.probe);
    const sw = r.switched;
    if (sw) {
      const same = skipped.length ? ` (${skipped.join(', ')} computes what ${sw.from} does here)` : '';
      this.applyLevel(sw.to, `precision ${sw.to} (automatic schedule) from epoch ${this.epoch}, step ${b + 1}: the precision error against ${up} was ${sw.ratios.map((x) => x.toFixed(3)).join(', ')} × the gradient noise in ${sw.ratios.length} probes in a row (threshold ${auto.o.threshold})${same}`);
    }
  }

  /** The probe's forward and backward at the loss scale (fp16 gradients would underflow without it). */
  private probeBackward(forward: () => Variable, scale: number): void {
    const loss = tidy(forward);
    backward(loss, scale !== 1 ? Tensor.full(loss.shape, scale, loss.dtype, 'gradient') : undefined);
    loss.release();
  }

  /**
   * The gradients that `run` computes (a probe's forward and backward at some precision), as float64
   * arrays; the parameters' gradients and the layers' overflow counters are left as they were. The
   * probe's gradients are at the loss scale: compare them scaled back (1/scale in relativeDifference).
   */
  private probeGradient(run: () => void): Float64Array[] {
    const pc = this.o.precision!;
    const params = this.o.model.parameters();
    const kept = params.map((p) => p.grad);
    const counters = pc.model.precisionLayers().map((c) => c.overflows);
    try {
      for (const p of params) p.grad = null;
      run();
      return this.gradients();
    } finally {
      params.forEach((p, i) => {
        if (p.grad && p.grad !== kept[i]) p.grad.release();
        p.grad = kept[i]!;
      });
      pc.model.precisionLayers().forEach((c, i) => { c.overflows = counters[i]!; });
    }
  }

  /** Each precision-controlled layer's parameters, as indices into the model's parameters. */
  private layerParamIndex(): number[][] {
    const pc = this.o.precision!;
    const index = new Map(this.o.model.parameters().map((p, i) => [p as Variable, i]));
    return pc.model.precisionLayers().map((l, li) => l.parameters().map((p) => {
      const i = index.get(p);
      if (i === undefined) throw new Error(`automatic schedule by layer: a parameter of layer ${li} (${l.description}) is not among the model's parameters`);
      return i;
    }));
  }

  /**
   * A probe by layer: as probe(), with h computed with every layer that is not yet full one level up
   * (past levels found to compute what the one below does), and e, n measured on each layer's own
   * parameters.
   */
  private probeLayers(b: number, count: number, forward: () => Variable): void {
    const pc = this.o.precision!;
    const auto = pc.auto!;
    const prev = this.prevGrads;
    this.prevGrads = undefined;
    const levels = auto.levels()!;
    if (!prev || levels.every((l) => l === 'full')) return;
    const nextUp = (l: BlockPrecision): BlockPrecision => {
      let up = levelAbove(l)!;
      while (up !== 'full' && this.alike.has(up)) up = levelAbove(up)!;
      return up;
    };
    const g = this.gradients();
    const scale = pc.scaler?.scale ?? 1;
    const gradientAt = (at: readonly BlockPrecision[]): Float64Array[] => this.probeGradient(() => withPrecision(pc.model, { layers: at, amp: this.ampOfLevels(at) }, () => this.probeBackward(forward, scale)));
    let ups = levels.map((l) => (l === 'full' ? l : nextUp(l)));
    let h = gradientAt(ups);
    // bit-identical as a whole: the levels moved to compute what the ones below do (half and mixed
    // under AMP); remembered, and the levels above compared
    // (a layer already in full has 'full' in ups too)
    while (relativeDifference(g, h, 1, 1 / scale) === 0 && ups.some((u) => u !== 'full')) {
      for (const u of ups) if (u !== 'full') this.alike.add(u);
      ups = levels.map((l) => (l === 'full' ? l : nextUp(l)));
      h = gradientAt(ups);
    }
    const groups = this.layerParamIndex();
    const pick = (a: Float64Array[], idx: number[]): Float64Array[] => idx.map((i) => a[i]!);
    const ms = levels.flatMap((l, layer) => {
      if (l === 'full') return [];
      const idx = groups[layer]!;
      return [{
        layer, against: ups[layer]!,
        error: relativeDifference(pick(g, idx), pick(h, idx), 1, 1 / scale),
        noise: relativeDifference(pick(prev, idx), pick(g, idx), 1 / this.prevCount, 1 / count),
      }];
    });
    const r = auto.recordLayers(this.epoch, b, ms);
    if (!r) {
      this.events.push(`automatic schedule: the probe at epoch ${this.epoch}, step ${b} was not finite (not counted)`);
      return;
    }
    this.epochProbes.push(...r.probes);
    for (const sw of r.switched) {
      this.events.push(`layer ${sw.layer} precision ${sw.to} (automatic schedule by layer) from epoch ${this.epoch}, step ${b + 1}: the precision error of its gradient against ${sw.to} was ${sw.ratios.map((x) => x.toFixed(3)).join(', ')} × its gradient noise in ${sw.ratios.length} probes in a row (threshold ${auto.o.threshold})`);
    }
    if (r.switched.length) {
      const now = auto.levels()!;
      this.applyLevels(now, `precision by layer ${now.join(', ')} (automatic schedule) from epoch ${this.epoch}, step ${b + 1}`);
    }
  }

  /**
   * After a training forward pass: adds the Fourier layers' new overflows to this epoch's counts and,
   * with fallback_after, demotes a layer whose count of overflowing passes reached it.
   */
  private checkFallback(): void {
    const pc = this.o.precision;
    if (!pc) return;
    const layers = pc.model.precisionLayers();
    for (const c of pc.model.precisionReport()) {
      this.epochOverflows[c.layer] = (this.epochOverflows[c.layer] ?? 0) + c.overflows - (this.overflowBase[c.layer] ?? 0);
      this.overflowBase[c.layer] = c.overflows;
      if (pc.fallbackAfter && c.overflows >= pc.fallbackAfter && c.precision !== 'full') {
        const next = demote(c.precision);
        pc.model.setPrecision({ fno_block_precision: next, layer: c.layer });
        layers[c.layer]!.overflows = 0;
        this.overflowBase[c.layer] = 0;
        this.events.push(`layer ${c.layer} fell back from ${c.precision} to ${next} after ${c.overflows} overflows (epoch ${this.epoch})`);
      }
    }
  }

  private trainEpoch(loader: DataLoader): { sum: number; batches: number; samples: number; secs: number } {
    const { model, optimizer, trainLoss, outputNormalizer } = this.o;
    const scaler = this.o.precision?.scaler;
    model.train();
    const batches = loader.epochBatches();
    this.o.progress?.start(this.epoch, batches.length);
    const t0 = performance.now();
    let sum = 0;
    let samples = 0;
    batches.forEach((idx, b) => {
      if (this.o.crashAt?.epoch === this.epoch && this.o.crashAt.batch === b) process.kill(process.pid, 'SIGKILL');
      const batch = loader.dataset.batch(idx);
      const target = loader.dataset.target;
      const y = batch.tensors[target]!;
      const seg = batch.segments[target];
      const yt = outputNormalizer ? outputNormalizer.encode(y) : y;
      model.setStep?.(this.epoch, b);
      try {
        const loss = tidy(() => trainLoss.forward(predictBatch(model, batch), yt, seg));
        const v = loss.item();
        this.checkFallback();
        if (!Number.isFinite(v)) {
          if (!scaler) {
            disposeGraph(loss);
            loss.release();
            throw new Error(`training loss is not finite (${v}) at epoch ${this.epoch}, batch ${b}; no update was made`);
          }
          // a 16-bit forward overflowed: skip this step (nothing reaches the weights)
          disposeGraph(loss);
          loss.release();
          scaler.update(false);
          if (scaler.skipped > 1000) throw new Error(`training: more than 1000 steps skipped for non-finite values (epoch ${this.epoch}); the run diverged`);
          return;
        }
        optimizer.zeroGrad();
        backward(loss, scaler ? Tensor.full(loss.shape, scaler.scale, loss.dtype, 'gradient') : undefined);
        loss.release();
        const finite = !scaler || scaler.unscaleAndCheck(model.parameters());
        const auto = this.o.precision?.auto;
        if (auto && finite) {
          if (auto.isProbeStep(b)) this.probe(b, idx.length, () => trainLoss.forward(predictBatch(model, batch), yt, seg));
          if (b + 1 < batches.length && auto.isProbeStep(b + 1)) {
            this.prevGrads = this.gradients();
            this.prevCount = idx.length;
          }
        }
        if (finite) optimizer.step();
        sum += v;
        samples += idx.length;
        this.o.progress?.update(b + 1, v);
      } finally {
        if (yt !== y) yt.release();
        releaseBatch(batch);
      }
    });
    this.o.progress?.stop();
    return { sum, batches: batches.length, samples, secs: (performance.now() - t0) / 1000 };
  }

  /** Σ per-sample losses / samples for each (test set, loss), predictions decoded first. */
  evaluate(loaders: Record<string, DataLoader>): Record<string, number> {
    const { model, evalLosses, outputNormalizer } = this.o;
    model.eval();
    // evaluation passes do not count towards fallback_after: only training passes demote a layer
    const convs = this.o.precision?.model.precisionLayers() ?? [];
    const counters = convs.map((c) => c.overflows);
    const out: Record<string, number> = {};
    noGrad(() => {
      for (const [set, loader] of Object.entries(loaders)) {
        const sums: Record<string, number> = {};
        let n = 0;
        for (const idx of loader.epochBatches()) {
          const batch = loader.dataset.batch(idx);
          const target = loader.dataset.target;
          const y = batch.tensors[target]!;
          const seg = batch.segments[target];
          try {
            tidy(() => {
              const pred = predictBatch(model, batch);
              const dec = outputNormalizer ? new Variable(outputNormalizer.decode(pred.value)) : pred;
              for (const [name, loss] of Object.entries(evalLosses)) sums[name] = (sums[name] ?? 0) + loss.forward(dec, y, seg).item();
            });
          } finally {
            releaseBatch(batch);
          }
          n += idx.length;
        }
        for (const [name, s] of Object.entries(sums)) out[`${set}_${name}`] = s / n;
      }
    });
    convs.forEach((c, i) => { c.overflows = counters[i]!; });
    // the epoch record's graph statistics are the training passes'
    model.takeGraphStats?.();
    model.train();
    return out;
  }

  /** Restores the mixed-precision state saved in a checkpoint (per-layer precision, loss scale). */
  restorePrecision(saved: unknown): void {
    const pc = this.o.precision;
    if (!pc || saved === null || typeof saved !== 'object') return;
    applySavedPrecision(pc.model, saved, { schedule: pc.schedule, ampInHalfPhases: pc.ampInHalfPhases, epoch: this.epoch });
    const s = saved as { scaler?: GradScalerState | null; auto?: unknown };
    if (s.scaler && pc.scaler) pc.scaler.setState(s.scaler);
    if (pc.auto && s.auto !== undefined) pc.auto.setState(s.auto);
  }

  /** Trains from this.epoch to nEpochs; returns the last evaluation. */
  train(trainLoader: DataLoader, testLoaders: Record<string, DataLoader>, extraState: () => Pick<TrainingState, 'normalizer'>): Record<string, number> {
    const { runDir } = this.o;
    if (runDir) makeDirectory(runDir, 'run directory');
    let last: Record<string, number> = {};
    while (this.epoch < this.o.nEpochs) {
      this.events = [];
      this.epochProbes = [];
      this.prevGrads = undefined;
      this.epochOverflows = [];
      this.overflowBase = this.o.precision?.model.precisionReport().map((l) => l.overflows) ?? [];
      this.applySchedule();
      const pc = this.o.precision;
      const layerPrecision = pc?.model.precisionReport().map((l) => l.precision);
      const lr = this.o.optimizer.lr;
      const r = this.trainEpoch(trainLoader);
      this.o.scheduler?.step();
      const graphs = this.o.model.takeGraphStats?.();
      const rec: EpochRecord = {
        epoch: this.epoch,
        train_err: r.sum / Math.max(1, r.batches),
        avg_loss: r.sum / Math.max(1, r.samples),
        lr,
        time_s: r.secs,
        samples_per_s: r.samples / Math.max(r.secs, 1e-9),
      };
      if (pc) {
        rec.precision = layerPrecision!;
        rec.overflows = pc.model.precisionReport().map((l) => this.epochOverflows[l.layer] ?? 0);
        if (pc.scaler) {
          rec.loss_scale = pc.scaler.scale;
          rec.skipped_steps = pc.scaler.skipped;
        }
      }
      if (graphs && Object.keys(graphs).length) rec.graphs = graphs;
      if (pc?.auto) rec.probes = [...this.epochProbes];
      if (this.events.length) rec.events = [...this.events];
      if (this.epoch % this.o.evalInterval === 0 || this.epoch === this.o.nEpochs - 1) {
        last = this.evaluate(testLoaders);
        rec.eval = last;
      }
      this.history.push(rec);
      if (runDir) {
        const log = path.join(runDir, 'metrics.jsonl');
        fsStep('append to the metrics log', log, () => appendFileSync(log, `${JSON.stringify(rec)}\n`));
      }
      this.o.onEpoch?.(rec);
      this.epoch++;
      const every = this.o.checkpointEvery ?? 1;
      if (runDir && (this.epoch % every === 0 || this.epoch === this.o.nEpochs)) this.checkpoint(trainLoader, extraState());
    }
    return last;
  }

  checkpoint(trainLoader: DataLoader, extra: Pick<TrainingState, 'normalizer'>): void {
    const weights = this.o.model.stateDict();
    // this.epoch counts completed epochs; the fault injection names the epoch just trained
    const crash = this.o.crashAt?.batch === 'checkpoint' && this.o.crashAt.epoch === this.epoch - 1;
    try {
      saveCheckpoint(this.o.runDir!, weights, {
        format: 'mpno-checkpoint', version: 1, epoch: this.epoch, config: this.o.config!,
        optimizer: this.o.optimizer.stateDict(), scheduler: this.o.scheduler?.stateDict() ?? null,
        loaderRng: trainLoader.getState(), normalizer: extra.normalizer, history: this.history,
        precision: this.o.precision ? {
          layers: this.o.precision.model.precisionReport(),
          scaler: this.o.precision.scaler?.getState() ?? null,
          ...(this.o.precision.auto ? { auto: this.o.precision.auto.getState() } : {}),
        } : null,
      }, 2, crash ? () => process.kill(process.pid, 'SIGKILL') : undefined);
    } finally {
      for (const t of weights.values()) t.release();
    }
  }
}


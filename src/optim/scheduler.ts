import { OptimizerError } from './errors.js';

/** What a scheduler drives: anything with a settable learning rate (AdamW, Adam). */
export interface LrOptimizer {
  lr: number;
}

export interface StepLROptions {
  /** Epochs between decays, a positive integer. */
  step_size: number;
  /** Multiplicative decay, finite and > 0 (default 0.1). */
  gamma?: number;
}

export interface CosineAnnealingLROptions {
  /** Half period in epochs, a positive integer. */
  T_max: number;
  /** Lowest learning rate, finite and ≥ 0 (default 0). */
  eta_min?: number;
}

interface SchedulerStateBase {
  format: 'mpno.scheduler';
  version: 1;
  last_epoch: number;
  /** The learning rate at construction (PyTorch's base_lrs, one per parameter group; here one). */
  base_lrs: number[];
  last_lr: number[];
}

export interface StepLRState extends SchedulerStateBase {
  scheduler: 'StepLR';
  step_size: number;
  gamma: number;
}

export interface CosineAnnealingLRState extends SchedulerStateBase {
  scheduler: 'CosineAnnealingLR';
  T_max: number;
  eta_min: number;
}

/** A JSON-serialisable scheduler state. */
export type SchedulerState = StepLRState | CosineAnnealingLRState;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function positiveInt(op: string, name: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x <= 0) throw new OptimizerError(`${op}: ${name} must be a positive integer, got ${String(x)}`);
  return x;
}

function finiteAtLeast(op: string, name: string, x: unknown, min: number, strict: boolean): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || (strict ? x <= min : x < min)) {
    throw new OptimizerError(`${op}: ${name} must be a finite number ${strict ? '>' : '≥'} ${min}, got ${String(x)}`);
  }
  return x;
}

function checkOptions(op: string, o: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (!isRecord(o)) throw new OptimizerError(`${op}: options must be an object`);
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new OptimizerError(`${op}: unknown option '${k}' (expected ${allowed.join(', ')})`);
  return o;
}

/** Python's modulo (the result takes the divisor's sign). */
function pyMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/**
 * PyTorch's LRScheduler for one parameter group: construction records the optimizer's lr as the base
 * lr with lastEpoch 0 (the lr is not changed); each step() (once per epoch) increments lastEpoch and
 * sets the optimizer's lr from the recursive rule of the subclass, which reads the optimizer's current
 * lr, so an lr changed from outside carries on from there, as in PyTorch.
 */
export abstract class LRScheduler {
  readonly optimizer: LrOptimizer;
  protected baseLr: number;
  private epoch = 0;
  private lastLr: number;

  protected constructor(
    protected readonly kind: SchedulerState['scheduler'],
    optimizer: LrOptimizer,
  ) {
    if (typeof optimizer !== 'object' || optimizer === null) throw new OptimizerError(`${kind}: optimizer must be an object with an lr`);
    const lr: unknown = optimizer.lr;
    if (typeof lr !== 'number' || !Number.isFinite(lr)) throw new OptimizerError(`${kind}: the optimizer's lr is ${String(lr)}, not a finite number`);
    this.optimizer = optimizer;
    this.baseLr = lr;
    this.lastLr = lr;
  }

  /** Epochs stepped so far (PyTorch's last_epoch; 0 after construction). */
  get lastEpoch(): number {
    return this.epoch;
  }

  /** The lr the base was taken from (PyTorch's base_lrs). */
  get baseLrs(): number[] {
    return [this.baseLr];
  }

  /** The lr set by the last step() (or the initial lr), one per parameter group (here one). */
  getLastLr(): number[] {
    return [this.lastLr];
  }

  /** Advances one epoch and sets the optimizer's lr. */
  step(): void {
    this.epoch++;
    const lr = this.nextLr(this.epoch, this.optimizer.lr);
    this.optimizer.lr = lr;
    this.lastLr = lr;
  }

  /** The lr for epoch t ≥ 1, from the current lr (PyTorch's get_lr). */
  protected abstract nextLr(t: number, lr: number): number;

  protected abstract hyperState(): Record<string, number>;

  /** Checks and applies the subclass's hyperparameters from a state (throws before changing anything). */
  protected abstract parseHyperState(op: string, s: Record<string, unknown>): () => void;

  stateDict(): SchedulerState {
    return {
      format: 'mpno.scheduler',
      version: 1,
      scheduler: this.kind,
      last_epoch: this.epoch,
      base_lrs: [this.baseLr],
      last_lr: [this.lastLr],
      ...this.hyperState(),
    } as SchedulerState;
  }

  /**
   * Restores a stateDict() (also after a JSON round trip): epoch, base lr, last lr and the
   * hyperparameters, as PyTorch's load_state_dict does. Like PyTorch it does not touch the optimizer's
   * lr (that is part of the optimizer's own state dict).
   */
  loadStateDict(state: unknown): void {
    const op = `${this.kind}.loadStateDict`;
    const s = state;
    if (!isRecord(s) || s['format'] !== 'mpno.scheduler') throw new OptimizerError(`${op}: not a scheduler state (format must be 'mpno.scheduler')`);
    if (s['version'] !== 1) throw new OptimizerError(`${op}: unsupported state version ${String(s['version'])}`);
    if (s['scheduler'] !== this.kind) throw new OptimizerError(`${op}: the state is for ${String(s['scheduler'])}, not ${this.kind}`);
    const epoch = s['last_epoch'];
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) throw new OptimizerError(`${op}: last_epoch must be an integer ≥ 0, got ${String(epoch)}`);
    const one = (name: string): number => {
      const a = s[name];
      if (!Array.isArray(a) || a.length !== 1 || typeof a[0] !== 'number' || !Number.isFinite(a[0])) {
        throw new OptimizerError(`${op}: ${name} must be a list of one finite number (one parameter group), got ${JSON.stringify(a)}`);
      }
      return a[0];
    };
    const base = one('base_lrs');
    const last = one('last_lr');
    const apply = this.parseHyperState(op, s);
    apply();
    this.epoch = epoch;
    this.baseLr = base;
    this.lastLr = last;
  }
}

/**
 * torch.optim.lr_scheduler.StepLR: at epochs t > 0 with t mod step_size = 0 the lr is multiplied by
 * gamma, otherwise kept (closed form lr_0·gamma^⌊t/step_size⌋).
 */
export class StepLR extends LRScheduler {
  private stepSize: number;
  private gamma: number;

  constructor(optimizer: LrOptimizer, opts: StepLROptions) {
    super('StepLR', optimizer);
    const o = checkOptions('StepLR', opts, ['step_size', 'gamma']);
    this.stepSize = positiveInt('StepLR', 'step_size', o['step_size']);
    this.gamma = finiteAtLeast('StepLR', 'gamma', o['gamma'] ?? 0.1, 0, true);
  }

  override stateDict(): StepLRState {
    return super.stateDict() as StepLRState;
  }

  protected nextLr(t: number, lr: number): number {
    return t % this.stepSize !== 0 ? lr : lr * this.gamma;
  }

  protected hyperState(): Record<string, number> {
    return { step_size: this.stepSize, gamma: this.gamma };
  }

  protected parseHyperState(op: string, s: Record<string, unknown>): () => void {
    const stepSize = positiveInt(op, 'step_size', s['step_size']);
    const gamma = finiteAtLeast(op, 'gamma', s['gamma'], 0, true);
    return () => {
      this.stepSize = stepSize;
      this.gamma = gamma;
    };
  }
}

/**
 * torch.optim.lr_scheduler.CosineAnnealingLR with PyTorch's recursive get_lr, from the current lr
 * η_{t−1} at epoch t ≥ 1 (η_0 the base lr):
 *   if (t − 1 − T_max) mod 2·T_max = 0:  η_t = η_{t−1} + (η_0 − η_min)·(1 − cos(π/T_max))/2
 *   otherwise:  η_t = (1 + cos(π·t/T_max)) / (1 + cos(π·(t−1)/T_max))·(η_{t−1} − η_min) + η_min
 * which equals the closed form η_min + (η_0 − η_min)(1 + cos(π·t/T_max))/2 up to rounding, also past
 * T_max where the lr rises again, unless the lr is changed from outside.
 */
export class CosineAnnealingLR extends LRScheduler {
  private tMax: number;
  private etaMin: number;

  constructor(optimizer: LrOptimizer, opts: CosineAnnealingLROptions) {
    super('CosineAnnealingLR', optimizer);
    const o = checkOptions('CosineAnnealingLR', opts, ['T_max', 'eta_min']);
    this.tMax = positiveInt('CosineAnnealingLR', 'T_max', o['T_max']);
    this.etaMin = finiteAtLeast('CosineAnnealingLR', 'eta_min', o['eta_min'] ?? 0, 0, false);
  }

  override stateDict(): CosineAnnealingLRState {
    return super.stateDict() as CosineAnnealingLRState;
  }

  protected nextLr(t: number, lr: number): number {
    const T = this.tMax;
    if (pyMod(t - 1 - T, 2 * T) === 0) return lr + ((this.baseLr - this.etaMin) * (1 - Math.cos(Math.PI / T))) / 2;
    return ((1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T))) * (lr - this.etaMin) + this.etaMin;
  }

  protected hyperState(): Record<string, number> {
    return { T_max: this.tMax, eta_min: this.etaMin };
  }

  protected parseHyperState(op: string, s: Record<string, unknown>): () => void {
    const tMax = positiveInt(op, 'T_max', s['T_max']);
    const etaMin = finiteAtLeast(op, 'eta_min', s['eta_min'], 0, false);
    return () => {
      this.tMax = tMax;
      this.etaMin = etaMin;
    };
  }
}

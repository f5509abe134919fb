/**
 * The automatic precision schedule (`precision.schedule: "auto"`): training starts with the Fourier
 * blocks in half precision and moves up (half → mixed → full, never down) when the rounding error of
 * the current precision stops being small next to the noise that stochastic gradients carry anyway.
 *
 * Every `probeEvery` training steps (on the step's own batch, at the step's weights) the Trainer gives
 * this schedule three gradients: g, the step's gradient in the current precision; g′, the previous
 * step's gradient (another batch); h, the gradient of the same batch in the next precision up (or
 * the one above it, where the next computes exactly the same: half and mixed under AMP). Then
 *
 *   precision error  e = ‖g − h‖ / ‖h‖,
 *   gradient noise   n = ‖ḡ − ḡ′‖ / ‖ḡ‖ of the per-sample mean gradients (batch-to-batch variability,
 *                    tracked as a running mean n̄),
 *   ratio            r = e / n̄.
 *
 * While r ≤ threshold the rounding error is a small fraction of the noise SGD already averages over,
 * and the half-precision step is as good as the full one. When r > threshold for `patience` probes in
 * a row, the model moves up one level. The state (level, n̄, the streak, the switches) is saved in
 * checkpoints, so a resumed run takes the same decisions.
 */
import { BLOCK_PRECISIONS, type BlockPrecision, demote } from './policy.js';

export interface AutoScheduleOptions {
  /** Training steps between probes (≥ 1, at most the steps of an epoch). */
  probeEvery: number;
  /** Switch up when the precision error exceeds this fraction of the gradient noise (> 0). */
  threshold: number;
  /** … for this many probes in a row (≥ 1). */
  patience: number;
  /** Weight of the newest noise measurement in the running mean (0 < w ≤ 1). */
  noiseWeight?: number;
}

/** One probe's measurements. */
export interface AutoProbe {
  epoch: number;
  step: number;
  precision: BlockPrecision;
  /** The level h was computed at (the next one up that computes differently). */
  against: BlockPrecision;
  /** ‖g − h‖ / ‖h‖. */
  error: number;
  /** ‖ḡ − ḡ′‖ / ‖ḡ‖ of this probe (per-sample mean gradients). */
  noise: number;
  /** The running mean of the noise after this probe. */
  noise_mean: number;
  /** error / noise_mean. */
  ratio: number;
}

export interface AutoSwitch {
  epoch: number;
  step: number;
  from: BlockPrecision;
  to: BlockPrecision;
  /** The ratios of the probes that decided it (the streak). */
  ratios: number[];
}

export interface AutoScheduleState {
  level: BlockPrecision;
  noise_mean: number | null;
  /** Ratios of the current streak of probes above the threshold. */
  streak: number[];
  probes: number;
  switches: AutoSwitch[];
}

/** Default weight of a new noise measurement in its running mean. */
export const AUTO_NOISE_WEIGHT = 0.2;
/** Default switching threshold (precision error as a fraction of the gradient noise). */
export const AUTO_THRESHOLD = 0.1;
/** Default number of probes in a row above the threshold before a switch. */
export const AUTO_PATIENCE = 3;
/** Probe cost target: one extra forward + backward per probe, ≤ 5 % of the training steps. */
export const AUTO_PROBE_EVERY = 20;

/** The level above `p` (undefined for full). */
export function levelAbove(p: BlockPrecision): BlockPrecision | undefined {
  return p === 'full' ? undefined : demote(p);
}

/** Checks the options against the steps of an epoch; errors name the config key. */
export function checkAutoOptions(o: AutoScheduleOptions, stepsPerEpoch: number, where = 'precision'): void {
  if (!Number.isInteger(o.probeEvery) || o.probeEvery < 1) throw new RangeError(`${where}.probe_every must be an integer ≥ 1, got ${o.probeEvery}`);
  if (o.probeEvery > stepsPerEpoch) {
    throw new RangeError(`${where}.probe_every = ${o.probeEvery} is larger than an epoch (${stepsPerEpoch} training steps): a probe needs the step before it in the same epoch; give at most ${stepsPerEpoch}`);
  }
  if (stepsPerEpoch < 2) throw new RangeError(`precision.schedule 'auto' needs at least 2 training steps per epoch (a probe compares a step's gradient with the one before it); this run has ${stepsPerEpoch}`);
  if (!(Number.isFinite(o.threshold) && o.threshold > 0)) throw new RangeError(`${where}.switch_threshold must be a number > 0, got ${o.threshold}`);
  if (!Number.isInteger(o.patience) || o.patience < 1) throw new RangeError(`${where}.switch_patience must be an integer ≥ 1, got ${o.patience}`);
  const w = o.noiseWeight ?? AUTO_NOISE_WEIGHT;
  if (!(w > 0 && w <= 1)) throw new RangeError(`${where}: the noise weight must be in (0, 1], got ${w}`);
}

export class AutoPrecisionSchedule {
  private s: AutoScheduleState = { level: 'half', noise_mean: null, streak: [], probes: 0, switches: [] };

  constructor(readonly o: AutoScheduleOptions) {}

  get level(): BlockPrecision {
    return this.s.level;
  }

  /** Whether step b of an epoch is a probe (never the first step: the probe compares with the step before). */
  isProbeStep(b: number): boolean {
    // steps k−1, 2k−1, …, and every step from the second on when k = 1
    return this.s.level !== 'full' && b >= 1 && (b + 1) % this.o.probeEvery === 0;
  }

  /**
   * Records a probe; returns it, and the switch when the streak reached the patience.
   * Non-finite measurements (a probe that overflowed) are not recorded and do not break a streak.
   */
  record(epoch: number, step: number, error: number, noise: number, against: BlockPrecision = levelAbove(this.s.level) ?? 'full'): { probe: AutoProbe; switched?: AutoSwitch } | undefined {
    if (!Number.isFinite(error) || !Number.isFinite(noise)) return undefined;
    const w = this.o.noiseWeight ?? AUTO_NOISE_WEIGHT;
    const mean = this.s.noise_mean === null ? noise : (1 - w) * this.s.noise_mean + w * noise;
    this.s.noise_mean = mean;
    this.s.probes++;
    const ratio = mean > 0 ? error / mean : error > 0 ? Infinity : 0;
    const probe: AutoProbe = { epoch, step, precision: this.s.level, against, error, noise, noise_mean: mean, ratio };
    if (ratio > this.o.threshold) this.s.streak.push(ratio);
    else this.s.streak = [];
    if (this.s.streak.length < this.o.patience) return { probe };
    // up to the level the probes compared with (past levels that compute the same)
    const switched: AutoSwitch = { epoch, step, from: this.s.level, to: against, ratios: [...this.s.streak] };
    this.s.switches.push(switched);
    this.s.level = against;
    this.s.streak = [];
    return { probe, switched: structuredClone(switched) };
  }

  getState(): AutoScheduleState {
    return structuredClone(this.s);
  }

  setState(v: unknown): void {
    const s = v as Partial<AutoScheduleState> | null;
    const ok = s !== null && typeof s === 'object' && (BLOCK_PRECISIONS as readonly unknown[]).includes(s.level)
      && (s.noise_mean === null || typeof s.noise_mean === 'number') && Array.isArray(s.streak) && typeof s.probes === 'number' && Array.isArray(s.switches);
    if (!ok) throw new RangeError(`checkpoint state: precision.auto ${JSON.stringify(v)} is not an auto schedule's state`);
    this.s = structuredClone(s as AutoScheduleState);
  }
}

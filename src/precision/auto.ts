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
 *
 * By layer (`by: 'layer'`), every precision-controlled layer has its own level, n̄ and streak: e and n
 * are measured on the gradient of that layer's own parameters (the same two gradients, h computed with
 * every layer that is not yet full one level up), and a layer moves up alone. The layer's gradient also
 * carries rounding from the layers it backpropagates through, so the attribution is approximate; it
 * costs no more probes than the whole-model schedule.
 */
import { BLOCK_PRECISIONS, type BlockPrecision, demote } from './policy.js';

/** What a switch moves: the whole model, or one precision-controlled layer at a time. */
export type AutoSwitchBy = 'model' | 'layer';
export const AUTO_SWITCH_BY: readonly AutoSwitchBy[] = ['model', 'layer'];

export interface AutoScheduleOptions {
  /** Training steps between probes (≥ 1, at most the steps of an epoch). */
  probeEvery: number;
  /** 'model' (default): one level for the whole model; 'layer': one per layer (needs `layers`). */
  by?: AutoSwitchBy;
  /** The number of precision-controlled layers (with by 'layer'). */
  layers?: number;
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
  /** The layer measured (by layer; absent for the whole model). */
  layer?: number;
}

export interface AutoSwitch {
  epoch: number;
  step: number;
  from: BlockPrecision;
  to: BlockPrecision;
  /** The ratios of the probes that decided it (the streak). */
  ratios: number[];
  /** The layer that switched (by layer; absent for the whole model). */
  layer?: number;
}

/** One unit's decision state: the whole model, or one layer. */
export interface AutoUnitState {
  level: BlockPrecision;
  noise_mean: number | null;
  /** Ratios of the current streak of probes above the threshold. */
  streak: number[];
}

export interface AutoScheduleState extends AutoUnitState {
  probes: number;
  switches: AutoSwitch[];
  /** By layer: each layer's state (level, noise_mean and streak above are then unused). */
  layers?: AutoUnitState[];
}

/** One unit's measurement at a probe (by layer: one per layer that is not yet full). */
export interface AutoMeasurement {
  error: number;
  noise: number;
  /** The level h was computed at. */
  against: BlockPrecision;
  /** The layer (by layer). */
  layer?: number;
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
  const by = o.by ?? 'model';
  if (!AUTO_SWITCH_BY.includes(by)) throw new RangeError(`${where}.switch_by must be one of ${AUTO_SWITCH_BY.join(', ')}, got ${JSON.stringify(by)}`);
  if (by === 'layer' && !(Number.isInteger(o.layers) && o.layers! >= 1)) throw new RangeError(`${where}.switch_by 'layer' needs the number of precision-controlled layers (≥ 1), got ${String(o.layers)}`);
}

export class AutoPrecisionSchedule {
  private s: AutoScheduleState;

  constructor(readonly o: AutoScheduleOptions) {
    this.s = { level: 'half', noise_mean: null, streak: [], probes: 0, switches: [] };
    if (this.byLayer) this.s.layers = Array.from({ length: o.layers! }, () => ({ level: 'half' as BlockPrecision, noise_mean: null, streak: [] }));
  }

  get byLayer(): boolean {
    return this.o.by === 'layer';
  }

  /** The whole model's level; by layer, the lowest layer's. */
  get level(): BlockPrecision {
    if (!this.s.layers) return this.s.level;
    // BLOCK_PRECISIONS runs full → half: the lowest level has the largest index
    return this.s.layers.reduce<BlockPrecision>((lo, u) => (BLOCK_PRECISIONS.indexOf(u.level) > BLOCK_PRECISIONS.indexOf(lo) ? u.level : lo), 'full');
  }

  /** Each layer's level (by layer), or undefined for the whole model. */
  levels(): BlockPrecision[] | undefined {
    return this.s.layers?.map((u) => u.level);
  }

  /** Whether step b of an epoch is a probe (never the first step: the probe compares with the step before). */
  isProbeStep(b: number): boolean {
    // steps k−1, 2k−1, …, and every step from the second on when k = 1
    return this.level !== 'full' && b >= 1 && (b + 1) % this.o.probeEvery === 0;
  }

  /**
   * Records a probe of the whole model; returns it, and the switch when the streak reached the patience.
   * Non-finite measurements (a probe that overflowed) are not recorded and do not break a streak.
   */
  record(epoch: number, step: number, error: number, noise: number, against: BlockPrecision = levelAbove(this.s.level) ?? 'full'): { probe: AutoProbe; switched?: AutoSwitch } | undefined {
    if (this.s.layers) throw new Error('AutoPrecisionSchedule.record: this schedule switches by layer; use recordLayers');
    if (!Number.isFinite(error) || !Number.isFinite(noise)) return undefined;
    this.s.probes++;
    return this.recordUnit(this.s, epoch, step, { error, noise, against });
  }

  /**
   * Records a probe by layer (one measurement per layer that is not yet full); returns the probes and
   * the layers' switches. A probe with any non-finite measurement is not recorded at all.
   */
  recordLayers(epoch: number, step: number, ms: readonly AutoMeasurement[]): { probes: AutoProbe[]; switched: AutoSwitch[] } | undefined {
    const units = this.s.layers;
    if (!units) throw new Error('AutoPrecisionSchedule.recordLayers: this schedule switches the whole model; use record');
    if (ms.some((m) => !Number.isFinite(m.error) || !Number.isFinite(m.noise))) return undefined;
    for (const m of ms) {
      const u = m.layer === undefined ? undefined : units[m.layer];
      if (!u) throw new RangeError(`AutoPrecisionSchedule.recordLayers: no layer ${String(m.layer)} (0…${units.length - 1})`);
      if (u.level === 'full') throw new RangeError(`AutoPrecisionSchedule.recordLayers: layer ${m.layer} is already in full precision`);
    }
    this.s.probes++;
    const probes: AutoProbe[] = [];
    const switched: AutoSwitch[] = [];
    for (const m of ms) {
      const r = this.recordUnit(units[m.layer!]!, epoch, step, m);
      probes.push(r.probe);
      if (r.switched) switched.push(r.switched);
    }
    return { probes, switched };
  }

  private recordUnit(u: AutoUnitState, epoch: number, step: number, m: AutoMeasurement): { probe: AutoProbe; switched?: AutoSwitch } {
    const w = this.o.noiseWeight ?? AUTO_NOISE_WEIGHT;
    const mean = u.noise_mean === null ? m.noise : (1 - w) * u.noise_mean + w * m.noise;
    u.noise_mean = mean;
    const ratio = mean > 0 ? m.error / mean : m.error > 0 ? Infinity : 0;
    const at = m.layer !== undefined ? { layer: m.layer } : {};
    const probe: AutoProbe = { epoch, step, precision: u.level, against: m.against, error: m.error, noise: m.noise, noise_mean: mean, ratio, ...at };
    if (ratio > this.o.threshold) u.streak.push(ratio);
    else u.streak = [];
    if (u.streak.length < this.o.patience) return { probe };
    // up to the level the probes compared with (past levels that compute the same)
    const switched: AutoSwitch = { epoch, step, from: u.level, to: m.against, ratios: [...u.streak], ...at };
    this.s.switches.push(switched);
    u.level = m.against;
    u.streak = [];
    return { probe, switched: structuredClone(switched) };
  }

  getState(): AutoScheduleState {
    return structuredClone(this.s);
  }

  setState(v: unknown): void {
    const s = v as Partial<AutoScheduleState> | null;
    const unit = (u: Partial<AutoUnitState> | null | undefined): boolean => u !== null && typeof u === 'object' && (BLOCK_PRECISIONS as readonly unknown[]).includes(u.level)
      && (u.noise_mean === null || typeof u.noise_mean === 'number') && Array.isArray(u.streak);
    const ok = s !== null && typeof s === 'object' && unit(s) && typeof s.probes === 'number' && Array.isArray(s.switches)
      && (s.layers === undefined || (Array.isArray(s.layers) && s.layers.every(unit)));
    if (!ok) throw new RangeError(`checkpoint state: precision.auto ${JSON.stringify(v)} is not an auto schedule's state`);
    const saved = s as AutoScheduleState;
    if (this.byLayer !== (saved.layers !== undefined) || (saved.layers && saved.layers.length !== this.o.layers)) {
      const was = saved.layers ? `by layer over ${saved.layers.length} layers` : 'for the whole model';
      const now = this.byLayer ? `by layer over ${this.o.layers} layers` : 'for the whole model';
      throw new RangeError(`checkpoint state: the automatic schedule was saved ${was}, this run switches ${now} (precision.switch_by)`);
    }
    this.s = structuredClone(saved);
  }
}

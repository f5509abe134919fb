import { BLOCK_PRECISIONS as MODES, type BlockPrecision, type PrecisionControlled } from './policy.js';

export interface ScheduleEntry {
  precision: BlockPrecision;
  fraction: number;
}

/** A precision schedule resolved to epochs: entry i covers epochs [start, end). */
export interface EpochSchedule {
  entries: (ScheduleEntry & { start: number; end: number })[];
}

/**
 * Parses 'half:0.25,mixed:0.5,full:0.25' (fractions of the epochs, any sequence of modes, summing
 * to 1 within 1e-9). Errors name the problem.
 */
export function parsePrecisionSchedule(text: string): ScheduleEntry[] {
  if (typeof text !== 'string' || text.trim() === '') throw new RangeError('precision schedule: empty (expected e.g. half:0.25,mixed:0.5,full:0.25)');
  const entries = text.split(',').map((part) => {
    const [mode, frac, ...rest] = part.trim().split(':');
    if (rest.length > 0 || mode === undefined || frac === undefined) throw new RangeError(`precision schedule: '${part.trim()}' is not mode:fraction`);
    if (!(MODES as readonly string[]).includes(mode)) throw new RangeError(`precision schedule: unknown precision '${mode}' (expected ${MODES.join(', ')})`);
    const f = Number(frac);
    if (!Number.isFinite(f) || f <= 0 || f > 1) throw new RangeError(`precision schedule: fraction '${frac}' of '${mode}' must be in (0, 1]`);
    return { precision: mode as BlockPrecision, fraction: f };
  });
  const sum = entries.reduce((a, e) => a + e.fraction, 0);
  if (Math.abs(sum - 1) > 1e-9) throw new RangeError(`precision schedule: fractions sum to ${sum}, not 1 ('${text}')`);
  return entries;
}

/** Epoch boundaries: entry i ends at round(n_epochs · cumulative fraction). */
export function scheduleEpochs(entries: readonly ScheduleEntry[], nEpochs: number): EpochSchedule {
  let cum = 0;
  let start = 0;
  const out: EpochSchedule['entries'] = [];
  entries.forEach((e, i) => {
    cum += e.fraction;
    const end = i === entries.length - 1 ? nEpochs : Math.round(cum * nEpochs);
    out.push({ ...e, start, end: Math.max(start, end) });
    start = Math.max(start, end);
  });
  return { entries: out };
}

/** The automatic schedule's name in configs (`precision.schedule: "auto"`, see auto.ts). */
export const AUTO_SCHEDULE = 'auto';

/** Whether a config's schedule is the automatic one. */
export function isAutoSchedule(spec: string | null | undefined): boolean {
  return typeof spec === 'string' && spec.trim() === AUTO_SCHEDULE;
}

/** A config's fixed schedule resolved to epochs; undefined without one, or for the automatic schedule. */
export function fixedSchedule(spec: string | null | undefined, nEpochs: number): EpochSchedule | undefined {
  if (!spec || isAutoSchedule(spec)) return undefined;
  return scheduleEpochs(parsePrecisionSchedule(spec), nEpochs);
}

/** The precision of epoch e (the last entry's beyond the end). */
export function precisionAt(s: EpochSchedule, epoch: number): BlockPrecision {
  for (const e of s.entries) if (epoch >= e.start && epoch < e.end) return e.precision;
  return s.entries[s.entries.length - 1]!.precision;
}

/**
 * Puts a model into the precision state a checkpoint recorded: each Fourier layer's precision and
 * overflow count, then (with a precision schedule) the schedule's mode of the last completed epoch,
 * which also decides AMP (off in a 'full' phase). Used on resume and by eval/predict, so that a
 * checkpoint is evaluated in the precision it was last trained and evaluated in.
 */
export function applySavedPrecision(model: PrecisionControlled, saved: unknown, o: { schedule?: EpochSchedule | undefined; ampInHalfPhases?: boolean | undefined; epoch: number }): void {
  if (saved === null || typeof saved !== 'object') return;
  const layers = model.precisionLayers();
  const s = saved as { layers?: unknown };
  const list = s.layers ?? [];
  if (!Array.isArray(list)) throw new RangeError(`checkpoint state: precision.layers must be a list, got ${JSON.stringify(list)}`);
  for (const l of list as unknown[]) {
    const e = l as { layer?: unknown; precision?: unknown; overflows?: unknown } | null;
    if (e === null || typeof e !== 'object' || typeof e.layer !== 'number' || !layers[e.layer] || typeof e.overflows !== 'number') {
      throw new RangeError(`checkpoint state: precision.layers entry ${JSON.stringify(l)} is not {layer, precision, overflows} of one of the model's ${layers.length} spectral layers`);
    }
    model.setPrecision({ fno_block_precision: e.precision as BlockPrecision, layer: e.layer });
    layers[e.layer]!.overflows = e.overflows;
  }
  // the automatic schedule's level (its 'full' turns AMP off, as the fixed schedule's does)
  const auto = (saved as { auto?: { level?: unknown } | null }).auto;
  if (auto && typeof auto === 'object' && (MODES as readonly unknown[]).includes(auto.level)) {
    const level = auto.level as BlockPrecision;
    model.precisionPolicy.fno_block_precision = level;
    model.precisionPolicy.amp = level === 'full' ? false : o.ampInHalfPhases ?? model.precisionPolicy.amp;
  }
  // the schedule's current mode, so that only a real switch at the next epoch resets the layers
  if (o.schedule && o.epoch > 0) {
    const cur = precisionAt(o.schedule, o.epoch - 1);
    model.precisionPolicy.fno_block_precision = cur;
    model.precisionPolicy.amp = cur === 'full' ? false : o.ampInHalfPhases ?? model.precisionPolicy.amp;
  }
}

import { BLOCK_PRECISIONS as MODES, type BlockPrecision } from './policy.js';

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

/** The precision of epoch e (the last entry's beyond the end). */
export function precisionAt(s: EpochSchedule, epoch: number): BlockPrecision {
  for (const e of s.entries) if (epoch >= e.start && epoch < e.end) return e.precision;
  return s.entries[s.entries.length - 1]!.precision;
}

import { ledger } from '../src/core/ledger.js';

/** One benchmark measurement; printed as a table row or one JSON line. */
export interface BenchRow {
  suite: string;
  name: string;
  shape: string;
  dtype: string;
  threads: number;
  runs: number;
  median_ms: number;
  best_ms: number;
  gflops: number;
  /** Peak ledger bytes during the timed runs (tensors + workspaces). */
  peak_ledger_bytes: number;
  /** Process resident set size after the runs. */
  rss_bytes: number;
  [extra: string]: string | number;
}

export interface MeasureOptions {
  runs: number;
  warmup: number;
}

export interface Measurement {
  median_ms: number;
  best_ms: number;
  runs: number;
  peak_ledger_bytes: number;
  rss_bytes: number;
}

/** Times `fn` `runs` times after `warmup` untimed calls; reports the median and the best. */
export function measure(fn: () => void, opts: MeasureOptions): Measurement {
  for (let i = 0; i < opts.warmup; i++) fn();
  ledger.resetPeak();
  const times: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
  return {
    median_ms: median,
    best_ms: times[0]!,
    runs: times.length,
    peak_ledger_bytes: ledger.snapshot().peak,
    rss_bytes: process.memoryUsage().rss,
  };
}

const COLUMNS: [keyof BenchRow, string, number][] = [
  ['name', 'name', 22],
  ['shape', 'shape', 26],
  ['dtype', 'dtype', 9],
  ['threads', 'threads', 7],
  ['median_ms', 'median ms', 10],
  ['best_ms', 'best ms', 9],
  ['gflops', 'GFLOP/s', 8],
  // bench contract: the largest intermediate (and the naive baseline's blow-up over the planned path)
  ['interm', 'largest interm.', 16],
];

function cell(v: string | number | undefined): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1);
  return v ?? '';
}

export function tableHeader(): string {
  const head = COLUMNS.map(([, h, w]) => h.padEnd(w)).join(' ');
  return `${head}\n${'-'.repeat(head.length)}`;
}

export function tableRow(r: BenchRow): string {
  return COLUMNS.map(([k, , w]) => cell(r[k]).padEnd(w)).join(' ');
}

export interface SuiteOptions {
  runs: number;
  warmup: number;
  /** Thread counts to measure (each ≥ 1). */
  threads: number[];
  dtypes: string[];
  /** Small shapes and one run: checks that the suite works, measures nothing meaningful. */
  quick: boolean;
  /** Called with each row as soon as it is measured. */
  onRow: (row: BenchRow) => void;
}

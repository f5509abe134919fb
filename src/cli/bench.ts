import { tableHeader, tableRow, type BenchRow, type SuiteOptions } from '../../bench/harness.js';
import { benchFft } from '../../bench/fft.js';
import { accuracyHeader, accuracyRow, fftAccuracy } from '../../bench/fft-accuracy.js';
import { benchGemm } from '../../bench/gemm.js';

export interface BenchCommandOptions {
  json: boolean;
  runs: number;
  warmup: number;
  threads: number[];
  dtypes: string[];
  quick: boolean;
}

type Suite = (opts: SuiteOptions) => BenchRow[];

export const SUITES: Record<string, Suite> = {
  gemm: benchGemm,
  fft: benchFft,
};

/** Runs one suite, printing each row as it is measured (table, or JSON lines with --json). */
export function runBench(suite: string, o: BenchCommandOptions): unknown[] {
  if (suite === 'fft-accuracy') {
    // errors, not timings: its own table
    if (!o.json) console.log(accuracyHeader());
    return fftAccuracy({ quick: o.quick, onRow: (r) => console.log(o.json ? JSON.stringify(r) : accuracyRow(r)) });
  }
  const fn = SUITES[suite];
  if (fn === undefined) throw new Error(`unknown bench suite '${suite}' (available: ${[...Object.keys(SUITES), 'fft-accuracy'].join(', ')})`);
  if (!o.quick && o.runs < 5) throw new Error(`--runs must be at least 5 for a median (got ${o.runs}); use --quick for a smoke run`);
  if (!o.json) console.log(tableHeader());
  return fn({
    ...o,
    onRow: (r) => console.log(o.json ? JSON.stringify(r) : tableRow(r)),
  });
}

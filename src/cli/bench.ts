import { tableHeader, tableRow, type BenchRow, type SuiteOptions } from '../../bench/harness.js';
import { benchContract } from '../../bench/contract.js';
import { benchFft } from '../../bench/fft.js';
import { accuracyHeader, accuracyRow, fftAccuracy } from '../../bench/fft-accuracy.js';
import { benchPrecision, precisionCases, precisionHeader, precisionRowText, runPrecisionCase } from '../../bench/precision.js';
import { benchGemm } from '../../bench/gemm.js';

export interface BenchCommandOptions {
  json: boolean;
  runs: number;
  warmup: number;
  threads: number[];
  dtypes: string[];
  quick: boolean;
  /** bench precision: run only this case (in this process) and print its JSON row. */
  caseIndex?: number | undefined;
}

type Suite = (opts: SuiteOptions) => BenchRow[];

export const SUITES: Record<string, Suite> = {
  gemm: benchGemm,
  fft: benchFft,
  contract: benchContract,
};

/** Runs one suite, printing each row as it is measured (table, or JSON lines with --json). */
export function runBench(suite: string, o: BenchCommandOptions): unknown[] {
  if (suite === 'precision') {
    if (o.caseIndex !== undefined) {
      const c = precisionCases(o.quick)[o.caseIndex];
      if (!c) throw new Error(`bench precision: no case ${o.caseIndex}`);
      const row = runPrecisionCase(c, o.runs, o.warmup, o.quick);
      console.log(JSON.stringify(row));
      return [row];
    }
    if (!o.quick && o.runs < 5) throw new Error(`--runs must be at least 5 for a median (got ${o.runs}); use --quick for a smoke run`);
    if (!o.json) console.log(precisionHeader());
    return benchPrecision({ ...o, onRow: (r) => console.log(o.json ? JSON.stringify(r) : precisionRowText(r)) });
  }
  if (suite === 'fft-accuracy') {
    // errors, not timings: its own table
    if (!o.json) console.log(accuracyHeader());
    return fftAccuracy({ quick: o.quick, onRow: (r) => console.log(o.json ? JSON.stringify(r) : accuracyRow(r)) });
  }
  const fn = SUITES[suite];
  if (fn === undefined) throw new Error(`unknown bench suite '${suite}' (available: ${[...Object.keys(SUITES), 'fft-accuracy', 'precision'].join(', ')})`);
  if (!o.quick && o.runs < 5) throw new Error(`--runs must be at least 5 for a median (got ${o.runs}); use --quick for a smoke run`);
  if (!o.json) console.log(tableHeader());
  return fn({
    ...o,
    onRow: (r) => console.log(o.json ? JSON.stringify(r) : tableRow(r)),
  });
}

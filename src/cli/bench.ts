import { tableHeader, tableRow, type BenchRow, type SuiteOptions } from '../../bench/harness.js';
import { benchContract } from '../../bench/contract.js';
import { benchGraph } from '../../bench/graph.js';
import { benchFft } from '../../bench/fft.js';
import { accuracyHeader, accuracyRow, fftAccuracy } from '../../bench/fft-accuracy.js';
import { type PrecisionRow, benchPrecision, precisionCases, precisionHeader, precisionRowText, runPrecisionCase } from '../../bench/precision.js';
import { benchGemm } from '../../bench/gemm.js';
import { benchTfno, runTfnoCase, tfnoHalfType } from '../../bench/tfno.js';
import { benchSfno, runSfnoCase } from '../../bench/sfno.js';
import { type FnoBenchPrecision, GELU_NOTE, fnoHeader, fnoRowText, runFnoBench } from '../../bench/fno.js';
import { darcyRowText, runDarcyBench } from '../../bench/darcy.js';
import { pool } from '../../src/kernels/pool.js';

export interface BenchCommandOptions {
  json: boolean;
  runs: number;
  warmup: number;
  threads: number[];
  dtypes: string[];
  quick: boolean;
  /** bench precision: run only this case (in this process) and print its JSON row. */
  caseIndex?: number | undefined;
  /** bench fno: the peer's workload (torch_fno.py's --grid, --modes, --width, --batch, --precision, --bench). */
  fno?: { grid: number; modes: number; width: number; batch: number; precision: string; mode: string; stabilizer?: string } | undefined;
  /** bench darcy16: epochs to train (default: the example's 15). */
  epochs?: number | undefined;
}

/** bench fno / darcy16 run one configuration on one thread count (the peers' --threads). */
function singleThreadCount(suite: string, threads: number[]): void {
  if (threads.length !== 1) throw new Error(`bench ${suite}: give one thread count (--threads ${threads[threads.length - 1]}); it runs one configuration per process, as its peer does`);
  pool.setThreads(threads[0]!);
}

type Suite = (opts: SuiteOptions) => BenchRow[];

export const SUITES: Record<string, Suite> = {
  gemm: benchGemm,
  fft: benchFft,
  contract: benchContract,
  graph: benchGraph,
};

/** Runs one suite, printing each row as it is measured (table, or JSON lines with --json). */
export function runBench(suite: string, o: BenchCommandOptions): unknown[] | Promise<unknown[]> {
  if (suite === 'fno') {
    singleThreadCount(suite, o.threads);
    const f = o.fno ?? { grid: 64, modes: 16, width: 32, batch: 8, precision: 'fp32', mode: 'train' };
    const row = runFnoBench({ ...f, precision: f.precision as FnoBenchPrecision, mode: f.mode as 'train' | 'infer', stabilizer: (f.stabilizer ?? 'tanh') as 'tanh' | 'none', steps: o.runs, warmup: o.warmup });
    if (o.json) console.log(JSON.stringify(row));
    else console.log(`${fnoHeader()}\n${fnoRowText(row)}\nnote: ${GELU_NOTE}`);
    return [row];
  }
  if (suite === 'darcy16') {
    singleThreadCount(suite, o.threads);
    return runDarcyBench({ epochs: o.epochs ?? 15 }).then((row) => {
      console.log(o.json ? JSON.stringify(row) : darcyRowText(row));
      return [row];
    });
  }
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
  if (suite === 'tfno' || suite === 'sfno') {
    // model suites with one half type (the first 16-bit type of --dtypes): each case in its own process
    const half = tfnoHalfType(o.dtypes);
    const tfno = suite === 'tfno';
    if (o.caseIndex !== undefined) {
      const row = (tfno ? runTfnoCase : runSfnoCase)(o.caseIndex, half, o.runs, o.warmup, o.quick);
      console.log(JSON.stringify(row));
      return [row];
    }
    if (!o.quick && o.runs < 5) throw new Error(`--runs must be at least 5 for a median (got ${o.runs}); use --quick for a smoke run`);
    if (!o.json) console.log(`${precisionHeader()}\n(ratios ×full are to the ${tfno ? 'dense full-precision row; parameters: dense vs factorised' : 'full-precision row'})`);
    const text = (r: PrecisionRow) => (tfno ? `${precisionRowText(r)}  ${r.parameters ?? ''} params` : precisionRowText(r));
    return (tfno ? benchTfno : benchSfno)({ ...o, half, onRow: (r) => console.log(o.json ? JSON.stringify(r) : text(r)) });
  }
  if (suite === 'fft-accuracy') {
    // errors, not timings: its own table
    if (!o.json) console.log(accuracyHeader());
    return fftAccuracy({ quick: o.quick, onRow: (r) => console.log(o.json ? JSON.stringify(r) : accuracyRow(r)) });
  }
  const fn = SUITES[suite];
  if (fn === undefined) throw new Error(`unknown bench suite '${suite}' (available: ${[...Object.keys(SUITES), 'fft-accuracy', 'precision', 'tfno', 'sfno', 'fno', 'darcy16'].join(', ')})`);
  if (!o.quick && o.runs < 5) throw new Error(`--runs must be at least 5 for a median (got ${o.runs}); use --quick for a smoke run`);
  if (!o.json) console.log(tableHeader());
  return fn({
    ...o,
    onRow: (r) => console.log(o.json ? JSON.stringify(r) : tableRow(r)),
  });
}

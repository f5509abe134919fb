import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { KERNEL_DTYPES } from '../core/dtype.js';
import { pool } from '../kernels/pool.js';
import { runBench } from './bench.js';
import { VERSION } from './version.js';

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got '${v}'`);
    return n;
  };
}

function threadList(v: string): number[] {
  return v.split(',').map((s) => {
    const t = s.trim() === 'max' ? pool.threads : Number(s);
    if (!Number.isInteger(t) || t < 1 || t > 256) throw new InvalidArgumentError(`--threads takes integers from 1 to 256 or 'max', got '${s}'`);
    return t;
  });
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('mpno')
    .description('Mixed-precision neural operators: train and run FNOs with fp16/bf16 storage and wasm SIMD kernels')
    .version(VERSION);

  program
    .command('info')
    .description('print the version, thread count and supported dtypes')
    .action(() => {
      console.log(`mpno ${VERSION}`);
      console.log(`node ${process.version}, ${availableParallelism()} cores, kernel threads ${pool.threads} (MPNO_THREADS)`);
      console.log(`kernel dtypes: ${KERNEL_DTYPES.join(', ')} (float64 on the reference path)`);
    });

  program
    .command('bench')
    .description('run a benchmark suite and print a table (or JSON lines with --json)')
    .argument('<suite>', 'suite name: gemm, fft, or fft-accuracy (FFT errors vs float64 in f32 and emulated fp16/bf16)')
    .option('--json', 'print one JSON object per line instead of a table')
    .option('--runs <n>', 'timed runs per row (median reported; at least 5 unless --quick)', positiveInt('--runs'), 7)
    .option('--warmup <n>', 'untimed runs before timing', positiveInt('--warmup'), 1)
    .option('--threads <list>', "comma-separated thread counts, 'max' = all (default: 1,max)", threadList)
    .option('--dtypes <list>', 'comma-separated dtypes', 'float32,float16,bfloat16')
    .option('--quick', 'tiny shapes and one run: checks that the suite works, not how fast it is')
    .action((suite: string, o: { json?: boolean; runs: number; warmup: number; threads?: number[]; dtypes: string; quick?: boolean }) => {
      runBench(suite, {
        json: o.json === true,
        runs: o.quick ? 1 : o.runs,
        warmup: o.quick ? 0 : o.warmup,
        threads: o.threads ?? [...new Set([1, pool.threads])],
        dtypes: o.dtypes.split(',').map((s) => s.trim()),
        quick: o.quick === true,
      });
    });
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    console.error(`mpno: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  }
}

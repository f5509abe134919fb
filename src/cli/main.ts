import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { KERNEL_DTYPES } from '../core/dtype.js';
import { pool } from '../kernels/pool.js';
import { runBench } from './bench.js';
import { boundCommand, boundTable } from './bound.js';
import { generateCommand } from './generate.js';
import { serveCommand } from './serve.js';
import { exportCommand, importCommand } from './neuralop.js';
import { predictCommand } from './predict.js';
import { evalCommand, trainCommand } from './train.js';
import { VERSION } from './version.js';
import { parseOverrideValue, setOwn } from '../train/config.js';
import { parseShard } from '../data/shards.js';
import { initHdf5 } from '../data/formats/hdf5.js';
import { needsHdf5 } from '../data/sources.js';

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
    .argument('<suite>', 'suite name: gemm, fft, contract (complex contraction, 4- vs 3-product, dense and CP), fft-accuracy (FFT errors vs float64 in f32 and emulated fp16/bf16), graph (GNO gather, scatter-add, segment sum and radius search, wasm vs reference), precision (FNO, SFNO and GINO training/inference speed and memory in full/mixed/half), tfno (TFNO: dense vs CP vs Tucker weights at rank 0.05/0.1 in full/mixed/half: speed, ledger and RSS peaks), sfno (SFNO on a 64×128 sphere in full/mixed/half), fno (the PyTorch peer torch_fno.py\'s workload: samples/s and peak RSS), darcy16 (the darcy16 example: seconds per epoch, wall time, peak RSS)')
    .option('--json', 'print one JSON object per line instead of a table')
    .option('--runs <n>', 'timed runs per row (median reported; at least 5 unless --quick)', positiveInt('--runs'), 7)
    .option('--warmup <n>', 'untimed runs before timing', positiveIntOrZero('--warmup'), 1)
    .option('--threads <list>', "comma-separated thread counts, 'max' = all (default: 1,max)", threadList)
    .option('--dtypes <list>', 'comma-separated dtypes', 'float32,float16,bfloat16')
    .option('--quick', 'tiny shapes and one run: checks that the suite works, not how fast it is')
    .option('--case <i>', 'bench precision/tfno/sfno: run one case in this process (used internally)', positiveIntOrZero('--case'))
    .option('--grid <n>', 'bench fno: square grid size (torch_fno.py --grid)', positiveInt('--grid'), 64)
    .option('--modes <n>', 'bench fno: n_modes on both axes (torch_fno.py --modes, neuralop convention)', positiveInt('--modes'), 16)
    .option('--width <n>', 'bench fno: hidden channels (torch_fno.py --width)', positiveInt('--width'), 32)
    .option('--batch <n>', 'bench fno: batch size (torch_fno.py --batch)', positiveInt('--batch'), 8)
    .option('--precision <p>', 'bench fno: fp32, mixed-bf16, mixed-fp16, half-bf16 or half-fp16', 'fp32')
    .option('--mode <m>', 'bench fno: train (forward, loss, backward, Adam step) or infer (forward, no grad)', 'train')
    .option('--stabilizer <s>', "bench fno: the 16-bit precisions' spectral stabiliser, tanh (the paper's) or none", 'tanh')
    .option('--epochs <n>', 'bench darcy16: epochs to train (default 15, the example)', positiveInt('--epochs'))
    .action(async (suite: string, o: { json?: boolean; runs: number; warmup: number; threads?: number[]; dtypes: string; quick?: boolean; case?: number; grid: number; modes: number; width: number; batch: number; precision: string; mode: string; stabilizer: string; epochs?: number }) => {
      const single = suite === 'fno' || suite === 'darcy16';
      await runBench(suite, {
        fno: { grid: o.grid, modes: o.modes, width: o.width, batch: o.batch, precision: o.precision, mode: o.mode, stabilizer: o.stabilizer },
        epochs: o.quick && o.epochs === undefined ? 1 : o.epochs,
        caseIndex: o.case,
        json: o.json === true,
        runs: o.quick ? 1 : o.runs,
        warmup: o.quick ? 0 : o.warmup,
        threads: o.threads ?? (single ? [pool.threads] : [...new Set([1, pool.threads])]),
        dtypes: o.dtypes.split(',').map((s) => s.trim()),
        quick: o.quick === true,
      });
    });
  program
    .command('train')
    .description('train a model from a JSON config (see examples/darcy16.json); prints the test errors')
    .requiredOption('--config <file>', 'run configuration (JSON); data paths are relative to it')
    .option('--set <key=value>', 'override a config key, e.g. --set training.n_epochs=3 (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--epochs <n>', 'shortcut for --set training.n_epochs=<n>', positiveIntOrZero('--epochs'))
    .option('--out <dir>', 'shortcut for --set output.dir=<dir>')
    .option('--cache-mb <n>', 'shortcut for --set data.cache_mb=<n>: read the data lazily through an LRU cache of at most n MiB')
    .option('--precision-schedule <spec>', "Fourier-block precision by fraction of the epochs, e.g. half:0.25,mixed:0.5,full:0.25, or 'auto'")
    .option('--switch-by <what>', "the automatic schedule switches the whole 'model' (default) or each 'layer' on its own")
    .option('--resume', "continue from the run directory's latest checkpoint, if any; the config must equal the checkpoint's except training.n_epochs (at least the epochs done; more extends the run, not with a precision schedule), output.dir and output.checkpoint_every; other differences are listed and refused")
    .option('--overwrite', 'replace the run already in the run directory (its checkpoints and metrics are removed once the new run has been validated); without it a fresh run refuses a directory that holds one')
    .option('--quiet', 'print only errors')
    .action(async (o: { config: string; set: string[]; epochs?: number; out?: string; cacheMb?: string; resume?: boolean; overwrite?: boolean; quiet?: boolean; precisionSchedule?: string; switchBy?: string }) => {
      const sets = [...o.set];
      if (o.cacheMb !== undefined) sets.push(`data.cache_mb=${o.cacheMb}`);
      if (o.precisionSchedule !== undefined) sets.push(`precision.schedule=${JSON.stringify(o.precisionSchedule)}`);
      if (o.switchBy !== undefined) sets.push(`precision.switch_by=${JSON.stringify(o.switchBy)}`);
      if (o.epochs !== undefined) sets.push(`training.n_epochs=${o.epochs}`);
      if (o.out !== undefined) sets.push(`output.dir=${JSON.stringify(o.out)}`);
      await trainCommand({ config: o.config, set: sets, resume: o.resume === true, overwrite: o.overwrite === true, quiet: o.quiet === true });
    });

  program
    .command('eval')
    .description('evaluate a checkpoint on a data file (.pt or generated .safetensors) with the losses it was evaluated with')
    .requiredOption('--checkpoint <dir>', 'a run directory (its latest checkpoint) or an epoch-NNNN directory')
    .requiredOption('--data <file>', 'a .pt or generated .safetensors file with x and y')
    .option('--batch-size <n>', 'evaluation batch size', positiveInt('--batch-size'), 32)
    .option('--json', 'print the errors as one JSON object')
    .action(async (o: { checkpoint: string; data: string; batchSize: number; json?: boolean }) => {
      if (needsHdf5(o.data)) await initHdf5();
      const r = evalCommand(o);
      console.log(o.json ? JSON.stringify(r) : Object.entries(r).map(([k, v]) => `${k}: ${v.toFixed(6)}`).join('\n'));
    });
  program
    .command('generate')
    .description('generate PDE data (darcy, navier-stokes, swe) at a resolution and its subsamplings, or car-like bodies with their surface pressure (bodies), on all cores')
    .addHelpText('after', `
Output: with one stored resolution --out is the file; with several (--subsample 2,1) each goes to
<stem>_<res>.safetensors: --resolution 129 --subsample 2,1 --out data/x.safetensors writes
data/x_65.safetensors and data/x_129.safetensors.

Cost: navier-stokes defaults are the original recipe, T = 50 at dt = 1e-4 (500 000 time steps per
sample): minutes per sample, growing with the resolution as s² log s. For quick data shorten the
run, e.g. --set T=1 --set dt=1e-3 --set recordInterval=1 (dt must divide recordInterval, which
must divide T). On a terminal the progress bar shows the time steps inside the current samples.

swe (shallow water on the rotating sphere, neuralop's spherical SWE recipe): --nlat and --nlon (default
2·nlat) set the equiangular grid; x = (geopotential, vorticity, divergence) of a random state (Mach
0.2), y = the state 3600 s later, both normalised per channel by sample 0's input (--set normalize=false:
raw SI values). --set initialCondition=galewsky gives the Galewsky jet.

bodies (GINO's data): random smooth car-like closed bodies (superellipsoids with a taper, small bumps
and a flat underside) and the pressure coefficient Cp of inviscid flow along +z at their vertices, by
a source-panel method; --points sets the most vertices of a body (counts vary per body), --resolution
the latent grid G (default 16) of the signed distance. Coordinates are normalised to [0, 1]³ by one
fixed box for every file.`)
    .argument('<pde>', 'darcy, navier-stokes, swe or bodies')
    .requiredOption('--n <samples>', 'number of samples', positiveInt('--n'))
    .option('--resolution <s>', 'generation grid (darcy: vertex-centred s, s−1 divisible by the subsample factors; navier-stokes: periodic s)', positiveInt('--resolution'))
    .option('--nlat <n>', 'swe: latitudes of the equiangular grid', positiveInt('--nlat'))
    .option('--nlon <n>', 'swe: longitudes (default 2·nlat)', positiveInt('--nlon'))
    .option('--points <n>', 'bodies: the most vertices of a body (default 1000)', positiveInt('--points'))
    .option('--subsample <list>', 'comma-separated factors of the stored resolutions (1 = the generation grid)', '1')
    .option('--seed <k>', 'seed (sample i is generated from (seed, i))', positiveIntOrZero('--seed'), 0)
    .requiredOption('--out <file>', 'output .safetensors (one file per stored resolution: <stem>_<res>.safetensors)')
    .option('--set <key=value>', 'a PDE parameter, e.g. --set nu=1e-4 (repeatable; darcy: alpha, tau, f, tol, maxIter, preconditioner; navier-stokes: alpha, tau, nu, dt, T, recordInterval, layout, inSteps, forcing, checkStability; swe: lmax, nsteps, dt, mach, grid, initialCondition, normalize, chunk)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--workers <n>', 'worker threads (default: all cores)', positiveInt('--workers'))
    .option('--shard <i/n>', 'write shard i of n only (0 ≤ i < n): samples ⌊N·i/n⌋ … ⌊N·(i+1)/n⌋ − 1 to <stem>-<i>-of-<n>.safetensors; a config reads the set as <stem>-*-of-<n>.safetensors', parseShard)
    .option('--force', 'overwrite existing output files')
    .action(async (pde: string, o: { n: number; resolution?: number; nlat?: number; nlon?: number; points?: number; subsample: string; seed: number; out: string; set: string[]; workers?: number; shard?: { index: number; count: number }; force?: boolean }) => {
      const subsample = o.subsample.split(',').map((v) => {
        const r = Number(v);
        if (!Number.isInteger(r) || r < 1) throw new InvalidArgumentError(`--subsample takes positive integers, got '${v}'`);
        return r;
      });
      const params: Record<string, unknown> = {};
      for (const kv of o.set) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new InvalidArgumentError(`--set takes key=value, got '${kv}'`);
        setOwn(params, kv.slice(0, eq), parseOverrideValue(kv.slice(eq + 1)));
      }
      if (pde !== 'swe' && (o.nlat !== undefined || o.nlon !== undefined)) throw new InvalidArgumentError(`--nlat and --nlon are for swe; ${pde} takes --resolution`);
      if (o.nlon !== undefined) params['nlon'] = o.nlon;
      if (pde !== 'bodies' && o.points !== undefined) throw new InvalidArgumentError(`--points is for bodies; ${pde} takes --resolution`);
      if (o.points !== undefined) params['points'] = o.points;
      const resolution = pde === 'swe' ? o.nlat ?? o.resolution : pde === 'bodies' ? o.resolution ?? 16 : o.resolution;
      if (resolution === undefined) throw new InvalidArgumentError(pde === 'swe' ? 'swe needs --nlat (latitudes)' : `required option '--resolution <s>' not specified`);
      await generateCommand({ pde, n: o.n, resolution, subsample, seed: o.seed, out: o.out, force: o.force === true, params, ...(o.workers ? { workers: o.workers } : {}), ...(o.shard ? { shard: o.shard } : {}) });
    });

  program
    .command('bound')
    .description('per Fourier layer: discretisation estimate, FFT error bounds and measured errors, for the path training runs and the emulated half FFT (legend under the table; docs/bounds.md)')
    .option('--config <file>', 'run configuration (JSON)')
    .option('--checkpoint <dir>', 'trained weights (a run directory or an epoch-NNNN directory); its config is used if --config is absent')
    .option('--data <file>', 'a .pt file for the batch (default: the config\'s training data)')
    .option('--batch <n>', 'samples in the batch', positiveInt('--batch'), 8)
    .option('--json', 'print one JSON object per row')
    .action(async (o: { config?: string; checkpoint?: string; data?: string; batch: number; json?: boolean }) => {
      await initHdf5(); // the batch may come from an HDF5 source of the config
      const rows = boundCommand(o);
      console.log(o.json ? rows.map((r) => JSON.stringify(r)).join('\n') : boundTable(rows));
    });

  program
    .command('predict')
    .description('write PNG images (input, truth, prediction, error) for samples of a data file (.pt or .safetensors)')
    .requiredOption('--checkpoint <dir>', 'a run directory (its latest checkpoint) or an epoch-NNNN directory')
    .requiredOption('--data <file>', 'a .pt or generated .safetensors file with x and y')
    .option('--out <dir>', 'output directory', 'predictions')
    .option('--index <list>', 'comma-separated sample indices', '0')
    .option('--scale <n>', 'pixels per grid point', positiveInt('--scale'), 16)
    .action(async (o: { checkpoint: string; data: string; out: string; index: string; scale: number }) => {
      if (needsHdf5(o.data)) await initHdf5();
      const indices = o.index.split(',').map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`--index takes non-negative integers, got '${s}'`);
        return n;
      });
      for (const f of predictCommand({ checkpoint: o.checkpoint, data: o.data, out: o.out, indices, scale: o.scale })) console.log(f);
    });
  const imp = program.command('import').description('bring weights trained elsewhere into an mpno run directory');
  imp
    .command('neuralop')
    .description("import a neuralop checkpoint (model.save_checkpoint(dir, name): <name>_state_dict.pt and <name>_metadata.pkl) or, with --config and no name, a torch.save(model.state_dict()) file; writes an mpno run that eval, predict and export read")
    .argument('<source>', 'the checkpoint directory, or a state-dict .pt file')
    .argument('[name]', 'the checkpoint name given to save_checkpoint')
    .requiredOption('--out <dir>', 'the mpno run directory to write (checkpoint epoch-0000)')
    .option('--config <file>', 'a run config: its data/optimizer/training sections go into the run; with a plain state dict its model section says which model it is')
    .option('--normalizer <file>', "neuralop's data processor state dict (torch.save(data_processor.state_dict()): out_normalizer.mean, out_normalizer.std)")
    .option('--normalizer-eps <eps>', "the eps of neuralop's UnitGaussianNormalizer (not in its state dict)", (v: string) => {
      const e = Number(v);
      if (!(e >= 0) || !Number.isFinite(e)) throw new InvalidArgumentError(`--normalizer-eps must be a non-negative number, got '${v}'`);
      return e;
    }, 1e-7)
    .option('--fit-normalizer <data>', 'fit the output normaliser on this training file, as neuralop does (channel-wise mean and std)')
    .option('--force', 'replace the run already in --out')
    .action(async (source: string, name: string | undefined, o: { out: string; config?: string; normalizer?: string; normalizerEps: number; fitNormalizer?: string; force?: boolean }) => {
      if (o.fitNormalizer !== undefined && needsHdf5(o.fitNormalizer)) await initHdf5();
      const r = importCommand({ source, ...(name !== undefined ? { name } : {}), out: o.out, ...(o.config ? { config: o.config } : {}), ...(o.normalizer ? { normalizer: o.normalizer } : {}), normalizerEps: o.normalizerEps, ...(o.fitNormalizer ? { fitNormalizer: o.fitNormalizer } : {}), force: o.force === true });
      const { name: family, ...opts } = r.model;
      console.log(`imported ${family} ${JSON.stringify(opts)}`);
      for (const n of r.notes) console.log(`note: ${n}`);
      console.log(r.dir);
    });
  program
    .command('export')
    .description("write a run's model for another framework: --format neuralop writes model.safetensors (neuralop's state-dict names, complex64 spectral weights), config.json (the constructor arguments) and data_processor.safetensors (the output normaliser, if any)")
    .argument('<run>', 'a run directory (its latest checkpoint) or an epoch-NNNN directory')
    .argument('<out>', 'the directory to write')
    .requiredOption('--format <f>', 'neuralop')
    .option('--force', 'replace <out> if it exists')
    .action((run: string, out: string, o: { format: string; force?: boolean }) => {
      const r = exportCommand({ run, out, format: o.format, force: o.force === true });
      console.log(`exported ${r.cls}: ${r.files.map((f) => `${r.dir}/${f}`).join(', ')}`);
    });
  program
    .command('serve')
    .description('serve the browser page (and a run to run in it) on a local port, with the headers shared-memory threads need')
    .argument('[run]', 'a run directory (its latest checkpoint) or an epoch-NNNN directory')
    .option('--port <n>', 'port (0: any free one)', positiveIntOrZero('--port'), 8080)
    .option('--host <h>', 'address to listen on', '127.0.0.1')
    .option('--data <file...>', 'more dataset files to offer beside the run\'s test sets')
    .option('--no-isolation', 'leave out the COOP/COEP headers: the page runs on one thread')
    .action(async (run: string | undefined, o: { port: number; host: string; data?: string[]; isolation: boolean }) => {
      const { url, manifest } = await serveCommand({ run, port: o.port, host: o.host, data: o.data ?? [], isolation: o.isolation });
      console.log(`mpno page${manifest ? ` with ${manifest.name} (${manifest.data.length} dataset${manifest.data.length === 1 ? '' : 's'})` : ''}: ${url}${o.isolation ? '' : ' (not cross-origin isolated: one thread)'}`);
      console.log('Ctrl-C stops the server');
    });
  return program;
}

function positiveIntOrZero(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer, got '${v}'`);
    return n;
  };
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

import { type DType, parseDType } from '../src/core/dtype.js';
import { Rng } from '../src/core/rng.js';
import { ComplexTensor, Tensor } from '../src/core/tensor.js';
import { irfftn, irfftnModes, rfftn, rfftnModes } from '../src/fft/index.js';
import { pool } from '../src/kernels/pool.js';
import { type BenchRow, type SuiteOptions, measure } from './harness.js';

/** [images, H, W] from the issue: batch×channels images per call. */
export const FFT_SHAPES: [number, number, number][] = [
  [256, 64, 64],
  [256, 128, 128],
  [64, 256, 256],
];
const QUICK_SHAPES: [number, number, number][] = [[8, 32, 32]];

/**
 * bench fft: rfft2 and irfft2, full and truncated to 16 and 32 modes (first axis k, last axis k/2+1,
 * as neuralop's n_modes = (k, k)). GFLOP/s uses the nominal 2.5·N·log2 N per real 2-D transform of
 * N = H·W points for every variant, so a truncated row's figure is its effective speed.
 */
export function benchFft(opts: SuiteOptions): BenchRow[] {
  const rows: BenchRow[] = [];
  const rng = new Rng(1);
  const prev = pool.threads;
  try {
    for (const [B, H, W] of opts.quick ? QUICK_SHAPES : FFT_SHAPES) {
      const N = H * W;
      const flops = B * 2.5 * N * Math.log2(N);
      for (const dname of opts.dtypes) {
        const dt: DType = parseDType(dname);
        const x = Tensor.empty([B, H, W], dt, 'data');
        x.set(rng.normalArray(x.size));
        const variants: [string, number | undefined][] = [['full', undefined], ['modes16', 16], ['modes32', 32]];
        for (const [vname, k] of variants) {
          if (k !== undefined && (k > H || k / 2 + 1 > W / 2 + 1)) continue;
          const modes = k === undefined ? undefined : [k, k / 2 + 1];
          // the spectrum the inverse consumes
          const spec: ComplexTensor = modes ? rfftnModes(x, modes, { norm: 'forward' }) : rfftn(x, 2, { norm: 'forward' });
          for (const t of opts.threads) {
            pool.setThreads(t);
            const fwd = measure(() => {
              const X = modes ? rfftnModes(x, modes, { norm: 'forward' }) : rfftn(x, 2, { norm: 'forward' });
              X.release();
            }, opts);
            const inv = measure(() => {
              const y = modes ? irfftnModes(spec, [H, W], { norm: 'forward' }) : irfftn(spec, [H, W], { norm: 'forward' });
              y.release();
            }, opts);
            for (const [name, r] of [[`rfft2 ${vname}`, fwd], [`irfft2 ${vname}`, inv]] as const) {
              const row: BenchRow = {
                suite: 'fft', name, shape: `[${B}, ${H}, ${W}]${modes ? ` modes (${modes.join(', ')})` : ''}`, dtype: dt, threads: t,
                ...r, gflops: flops / (r.median_ms * 1e6),
              };
              rows.push(row);
              opts.onRow(row);
            }
          }
          spec.release();
        }
        x.release();
      }
    }
  } finally {
    pool.setThreads(prev);
  }
  return rows;
}

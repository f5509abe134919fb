import { Rng } from '../src/core/rng.js';
import { Tensor } from '../src/core/tensor.js';
import { rfftn } from '../src/fft/index.js';
import type { SuiteOptions } from './harness.js';

/** One accuracy measurement of a real 1-D or 2-D FFT against float64. */
export interface AccuracyRow {
  suite: 'fft-accuracy';
  name: string;
  /** Points per transform. */
  n: number;
  precision: 'float32' | 'emulated-float16' | 'emulated-bfloat16';
  /** max |X − X64| / max |X64| over all coefficients. */
  rel_max: number;
  /** ‖X − X64‖₂ / ‖X64‖₂. */
  rel_l2: number;
  [extra: string]: string | number;
}

const SIZES_1D = [16, 64, 256, 1024, 4096];
const SIZES_2D = [16, 32, 64, 128, 256];

/**
 * bench fft-accuracy: relative error of rfft (1-D) and rfft2 (2-D), norm 'forward', on N(0,1)
 * inputs, computed in f32, in emulated fp16 and in emulated bf16 (every stage rounded), against the
 * same transform in float64. These are the measured errors the error-bound work compares with.
 */
export function fftAccuracy(opts: Pick<SuiteOptions, 'quick'> & { onRow: (r: AccuracyRow) => void }): AccuracyRow[] {
  const rng = new Rng(11);
  const rows: AccuracyRow[] = [];
  const cases: [string, number[]][] = [
    ...(opts.quick ? [64] : SIZES_1D).map((n): [string, number[]] => ['rfft', [n]]),
    ...(opts.quick ? [16] : SIZES_2D).map((n): [string, number[]] => ['rfft2', [n, n]]),
  ];
  for (const [name, sizes] of cases) {
    const N = sizes.reduce((a, b) => a * b, 1);
    const batch = Math.max(1, Math.min(64, Math.floor(2 ** 20 / N)));
    const x64 = rng.fillNormal(Tensor.empty([batch, ...sizes], 'float64', 'data'));
    const x32 = Tensor.fromArray(x64.toFloat64(), x64.shape, 'float32', 'data');
    const ref = rfftn(x64, sizes.length, { norm: 'forward' });
    const rr = ref.re.toFloat64();
    const ri = ref.im.toFloat64();
    for (const precision of ['float32', 'emulated-float16', 'emulated-bfloat16'] as const) {
      const emulate = precision === 'emulated-float16' ? 'float16' : precision === 'emulated-bfloat16' ? 'bfloat16' : undefined;
      const X = rfftn(x32, sizes.length, { norm: 'forward', ...(emulate ? { emulate } : {}) });
      const xr = X.re.toFloat64();
      const xi = X.im.toFloat64();
      let emax = 0;
      let smax = 0;
      let e2 = 0;
      let s2 = 0;
      for (let i = 0; i < rr.length; i++) {
        const dr = xr[i]! - rr[i]!;
        const di = xi[i]! - ri[i]!;
        emax = Math.max(emax, Math.hypot(dr, di));
        smax = Math.max(smax, Math.hypot(rr[i]!, ri[i]!));
        e2 += dr * dr + di * di;
        s2 += rr[i]! * rr[i]! + ri[i]! * ri[i]!;
      }
      const row: AccuracyRow = { suite: 'fft-accuracy', name: `${name} ${sizes.join('x')}`, n: N, precision, rel_max: emax / smax, rel_l2: Math.sqrt(e2 / s2) };
      rows.push(row);
      opts.onRow(row);
      X.release();
    }
    for (const t of [x64, x32, ref]) t.release();
  }
  return rows;
}

export function accuracyHeader(): string {
  const h = `${'name'.padEnd(16)} ${'N'.padEnd(8)} ${'precision'.padEnd(18)} ${'rel max'.padEnd(10)} rel L2`;
  return `${h}\n${'-'.repeat(h.length + 4)}`;
}

export function accuracyRow(r: AccuracyRow): string {
  return `${r.name.padEnd(16)} ${String(r.n).padEnd(8)} ${r.precision.padEnd(18)} ${r.rel_max.toExponential(2).padEnd(10)} ${r.rel_l2.toExponential(2)}`;
}

import { Tensor, shapeSize } from '../core/tensor.js';
import * as ops from '../autograd/ops.js';
import { Variable, noGrad, tidy } from '../autograd/variable.js';
import { loadDataset } from '../data/dataset-file.js';
import { FNO } from '../models/fno.js';
import { errorBudget, estimateLipschitzPerAxis, estimateSupNorm, fftErrorReport } from '../precision/bounds.js';
import { unitRoundoff } from '../core/dtype.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { type RunConfig, loadConfig } from '../train/config.js';

/** One row of `mpno bound`: one Fourier layer in one half type. */
export interface BoundRow {
  layer: number;
  n: number[];
  modes: number[];
  half: 'float16' | 'bfloat16';
  /** (a) discretisation-error bound of the kept coefficients, relative to their norm (an estimate: see docs/bounds.md). */
  discretization: number;
  /** (b) worst-case bound on the extra relative error of the DFT in the half type, and the typical estimate. */
  precision_worst: number;
  precision_typical: number;
  /** (c) measured relative error of the kept coefficients (half vs float64) on the batch. */
  measured_fft: number;
  /** (c) measured relative error of the whole spectral convolution output (half vs float64). */
  measured_spectral_conv: number;
  /** precision_worst / discretization. */
  ratio: number;
}

function relL2(a: Float64Array, b: Float64Array): number {
  let e = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    e += (a[i]! - b[i]!) ** 2;
    s += b[i]! ** 2;
  }
  return Math.sqrt(e / Math.max(s, 1e-300));
}

/**
 * mpno bound: for each Fourier layer of the model described by a config (weights from a checkpoint
 * when given), on a batch of its training data: (a) discretisation bound, (b) half-precision DFT
 * bound, (c) measured errors. Formulas, assumptions and sources: docs/bounds.md.
 */
export function boundCommand(o: { config?: string; checkpoint?: string; batch: number; data?: string }): BoundRow[] {
  if (!o.config && !o.checkpoint) throw new Error('bound: give --config or --checkpoint');
  const ck = o.checkpoint ? loadCheckpoint(o.checkpoint) : undefined;
  const config = o.config ? loadConfig(o.config) : (ck!.state.config as RunConfig);
  const { name: _n, ...fnoOpts } = config.model;
  void _n;
  const model = new FNO({ ...fnoOpts, seed: config.training.seed });
  const data = loadDataset(o.data ?? config.data.train, { n: o.batch });
  const rows: BoundRow[] = [];
  const inputs: Tensor[] = [];
  try {
    if (ck) model.loadStateDict(ck.weights);
    model.setPrecision({ fno_block_precision: 'full', amp: false });
    const convs = model.fnoBlocks.spectralConvs;
    convs.forEach((c) => (c.capture = (x) => inputs.push(Tensor.fromArray(x.toFloat64(), x.shape, 'float64', 'workspace'))));
    noGrad(() => tidy(() => void model.forward(Variable.constant(data.x))));
    convs.forEach((c) => (c.capture = undefined));
    convs.forEach((conv, layer) => {
      const v = inputs[layer]!;
      const [B, C, ...n] = v.shape as number[];
      const S = shapeSize(n);
      const vals = v.toFloat64();
      const st = model.config.stabilizer;
      // the spectral branch sees the stabilised input
      const vin = st === 'tanh' ? vals.map(Math.tanh) : st === 'clip_hard' ? vals.map((t) => Math.max(-1, Math.min(1, t))) : vals;
      const x64 = Tensor.fromArray(vin, v.shape, 'float64', 'workspace');
      const x32 = Tensor.fromArray(vin, v.shape, 'float32', 'workspace');
      // float64 reference spectral convolution (weights converted exactly)
      const w64 = [conv.weightRe, conv.weightIm].map((p) => new Variable(Tensor.fromArray(p.value.toFloat64(), p.shape, 'float64', 'workspace')));
      const b64 = conv.bias ? new Variable(Tensor.fromArray(conv.bias.value.toFloat64(), conv.bias.shape, 'float64', 'workspace')) : undefined;
      const ref = noGrad(() => tidy(() => ops.spectralConv(Variable.constant(x64), w64[0]!, w64[1]!, b64, { modes: conv.modes, norm: conv.fftNorm }).value.toFloat64()));
      for (const half of ['float16', 'bfloat16'] as const) {
        const u = unitRoundoff(half);
        // (a) per function: Lipschitz and sup-norm estimates → ℓ2 discretisation bound, aggregated in ℓ2
        let disc2 = 0;
        for (let f = 0; f < B! * C!; f++) {
          const fv = vin.subarray(f * S, (f + 1) * S);
          const lip = estimateLipschitzPerAxis(fv, n);
          const sup = estimateSupNorm(fv, n, lip);
          let ms = 0;
          for (let i = 0; i < S; i++) ms += fv[i]! ** 2;
          const b = errorBudget({ n, modes: conv.modes, u, lipschitz: lip, supNorm: sup, rms: Math.sqrt(ms / S) });
          disc2 += b.discretization ** 2;
        }
        const rep = fftErrorReport(x64, conv.modes, half, { norm: conv.fftNorm });
        const got = noGrad(() => tidy(() => ops.spectralConv(Variable.constant(x32), conv.weightRe, conv.weightIm, conv.bias, { modes: conv.modes, norm: conv.fftNorm, precision: 'half', halfType: half, emulateFft: true }).value.toFloat64()));
        const discretization = Math.sqrt(disc2) / Math.max(rep.keptNorm, 1e-300);
        rows.push({
          layer, n, modes: conv.modes, half, discretization,
          precision_worst: rep.worst, precision_typical: rep.typical,
          measured_fft: rep.measured, measured_spectral_conv: relL2(got, ref),
          ratio: rep.worst / discretization,
        });
      }
      for (const t of [...w64, ...(b64 ? [b64] : [])]) t.release();
      x64.release();
      x32.release();
    });
    return rows;
  } finally {
    for (const t of inputs) t.release();
    if (ck) for (const t of Object.values(ck.weights)) t.release();
    model.release();
    data.release();
  }
}

export function boundTable(rows: BoundRow[]): string {
  const e = (v: number) => v.toExponential(2).padEnd(10);
  const head = `${'layer'.padEnd(6)} ${'grid'.padEnd(8)} ${'modes'.padEnd(7)} ${'half'.padEnd(9)} ${'(a) disc.'.padEnd(10)} ${'(b) worst'.padEnd(10)} ${'typical'.padEnd(10)} ${'(c) FFT'.padEnd(10)} ${'(c) conv'.padEnd(10)} (b)/(a)`;
  return [head, '-'.repeat(head.length + 4), ...rows.map((r) =>
    `${String(r.layer).padEnd(6)} ${r.n.join('x').padEnd(8)} ${r.modes.join('x').padEnd(7)} ${r.half.padEnd(9)} ${e(r.discretization)} ${e(r.precision_worst)} ${e(r.precision_typical)} ${e(r.measured_fft)} ${e(r.measured_spectral_conv)} ${r.ratio.toExponential(2)}`)].join('\n');
}

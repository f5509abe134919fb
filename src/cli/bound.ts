import { Tensor, shapeSize } from '../core/tensor.js';
import { Variable, noGrad, tidy } from '../autograd/variable.js';
import { loadGridDataset } from '../data/dataset-file.js';
import { type NeuralOperator, buildModel } from '../models/registry.js';
import { type HalfType, type PrecisionControlled, withPrecision } from '../precision/policy.js';
import { errorBudget, estimateLipschitzPerAxis, estimateSupNorm, fftErrorReport, shtErrorReport } from '../precision/bounds.js';
import { SphericalConv } from '../nn/spherical.js';
import { unitRoundoff } from '../core/dtype.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { checkWeightsFit } from './model-check.js';
import { type RunConfig, loadConfig } from '../train/config.js';

/**
 * One row of `mpno bound`: one Fourier layer in one half type. Every figure is for the batch as a
 * whole (all its signals together), relative to the kept Fourier coefficients' norm or to the
 * layer output's norm (docs/bounds.md).
 */
export interface BoundRow {
  layer: number;
  n: number[];
  modes: number[];
  half: HalfType;
  /** max |v| of the layer's spectral input (after the stabiliser): the half type must hold its spectrum. */
  input_max_abs: number;
  /** (a) discretisation-error bound of the kept coefficients, relative to their norm (an estimate: see docs/bounds.md). */
  discretization: number;
  /** (b) emulated half FFT (every stage rounded, `emulate_half_fft: true`): worst-case bound and typical estimate. */
  precision_worst: number;
  precision_typical: number;
  /** (c) emulated half FFT: measured relative error of the kept coefficients (half vs float64). */
  measured_fft: number;
  /** (c) emulated half FFTs: measured relative error of the whole spectral convolution output (half vs float64). */
  measured_spectral_conv: number;
  /** precision_worst / discretization. */
  ratio: number;
  /** (b) the path training runs ('half' layer, `emulate_half_fft: false`): 16-bit input/output, f32 arithmetic. */
  training_worst: number;
  training_typical: number;
  /** (c) training path: measured relative error of the kept coefficients. */
  training_measured_fft: number;
  /** (c) training path: measured relative error of the whole spectral convolution output. */
  training_measured_spectral_conv: number;
  /** training_worst / discretization. */
  training_ratio: number;
}

/** The values of a tensor as float64, releasing it. */
function once(t: Tensor): Float64Array {
  try {
    return t.toFloat64();
  } finally {
    t.release();
  }
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
 * The input of each spectral layer (after the model's stabiliser, as the layer's capture hook sees
 * it) in a full-precision forward pass of x, as float64 tensors.
 */
export function spectralInputs(model: PrecisionControlled & { forward(x: Variable): Variable }, x: Tensor): Tensor[] {
  const inputs: Tensor[] = [];
  const layers = model.precisionLayers();
  try {
    withPrecision(model, { fno_block_precision: 'full', amp: false }, () => {
      layers.forEach((c) => (c.capture = (v) => inputs.push(Tensor.fromArray(v.toFloat64(), v.shape, 'float64', 'workspace'))));
      noGrad(() => tidy(() => void model.forward(Variable.constant(x))));
    });
  } catch (e) {
    for (const t of inputs) t.release();
    throw e;
  } finally {
    layers.forEach((c) => (c.capture = undefined));
  }
  return inputs;
}

/**
 * The rows of `mpno bound` for a model on a batch x: per Fourier layer and half type, (a) the
 * discretisation bound, (b) the half-precision FFT bounds and (c) measured errors, for the emulated
 * half FFT and for the path training runs.
 */
export function boundRows(model: NeuralOperator, x: Tensor): BoundRow[] {
  const rows: BoundRow[] = [];
  model.precisionLayers().forEach((conv, layer) => {
    if (conv.basis !== 'fourier' && !(conv instanceof SphericalConv)) throw new RangeError(`mpno bound: layer ${layer} is a ${conv.basis} spectral convolution (${conv.description}), which has no error bounds`);
  });
  const inputs = spectralInputs(model, x);
  try {
    model.precisionLayers().forEach((conv, layer) => {
      const v = inputs[layer]!;
      const [B, C, ...n] = v.shape as number[];
      const S = shapeSize(n);
      // the captured input is already stabilised: it is exactly what the spectral convolution sees
      const vin = v.toFloat64();
      let maxAbs = 0;
      for (const t of vin) maxAbs = Math.max(maxAbs, Math.abs(t));
      const x32 = Tensor.fromArray(vin, v.shape, 'float32', 'workspace');
      // float64 reference spectral layer (weights converted exactly), and the layer run in half
      const ref = once(conv.evaluate(v, 'float64'));
      const convError = (half: HalfType, emulateFft: boolean) => relL2(once(conv.evaluate(x32, { precision: 'half', halfType: half, emulateFft })), ref);
      if (conv instanceof SphericalConv) {
        // the SHT: the training path's worst case and measurements (no emulated half SHT, no discretisation estimate on the sphere)
        const plan = conv.transform.plan(n[0]!, n[1]!);
        for (const half of ['float16', 'bfloat16'] as const) {
          const r = shtErrorReport(v, plan, half, 'half');
          rows.push({
            layer, n, modes: [...conv.modes], half, input_max_abs: maxAbs, discretization: NaN,
            precision_worst: NaN, precision_typical: NaN, measured_fft: NaN, measured_spectral_conv: NaN, ratio: NaN,
            training_worst: r.worst, training_typical: NaN, training_measured_fft: r.measured,
            training_measured_spectral_conv: convError(half, false), training_ratio: NaN,
          });
        }
        x32.release();
        return;
      }
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
        const emu = fftErrorReport(v, conv.modes, half, { norm: conv.fftNorm, path: 'emulated' });
        const tr = fftErrorReport(v, conv.modes, half, { norm: conv.fftNorm, path: 'training' });
        const discretization = Math.sqrt(disc2) / Math.max(emu.keptNorm, 1e-300);
        rows.push({
          layer, n, modes: [...conv.modes], half, input_max_abs: maxAbs, discretization,
          precision_worst: emu.worst, precision_typical: emu.typical,
          measured_fft: emu.measured, measured_spectral_conv: convError(half, true),
          ratio: emu.worst / discretization,
          training_worst: tr.worst, training_typical: tr.typical,
          training_measured_fft: tr.measured, training_measured_spectral_conv: convError(half, false),
          training_ratio: tr.worst / discretization,
        });
      }
      x32.release();
    });
    return rows;
  } finally {
    for (const t of inputs) t.release();
  }
}

/**
 * mpno bound: boundRows for the model described by a config (weights from a checkpoint when given)
 * on a batch of its training data. Formulas, assumptions and sources: docs/bounds.md.
 */
export function boundCommand(o: { config?: string; checkpoint?: string; batch: number; data?: string }): BoundRow[] {
  if (!o.config && !o.checkpoint) throw new Error('bound: give --config or --checkpoint');
  const ck = o.checkpoint ? loadCheckpoint(o.checkpoint) : undefined;
  const config: RunConfig = o.config ? loadConfig(o.config) : ck!.state.config;
  if (ck && o.config && ck.state.config.model.name !== config.model.name) {
    for (const t of Object.values(ck.weights)) t.release();
    throw new RangeError(`bound: the checkpoint ${ck.dir} is a ${ck.state.config.model.name}, but ${o.config} describes a ${config.model.name}`);
  }
  const model = buildModel(config.model, { seed: config.training.seed });
  const data = loadGridDataset(o.data ?? config.data.train, 'bound', { n: o.batch });
  try {
    if (ck) {
      checkWeightsFit(model, ck.weights, ck.dir, o.config ? `the config ${o.config}` : "the checkpoint's config (state.json)");
      model.loadStateDict(ck.weights);
    }
    return boundRows(model, data.x);
  } finally {
    if (ck) for (const t of Object.values(ck.weights)) t.release();
    model.release();
    data.release();
  }
}

/** What the columns of boundTable mean (printed under it). */
export const BOUND_LEGEND = [
  'max|v|     largest |value| of the layer\'s spectral input (after the stabiliser); the bounds assume its spectrum does not overflow the half type',
  '(a) disc.  discretisation error of the kept Fourier coefficients (grid samples vs the function\'s Fourier coefficients), relative to their norm;',
  '           an estimate: its Lipschitz constant and sup-norm are estimated from the samples',
  '(b) worst  guaranteed bound on the relative error of the kept coefficients of the half-precision forward FFT, assuming no overflow',
  '           (emulated: and no underflow)',
  '    typ.   its typical size (roundings as independent noise)',
  '(c) FFT    measured relative error of those coefficients, half vs float64, on this batch',
  '    conv   measured relative error of the whole spectral convolution output (FFT, weights, inverse FFT), half vs float64',
  '(b)/(a)    worst-case precision bound over the discretisation estimate: below 1, half precision adds less error than the grid already has',
  'emulated   every FFT stage rounded to the half type (emulate_half_fft: true, as a GPU half FFT computes)',
  'training   what a \'half\' Fourier layer runs by default: 16-bit input and output, f32 arithmetic inside the FFT',
  'SFNO layers (spherical harmonic transforms): the training path\'s worst case and measurements; — where no figure exists (no',
  '           emulated half SHT, no discretisation estimate on the sphere); the FFT columns then describe the SHT.',
  'All figures are for the whole batch (every signal together); see docs/bounds.md.',
];

export function boundTable(rows: BoundRow[]): string {
  const e = (v: number) => (Number.isNaN(v) ? '—' : v.toExponential(2)).padEnd(9);
  const lead = `${'layer'.padEnd(6)}${'grid'.padEnd(8)}${'modes'.padEnd(7)}${'half'.padEnd(9)}${'max|v|'.padEnd(9)}${'(a) disc.'.padEnd(10)}`;
  const group = (name: string) => `${name} ${'-'.repeat(44 - name.length)} `;
  const cols = `${'(b) worst'.padEnd(10)}${'typ.'.padEnd(9)}${'(c) FFT'.padEnd(9)}${'conv'.padEnd(9)}${'(b)/(a)'.padEnd(9)}`;
  const head1 = `${' '.repeat(lead.length)}${group('emulated half FFT')}${group('training path')}`;
  const head2 = `${lead}${cols} ${cols}`;
  const row = (r: BoundRow) => `${String(r.layer).padEnd(6)}${r.n.join('x').padEnd(8)}${r.modes.join('x').padEnd(7)}${r.half.padEnd(9)}${e(r.input_max_abs)}${e(r.discretization)} `
    + `${e(r.precision_worst)} ${e(r.precision_typical)}${e(r.measured_fft)}${e(r.measured_spectral_conv)}${e(r.ratio)} `
    + `${e(r.training_worst)} ${e(r.training_typical)}${e(r.training_measured_fft)}${e(r.training_measured_spectral_conv)}${e(r.training_ratio)}`;
  return [head1, head2, '-'.repeat(head2.length), ...rows.map(row), '', ...BOUND_LEGEND].join('\n');
}

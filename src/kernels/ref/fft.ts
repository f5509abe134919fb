import type { FftPass } from '../fft-pass.js';
import { checkFftPass } from '../fft-pass.js';
import { fftInPlace64, makePlan } from '../fft-plan.js';

/** The float64 engine of an FFT pass (any dtype in and out, computed in float64; no emulation). */
export function refFft(p: FftPass): void {
  checkFftPass(p);
  if (p.emulate) throw new TypeError(`fft: emulated ${p.emulate} needs the wasm engine (float32/16-bit tensors), not float64`);
  const plan = makePlan(p.n);
  const n = p.n;
  const sre = p.src.re.toFloat64();
  const sim = p.src.im?.toFloat64();
  const dre = p.dst.re.toFloat64();
  const dim = p.dst.im?.toFloat64();
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let l2 = 0; l2 < p.lanes2; l2++) {
    for (let l1 = 0; l1 < p.lanes1; l1++) {
      re.fill(0);
      im.fill(0);
      const so = p.src.offset + l1 * p.src.laneStride1 + l2 * p.src.laneStride2;
      for (let s = 0; s < p.src.rows.length; s++) {
        const j = p.src.rows[s]!;
        const a = sre[so + s * p.src.rowStride]!;
        const b = sim ? sim[so + s * p.src.rowStride]! : 0;
        if (p.kind === 'c2r') {
          if (j === 0 || 2 * j === n) {
            re[j] = a;
            im[j] = 0;
          } else {
            re[j] = a;
            im[j] = b;
            re[n - j] = a;
            im[n - j] = -b;
          }
        } else {
          re[j] = a;
          im[j] = b;
        }
      }
      fftInPlace64(plan, re, im, p.kind === 'c2r' || (p.kind === 'c2c' && p.inverse));
      const d = p.dst.offset + l1 * p.dst.laneStride1 + l2 * p.dst.laneStride2;
      for (let t = 0; t < p.dst.rows.length; t++) {
        const j = p.dst.rows[t]!;
        dre[d + t * p.dst.rowStride] = p.scale * re[j]!;
        if (dim) dim[d + t * p.dst.rowStride] = p.scale * im[j]!;
      }
    }
  }
  p.dst.re.set(dre);
  if (dim) p.dst.im!.set(dim);
}

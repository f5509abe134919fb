import type { HalfDType } from '../core/dtype.js';
import type { Tensor } from '../core/tensor.js';
import { checkDisjoint, checkLive, describe } from './check.js';

/**
 * One batched 1-D FFT pass along an axis: the primitive every n-D, truncated and mode-major transform
 * is built from. Signals ("lanes") l = l1 + lanes1·l2 are read from src at element
 *   offset + s·rowStride + l1·laneStride1 + l2·laneStride2      (source row s, s < rows.length)
 * where source row s holds transform position src.rows[s] (positions not listed are zero), and
 * transform output position dst.rows[t] is written to destination row t the same way.
 *
 * kind 'c2c': complex in, complex out (direction `inverse`). 'r2c': real in (src.re), forward,
 * positions 0…n/2 out. 'c2r': half spectrum in (positions 0…n/2), inverse, real out (dst.re); the
 * imaginary parts of the DC and (even n) Nyquist terms are ignored (Hermitian symmetry enforced).
 * The output is multiplied by `scale`. `emulate` rounds every stage's output to a 16-bit type.
 */
export interface FftView {
  re: Tensor;
  im?: Tensor | undefined;
  offset: number;
  rowStride: number;
  laneStride1: number;
  laneStride2: number;
  rows: Int32Array;
}

export interface FftPass {
  kind: 'c2c' | 'r2c' | 'c2r';
  inverse: boolean;
  n: number;
  lanes1: number;
  lanes2: number;
  src: FftView;
  dst: FftView;
  scale: number;
  emulate?: HalfDType | undefined;
}

function maxOffset(v: FftView, lanes1: number, lanes2: number): number {
  return v.offset + Math.max(0, v.rows.length - 1) * v.rowStride + (lanes1 - 1) * v.laneStride1 + (lanes2 - 1) * v.laneStride2;
}

/** Validates a pass: sizes, maps, strides and bounds; every error names 'fft' and the operand. */
export function checkFftPass(p: FftPass): void {
  const op = 'fft';
  if (!Number.isInteger(p.n) || p.n < 1) throw new RangeError(`${op}: transform length must be a positive integer, got ${p.n}`);
  for (const [name, v] of [['lanes1', p.lanes1], ['lanes2', p.lanes2]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${op}: ${name} must be a non-negative integer, got ${v}`);
  }
  if (!Number.isFinite(p.scale)) throw new RangeError(`${op}: scale must be finite, got ${p.scale}`);
  const half = (p.n >> 1) + 1;
  const inLimit = p.kind === 'c2r' ? half : p.n;
  const outLimit = p.kind === 'r2c' ? half : p.n;
  for (const [side, v, limit] of [['src', p.src, inLimit], ['dst', p.dst, outLimit]] as const) {
    checkLive(op, [`${side}.re`, v.re]);
    if (v.im) checkLive(op, [`${side}.im`, v.im]);
    for (const k of ['offset', 'rowStride', 'laneStride1', 'laneStride2'] as const) {
      if (!Number.isInteger(v[k]) || v[k] < 0) throw new RangeError(`${op}: ${side}.${k} must be a non-negative integer, got ${v[k]}`);
    }
    const seen = new Uint8Array(limit);
    for (let i = 0; i < v.rows.length; i++) {
      const j = v.rows[i]!;
      if (!Number.isInteger(j) || j < 0 || j >= limit) throw new RangeError(`${op}: ${side}.rows[${i}] = ${j} is outside 0…${limit - 1} for a ${p.kind} transform of length ${p.n}`);
      if (side === 'src' && seen[j]) throw new RangeError(`${op}: src.rows lists transform position ${j} twice`);
      seen[j] = 1;
    }
    if (v.im && (v.im.size !== v.re.size || v.im.dtype !== v.re.dtype)) {
      throw new TypeError(`${op}: ${side} real part ${describe(v.re)} and imaginary part ${describe(v.im)} differ`);
    }
    if (p.lanes1 * p.lanes2 > 0 && v.rows.length > 0 && maxOffset(v, p.lanes1, p.lanes2) >= v.re.size) {
      throw new RangeError(`${op}: ${side} addresses element ${maxOffset(v, p.lanes1, p.lanes2)} of a tensor ${describe(v.re)}`);
    }
  }
  if (p.kind === 'c2c' && !p.dst.im) throw new TypeError(`${op}: a c2c transform needs dst.im`);
  if (p.kind === 'r2c' && !p.dst.im) throw new TypeError(`${op}: an r2c transform needs dst.im`);
  if (p.kind === 'c2r' && !p.src.im) throw new TypeError(`${op}: a c2r transform needs src.im`);
  if (p.kind === 'r2c' && p.src.im) throw new TypeError(`${op}: an r2c transform takes a real source (no src.im)`);
  if (p.kind === 'c2r' && p.dst.im) throw new TypeError(`${op}: a c2r transform writes a real destination (no dst.im)`);
  if (p.kind !== 'c2c' && p.inverse !== (p.kind === 'c2r')) throw new TypeError(`${op}: ${p.kind} is ${p.kind === 'c2r' ? 'an inverse' : 'a forward'} transform`);
  const ins: [string, Tensor][] = [['src.re', p.src.re]];
  if (p.src.im) ins.push(['src.im', p.src.im]);
  checkDisjoint(op, ['dst.re', p.dst.re], ...ins);
  if (p.dst.im) checkDisjoint(op, ['dst.im', p.dst.im], ...ins, ['dst.re', p.dst.re]);
}

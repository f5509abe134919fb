import { type Tensor, fmtShape, shapeEq, shapeSize } from '../core/tensor.js';
import type { AdamStep } from './backend.js';

/** Shared argument checks for kernel fronts: every message names the operation and the operands. */

export function describe(t: Tensor): string {
  return `${fmtShape(t.shape)} ${t.dtype}`;
}

export function checkLive(op: string, ...ts: [string, Tensor][]): void {
  for (const [name, t] of ts) {
    if (t === null || typeof t !== 'object' || typeof (t as Partial<Tensor>).shape === 'undefined') {
      throw new TypeError(`${op}: ${name} is not a Tensor`);
    }
    if (t.isReleased) throw new Error(`${op}: ${name} (${describe(t)}) was already released`);
  }
}

export function checkSameShape(op: string, ...ts: [string, Tensor][]): void {
  checkLive(op, ...ts);
  const [n0, t0] = ts[0]!;
  for (const [n, t] of ts.slice(1)) {
    if (!shapeEq(t.shape, t0.shape)) {
      throw new RangeError(`${op}: shapes differ: ${n0} is ${describe(t0)}, ${n} is ${describe(t)}`);
    }
  }
}

export function checkFiniteNumber(op: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${op}: ${name} must be a finite number, got ${String(v)}`);
}

function overlaps(a: Tensor, b: Tensor): boolean {
  if (a.size === 0 || b.size === 0) return false;
  const a0 = a.ptr;
  const b0 = b.ptr;
  return a0 < b0 + b.nbytes && b0 < a0 + a.nbytes;
}

/** The output must not share any memory with the inputs (kernels that read inputs after writing). */
export function checkDisjoint(op: string, out: [string, Tensor], ...inputs: [string, Tensor][]): void {
  const [on, o] = out;
  for (const [n, t] of inputs) {
    if (overlaps(o, t)) throw new RangeError(`${op}: ${on} (${describe(o)}) shares memory with ${n} (${describe(t)})`);
  }
}

/**
 * Checks a permute call: perm is a permutation of src's axes, dst has src's shape permuted by it and
 * src's dtype (a permute copies stored values; converting is convert's job), and dst shares no memory
 * with src.
 */
export function checkPermute(op: string, src: Tensor, perm: readonly number[], dst: Tensor): void {
  checkLive(op, ['src', src], ['dst', dst]);
  const nd = src.ndim;
  if (!Array.isArray(perm) || perm.length !== nd || [...perm].sort((x, y) => x - y).some((p, i) => p !== i)) {
    throw new RangeError(`${op}: [${Array.isArray(perm) ? perm.join(', ') : String(perm)}] is not a permutation of the ${nd} axes of src ${describe(src)}`);
  }
  if (dst.dtype !== src.dtype) {
    throw new TypeError(`${op}: dst is ${describe(dst)} but src is ${describe(src)}: permute keeps the dtype (convert separately)`);
  }
  const want = perm.map((p) => src.shape[p]!);
  if (!shapeEq(want, dst.shape)) {
    throw new RangeError(`${op}: dst ${describe(dst)} must be ${fmtShape(want)} (src ${describe(src)} permuted by [${perm.join(', ')}])`);
  }
  checkDisjoint(op, ['dst', dst], ['src', src]);
}

/** x as [B, C, S]: batch, channels (axis 1) and the points of each channel (the axes after it). */
export interface ChannelDims {
  B: number;
  C: number;
  S: number;
}

function channelDims(op: string, name: string, x: Tensor): ChannelDims {
  if (x.ndim < 2) throw new RangeError(`${op}: ${name} must be [batch, channels, ...]; got ${describe(x)}`);
  return { B: x.shape[0]!, C: x.shape[1]!, S: shapeSize(x.shape.slice(2)) };
}

function checkChannelVector(op: string, name: string, v: Tensor, x: Tensor, C: number): void {
  checkLive(op, [name, v]);
  if (v.size !== C) throw new RangeError(`${op}: ${name} ${describe(v)} must have one element per channel of x ${describe(x)} (${C})`);
}

/** Checks channelAffine(x, scale, shift, out): out shaped like x, scale and shift C elements, out is x or disjoint from it. */
export function checkChannelAffine(x: Tensor, scale: Tensor | null, shift: Tensor | null, out: Tensor): ChannelDims {
  const op = 'channelAffine';
  checkSameShape(op, ['x', x], ['out', out]);
  const d = channelDims(op, 'x', x);
  if (scale) checkChannelVector(op, 'scale', scale, x, d.C);
  if (shift) checkChannelVector(op, 'shift', shift, x, d.C);
  if (out.ptr !== x.ptr || out.dtype !== x.dtype) checkDisjoint(op, ['out', out], ['x', x]);
  for (const [n, v] of [['scale', scale], ['shift', shift]] as const) if (v) checkDisjoint(op, ['out', out], [n, v]);
  return d;
}

/** Checks channelSum(x, y, out): y shaped like x, out C elements and disjoint from x and y. */
export function checkChannelSum(x: Tensor, y: Tensor | null, out: Tensor): ChannelDims {
  const op = 'channelSum';
  if (y) checkSameShape(op, ['x', x], ['y', y]);
  else checkLive(op, ['x', x]);
  const d = channelDims(op, 'x', x);
  checkChannelVector(op, 'out', out, x, d.C);
  checkDisjoint(op, ['out', out], ['x', x]);
  if (y) checkDisjoint(op, ['out', out], ['y', y]);
  return d;
}

/** Checks gelu(x, out, approximate, grad): out and grad shaped like x, grad disjoint from x and out (out may be x). */
export function checkGeluGrad(x: Tensor, out: Tensor, grad: Tensor): void {
  checkSameShape('gelu', ['x', x], ['out', out], ['grad', grad]);
  checkDisjoint('gelu', ['grad', grad], ['x', x], ['out', out]);
}

/**
 * Checks an adamStep call: one part for 'adam', one or two for 'adamw'; grads and m one per part; every
 * tensor live and of the first parameter's shape; the moments in the state dtype (the parameter's for
 * float32/float64, float32 for 16-bit parameters); finite hyperparameters.
 */
export function checkAdamStep(s: AdamStep): void {
  const op = 'adamStep';
  if (s.kind !== 'adam' && s.kind !== 'adamw') throw new TypeError(`${op}: kind must be 'adam' or 'adamw', got '${String(s.kind)}'`);
  const K = s.params.length;
  if (K < 1 || K > (s.kind === 'adam' ? 1 : 2)) throw new RangeError(`${op}: ${s.kind} takes ${s.kind === 'adam' ? 'one part' : 'one or two parts'}, got ${K}`);
  if (s.grads.length !== K || s.m.length !== K) throw new RangeError(`${op}: ${K} parameter part(s) need as many grads and m, got ${s.grads.length} and ${s.m.length}`);
  const all: [string, Tensor][] = [['v', s.v]];
  s.params.forEach((p, k) => {
    all.push([`params[${k}]`, p], [`m[${k}]`, s.m[k]!]);
    const g = s.grads[k];
    if (g) all.push([`grads[${k}]`, g]);
  });
  checkSameShape(op, ['params[0]', s.params[0]!], ...all);
  const p0 = s.params[0]!.dtype;
  const state = p0 === 'float64' ? 'float64' : 'float32';
  for (const [n, t] of [['v', s.v] as [string, Tensor], ...s.m.map((t, k) => [`m[${k}]`, t] as [string, Tensor])]) {
    if (t.dtype !== state) throw new TypeError(`${op}: ${n} is ${t.dtype}; the state of ${p0} parameters is ${state}`);
  }
  for (const k of ['beta1', 'beta2', 'eps', 'stepSize', 'bc2Sqrt', 'decay'] as const) checkFiniteNumber(op, k, s[k]);
}

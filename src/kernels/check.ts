import { type Tensor, fmtShape, shapeEq } from '../core/tensor.js';

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

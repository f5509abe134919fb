import { OptimizerError } from './errors.js';

/** Dtypes in which optimizer state is kept (and serialised). */
export type StateDType = 'float32' | 'float64';

const BYTES: Record<StateDType, number> = { float32: 4, float64: 8 };
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** base64 of the elements' bytes in platform order (little-endian on every host Node runs on). */
export function encodeFloats(a: Float32Array | Float64Array): string {
  const copy = a instanceof Float32Array ? Float32Array.from(a) : Float64Array.from(a);
  return Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength).toString('base64');
}

/** Decodes encodeFloats' output into `n` elements of `dtype`; `what` names the field in errors. */
export function decodeFloats(s: unknown, dtype: StateDType, n: number, what: string): Float32Array | Float64Array {
  if (typeof s !== 'string' || s.length % 4 !== 0 || !BASE64.test(s)) throw new OptimizerError(`${what} is not a base64 string`);
  const bytes = Buffer.from(s, 'base64');
  if (bytes.byteLength !== n * BYTES[dtype]) {
    throw new OptimizerError(`${what} holds ${bytes.byteLength} bytes, expected ${n * BYTES[dtype]} (${n} ${dtype} values)`);
  }
  const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** Element types mpno stores. 16-bit types live in Uint16Array storage and are computed in f32. */
export type DType = 'float64' | 'float32' | HalfDType;
/** The 16-bit floating-point types (stored as 16-bit codes, computed in f32 inside the kernels). */
export type HalfDType = 'float16' | 'bfloat16';

/** The dtypes that the wasm kernels accept (float64 is for references and I/O only). */
export type KernelDType = 'float32' | HalfDType;

export type StorageArray = Float64Array | Float32Array | Uint16Array;

export const DTYPES: readonly DType[] = ['float64', 'float32', 'float16', 'bfloat16'];
export const KERNEL_DTYPES: readonly KernelDType[] = ['float32', 'float16', 'bfloat16'];

const ALIASES: Record<string, DType> = {
  float64: 'float64', f64: 'float64', double: 'float64',
  float32: 'float32', f32: 'float32', float: 'float32',
  float16: 'float16', f16: 'float16', fp16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', bf16: 'bfloat16',
};

/** Parses a dtype name or alias ('fp16', 'bf16', 'f32', ...); throws a named error otherwise. */
export function parseDType(name: string): DType {
  const d = ALIASES[name.toLowerCase()];
  if (d === undefined) {
    throw new TypeError(`unknown dtype '${name}' (expected one of ${Object.keys(ALIASES).join(', ')})`);
  }
  return d;
}

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function itemSize(dtype: DType): number {
  switch (dtype) {
    case 'float64': return 8;
    case 'float32': return 4;
    case 'float16':
    case 'bfloat16': return 2;
  }
}

export function isHalf(dtype: DType): dtype is HalfDType {
  return dtype === 'float16' || dtype === 'bfloat16';
}

/** Unit roundoff u = 2^-p of round-to-nearest in the dtype (p = significand bits incl. the implicit one). */
export function unitRoundoff(dtype: DType): number {
  switch (dtype) {
    case 'float64': return 2 ** -53;
    case 'float32': return 2 ** -24;
    case 'float16': return 2 ** -11;
    case 'bfloat16': return 2 ** -8;
  }
}

/** Largest finite value of the dtype. */
export function maxFinite(dtype: DType): number {
  switch (dtype) {
    case 'float64': return Number.MAX_VALUE;
    case 'float32': return 3.4028234663852886e38;
    case 'float16': return 65504;
    case 'bfloat16': return 3.3895313892515355e38;
  }
}

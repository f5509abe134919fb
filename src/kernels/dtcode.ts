import type { DType } from '../core/dtype.js';

/** Dtype codes understood by the wasm kernels (must match src/kernels/wasm/common.ts). */
export const DT_F32 = 0;
export const DT_F16 = 1;
export const DT_BF16 = 2;

export function dtCode(dtype: DType, op: string): number {
  switch (dtype) {
    case 'float32': return DT_F32;
    case 'float16': return DT_F16;
    case 'bfloat16': return DT_BF16;
    case 'float64':
      throw new TypeError(`${op}: float64 has no wasm kernel`);
  }
}

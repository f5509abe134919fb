import type { Tensor } from '../core/tensor.js';
import { checkSameShape } from './check.js';
import { dtCode } from './dtcode.js';
import { pool, splitRange } from './pool.js';

/** Elements per thread below which conversion stays on one thread. */
const PARALLEL_ELEMENTS = 1 << 18;

/** out = x in out's dtype, rounded to nearest even (wasm SIMD, split across threads when large). */
export function convert(x: Tensor, out: Tensor): void {
  checkSameShape('convert', ['x', x], ['out', out]);
  const s = dtCode(x.dtype, 'convert');
  const d = dtCode(out.dtype, 'convert');
  const n = x.size;
  if (n === 0) return;
  const xs = x.dtype === 'float32' ? 4 : 2;
  const os = out.dtype === 'float32' ? 4 : 2;
  const parts = Math.min(pool.threads, Math.floor(n / PARALLEL_ELEMENTS) + 1);
  pool.run('convert', splitRange(n, parts, 16).map(([a, b]) => [x.ptr + a * xs, s, out.ptr + a * os, d, b - a]));
}

/** Small helpers shared by the tests. */
import { pool } from '../src/kernels/pool.js';

/** ‖got − want‖₂ / ‖want‖₂ (the arrays have the same length). */
export function relL2(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new RangeError(`relL2: lengths differ (${got.length} vs ${want.length})`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i]! - want[i]!) ** 2;
    den += want[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** Runs f with the kernel pool at n threads, restoring the previous count. */
export function withThreads<T>(n: number, f: () => T): T {
  const prev = pool.threads;
  pool.setThreads(n);
  try {
    return f();
  } finally {
    pool.setThreads(prev);
  }
}

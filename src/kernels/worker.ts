// Worker thread of the kernel pool: instantiates the kernel module over the shared arena memory and
// runs the kernel calls the main thread posts in its control block (see pool.ts for the protocol).
// The host starts it (worker-node.ts in Node, src/web/pool-worker.ts in a browser) with a PoolWorkerInit.
import type { PoolWorkerInit } from '../core/platform.js';
import { ARG_SLOTS, writeError } from './pool-layout.js';

/** Runs a pool worker's loop until the main thread posts the exit sequence (-1). */
export function runPoolWorker(init: PoolWorkerInit): void {
  const { memory, module, ctl, names } = init;
  const inst = new WebAssembly.Instance(module, { env: { memory } });
  const fns = names.map((n) => inst.exports[n] as (...args: number[]) => number | void);
  const buf = memory.buffer as unknown as SharedArrayBuffer;
  const c = new Int32Array(buf, ctl, 16);
  const args = new Float64Array(buf, ctl + 64, ARG_SLOTS);

  /** Polls c[0] for a sequence number other than `seen` for at most `micros` µs. */
  const spinForJob = (seen: number, micros: number): boolean => {
    if (micros <= 0) return false;
    const end = performance.now() + micros / 1000;
    for (let i = 1; ; i++) {
      if (Atomics.load(c, 0) !== seen) return true;
      if ((i & 63) === 0 && performance.now() > end) return false;
    }
  };

  // tells the main thread this worker runs (a browser starts workers only when their creator yields)
  Atomics.store(c, 9, 1);
  let seen = 0;
  for (;;) {
    if (Atomics.load(c, 0) === seen && !spinForJob(seen, Atomics.load(c, 5))) {
      // announce the sleep before Atomics.wait compares c[0]: the main thread notifies only then
      Atomics.store(c, 6, 1);
      while (Atomics.load(c, 0) === seen) Atomics.wait(c, 0, seen);
      Atomics.store(c, 6, 0);
    }
    const seq = Atomics.load(c, 0);
    if (seq < 0) break;
    seen = seq;
    // the main thread may have claimed the task (and already posted the next): skip it then
    if (Atomics.compareExchange(c, 8, seq - 1, seq) !== seq - 1) continue;
    try {
      const fn = fns[c[2]!]!;
      const a = Array.from(args.subarray(0, c[3]!));
      const r = fn(...a);
      args[ARG_SLOTS - 1] = typeof r === 'number' ? r : 0;
      c[4] = 0;
    } catch (e) {
      writeError(buf, ctl, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      c[4] = 1;
    }
    Atomics.store(c, 1, seq);
    if (Atomics.load(c, 7) !== 0) Atomics.notify(c, 1);
  }
}

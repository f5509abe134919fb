// Worker thread of the kernel pool: instantiates the kernel module over the shared arena memory and
// runs the kernel calls the main thread posts in its control block (see pool.ts for the protocol).
import { type MessagePort, workerData } from 'node:worker_threads';

interface PoolWorkerData {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  ctl: number;
  names: string[];
  /** Where the message of a failed call is posted (read synchronously by the main thread). */
  errors: MessagePort;
}

const { memory, module, ctl, names, errors } = workerData as PoolWorkerData;
const inst = new WebAssembly.Instance(module, { env: { memory } });
const fns = names.map((n) => inst.exports[n] as (...args: number[]) => number | void);
const buf = memory.buffer as unknown as SharedArrayBuffer;
const c = new Int32Array(buf, ctl, 16);
const args = new Float64Array(buf, ctl + 64, 24);

let seen = 0;
for (;;) {
  Atomics.wait(c, 0, seen);
  const seq = Atomics.load(c, 0);
  if (seq < 0) break;
  seen = seq;
  try {
    const fn = fns[c[2]!]!;
    const a = Array.from(args.subarray(0, c[3]!));
    const r = fn(...a);
    args[23] = typeof r === 'number' ? r : 0;
    c[4] = 0;
  } catch (e) {
    errors.postMessage(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    c[4] = 1;
  }
  Atomics.store(c, 1, seq);
  Atomics.notify(c, 1);
}

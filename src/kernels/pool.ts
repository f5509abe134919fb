import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { arena } from '../core/arena.js';
import { KERNEL_NAMES, type KernelName, wasm, wasmModule } from './module.js';

/**
 * Thread pool over one shared WebAssembly.Memory. Calls are synchronous: the main thread writes each
 * worker's kernel index and arguments into that worker's control block, bumps its sequence number and
 * notifies it, runs its own share, then waits (Atomics.wait) for every worker to report the same
 * sequence number. Workers are started on first use and unref'd, so they never keep the process alive.
 *
 * Control block (256 bytes per worker, in the arena): Int32 [0] job sequence (-1 = exit), [1] done
 * sequence, [2] kernel index, [3] argument count, [4] error flag; Float64 args at +64 (24 slots, the
 * last holds the return value).
 */

function envThreads(): number {
  const cores = Math.max(1, availableParallelism());
  const raw = process.env['MPNO_THREADS'];
  if (raw === undefined || raw === '') return cores;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new RangeError(`MPNO_THREADS must be an integer from 1 to 256, got '${raw}'`);
  }
  return n;
}

interface PoolWorker {
  worker: Worker;
  errors: MessagePort;
  ctl: Int32Array;
  args: Float64Array;
  seq: number;
}

class ThreadPool {
  private maxThreads = envThreads();
  private workers: PoolWorker[] = [];

  /** Threads used for parallel kernels, the main thread included. */
  get threads(): number {
    return this.maxThreads;
  }

  /** Sets the number of threads (>= 1) used by later kernel calls. */
  setThreads(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new RangeError(`setThreads: thread count must be an integer from 1 to 256, got ${n}`);
    this.maxThreads = n;
  }

  private ensureWorkers(count: number): void {
    while (this.workers.length < count) {
      const ctlPtr = arena.alloc(256);
      const buf = arena.buffer;
      const ctl = new Int32Array(buf, ctlPtr, 16);
      ctl.fill(0);
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(new URL('./worker.js', import.meta.url), {
        workerData: { memory: arena.memory, module: wasmModule, ctl: ctlPtr, names: [...KERNEL_NAMES], errors: port2 },
        transferList: [port2],
      });
      worker.unref();
      port1.unref();
      this.workers.push({ worker, errors: port1, ctl, args: new Float64Array(buf, ctlPtr + 64, 24), seq: 0 });
    }
  }

  /**
   * Runs `name` once per argument list: the first on this thread, the others on workers, and returns
   * the results in order. Blocks until all are done.
   */
  run(name: KernelName, tasks: readonly (readonly number[])[]): number[] {
    const results = new Array<number>(tasks.length).fill(0);
    if (tasks.length === 0) return results;
    const fn = wasm[name] as (...a: number[]) => number | void;
    if (tasks.length === 1) {
      results[0] = Number(fn(...tasks[0]!) ?? 0);
      return results;
    }
    const idx = KERNEL_NAMES.indexOf(name);
    this.ensureWorkers(tasks.length - 1);
    for (let t = 1; t < tasks.length; t++) {
      const w = this.workers[t - 1]!;
      const a = tasks[t]!;
      if (a.length > 23) throw new RangeError(`pool.run(${name}): ${a.length} arguments, at most 23`);
      w.args.set(a);
      w.ctl[2] = idx;
      w.ctl[3] = a.length;
      w.seq++;
      Atomics.store(w.ctl, 0, w.seq);
      Atomics.notify(w.ctl, 0);
    }
    let mainError: unknown;
    try {
      results[0] = Number(fn(...tasks[0]!) ?? 0);
    } catch (e) {
      mainError = e;
    }
    let failure: string | undefined;
    for (let t = 1; t < tasks.length; t++) {
      const w = this.workers[t - 1]!;
      while (Atomics.load(w.ctl, 1) !== w.seq) Atomics.wait(w.ctl, 1, w.seq - 1, 1000);
      if (w.ctl[4] !== 0) failure ??= String(receiveMessageOnPort(w.errors)?.message ?? 'no message');
      results[t] = w.args[23]!;
    }
    if (mainError !== undefined) throw mainError;
    if (failure !== undefined) throw new Error(`kernel '${name}' failed on a worker thread: ${failure}`);
    return results;
  }

  /** Stops the workers (they are restarted on demand). */
  shutdown(): void {
    for (const w of this.workers) {
      Atomics.store(w.ctl, 0, -1);
      Atomics.notify(w.ctl, 0);
      void w.worker.terminate();
    }
    this.workers = [];
  }
}

export const pool = new ThreadPool();

/** Splits [0, n) into at most `parts` contiguous ranges whose starts are multiples of `align`. */
export function splitRange(n: number, parts: number, align = 1): [number, number][] {
  const units = Math.ceil(n / align);
  const p = Math.max(1, Math.min(parts, units));
  const out: [number, number][] = [];
  for (let i = 0; i < p; i++) {
    const s = Math.floor((units * i) / p) * align;
    const e = Math.min(n, Math.floor((units * (i + 1)) / p) * align);
    if (e > s) out.push([s, e]);
  }
  return out;
}

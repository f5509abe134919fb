import { ARG_SLOTS, CONTROL_BLOCK_BYTES, readError } from './pool-layout.js';
import { arena } from '../core/arena.js';
import { type PoolWorkerHandle, platform } from '../core/platform.js';
import { KERNEL_NAMES, type KernelName, wasm, wasmModule } from './module.js';

/**
 * Thread pool over one shared WebAssembly.Memory. Calls are synchronous: the main thread writes each
 * worker's kernel index and arguments into that worker's control block, bumps its sequence number
 * (notifying the worker only if it sleeps), runs its own share, then waits for every worker to report
 * the same sequence number. Workers are started on first use and unref'd, so they never keep the
 * process alive.
 *
 * Hand-off is spin-then-wait on both sides: a worker that finished a task polls its sequence number
 * for `spinMicros` before it sleeps in Atomics.wait, and the main thread polls the done number for as
 * long before it sleeps; a futex wake-up costs tens of microseconds (far more on a busy machine),
 * a hand-off to a spinning thread about one. A task is claimed (compare-and-swap on [8]) by whoever
 * starts it: when the main thread is done with its own share and a worker has not yet started its
 * task (asleep, or descheduled on a machine with more threads than cores), the main thread claims
 * and runs it itself rather than waiting for that worker to be scheduled. The tasks and their
 * arguments are the same whichever thread runs them, so results do not depend on who ran what.
 *
 * Spinning pays on a machine with a core free for each thread and costs on an oversubscribed one
 * (a spinning thread competes with the threads doing the work). The main thread watches how often it
 * has to claim back a task posted to a worker that was spinning (awake, yet it did not start the
 * task while the main thread ran its own share): when more than a quarter of the last 256 hand-offs
 * were, the workers are not getting a core in time and spinning is switched off for the next 4096
 * hand-offs, then tried again.
 *
 * Control block (CONTROL_BLOCK_BYTES per worker, in the arena): Int32 [0] job sequence (-1 = exit), [1] done
 * sequence, [2] kernel index, [3] argument count, [4] error flag, [5] spin budget in µs (read by the
 * worker before each spin), [6] worker asleep (1 while in Atomics.wait), [7] main asleep, [8] the
 * last claimed sequence number, [9] the worker runs; Float64 args at +64 (32 slots, the last holds
 * the return value); the message of a failed call after them (pool-layout.ts).
 *
 * Workers are started through the platform interface (worker_threads in Node, Web Workers in a
 * browser); where memory cannot be shared (a page that is not cross-origin isolated) the pool has
 * one thread and never starts one.
 */

/** Default spin before sleeping, in µs (MPNO_SPIN_US overrides; 0 = always sleep at once). */
const DEFAULT_SPIN_MICROS = 200;

function envSpin(): number {
  const raw = platform.env('MPNO_SPIN_US');
  if (raw === undefined || raw === '') return DEFAULT_SPIN_MICROS;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 && n <= 1_000_000 ? n : DEFAULT_SPIN_MICROS;
}

/** Polls `ctl[idx]` until it equals `want` for at most `micros` µs; true when it did. */
export function spinFor(ctl: Int32Array, idx: number, want: number, micros: number): boolean {
  if (Atomics.load(ctl, idx) === want) return true;
  if (micros <= 0) return false;
  const end = performance.now() + micros / 1000;
  for (let i = 1; ; i++) {
    if (Atomics.load(ctl, idx) === want) return true;
    if ((i & 63) === 0 && performance.now() > end) return false;
  }
}

function envThreads(): number {
  const cores = platform.sharedMemory() ? Math.max(1, platform.cores()) : 1;
  const raw = platform.env('MPNO_THREADS');
  if (raw === undefined || raw === '') return cores;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new RangeError(`MPNO_THREADS must be an integer from 1 to 256, got '${raw}'`);
  }
  return n;
}

interface PoolWorker {
  worker: PoolWorkerHandle;
  ctlPtr: number;
  ctl: Int32Array;
  args: Float64Array;
  seq: number;
  /** Whether the worker slept when its current task was posted. */
  asleep: boolean;
}

class ThreadPool {
  private maxThreads = envThreads();
  private workers: PoolWorker[] = [];
  private spin = envSpin();
  private inlineDepth = 0;
  /** Tasks posted to a worker and then run by the main thread because the worker had not started. */
  stolen = 0;
  /** Tasks posted to workers. */
  posted = 0;
  /** The spin budget in force (0 while backed off, see the class comment). */
  private effSpin = this.spin;
  private winPosted = 0;
  private winStolen = 0;
  private backoffLeft = 0;

  /** Threads used for parallel kernels, the main thread included. */
  get threads(): number {
    return this.maxThreads;
  }

  /** Sets the number of threads (>= 1) used by later kernel calls. */
  setThreads(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > 256) throw new RangeError(`setThreads: thread count must be an integer from 1 to 256, got ${n}`);
    if (n > 1 && !platform.sharedMemory()) throw new RangeError(`setThreads(${n}): this ${platform.name} cannot share memory between threads (a page must be cross-origin isolated); one thread only`);
    this.maxThreads = n;
  }

  /** µs a thread polls for its next task (or for the workers' results) before it sleeps. */
  get spinMicros(): number {
    return this.spin;
  }

  /** Sets the spin budget (0 … 1e6 µs; 0: sleep at once, the old behaviour). */
  setSpinMicros(us: number): void {
    if (!Number.isInteger(us) || us < 0 || us > 1_000_000) throw new RangeError(`setSpinMicros: an integer from 0 to 1000000 µs, got ${us}`);
    this.spin = us;
    this.backoffLeft = 0;
    this.winPosted = 0;
    this.winStolen = 0;
    this.setEffectiveSpin(us);
  }

  /** The spin budget in force now: spinMicros, or 0 while spinning is backed off. */
  get effectiveSpinMicros(): number {
    return this.effSpin;
  }

  private setEffectiveSpin(us: number): void {
    this.effSpin = us;
    for (const w of this.workers) Atomics.store(w.ctl, 5, us);
  }

  /** Backs spinning off while posted tasks are often claimed back (see the class comment). */
  private adapt(posted: number, missed: number): void {
    this.posted += posted;
    if (this.backoffLeft > 0) {
      this.backoffLeft -= posted;
      if (this.backoffLeft <= 0) {
        this.backoffLeft = 0;
        this.setEffectiveSpin(this.spin);
      }
      return;
    }
    if (this.spin === 0) return;
    this.winPosted += posted;
    this.winStolen += missed;
    if (this.winPosted < 256) return;
    if (4 * this.winStolen > this.winPosted) {
      this.backoffLeft = 4096;
      this.setEffectiveSpin(0);
    }
    this.winPosted = 0;
    this.winStolen = 0;
  }

  /** True inside inline(): every task runs on the calling thread. */
  get isInline(): boolean {
    return this.inlineDepth > 0;
  }

  /**
   * Runs `fn` with every pool task executed on the calling thread, in task order. The tasks (and so
   * the ranges, partial sums and results) are exactly those of a threaded run; only the hand-offs
   * go. Used for ops too small for a hand-off to pay.
   */
  inline<T>(fn: () => T): T {
    this.inlineDepth++;
    try {
      return fn();
    } finally {
      this.inlineDepth--;
    }
  }

  private ensureWorkers(count: number): void {
    while (this.workers.length < count) {
      const ctlPtr = arena.alloc(CONTROL_BLOCK_BYTES);
      const buf = arena.buffer;
      const ctl = new Int32Array(buf, ctlPtr, 16);
      ctl.fill(0);
      ctl[5] = this.effSpin;
      const worker = platform.startPoolWorker({ memory: arena.memory, module: wasmModule, ctl: ctlPtr, names: [...KERNEL_NAMES] });
      this.workers.push({ worker, ctlPtr, ctl, args: new Float64Array(buf, ctlPtr + 64, ARG_SLOTS), seq: 0, asleep: false });
    }
  }

  /**
   * Starts the workers of `threads` threads and resolves when every one of them runs (or rejects
   * after `timeoutMs`). Not needed in Node, where a task a worker has not started is run by the
   * main thread; a browser starts a worker only once its creator yields to its event loop, so a
   * page calls this before its first threaded run.
   */
  async ready(timeoutMs = 20000): Promise<void> {
    this.ensureWorkers(this.maxThreads - 1);
    const end = Date.now() + timeoutMs;
    const want = this.workers.slice(0, this.maxThreads - 1);
    while (!want.every((w) => Atomics.load(w.ctl, 9) === 1)) {
      if (Date.now() > end) throw new Error(`mpno: ${want.filter((w) => Atomics.load(w.ctl, 9) !== 1).length} of ${want.length} kernel worker(s) did not start within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
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
    if (tasks.length === 1 || this.inlineDepth > 0) {
      for (let t = 0; t < tasks.length; t++) results[t] = Number(fn(...tasks[t]!) ?? 0);
      return results;
    }
    const idx = KERNEL_NAMES.indexOf(name);
    this.ensureWorkers(tasks.length - 1);
    for (let t = 1; t < tasks.length; t++) {
      const w = this.workers[t - 1]!;
      const a = tasks[t]!;
      if (a.length > ARG_SLOTS - 1) throw new RangeError(`pool.run(${name}): ${a.length} arguments, at most ${ARG_SLOTS - 1}`);
      w.args.set(a);
      w.ctl[2] = idx;
      w.ctl[3] = a.length;
      w.seq++;
      Atomics.store(w.ctl, 0, w.seq);
      // a spinning worker sees the new sequence number by itself; a sleeping one needs the wake-up
      // (it raises [6] before its Atomics.wait compares [0], so one of the two sides sees the other)
      w.asleep = Atomics.load(w.ctl, 6) !== 0;
      if (w.asleep) Atomics.notify(w.ctl, 0);
    }
    let mainError: unknown;
    try {
      results[0] = Number(fn(...tasks[0]!) ?? 0);
    } catch (e) {
      mainError = e;
    }
    let failure: string | undefined;
    let stolen = 0;
    let missed = 0;
    for (let t = 1; t < tasks.length; t++) {
      const w = this.workers[t - 1]!;
      if (Atomics.compareExchange(w.ctl, 8, w.seq - 1, w.seq) === w.seq - 1) {
        // the worker has not started it: run it here (the worker skips a task claimed by us); one that
        // was spinning when the task was posted and still did not start it did not get a core
        stolen++;
        if (!w.asleep) missed++;
        try {
          results[t] = Number(fn(...tasks[t]!) ?? 0);
        } catch (e) {
          mainError ??= e;
        }
        continue;
      }
      if (!spinFor(w.ctl, 1, w.seq, this.effSpin)) {
        Atomics.store(w.ctl, 7, 1);
        for (let v = Atomics.load(w.ctl, 1); v !== w.seq; v = Atomics.load(w.ctl, 1)) Atomics.wait(w.ctl, 1, v, 1000);
        Atomics.store(w.ctl, 7, 0);
      }
      if (w.ctl[4] !== 0) failure ??= readError(arena.buffer, w.ctlPtr);
      results[t] = w.args[ARG_SLOTS - 1]!;
    }
    this.stolen += stolen;
    this.adapt(tasks.length - 1, missed);
    if (mainError !== undefined) throw mainError;
    if (failure !== undefined) throw new Error(`kernel '${name}' failed on a worker thread: ${failure}`);
    return results;
  }

  /** Stops the workers (they are restarted on demand). */
  shutdown(): void {
    for (const w of this.workers) {
      Atomics.store(w.ctl, 0, -1);
      Atomics.notify(w.ctl, 0);
      w.worker.terminate();
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

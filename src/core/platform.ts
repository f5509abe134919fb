/**
 * What mpno needs from its host that the language does not give: environment settings, the number of
 * cores, whether memory can be shared between threads, the kernel module's bytes, worker threads and
 * files. Everything above this interface is the same code in Node and in a browser; `platform-node.ts`
 * implements it for Node and `platform-browser.ts` for Web Workers (the browser bundle, built by
 * scripts/build-web.mjs, puts the second in place of the first).
 */

/** What a kernel-pool worker is started with (see src/kernels/worker.ts). */
export interface PoolWorkerInit {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  /** Byte address of the worker's control block in `memory`. */
  ctl: number;
  names: string[];
}

export interface PoolWorkerHandle {
  terminate(): void;
}

export interface Platform {
  /** 'node' or 'browser'. */
  readonly name: 'node' | 'browser';
  /** A setting from the environment (MPNO_THREADS, …), or undefined. */
  env(name: string): string | undefined;
  /** Threads worth using: the cores, or 1 where memory cannot be shared between threads. */
  cores(): number;
  /** Whether a shared WebAssembly.Memory can be made (Node; a cross-origin-isolated page). */
  sharedMemory(): boolean;
  /** The bytes of a kernel build ('mpno' or 'mpno-relaxed'). */
  kernelBytes(build: 'mpno' | 'mpno-relaxed'): Uint8Array;
  /** Where a kernel build comes from, for error messages. */
  kernelSource(build: 'mpno' | 'mpno-relaxed'): string;
  /** Sets an engine flag before any module is compiled (V8 in Node); false where it cannot. */
  setEngineFlag(flag: string): boolean;
  /** Starts a kernel-pool worker; it never keeps the process alive. */
  startPoolWorker(init: PoolWorkerInit): PoolWorkerHandle;
  /** A whole file's bytes (Node); the browser has no files and throws, naming the path. */
  readFile(path: string): Uint8Array;
}

export { platform } from './platform-node.js';

// The browser's side of the platform interface (src/core/platform.ts): the bundle (scripts/build-web.mjs)
// puts this module in place of platform-node.ts. Runs in Web Workers: the page's engine worker and
// the kernel pool's workers (Atomics.wait, which the pool needs, is refused on a page's main thread).
import { relaxed, simd } from 'mpno:kernels';
import type { Platform, PoolWorkerInit } from '../../core/platform.js';

interface BrowserGlobals {
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
  /** Settings a page passes to mpno (the Node process environment's equivalent). */
  MPNO_ENV?: Record<string, string>;
}

const g = globalThis as unknown as BrowserGlobals;

export const platform: Platform = {
  name: 'browser',
  env: (name) => g.MPNO_ENV?.[name],
  cores: () => Math.max(1, g.navigator?.hardwareConcurrency ?? 1),
  sharedMemory: () => g.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function',
  kernelBytes: (build) => (build === 'mpno' ? simd : relaxed),
  kernelSource: (build) => `${build}.wasm (in the page's bundle)`,
  setEngineFlag: () => false,
  startPoolWorker(init: PoolWorkerInit) {
    const worker = new Worker(new URL('./pool-worker.js', import.meta.url), { type: 'module', name: 'mpno-kernels' });
    worker.postMessage(init);
    return { terminate: () => worker.terminate() };
  },
  readFile(path) {
    throw new Error(`mpno in a browser reads no files by path ('${path}'); give the page the file's bytes`);
  },
};

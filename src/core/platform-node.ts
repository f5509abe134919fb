// Node's side of the platform interface (src/core/platform.ts). The browser bundle replaces this
// module with platform-browser.ts, so nothing else in the inference path imports a Node built-in.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { Platform, PoolWorkerInit } from './platform.js';

function kernelPath(build: string): string {
  return fileURLToPath(new URL(`../../wasm/${build}.wasm`, import.meta.url));
}

export const platform: Platform = {
  name: 'node',
  env: (name) => process.env[name],
  cores: () => Math.max(1, availableParallelism()),
  sharedMemory: () => true,
  kernelSource: kernelPath,
  kernelBytes(build) {
    const p = kernelPath(build);
    if (!existsSync(p)) throw new Error(`mpno: kernel module ${p} is missing; run 'npm install' (or 'npm run build') in the mpno package`);
    return readFileSync(p);
  },
  setEngineFlag(flag) {
    try {
      setFlagsFromString(flag);
      return true;
    } catch {
      return false;
    }
  },
  startPoolWorker(init: PoolWorkerInit) {
    const worker = new Worker(new URL('../kernels/worker-node.js', import.meta.url), { workerData: init });
    worker.unref();
    return { terminate: () => void worker.terminate() };
  },
  readFile: (path) => readFileSync(path),
};

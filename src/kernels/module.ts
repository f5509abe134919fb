import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { arena } from '../core/arena.js';

/** Signatures of the kernels exported by dist/wasm/mpno.wasm (pointers are byte addresses in the arena). */
export interface KernelExports {
  convert(src: number, srcDt: number, dst: number, dstDt: number, n: number): void;
  gemm(
    a: number, aDt: number, rsA: number, csA: number,
    b: number, bDt: number, rsB: number, csB: number,
    c: number, cDt: number, ldc: number,
    m: number, n: number, k: number,
    alpha: number, beta: number, bias: number, biasDt: number, work: number,
  ): void;
  gemmWorkBytes(m: number, n: number, k: number, cDt: number): number;
  gemmReduce(
    parts: number, count: number, partStride: number,
    c: number, cDt: number, ldc: number, m: number, n: number,
    beta: number, bias: number, biasDt: number,
  ): void;
}

export type KernelName = keyof KernelExports;

/** Every exported kernel, in a fixed order (workers call them by index). */
export const KERNEL_NAMES: readonly KernelName[] = ['convert', 'gemm', 'gemmWorkBytes', 'gemmReduce'];

const wasmPath = fileURLToPath(new URL('../../wasm/mpno.wasm', import.meta.url));
if (!existsSync(wasmPath)) {
  throw new Error(`mpno: kernel module ${wasmPath} is missing; run 'npm install' (or 'npm run build') in the mpno package`);
}

/** The compiled kernel module (shared with the worker threads). */
export const wasmModule = new WebAssembly.Module(readFileSync(wasmPath));

export function instantiate(memory: WebAssembly.Memory): KernelExports {
  const inst = new WebAssembly.Instance(wasmModule, { env: { memory } });
  const ex = inst.exports as unknown as Partial<KernelExports>;
  for (const name of KERNEL_NAMES) {
    if (typeof ex[name] !== 'function') throw new Error(`mpno: kernel '${name}' is missing from ${wasmPath}; rebuild with 'npm run build'`);
  }
  return ex as KernelExports;
}

/** The kernels instantiated on the main thread over the arena's memory. */
export const wasm: KernelExports = instantiate(arena.memory);

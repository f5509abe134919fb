import type { Tensor } from '../core/tensor.js';
import type { Backend } from './backend.js';
import { convert } from './convert.js';
import * as ew from './elementwise.js';
import { fftPass } from './fft.js';
import { gemm } from './gemm.js';
import { complexGemm } from './cgemm.js';
import { permute } from './permute.js';
import { adamStep } from './optim.js';
import * as graph from './graph.js';
import { refBackend } from './ref/index.js';

function anyF64(...ts: (Tensor | undefined)[]): boolean {
  return ts.some((t) => t !== undefined && t.dtype === 'float64');
}

/**
 * The CPU backend: wasm SIMD kernels (threaded) for float32/float16/bfloat16; calls that involve a
 * float64 tensor (gradient checks, references) run on the plain-TypeScript float64 path, except
 * permute, a copy of stored values whose one (TypeScript) implementation takes every dtype.
 */
export const cpuBackend: Backend = {
  name: 'cpu-wasm',
  gemm: (a, b, c, opts = {}) => (anyF64(a, b, c, opts.bias) ? refBackend.gemm(a, b, c, opts) : gemm(a, b, c, opts)),
  complexGemm: (a, b, c, opts = {}) =>
    anyF64(a.re, b.re, c.re) ? refBackend.complexGemm(a, b, c, opts) : complexGemm(a, b, c, opts),
  binary: (op, a, b, out) => (anyF64(a, b, out) ? refBackend.binary(op, a, b, out) : ew.binary(op, a, b, out)),
  scale: (x, alpha, out) => (anyF64(x, out) ? refBackend.scale(x, alpha, out) : ew.scale(x, alpha, out)),
  axpy: (alpha, x, y) => (anyF64(x, y) ? refBackend.axpy(alpha, x, y) : ew.axpy(alpha, x, y)),
  tanh: (x, out) => (anyF64(x, out) ? refBackend.tanh(x, out) : ew.tanh(x, out)),
  tanhBackward: (y, dy, dx) => (anyF64(y, dy, dx) ? refBackend.tanhBackward(y, dy, dx) : ew.tanhBackward(y, dy, dx)),
  tanhBackwardFromInput: (x, dy, dx, accumulate) => anyF64(x, dy, dx) ? refBackend.tanhBackwardFromInput(x, dy, dx, accumulate) : ew.tanhBackwardFromInput(x, dy, dx, accumulate),
  gelu: (x, out, approximate, grad) =>
    anyF64(x, out, grad) ? refBackend.gelu(x, out, approximate, grad) : ew.gelu(x, out, approximate, grad),
  geluBackward: (x, dy, dx, approximate) =>
    anyF64(x, dy, dx) ? refBackend.geluBackward(x, dy, dx, approximate) : ew.geluBackward(x, dy, dx, approximate),
  clamp: (x, min, max, out) => (anyF64(x, out) ? refBackend.clamp(x, min, max, out) : ew.clamp(x, min, max, out)),
  clampBackward: (x, min, max, dy, dx) =>
    anyF64(x, dy, dx) ? refBackend.clampBackward(x, min, max, dy, dx) : ew.clampBackward(x, min, max, dy, dx),
  channelAffine: (x, scale, shift, out) =>
    anyF64(x, out, scale ?? undefined, shift ?? undefined) ? refBackend.channelAffine(x, scale, shift, out) : ew.channelAffine(x, scale, shift, out),
  channelSum: (x, y, out) => (anyF64(x, out, y ?? undefined) ? refBackend.channelSum(x, y, out) : ew.channelSum(x, y, out)),
  reduce: (op, x) => (anyF64(x) ? refBackend.reduce(op, x) : ew.reduce(op, x)),
  convert: (x, out) => (anyF64(x, out) ? refBackend.convert(x, out) : convert(x, out)),
  // a strided copy of stored values: the same code serves every dtype, float64 included
  permute,
  fft: (p) => (anyF64(p.src.re, p.dst.re) ? refBackend.fft(p) : fftPass(p)),
  // float32 on the wasm kernels, every other dtype on the reference (the same results)
  adamStep,
  // the graph kernels: wasm for float32/float16/bfloat16, float64 and mixed dtypes on the reference (graph.ts)
  gatherRows: (x, index, out) => graph.gatherRows(x, index, out),
  scatterAddRows: (src, index, out) => graph.scatterAddRows(src, index, out),
  segmentSum: (x, rowPtr, out, mean) => graph.segmentSum(x, rowPtr, out, mean),
};

let current: Backend = cpuBackend;

/** The backend that ops use. */
export function backend(): Backend {
  return current;
}

/** Replaces the backend that ops use (e.g. the reference backend in tests); returns the previous one. */
export function setBackend(b: Backend): Backend {
  const prev = current;
  current = b;
  return prev;
}

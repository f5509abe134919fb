export type { AdamStep, Backend, BinaryOp, ComplexGemmOptions, ComplexPair, GemmOptions, GeluApproximate, ReduceOp } from './backend.js';
export { cpuBackend, backend, setBackend } from './cpu.js';
export { refBackend } from './ref/index.js';
export { pool, splitRange } from './pool.js';
export type { FftPass, FftView } from './fft-pass.js';
export { makePlan, factorize, nextSmooth } from './fft-plan.js';
export { type Csr, radiusNeighbors, radiusNeighborsRef } from './neighbors.js';

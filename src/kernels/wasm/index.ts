// Entry of the single mpno kernel module: every kernel file is re-exported here.
export * from "./convert";
export * from "./gemm";
// named: elementwise.ts also exports inline vector helpers (v128 signatures) for the GEMM epilogue
export { binary, unary, unaryBackward, geluGrad, axpy } from "./elementwise";
export * from "./reduce";
export * from "./channel";
export * from "./fft";
export * from "./cgemm";
export * from "./optim";
export * from "./graph";

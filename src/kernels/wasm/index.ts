// Entry of the single mpno kernel module: every kernel file is re-exported here.
export * from "./convert";
export * from "./gemm";
export * from "./elementwise";
export * from "./reduce";
export * from "./fft";
export * from "./cgemm";

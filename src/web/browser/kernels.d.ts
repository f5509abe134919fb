// The kernel builds, embedded in the browser bundle by scripts/build-web.mjs (esbuild's binary loader).
declare module 'mpno:kernels' {
  export const simd: Uint8Array;
  export const relaxed: Uint8Array;
}

/**
 * mpno: mixed-precision neural operators in TypeScript.
 * This entry re-exports the public API, layer by layer (core → kernels → ...).
 */
export * from './core/index.js';
export * from './kernels/index.js';
export { convert } from './kernels/convert.js';
export * from './data/formats/index.js';

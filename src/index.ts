/**
 * mpno: mixed-precision neural operators in TypeScript.
 * This entry re-exports the public API, layer by layer (core → kernels → fft → autograd →
 * precision → nn → models → optim → losses → data → train).
 */
export * from './core/index.js';
export * from './kernels/index.js';
export { convert } from './kernels/convert.js';
export * from './fft/index.js';
export * from './fft/legendre.js';
export * from './fft/sht.js';
export * from './autograd/index.js';
export * from './precision/index.js';
export * from './nn/module.js';
export * from './nn/layers.js';
export * from './nn/spectral.js';
export * from './nn/spherical.js';
export * from './nn/fno-blocks.js';
export * from './nn/factorized.js';
export * from './nn/gno.js';
export * from './models/fno.js';
export * from './models/tfno.js';
export * from './models/sfno.js';
export * from './models/gino.js';
export * from './models/registry.js';
export * from './optim/index.js';
export * from './losses/index.js';
export * from './data/formats/index.js';
export * from './data/dataset.js';
export * from './data/dataset-file.js';
export * from './data/points.js';
export * from './data/generators/index.js';
export * from './train/trainer.js';
export * from './train/checkpoint.js';
export * from './train/config.js';

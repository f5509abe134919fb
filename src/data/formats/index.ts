/** File formats: PyTorch `.pt` files (read) and safetensors (read and write). */
export * from './pt.js';
export * from './safetensors.js';

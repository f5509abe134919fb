/** File formats: PyTorch `.pt` files (read), safetensors (read and write) and PNG images (write, read). */
export * from './pt.js';
export * from './safetensors.js';
export * from './png.js';

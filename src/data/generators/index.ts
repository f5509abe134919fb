/** PDE data generators. */
export * from './darcy.js';

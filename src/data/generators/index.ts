/** PDE data generators. */
export * from './darcy.js';
export * from './navier-stokes.js';
export * from './swe.js';
export * from './bodies.js';

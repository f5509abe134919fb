export * from './dtype.js';
export * from './codecs.js';
export * from './ledger.js';
export * from './arena.js';
export * from './tensor.js';
export * from './rng.js';
export * from './batch.js';

export * from './policy.js';
export * from './scaler.js';
export * from './schedule.js';
export * from './contract/index.js';
export * from './bounds.js';

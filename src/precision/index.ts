export * from './scaler.js';
export * from './schedule.js';
export * from './contract.js';
export * from './bounds.js';

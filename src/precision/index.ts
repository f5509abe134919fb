export * from './scaler.js';
export * from './schedule.js';

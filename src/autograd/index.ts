export * from './variable.js';
export * as ops from './ops.js';
export { gradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';

export { OptimizerError } from './errors.js';
export type { StateDType } from './codec.js';
export { AdamW, Adam } from './adam.js';
export type { ParamList, AdamWOptions, AdamOptions, Optimizer, OptimizerHyperparameters, OptimizerEntryState, OptimizerState } from './adam.js';
export { clipGradNorm } from './clip.js';
export type { ClipGradNormOptions } from './clip.js';
export { LRScheduler, StepLR, CosineAnnealingLR } from './scheduler.js';
export type { LrOptimizer, StepLROptions, CosineAnnealingLROptions, StepLRState, CosineAnnealingLRState, SchedulerState } from './scheduler.js';

/**
 * Every argument, state or numerical problem that an optimizer, a scheduler or clipGradNorm detects.
 * The message starts with the class and method that failed (e.g. "AdamW.step: ...") and names the
 * parameter or option at fault.
 */
export class OptimizerError extends Error {
  override name = 'OptimizerError';
}

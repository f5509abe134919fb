import type { Tensor } from '../core/tensor.js';
import { backend } from '../kernels/cpu.js';
import type { Variable } from '../autograd/variable.js';

export interface GradScalerOptions {
  initScale?: number;
  growthFactor?: number;
  backoffFactor?: number;
  growthInterval?: number;
}

export interface GradScalerState {
  scale: number;
  cleanSteps: number;
  skipped: number;
}

/**
 * Dynamic loss scaling for fp16 gradients: the loss gradient is seeded with `scale` so that small
 * activation gradients do not underflow in 16 bits; parameter gradients (f32) are unscaled before the
 * step. On any non-finite gradient the step is skipped and the scale halved; after `growthInterval`
 * clean steps it doubles. Start 2^16, ×2 after 2000 clean steps, ÷2 on overflow (PyTorch's defaults).
 */
export class GradScaler {
  scale: number;
  cleanSteps = 0;
  /** Steps skipped because a gradient was not finite. */
  skipped = 0;
  readonly growthFactor: number;
  readonly backoffFactor: number;
  readonly growthInterval: number;

  constructor(o: GradScalerOptions = {}) {
    this.scale = o.initScale ?? 2 ** 16;
    this.growthFactor = o.growthFactor ?? 2;
    this.backoffFactor = o.backoffFactor ?? 0.5;
    this.growthInterval = o.growthInterval ?? 2000;
    if (!(this.scale > 0) || !Number.isFinite(this.scale)) throw new RangeError(`GradScaler: initScale must be a positive finite number, got ${this.scale}`);
    if (!(this.growthFactor > 1)) throw new RangeError(`GradScaler: growthFactor must be > 1, got ${this.growthFactor}`);
    if (!(this.backoffFactor > 0 && this.backoffFactor < 1)) throw new RangeError(`GradScaler: backoffFactor must be in (0, 1), got ${this.backoffFactor}`);
    if (!Number.isInteger(this.growthInterval) || this.growthInterval < 1) throw new RangeError(`GradScaler: growthInterval must be a positive integer, got ${this.growthInterval}`);
  }

  /**
   * Unscales the gradients in place and reports whether all are finite. When they are not, they are
   * dropped (so nothing non-finite can reach the weights), the scale backs off and the step must be
   * skipped. Returns true when the optimizer may step.
   */
  unscaleAndCheck(params: readonly Variable[]): boolean {
    const be = backend();
    let finite = true;
    for (const p of params) {
      const g: Tensor | null = p.grad;
      if (!g) continue;
      if (be.reduce('countNonFinite', g) > 0) {
        finite = false;
        break;
      }
    }
    if (finite) {
      const inv = 1 / this.scale;
      for (const p of params) if (p.grad) be.scale(p.grad, inv, p.grad);
      // unscaling can overflow nothing (inv < 1) but can underflow to 0: that is the gradient's value
    } else {
      for (const p of params) p.zeroGrad();
    }
    this.update(finite);
    return finite;
  }

  /** Records a step (finite or skipped) and adjusts the scale. */
  update(finite: boolean): void {
    if (finite) {
      this.cleanSteps++;
      if (this.cleanSteps >= this.growthInterval) {
        const next = this.scale * this.growthFactor;
        if (Number.isFinite(next)) this.scale = next;
        this.cleanSteps = 0;
      }
    } else {
      this.skipped++;
      this.scale = Math.max(this.scale * this.backoffFactor, 2 ** -24);
      this.cleanSteps = 0;
    }
  }

  getState(): GradScalerState {
    return { scale: this.scale, cleanSteps: this.cleanSteps, skipped: this.skipped };
  }

  setState(s: GradScalerState): void {
    if (!s || !(s.scale > 0) || !Number.isInteger(s.cleanSteps) || !Number.isInteger(s.skipped)) throw new TypeError('GradScaler.setState: invalid state');
    this.scale = s.scale;
    this.cleanSteps = s.cleanSteps;
    this.skipped = s.skipped;
  }
}

import { Tensor, fmtShape, shapeEq, type Shape } from '../core/tensor.js';
import { backend } from '../kernels/cpu.js';
import { Parameter } from '../nn/module.js';
import { type StateDType, decodeFloats, encodeFloats } from './codec.js';
import { OptimizerError } from './errors.js';

/** Options of neuralop's AdamW (names and defaults as neuralop spells them). */
export interface AdamWOptions {
  /** Learning rate, ≥ 0 (default 1e-3). */
  lr?: number;
  /** Decay rates of the first and second moments, each in [0, 1) (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to √v before bias correction, ≥ 0 (default 1e-6, not PyTorch's 1e-8). */
  eps?: number;
  /** Decoupled weight decay, ≥ 0 (default 0); applied to every parameter. */
  weight_decay?: number;
  /** Fold the bias corrections into the step size (default true). */
  correct_bias?: boolean;
}

/** Options of torch.optim.Adam (the subset implemented: no amsgrad, maximize, foreach or fused). */
export interface AdamOptions {
  /** Learning rate, ≥ 0 (default 1e-3). */
  lr?: number;
  /** Each in [0, 1) (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the bias-corrected √v̂, ≥ 0 (default 1e-8). */
  eps?: number;
  /** L2 penalty added to the gradient, ≥ 0 (default 0). */
  weight_decay?: number;
}

/** Hyperparameters as stored in a state dict (correct_bias only for AdamW). */
export interface OptimizerHyperparameters {
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  correct_bias?: boolean;
}

/**
 * The state of one optimizer entry: a single parameter, or (AdamW only) the real and imaginary
 * Parameters of one complex weight, which share one second moment.
 */
export interface OptimizerEntryState {
  /** Positions in the optimizer's parameter list: [i], or [re, im] for a complex pair. */
  indices: number[];
  /** The parameters' names (informational; not checked on load). */
  names: (string | null)[];
  shape: number[];
  /** Dtype of the moment tensors (and of their serialised bytes). */
  dtype: StateDType;
  /** Steps taken by this entry (PyTorch keeps the count per parameter); 0 before its first step. */
  step: number;
  /** base64 of the first moments' bytes, one per part (re, im); null while step is 0. */
  exp_avg: string[] | null;
  /** base64 of the second moment's bytes (one, shared by a complex pair); null while step is 0. */
  exp_avg_sq: string | null;
}

/**
 * A JSON-serialisable optimizer state. Moments are the exact bytes of the state tensors (base64,
 * little-endian), so saving, JSON round-tripping and loading resume bit-identically.
 */
export interface OptimizerState {
  format: 'mpno.optimizer';
  version: 1;
  optimizer: 'AdamW' | 'Adam';
  hyperparameters: OptimizerHyperparameters;
  /** Number of Parameters in the optimizer's list. */
  param_count: number;
  entries: OptimizerEntryState[];
}

/** What trainers and schedulers need from an optimizer. */
export interface Optimizer {
  /** The current learning rate (schedulers set it). */
  lr: number;
  readonly params: readonly Parameter[];
  step(): void;
  zeroGrad(): void;
  stateDict(): OptimizerState;
  /** Restores a state from stateDict(); anything else (unknown input, e.g. a checkpoint's JSON) is checked and refused with a named error. */
  loadStateDict(state: unknown): void;
  release(): void;
}

type Floats = Float32Array | Float64Array;

/**
 * The parameters to optimise: Parameters, or (qualified name, Parameter) pairs as
 * Module.namedParameters() returns them, whose names then appear in errors and state dicts.
 */
export type ParamList = readonly Parameter[] | readonly (readonly [string, Parameter])[];

interface EntryState {
  step: number;
  /** First moments, one per part. */
  m: Tensor[];
  /** Second moment (shared by the parts). */
  v: Tensor;
}

interface Entry {
  parts: Parameter[];
  indices: number[];
  state: EntryState | null;
}

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  correctBias: boolean;
}

type Kind = 'AdamW' | 'Adam';

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkLr(op: string, lr: unknown): number {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) throw new OptimizerError(`${op}: lr must be a finite number ≥ 0, got ${String(lr)}`);
  return lr;
}

function parseHyper(op: string, kind: Kind, o: unknown, defaults: Hyper): Hyper {
  if (o !== undefined && !isRecord(o)) throw new OptimizerError(`${op}: options must be an object`);
  const r = o ?? {};
  const allowed = kind === 'AdamW' ? ['lr', 'betas', 'eps', 'weight_decay', 'correct_bias'] : ['lr', 'betas', 'eps', 'weight_decay'];
  for (const k of Object.keys(r)) {
    if (!allowed.includes(k)) throw new OptimizerError(`${op}: unknown option '${k}' (expected ${allowed.join(', ')})`);
  }
  const lr = checkLr(op, r['lr'] ?? defaults.lr);
  const betas = r['betas'] ?? [defaults.beta1, defaults.beta2];
  if (!Array.isArray(betas) || betas.length !== 2) throw new OptimizerError(`${op}: betas must be a pair of numbers, got ${JSON.stringify(betas)}`);
  betas.forEach((b: unknown, i) => {
    if (typeof b !== 'number' || !(b >= 0 && b < 1)) throw new OptimizerError(`${op}: betas[${i}] must be in [0, 1), got ${String(b)}`);
  });
  const eps = r['eps'] ?? defaults.eps;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) throw new OptimizerError(`${op}: eps must be a finite number ≥ 0, got ${String(eps)}`);
  const wd = r['weight_decay'] ?? defaults.weightDecay;
  if (typeof wd !== 'number' || !Number.isFinite(wd) || wd < 0) throw new OptimizerError(`${op}: weight_decay must be a finite number ≥ 0, got ${String(wd)}`);
  const cb = kind === 'AdamW' ? (r['correct_bias'] ?? defaults.correctBias) : true;
  if (typeof cb !== 'boolean') throw new OptimizerError(`${op}: correct_bias must be a boolean, got ${String(cb)}`);
  return { lr, beta1: betas[0] as number, beta2: betas[1] as number, eps, weightDecay: wd, correctBias: cb };
}

/**
 * The parts shared by AdamW and Adam: the parameter list (grouped into entries), lazily allocated
 * moment tensors (role 'optimizer'), the finite-gradient check, state dicts and release.
 */
abstract class AdamFamily implements Optimizer {
  readonly params: readonly Parameter[];
  private readonly names: (string | undefined)[];
  protected hyper: Hyper;
  private readonly entries: Entry[] = [];
  private released = false;

  protected constructor(
    private readonly kind: Kind,
    list: ParamList,
    opts: unknown,
    defaults: Hyper,
    pairComplex: boolean,
  ) {
    if (!Array.isArray(list) || list.length === 0) throw new OptimizerError(`${kind}: the parameter list is empty`);
    const params: Parameter[] = [];
    this.names = [];
    (list as readonly unknown[]).forEach((x: unknown, i) => {
      const named = Array.isArray(x) && x.length === 2 && typeof x[0] === 'string';
      const p: unknown = named ? (x as unknown[])[1] : x;
      if (!(p instanceof Parameter)) throw new OptimizerError(`${kind}: element ${i} of the parameter list is not a Parameter or a (name, Parameter) pair`);
      params.push(p);
      this.names.push(named ? (x as [string, Parameter])[0] : p.name);
      if (p.isReleased) throw new OptimizerError(`${kind}: parameter '${this.nameOf(i)}' was released`);
    });
    this.params = params;
    const index = new Map<Parameter, number>();
    this.params.forEach((p, i) => {
      if (index.has(p)) throw new OptimizerError(`${kind}: parameter '${this.nameOf(i)}' appears twice in the parameter list`);
      index.set(p, i);
    });
    this.hyper = parseHyper(kind, kind, opts, defaults);
    const done = new Set<number>();
    this.params.forEach((p, i) => {
      if (done.has(i)) return;
      const partner = pairComplex ? p.complexPartner : undefined;
      if (partner === undefined) {
        this.entries.push({ parts: [p], indices: [i], state: null });
        done.add(i);
        return;
      }
      const j = index.get(partner);
      if (j === undefined) {
        throw new OptimizerError(
          `${kind}: parameter '${this.nameOf(i)}' is the ${p.complexPart === 'im' ? 'imaginary' : 'real'} part of a complex weight whose other part '${partner.name ?? '?'}' is not in the parameter list`,
        );
      }
      const [re, im] = p.complexPart === 'im' ? [j, i] : [i, j];
      this.entries.push({ parts: [this.params[re]!, this.params[im]!], indices: [re, im], state: null });
      done.add(i);
      done.add(j);
    });
  }

  get lr(): number {
    return this.hyper.lr;
  }

  set lr(value: number) {
    this.hyper.lr = checkLr(`${this.kind}.lr`, value);
  }

  /** A copy of the current hyperparameters. */
  hyperparameters(): OptimizerHyperparameters {
    const h = this.hyper;
    const out: OptimizerHyperparameters = { lr: h.lr, betas: [h.beta1, h.beta2], eps: h.eps, weight_decay: h.weightDecay };
    if (this.kind === 'AdamW') out.correct_bias = h.correctBias;
    return out;
  }

  private nameOf(i: number): string {
    return this.names[i] ?? `#${i}`;
  }

  private live(op: string): void {
    if (this.released) throw new OptimizerError(`${op}: the optimizer was released`);
  }

  /** The backend's update of one entry whose step count has just been incremented (grads[k] null: zero). */
  protected abstract update(parts: readonly Tensor[], grads: readonly (Tensor | null)[], m: readonly Tensor[], v: Tensor, step: number): void;

  /**
   * One optimisation step over every parameter that has a gradient (entries without any are skipped
   * and keep their step count, as in PyTorch). All gradients are checked first: a shape mismatch or a
   * NaN/±Inf element throws an OptimizerError before any weight or state changes.
   */
  step(): void {
    const op = `${this.kind}.step`;
    this.live(op);
    const active: [Entry, (Tensor | null)[]][] = [];
    for (const e of this.entries) {
      const grads = e.parts.map((p) => p.grad);
      if (grads.every((g) => g === null)) continue;
      e.parts.forEach((p, k) => {
        const name = this.nameOf(e.indices[k]!);
        if (p.isReleased) throw new OptimizerError(`${op}: parameter '${name}' was released`);
        const g = grads[k];
        if (!g) return;
        if (!shapeEq(g.shape, p.shape)) throw new OptimizerError(`${op}: the gradient ${fmtShape(g.shape)} of parameter '${name}' does not match its shape ${fmtShape(p.shape)}`);
        const bad = backend().reduce('countNonFinite', g);
        if (bad > 0) throw new OptimizerError(`${op}: non-finite gradient in parameter '${name}' (${bad} of ${g.size} elements)`);
      });
      active.push([e, grads]);
    }
    for (const [e, grads] of active) {
      const st = (e.state ??= this.allocState(e));
      st.step++;
      this.update(e.parts.map((p) => p.value), grads, st.m, st.v, st.step);
    }
  }

  /** Drops every parameter's gradient (PyTorch's zero_grad with set_to_none). */
  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  private stateDType(e: Entry): StateDType {
    return e.parts.every((p) => p.dtype === 'float64') ? 'float64' : 'float32';
  }

  private allocState(e: Entry): EntryState {
    const dt = this.stateDType(e);
    const shape: Shape = e.parts[0]!.shape;
    const made: Tensor[] = [];
    try {
      for (let k = 0; k <= e.parts.length; k++) made.push(Tensor.zeros(shape, dt, 'optimizer'));
    } catch (err) {
      for (const t of made) t.release();
      throw err;
    }
    const v = made.pop()!;
    return { step: 0, m: made, v };
  }

  private freeState(e: Entry): void {
    if (!e.state) return;
    for (const t of e.state.m) t.release();
    e.state.v.release();
    e.state = null;
  }

  /** The hyperparameters and every entry's step count and moments, as JSON-serialisable data. */
  stateDict(): OptimizerState {
    this.live(`${this.kind}.stateDict`);
    return {
      format: 'mpno.optimizer',
      version: 1,
      optimizer: this.kind,
      hyperparameters: this.hyperparameters(),
      param_count: this.params.length,
      entries: this.entries.map((e) => ({
        indices: [...e.indices],
        names: e.indices.map((i) => this.names[i] ?? null),
        shape: [...e.parts[0]!.shape],
        dtype: this.stateDType(e),
        step: e.state?.step ?? 0,
        exp_avg: e.state ? e.state.m.map((m) => encodeFloats(m.data as Floats)) : null,
        exp_avg_sq: e.state ? encodeFloats(e.state.v.data as Floats) : null,
      })),
    };
  }

  /**
   * Restores a stateDict() (after a JSON round trip, too): hyperparameters, step counts and moments.
   * Everything is validated before anything changes; the parameter count, the complex pairing, the
   * shapes and dtypes must match this optimizer's.
   */
  loadStateDict(state: unknown): void {
    const op = `${this.kind}.loadStateDict`;
    this.live(op);
    const s = state;
    if (!isRecord(s) || s['format'] !== 'mpno.optimizer') throw new OptimizerError(`${op}: not an optimizer state (format must be 'mpno.optimizer')`);
    if (s['version'] !== 1) throw new OptimizerError(`${op}: unsupported state version ${String(s['version'])}`);
    if (s['optimizer'] !== this.kind) throw new OptimizerError(`${op}: the state is for ${String(s['optimizer'])}, not ${this.kind}`);
    const h = s['hyperparameters'];
    if (!isRecord(h)) throw new OptimizerError(`${op}: hyperparameters are missing`);
    for (const k of this.kind === 'AdamW' ? ['lr', 'betas', 'eps', 'weight_decay', 'correct_bias'] : ['lr', 'betas', 'eps', 'weight_decay']) {
      if (!(k in h)) throw new OptimizerError(`${op}: hyperparameter '${k}' is missing`);
    }
    const hyper = parseHyper(op, this.kind, h, this.hyper);
    if (s['param_count'] !== this.params.length) {
      throw new OptimizerError(`${op}: the state has ${String(s['param_count'])} parameters, this optimizer has ${this.params.length}`);
    }
    const entries = s['entries'];
    if (!Array.isArray(entries) || entries.length !== this.entries.length) {
      throw new OptimizerError(
        `${op}: the state has ${Array.isArray(entries) ? entries.length : 'no'} entries, this optimizer has ${this.entries.length} (a complex pair is one entry)`,
      );
    }
    const decoded = this.entries.map((e, j) => {
      const x: unknown = entries[j];
      const where = `${op}: entry ${j} ('${this.nameOf(e.indices[0]!)}')`;
      if (!isRecord(x)) throw new OptimizerError(`${where} is not an object`);
      const idx = x['indices'];
      if (!Array.isArray(idx) || idx.length !== e.indices.length || idx.some((v, k) => v !== e.indices[k])) {
        throw new OptimizerError(`${where} covers parameters ${JSON.stringify(idx)}, expected ${JSON.stringify(e.indices)} (the parameter list or its complex pairing differs)`);
      }
      const shape = x['shape'];
      if (!Array.isArray(shape) || !shapeEq(shape as number[], e.parts[0]!.shape)) {
        throw new OptimizerError(`${where}: the state has shape ${Array.isArray(shape) ? fmtShape(shape as number[]) : String(shape)}, the parameter has ${fmtShape(e.parts[0]!.shape)}`);
      }
      const dt = this.stateDType(e);
      if (x['dtype'] !== dt) throw new OptimizerError(`${where}: the state dtype is ${String(x['dtype'])}, expected ${dt}`);
      const step = x['step'];
      if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) throw new OptimizerError(`${where}: step must be an integer ≥ 0, got ${String(step)}`);
      const m = x['exp_avg'];
      const v = x['exp_avg_sq'];
      if (step === 0) {
        if (m !== null || v !== null) throw new OptimizerError(`${where}: step 0 must have null exp_avg and exp_avg_sq`);
        return null;
      }
      const n = e.parts[0]!.size;
      if (!Array.isArray(m) || m.length !== e.parts.length) throw new OptimizerError(`${where}: exp_avg must be a list of ${e.parts.length} base64 strings`);
      const ms = m.map((mk: unknown, k) => decodeFloats(mk, dt, n, `${where}: exp_avg[${k}]`));
      const vs = decodeFloats(v, dt, n, `${where}: exp_avg_sq`);
      ms.forEach((a, k) => {
        if (!a.every(Number.isFinite)) throw new OptimizerError(`${where}: exp_avg[${k}] has a non-finite value`);
      });
      if (!vs.every((a) => Number.isFinite(a) && a >= 0)) throw new OptimizerError(`${where}: exp_avg_sq has a negative or non-finite value`);
      return { step, ms, vs };
    });
    this.hyper = hyper;
    this.entries.forEach((e, j) => {
      const d = decoded[j];
      if (!d) {
        this.freeState(e);
        return;
      }
      const st = (e.state ??= this.allocState(e));
      st.step = d.step;
      st.m.forEach((t, k) => (t.data as Floats).set(d.ms[k]!));
      (st.v.data as Floats).set(d.vs);
    });
  }

  /** Frees the moment tensors; the optimizer cannot be used afterwards (releasing twice is a no-op). */
  release(): void {
    for (const e of this.entries) this.freeState(e);
    this.released = true;
  }
}

const ADAMW_DEFAULTS: Hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-6, weightDecay: 0, correctBias: true };
const ADAM_DEFAULTS: Hyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, correctBias: true };

/**
 * neuralop's AdamW (neuralop/training/adamw.py), per parameter with gradient g at step t:
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·|g|²;  denom ← √v + eps   (eps before bias correction)
 *   α ← lr·√(1−β2^t)/(1−β1^t)  (lr alone when correct_bias is false);  p ← p − α·m/denom
 *   then, if weight_decay > 0, p ← p − lr·weight_decay·p on the updated p (every parameter decays).
 * A complex weight held as a real and an imaginary Parameter linked by Parameter.complexPair is one
 * complex number: m is kept per part, and one v = β2·v + (1−β2)(g_re² + g_im²) per complex entry is
 * stored once and shared by both parts. Both parts must be in the parameter list.
 *
 * Arithmetic is float64; moments are stored as float32 (float64 for float64 parameters) and the
 * updated values are read back after each store, so results depend only on the stored state. The
 * update runs as the backend's adamStep (wasm f64x2 lanes for float32, bit-identical to the reference).
 */
export class AdamW extends AdamFamily {
  constructor(params: ParamList, opts: AdamWOptions = {}) {
    super('AdamW', params, opts, ADAMW_DEFAULTS, true);
  }

  protected update(parts: readonly Tensor[], grads: readonly (Tensor | null)[], m: readonly Tensor[], v: Tensor, step: number): void {
    const { lr, beta1, beta2, eps, weightDecay, correctBias } = this.hyper;
    let alpha = lr;
    if (correctBias) alpha = (alpha * Math.sqrt(1 - beta2 ** step)) / (1 - beta1 ** step);
    const decay = weightDecay > 0 ? -lr * weightDecay : 0;
    backend().adamStep({ kind: 'adamw', params: parts, grads, m, v, beta1, beta2, eps, stepSize: alpha, bc2Sqrt: 1, decay });
  }
}

/**
 * torch.optim.Adam (default single-tensor algorithm, amsgrad/maximize off), per parameter at step t:
 *   g ← g + weight_decay·p (L2, if weight_decay ≠ 0);  m ← lerp(m, g, 1−β1);  v ← β2·v + (1−β2)·g²
 *   denom ← √v/√(1−β2^t) + eps  (eps after bias correction);  p ← p − (lr/(1−β1^t))·m/denom
 * Complex weights are handled as PyTorch does through view_as_real: the real and imaginary parts are
 * independent real numbers, each with its own m and v, so complexPartner links are ignored.
 */
export class Adam extends AdamFamily {
  constructor(params: ParamList, opts: AdamOptions = {}) {
    super('Adam', params, opts, ADAM_DEFAULTS, false);
  }

  protected update(parts: readonly Tensor[], grads: readonly (Tensor | null)[], m: readonly Tensor[], v: Tensor, step: number): void {
    const { lr, beta1, beta2, eps, weightDecay } = this.hyper;
    const stepSize = lr / (1 - beta1 ** step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
    backend().adamStep({ kind: 'adam', params: parts, grads, m, v, beta1, beta2, eps, stepSize, bc2Sqrt, decay: weightDecay });
  }
}

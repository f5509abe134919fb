import { Tensor, fmtShape, shapeEq } from '../core/tensor.js';
import { Variable } from '../autograd/variable.js';
import { backend } from '../kernels/cpu.js';

/** A trainable leaf: its value is counted as 'parameter' memory and it is never released by tidy(). */
export class Parameter extends Variable {
  /**
   * For complex weights stored as a real and an imaginary Parameter: the other half. Optimizers use
   * it to treat the pair as one complex number (neuralop's AdamW keeps one |g|² per complex weight).
   */
  complexPartner: Parameter | undefined;
  complexPart: 're' | 'im' | undefined;

  constructor(value: Tensor, name?: string) {
    if (value.role !== 'parameter') value.setRole('parameter');
    super(value, { requiresGrad: true, untracked: true, ...(name !== undefined ? { name } : {}) });
  }

  /** Links two Parameters as the real and imaginary parts of one complex weight. */
  static complexPair(re: Parameter, im: Parameter): void {
    if (!shapeEq(re.shape, im.shape)) throw new RangeError(`complexPair: parts ${fmtShape(re.shape)} and ${fmtShape(im.shape)} differ`);
    re.complexPartner = im;
    re.complexPart = 're';
    im.complexPartner = re;
    im.complexPart = 'im';
  }
}

/**
 * Base class of layers and models (PyTorch-style): named parameters and child modules registered in
 * order, train/eval mode, a state dict, and explicit release of every parameter's memory.
 */
export abstract class Module {
  training = true;
  private readonly params = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();

  protected registerParameter(name: string, p: Parameter): Parameter {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
    this.params.set(name, p);
    p.name ??= name;
    return p;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    if (this.params.has(name) || this.children.has(name)) throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
    this.children.set(name, m);
    return m;
  }

  /** (qualified name, parameter) pairs, depth first in registration order. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [n, p] of this.params) out.push([prefix + n, p]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix.replace(/\.$/, ''), this]];
    for (const [n, m] of this.children) out.push(...m.namedModules(`${prefix}${n}.`));
    return out;
  }

  /** Number of real parameters (a complex weight counts as 2: its real and imaginary parts). */
  numParameters(): number {
    return this.parameters().reduce((a, p) => a + p.size, 0);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /**
   * Copies of the parameters by qualified name, in neuralop's layout (modules whose stored layout
   * differs, e.g. complex spectral weights, convert). The caller owns and releases the copies.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, m] of this.namedModules()) {
      const prefix = name === '' ? '' : `${name}.`;
      for (const [k, t] of m.exportOwnState()) out.set(prefix + k, t);
    }
    return out;
  }

  /** Copies of this module's own (not its children's) tensors, by local name. */
  protected exportOwnState(): [string, Tensor][] {
    return [...this.params].map(([n, p]) => [n, p.value.clone('data')] as [string, Tensor]);
  }

  /** Loads this module's own tensors from `state` (names without prefix); returns the names used. */
  protected importOwnState(state: Map<string, Tensor>): string[] {
    const used: string[] = [];
    for (const [n, p] of this.params) {
      const t = state.get(n);
      if (!t) continue;
      copyInto(p.value, t, n);
      used.push(n);
    }
    return used;
  }

  /**
   * Other local names this module's own tensors may carry in a state dict (alias → name), e.g. the
   * names neuralop's PyTorch modules give them. Loading accepts either; the state dict uses the name.
   */
  protected stateAliases(): Readonly<Record<string, string>> {
    return {};
  }

  /** Every state-dict alias of the model, qualified (alias → state-dict name), e.g. neuralop's names. */
  stateAliasMap(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, m] of this.namedModules()) {
      const prefix = name === '' ? '' : `${name}.`;
      for (const [alias, local] of Object.entries(m.stateAliases())) if (alias !== local) out.set(prefix + alias, prefix + local);
    }
    return out;
  }

  /**
   * Copies tensors into the parameters (converting dtype); strict: every name must match. Names may
   * be a module's aliases (see stateAliases), so neuralop's own state dicts load as they are.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, strict = true): void {
    const all = state instanceof Map ? state : new Map(Object.entries(state));
    const loaded = new Set<string>(); // names of this model's state dict that were loaded
    const consumed = new Set<string>(); // keys of `state` that were used
    for (const [name, m] of this.namedModules()) {
      const prefix = name === '' ? '' : `${name}.`;
      const own = new Map<string, Tensor>();
      for (const [k, t] of all) {
        if (!k.startsWith(prefix)) continue;
        const rest = k.slice(prefix.length);
        if (!rest.includes('.')) own.set(rest, t);
      }
      const keyOf = new Map<string, string>();
      for (const [alias, local] of Object.entries(m.stateAliases())) {
        const t = all.get(prefix + alias);
        if (!t) continue;
        if (own.has(local)) throw new Error(`loadStateDict: both '${prefix}${local}' and its alias '${prefix}${alias}' are given`);
        own.set(local, t);
        keyOf.set(local, prefix + alias);
      }
      for (const k of m.importOwnState(own)) {
        loaded.add(prefix + k);
        consumed.add(keyOf.get(k) ?? prefix + k);
      }
    }
    if (strict) {
      const sd = this.stateDict();
      const expected = new Set(sd.keys());
      for (const t of sd.values()) t.release();
      const missing = [...expected].filter((k) => !loaded.has(k));
      const unexpected = [...all.keys()].filter((k) => !consumed.has(k) && !expected.has(k));
      if (missing.length || unexpected.length) {
        throw new Error(`loadStateDict: ${missing.length ? `missing ${missing.join(', ')}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected ${unexpected.join(', ')}` : ''}`);
      }
    }
  }

  /** Releases every parameter (the module cannot be used afterwards). */
  release(): void {
    for (const p of this.parameters()) p.release();
  }
}

/** Copies src into dst (same shape; dtype converted), naming `what` in errors. */
export function copyInto(dst: Tensor, src: Tensor, what: string): void {
  if (!shapeEq(dst.shape, src.shape)) throw new RangeError(`loadStateDict: '${what}' has shape ${fmtShape(src.shape)}, expected ${fmtShape(dst.shape)}`);
  if (src.dtype === dst.dtype) (dst.data as Float32Array).set(src.data as Float32Array);
  else backend().convert(src, dst);
}

/**
 * Checks that checkpoint weights have the names and shapes of a model's parameters, naming the first
 * one that differs with its qualified name; `source` says where the model's config came from.
 */
export function checkWeightsFit(model: Module, weights: Record<string, Tensor>, checkpoint: string, source: string): void {
  const expected = model.stateDict();
  try {
    const hint = `the checkpoint and ${source} describe different models`;
    for (const [name, t] of expected) {
      const w = weights[name];
      if (w === undefined) throw new RangeError(`${checkpoint}: the checkpoint has no '${name}' (${fmtShape(t.shape)}), which the model built from ${source} has; ${hint}`);
      if (fmtShape(w.shape) !== fmtShape(t.shape)) {
        throw new RangeError(`${checkpoint}: '${name}' has shape ${fmtShape(w.shape)} in the checkpoint, but the model built from ${source} expects ${fmtShape(t.shape)}; ${hint}`);
      }
    }
    const extra = Object.keys(weights).filter((k) => !expected.has(k));
    if (extra.length) throw new RangeError(`${checkpoint}: the checkpoint has '${extra[0]}', which the model built from ${source} lacks; ${hint}`);
  } finally {
    for (const t of expected.values()) t.release();
  }
}

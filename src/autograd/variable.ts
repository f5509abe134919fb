import type { DType } from '../core/dtype.js';
import type { Role } from '../core/ledger.js';
import { Tensor, fmtShape, shapeEq, type Shape } from '../core/tensor.js';
import { backend } from '../kernels/cpu.js';

/** The backward of one recorded op. */
export interface GradFn {
  readonly name: string;
  /** The op's inputs, in order (null for inputs that are not Variables). */
  readonly inputs: readonly (Variable | null)[];
  /**
   * Gradients with respect to each input (null where `needs[i]` is false). Returned tensors are new
   * (owned by the caller); `grad` is not released by the callee. `acc[i]` is the gradient already
   * accumulated for input i from its other users (null if none yet, or for a leaf): a backward may add
   * its gradient into that tensor in place and return it, instead of a new tensor that the caller
   * would then add (one pass less).
   */
  backward(grad: Tensor, needs: readonly boolean[], acc: readonly (Tensor | null)[]): (Tensor | null)[];
  /** Releases the tensors saved for backward (called once, right after backward, or on dispose). */
  release(): void;
}

let gradEnabled = true;

/** Whether ops record a graph now. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording a graph (inference, evaluation, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

const scopes: Variable[][] = [];

/**
 * Runs fn and releases the values of every Variable created inside it, except the ones it returns
 * (a Variable, or an array / plain object of Variables), which move to the enclosing scope. Tensors
 * saved for backward survive as views, so `backward()` can still run on a returned loss.
 */
export function tidy<T>(fn: () => T): T {
  scopes.push([]);
  let result: T;
  let created: Variable[];
  try {
    result = fn();
  } finally {
    created = scopes.pop()!;
  }
  const keep = new Set<Variable>();
  const collect = (x: unknown): void => {
    if (x instanceof Variable) keep.add(x);
    else if (Array.isArray(x)) x.forEach(collect);
    else if (x !== null && typeof x === 'object' && Object.getPrototypeOf(x) === Object.prototype) Object.values(x).forEach(collect);
  };
  collect(result);
  const parent = scopes[scopes.length - 1];
  for (const v of created) {
    if (keep.has(v)) parent?.push(v);
    else v.release();
  }
  return result;
}

export interface VariableOptions {
  requiresGrad?: boolean;
  gradFn?: GradFn | null;
  name?: string;
  /** Not owned by the enclosing tidy() scope (parameters, buffers). */
  untracked?: boolean;
}

/**
 * A tensor in the autograd graph: a value, an optional gradient and the op that made it.
 * Leaves with requiresGrad (parameters) accumulate `.grad` in backward().
 */
export class Variable {
  value: Tensor;
  grad: Tensor | null = null;
  requiresGrad: boolean;
  gradFn: GradFn | null;
  name: string | undefined;
  private released = false;

  constructor(value: Tensor, opts: VariableOptions = {}) {
    this.value = value;
    this.gradFn = opts.gradFn ?? null;
    this.requiresGrad = opts.requiresGrad ?? this.gradFn !== null;
    this.name = opts.name;
    if (!opts.untracked) scopes[scopes.length - 1]?.push(this);
  }

  /**
   * A constant (no gradient) over a tensor the caller keeps owning: the Variable holds a view, so
   * releasing it (or its tidy scope ending) leaves the caller's tensor alive.
   */
  static constant(value: Tensor): Variable {
    return new Variable(value.reshape(value.shape), { requiresGrad: false });
  }

  get shape(): Shape {
    return this.value.shape;
  }

  get dtype(): DType {
    return this.value.dtype;
  }

  get size(): number {
    return this.value.size;
  }

  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  get isReleased(): boolean {
    return this.released;
  }

  item(): number {
    return this.value.item();
  }

  /** Releases the value (and the gradient). Releasing twice is a no-op for Variables. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.value.release();
    this.zeroGrad();
  }

  /** Drops the accumulated gradient. */
  zeroGrad(): void {
    this.grad?.release();
    this.grad = null;
  }

  toString(): string {
    return `Variable(${fmtShape(this.shape)}, ${this.dtype}${this.gradFn ? `, grad_fn=${this.gradFn.name}` : ''})`;
  }
}

/**
 * Keeps a tensor for backward: a view of the same storage, so it outlives the forward Variable.
 * Op outputs are allocated with role 'activation', so what a graph keeps alive shows in the ledger
 * as activations; a leaf's value (parameter, data) keeps its own role.
 */
export function save(t: Tensor): Tensor {
  return t.reshape(t.shape);
}

/** Records an op: returns a Variable for `value` that backpropagates through `backward`. */
export function record(
  name: string,
  inputs: readonly (Variable | null)[],
  value: Tensor,
  backward: (grad: Tensor, needs: readonly boolean[], acc: readonly (Tensor | null)[]) => (Tensor | null)[],
  saved: readonly Tensor[] = [],
): Variable {
  const needed = gradEnabled && inputs.some((v) => v !== null && v.requiresGrad);
  if (!needed) {
    for (const t of saved) t.release();
    return new Variable(value);
  }
  let live = true;
  const fn: GradFn = {
    name,
    inputs,
    backward,
    release: () => {
      if (!live) return;
      live = false;
      // a backward may release a saved tensor as soon as it has used it (there is no second backward)
      for (const t of saved) if (!t.isReleased) t.release();
    },
  };
  return new Variable(value, { gradFn: fn, requiresGrad: true });
}

function accumulate(into: Tensor | null, g: Tensor, role: Role, dtype: DType): Tensor {
  if (into === null) {
    if (g.dtype === dtype) {
      // only the ledger label differs: relabel the gradient's own storage instead of copying it
      if (g.role !== role && !g.isShared) g.setRole(role);
      if (g.role === role) return g;
    }
    const t = Tensor.empty(g.shape, dtype, role);
    backend().convert(g, t);
    g.release();
    return t;
  }
  if (!shapeEq(into.shape, g.shape)) throw new Error(`backward: gradient ${fmtShape(g.shape)} does not match ${fmtShape(into.shape)}`);
  backend().binary('add', into, g, into);
  g.release();
  return into;
}

/** Post-order of the non-leaf Variables reachable from root (inputs before users). */
function topo(root: Variable): Variable[] {
  const order: Variable[] = [];
  const seen = new Set<Variable>();
  const stack: [Variable, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [v, i] = top;
    const inputs = v.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const u = inputs[i];
      if (u && u.gradFn && !seen.has(u)) {
        seen.add(u);
        stack.push([u, 0]);
      }
    } else {
      stack.pop();
      if (v.gradFn) order.push(v);
    }
  }
  return order;
}

/**
 * Reverse-mode differentiation from `root` (a scalar unless `grad` is given). Leaf Variables with
 * requiresGrad accumulate into `.grad` (kept in their own dtype, float32 for parameters); every
 * node's saved tensors are released as soon as its backward has run, and the graph is freed.
 */
export function backward(root: Variable, grad?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward: the root does not require grad (no parameter or input with requiresGrad reaches it)');
  if (!grad && root.size !== 1) throw new Error(`backward: a non-scalar root ${fmtShape(root.shape)} needs an explicit gradient`);
  if (grad && !shapeEq(grad.shape, root.shape)) throw new Error(`backward: gradient ${fmtShape(grad.shape)} does not match the root ${fmtShape(root.shape)}`);
  const seed = grad ? grad.clone('gradient') : Tensor.full(root.shape, 1, root.dtype, 'gradient');
  if (root.isLeaf) {
    root.grad = accumulate(root.grad, seed, 'gradient', root.dtype);
    return;
  }
  const grads = new Map<Variable, Tensor>([[root, seed]]);
  const order = topo(root);
  noGrad(() => {
    for (let k = order.length - 1; k >= 0; k--) {
      const v = order[k]!;
      const fn = v.gradFn!;
      const g = grads.get(v);
      grads.delete(v);
      if (g) {
        const needs = fn.inputs.map((u) => u !== null && u.requiresGrad);
        // an input used twice by this op gets no in-place accumulation (both gradients would add into one tensor)
        const acc = fn.inputs.map((u, i) => (u && u.gradFn && needs[i] && fn.inputs.indexOf(u) === fn.inputs.lastIndexOf(u) ? grads.get(u) ?? null : null));
        let gs: (Tensor | null)[];
        try {
          gs = fn.backward(g, needs, acc);
        } finally {
          g.release();
        }
        fn.inputs.forEach((u, i) => {
          const gi = gs[i];
          if (!gi) return;
          if (!u || !needs[i]) {
            gi.release();
            return;
          }
          // added in place by the op (acc[i] stays the accumulated gradient)
          if (gi === acc[i]) return;
          if (u.gradFn) grads.set(u, accumulate(grads.get(u) ?? null, gi, 'gradient', gi.dtype));
          else u.grad = accumulate(u.grad, gi, 'gradient', u.dtype === 'float64' ? 'float64' : 'float32');
        });
      }
      fn.release();
      v.gradFn = null;
    }
  });
  for (const g of grads.values()) g.release();
}

/** Frees a graph that will not be differentiated (releases every node's saved tensors). */
export function disposeGraph(root: Variable): void {
  for (const v of topo(root)) {
    v.gradFn!.release();
    v.gradFn = null;
  }
}

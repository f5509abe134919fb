import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ledger } from '../../src/core/ledger.js';
import { Tensor } from '../../src/core/tensor.js';
import { Parameter } from '../../src/nn/module.js';
import {
  Adam,
  AdamW,
  CosineAnnealingLR,
  OptimizerError,
  StepLR,
  clipGradNorm,
  type Optimizer,
  type OptimizerState,
  type SchedulerState,
} from '../../src/optim/index.js';

// ---------------------------------------------------------------------------------------------
// helpers

function param(values: readonly number[], name: string, shape: readonly number[] = [values.length]): Parameter {
  return new Parameter(Tensor.fromArray(values, shape, 'float32'), name);
}

function pair(re: readonly number[], im: readonly number[], name: string): [Parameter, Parameter] {
  const a = param(re, `${name}.re`);
  const b = param(im, `${name}.im`);
  Parameter.complexPair(a, b);
  return [a, b];
}

function setGrad(p: Parameter, values: ArrayLike<number> | null): void {
  p.zeroGrad();
  if (values) p.grad = Tensor.fromArray(values, p.shape, 'float32', 'gradient');
}

function vals(p: Parameter): number[] {
  return Array.from(p.value.data as Float32Array);
}

/** A deterministic gradient for parameter `k` at step `t` (independent of the parameter values). */
function gradOf(t: number, k: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => 0.8 * Math.sin(1.7 * i + 0.9 * t + 1.3 * k) + 0.3 * Math.cos(0.4 * i * k + t));
}

const f32 = (xs: readonly number[]): number[] => xs.map((x) => Math.fround(x));

function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
}

function throwsNamed(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof OptimizerError, `expected an OptimizerError, got ${String(e)}`);
    assert.equal(e.name, 'OptimizerError');
    assert.match(e.message, re);
    return true;
  });
}

function releaseAll(...ps: Parameter[]): void {
  for (const p of ps) p.release();
}

// ---------------------------------------------------------------------------------------------
// independent float64 references

/** A complex number as [re, im]. */
type C = [number, number];
const cadd = (a: C, b: C): C => [a[0] + b[0], a[1] + b[1]];
const cscale = (s: number, a: C): C => [s * a[0], s * a[1]];
const cmul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
const conj = (a: C): C => [a[0], -a[1]];

/**
 * neuralop's AdamW written over complex numbers (a real parameter is a complex one with zero
 * imaginary parts): v accumulates g·conj(g), which is real. With `separate`, the real and imaginary
 * parts get their own v instead (what torch.optim.AdamW does to complex parameters).
 */
class RefAdamW {
  m: C[][];
  v: C[][];
  vIm: number[][];
  step: number[];
  constructor(
    public p: C[][],
    private h: { lr: number; b1: number; b2: number; eps: number; wd: number },
    private separate = false,
  ) {
    this.m = p.map((x) => x.map((): C => [0, 0]));
    this.v = p.map((x) => x.map((): C => [0, 0]));
    this.vIm = p.map((x) => x.map(() => 0));
    this.step = p.map(() => 0);
  }

  update(grads: (C[] | null)[]): void {
    const { lr, b1, b2, eps, wd } = this.h;
    grads.forEach((g, k) => {
      if (!g) return;
      const t = ++this.step[k]!;
      const alpha = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
      this.p[k] = this.p[k]!.map((p, i) => {
        const gi = g[i]!;
        this.m[k]![i] = cadd(cscale(b1, this.m[k]![i]!), cscale(1 - b1, gi));
        let q: C;
        if (!this.separate) {
          this.v[k]![i] = cadd(cscale(b2, this.v[k]![i]!), cscale(1 - b2, cmul(gi, conj(gi))));
          const denom = Math.sqrt(this.v[k]![i]![0]) + eps;
          q = cadd(p, cscale(-alpha / denom, this.m[k]![i]!));
        } else {
          this.v[k]![i]![0] = b2 * this.v[k]![i]![0] + (1 - b2) * gi[0] * gi[0];
          this.vIm[k]![i] = b2 * this.vIm[k]![i]! + (1 - b2) * gi[1] * gi[1];
          q = [p[0] - (alpha * this.m[k]![i]![0]) / (Math.sqrt(this.v[k]![i]![0]) + eps), p[1] - (alpha * this.m[k]![i]![1]) / (Math.sqrt(this.vIm[k]![i]!) + eps)];
        }
        return wd > 0 ? cscale(1 - lr * wd, q) : q;
      });
    });
  }
}

/** torch.optim.Adam as its documentation writes the algorithm (bias-corrected m̂ and v̂), in float64. */
function refAdamStep(p: number[], g0: number[], m: number[], v: number[], t: number, h: { lr: number; b1: number; b2: number; eps: number; wd: number }): void {
  for (let i = 0; i < p.length; i++) {
    const g = g0[i]! + h.wd * p[i]!;
    m[i] = h.b1 * m[i]! + (1 - h.b1) * g;
    v[i] = h.b2 * v[i]! + (1 - h.b2) * g * g;
    const mHat = m[i]! / (1 - h.b1 ** t);
    const vHat = v[i]! / (1 - h.b2 ** t);
    p[i] = p[i]! - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
  }
}

// ---------------------------------------------------------------------------------------------

describe('AdamW (neuralop)', () => {
  it('matches a float64 reimplementation over several steps with weight decay, a skipped gradient and a complex pair sharing v', () => {
    const w0 = [0.5, -1.25, 2, 0.1, -0.7];
    const b0 = [0.05, -0.2, 0.3];
    const re0 = [1, -0.5, 0.25, 0.8];
    const im0 = [-0.3, 0.9, 0.6, -1.1];
    const w = param(w0, 'w');
    const b = param(b0, 'b');
    const [zr, zi] = pair(re0, im0, 'z');
    const h = { lr: 0.01, b1: 0.9, b2: 0.99, eps: 1e-6, wd: 0.1 };
    const opt = new AdamW([w, b, zr, zi], { lr: h.lr, betas: [h.b1, h.b2], weight_decay: h.wd });
    const start: C[][] = [w0, b0].map((x) => f32(x).map((r): C => [r, 0]));
    start.push(f32(re0).map((r, i): C => [r, Math.fround(im0[i]!)]));
    const ref = new RefAdamW(start.map((x) => x.map((c): C => [...c])), h);
    const sep = new RefAdamW(start.map((x) => x.map((c): C => [...c])), h, true);
    const steps = 6;
    for (let t = 0; t < steps; t++) {
      const gw = gradOf(t, 0, 5);
      const gb = t === 3 ? null : gradOf(t, 1, 3); // b has no gradient at step 3: skipped, no decay, no step count
      const gre = gradOf(t, 2, 4);
      const gim = gradOf(t, 3, 4).map((x) => 1.5 * x);
      setGrad(w, gw);
      setGrad(b, gb);
      setGrad(zr, gre);
      setGrad(zi, gim);
      const bBefore = vals(b);
      opt.step();
      if (gb === null) assert.deepEqual(vals(b), bBefore, 'a parameter without gradient is untouched');
      const grads = [gw, gb, null].map((g) => g && g.map((x): C => [x, 0]));
      grads[2] = gre.map((x, i): C => [x, gim[i]!]);
      ref.update(grads);
      sep.update(grads.map((g) => g && g.map((c): C => [Math.fround(c[0]), Math.fround(c[1])])));
    }
    const got = [vals(w), vals(b), vals(zr), vals(zi)];
    const want = [ref.p[0]!.map((c) => c[0]), ref.p[1]!.map((c) => c[0]), ref.p[2]!.map((c) => c[0]), ref.p[2]!.map((c) => c[1])];
    const tol = 2e-6;
    got.forEach((g, k) => assert.ok(maxAbsDiff(g, want[k]!) < tol, `parameter ${k}: ${maxAbsDiff(g, want[k]!)}`));
    // real parameters stay real in the complex reference
    for (const k of [0, 1]) assert.ok(ref.p[k]!.every((c) => c[1] === 0));
    // treating re and im separately (torch.optim.AdamW's view_as_real) gives a clearly different result
    const sepZ = [...sep.p[2]!.map((c) => c[0]), ...sep.p[2]!.map((c) => c[1])];
    const diff = maxAbsDiff([...got[2]!, ...got[3]!], sepZ);
    assert.ok(diff > 100 * tol, `shared and separate second moments differ by only ${diff}`);
    // per-entry step counts and the one shared v of the pair
    const st = opt.stateDict();
    assert.deepEqual(st.entries.map((e) => [e.indices, e.step, e.exp_avg?.length]), [[[0], 6, 1], [[1], 5, 1], [[2, 3], 6, 2]]);
    assert.deepEqual(st.hyperparameters, { lr: 0.01, betas: [0.9, 0.99], eps: 1e-6, weight_decay: 0.1, correct_bias: true });
    opt.release();
    releaseAll(w, b, zr, zi);
  });

  it('has neuralop defaults (lr 1e-3, betas 0.9/0.999, eps 1e-6, no decay, bias correction) and correct_bias=false uses lr as step size', () => {
    const p = param([1], 'p');
    const opt = new AdamW([p]);
    assert.deepEqual(opt.hyperparameters(), { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-6, weight_decay: 0, correct_bias: true });
    // one step with g: m = 0.1 g, v = 0.001 g², α = lr·√0.001/0.1, so p − lr·g/(|g| + eps/√0.001)
    setGrad(p, [2e-3]);
    opt.step();
    const g = Math.fround(2e-3);
    const expect = 1 - (1e-3 * Math.sqrt(1 - 0.999) / (1 - 0.9)) * ((0.1 * g) / (Math.sqrt(0.001 * g * g) + 1e-6));
    assert.equal(vals(p)[0], Math.fround(expect));
    // eps before bias correction: eps = 1e-8 in the same place would give a different value
    const withTorchEps = 1 - 1e-3 * (g / (g + 1e-8 / Math.sqrt(0.001)));
    assert.notEqual(vals(p)[0], Math.fround(withTorchEps));
    opt.release();
    const q = param([1], 'q');
    const nb = new AdamW([q], { lr: 0.1, correct_bias: false });
    setGrad(q, [0.5]);
    nb.step();
    const gq = 0.5;
    assert.equal(vals(q)[0], Math.fround(1 - 0.1 * ((0.1 * gq) / (Math.sqrt(0.001 * gq * gq) + 1e-6))));
    nb.release();
    releaseAll(p, q);
  });

  it('treats a complex pair the same whichever part comes first in the list', () => {
    const run = (order: 're-im' | 'im-re'): number[] => {
      const [zr, zi] = pair([0.3, -0.4], [0.7, 0.1], 'z');
      const opt = new AdamW(order === 're-im' ? [zr, zi] : [zi, zr], { lr: 0.05, weight_decay: 0.01 });
      for (let t = 0; t < 4; t++) {
        setGrad(zr, gradOf(t, 0, 2));
        setGrad(zi, gradOf(t, 1, 2));
        opt.step();
      }
      const out = [...vals(zr), ...vals(zi)];
      assert.deepEqual(opt.stateDict().entries.map((e) => e.indices), [order === 're-im' ? [0, 1] : [1, 0]]);
      opt.release();
      releaseAll(zr, zi);
      return out;
    };
    assert.deepEqual(run('im-re'), run('re-im'));
  });

  it('allocates its state lazily with role optimizer (one shared v per complex pair) and release() frees it', () => {
    const w = param([1, 2, 3, 4, 5, 6], 'w', [2, 3]);
    const [zr, zi] = pair([1, 2, 3, 4], [5, 6, 7, 8], 'z');
    const before = ledger.snapshot().byRole.optimizer.live;
    const opt = new AdamW([w, zr, zi]);
    assert.equal(ledger.snapshot().byRole.optimizer.live, before);
    setGrad(w, [1, 1, 1, 1, 1, 1]);
    setGrad(zr, [1, 1, 1, 1]);
    setGrad(zi, [1, 1, 1, 1]);
    opt.step();
    // w: m and v (2·6 floats); pair: m_re, m_im and one v (3·4 floats)
    assert.equal(ledger.snapshot().byRole.optimizer.live - before, 4 * (2 * 6 + 3 * 4));
    opt.release();
    assert.equal(ledger.snapshot().byRole.optimizer.live, before);
    throwsNamed(() => opt.step(), /^AdamW\.step: the optimizer was released/);
    // zeroGrad drops gradients
    const opt2 = new AdamW([w]);
    opt2.zeroGrad();
    assert.equal(w.grad, null);
    opt2.release();
    releaseAll(w, zr, zi);
  });
  it('updates float16 parameters through float64 (one rounding into float16) and keeps float64 state for float64 parameters', () => {
    const h = new Parameter(Tensor.fromArray([0.3, -1.7, 2.2], [3], 'float16'), 'h');
    const start = h.value.toArray();
    const opt = new AdamW([h], { lr: 0.01 });
    const g = [0.5, -0.25, 1e-3];
    h.grad = Tensor.fromArray(g, [3], 'float32', 'gradient');
    opt.step();
    const a = (0.01 * Math.sqrt(1 - 0.999)) / (1 - 0.9);
    const want = start.map((p, i) => {
      const gi = Math.fround(g[i]!);
      const m = Math.fround(0.1 * gi);
      const v = Math.fround(0.001 * gi * gi);
      return p - a * (m / (Math.sqrt(v) + 1e-6));
    });
    const wantT = Tensor.fromArray(want, [3], 'float16');
    assert.deepEqual(Array.from(h.value.data as Uint16Array), Array.from(wantT.data as Uint16Array));
    assert.notDeepEqual(h.value.toArray(), start);
    assert.equal(opt.stateDict().entries[0]!.dtype, 'float32');
    opt.release();
    wantT.release();
    const d = new Parameter(Tensor.fromArray([1, 2], [2], 'float64'), 'd');
    const before = ledger.snapshot().byRole.optimizer.live;
    const opt64 = new AdamW([d]);
    d.grad = Tensor.fromArray([0.1, 0.2], [2], 'float64', 'gradient');
    opt64.step();
    assert.equal(ledger.snapshot().byRole.optimizer.live - before, 2 * 2 * 8);
    assert.equal(opt64.stateDict().entries[0]!.dtype, 'float64');
    opt64.release();
    releaseAll(h, d);
  });
});

describe('Adam (torch.optim.Adam)', () => {
  it('matches the PyTorch formulas (L2 decay in the gradient, eps after bias correction) and treats complex parts as independent reals', () => {
    const h = { lr: 0.02, b1: 0.85, b2: 0.995, eps: 1e-8, wd: 0.05 };
    const a0 = [0.4, -1.2, 0.9];
    const re0 = [0.2, -0.6];
    const im0 = [1.1, 0.3];
    const a = param(a0, 'a');
    const [zr, zi] = pair(re0, im0, 'z');
    const opt = new Adam([a, zr, zi], { lr: h.lr, betas: [h.b1, h.b2], eps: h.eps, weight_decay: h.wd });
    const ref = [f32(a0), f32(re0), f32(im0)];
    const m = ref.map((x) => x.map(() => 0));
    const v = ref.map((x) => x.map(() => 0));
    // the same parameters as plain, unlinked reals: view_as_real semantics give bit-identical results
    const plain = [param(a0, 'a'), param(re0, 're'), param(im0, 'im')];
    const opt2 = new Adam(plain, { lr: h.lr, betas: [h.b1, h.b2], eps: h.eps, weight_decay: h.wd });
    const ps = [a, zr, zi];
    for (let t = 1; t <= 7; t++) {
      ps.forEach((p, k) => {
        const g = gradOf(t, k, p.size);
        setGrad(p, g);
        setGrad(plain[k]!, g);
        refAdamStep(ref[k]!, f32(g), m[k]!, v[k]!, t, h);
      });
      opt.step();
      opt2.step();
    }
    ps.forEach((p, k) => assert.ok(maxAbsDiff(vals(p), ref[k]!) < 2e-6, `parameter ${k}: ${maxAbsDiff(vals(p), ref[k]!)}`));
    ps.forEach((p, k) => assert.deepEqual(vals(p), vals(plain[k]!)));
    assert.deepEqual(opt.stateDict().entries.map((e) => e.indices), [[0], [1], [2]]);
    assert.deepEqual(opt.hyperparameters(), { lr: 0.02, betas: [0.85, 0.995], eps: 1e-8, weight_decay: 0.05 });
    assert.equal(new Adam([a]).hyperparameters().eps, 1e-8);
    opt.release();
    opt2.release();
    releaseAll(a, zr, zi, ...plain);
  });

  it('differs from AdamW on the same problem (L2 vs decoupled decay, eps placement)', () => {
    const run = (make: (ps: Parameter[]) => Optimizer): number[] => {
      const p = param([1, -2, 0.5], 'p');
      const opt = make([p]);
      for (let t = 0; t < 3; t++) {
        setGrad(p, gradOf(t, 0, 3).map((x) => 1e-4 * x));
        opt.step();
      }
      opt.release();
      const out = vals(p);
      p.release();
      return out;
    };
    const adam = run((ps) => new Adam(ps, { lr: 0.01, weight_decay: 0.1 }));
    const adamw = run((ps) => new AdamW(ps, { lr: 0.01, weight_decay: 0.1 }));
    assert.ok(maxAbsDiff(adam, adamw) > 1e-4, `${adam} vs ${adamw}`);
  });
});

describe('optimisation', () => {
  it('AdamW with a cosine schedule minimises a quadratic with real and complex parameters', () => {
    const c = [1.5, -2, 0.25, 3];
    const cz: C[] = [[0.5, -1], [-2, 0.75]];
    const x = param([0, 0, 0, 0], 'x');
    const [zr, zi] = pair([0, 0], [0, 0], 'z');
    const wts = [1, 10, 0.1, 3];
    const loss = (): number => {
      const xv = vals(x);
      const zv = [vals(zr), vals(zi)];
      let l = 0;
      xv.forEach((xi, i) => (l += wts[i]! * (xi - c[i]!) ** 2));
      cz.forEach(([cr, ci], i) => (l += (zv[0]![i]! - cr) ** 2 + (zv[1]![i]! - ci) ** 2));
      return l;
    };
    const opt = new AdamW([x, zr, zi], { lr: 0.1 });
    const sched = new CosineAnnealingLR(opt, { T_max: 400 });
    const l0 = loss();
    for (let it = 0; it < 400; it++) {
      setGrad(x, vals(x).map((xi, i) => 2 * wts[i]! * (xi - c[i]!)));
      setGrad(zr, vals(zr).map((r, i) => 2 * (r - cz[i]![0])));
      setGrad(zi, vals(zi).map((m, i) => 2 * (m - cz[i]![1])));
      opt.step();
      sched.step();
    }
    const l1 = loss();
    assert.ok(l1 < 1e-6 * l0, `loss ${l0} → ${l1}`);
    opt.release();
    releaseAll(x, zr, zi);
  });
});

describe('state dicts', () => {
  /** Runs `n` steps of AdamW + CosineAnnealingLR from fixed parameters; gradients depend on the parameters. */
  function setup(): { ps: Parameter[]; opt: AdamW; sched: CosineAnnealingLR } {
    const [zr, zi] = pair([0.3, -0.2, 0.9], [0.1, 0.4, -0.6], 'z');
    const ps = [param([1, -0.5, 0.25, 2, -1.5, 0.75], 'w', [2, 3]), zr, zi, param([0.1, 0.2], 'late')];
    const opt = new AdamW(ps, { lr: 0.03, betas: [0.8, 0.95], weight_decay: 0.02 });
    const sched = new CosineAnnealingLR(opt, { T_max: 7, eta_min: 1e-3 });
    return { ps, opt, sched };
  }
  function advance(ps: Parameter[], opt: Optimizer, sched: CosineAnnealingLR | null, from: number, to: number): void {
    for (let t = from; t < to; t++) {
      ps.forEach((p, k) => {
        // 'late' gets its first gradient at step 6 (its entry is still empty at the checkpoint)
        const g = k === 3 && t < 6 ? null : gradOf(t, k, p.size).map((x, i) => x + 0.5 * vals(p)[i]!);
        setGrad(p, g);
      });
      opt.step();
      sched?.step();
    }
  }

  it('AdamW: stateDict → JSON → loadStateDict into a fresh optimizer resumes bit-identically', () => {
    const a = setup();
    advance(a.ps, a.opt, a.sched, 0, 10);

    const b = setup();
    advance(b.ps, b.opt, b.sched, 0, 4);
    const checkpoint = JSON.stringify({ params: b.ps.map(vals), opt: b.opt.stateDict(), sched: b.sched.stateDict() });
    assert.deepEqual(b.opt.stateDict().entries.map((e) => e.step), [4, 4, 0]);
    b.opt.release();
    releaseAll(...b.ps);

    const saved = JSON.parse(checkpoint) as { params: number[][]; opt: OptimizerState; sched: SchedulerState };
    const c = setup(); // a fresh optimizer and scheduler, then the checkpoint
    c.ps.forEach((p, k) => p.value.set(saved.params[k]!));
    c.opt.lr = 0.5;
    c.opt.loadStateDict(saved.opt);
    c.sched.loadStateDict(saved.sched);
    assert.equal(c.opt.lr, saved.sched.last_lr[0]);
    assert.equal(c.sched.lastEpoch, 4);
    advance(c.ps, c.opt, c.sched, 4, 10);

    a.ps.forEach((p, k) => assert.deepEqual(vals(c.ps[k]!), vals(p), `parameter ${p.name}`));
    assert.equal(JSON.stringify(c.opt.stateDict()), JSON.stringify(a.opt.stateDict()));
    assert.deepEqual(c.sched.stateDict(), a.sched.stateDict());
    a.opt.release();
    c.opt.release();
    releaseAll(...a.ps, ...c.ps);
  });

  it('Adam: the round trip is bit-identical too', () => {
    const mk = () => {
      const ps = [param([0.5, -0.25, 1], 'p'), param([2, 3], 'q')];
      return { ps, opt: new Adam(ps, { lr: 0.05, weight_decay: 0.01 }) };
    };
    const a = mk();
    advance(a.ps, a.opt, null, 0, 6);
    const b = mk();
    advance(b.ps, b.opt, null, 0, 3);
    const saved = JSON.parse(JSON.stringify({ params: b.ps.map(vals), opt: b.opt.stateDict() })) as { params: number[][]; opt: OptimizerState };
    const c = mk();
    c.ps.forEach((p, k) => p.value.set(saved.params[k]!));
    c.opt.loadStateDict(saved.opt);
    advance(c.ps, c.opt, null, 3, 6);
    a.ps.forEach((p, k) => assert.deepEqual(vals(c.ps[k]!), vals(p)));
    throwsNamed(() => new AdamW(c.ps).loadStateDict(saved.opt), /AdamW\.loadStateDict: the state is for Adam, not AdamW/);
    for (const o of [a, b, c]) o.opt.release();
    releaseAll(...a.ps, ...b.ps, ...c.ps);
  });

  it('loadStateDict validates the state before changing anything', () => {
    const s = setup();
    advance(s.ps, s.opt, null, 0, 7);
    const good = s.opt.stateDict();
    const json = JSON.stringify(good);
    const bad = (edit: (x: OptimizerState) => void): OptimizerState => {
      const x = JSON.parse(json) as OptimizerState;
      edit(x);
      return x;
    };
    const fresh = setup();
    const cases: [OptimizerState, RegExp][] = [
      [bad((x) => (x.param_count = 3)), /AdamW\.loadStateDict: the state has 3 parameters, this optimizer has 4/],
      [bad((x) => x.entries.pop()), /the state has 2 entries, this optimizer has 3/],
      [bad((x) => (x.entries[0]!.shape = [3, 2])), /entry 0 \('w'\): the state has shape \[3, 2\], the parameter has \[2, 3\]/],
      [bad((x) => (x.entries[1]!.indices = [1])), /entry 1 \('z\.re'\) covers parameters \[1\], expected \[1,2\]/],
      [bad((x) => (x.entries[1]!.exp_avg_sq = 'AAAA')), /exp_avg_sq holds 3 bytes, expected 12/],
      [bad((x) => (x.entries[1]!.exp_avg = ['not base64!'])), /exp_avg must be a list of 2 base64 strings/],
      [bad((x) => (x.entries[1]!.exp_avg![1] = '@@@@')), /exp_avg\[1\] is not a base64 string/],
      [bad((x) => (x.entries[0]!.step = -1)), /step must be an integer ≥ 0/],
      [bad((x) => (x.entries[0]!.dtype = 'float64')), /the state dtype is float64, expected float32/],
      [bad((x) => (x.hyperparameters.betas = [0.9, 1])), /AdamW\.loadStateDict: betas\[1\] must be in \[0, 1\)/],
      [bad((x) => delete (x.hyperparameters as Partial<OptimizerState['hyperparameters']>).eps), /hyperparameter 'eps' is missing/],
      [bad((x) => (x.format = 'x' as 'mpno.optimizer')), /not an optimizer state/],
    ];
    const before = JSON.stringify(fresh.opt.stateDict());
    for (const [st, re] of cases) {
      throwsNamed(() => fresh.opt.loadStateDict(st), re);
      assert.equal(JSON.stringify(fresh.opt.stateDict()), before);
    }
    // a negative second moment is rejected
    const neg = bad((x) => {
      const v = new Float32Array(Uint8Array.from(Buffer.from(x.entries[0]!.exp_avg_sq!, 'base64')).buffer);
      v[2] = -1;
      x.entries[0]!.exp_avg_sq = Buffer.from(v.buffer).toString('base64');
    });
    throwsNamed(() => fresh.opt.loadStateDict(neg), /exp_avg_sq has a negative or non-finite value/);
    // and the good one loads
    fresh.opt.loadStateDict(JSON.parse(json) as OptimizerState);
    assert.equal(JSON.stringify(fresh.opt.stateDict()), json);
    // a different parameter list is refused
    const other = new AdamW([param([1, 2, 3, 4, 5, 6], 'w', [6]), ...fresh.ps.slice(1)]);
    throwsNamed(() => other.loadStateDict(good), /entry 0 \('w'\): the state has shape \[2, 3\], the parameter has \[6\]/);
    other.release();
    for (const o of [s, fresh]) {
      o.opt.release();
      releaseAll(...o.ps);
    }
  });
});

describe('non-finite gradients', () => {
  for (const [kind, make] of [
    ['AdamW', (ps: Parameter[]) => new AdamW(ps, { lr: 0.01, weight_decay: 0.1 })],
    ['Adam', (ps: Parameter[]) => new Adam(ps, { lr: 0.01, weight_decay: 0.1 })],
  ] as const) {
    it(`${kind}.step throws a named error and leaves parameters and state unchanged`, () => {
      const a = param([1, 2, 3], 'a');
      const b = param([4, 5], 'b');
      const [zr, zi] = pair([0.5, 0.5], [-0.5, 0.25], 'z');
      const ps = [a, b, zr, zi];
      const opt = make(ps);
      for (const [bad, where, value] of [
        ['b', 1, Number.NaN],
        ['z.im', 0, Number.POSITIVE_INFINITY],
        ['a', 2, Number.NEGATIVE_INFINITY],
      ] as const) {
        for (const warm of [false, true]) {
          if (warm) {
            ps.forEach((p, k) => setGrad(p, gradOf(k, k, p.size)));
            opt.step();
          }
          ps.forEach((p, k) => setGrad(p, gradOf(k + 5, k, p.size)));
          const target = ps.find((p) => p.name === bad)!;
          const g = gradOf(1, 1, target.size);
          g[where] = value;
          setGrad(target, g);
          const params = ps.map(vals);
          const state = JSON.stringify(opt.stateDict());
          const optBytes = ledger.snapshot().byRole.optimizer.live;
          throwsNamed(() => opt.step(), new RegExp(`^${kind}\\.step: non-finite gradient in parameter '${bad.replace('.', '\\.')}' \\(1 of ${target.size} elements\\)`));
          assert.deepEqual(ps.map(vals), params);
          assert.equal(JSON.stringify(opt.stateDict()), state);
          assert.equal(ledger.snapshot().byRole.optimizer.live, optBytes);
        }
      }
      // with (name, Parameter) pairs the error names the qualified name
      const named = kind === 'AdamW' ? new AdamW([['blocks.0.a', a]]) : new Adam([['blocks.0.a', a]]);
      setGrad(a, [0, Number.NaN, 0]);
      throwsNamed(() => named.step(), new RegExp(`^${kind}\\.step: non-finite gradient in parameter 'blocks\\.0\\.a'`));
      assert.deepEqual(named.stateDict().entries[0]!.names, ['blocks.0.a']);
      named.release();
      // a gradient of the wrong shape is refused the same way
      ps.forEach((p, k) => setGrad(p, gradOf(0, k, p.size)));
      b.zeroGrad();
      b.grad = Tensor.zeros([3], 'float32', 'gradient');
      throwsNamed(() => opt.step(), new RegExp(`^${kind}\\.step: the gradient \\[3\\] of parameter 'b' does not match its shape \\[2\\]`));
      opt.release();
      releaseAll(...ps);
    });
  }
});

describe('clipGradNorm', () => {
  it('returns the total norm over all gradients and scales by maxNorm/(total + 1e-6) when that is below 1', () => {
    const a = param([0, 0], 'a');
    const b = param([0], 'b');
    const c = param([7, 7], 'c'); // no gradient: skipped
    const set = () => {
      setGrad(a, [3, -4]);
      setGrad(b, [12]);
    };
    set();
    assert.equal(clipGradNorm([a, b, c], 100), 13);
    assert.deepEqual([...vals(a), ...vals(b)], [0, 0, 0], 'values are not touched');
    assert.deepEqual([...(a.grad!.data as Float32Array), ...(b.grad!.data as Float32Array)], [3, -4, 12], 'below maxNorm: unchanged');
    assert.equal(c.grad, null);

    const total = clipGradNorm([a, b, c], 1);
    assert.equal(total, 13);
    const coef = 1 / (13 + 1e-6);
    assert.deepEqual([...(a.grad!.data as Float32Array), ...(b.grad!.data as Float32Array)], f32([3 * coef, -4 * coef, 12 * coef]));
    const after = clipGradNorm([a, b], 1e9);
    assert.ok(Math.abs(after - 13 * coef) < 1e-6, `${after}`);

    // other norms
    set();
    assert.equal(clipGradNorm([a, b], 100, Infinity), 12);
    assert.equal(clipGradNorm([a, b], 100, 1), 19);
    assert.ok(Math.abs(clipGradNorm([a, b], 100, 3) - Math.cbrt(27 + 64 + 1728)) < 1e-12);
    clipGradNorm([a, b], 6, Infinity);
    assert.deepEqual([...(a.grad!.data as Float32Array), ...(b.grad!.data as Float32Array)], f32([3, -4, 12].map((x) => (x * 6) / (12 + 1e-6))));

    // PyTorch's clamp(coef, max = 1): at total = maxNorm the coefficient maxNorm/(total + 1e-6) < 1 still applies
    set();
    clipGradNorm([a, b], 13);
    assert.deepEqual(Array.from(b.grad!.data as Float32Array), f32([(12 * 13) / (13 + 1e-6)]));

    // nothing to clip
    assert.equal(clipGradNorm([c], 1), 0);
    releaseAll(a, b, c);
  });

  it('non-finite totals: NaN spreads as in PyTorch unless errorIfNonfinite; bad arguments are named', () => {
    const a = param([0, 0], 'a');
    setGrad(a, [1, Number.NaN]);
    throwsNamed(() => clipGradNorm([a], 1, 2, { errorIfNonfinite: true }), /clipGradNorm: the total norm of order 2 of the gradients is NaN/);
    assert.ok(Number.isNaN(clipGradNorm([a], 1)));
    assert.ok(Array.from(a.grad!.data as Float32Array).every(Number.isNaN));
    setGrad(a, [1, 2]);
    throwsNamed(() => clipGradNorm([a], -1), /clipGradNorm: maxNorm must be a number ≥ 0, got -1/);
    throwsNamed(() => clipGradNorm([a], 1, 0), /clipGradNorm: normType must be a number > 0 or Infinity, got 0/);
    assert.deepEqual(vals(a), [0, 0]);
    a.release();
  });
});

describe('LR schedulers', () => {
  it('StepLR multiplies by gamma every step_size epochs', () => {
    const o = { lr: 1 };
    const s = new StepLR(o, { step_size: 3, gamma: 0.5 });
    const seen = [o.lr];
    for (let e = 0; e < 9; e++) {
      s.step();
      seen.push(o.lr);
      assert.deepEqual(s.getLastLr(), [o.lr]);
    }
    assert.deepEqual(seen, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]);
    assert.equal(s.lastEpoch, 9);
    // default gamma 0.1 against the closed form lr_0·γ^⌊t/step⌋
    const o2 = { lr: 0.01 };
    const s2 = new StepLR(o2, { step_size: 60 });
    for (let t = 1; t <= 300; t++) {
      s2.step();
      const want = 0.01 * 0.1 ** Math.floor(t / 60);
      assert.ok(Math.abs(o2.lr - want) <= 1e-14 * want, `t=${t}: ${o2.lr} vs ${want}`);
    }
  });

  it("CosineAnnealingLR follows PyTorch's recursive form: closed form within T_max, hand-derived values, the special branch past T_max", () => {
    const lr0 = 1e-2;
    const T = 30;
    const opt = new AdamW([param([0], 'p')], { lr: lr0 });
    const s = new CosineAnnealingLR(opt, { T_max: T });
    const lrs = [opt.lr];
    for (let t = 1; t <= 40; t++) {
      s.step();
      lrs.push(opt.lr);
      assert.equal(s.lastEpoch, t);
      assert.deepEqual(s.getLastLr(), [opt.lr]);
    }
    const closed = (t: number): number => (lr0 * (1 + Math.cos((Math.PI * t) / T))) / 2;
    for (let t = 0; t < T; t++) assert.ok(Math.abs(lrs[t]! - closed(t)) <= 1e-12 * closed(t), `t=${t}: ${lrs[t]} vs ${closed(t)}`);
    for (let t = T; t <= 40; t++) assert.ok(Math.abs(lrs[t]! - closed(t)) <= 1e-15, `t=${t}: ${lrs[t]} vs ${closed(t)}`);
    // Values derived by hand from the recursion (the ratios telescope to (1 + cos(πt/30))/2):
    //   η_1 = η_0·(1 + cos 6°)/2, cos 6° = 0.9945218953682733 → 9.9726094768413665e-3
    //   η_10 = η_0·(1 + cos 60°)/2 = 7.5e-3; η_15 = η_0/2 = 5e-3; η_20 = η_0·(1 + cos 120°)/2 = 2.5e-3
    //   η_30 = η_29·(1 + cos 180°)/(…) = 0 exactly (1 + cos π is exactly 0 in float64)
    //   η_31: (31 − 1 − 30) mod 60 = 0, so η_31 = η_30 + η_0·(1 − cos 6°)/2 = 2.73905231586335e-5
    //   η_40 = η_0·(1 + cos 240°)/2 = 2.5e-3
    //   η_14 ≈ 5.52264e-3 (docs/neuralop-parity.md §9)
    const near = (t: number, want: number, rel: number) => assert.ok(Math.abs(lrs[t]! - want) <= rel * want, `η_${t} = ${lrs[t]}, expected ${want}`);
    near(1, 9.9726094768413665e-3, 1e-14);
    near(10, 7.5e-3, 1e-13);
    near(15, 5e-3, 1e-13);
    near(20, 2.5e-3, 1e-12);
    assert.equal(lrs[30], 0);
    near(31, 2.73905231586335e-5, 1e-11);
    near(40, 2.5e-3, 1e-12);
    near(14, 5.52264e-3, 1e-6);
    assert.equal(lrs[0], lr0);
    opt.release();
    opt.params[0]!.release();
  });

  it('CosineAnnealingLR with eta_min, and an lr changed from outside carries on recursively', () => {
    const o = { lr: 0.1 };
    const s = new CosineAnnealingLR(o, { T_max: 12, eta_min: 1e-3 });
    for (let t = 1; t <= 12; t++) {
      s.step();
      const want = 1e-3 + ((0.1 - 1e-3) * (1 + Math.cos((Math.PI * t) / 12))) / 2;
      assert.ok(Math.abs(o.lr - want) <= 1e-12 * want, `t=${t}`);
    }
    assert.ok(Math.abs(o.lr - 1e-3) < 1e-17);
    const o2 = { lr: 1e-2 };
    const s2 = new CosineAnnealingLR(o2, { T_max: 30 });
    for (let t = 1; t <= 10; t++) s2.step();
    o2.lr = 5e-3;
    s2.step();
    assert.equal(o2.lr, ((1 + Math.cos((Math.PI * 11) / 30)) / (1 + Math.cos((Math.PI * 10) / 30))) * 5e-3);
  });

  it('stateDict → JSON → loadStateDict resumes both schedulers exactly', () => {
    for (const make of [
      (o: { lr: number }) => new CosineAnnealingLR(o, { T_max: 30, eta_min: 1e-4 }),
      (o: { lr: number }) => new StepLR(o, { step_size: 4, gamma: 0.3 }),
    ]) {
      const o1 = { lr: 1e-2 };
      const s1 = make(o1);
      const full: number[] = [];
      for (let t = 0; t < 40; t++) {
        s1.step();
        full.push(o1.lr);
      }
      const o2 = { lr: 1e-2 };
      const s2 = make(o2);
      for (let t = 0; t < 7; t++) s2.step();
      const saved = JSON.stringify({ lr: o2.lr, sched: s2.stateDict() });
      const parsed = JSON.parse(saved) as { lr: number; sched: SchedulerState };
      const o3 = { lr: 0.5 }; // a different base lr at construction: the state's base_lrs wins
      const s3 = make(o3);
      s3.loadStateDict(parsed.sched);
      assert.equal(o3.lr, 0.5, 'loading a scheduler does not touch the lr (the optimizer state carries it)');
      o3.lr = parsed.lr;
      assert.equal(s3.lastEpoch, 7);
      assert.deepEqual(s3.baseLrs, [1e-2]);
      const rest: number[] = [];
      for (let t = 7; t < 40; t++) {
        s3.step();
        rest.push(o3.lr);
      }
      assert.deepEqual(rest, full.slice(7));
      assert.deepEqual(s3.stateDict(), s1.stateDict());
    }
    const cos = new CosineAnnealingLR({ lr: 1 }, { T_max: 5 });
    const step = new StepLR({ lr: 1 }, { step_size: 2 });
    throwsNamed(() => cos.loadStateDict(step.stateDict()), /CosineAnnealingLR\.loadStateDict: the state is for StepLR, not CosineAnnealingLR/);
    throwsNamed(() => cos.loadStateDict({ ...cos.stateDict(), T_max: 0 }), /CosineAnnealingLR\.loadStateDict: T_max must be a positive integer, got 0/);
    throwsNamed(() => cos.loadStateDict({ ...cos.stateDict(), last_epoch: -2 }), /last_epoch must be an integer ≥ 0/);
    throwsNamed(() => cos.loadStateDict({ ...cos.stateDict(), base_lrs: [1, 2] }), /base_lrs must be a list of one finite number/);
  });
});

describe('bad options are named', () => {
  it('optimizers', () => {
    const p = param([1, 2], 'p');
    const [zr, zi] = pair([1], [2], 'z');
    throwsNamed(() => new AdamW([p], { lr: -1 }), /^AdamW: lr must be a finite number ≥ 0, got -1/);
    throwsNamed(() => new AdamW([p], { lr: Number.NaN }), /^AdamW: lr must be a finite number ≥ 0, got NaN/);
    throwsNamed(() => new AdamW([p], { betas: [1, 0.999] }), /^AdamW: betas\[0\] must be in \[0, 1\), got 1/);
    throwsNamed(() => new AdamW([p], { betas: [0.9, -0.1] }), /^AdamW: betas\[1\] must be in \[0, 1\), got -0\.1/);
    throwsNamed(() => new Adam([p], { betas: [0.9, 1.5] }), /^Adam: betas\[1\] must be in \[0, 1\), got 1\.5/);
    throwsNamed(() => new AdamW([p], { eps: -1e-8 }), /^AdamW: eps must be a finite number ≥ 0/);
    throwsNamed(() => new Adam([p], { weight_decay: -0.1 }), /^Adam: weight_decay must be a finite number ≥ 0/);
    throwsNamed(() => new Adam([p], { correct_bias: false } as never), /^Adam: unknown option 'correct_bias'/);
    throwsNamed(() => new AdamW([]), /^AdamW: the parameter list is empty/);
    throwsNamed(() => new AdamW([p, p]), /^AdamW: parameter 'p' appears twice in the parameter list/);
    throwsNamed(() => new AdamW([zr]), /^AdamW: parameter 'z\.re' is the real part of a complex weight whose other part 'z\.im' is not in the parameter list/);
    const opt = new AdamW([p]);
    throwsNamed(() => (opt.lr = -0.5), /^AdamW\.lr: lr must be a finite number ≥ 0, got -0\.5/);
    assert.equal(opt.lr, 1e-3);
    opt.lr = 0.25;
    assert.equal(opt.lr, 0.25);
    assert.equal(new Adam([zr]).params.length, 1, 'Adam does not need the partner');
    releaseAll(p, zr, zi);
  });

  it('schedulers', () => {
    const o = { lr: 0.1 };
    throwsNamed(() => new CosineAnnealingLR(o, { T_max: 0 }), /^CosineAnnealingLR: T_max must be a positive integer, got 0/);
    throwsNamed(() => new CosineAnnealingLR(o, { T_max: -3 }), /^CosineAnnealingLR: T_max must be a positive integer, got -3/);
    throwsNamed(() => new CosineAnnealingLR(o, { T_max: 2.5 }), /^CosineAnnealingLR: T_max must be a positive integer, got 2\.5/);
    throwsNamed(() => new CosineAnnealingLR(o, { T_max: 10, eta_min: -1 }), /^CosineAnnealingLR: eta_min must be a finite number ≥ 0/);
    throwsNamed(() => new StepLR(o, { step_size: 0 }), /^StepLR: step_size must be a positive integer, got 0/);
    throwsNamed(() => new StepLR(o, { step_size: 2, gamma: Number.POSITIVE_INFINITY }), /^StepLR: gamma must be a finite number > 0/);
    throwsNamed(() => new StepLR({ lr: Number.NaN }, { step_size: 2 }), /^StepLR: the optimizer's lr is NaN/);
    assert.equal(o.lr, 0.1);
  });
});

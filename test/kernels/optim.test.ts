/**
 * The Adam-family update kernel (src/kernels/wasm/optim.ts, f64x2 lanes) against the plain-TypeScript
 * reference (src/kernels/ref/optim.ts): bit-identical parameters and moments on random inputs, over
 * sizes with and without a scalar tail, 1 and 2 threads, both forms of torch's lerp, weight decay on
 * and off, a complex weight's two parts sharing v, and a part without a gradient.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import type { AdamStep } from '../../src/kernels/backend.js';
import { cpuBackend } from '../../src/kernels/cpu.js';
import { refAdamStep } from '../../src/kernels/ref/optim.js';
import { withThreads } from '../helpers.js';

const SIZES = [1, 2, 3, 17, 4099, 300_007];

interface State { params: Tensor[]; grads: (Tensor | null)[]; m: Tensor[]; v: Tensor }

function randState(rng: Rng, n: number, parts: number, nullGrad: number): State {
  const t = (f: () => number): Tensor => {
    const x = Tensor.empty([n], 'float32', 'other');
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = f();
    x.set(v);
    return x;
  };
  const params: Tensor[] = [];
  const grads: (Tensor | null)[] = [];
  const m: Tensor[] = [];
  for (let k = 0; k < parts; k++) {
    params.push(t(() => rng.normal(0, 1)));
    grads.push(k === nullGrad ? null : t(() => rng.normal(0, 1e-2) * Math.exp(rng.uniform(-6, 6))));
    m.push(t(() => rng.normal(0, 1e-3)));
  }
  return { params, grads, m, v: t(() => Math.exp(rng.uniform(-20, 0))) };
}

function copy(s: State): State {
  return { params: s.params.map((p) => p.clone()), grads: s.grads.map((g) => g?.clone() ?? null), m: s.m.map((p) => p.clone()), v: s.v.clone() };
}

function release(s: State): void {
  for (const t of [...s.params, ...s.m, s.v, ...s.grads]) t?.release();
}

function bits(t: Tensor): Uint32Array {
  return new Uint32Array((t.data as Float32Array).slice().buffer);
}

function assertSame(label: string, got: State, want: State): void {
  const pairs: [string, Tensor, Tensor][] = [['v', got.v, want.v]];
  got.params.forEach((p, k) => pairs.push([`params[${k}]`, p, want.params[k]!], [`m[${k}]`, got.m[k]!, want.m[k]!]));
  for (const [n, g, w] of pairs) {
    const a = bits(g);
    const b = bits(w);
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${label}: ${n}[${i}] is ${(g.data as Float32Array)[i]}, the reference ${(w.data as Float32Array)[i]}`);
  }
}

type Case = Omit<AdamStep, 'params' | 'grads' | 'm' | 'v'> & { parts: number; nullGrad: number; name: string };

const CASES: Case[] = [
  { name: 'adam', kind: 'adam', parts: 1, nullGrad: -1, beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 1e-3 / (1 - 0.9 ** 3), bc2Sqrt: Math.sqrt(1 - 0.999 ** 3), decay: 0 },
  { name: 'adam, L2 decay, lerp for w ≥ 0.5', kind: 'adam', parts: 1, nullGrad: -1, beta1: 0.3, beta2: 0.99, eps: 1e-6, stepSize: 0.01, bc2Sqrt: 0.3, decay: 1e-4 },
  { name: 'adamw', kind: 'adamw', parts: 1, nullGrad: -1, beta1: 0.9, beta2: 0.999, eps: 1e-6, stepSize: 1e-2, bc2Sqrt: 1, decay: -1e-6 },
  { name: 'adamw, complex weight', kind: 'adamw', parts: 2, nullGrad: -1, beta1: 0.9, beta2: 0.999, eps: 1e-6, stepSize: 3e-3, bc2Sqrt: 1, decay: 0 },
  { name: 'adamw, complex weight, imaginary part without gradient', kind: 'adamw', parts: 2, nullGrad: 1, beta1: 0.8, beta2: 0.95, eps: 1e-8, stepSize: 1e-3, bc2Sqrt: 1, decay: -1e-4 },
  { name: 'adamw, no gradient', kind: 'adamw', parts: 1, nullGrad: 0, beta1: 0.9, beta2: 0.999, eps: 1e-6, stepSize: 1e-2, bc2Sqrt: 1, decay: -1e-4 },
];

describe('adamStep kernel (wasm f64x2) vs the reference', () => {
  for (const c of CASES) {
    it(`${c.name}: bit-identical parameters and moments, 1 and 2 threads, three steps`, () => {
      const rng = new Rng(7);
      for (const n of SIZES) {
        const base = randState(rng, n, c.parts, c.nullGrad);
        const want = copy(base);
        const { parts: _p, nullGrad: _g, name: _n, ...hyper } = c;
        for (let step = 0; step < 3; step++) refAdamStep({ ...hyper, ...want });
        for (const th of [1, 2]) {
          const got = copy(base);
          withThreads(th, () => {
            for (let step = 0; step < 3; step++) cpuBackend.adamStep({ ...hyper, ...got });
          });
          assertSame(`${c.name} n=${n} threads=${th}`, got, want);
          release(got);
        }
        // the update moved the weights (a test that cannot fail otherwise would pass on a no-op)
        if (c.nullGrad !== 0) assert.notDeepEqual(bits(want.params[0]!), bits(base.params[0]!), `${c.name} n=${n}: the parameters did not change`);
        release(base);
        release(want);
      }
    });
  }

  it('names a wrong part count, a shape mismatch and a moment dtype', () => {
    const rng = new Rng(1);
    const s = randState(rng, 8, 2, -1);
    const h = { beta1: 0.9, beta2: 0.999, eps: 1e-8, stepSize: 1e-3, bc2Sqrt: 1, decay: 0 };
    assert.throws(() => cpuBackend.adamStep({ kind: 'adam', ...s, ...h }), /adam takes one part, got 2/);
    const short = Tensor.empty([7], 'float32');
    assert.throws(() => cpuBackend.adamStep({ kind: 'adamw', ...s, v: short, ...h }), /adamStep: shapes differ: params\[0\] is \[8\] float32, v is \[7\] float32/);
    const v16 = Tensor.empty([8], 'float16');
    assert.throws(() => cpuBackend.adamStep({ kind: 'adamw', ...s, v: v16, ...h }), /adamStep: v is float16; the state of float32 parameters is float32/);
    for (const t of [short, v16]) t.release();
    release(s);
  });
});

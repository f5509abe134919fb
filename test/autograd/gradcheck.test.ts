import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { ledger } from '../../src/core/ledger.js';
import * as ops from '../../src/autograd/ops.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { Variable, backward, noGrad, tidy } from '../../src/autograd/variable.js';

const rng = new Rng(77);
const rand = (shape: number[], scale = 1) => rng.fillNormal(Tensor.empty(shape, 'float64'), 0, scale);

function expectOk(name: string, r: { maxRelErr: number[] }, tol = 1e-6): void {
  r.maxRelErr.forEach((e, i) => assert.ok(e < tol, `${name}: input ${i} gradient error ${e}`));
}

describe('gradients match finite differences in float64', () => {
  it('add, sub, mul, scale', () => {
    expectOk('add', gradcheck(([a, b]) => ops.add(a!, b!), [rand([3, 4]), rand([3, 4])]));
    expectOk('sub', gradcheck(([a, b]) => ops.sub(a!, b!), [rand([5]), rand([5])]));
    expectOk('mul', gradcheck(([a, b]) => ops.mul(a!, b!), [rand([2, 3, 2]), rand([2, 3, 2])]));
    expectOk('scale', gradcheck(([a]) => ops.scale(a!, -1.7), [rand([7])]));
  });

  it('gelu (erf and tanh forms), tanh, clamp', () => {
    expectOk('gelu', gradcheck(([a]) => ops.gelu(a!), [rand([40], 2)]));
    expectOk('gelu tanh', gradcheck(([a]) => ops.gelu(a!, 'tanh'), [rand([40], 2)]));
    expectOk('tanh', gradcheck(([a]) => ops.tanh(a!), [rand([40], 2)]));
    expectOk('tanh (backward recomputed from the input)', gradcheck(([a]) => ops.tanh(a!, { recompute: true }), [rand([40], 4)]));
    // keep samples away from the clamp kinks
    const x = Tensor.fromArray(rng.normalArray(30).map((v) => (Math.abs(Math.abs(v) - 1) < 0.05 ? v + 0.2 : v)), [30], 'float64');
    expectOk('clamp', gradcheck(([a]) => ops.clamp(a!, -1, 1), [x]));
  });

  it('linearGelu (channel mixing with the fused bias + gelu epilogue), both gelu forms', () => {
    expectOk('linearGelu', gradcheck(([x, w, b]) => ops.linearGelu(x!, w!, b!), [rand([3, 4, 7], 2), rand([5, 4]), rand([5])], { samples: 20 }));
    expectOk('linearGelu tanh 2d', gradcheck(([x, w, b]) => ops.linearGelu(x!, w!, b!, 'tanh'), [rand([2, 3, 4, 5], 2), rand([6, 3]), rand([6])], { samples: 20 }));
    expectOk('linearGelu no bias', gradcheck(([x, w]) => ops.linearGelu(x!, w!), [rand([2, 3, 6], 2), rand([4, 3])], { samples: 20 }));
  });

  it('linearGelu in float32 equals gelu(linear(·)) bit for bit: forward, gradients and the no-grad path', () => {
    const r = new Rng(5);
    const f32 = (shape: number[]) => r.fillNormal(Tensor.empty(shape, 'float32'));
    const [xT, wT, bT, gT] = [f32([2, 6, 9, 11]), f32([8, 6]), f32([8]), f32([2, 8, 9, 11])];
    const run = (fused: boolean) => tidy(() => {
      const [x, w, b] = [xT, wT, bT].map((t) => new Variable(t.clone(), { requiresGrad: true })) as [Variable, Variable, Variable];
      const y = fused ? ops.linearGelu(x, w, b) : ops.gelu(ops.linear(x, w, b));
      const out = y.value.toArray();
      backward(y, gT.clone());
      return [out, x.grad!.toArray(), w.grad!.toArray(), b.grad!.toArray()];
    });
    assert.deepEqual(run(true), run(false));
    const inference = noGrad(() => tidy(() => ops.linearGelu(Variable.constant(xT), Variable.constant(wT), Variable.constant(bT)).value.toArray()));
    assert.deepEqual(inference, run(false)[0]);
  });

  it('linearGeluLinear (the fused two-layer channel MLP), both gelu forms, with and without biases', () => {
    expectOk('linearGeluLinear', gradcheck(([x, w1, b1, w2, b2]) => ops.linearGeluLinear(x!, w1!, b1!, w2!, b2!), [rand([3, 4, 7], 2), rand([5, 4]), rand([5]), rand([2, 5]), rand([2])], { samples: 20 }));
    expectOk('linearGeluLinear tanh 2d', gradcheck(([x, w1, b1, w2, b2]) => ops.linearGeluLinear(x!, w1!, b1!, w2!, b2!, 'tanh'), [rand([2, 3, 4, 5], 2), rand([6, 3]), rand([6]), rand([3, 6]), rand([3])], { samples: 20 }));
    expectOk('linearGeluLinear no biases', gradcheck(([x, w1, w2]) => ops.linearGeluLinear(x!, w1!, undefined, w2!, undefined), [rand([2, 3, 6], 2), rand([4, 3]), rand([5, 4])], { samples: 20 }));
  });

  it('linearGeluLinear in float32 equals linear(linearGelu(·)) bit for bit (forward, gradients, no-grad); with bfloat16 activations one rounding fewer', () => {
    const r = new Rng(6);
    for (const dt of ['float32', 'bfloat16'] as const) {
      const t = (shape: number[], d: 'float32' | 'bfloat16' = 'float32') => r.fillNormal(Tensor.empty(shape, d));
      const [xT, w1T, b1T, w2T, b2T, gT] = [t([2, 6, 9, 11], dt), t([16, 6]), t([16]), t([3, 16]), t([3]), t([2, 3, 9, 11], dt)];
      const run = (fused: boolean) => tidy(() => {
        const vs = [xT, w1T, b1T, w2T, b2T].map((v) => new Variable(v.clone(), { requiresGrad: true })) as [Variable, Variable, Variable, Variable, Variable];
        const [x, w1, b1, w2, b2] = vs;
        const y = fused ? ops.linearGeluLinear(x, w1, b1, w2, b2) : ops.linear(ops.linearGelu(x, w1, b1), w2, b2);
        const out = y.value.toArray();
        backward(y, gT.clone());
        return [out, ...vs.map((v) => v.grad!.toArray())];
      });
      const [fused, plain] = [run(true), run(false)];
      if (dt === 'float32') assert.deepEqual(fused, plain);
      else {
        // forward and the second layer's gradients are the same computation; the hidden gradient is
        // rounded to bfloat16 once (after the factor) instead of twice, so x, W1, b1 differ by roundings
        assert.deepEqual([fused[0], fused[4], fused[5]], [plain[0], plain[4], plain[5]]);
        for (const i of [1, 2, 3]) {
          const [a, b] = [fused[i]!, plain[i]!];
          const num = Math.hypot(...a.map((v, k) => v - b[k]!));
          const den = Math.hypot(...b);
          assert.ok(num / den < 2e-2 && num > 0, `bfloat16 gradient ${i}: relative difference ${num / den}`);
        }
      }
      const inference = noGrad(() => tidy(() => ops.linearGeluLinear(...([xT, w1T, b1T, w2T, b2T].map((v) => Variable.constant(v)) as [Variable, Variable, Variable, Variable, Variable])).value.toArray()));
      assert.deepEqual(inference, run(false)[0], dt);
    }
  });

  it('linearAdd (a channel mixing joining another branch, with or without gelu)', () => {
    expectOk('linearAdd gelu', gradcheck(([x, w, b, r]) => ops.linearAdd(x!, w!, b!, r!, 'none'), [rand([3, 4, 7], 2), rand([5, 4]), rand([5]), rand([3, 5, 7])], { samples: 20 }));
    expectOk('linearAdd tanh-gelu 2d', gradcheck(([x, w, r]) => ops.linearAdd(x!, w!, undefined, r!, 'tanh'), [rand([2, 3, 4, 5], 2), rand([6, 3]), rand([2, 6, 4, 5])], { samples: 20 }));
    expectOk('linearAdd no activation', gradcheck(([x, w, r]) => ops.linearAdd(x!, w!, undefined, r!), [rand([2, 3, 6]), rand([4, 3]), rand([2, 4, 6])], { samples: 20 }));
  });

  it('linearAdd in float32 equals gelu(add(r, linear(·))) bit for bit (forward, gradients, no-grad)', () => {
    const r0 = new Rng(8);
    const f32 = (shape: number[]) => r0.fillNormal(Tensor.empty(shape, 'float32'));
    for (const act of ['none', null] as const) {
      const [xT, wT, rT, gT] = [f32([2, 6, 9, 11]), f32([6, 6]), f32([2, 6, 9, 11]), f32([2, 6, 9, 11])];
      const run = (fused: boolean) => tidy(() => {
        const vs = [xT, wT, rT].map((v) => new Variable(v.clone(), { requiresGrad: true })) as [Variable, Variable, Variable];
        const [x, w, r] = vs;
        // r enters through an op, as the spectral branch does (its gradient then flows on)
        const rr = ops.scale(r, 1.5);
        let y = fused ? ops.linearAdd(x, w, undefined, rr, act) : ops.add(rr, ops.linear(x, w));
        if (!fused && act) y = ops.gelu(y);
        const out = y.value.toArray();
        backward(y, gT.clone());
        return [out, ...vs.map((v) => v.grad!.toArray())];
      });
      assert.deepEqual(run(true), run(false), String(act));
      const inference = noGrad(() => tidy(() => ops.linearAdd(Variable.constant(xT), Variable.constant(wT), undefined, Variable.constant(rT), act).value.toArray()));
      const direct = noGrad(() => tidy(() => {
        const y = ops.add(Variable.constant(rT), ops.linear(Variable.constant(xT), Variable.constant(wT)));
        return (act ? ops.gelu(y) : y).value.toArray();
      }));
      assert.deepEqual(inference, direct, String(act));
    }
    const c = (shape: number[], dt: 'float32' | 'bfloat16' = 'float32') => Variable.constant(Tensor.zeros(shape, dt));
    assert.throws(() => ops.linearAdd(c([1, 4, 3]), c([5, 4]), undefined, c([1, 4, 3])), /linearAdd: the added branch \[1, 4, 3\] float32 must be \[1, 5, 3\] float32/);
    assert.throws(() => ops.linearAdd(c([1, 4, 3]), c([5, 4]), undefined, c([1, 5, 3], 'bfloat16')), /linearAdd: the added branch \[1, 5, 3\] bfloat16 must be \[1, 5, 3\] float32/);
  });

  it('linearGeluLinear frees its hidden activation and gelu′ during the backward, before the hidden gradient exists beside them', () => {
    const r = new Rng(9);
    const t = (shape: number[]) => r.fillNormal(Tensor.empty(shape, 'float32'));
    const [B, Ci, H, Co, S] = [2, 3, 64, 2, 500];
    const vs = [t([B, Ci, S]), t([H, Ci]), t([H]), t([Co, H]), t([Co])].map((v) => new Variable(v, { requiresGrad: true }));
    const [x, w1, b1, w2, b2] = vs as [Variable, Variable, Variable, Variable, Variable];
    const y = ops.linearGeluLinear(x, w1, b1, w2, b2);
    const before = ledger.snapshot().live;
    ledger.resetPeak();
    backward(y, t([B, Co, S]));
    const rise = ledger.snapshot().peak - before;
    const hiddenBytes = B * H * S * 4;
    // the hidden gradient replaces the freed hidden activation: the rise is the small gradients only
    // (holding both would add at least one more hidden-sized tensor)
    assert.ok(rise < 0.5 * hiddenBytes, `backward raised the live bytes by ${rise}, a hidden tensor is ${hiddenBytes}`);
    y.release();
    for (const v of vs) v.release();
  });

  it('linearGeluLinear names a weight or bias of the wrong shape', () => {
    const c = (shape: number[]) => Variable.constant(Tensor.zeros(shape, 'float32'));
    assert.throws(() => ops.linearGeluLinear(c([1, 4, 3]), c([5, 3]), undefined, c([2, 5]), undefined), /linearGeluLinear: first weight \[5, 3\] does not take 4 input channels/);
    assert.throws(() => ops.linearGeluLinear(c([1, 4, 3]), c([5, 4]), undefined, c([2, 6]), undefined), /linearGeluLinear: second weight \[2, 6\] does not take the 5 hidden channels/);
    assert.throws(() => ops.linearGeluLinear(c([1, 4, 3]), c([5, 4]), c([4]), c([2, 5]), undefined), /linearGeluLinear: first bias \[4\] must be \[5\]/);
    assert.throws(() => ops.linearGeluLinear(c([1, 4, 3]), c([5, 4]), undefined, c([2, 5]), c([3])), /linearGeluLinear: second bias \[3\] must be \[2\]/);
  });

  it('linear (channel mixing) with and without bias, 1-D and 2-D spatial', () => {
    expectOk('linear', gradcheck(([x, w, b]) => ops.linear(x!, w!, b!), [rand([3, 4, 7]), rand([5, 4]), rand([5])], { samples: 20 }));
    expectOk('linear 2d', gradcheck(([x, w]) => ops.linear(x!, w!), [rand([2, 3, 4, 5]), rand([6, 3])], { samples: 20 }));
  });

  it('addBias, channelScale, reshape', () => {
    expectOk('addBias', gradcheck(([x, b]) => ops.addBias(x!, b!), [rand([2, 3, 4, 2]), rand([3])]));
    expectOk('channelScale', gradcheck(([x, w]) => ops.channelScale(x!, w!), [rand([2, 3, 5]), rand([3])]));
    expectOk('reshape', gradcheck(([x]) => ops.gelu(ops.reshape(x!, [6, 2])), [rand([3, 4])]));
  });

  for (const norm of ['forward', 'backward', 'ortho'] as const) {
    it(`spectralConv 1-D, 2-D and 3-D (norm ${norm})`, () => {
      const cases: [number[], number[]][] = [[[9], [4]], [[6, 8], [3, 4]], [[5, 7], [5, 4]], [[4, 4, 6], [3, 2, 3]]];
      for (const [sizes, modes] of cases) {
        const M = modes.reduce((a, b) => a * b, 1);
        const r = gradcheck(
          ([x, wr, wi, b]) => ops.spectralConv(x!, wr!, wi!, b!, { modes, norm }),
          [rand([2, 3, ...sizes]), rand([M, 3, 2]), rand([M, 3, 2]), rand([2])],
          { samples: 16 },
        );
        expectOk(`spectralConv [${sizes}] modes [${modes}]`, r);
      }
    });
  }

  it('pad and crop (domain padding)', () => {
    expectOk('pad', gradcheck(([x]) => ops.pad(x!, [1, 0], [2, 3]), [rand([2, 1, 3, 4])]));
    expectOk('crop', gradcheck(([x]) => ops.crop(x!, [1, 2], [3, 2]), [rand([1, 2, 5, 6])]));
    expectOk('pad 1-D', gradcheck(([x]) => ops.gelu(ops.crop(ops.pad(x!, [2], [2]), [1], [5])), [rand([2, 2, 6])]));
  });

  it('a composed graph (shared input used twice) accumulates gradients', () => {
    expectOk('composed', gradcheck(([x, w]) => {
      const h = ops.gelu(ops.linear(x!, w!));
      return ops.add(ops.tanh(h), ops.mul(h, x!));
    }, [rand([2, 3, 4]), rand([3, 3])], { samples: 20 }));
    // the recomputing tanh adds its gradient into h's accumulated one in place when it runs after
    // h's other user (first operand of add: the backward reaches it last), and makes a new one otherwise
    for (const tanhFirst of [true, false]) {
      expectOk(`composed, tanh recomputed (${tanhFirst ? 'added in place' : 'new gradient'})`, gradcheck(([x, w]) => {
        const h = ops.gelu(ops.linear(x!, w!));
        const t = ops.tanh(h, { recompute: true });
        const m = ops.mul(h, x!);
        return tanhFirst ? ops.add(t, m) : ops.add(m, t);
      }, [rand([2, 3, 4]), rand([3, 3])], { samples: 20 }));
    }
  });
});

describe('autograd mechanics', () => {
  it('parameters accumulate .grad over two backward passes; saved tensors are freed', () => {
    const w = new Variable(Tensor.fromArray([1, 2, 3], [3], 'float32'), { requiresGrad: true });
    const live0 = ledger.snapshot().byRole.activation.live;
    for (let k = 0; k < 2; k++) {
      const loss = tidy(() => ops.mul(w, w));
      backward(loss, Tensor.fromArray([1, 1, 1], [3], 'float32'));
      loss.release();
    }
    assert.deepEqual(w.grad!.toArray(), [4, 8, 12]); // 2·(2w)
    assert.equal(ledger.snapshot().byRole.activation.live, live0, 'activations saved for backward were not all released');
    w.release();
  });

  it('tidy releases intermediates but keeps the result; noGrad records nothing', () => {
    const x = new Variable(Tensor.fromArray([0.5, -1], [2], 'float32'), { requiresGrad: true });
    let mid: Variable | undefined;
    const y = tidy(() => {
      mid = ops.gelu(x);
      return ops.tanh(mid);
    });
    assert.ok(mid!.isReleased && !y.isReleased && y.gradFn !== null);
    const z = noGrad(() => ops.tanh(x));
    assert.equal(z.gradFn, null);
    assert.equal(z.requiresGrad, false);
    backward(y, Tensor.fromArray([1, 1], [2], 'float32'));
    assert.equal(y.gradFn, null, 'the graph is freed after backward');
    for (const v of [x, y, z]) v.release();
  });

  it('errors name the problem', () => {
    const a = Variable.constant(Tensor.zeros([2, 3]));
    const b = Variable.constant(Tensor.zeros([3, 2]));
    assert.throws(() => ops.add(a, b), /add: shapes differ: \[2, 3\] and \[3, 2\]/);
    assert.throws(() => backward(ops.add(a, a)), /backward: the root does not require grad/);
    const w = new Variable(Tensor.zeros([4]), { requiresGrad: true });
    assert.throws(() => backward(ops.scale(w, 2)), /non-scalar root \[4\] needs an explicit gradient/);
    assert.throws(() => ops.linear(Variable.constant(Tensor.zeros([1, 3, 5])), Variable.constant(Tensor.zeros([4, 2]))), /linear: weight \[4, 2\] does not take 3 input channels/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import { gradcheck } from '../../src/autograd/gradcheck.js';
import { Variable } from '../../src/autograd/variable.js';
import { H1Loss, LpLoss } from '../../src/losses/index.js';

const rng = new Rng(3);
const rand = (shape: number[]) => rng.fillNormal(Tensor.empty(shape, 'float64'));

describe('losses', () => {
  it('LpLoss relative L2 equals the hand computation and sums over batch and channels', () => {
    const x = Tensor.fromArray([1, 2, 3, 4, 0, 0, 1, 1], [2, 1, 4], 'float64');
    const y = Tensor.fromArray([1, 2, 3, 5, 1, 1, 1, 1], [2, 1, 4], 'float64');
    const l = new LpLoss({ d: 1 }).rel(Variable.constant(x), y).item();
    const want = 1 / (Math.sqrt(1 + 4 + 9 + 25) + 1e-8) + Math.sqrt(2) / (2 + 1e-8); // neuralop adds eps = 1e-8 to ‖y‖
    assert.ok(Math.abs(l - want) < 1e-9, `${l} vs ${want}`);
    const mean = new LpLoss({ d: 1, reduction: 'mean' }).rel(Variable.constant(x), y).item();
    assert.ok(Math.abs(mean - want / 2) < 1e-9);
  });

  it('H1Loss of a sine against zero-perturbed target: derivative terms use h = 1/n and periodic wrap', () => {
    // y = sin(2πx) on 16 points, x = 0: relative error 1 (numerator equals denominator)
    const n = 16;
    const y = Tensor.fromArray(Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * i) / n)), [1, 1, n], 'float64');
    const zero = Tensor.zeros([1, 1, n], 'float64');
    assert.ok(Math.abs(new H1Loss({ d: 1 }).rel(Variable.constant(zero), y).item() - 1) < 1e-7);
    // x = 2y: relative error 1 as well; x = y + c (constant shift) changes only the L2 term
    const c = Tensor.fromArray(y.toFloat64().map((v) => v + 0.5), [1, 1, n], 'float64');
    const l = new H1Loss({ d: 1 }).rel(Variable.constant(c), y).item();
    // central differences of sin on n points: (sin(θ+δ) − sin(θ−δ))/(2h) = cos θ · sin(δ)/h
    const deriv = Math.sin((2 * Math.PI) / n) * n;
    const den = Math.sqrt(n / 2 + (deriv ** 2) * n / 2);
    assert.ok(Math.abs(l - Math.sqrt(0.25 * n) / den) < 1e-9, `${l}`);
  });

  for (const periodic of [true, false]) {
    it(`gradients match finite differences (H1 periodic=${periodic}, Lp p=2 and p=3, d = 1, 2, 3)`, () => {
      for (const [d, shape] of [[1, [2, 3, 7]], [2, [2, 1, 5, 6]], [3, [1, 2, 3, 4, 3]]] as const) {
        const y = rand([...shape]);
        for (const loss of [new LpLoss({ d }), new LpLoss({ d, p: 3 }), new H1Loss({ d, periodic })]) {
          const r = gradcheck(([x]) => loss.rel(x!, y), [rand([...shape])], { samples: 20 });
          assert.ok(r.maxRelErr[0]! < 1e-6, `${loss.constructor.name} d=${d}: ${r.maxRelErr[0]}`);
        }
        y.release();
      }
    });
  }

  it('bad input is named', () => {
    const a = Variable.constant(Tensor.zeros([2, 1, 4]));
    assert.throws(() => new LpLoss({ d: 1 }).rel(a, Tensor.zeros([2, 1, 5])), /LpLoss: prediction \[2, 1, 4\] and target \[2, 1, 5\] differ/);
    const nan = Tensor.fromArray([0, Number.NaN, 0, 0], [1, 1, 4]);
    // a non-finite prediction (an fp16 overflow) is not an error of the loss: its value is not finite
    for (const loss of [new H1Loss({ d: 1 }), new LpLoss({ d: 1 })]) {
      for (const bad of [nan, Tensor.fromArray([0, Number.POSITIVE_INFINITY, 1, 0], [1, 1, 4])]) {
        const v = loss.rel(Variable.constant(bad), Tensor.fromArray([1, 2, 3, 4], [1, 1, 4])).item();
        assert.ok(!Number.isFinite(v), `${loss.constructor.name}: loss of a non-finite prediction is ${v}`);
      }
    }
    assert.throws(() => new LpLoss({ d: 1 }).rel(Variable.constant(Tensor.zeros([1, 1, 4])), nan), /LpLoss: the target \[1, 1, 4\] has a non-finite value at element 1/);
    assert.throws(() => new LpLoss({ d: 4 }), /LpLoss: d must be 1, 2 or 3/);
    assert.throws(() => new H1Loss({ reduction: 'max' as 'sum' }), /H1Loss: reduction must be 'sum' or 'mean'/);
  });
});

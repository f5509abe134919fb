import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ledger } from '../../src/core/ledger.js';
import { Rng } from '../../src/core/rng.js';
import { ComplexTensor, Tensor } from '../../src/core/tensor.js';
import { contractComplex, formatPlan, peakIntermediate, planContraction, stepBytes } from '../../src/precision/contract/index.js';
import { naiveEinsum, realViews, runNaive } from '../../bench/contract.js';

describe('formatPlan and the peak intermediate', () => {
  it('prints the path, each step\'s GEMM shape and bytes, and the peak intermediate in the requested dtype', () => {
    const plan = planContraction('abcd,e,be,fe,ce,de->afcd', [[8, 32, 32, 9], [16], [32, 16], [32, 16], [32, 16], [9, 16]]);
    for (const [dtype, item] of [['float16', 2], ['float32', 4], ['bfloat16', 2], ['float64', 8]] as const) {
      const text = formatPlan(plan, dtype);
      assert.match(text, new RegExp(`intermediates in ${dtype}`));
      assert.ok(text.includes(`path: ${plan.path.map(([i, j]) => `(${i}, ${j})`).join(' ')}`), text);
      for (const s of plan.steps) {
        assert.equal(stepBytes(s, dtype), s.intermediateSize * (s.real ? 1 : 2) * item);
        assert.ok(text.includes(`[${s.gemm.batch}]·${s.gemm.m}x${s.gemm.k}·${s.gemm.k}x${s.gemm.n}`), text);
      }
      const peak = peakIntermediate(plan, dtype);
      assert.equal(peak.bytes, Math.max(...plan.steps.map((s) => stepBytes(s, dtype))));
      // the final output [8, 32, 32, 9] complex is the largest: 73 728 elements, 2 parts
      assert.equal(peak.elements, 8 * 32 * 32 * 9);
      assert.equal(peak.bytes, 8 * 32 * 32 * 9 * 2 * item);
      assert.match(text, new RegExp(`peak intermediate step ${peak.step + 1}: 73\\.7k complex elements = ${peak.bytes / 1024 >= 1024 ? (peak.bytes / 2 ** 20).toPrecision(3) + ' MiB' : (peak.bytes / 1024).toPrecision(3) + ' KiB'} in ${dtype}`), text);
    }
    // the default dtype is float32
    assert.equal(formatPlan(plan), formatPlan(plan, 'float32'));
    // with real CP weights the path changes and an intermediate 8× the output is the peak
    const realW = planContraction('abcd,e,be,fe,ce,de->afcd', [[8, 32, 32, 9], [8], [32, 8], [32, 8], [32, 8], [9, 8]], { real: [false, true, false, false, false, false] });
    const p = peakIntermediate(realW, 'float16');
    assert.equal(p.elements, realW.largestIntermediate);
    assert.equal(p.elements, 8 * 8 * 32 * 32 * 9);
    assert.match(formatPlan(realW, 'float16'), new RegExp(`peak intermediate step ${p.step + 1}: 590k complex elements = 2\\.25 MiB in float16`));
  });

  it('an all-real step counts one part', () => {
    const plan = planContraction('ab,bc->ac', [[3, 4], [4, 5]], { real: [true, true] });
    assert.equal(stepBytes(plan.steps[0]!, 'float16'), 15 * 2);
    assert.match(formatPlan(plan, 'float16'), /15 real elements = 30 B in float16/);
  });
});

describe('bench contract: the naive one-einsum baseline', () => {
  it('gives contractComplex\'s result, and its largest intermediate is 2^c times the output or more', () => {
    const rng = new Rng(12);
    const cases: [string, number[][]][] = [
      ['bixy,ioxy->boxy', [[2, 4, 4, 3], [4, 4, 4, 3]]],
      ['abcd,e,be,fe,ce,de->afcd', [[2, 4, 4, 3], [4], [4, 4], [4, 4], [4, 4], [3, 4]]],
    ];
    for (const [eq, shapes] of cases) {
      const live = ledger.snapshot().live;
      const ops = shapes.map((sh) => new ComplexTensor(rng.fillNormal(Tensor.empty(sh, 'float32')), rng.fillNormal(Tensor.empty(sh, 'float32'))));
      const want = contractComplex(eq, ops, { dtype: 'float32' });
      const naive = naiveEinsum(eq, shapes, shapes.map(() => true));
      const views = realViews(ops, 'float32');
      const got = runNaive(naive, views, 'float32');
      let err = 0;
      let mag = 0;
      for (const part of ['re', 'im'] as const) {
        const a = got[part].toFloat64();
        const b = want[part].toFloat64();
        b.forEach((v, i) => {
          err = Math.max(err, Math.abs(a[i]! - v));
          mag = Math.max(mag, Math.abs(v));
        });
      }
      assert.ok(err < 1e-5 * mag, `${eq}: naive differs by ${err} (max |C| ${mag})`);
      const out = want.re.size;
      const naivePeak = peakIntermediate(naive.plan, 'float16');
      const planned = peakIntermediate(planContraction(eq, shapes), 'float16');
      assert.ok(naivePeak.elements >= 2 ** shapes.length * out, `${eq}: naive largest ${naivePeak.elements}`);
      assert.ok(naivePeak.bytes >= 2 ** (shapes.length - 1) * planned.bytes, `${eq}: blow-up ${naivePeak.bytes / planned.bytes}`);
      for (const t of [got, want, ...ops]) t.release();
      views.forEach((v) => v.release());
      assert.equal(ledger.snapshot().live, live, `${eq}: leaked`);
    }
  });
});

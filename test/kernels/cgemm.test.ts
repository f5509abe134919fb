import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type KernelDType, KERNEL_DTYPES, unitRoundoff } from '../../src/core/dtype.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import type { ComplexGemmOptions, ComplexPair } from '../../src/kernels/backend.js';
import { complexGemm } from '../../src/kernels/cgemm.js';
import { pool } from '../../src/kernels/pool.js';
import { refComplexGemm, refGemm } from '../../src/kernels/ref/gemm.js';

const rng = new Rng(404);
const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;

function pair(shape: number[], dt: KernelDType): ComplexPair {
  return { re: rng.fillNormal(Tensor.empty(shape, dt)), im: rng.fillNormal(Tensor.empty(shape, dt)) };
}

function check(m: number, n: number, k: number, batch: number, o: ComplexGemmOptions, dts: [KernelDType, KernelDType, KernelDType], threads: number): void {
  const ash = o.transA ? [k, m] : [m, k];
  const bsh = o.transB ? [n, k] : [k, n];
  const a = pair(batch ? [batch, ...ash] : ash, dts[0]);
  const b = pair(batch ? [batch, ...bsh] : bsh, dts[1]);
  const c = pair(batch ? [batch, m, n] : [m, n], dts[2]);
  const want = { re: c.re.clone(), im: c.im.clone() };
  // bound: (2k + 4)·u32·Σ(|ar| + |ai|)(|br| + |bi|) (+ |C|) plus one ulp of a 16-bit output
  const abs = (p: ComplexPair) => Tensor.fromArray(p.re.toFloat64().map((v, i) => Math.abs(v) + Math.abs(p.im.toFloat64()[i]!)), p.re.shape, 'float64');
  const mag = Tensor.fromArray(c.re.toFloat64().map((v, i) => Math.abs(v) + Math.abs(c.im.toFloat64()[i]!)), c.re.shape, 'float64');
  const absA = abs(a);
  const absB = abs(b);
  refGemm(absA, absB, mag, { ...(o.transA ? { transA: true } : {}), ...(o.transB ? { transB: true } : {}), accumulate: o.accumulate === true });
  const prev = pool.threads;
  pool.setThreads(threads);
  try {
    complexGemm(a, b, c, o);
  } finally {
    pool.setThreads(prev);
  }
  refComplexGemm(a, b, want, o);
  const uOut = dts[2] === 'float32' ? 0 : 2 * unitRoundoff(dts[2]);
  const M = mag.toFloat64();
  for (const part of ['re', 'im'] as const) {
    const got = c[part].toFloat64();
    const exp = want[part].toFloat64();
    for (let i = 0; i < got.length; i++) {
      const tol = (2 * k + 4) * 2 ** -24 * M[i]! * (1 + uOut) + uOut * Math.abs(exp[i]!) + 1e-30;
      if (!(Math.abs(got[i]! - exp[i]!) <= tol)) assert.fail(`complexGemm ${m}x${n}x${k} b${batch} ${JSON.stringify(o)} ${dts} ${part}[${i}]: ${got[i]} vs ${exp[i]} (tol ${tol})`);
    }
  }
  for (const t of [a.re, a.im, b.re, b.im, c.re, c.im, want.re, want.im, absA, absB, mag]) t.release();
}

describe('complexGemm (fused wasm kernel) against the float64 reference', () => {
  it('random shapes, transposes, conjugations, accumulate and dtypes', () => {
    for (let trial = 0; trial < 120; trial++) {
      check(pick([1, 2, 3, 4, 5, 7, 8, 9, 13]), pick([1, 2, 3, 4, 5, 6, 8, 11]), pick([1, 2, 3, 5, 8, 17, 40]), pick([0, 1, 3]), {
        transA: rng.random() < 0.5, transB: rng.random() < 0.5, conjA: rng.random() < 0.5, conjB: rng.random() < 0.5, accumulate: rng.random() < 0.5,
      }, [pick(KERNEL_DTYPES), pick(KERNEL_DTYPES), pick(KERNEL_DTYPES)], 1);
    }
  });

  it('the spectral-convolution shapes, batched over modes, split across threads', () => {
    for (const dt of KERNEL_DTYPES) {
      check(8, 24, 24, 40, {}, [dt, 'float32', dt], 2); // forward: Y[m] = X[m]·W[m]
      check(8, 24, 24, 40, { transB: true, conjB: true }, [dt, dt, dt], 2); // dX = dY·W^H
      check(24, 24, 8, 40, { transA: true, conjA: true }, [dt, dt, 'float32'], 2); // dW = X^H·dY
    }
  });

  it('bad input is named', () => {
    const a = pair([2, 3], 'float32');
    const b = pair([4, 5], 'float32');
    const c = pair([2, 5], 'float32');
    assert.throws(() => complexGemm(a, b, c), /gemm: inner sizes differ/);
    const d = { re: Tensor.zeros([3, 5]), im: Tensor.zeros([3, 4]) };
    assert.throws(() => complexGemm(a, d, c), /complexGemm: B real part \[3, 5\] float32 and imaginary part \[3, 4\] float32 differ/);
    const e = pair([3, 5], 'float32');
    assert.throws(() => complexGemm(a, e, { re: c.re, im: c.re }), /complexGemm: C.im .* shares memory with .*C.re/);
  });
});

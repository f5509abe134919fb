import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { type KernelDType, KERNEL_DTYPES, unitRoundoff } from '../../src/core/dtype.js';
import { Rng } from '../../src/core/rng.js';
import { Tensor } from '../../src/core/tensor.js';
import type { GeluApproximate, GemmOptions } from '../../src/kernels/backend.js';
import * as ew from '../../src/kernels/elementwise.js';
import { gemm } from '../../src/kernels/gemm.js';
import { kernelVariant } from '../../src/kernels/module.js';
import { pool } from '../../src/kernels/pool.js';
import { refGemm } from '../../src/kernels/ref/gemm.js';
import { geluErfGrad, geluTanhGrad } from '../../src/kernels/ref/elementwise.js';
import { withThreads } from '../helpers.js';

interface Case {
  m: number; n: number; k: number; batch: number; batchA: boolean;
  transA: boolean; transB: boolean; accumulate: boolean; alpha: number; bias: boolean;
  aDt: KernelDType; bDt: KernelDType; cDt: KernelDType; biasDt: KernelDType;
}

function make(rng: Rng, c: Case) {
  const ash = c.transA ? [c.k, c.m] : [c.m, c.k];
  const bsh = c.transB ? [c.n, c.k] : [c.k, c.n];
  const batched = c.batch > 0;
  const a = rng.fillNormal(Tensor.empty(batched && c.batchA ? [c.batch, ...ash] : ash, c.aDt));
  const b = rng.fillNormal(Tensor.empty(batched ? [c.batch, ...bsh] : bsh, c.bDt));
  const cT = rng.fillNormal(Tensor.empty(batched ? [c.batch, c.m, c.n] : [c.m, c.n], c.cDt));
  const bias = c.bias ? rng.fillNormal(Tensor.empty([c.m], c.biasDt)) : undefined;
  const opts: GemmOptions = { transA: c.transA, transB: c.transB, accumulate: c.accumulate, alpha: c.alpha, ...(bias ? { bias } : {}) };
  return { a, b, c: cT, bias, opts };
}

/**
 * Checks the wasm result against the float64 reference with a bound that cannot be exceeded by a
 * correct f32-accumulating kernel: (K + 3)·u32·Σ|terms| for the f32 computation, plus one ulp of a
 * 16-bit output (the reference rounds f64 → half once, the kernel rounds its f32 result).
 */
function check(c: Case, threads: number, rng: Rng): void {
  const { a, b, c: cT, bias, opts } = make(rng, c);
  const want = cT.clone();
  // |terms| bound from the same operands with absolute values
  const absA = Tensor.fromArray(a.toFloat64().map(Math.abs), a.shape, 'float64');
  const absB = Tensor.fromArray(b.toFloat64().map(Math.abs), b.shape, 'float64');
  const absC = Tensor.fromArray(cT.toFloat64().map(Math.abs), cT.shape, 'float64');
  const absBias = bias ? Tensor.fromArray(bias.toFloat64().map(Math.abs), bias.shape, 'float64') : undefined;
  refGemm(absA, absB, absC, { ...opts, alpha: Math.abs(c.alpha), ...(absBias ? { bias: absBias } : {}) });
  const prev = pool.threads;
  pool.setThreads(threads);
  try {
    gemm(a, b, cT, opts);
  } finally {
    pool.setThreads(prev);
  }
  refGemm(a, b, want, opts);
  const got = cT.toFloat64();
  const exp = want.toFloat64();
  const mag = absC.toFloat64();
  const uOut = c.cDt === 'float32' ? 0 : 2 * unitRoundoff(c.cDt);
  for (let i = 0; i < got.length; i++) {
    const tol = (c.k + 3) * 2 ** -24 * mag[i]! * (1 + uOut) + uOut * Math.abs(exp[i]!) + 1e-30;
    if (!(Math.abs(got[i]! - exp[i]!) <= tol)) {
      assert.fail(`gemm ${JSON.stringify(c)} threads=${threads}: element ${i} got ${got[i]} want ${exp[i]} (tol ${tol})`);
    }
  }
  for (const t of [a, b, cT, want, absA, absB, absC, bias, absBias]) t?.release();
}

const SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33];

describe('gemm (wasm) against the float64 reference', () => {
  it('the reference itself multiplies small integer matrices exactly', () => {
    const a = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = Tensor.fromArray([7, 8, 9, 10, 11, 12], [3, 2]);
    const c = Tensor.fromArray([1, 1, 1, 1], [2, 2]);
    const bias = Tensor.fromArray([100, 200], [2]);
    refGemm(a, b, c, { accumulate: true, bias, alpha: 2 });
    assert.deepEqual(c.toArray(), [2 * 58 + 1 + 100, 2 * 64 + 1 + 100, 2 * 139 + 1 + 200, 2 * 154 + 1 + 200]);
    const d = Tensor.zeros([2, 2]);
    gemm(a, b, d);
    assert.deepEqual(d.toArray(), [58, 64, 139, 154]);
  });

  it('random shapes, transposes, dtypes, bias, alpha and accumulate (one thread)', () => {
    const rng = new Rng(1234);
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
    for (let trial = 0; trial < 250; trial++) {
      const batch = pick([0, 0, 1, 3]);
      check({
        m: pick(SIZES), n: pick([...SIZES, 40, 70]), k: pick([...SIZES, 255, 256, 257, 300, 600]),
        batch, batchA: rng.random() < 0.5, transA: rng.random() < 0.5, transB: rng.random() < 0.5,
        accumulate: rng.random() < 0.5, alpha: pick([1, -0.75, 2.5]), bias: rng.random() < 0.5,
        aDt: pick(KERNEL_DTYPES), bDt: pick(KERNEL_DTYPES), cDt: pick(KERNEL_DTYPES), biasDt: pick(KERNEL_DTYPES),
      }, 1, rng);
    }
  });

  it('every dtype combination on a shape with edges in M, N and K', () => {
    const rng = new Rng(99);
    for (const aDt of KERNEL_DTYPES) for (const bDt of KERNEL_DTYPES) for (const cDt of KERNEL_DTYPES) {
      check({ m: 6, n: 11, k: 270, batch: 2, batchA: false, transA: false, transB: false, accumulate: true, alpha: 1, bias: true, aDt, bDt, cDt, biasDt: cDt }, 1, rng);
    }
  });

  it('threaded paths (split along N, along the batch, and along K with a reduction) match', () => {
    const rng = new Rng(7);
    const base = { batchA: false, transA: false, transB: false, accumulate: true, alpha: 1, bias: true, biasDt: 'float32' as const };
    for (const dt of KERNEL_DTYPES) {
      // N split: n >= 64 per thread
      check({ ...base, m: 33, n: 1030, k: 70, batch: 1, aDt: dt, bDt: dt, cDt: dt }, 2, rng);
      // batch split: small N, several items, shared A
      check({ ...base, m: 64, n: 100, k: 130, batch: 5, aDt: 'float32', bDt: dt, cDt: dt }, 2, rng);
      // K split: tiny output, long K (the weight-gradient shape), transposed B
      check({ ...base, m: 16, n: 20, k: 8195, batch: 0, transB: true, aDt: dt, bDt: dt, cDt: dt }, 2, rng);
      check({ ...base, m: 16, n: 20, k: 8195, batch: 0, transA: true, aDt: dt, bDt: dt, cDt: dt }, 3, rng);
    }
  });

  it('size-0 dimensions: K = 0 gives beta·C + bias, M or N = 0 does nothing', () => {
    const a = Tensor.empty([3, 0]);
    const b = Tensor.empty([0, 4]);
    const c = Tensor.full([3, 4], 2);
    const bias = Tensor.fromArray([1, 2, 3]);
    gemm(a, b, c, { accumulate: true, bias });
    assert.deepEqual(c.toArray(), [3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]);
    gemm(Tensor.empty([0, 5]), Tensor.empty([5, 4]), Tensor.empty([0, 4]));
  });

});

/**
 * sumBatch: C [M, N] = alpha·Σ_b op(A_b)·op(B_b) (+ C) (+ bias). Each item is added into C as gemm
 * adds one product, so a 16-bit C rounds once per item: the bound is the f32 one over the whole sum
 * plus one rounding of the magnitude per item.
 */
function checkSum(c: Case, threads: number, rng: Rng): Float64Array {
  const ash = c.transA ? [c.k, c.m] : [c.m, c.k];
  const bsh = c.transB ? [c.n, c.k] : [c.k, c.n];
  const a = rng.fillNormal(Tensor.empty(c.batchA ? [c.batch, ...ash] : ash, c.aDt));
  const b = rng.fillNormal(Tensor.empty([c.batch, ...bsh], c.bDt));
  const cT = rng.fillNormal(Tensor.empty([c.m, c.n], c.cDt));
  const bias = c.bias ? rng.fillNormal(Tensor.empty([c.m], c.biasDt)) : undefined;
  const opts: GemmOptions = { transA: c.transA, transB: c.transB, accumulate: c.accumulate, alpha: c.alpha, sumBatch: true, ...(bias ? { bias } : {}) };
  const abs = (t: Tensor) => Tensor.fromArray(t.toFloat64().map(Math.abs), t.shape, 'float64');
  const [absA, absB, absC] = [abs(a), abs(b), abs(cT)];
  const absBias = bias ? abs(bias) : undefined;
  refGemm(absA, absB, absC, { ...opts, alpha: Math.abs(c.alpha), ...(absBias ? { bias: absBias } : {}) });
  const want = Tensor.fromArray(cT.toFloat64(), cT.shape, 'float64');
  refGemm(a, b, want, opts);
  withThreads(threads, () => gemm(a, b, cT, opts));
  const got = cT.toFloat64();
  const exp = want.toFloat64();
  const mag = absC.toFloat64();
  const uOut = c.cDt === 'float32' ? 0 : 2 * unitRoundoff(c.cDt);
  for (let i = 0; i < got.length; i++) {
    const tol = ((c.k + 3) * c.batch * 2 ** -24 + c.batch * uOut) * mag[i]! * (1 + uOut) + 1e-30;
    if (!(Math.abs(got[i]! - exp[i]!) <= tol)) {
      assert.fail(`gemm sumBatch ${JSON.stringify(c)} threads=${threads}: element ${i} got ${got[i]} want ${exp[i]} (tol ${tol})`);
    }
  }
  for (const t of [a, b, cT, want, absA, absB, absC, bias, absBias]) t?.release();
  return got;
}

describe('gemm summed over the batch (sumBatch: a channel mixing\'s weight gradient)', () => {
  it('random shapes, transposes, dtypes, shared A, bias, alpha and accumulate match the float64 reference', () => {
    const rng = new Rng(4321);
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
    for (let trial = 0; trial < 150; trial++) {
      checkSum({
        m: pick(SIZES), n: pick([...SIZES, 40]), k: pick([...SIZES, 256, 300]),
        batch: pick([1, 2, 3, 7]), batchA: rng.random() < 0.7, transA: rng.random() < 0.5, transB: rng.random() < 0.5,
        accumulate: rng.random() < 0.5, alpha: pick([1, -0.75, 2.5]), bias: rng.random() < 0.5,
        aDt: pick(KERNEL_DTYPES), bDt: pick(KERNEL_DTYPES), cDt: pick(KERNEL_DTYPES), biasDt: pick(KERNEL_DTYPES),
      }, pick([1, 2]), rng);
    }
  });

  it('the threaded split (rows or columns of C) gives the one-thread result bit for bit', () => {
    // large enough to be split: 2·B·M·N·K ≥ 4 Mflop
    const shapes = [
      { m: 24, n: 24, k: 256, batch: 64 }, // darcy16's 1×1 mixing: Co × Ci, K = spatial
      { m: 5, n: 96, k: 1024, batch: 8 }, // few rows: split by columns
      { m: 70, n: 3, k: 4096, batch: 4 }, // few columns: split by rows
    ];
    for (const dt of KERNEL_DTYPES) for (const s of shapes) {
      const c: Case = { ...s, batchA: true, transA: false, transB: true, accumulate: true, alpha: 1, bias: true, aDt: dt, bDt: dt, cDt: 'float32', biasDt: 'float32' };
      const one = checkSum(c, 1, new Rng(5));
      for (const threads of [2, 3]) {
        const many = checkSum(c, threads, new Rng(5));
        assert.deepEqual(many, one, `threads=${threads} ${JSON.stringify(s)} ${dt}`);
      }
    }
  });

  it('equals the per-item loop of accumulating gemm calls bit for bit', () => {
    const rng = new Rng(11);
    for (const dt of KERNEL_DTYPES) {
      const [B, M, N, K] = [6, 9, 13, 300];
      const a = rng.fillNormal(Tensor.empty([B, M, K], dt));
      const b = rng.fillNormal(Tensor.empty([B, N, K], dt));
      const bias = rng.fillNormal(Tensor.empty([M], 'float32'));
      const c1 = rng.fillNormal(Tensor.empty([M, N], dt));
      const c2 = c1.clone();
      gemm(a, b, c1, { transB: true, accumulate: true, sumBatch: true, bias });
      for (let i = 0; i < B; i++) {
        const [ai, bi] = [a.slice(i, i + 1).reshapeOwned([M, K]), b.slice(i, i + 1).reshapeOwned([N, K])];
        gemm(ai, bi, c2, { transB: true, accumulate: true, ...(i === 0 ? { bias } : {}) });
        ai.release();
        bi.release();
      }
      assert.deepEqual(c1.toFloat64(), c2.toFloat64(), dt);
      for (const t of [a, b, bias, c1, c2]) t.release();
    }
  });

  it('bad use names the problem', () => {
    const f = (shape: number[]) => Tensor.zeros(shape);
    assert.throws(() => gemm(f([2, 3]), f([3, 5]), f([2, 5]), { sumBatch: true }), /gemm: sumBatch needs a batched A or B and a 2-D C/);
    assert.throws(() => gemm(f([4, 2, 3]), f([4, 3, 5]), f([4, 2, 5]), { sumBatch: true }), /sumBatch needs .* 2-D C/);
    assert.throws(() => gemm(f([4, 2, 3]), f([3, 3, 5]), f([2, 5]), { sumBatch: true }), /gemm: batch sizes differ/);
    assert.throws(() => gemm(f([4, 2, 3]), f([4, 3, 5]), f([2, 5]), { sumBatch: true, gelu: 'none' }), /sumBatch does not take a fused activation/);
  });
});

describe('gemm bad input', () => {
  const f = (shape: number[], dt: 'float32' | 'float64' | 'float16' = 'float32') => Tensor.zeros(shape, dt);
  it('names the operation and the shapes', () => {
    assert.throws(() => gemm(f([2, 3]), f([4, 5]), f([2, 5])), /gemm: inner sizes differ.*A \[2, 3\] float32.*B \[4, 5\] float32/);
    assert.throws(() => gemm(f([2, 3]), f([3, 5]), f([2, 4])), /gemm: C must be \[2, 5\].*C \[2, 4\]/);
    assert.throws(() => gemm(f([3]), f([3, 5]), f([1, 5])), /gemm: A must be 2-D or 3-D/);
    assert.throws(() => gemm(f([2, 2, 3]), f([3, 3, 5]), f([2, 2, 5])), /gemm: batch sizes differ/);
    assert.throws(() => gemm(f([2, 3]), f([2, 3, 5]), f([2, 5])), /batched C/);
    assert.throws(() => gemm(f([2, 3]), f([3, 5]), f([2, 5]), { bias: f([5]) }), /gemm: bias must be \[2\]/);
    assert.throws(() => gemm(f([2, 3]), f([3, 5]), f([2, 5]), { alpha: Number.NaN }), /gemm: alpha must be a finite number/);
    assert.throws(() => gemm(f([2, 3], 'float64'), f([3, 5]), f([2, 5])), /gemm: float64 has no wasm kernel/);
    assert.throws(() => gemm(f([3, 2]), f([3, 5]), f([2, 5]), { transA: false }), /inner sizes differ/);
    const big = f([4, 4]);
    assert.throws(() => gemm(big.slice(0, 2), f([4, 4]), big.slice(1, 3)), /gemm: C \(\[2, 4\] float32\) shares memory with A/);
    assert.throws(() => gemm(f([4, 4]), big, big), /gemm: C .* shares memory with B/);
    const r = f([2, 3]);
    r.release();
    assert.throws(() => gemm(r, f([3, 5]), f([2, 5])), /gemm: A \(\[2, 3\] float32\) was already released/);
  });
});

describe('kernel builds: relaxed-SIMD fused multiply-add and the plain-SIMD fallback', () => {
  const plainForced = process.env['MPNO_RELAXED_SIMD'] === '0';

  it('this process runs the build that MPNO_RELAXED_SIMD selects (relaxed unless it is 0)', () => {
    // Node 20 accepts relaxed SIMD behind the flag that module.ts sets; Node >= 22 by default
    assert.equal(kernelVariant, plainForced ? 'simd' : 'relaxed-simd');
  });

  it('the GEMM multiply-adds are fused in the relaxed build (on an FMA CPU) and never in the plain one', () => {
    // C = (−1)·(1 + 2^-11) + a·a with a = 1 + 2^-12: a² = 1 + 2^-11 + 2^-24 exactly, so a fused
    // multiply-add leaves 2^-24 where mul-then-add rounds a² to 1 + 2^-11 (a tie, to even) and gives 0.
    const a = 1 + 2 ** -12;
    const A = Tensor.fromArray([-1, a], [1, 2], 'float32');
    const B = Tensor.fromArray([1 + 2 ** -11, a], [2, 1], 'float32');
    const C = Tensor.zeros([1, 1], 'float32');
    gemm(A, B, C);
    const got = C.toArray()[0];
    const cpuFma = existsSync('/proc/cpuinfo') && /\bfma\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
    if (kernelVariant === 'simd') assert.equal(got, 0);
    else if (cpuFma) assert.equal(got, 2 ** -24);
    else assert.ok(got === 0 || got === 2 ** -24, `got ${got}`);
    for (const t of [A, B, C]) t.release();
  });

  it('the plain-SIMD fallback passes this whole file (child process with MPNO_RELAXED_SIMD=0)', { skip: plainForced }, () => {
    const file = fileURLToPath(import.meta.url);
    // without NODE_TEST_CONTEXT the child reports in TAP on its stdout instead of to this runner
    const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--test', file], {
      env: { ...env, MPNO_RELAXED_SIMD: '0' }, encoding: 'utf8', timeout: 300_000,
    });
    assert.equal(r.status, 0, `child run failed:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-2000)}`);
    assert.match(r.stdout, /# fail 0/);
  });
});

/** |Φ(z)| + |z·φ(z)|: the size of the two terms of the erf gelu's derivative Φ(z) + z·φ(z). */
function geluErfGradTerms(z: number): number {
  const phi = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
  return Math.abs(geluErfGrad(z) - z * phi) + Math.abs(z * phi);
}

describe('gemm with the fused bias + gelu epilogue', () => {
  it('matches the float64 reference (gelu of the float64 sum) over random shapes, dtypes, K blocks and threads', () => {
    const rng = new Rng(4321);
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
    for (let trial = 0; trial < 120; trial++) {
      const c: Case = {
        m: pick(SIZES), n: pick([...SIZES, 70, 300]), k: pick([1, 3, 8, 17, 255, 256, 257, 600]),
        batch: pick([0, 0, 2]), batchA: false, transA: rng.random() < 0.3, transB: rng.random() < 0.3,
        accumulate: rng.random() < 0.3, alpha: pick([1, 0.5]), bias: rng.random() < 0.7,
        aDt: pick(KERNEL_DTYPES), bDt: pick(KERNEL_DTYPES), cDt: pick(KERNEL_DTYPES), biasDt: pick(KERNEL_DTYPES),
      };
      const approx: GeluApproximate = pick(['none', 'tanh'] as const);
      const withZ = rng.random() < 0.6;
      const threads = pick([1, 2]);
      const { a, b, c: cT, bias, opts } = make(rng, c);
      const yRef = cT.clone();
      // the derivative's reference from the unrounded float64 sums
      const z64 = Tensor.fromArray(cT.toFloat64(), cT.shape, 'float64');
      refGemm(a, b, z64, opts);
      const Z = z64.toFloat64();
      const dWant = Z.map(approx === 'tanh' ? geluTanhGrad : geluErfGrad);
      z64.release();
      refGemm(a, b, yRef, { ...opts, gelu: approx });
      // |terms| for the bound on the sum's f32 error
      const abs = (t: Tensor) => Tensor.fromArray(t.toFloat64().map(Math.abs), t.shape, 'float64');
      const mag = abs(cT);
      const absBias = bias ? abs(bias) : undefined;
      refGemm(abs(a), abs(b), mag, { ...opts, alpha: Math.abs(c.alpha), ...(absBias ? { bias: absBias } : {}) });
      const z = withZ ? Tensor.empty(cT.shape, cT.dtype) : undefined;
      withThreads(threads, () => gemm(a, b, cT, { ...opts, gelu: approx, ...(z ? { activationGrad: z } : {}) }));
      const got = cT.toFloat64();
      const want = yRef.toFloat64();
      const zg = z?.toFloat64();
      const M = mag.toFloat64();
      const uOut = c.cDt === 'float32' ? 0 : 2 * unitRoundoff(c.cDt);
      for (let i = 0; i < got.length; i++) {
        const sumErr = (c.k + 3) * 2 ** -24 * M[i]! * (1 + uOut);
        // gelu′ ∈ [−0.17, 1.13]: the sum's error moves gelu by at most 1.13 times it
        const tol = 1.13 * sumErr + (uOut + 2e-6) * Math.abs(want[i]!) + 1e-30;
        if (!(Math.abs(got[i]! - want[i]!) <= tol)) assert.fail(`fused gelu ${approx} ${JSON.stringify(c)} threads=${threads}: element ${i} got ${got[i]} want ${want[i]} (tol ${tol})`);
        // |gelu″| ≤ 0.8; the derivative near 1 carries an absolute f32 error of a few 2^-24; a 16-bit C's
        // erf gelu is computed to its own precision (a relative error near 1e-6 in the two terms
        // Φ(z) and z·φ(z), which cancel near z ≈ −0.75)
        const terms = c.cDt === 'float32' || approx === 'tanh' ? 0 : 1e-5 * geluErfGradTerms(Z[i]!);
        if (zg && !(Math.abs(zg[i]! - dWant[i]!) <= 0.8 * sumErr + (uOut + 2e-6) * Math.abs(dWant[i]!) + 4e-7 + terms)) {
          assert.fail(`activationGrad ${approx} ${JSON.stringify(c)}: element ${i} got ${zg[i]} want ${dWant[i]}`);
        }
      }
      for (const t of [a, b, cT, yRef, mag, bias, absBias, z]) t?.release();
    }
  });

  it('in float32 equals gemm followed by the gelu kernel bit for bit (its derivative too)', () => {
    const rng = new Rng(77);
    for (const [m, k, n, approx, threads] of [[24, 24, 4100, 'none', 2], [7, 300, 33, 'tanh', 1], [48, 96, 1030, 'none', 1]] as const) {
      const W = rng.fillNormal(Tensor.empty([m, k], 'float32'));
      const X = rng.fillNormal(Tensor.empty([3, k, n], 'float32'));
      const bias = rng.fillNormal(Tensor.empty([m], 'float32'));
      const z1 = Tensor.empty([3, m, n], 'float32');
      const y1 = Tensor.empty([3, m, n], 'float32');
      const d1 = Tensor.empty([3, m, n], 'float32');
      const d2 = Tensor.empty([3, m, n], 'float32');
      const y2 = Tensor.empty([3, m, n], 'float32');
      const y3 = Tensor.empty([3, m, n], 'float32');
      withThreads(threads, () => {
        gemm(W, X, z1, { bias });
        ew.gelu(z1, y1, approx, d1);
        gemm(W, X, y2, { bias, gelu: approx, activationGrad: d2 });
        gemm(W, X, y3, { bias, gelu: approx });
      });
      assert.deepEqual(d2.toArray(), d1.toArray());
      assert.deepEqual(y2.toArray(), y1.toArray());
      assert.deepEqual(y3.toArray(), y1.toArray());
      for (const t of [W, X, bias, z1, y1, d1, d2, y2, y3]) t.release();
    }
  });

  it('rejects an activationGrad without gelu, of the wrong shape or dtype, or sharing memory', () => {
    const A = Tensor.zeros([2, 3]);
    const B = Tensor.zeros([3, 4]);
    const C = Tensor.zeros([2, 4]);
    assert.throws(() => gemm(A, B, C, { activationGrad: Tensor.zeros([2, 4]) }), /gemm: activationGrad is only written with a fused activation/);
    assert.throws(() => gemm(A, B, C, { gelu: 'none', activationGrad: Tensor.zeros([2, 5]) }), /gemm: activationGrad must be a contiguous tensor like C/);
    assert.throws(() => gemm(A, B, C, { gelu: 'none', activationGrad: Tensor.zeros([2, 4], 'float16') }), /activationGrad must be/);
    assert.throws(() => gemm(A, B, C, { gelu: 'none', activationGrad: C }), /gemm: activationGrad .* shares memory with C/);
    assert.throws(() => gemm(A, B, C, { gelu: 'erf' as GeluApproximate }), /gemm: gelu must be 'none' or 'tanh'/);
  });
});

describe('gemm with a residual (before the activation) and a factor (after it)', () => {
  it('matches the float64 reference over random shapes, dtypes, K blocks, batches and threads', () => {
    const rng = new Rng(2468);
    const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
    for (let trial = 0; trial < 100; trial++) {
      const c: Case = {
        m: pick(SIZES), n: pick([...SIZES, 70, 300]), k: pick([0, 1, 3, 8, 17, 255, 256, 257, 600]),
        batch: pick([0, 0, 2, 5]), batchA: false, transA: rng.random() < 0.3, transB: rng.random() < 0.3,
        accumulate: rng.random() < 0.3, alpha: pick([1, 0.5]), bias: rng.random() < 0.5,
        aDt: pick(KERNEL_DTYPES), bDt: pick(KERNEL_DTYPES), cDt: pick(KERNEL_DTYPES), biasDt: pick(KERNEL_DTYPES),
      };
      const act: GeluApproximate | undefined = pick([undefined, 'none', 'tanh'] as const);
      const withR = rng.random() < 0.7;
      const withM = !withR || rng.random() < 0.6;
      const threads = pick([1, 2]);
      const { a, b, c: cT, bias, opts } = make(rng, c);
      const R = withR ? rng.fillNormal(Tensor.empty(cT.shape, cT.dtype)) : undefined;
      const M = withM ? rng.fillNormal(Tensor.empty(cT.shape, cT.dtype)) : undefined;
      const full: GemmOptions = { ...opts, ...(act ? { gelu: act } : {}), ...(R ? { residual: R } : {}), ...(M ? { multiply: M } : {}) };
      const yRef = cT.clone();
      refGemm(a, b, yRef, full);
      // the activation's values (before the factor) and the |terms| of the sum, for the bound
      const aRef = cT.clone();
      refGemm(a, b, aRef, { ...full, multiply: undefined });
      const abs = (t: Tensor) => Tensor.fromArray(t.toFloat64().map(Math.abs), t.shape, 'float64');
      const mag = abs(cT);
      const absBias = bias ? abs(bias) : undefined;
      refGemm(abs(a), abs(b), mag, { ...opts, alpha: Math.abs(c.alpha), ...(absBias ? { bias: absBias } : {}), ...(R ? { residual: abs(R) } : {}) });
      withThreads(threads, () => gemm(a, b, cT, full));
      const got = cT.toFloat64();
      const want = yRef.toFloat64();
      const actV = aRef.toFloat64();
      const Mv = M?.toFloat64();
      const mg = mag.toFloat64();
      const uOut = c.cDt === 'float32' ? 0 : 2 * unitRoundoff(c.cDt);
      for (let i = 0; i < got.length; i++) {
        const sumErr = (c.k + 4) * 2 ** -24 * mg[i]! * (1 + uOut);
        const f = Mv ? Math.abs(Mv[i]!) : 1;
        const tol = f * (1.13 * sumErr + (uOut + 2e-6) * Math.abs(actV[i]!)) + uOut * Math.abs(want[i]!) + 1e-30;
        if (!(Math.abs(got[i]! - want[i]!) <= tol)) {
          assert.fail(`gemm residual ${!!R} factor ${!!M} act ${act} ${JSON.stringify(c)} threads=${threads}: element ${i} got ${got[i]} want ${want[i]} (tol ${tol})`);
        }
      }
      for (const t of [a, b, cT, yRef, aRef, mag, bias, absBias, R, M]) t?.release();
    }
  });

  it('in float32 equals gemm, add, gelu and mul run one after the other, bit for bit', () => {
    const rng = new Rng(99);
    for (const [m, k, n, approx, threads] of [[24, 24, 4100, 'none', 2], [7, 300, 33, 'tanh', 1], [48, 96, 1030, 'none', 1], [32, 600, 70, 'none', 2]] as const) {
      const W = rng.fillNormal(Tensor.empty([m, k], 'float32'));
      const X = rng.fillNormal(Tensor.empty([3, k, n], 'float32'));
      const bias = rng.fillNormal(Tensor.empty([m], 'float32'));
      const [R, F, z, y1, d1, y2, d2] = Array.from({ length: 7 }, () => Tensor.empty([3, m, n], 'float32'));
      rng.fillNormal(R!);
      rng.fillNormal(F!);
      withThreads(threads, () => {
        gemm(W, X, z!, { bias });
        ew.binary('add', z!, R!, z!);
        ew.gelu(z!, y1!, approx, d1!);
        ew.binary('mul', y1!, F!, y1!);
        gemm(W, X, y2!, { bias, residual: R!, gelu: approx, activationGrad: d2!, multiply: F! });
      });
      assert.deepEqual(y2!.toArray(), y1!.toArray());
      assert.deepEqual(d2!.toArray(), d1!.toArray());
      for (const t of [W, X, bias, R, F, z, y1, d1, y2, d2]) t!.release();
    }
  });

  it('rejects a residual or factor of the wrong shape or dtype, sharing memory with C, or with sumBatch', () => {
    const A = Tensor.zeros([2, 3]);
    const B = Tensor.zeros([3, 4]);
    const C = Tensor.zeros([2, 4]);
    assert.throws(() => gemm(A, B, C, { residual: Tensor.zeros([2, 5]) }), /gemm: residual must be a contiguous tensor like C/);
    assert.throws(() => gemm(A, B, C, { multiply: Tensor.zeros([2, 4], 'bfloat16') }), /gemm: multiply must be a contiguous tensor like C/);
    assert.throws(() => gemm(A, B, C, { multiply: C }), /gemm: multiply .* shares memory with C/);
    const Ab = Tensor.zeros([5, 2, 3]);
    const Bb = Tensor.zeros([5, 3, 4]);
    assert.throws(() => gemm(Ab, Bb, C, { sumBatch: true, residual: Tensor.zeros([2, 4]) }), /gemm: sumBatch does not take a residual/);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { Tensor, shapeSize } from '../../src/core/tensor.js';
import { Variable, noGrad, tidy } from '../../src/autograd/variable.js';
import { BOUND_LEGEND, boundRows, boundTable } from '../../src/cli/bound.js';
import { type FftNorm, rfftn, rfftnModes } from '../../src/fft/index.js';
import { FNO } from '../../src/models/fno.js';
import { gridEmbedding } from '../../src/nn/layers.js';
import {
  discretizationBound, discretizationBoundL2, errorBudget, estimateLipschitz, estimateLipschitzPerAxis,
  estimateSupNorm, fftErrorReport, fftPrecisionBound, halfIoFftBound, keptFrequencies, measuredFftError, unitRoundoff,
} from '../../src/precision/index.js';

const rng = new Rng(777);
const HALVES = ['float16', 'bfloat16'] as const;
const U16 = 2 ** -11;
const UBF = 2 ** -8;
const u16 = () => U16;

/** Relative L2 error of rfftn (half spectrum, whole batch) in emulated half vs float64, and the norms. */
function rfftnError(vals: Float64Array, shape: number[], d: number, half: 'float16' | 'bfloat16', norm: FftNorm) {
  const x64 = Tensor.fromArray(vals, shape, 'float64');
  const x32 = Tensor.fromArray(vals, shape, 'float32');
  const ref = rfftn(x64, d, { norm });
  const got = rfftn(x32, d, { norm, emulate: half });
  const rr = ref.re.toFloat64();
  const ri = ref.im.toFloat64();
  const gr = got.re.toFloat64();
  const gi = got.im.toFloat64();
  let e2 = 0;
  let s2 = 0;
  for (let i = 0; i < rr.length; i++) {
    e2 += (gr[i]! - rr[i]!) ** 2 + (gi[i]! - ri[i]!) ** 2;
    s2 += rr[i]! ** 2 + ri[i]! ** 2;
  }
  for (const t of [x64, x32, ref, got]) t.release();
  return { rel: Math.sqrt(e2 / s2), halfNorm: Math.sqrt(s2) };
}

function l2(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

function normScale(sizes: number[], norm: FftNorm): number {
  const N = shapeSize(sizes);
  return norm === 'forward' ? 1 / N : norm === 'ortho' ? 1 / Math.sqrt(N) : 1;
}

/** Inputs of different character: white noise, a DC-heavy uniform field, a smooth field plus noise. */
function input(kind: 'normal' | 'uniform' | 'smooth', batch: number, sizes: number[]): Float64Array {
  const N = shapeSize(sizes);
  if (kind === 'normal') return rng.normalArray(batch * N);
  if (kind === 'uniform') return rng.uniformArray(batch * N, 0, 1);
  const v = rng.normalArray(batch * N, 0, 0.01);
  const d = sizes.length;
  for (let b = 0; b < batch; b++) {
    const f = 1 + rng.int(3);
    for (let i = 0; i < N; i++) {
      let r = i;
      let phase = 0;
      for (let a = d - 1; a >= 0; a--) {
        phase += ((r % sizes[a]!) / sizes[a]!) * f * (a + 1);
        r = Math.floor(r / sizes[a]!);
      }
      v[b * N + i]! += Math.sin(2 * Math.PI * phase) + 0.3;
    }
  }
  return v;
}

describe('precision bound of the emulated-half FFT vs measured errors', () => {
  const cases1: number[][] = [[16], [32], [64], [128], [256], [48], [96], [240]];
  const cases2: number[][] = [[16, 16], [32, 32], [64, 64], [128, 128], [256, 256], [48, 80], [16, 256]];

  for (const half of HALVES) {
    it(`rfftn and rfftnModes, 1-D and 2-D smooth sizes: measured ≤ worst every trial, typical within 2× (${half})`, () => {
      const u = unitRoundoff(half);
      let trials = 0;
      for (const sizes of [...cases1, ...cases2]) {
        const N = shapeSize(sizes);
        const d = sizes.length;
        const batch = Math.max(2, Math.min(40, Math.floor(2 ** 17 / N)));
        for (const kind of ['normal', 'uniform', 'smooth'] as const) {
          const norm: FftNorm = kind === 'uniform' && N <= 4096 ? 'backward' : kind === 'smooth' && d === 1 ? 'ortho' : 'forward';
          const vals = input(kind, batch, [...sizes]);
          const shape = [batch, ...sizes];
          const bound = fftPrecisionBound(sizes, u, { norm });
          // rfftn: error over the half spectrum; the bound is relative to the full spectrum's norm
          const { rel, halfNorm } = rfftnError(vals, shape, d, half, norm);
          const fullNorm = normScale(sizes, norm) * Math.sqrt(N) * l2(vals);
          const worstHere = (bound.worst * fullNorm) / halfNorm;
          assert.ok(rel <= worstHere, `${half} rfftn ${sizes.join('x')} ${kind} ${norm}: measured ${rel} > bound ${worstHere}`);
          assert.ok(fullNorm / halfNorm <= Math.SQRT2 + 1e-9, 'the half spectrum holds at least half the energy');
          // rfftnModes with a truncation (as a spectral layer uses it)
          const modes = sizes.map((n, a) => (a === d - 1 ? Math.min(12, (n >> 1) + 1) : Math.min(12, n)));
          const x = Tensor.fromArray(vals, shape, 'float64');
          const rep = fftErrorReport(x, modes, half, { norm });
          assert.ok(rep.measured <= rep.worst, `${half} rfftnModes ${sizes.join('x')} ${kind}: measured ${rep.measured} > bound ${rep.worst}`);
          assert.ok(rep.measured > 0);
          if (kind === 'normal') {
            // white input: the rounding-noise estimate is the right size, from both sides
            const q = rel / bound.typical;
            assert.ok(q > 0.5 && q < 2, `${half} ${sizes.join('x')}: measured ${rel} vs typical ${bound.typical} (×${q.toFixed(2)})`);
            const qm = rep.measured / rep.typical;
            assert.ok(qm > 0.5 && qm < 2, `${half} modes ${sizes.join('x')}: measured ${rep.measured} vs typical ${rep.typical} (×${qm.toFixed(2)})`);
            // and the worst case is a genuine worst case, not the typical size
            assert.ok(bound.worst > 4 * bound.typical);
          }
          x.release();
          trials++;
        }
      }
      assert.equal(trials, 3 * (cases1.length + cases2.length));
    });
  }

  it('measuredFftError with all modes equals the rfftn error (same arithmetic, other layout)', () => {
    for (const sizes of [[64], [32, 48]]) {
      const d = sizes.length;
      const vals = rng.normalArray(6 * shapeSize(sizes));
      const shape = [6, ...sizes];
      const full = sizes.map((n, a) => (a === d - 1 ? (n >> 1) + 1 : n));
      for (const half of HALVES) {
        const a = measuredFftError(Tensor.fromArray(vals, shape, 'float64'), full, half);
        const b = rfftnError(vals, shape, d, half, 'forward').rel;
        assert.ok(Math.abs(a - b) <= 1e-6 * b, `${sizes}: ${a} vs ${b}`);
      }
    }
  });

  it('Bluestein lengths (prime factors > 5): measured ≤ worst, typical within 2×', () => {
    for (const sizes of [[7], [97], [14, 22], [13, 16]]) {
      for (const half of HALVES) {
        const N = shapeSize(sizes);
        const batch = Math.max(4, Math.min(40, Math.floor(2 ** 15 / N)));
        const vals = rng.normalArray(batch * N);
        const b = fftPrecisionBound(sizes, unitRoundoff(half), { norm: 'forward' });
        assert.ok(b.passes.some((p) => p.algorithm === 'bluestein'));
        for (const p of b.passes.filter((q) => q.algorithm === 'bluestein')) assert.ok(p.amplification >= 1 && p.amplification < 3, `κ = ${p.amplification}`);
        const { rel, halfNorm } = rfftnError(vals, [batch, ...sizes], sizes.length, half, 'forward');
        const fullNorm = Math.sqrt(N) * l2(vals) / N;
        assert.ok(rel <= (b.worst * fullNorm) / halfNorm, `${half} ${sizes}: ${rel} > ${b.worst}`);
        const q = rel / b.typical;
        assert.ok(q > 0.5 && q < 2, `${half} ${sizes}: measured ${rel} vs typical ${b.typical}`);
      }
    }
  });

  it('the bound holds per signal: a tiny signal next to large ones keeps its own small relative error', () => {
    // in emulated half the real FFT gives every signal its own complex lane (no two-for-one packing,
    // which would mix a large neighbour's rounding errors into a small signal)
    const n = 64;
    const B = 34;
    const vals = rng.normalArray(B * n);
    for (let i = n; i < 2 * n; i++) vals[i]! *= 1e-3;
    const x64 = Tensor.fromArray(vals, [B, n], 'float64');
    const rep = fftErrorReport(x64, [n / 2 + 1], 'float16');
    assert.ok(rep.measured <= rep.worst, `batch: ${rep.measured} > ${rep.worst}`);
    // signal 1 alone: its own relative error against the bound scaled to its own norm
    const one = Tensor.fromArray(vals.slice(n, 2 * n), [1, n], 'float64');
    const ref = rfftnModes(one, [n / 2 + 1], { norm: 'forward' });
    const got = rfftnModes(Tensor.fromArray(vals, [B, n], 'float32'), [n / 2 + 1], { norm: 'forward', emulate: 'float16' });
    const rr = ref.re.toFloat64();
    const ri = ref.im.toFloat64();
    const gr = got.re.toFloat64();
    const gi = got.im.toFloat64();
    let e2 = 0;
    let s2 = 0;
    for (let k = 0; k <= n / 2; k++) {
      e2 += (gr[k * B + 1]! - rr[k]!) ** 2 + (gi[k * B + 1]! - ri[k]!) ** 2;
      s2 += rr[k]! ** 2 + ri[k]! ** 2;
    }
    const perSignalBound = rep.bound.worst * Math.SQRT2; // worst × ‖Y‖/‖Y_half‖ ≤ worst·√2 for one signal
    assert.ok(Math.sqrt(e2 / s2) <= perSignalBound, `tiny signal error ${Math.sqrt(e2 / s2)} vs ${perSignalBound}`);
    for (const t of [x64, one, ref, got]) t.release();
  });

  for (const half of HALVES) {
    it(`the training path (16-bit input and output, f32 FFT): measured ≤ worst every trial, typical within 4/3× on white input (${half})`, () => {
      let trials = 0;
      for (const sizes of [...cases1, ...cases2, [97], [13, 16]]) {
        const N = shapeSize(sizes);
        const d = sizes.length;
        const batch = Math.max(2, Math.min(40, Math.floor(2 ** 16 / N)));
        for (const kind of ['normal', 'uniform', 'smooth'] as const) {
          const norm: FftNorm = kind === 'uniform' && N <= 4096 ? 'backward' : kind === 'smooth' && d === 1 ? 'ortho' : 'forward';
          const x = Tensor.fromArray(input(kind, batch, [...sizes]), [batch, ...sizes], 'float64');
          const truncated = sizes.map((n, a) => (a === d - 1 ? Math.min(12, (n >> 1) + 1) : Math.min(12, n)));
          const all = sizes.map((n, a) => (a === d - 1 ? (n >> 1) + 1 : n));
          for (const modes of [truncated, all]) {
            const rep = fftErrorReport(x, modes, half, { norm, path: 'training' });
            assert.equal(rep.path, 'training');
            assert.ok(rep.measured <= rep.worst, `${half} training ${sizes.join('x')} ${kind}: measured ${rep.measured} > bound ${rep.worst}`);
            // the output rounding alone is u relative to the kept coefficients: the bound is at least that
            assert.ok(rep.worst >= unitRoundoff(half) && rep.measured > 0);
            if (kind === 'normal') {
              // measured 0.97–1.05× the estimate; without the input rounding ('mixed') it would be
              // ≈ 0.7×, and with emulated stages ≈ 1.3–3×
              const q = rep.measured / rep.typical;
              assert.ok(q > 0.75 && q < 4 / 3, `${half} training ${sizes.join('x')} modes ${modes}: measured ${rep.measured} vs typical ${rep.typical} (×${q.toFixed(2)})`);
            }
            trials++;
          }
          x.release();
        }
      }
      assert.equal(trials, 3 * 2 * (cases1.length + cases2.length + 2));
    });
  }

  it('training path per signal: its 16-bit roundings stay with each signal (the f32 transform pairs signals, bounded by the batch)', () => {
    // the f32 real FFT packs two signals into one complex lane, so its own error (ε₃₂, ~1e-6) is
    // bounded relative to the batch; the input and output roundings to half are elementwise and
    // bounded per signal. A signal 10³ smaller than its neighbours keeps a small relative error.
    const n = 64;
    const B = 34;
    const vals = rng.normalArray(B * n);
    for (let i = n; i < 2 * n; i++) vals[i]! *= 1e-3;
    const modes = [n / 2 + 1];
    const x64 = Tensor.fromArray(vals, [B, n], 'float64');
    const rep = fftErrorReport(x64, modes, 'float16', { norm: 'forward', path: 'training' });
    const hb = rep.halfIo!;
    const one = Tensor.fromArray(vals.slice(n, 2 * n), [1, n], 'float64');
    const ref = rfftnModes(one, modes, { norm: 'forward' });
    const xh = Tensor.fromArray(vals, [B, n], 'float16');
    const got = rfftnModes(xh, modes, { norm: 'forward', dtype: 'float16' });
    const [rr, ri, gr, gi] = [ref.re, ref.im, got.re, got.im].map((t) => t.toFloat64());
    let e2 = 0;
    let s2 = 0;
    for (let k = 0; k < modes[0]!; k++) {
      e2 += (gr![k * B + 1]! - rr![k]!) ** 2 + (gi![k * B + 1]! - ri![k]!) ** 2;
      s2 += rr![k]! ** 2 + ri![k]! ** 2;
    }
    const own = Math.sqrt(e2 / s2);
    // the terms: output rounding u, input rounding and f32 transform (1 + u)(u + ε₃₂(1 + u)), ε₃₂ ≪ u
    assert.equal(hb.f32, fftPrecisionBound([n], 2 ** -24, { norm: 'forward' }).worst);
    assert.equal(hb.full, (1 + u16()) * (u16() + hb.f32 * (1 + u16())));
    assert.ok(hb.f32 < u16() / 100, `ε₃₂ = ${hb.f32}`);
    // per-signal bound: u (output) + [(1 + u)·(u·‖Y_s‖ + ε₃₂(1 + u)·‖Y_batch‖)] / ‖Y_s,K‖ (+ tiny)
    const u = hb.output;
    const ys = Math.sqrt(vals.slice(n, 2 * n).reduce((a, v) => a + v * v, 0) / n);
    const perSignal = u + ((1 + u) * (u * ys + hb.f32 * (1 + u) * rep.fullNorm)) / Math.sqrt(s2) + 1e-6;
    assert.ok(own <= perSignal, `tiny signal: ${own} > ${perSignal}`);
    // and it is a half-precision error of its own size, not one of its neighbours' (~10³u)
    assert.ok(own < 4 * u, `tiny signal: ${own / u} u`);
    for (const t of [x64, one, ref, got, xh]) t.release();
  });

  it('scales like the number of butterfly stages (~log N); typical like its square root', () => {
    const u = U16;
    const w = [4, 16, 64, 256, 1024, 4096].map((n) => fftPrecisionBound([n], u));
    w.forEach((b, k) => assert.equal(b.stages, k + 1, 'one radix-4 stage per factor 4'));
    const steps = w.slice(1).map((b, k) => b.worst - w[k]!.worst);
    for (const s of steps) assert.ok(Math.abs(s / steps[0]! - 1) < 0.05, `increments ${steps}`);
    // one emulated radix-4 stage costs about 2u (twiddle + output rounding)
    assert.ok(steps[0]! > 1.9 * u && steps[0]! < 2.2 * u, `stage increment ${steps[0]! / u} u`);
    for (const b of w) assert.ok(b.worst / Math.log2(4 * b.levels) < 3 * w[0]!.worst / Math.log2(8));
    // typical ∝ √(roundings): quadrupling the stages roughly doubles it
    const t1 = fftPrecisionBound([16], u).typical;
    const t4 = fftPrecisionBound([2 ** 16], u).typical;
    assert.ok(t4 / t1 > 1.6 && t4 / t1 < 2.4, `${t4 / t1}`);
    // worst and typical are linear in u to first order (the typical uses the actual twiddle roundings)
    const a = fftPrecisionBound([64, 64], U16);
    const b = fftPrecisionBound([64, 64], UBF);
    assert.ok(Math.abs(b.worst / a.worst / 8 - 1) < 0.05 && Math.abs(b.typical / a.typical / 8 - 1) < 0.1, `${b.worst / a.worst} ${b.typical / a.typical}`);
    // 2-D = two passes composed: (1 + a)(1 + b) − 1 with the input rounding counted once
    const p = fftPrecisionBound([64, 64], U16).passes;
    assert.deepEqual(p.map((q) => q.kind), ['r2c', 'c2c']);
    assert.ok(Math.abs((1 + p[0]!.worst) * (1 + p[1]!.worst) - 1 - a.worst) < 1e-15);
    assert.ok(p[1]!.worst < p[0]!.worst);
  });

  it("Higham's textbook figure matches the design notes and is looser than ours for powers of two", () => {
    const cases: [number[], number][] = [[[64, 64], 0.0407], [[128, 128], 0.0478], [[256, 256], 0.055], [[1024, 1024], 0.0697], [[64, 64, 64], 0.0623]];
    for (const [sizes, want] of cases) {
      const b = fftPrecisionBound(sizes, U16);
      assert.ok(Math.abs(b.higham - want) < 6e-4, `${sizes}: ${b.higham} vs ${want}`);
      assert.equal(b.levels, sizes.reduce((s, n) => s + Math.log2(n), 0));
      assert.ok(b.worst < b.higham / 3);
    }
  });
});

// ---------------------------------------------------------------------------------------------

/** (1/n) Σ_j v(j/n) e^{−2πiωj/n} in float64 (direct). */
function riemann1(v: (x: number) => number, n: number, omega: number): [number, number] {
  let re = 0;
  let im = 0;
  for (let j = 0; j < n; j++) {
    const a = (-2 * Math.PI * ((omega * j) % n)) / n;
    const f = v(j / n);
    re += f * Math.cos(a);
    im += f * Math.sin(a);
  }
  return [re / n, im / n];
}

function riemann2(v: (x: number, y: number) => number, n: number[], w: number[]): [number, number] {
  let re = 0;
  let im = 0;
  for (let j = 0; j < n[0]!; j++) {
    for (let k = 0; k < n[1]!; k++) {
      const a = -2 * Math.PI * (((w[0]! * j) % n[0]!) / n[0]! + ((w[1]! * k) % n[1]!) / n[1]!);
      const f = v(j / n[0]!, k / n[1]!);
      re += f * Math.cos(a);
      im += f * Math.sin(a);
    }
  }
  const N = n[0]! * n[1]!;
  return [re / N, im / N];
}

const sawtoothCoef = (k: number): [number, number] => (k === 0 ? [0.5, 0] : [0, 1 / (2 * Math.PI * k)]);
/** Triangle wave 1/4 − |x − 1/2| (period 1, Lipschitz 1, sup 1/4): −1/(π²k²) for odd k, else 0. */
const tri = (x: number): number => 0.25 - Math.abs(x - Math.floor(x) - 0.5);
const triCoef = (k: number): number => (k % 2 !== 0 ? -1 / (Math.PI * Math.PI * k * k) : 0);

describe('discretisation bound vs exact Fourier coefficients', () => {
  it('cos(2πKx) beyond Nyquist: the aliased coefficient (error 1/2) stays under the bound', () => {
    for (const n of [16, 32, 64, 128]) {
      for (const w0 of [0, 1, 3, 5]) {
        for (const K of [n - w0, n + w0, 2 * n + w0]) {
          const v = (x: number): number => Math.cos(2 * Math.PI * K * x);
          // exact coefficients: 1/2 at ±K, 0 elsewhere; the retained |ω| ≤ 8 never reach ±K
          const [re, im] = riemann1(v, n, w0);
          const err = Math.hypot(re - 0, im);
          assert.ok(Math.abs(err - (w0 === 0 ? 1 : 0.5)) < 1e-9, `n ${n} K ${K} ω ${w0}: aliased value ${err}`);
          const b = discretizationBound({ n: [n], lipschitz: 2 * Math.PI * K, supNorm: 1, maxFrequency: [w0] });
          assert.ok(err <= b, `n ${n} K ${K} ω ${w0}: ${err} > ${b}`);
        }
      }
    }
  });

  it('sawtooth v(x) = x on [0,1] (Lipschitz, not periodic): holds at every ω and is attained at ω = 0', () => {
    for (const n of [8, 32, 128, 512]) {
      for (const w of [0, 1, 2, 7, -3]) {
        const [re, im] = riemann1((x) => x, n, w);
        const [cr, ci] = sawtoothCoef(w);
        const err = Math.hypot(re - cr, im - ci);
        const b = discretizationBound({ n: [n], lipschitz: 1, supNorm: 1, maxFrequency: [Math.abs(w)] });
        assert.ok(err <= b * (1 + 1e-12), `n ${n} ω ${w}: ${err} > ${b}`);
        if (w === 0) assert.ok(Math.abs(err - b) <= 1e-12 * b, `tight at ω = 0: ${err} vs ${b}`);
      }
    }
  });

  it('triangle wave: bound holds; the true error of a periodic function decays like 1/n² (the bound like 1/n)', () => {
    let prev: number[] | undefined;
    for (const n of [16, 32, 64, 128, 256]) {
      const errs: number[] = [];
      for (const w of [0, 1, 2, 3, 5, 8]) {
        const [re, im] = riemann1(tri, n, w);
        const err = Math.hypot(re - triCoef(w), im);
        const b = discretizationBound({ n: [n], lipschitz: 1, supNorm: 0.25, maxFrequency: [w] });
        assert.ok(err <= b, `n ${n} ω ${w}: ${err} > ${b}`);
        errs.push(err);
      }
      if (prev) {
        // odd ω: the aliases ω + mn are odd and add up to O(1/n²)
        for (const i of [1, 3, 4]) assert.ok(errs[i]! < 0.3 * prev[i]!, `n ${n}: ${errs[i]} vs ${prev[i]}`);
      }
      prev = errs;
    }
  });

  it('2-D: x·y (per-axis Lipschitz), cos(2π(K1x + K2y)) beyond Nyquist, tri(x)·tri(y); ℓ2 aggregate over kept modes', () => {
    for (const n of [[8, 8], [16, 24], [32, 32]]) {
      const modes = [6, 4];
      const freqs = keptFrequencies(modes);
      let e2 = 0;
      for (const w0 of freqs[0]!) {
        for (const w1 of freqs[1]!) {
          const w = [w0, w1];
          const absW = w.map(Math.abs);
          // x·y: coefficient = product of the sawtooth coefficients
          const [re, im] = riemann2((x, y) => x * y, n, w);
          const [a, b] = sawtoothCoef(w0);
          const [c, d] = sawtoothCoef(w1);
          const err = Math.hypot(re - (a * c - b * d), im - (a * d + b * c));
          const bound = discretizationBound({ n, lipschitz: [1, 1], supNorm: 1, maxFrequency: absW });
          assert.ok(err <= bound * (1 + 1e-12), `x·y n ${n} ω ${w}: ${err} > ${bound}`);
          // the brief's cruder form (M + 2π‖ω‖₂‖v‖∞)·√d/n, M = √2 the Euclidean constant, is never smaller
          const crude = (Math.SQRT2 + 2 * Math.PI * Math.hypot(w0, w1)) * Math.SQRT2 / Math.min(...n);
          assert.ok(bound <= crude + 1e-15);
          e2 += err * err;
          // triangle product: coefficient triCoef(w0)·triCoef(w1); ∂x = ±tri(y), so M_i = 1/4
          const [tr, ti] = riemann2((x, y) => tri(x) * tri(y), n, w);
          const terr = Math.hypot(tr - triCoef(w0) * triCoef(w1), ti);
          assert.ok(terr <= discretizationBound({ n, lipschitz: [0.25, 0.25], supNorm: 1 / 16, maxFrequency: absW }));
        }
      }
      const L2 = discretizationBoundL2({ n, lipschitz: [1, 1], supNorm: 1, modes });
      assert.ok(Math.sqrt(e2) <= L2, `ℓ2 over kept modes: ${Math.sqrt(e2)} > ${L2}`);
      // aliasing: cos(2π(K1x + K2y)) with K ≡ (1, −1) mod n has exact coefficients only at ±K
      const K = [n[0]! + 1, 2 * n[1]! - 1];
      const [re, im] = riemann2((x, y) => Math.cos(2 * Math.PI * (K[0]! * x + K[1]! * y)), n, [1, -1]);
      const err = Math.hypot(re, im);
      assert.ok(Math.abs(err - 0.5) < 1e-9);
      const M = 2 * Math.PI * Math.hypot(K[0]!, K[1]!);
      assert.ok(err <= discretizationBound({ n, lipschitz: M, supNorm: 1, maxFrequency: [1, 1] }));
      assert.ok(err <= discretizationBound({ n, lipschitz: [2 * Math.PI * K[0]!, 2 * Math.PI * K[1]!], supNorm: 1, maxFrequency: [1, 1] }));
    }
  });

  it('scales exactly like 1/n; the ℓ2 aggregate is the per-coefficient bound summed over the kept set', () => {
    const base = { lipschitz: 3, supNorm: 2, maxFrequency: [4, 2] };
    for (const n of [16, 32, 64]) {
      const a = discretizationBound({ ...base, n: [n, n] });
      const b = discretizationBound({ ...base, n: [2 * n, 2 * n] });
      assert.ok(Math.abs(a / b - 2) < 1e-12);
    }
    assert.ok(Math.abs(discretizationBound({ n: [10], lipschitz: 1, supNorm: 1, maxFrequency: [3] }) - (1 + 6 * Math.PI) / 20) < 1e-15);
    const L2 = discretizationBoundL2({ n: [32], lipschitz: 1, supNorm: 1, modes: [3] });
    const want = Math.hypot(...[0, 1, 2].map((w) => discretizationBound({ n: [32], lipschitz: 1, supNorm: 1, maxFrequency: [w] })));
    assert.ok(Math.abs(L2 - want) < 1e-15);
    assert.deepEqual(keptFrequencies([5, 3]), [[-2, -1, 0, 1, 2], [0, 1, 2]]);
  });

  it('estimateLipschitz is a lower estimate that converges; estimateSupNorm with M is an upper bound', () => {
    const M = 2 * Math.PI;
    let prev = 0;
    for (const n of [8, 16, 64, 256]) {
      const v = Float64Array.from({ length: 3 * n }, (_, i) => (1 + (i >= n ? 1 : 0) * -0.5) * Math.sin(2 * Math.PI * ((i % n) / n) + 0.3));
      const est = estimateLipschitz(v, [n]);
      assert.ok(est <= M, `n ${n}: ${est} > ${M}`);
      assert.ok(est >= prev);
      prev = est;
      const s = estimateSupNorm(v, [n], M);
      assert.ok(s >= 1 && estimateSupNorm(v, [n]) <= 1);
    }
    assert.ok(prev > 0.999 * M);
    // 2-D, per axis: sin(2πx)·cos(4πy) has ∂x ≤ 2π and ∂y ≤ 4π
    const n = [32, 64];
    const v = new Float64Array(32 * 64);
    for (let i = 0; i < 32; i++) for (let j = 0; j < 64; j++) v[i * 64 + j] = Math.sin(2 * Math.PI * (i / 32)) * Math.cos(4 * Math.PI * (j / 64));
    const per = estimateLipschitzPerAxis(v, n);
    assert.ok(per[0]! <= 2 * Math.PI && per[0]! > 0.99 * 2 * Math.PI, `${per}`);
    assert.ok(per[1]! <= 4 * Math.PI && per[1]! > 0.99 * 4 * Math.PI, `${per}`);
    assert.equal(estimateLipschitz(v, n), per[1]);
    // a jump across the periodic boundary is seen (sawtooth samples): the estimate is ~n, not 1
    assert.ok(estimateLipschitz(Float64Array.from({ length: 64 }, (_, i) => i / 64), [64]) > 60);
  });
});

describe('precision vs discretisation budget', () => {
  it('with u = 1/n the ratio stays within a log factor (the paper’s regime); with fixed fp16 u it grows ~n', () => {
    const args = (n: number, u: number) => ({ n: [n, n], modes: [8, 5], u, lipschitz: 2 * Math.PI, supNorm: 1, rms: 0.5 });
    const r = [32, 128, 512, 2048].map((n) => errorBudget(args(n, 1 / n)).ratioWorst);
    for (const x of r) assert.ok(x / r[0]! > 0.9 && x / r[0]! < 3, `ratios ${r}`);
    const f = [32, 128, 512, 2048].map((n) => errorBudget(args(n, U16)).ratioWorst);
    assert.ok(f[3]! / f[0]! > 40, `${f}`);
    const b = errorBudget(args(64, U16));
    assert.ok(b.precisionTypical < b.precisionWorst && b.ratioTypical < b.ratioWorst);
    assert.ok(Math.abs(b.precisionWorst - fftPrecisionBound([64, 64], U16, { norm: 'forward' }).worst * 0.5) < 1e-15);
  });
});

describe('bounds: bad input', () => {
  it('names the function and the argument', () => {
    assert.equal(unitRoundoff('float16'), U16);
    assert.equal(unitRoundoff('bfloat16'), UBF);
    assert.throws(() => fftPrecisionBound([], U16), /fftPrecisionBound: sizes must list 1 to 3/);
    assert.throws(() => fftPrecisionBound([8, 8, 8, 8], U16), /fftPrecisionBound: sizes must list 1 to 3/);
    assert.throws(() => fftPrecisionBound([16.5], U16), /fftPrecisionBound: sizes must be positive integers/);
    assert.throws(() => fftPrecisionBound([0], U16), /fftPrecisionBound: sizes must be positive integers/);
    assert.throws(() => fftPrecisionBound([16], 0), /fftPrecisionBound: unit roundoff u must be/);
    assert.throws(() => fftPrecisionBound([16], 0.5), /fftPrecisionBound: unit roundoff u must be/);
    assert.throws(() => fftPrecisionBound([16], Number.NaN), /fftPrecisionBound: unit roundoff u must be/);
    assert.throws(() => fftPrecisionBound([16], U16, { norm: 'unit' as FftNorm }), /fftPrecisionBound: unknown norm 'unit'/);
    assert.throws(() => discretizationBound({ n: [16], lipschitz: -1, supNorm: 1, maxFrequency: [1] }), /discretizationBound: lipschitz must be a finite number ≥ 0/);
    assert.throws(() => discretizationBound({ n: [16, 16], lipschitz: [1], supNorm: 1, maxFrequency: [1, 1] }), /discretizationBound: lipschitz must be a number or 2 per-axis numbers/);
    assert.throws(() => discretizationBound({ n: [16, 16], lipschitz: 1, supNorm: 1, maxFrequency: [1] }), /discretizationBound: maxFrequency must have 2 entries/);
    assert.throws(() => discretizationBound({ n: [16], lipschitz: 1, supNorm: Infinity, maxFrequency: [1] }), /discretizationBound: supNorm must be a finite number/);
    assert.throws(() => discretizationBound({ n: [0], lipschitz: 1, supNorm: 1, maxFrequency: [1] }), /discretizationBound: n must be positive integers/);
    assert.throws(() => discretizationBoundL2({ n: [16], lipschitz: 1, supNorm: 1, modes: [0] }), /discretizationBoundL2: modes must be 1 positive integers/);
    assert.throws(() => estimateLipschitz(new Float64Array(10), [4]), /estimateLipschitz: 10 values are not a whole number of 4 grids/);
    assert.throws(() => estimateLipschitz(Float64Array.of(1, Number.NaN), [2]), /estimateLipschitz: values\[1\] is not finite/);
    assert.throws(() => estimateLipschitz('abc' as unknown as Float64Array, [3]), /estimateLipschitz: values must be/);
    assert.throws(() => estimateSupNorm(new Float64Array(4), [4], [1, 2]), /estimateSupNorm: lipschitz must be a number or 1 per-axis numbers/);
    const x = Tensor.fromArray(rng.normalArray(32), [2, 16], 'float64');
    assert.throws(() => measuredFftError(x, [9], 'float32' as 'float16'), /fftErrorReport: halfType must be 'float16' or 'bfloat16'/);
    assert.throws(() => measuredFftError(x, [4, 4, 4], 'float16'), /fftErrorReport: modes must list 1 to 3 mode counts, at most x's 2 axes/);
    assert.throws(() => measuredFftError(x, [10], 'float16'), /rfftnModes: modes\[0\] = 10 is not allowed/);
    assert.throws(() => measuredFftError(Tensor.fromArray([1, Number.NaN], [2], 'float64'), [1], 'float16'), /fftErrorReport: x holds a non-finite value/);
    assert.throws(() => measuredFftError([1, 2] as unknown as Tensor, [1], 'float16'), /fftErrorReport: x must be a Tensor/);
    assert.throws(() => errorBudget({ n: [16], modes: [3], u: 2, lipschitz: 1, supNorm: 1 }), /fftPrecisionBound: unit roundoff u must be/);
    assert.throws(() => fftErrorReport(x, [9], 'float16', { path: 'gpu' as 'training' }), /fftErrorReport: path must be 'emulated' or 'training', got 'gpu'/);
    assert.throws(() => halfIoFftBound([16], 'float32' as 'float16'), /halfIoFftBound: halfType must be 'float16' or 'bfloat16'/);
    assert.throws(() => halfIoFftBound([0], 'float16'), /halfIoFftBound: sizes must be positive integers/);
    x.release();
  });
});

describe('mpno bound rows (boundRows)', () => {
  const x = Tensor.fromArray(rng.normalArray(3 * 16 * 16).map((v) => 3 * v), [3, 1, 16, 16]);

  for (const st of ['tanh', 'clip_sigma', null] as const) {
    it(`bounds the spectral input the layer really sees (stabiliser ${st}) on the path training runs`, () => {
      const m = new FNO({ n_modes: [6, 6], in_channels: 1, out_channels: 1, hidden_channels: 5, n_layers: 2, stabilizer: st, seed: 2 });
      const rows = boundRows(m, x);
      assert.deepEqual(rows.map((r) => [r.layer, r.half]), [[0, 'float16'], [0, 'bfloat16'], [1, 'float16'], [1, 'bfloat16']]);
      // layer 0's spectral input, independently: the stabiliser (in float64) of lifting(grid ⊕ x)
      const h = noGrad(() => tidy(() => m.lifting.forward(gridEmbedding(Variable.constant(x))).value.toFloat64()));
      let mean = 0;
      for (const t of h) mean += t / h.length;
      let vr = 0;
      for (const t of h) vr += (t - mean) ** 2 / h.length;
      const sd = Math.sqrt(vr);
      const v0 = h.map((t) => (st === 'tanh' ? Math.tanh(t) : st === 'clip_sigma' ? Math.min(mean + 2 * sd, Math.max(mean - 2 * sd, t)) : t));
      const want = v0.reduce((a, t) => Math.max(a, Math.abs(t)), 0);
      assert.ok(Math.abs(rows[0]!.input_max_abs - want) <= 1e-5 * want, `${st}: max|v| ${rows[0]!.input_max_abs}, the layer sees ${want}`);
      if (st !== null) assert.ok(h.some((t) => Math.abs(t) > want * 1.01), 'the stabiliser changes the input');
      // the training figures are those of the layer itself in 'half' (emulate_half_fft false),
      // measured here against the same layer in 'full' (f32, whose own error is ~1e-7)
      const seen: Tensor[] = [];
      m.fnoBlocks.spectralConvs.forEach((c) => (c.capture = (t) => seen.push(t.clone('workspace'))));
      noGrad(() => tidy(() => void m.forward(Variable.constant(x))));
      m.fnoBlocks.spectralConvs.forEach((c) => (c.capture = undefined));
      for (const r of rows) {
        const conv = m.fnoBlocks.spectralConvs[r.layer]!;
        const v = Variable.constant(seen[r.layer]!);
        m.setPrecision({ fno_block_precision: 'half', half_type: r.half });
        const got = noGrad(() => tidy(() => conv.forward(v).value.toFloat64()));
        m.setPrecision({ fno_block_precision: 'full' });
        const ref = noGrad(() => tidy(() => conv.forward(v).value.toFloat64()));
        let e2 = 0;
        let s2 = 0;
        got.forEach((g, i) => {
          e2 += (g - ref[i]!) ** 2;
          s2 += ref[i]! ** 2;
        });
        const e = Math.sqrt(e2 / s2);
        assert.ok(Math.abs(e - r.training_measured_spectral_conv) < 0.02 * e, `layer ${r.layer} ${r.half}: the layer's error ${e}, bound reports ${r.training_measured_spectral_conv}`);
        assert.ok(r.training_measured_fft <= r.training_worst && r.measured_fft <= r.precision_worst, JSON.stringify(r));
        assert.ok(r.training_measured_fft !== r.measured_fft, 'two different paths are measured');
        assert.ok(r.discretization > 0 && r.training_ratio === r.training_worst / r.discretization);
      }
      for (const t of seen) t.release();
      // the model is left as it was
      assert.deepEqual(m.precisionReport().map((l) => l.precision), ['full', 'full']);
      m.release();
    });
  }

  it('boundTable prints both paths and a legend of its columns', () => {
    const m = new FNO({ n_modes: [4, 4], in_channels: 1, out_channels: 1, hidden_channels: 4, n_layers: 1, seed: 2 });
    const text = boundTable(boundRows(m, x));
    m.release();
    assert.match(text, /emulated half FFT/);
    assert.match(text, /training path/);
    for (const col of ['max|v|', '(a) disc.', '(b) worst', 'typ.', '(c) FFT', 'conv', '(b)/(a)', 'emulated', 'training']) {
      assert.ok(BOUND_LEGEND.some((l) => l.trimStart().startsWith(col)), `legend explains '${col}'`);
      assert.ok(text.includes(col));
    }
    assert.ok(text.endsWith(BOUND_LEGEND.at(-1)!));
  });
});

import { itemSize } from '../core/dtype.js';
import { Tensor } from '../core/tensor.js';
import type { GemmOptions } from './backend.js';
import { dtCode } from './dtcode.js';
import { type GemmPlan, planGemm } from './gemm-plan.js';
import { wasm } from './module.js';
import { pool, splitRange } from './pool.js';

/** Below this many flops a GEMM stays on one thread (a hand-off costs tens of microseconds). */
const PARALLEL_FLOPS = 1 << 22;
/** Columns per thread below which splitting N is not worth it. */
const MIN_COLS_PER_THREAD = 64;
/** K per thread above which a small-output GEMM is split along K. */
const MIN_K_PER_THREAD = 1024;

interface Ptrs {
  a: number; aDt: number; b: number; bDt: number; c: number; cDt: number;
  bias: number; biasDt: number; sa: number; sb: number; sc: number;
  /** Where the fused activation's derivative goes (0: none). */
  z: number;
  /** The residual added before the activation and the factor multiplied after it (0: none). */
  r: number;
  mm: number;
}

function workspace(bytes: number): Tensor {
  return Tensor.empty([Math.ceil(bytes / 4)], 'float32', 'workspace');
}

/** The wasm GEMM: validates, then splits across the pool along N, the batch, or K (with a reduction). */
export function gemm(a: Tensor, b: Tensor, c: Tensor, opts: GemmOptions = {}): void {
  const p = planGemm(a, b, c, opts);
  if (p.batch === 0 || p.m === 0 || p.n === 0) return;
  const x: Ptrs = {
    a: a.ptr, aDt: dtCode(a.dtype, 'gemm'), b: b.ptr, bDt: dtCode(b.dtype, 'gemm'),
    c: c.ptr, cDt: dtCode(c.dtype, 'gemm'),
    bias: p.bias ? p.bias.ptr : 0, biasDt: p.bias ? dtCode(p.bias.dtype, 'gemm') : 0,
    sa: itemSize(a.dtype), sb: itemSize(b.dtype), sc: itemSize(c.dtype),
    z: p.activationGrad ? p.activationGrad.ptr : 0,
    r: p.residual ? p.residual.ptr : 0,
    mm: p.multiply ? p.multiply.ptr : 0,
  };
  const threads = pool.threads;
  const flops = 2 * p.batch * p.m * p.n * p.k;
  if (p.sumBatch) return sumBatch(p, x, threads === 1 || flops < PARALLEL_FLOPS ? 1 : threads);
  if (threads === 1 || flops < PARALLEL_FLOPS) return serial(p, x);
  // a batch that splits evenly (or is large) goes in one hand-off per thread: splitting along N costs
  // one hand-off per batch item (64 per 1×1 convolution on darcy16)
  if (p.batch >= threads && (p.batch % threads === 0 || p.batch >= 4 * threads)) return splitBatch(p, x, threads);
  if (p.n >= MIN_COLS_PER_THREAD * threads) return splitN(p, x, threads);
  if (p.batch >= threads) return splitBatch(p, x, threads);
  // the fused activation, residual and factor live in gemm's and gemmBatch's epilogue only (gemmReduce has none)
  if (p.act !== 0 || x.r !== 0 || x.mm !== 0) return serial(p, x);
  if (p.k >= MIN_K_PER_THREAD * threads) return splitK(p, x, threads);
  return serial(p, x);
}

function args(p: GemmPlan, x: Ptrs, bi: number, j0: number, n: number, k0: number, k: number, c: number, cDt: number, ldc: number, beta: number, bias: number, work: number): number[] {
  return [
    x.a + (bi * p.strideA + k0 * p.csA) * x.sa, x.aDt, p.rsA, p.csA,
    x.b + (bi * p.strideB + k0 * p.rsB + j0 * p.csB) * x.sb, x.bDt, p.rsB, p.csB,
    c, cDt, ldc,
    p.m, n, k, p.alpha, beta, bias, x.biasDt, work,
  ];
}

/** gemm's arguments with the fused epilogue: the activation, where its derivative goes, the residual and the factor. */
function fusedArgs(p: GemmPlan, x: Ptrs, bi: number, j0: number, n: number, work: number): number[] {
  const at = (q: number) => (q !== 0 ? q + (bi * p.strideC + j0) * x.sc : 0);
  return [...args(p, x, bi, j0, n, 0, p.k, cPtr(p, x, bi, j0), x.cDt, p.ldc, p.beta, x.bias, work), p.act, at(x.z), at(x.r), at(x.mm)];
}

function cPtr(p: GemmPlan, x: Ptrs, bi: number, j0: number): number {
  return x.c + (bi * p.strideC + j0) * x.sc;
}

function serial(p: GemmPlan, x: Ptrs): void {
  const ws = workspace(wasm.gemmWorkBytes(p.m, p.n, p.k, x.cDt));
  try {
    for (let bi = 0; bi < p.batch; bi++) {
      wasm.gemm(...(fusedArgs(p, x, bi, 0, p.n, ws.ptr) as Parameters<typeof wasm.gemm>));
    }
  } finally {
    ws.release();
  }
}

function splitN(p: GemmPlan, x: Ptrs, threads: number): void {
  const ranges = splitRange(p.n, threads, 8);
  const per = wasm.gemmWorkBytes(p.m, Math.max(...ranges.map(([s, e]) => e - s)), p.k, x.cDt);
  const stride = Math.ceil(per / 64) * 64;
  const ws = workspace(stride * ranges.length);
  try {
    for (let bi = 0; bi < p.batch; bi++) {
      pool.run('gemm', ranges.map(([s, e], t) => fusedArgs(p, x, bi, s, e - s, ws.ptr + t * stride)));
    }
  } finally {
    ws.release();
  }
}

function splitBatch(p: GemmPlan, x: Ptrs, threads: number): void {
  // each thread takes a contiguous range of batch items in one hand-off (gemmBatch loops inside wasm)
  const ranges = splitRange(p.batch, threads);
  const per = Math.ceil(wasm.gemmWorkBytes(p.m, p.n, p.k, x.cDt) / 64) * 64;
  const ws = workspace(per * ranges.length);
  try {
    pool.run('gemmBatch', ranges.map(([b0, b1], t) => [
      ...args(p, x, b0, 0, p.n, 0, p.k, cPtr(p, x, b0, 0), x.cDt, p.ldc, p.beta, x.bias, ws.ptr + t * per),
      b1 - b0, p.strideA * x.sa, p.strideB * x.sb, p.strideC * x.sc,
      p.act, ...[x.z, x.r, x.mm].map((q) => (q !== 0 ? q + b0 * p.strideC * x.sc : 0)),
    ]));
  } finally {
    ws.release();
  }
}

function splitK(p: GemmPlan, x: Ptrs, threads: number): void {
  const ranges = splitRange(p.k, threads, 8);
  const partBytes = Math.ceil((p.m * p.n * 4) / 64) * 64;
  const per = Math.ceil(wasm.gemmWorkBytes(p.m, p.n, Math.max(...ranges.map(([s, e]) => e - s)), 0) / 64) * 64;
  const parts = workspace(partBytes * ranges.length);
  const ws = workspace(per * ranges.length);
  try {
    for (let bi = 0; bi < p.batch; bi++) {
      pool.run('gemm', ranges.map(([s, e], t) => [...args(p, x, bi, 0, p.n, s, e - s, parts.ptr + t * partBytes, 0, p.n, 0, 0, ws.ptr + t * per), 0, 0, 0, 0]));
      wasm.gemmReduce(parts.ptr, ranges.length, partBytes, cPtr(p, x, bi, 0), x.cDt, p.ldc, p.m, p.n, p.beta, x.bias, x.biasDt);
    }
  } finally {
    parts.release();
    ws.release();
  }
}

/**
 * C = Σ_b op(A_b)·op(B_b): each thread takes a block of C's rows (4-row tiles) or columns (8-column
 * panels), whichever splits more evenly, and sums every batch item into it in batch order, so every
 * element is computed exactly as on one thread (no partial sums to reduce, results independent of the
 * thread count).
 */
function sumBatch(p: GemmPlan, x: Ptrs, threads: number): void {
  const rows = splitRange(p.m, threads, 4);
  const cols = splitRange(p.n, threads, 8);
  const widest = (r: [number, number][]) => Math.max(...r.map(([s, e]) => e - s));
  // one thread (or a C too small to split) gives the single part [0, M) × [0, N) either way
  const byRows = rows.length > 1 && widest(rows) / p.m <= widest(cols) / p.n;
  const parts = byRows ? rows.map(([s, e]) => [s, e, 0, p.n] as const) : cols.map(([s, e]) => [0, p.m, s, e] as const);
  const per = Math.ceil(wasm.gemmWorkBytes(Math.max(...parts.map((q) => q[1] - q[0])), Math.max(...parts.map((q) => q[3] - q[2])), p.k, x.cDt) / 64) * 64;
  const ws = workspace(per * parts.length);
  try {
    const tasks = parts.map(([i0, i1, j0, j1], t) => [
      x.a + i0 * p.rsA * x.sa, x.aDt, p.rsA, p.csA,
      x.b + j0 * p.csB * x.sb, x.bDt, p.rsB, p.csB,
      x.c + (i0 * p.ldc + j0) * x.sc, x.cDt, p.ldc,
      i1 - i0, j1 - j0, p.k, p.alpha, p.beta, x.bias !== 0 ? x.bias + i0 * itemSize(p.bias!.dtype) : 0, x.biasDt, ws.ptr + t * per,
      p.batch, p.strideA * x.sa, p.strideB * x.sb, 0, 0, 0, 0, 0,
    ]);
    pool.run('gemmBatch', tasks);
  } finally {
    ws.release();
  }
}

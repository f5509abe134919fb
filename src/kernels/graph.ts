import { arena } from '../core/arena.js';
import { Tensor, fmtShape } from '../core/tensor.js';
import { dtCode } from './dtcode.js';
import { wasm } from './module.js';
import { pool, splitRange } from './pool.js';
import { checkRowPtr, refGatherRows, refScatterAddRows, refSegmentSum } from './ref/graph.js';

/**
 * The graph kernels of a GNO layer (gatherRows, scatterAddRows, segmentSum) on the wasm SIMD kernels
 * (src/kernels/wasm/graph.ts) for float32, float16 and bfloat16 tensors: channels are the SIMD axis,
 * sums are formed in f32 (edges in order) and each output is rounded once into its dtype. float64 and
 * mixed-dtype calls go to the float64 reference (ref/graph.ts), whose argument checks and messages
 * these functions repeat. Index arrays are copied into a reused scratch block of the arena; a 16-bit
 * scatter-add sums into an f32 workspace [N, C].
 *
 * Threads: gatherRows splits the edges and segmentSum the segments (balanced by edges + segments)
 * above PARALLEL_ELEMENTS elements per thread, the elementwise kernels' size for cheap memory-bound
 * work; every thread count gives the same bits. scatterAddRows stays on one thread: its writes
 * conflict, and the conflict-free split by column blocks does not pay — each block still pays every
 * edge's random row access, so the two 16-channel halves of C = 32 (or 32-channel halves of C = 64)
 * run one after the other take 1.5–2.1× the whole call (bench, 2-core AMD EPYC), which leaves at most
 * 1.0–1.4× for two idle cores; owning target-row ranges instead (each thread reads every index and
 * takes its rows' edges) measured 1.2–2.3× slower on two threads than on one.
 */

/** Elements moved or summed per thread below which gatherRows / segmentSum stay on one thread. */
const PARALLEL_ELEMENTS = 1 << 18;

/**
 * A block of the arena that grows when a call needs more and is otherwise reused, so that staging
 * an index array costs no allocation. Outside the ledger (like the pool's control blocks): it is not
 * a tensor and stays allocated for the life of the process.
 */
export class Scratch {
  private ptr = 0;
  private cap = 0;

  /** The block's address, at least `bytes` long (its contents are not kept when it grows). */
  ensure(bytes: number): number {
    if (bytes > this.cap) {
      const cap = Math.ceil(Math.max(bytes, this.cap * 1.5) / 64) * 64;
      if (this.cap > 0) arena.free(this.ptr);
      this.cap = 0;
      this.ptr = arena.alloc(cap);
      this.cap = cap;
    }
    return this.ptr;
  }

  /** Copies `a` into the block; returns its address. */
  stage(a: Int32Array): number {
    const p = this.ensure(4 * a.length);
    new Int32Array(arena.buffer, p, a.length).set(a);
    return p;
  }
}

const indexScratch = new Scratch();

function rowsOf(t: Tensor, op: string, name: string): [number, number] {
  if (t.ndim !== 2) throw new RangeError(`${op}: ${name} must be 2-D [rows, channels], got ${fmtShape(t.shape)}`);
  return t.shape as [number, number];
}

/** Stages `index` and checks every entry against [0, rows) (the reference's check and message). */
function stageIndex(index: Int32Array, rows: number, op: string): number {
  const p = indexScratch.stage(index);
  const bad = index.length === 0 ? -1 : wasm.graphCheckIndex(p, index.length, rows);
  if (bad >= 0) throw new RangeError(`${op}: index[${bad}] = ${index[bad]} is outside 0…${rows - 1}`);
  return p;
}

const wasmDtype = (a: Tensor, b: Tensor) => a.dtype === b.dtype && a.dtype !== 'float64';

function parts(work: number, perThread: number, most = Infinity): number {
  return Math.max(1, Math.min(pool.threads, most, Math.floor(work / perThread) + 1));
}

/** out[e, :] = x[index[e], :]: the stored values copied (16-bit codes stay codes). x [N, C], out [E, C]. */
export function gatherRows(x: Tensor, index: Int32Array, out: Tensor): void {
  if (!wasmDtype(x, out)) return refGatherRows(x, index, out);
  const op = 'gatherRows';
  const [N, C] = rowsOf(x, op, 'x');
  const [E, C2] = rowsOf(out, op, 'out');
  if (E !== index.length || C2 !== C) throw new RangeError(`${op}: out ${fmtShape(out.shape)} (${out.dtype}) must be [${index.length}, ${C}] in x's ${x.dtype}`);
  const ip = stageIndex(index, N, op);
  if (E === 0 || C === 0) return;
  const rowBytes = C * (x.dtype === 'float32' ? 4 : 2);
  const [xp, op_] = [x.ptr, out.ptr];
  const p = parts(E * C, PARALLEL_ELEMENTS, E);
  pool.run('gatherRows', splitRange(E, p).map(([e0, e1]) => [xp, ip, op_, rowBytes, e0, e1]));
}

/** out[index[e], :] += src[e, :] (f32 sums in edge order, rounded once into out; one thread). src [E, C], out [N, C]. */
export function scatterAddRows(src: Tensor, index: Int32Array, out: Tensor): void {
  if (!wasmDtype(src, out)) return refScatterAddRows(src, index, out);
  const op = 'scatterAddRows';
  const [E, C] = rowsOf(src, op, 'src');
  const [N, C2] = rowsOf(out, op, 'out');
  if (E !== index.length || C2 !== C) throw new RangeError(`${op}: src ${fmtShape(src.shape)} and out ${fmtShape(out.shape)} must be [${index.length}, C] and [N, C]`);
  const ip = stageIndex(index, N, op);
  if (E === 0 || C === 0) return;
  const dt = dtCode(src.dtype, op);
  // 16-bit outputs: an f32 accumulator [N, C], so that each output is rounded once
  const acc = src.dtype === 'float32' ? null : Tensor.empty([N, C], 'float32', 'workspace');
  try {
    wasm.scatterAddRows(src.ptr, dt, ip, out.ptr, acc ? acc.ptr : 0, N, E, C, 0, C);
  } finally {
    acc?.release();
  }
}

/**
 * At most p ranges of the rows [0, M) of CSR row pointers with about the same entries + rows each
 * (cut where rowPtr[q] + q crosses multiples of the total / p).
 */
export function balancedRanges(rowPtr: Int32Array, M: number, p: number): [number, number][] {
  if (p <= 1) return [[0, M]];
  const total = rowPtr[M]! + M;
  const cuts = [0];
  for (let t = 1; t < p; t++) {
    const want = (total * t) / p;
    let [lo, hi] = [cuts[cuts.length - 1]!, M];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rowPtr[mid]! + mid < want) lo = mid + 1;
      else hi = mid;
    }
    cuts.push(lo);
  }
  cuts.push(M);
  const r: [number, number][] = [];
  for (let t = 0; t < p; t++) if (cuts[t + 1]! > cuts[t]!) r.push([cuts[t]!, cuts[t + 1]!]);
  return r;
}

/**
 * out[q, :] = Σ_{e ∈ row q} x[e, :] (÷ the row's length when `mean`; an empty row gives 0) over CSR
 * row pointers rowPtr [M + 1]; f32 sums in edge order, rounded once into out. x [E, C], out [M, C].
 */
export function segmentSum(x: Tensor, rowPtr: Int32Array, out: Tensor, mean = false): void {
  if (!wasmDtype(x, out)) return refSegmentSum(x, rowPtr, out, mean);
  const op = 'segmentSum';
  const [E, C] = rowsOf(x, op, 'x');
  const M = checkRowPtr(rowPtr, E, op);
  const [M2, C2] = rowsOf(out, op, 'out');
  if (M2 !== M || C2 !== C) throw new RangeError(`${op}: out ${fmtShape(out.shape)} must be [${M}, ${C}] (rows, channels)`);
  if (M === 0 || C === 0) return;
  const rp = indexScratch.stage(rowPtr);
  const dt = dtCode(x.dtype, op);
  const [xp, op_] = [x.ptr, out.ptr];
  const p = parts((E + M) * C, PARALLEL_ELEMENTS, M);
  pool.run('segmentSum', balancedRanges(rowPtr, M, p).map(([q0, q1]) => [xp, dt, rp, op_, C, mean ? 1 : 0, q0, q1]));
}

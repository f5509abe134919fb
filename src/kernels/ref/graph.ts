/**
 * Graph kernels over point sets (a GNO layer's gathers and reductions), reference implementations:
 * float64 arithmetic, every dtype, each output value rounded once. Index arrays are validated: rows in
 * range, CSR row pointers from 0 to the edge count and non-decreasing.
 */
import { type Tensor, fmtShape } from '../../core/tensor.js';

function rowsOf(t: Tensor, op: string, name: string): [number, number] {
  if (t.ndim !== 2) throw new RangeError(`${op}: ${name} must be 2-D [rows, channels], got ${fmtShape(t.shape)}`);
  return t.shape as [number, number];
}

function checkIndex(index: Int32Array, rows: number, op: string): void {
  for (let e = 0; e < index.length; e++) {
    const i = index[e]!;
    if (!(i >= 0 && i < rows)) throw new RangeError(`${op}: index[${e}] = ${i} is outside 0…${rows - 1}`);
  }
}

/** Checks CSR row pointers over `edges` edges; returns the row count. */
export function checkRowPtr(rowPtr: Int32Array, edges: number, op: string): number {
  const M = rowPtr.length - 1;
  if (M < 0 || rowPtr[0] !== 0 || rowPtr[M] !== edges) throw new RangeError(`${op}: row pointers must run from 0 to the ${edges} edges, got ${rowPtr[0]} … ${rowPtr[M]} (${rowPtr.length} entries)`);
  for (let q = 0; q < M; q++) if (rowPtr[q + 1]! < rowPtr[q]!) throw new RangeError(`${op}: row pointers decrease at row ${q} (${rowPtr[q]} → ${rowPtr[q + 1]})`);
  return M;
}

/** out[e, :] = x[index[e], :] (stored values copied: 16-bit codes stay codes). x [N, C], out [E, C]. */
export function refGatherRows(x: Tensor, index: Int32Array, out: Tensor): void {
  const op = 'gatherRows';
  const [N, C] = rowsOf(x, op, 'x');
  const [E, C2] = rowsOf(out, op, 'out');
  if (E !== index.length || C2 !== C || out.dtype !== x.dtype) throw new RangeError(`${op}: out ${fmtShape(out.shape)} (${out.dtype}) must be [${index.length}, ${C}] in x's ${x.dtype}`);
  checkIndex(index, N, op);
  const s = x.data;
  const d = out.data;
  for (let e = 0; e < E; e++) for (let c = 0; c < C; c++) d[e * C + c] = s[index[e]! * C + c]!;
}

/** out[index[e], :] += src[e, :] (float64 sums, rounded once into out). src [E, C], out [N, C]. */
export function refScatterAddRows(src: Tensor, index: Int32Array, out: Tensor): void {
  const op = 'scatterAddRows';
  const [E, C] = rowsOf(src, op, 'src');
  const [N, C2] = rowsOf(out, op, 'out');
  if (E !== index.length || C2 !== C) throw new RangeError(`${op}: src ${fmtShape(src.shape)} and out ${fmtShape(out.shape)} must be [${index.length}, C] and [N, C]`);
  checkIndex(index, N, op);
  const s = src.toFloat64();
  const o = out.toFloat64();
  for (let e = 0; e < E; e++) for (let c = 0; c < C; c++) o[index[e]! * C + c] += s[e * C + c]!;
  out.set(o);
}

/**
 * out[q, :] = Σ_{e ∈ row q} x[e, :] (÷ the row's length when `mean`; an empty row gives 0) over CSR
 * row pointers rowPtr [M + 1]. x [E, C], out [M, C].
 */
export function refSegmentSum(x: Tensor, rowPtr: Int32Array, out: Tensor, mean = false): void {
  const op = 'segmentSum';
  const [E, C] = rowsOf(x, op, 'x');
  const M = checkRowPtr(rowPtr, E, op);
  const [M2, C2] = rowsOf(out, op, 'out');
  if (M2 !== M || C2 !== C) throw new RangeError(`${op}: out ${fmtShape(out.shape)} must be [${M}, ${C}] (rows, channels)`);
  const X = x.toFloat64();
  const o = new Float64Array(M * C);
  for (let q = 0; q < M; q++) {
    const [a, b] = [rowPtr[q]!, rowPtr[q + 1]!];
    for (let e = a; e < b; e++) for (let c = 0; c < C; c++) o[q * C + c] += X[e * C + c]!;
    if (mean && b > a) for (let c = 0; c < C; c++) o[q * C + c] /= b - a;
  }
  out.set(o);
}

import type { Tensor } from '../core/tensor.js';
import { checkPermute } from './check.js';

/**
 * The CPU backend's permute: a strided copy in plain TypeScript (JS engines copy typed arrays well;
 * the work is memory-bound), any dtype. Size-1 axes are dropped and axes that stay neighbours in src
 * are merged first; contiguous inner runs go through TypedArray.set, and when the innermost dst axis
 * is strided in src but another axis is contiguous, a blocked transpose keeps both sides in cache.
 * 16-bit data are copied as their codes (the value is never decoded).
 */

type Arr = Float64Array | Float32Array | Uint16Array;

/** dst = src with its axes permuted: dst axis d is src axis perm[d] (same dtype; see Backend.permute). */
export function permute(src: Tensor, perm: readonly number[], dst: Tensor): void {
  checkPermute('permute', src, perm, dst);
  const nd = src.ndim;
  if (src.size === 0) return;
  const srcStrides = new Array<number>(nd);
  for (let a = nd - 1, s = 1; a >= 0; a--) {
    srcStrides[a] = s;
    s *= src.shape[a]!;
  }
  // dst axes with their src strides; drop size-1 axes, merge neighbours contiguous in src too
  const dims: number[] = [];
  const strides: number[] = [];
  for (let d = 0; d < nd; d++) {
    const n = dst.shape[d]!;
    const st = srcStrides[perm[d]!]!;
    if (n === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides[last] === st * n) {
      dims[last] = dims[last]! * n;
      strides[last] = st;
    } else {
      dims.push(n);
      strides.push(st);
    }
  }
  stridedCopy(src.data, dst.data, dims, strides);
}

function stridedCopy(s: Arr, d: Arr, dims: number[], strides: number[]): void {
  const n = dims.length;
  if (n === 0) {
    d[0] = s[0]!;
    return;
  }
  const inner = dims[n - 1]!;
  const istr = strides[n - 1]!;
  const q = strides.indexOf(1);
  if (istr !== 1 && q >= 0 && dims[q]! >= 8 && inner >= 8) {
    tiledCopy(s, d, dims, strides, q);
    return;
  }
  const total = d.length;
  const idx = new Int32Array(n);
  let off = 0;
  const src = s as Float32Array;
  const dst = d as Float32Array;
  for (let o = 0; o < total; o += inner) {
    if (istr === 1) {
      if (inner >= 16) dst.set(src.subarray(off, off + inner), o);
      else for (let j = 0; j < inner; j++) dst[o + j] = src[off + j]!;
    } else {
      for (let j = 0, p = off; j < inner; j++, p += istr) dst[o + j] = src[p]!;
    }
    for (let a = n - 2; a >= 0; a--) {
      off += strides[a]!;
      if (++idx[a]! < dims[a]!) break;
      off -= strides[a]! * dims[a]!;
      idx[a] = 0;
    }
  }
}

/**
 * stridedCopy when the innermost dst axis is strided in src and dst axis q is contiguous in src: a
 * blocked transpose of those two axes (TILE×TILE tiles) for every index of the other axes.
 */
function tiledCopy(s: Arr, d: Arr, dims: number[], strides: number[], q: number): void {
  const TILE = 32;
  const n = dims.length;
  const dstStrides = new Array<number>(n);
  for (let a = n - 1, st = 1; a >= 0; a--) {
    dstStrides[a] = st;
    st *= dims[a]!;
  }
  const nq = dims[q]!;
  const dq = dstStrides[q]!;
  const nl = dims[n - 1]!;
  const sl = strides[n - 1]!;
  const outer = dims.map((_, a) => a).filter((a) => a !== q && a !== n - 1);
  const idx = new Int32Array(outer.length);
  let outerCount = 1;
  for (const a of outer) outerCount *= dims[a]!;
  const src = s as Float32Array;
  const dst = d as Float32Array;
  let so = 0;
  let dso = 0;
  for (let o = 0; o < outerCount; o++) {
    for (let i0 = 0; i0 < nq; i0 += TILE) {
      const i1 = Math.min(nq, i0 + TILE);
      for (let j0 = 0; j0 < nl; j0 += TILE) {
        const j1 = Math.min(nl, j0 + TILE);
        for (let i = i0; i < i1; i++) {
          const drow = dso + i * dq;
          const srow = so + i;
          for (let j = j0; j < j1; j++) dst[drow + j] = src[srow + j * sl]!;
        }
      }
    }
    for (let t = outer.length - 1; t >= 0; t--) {
      const a = outer[t]!;
      so += strides[a]!;
      dso += dstStrides[a]!;
      if (++idx[t]! < dims[a]!) break;
      so -= strides[a]! * dims[a]!;
      dso -= dstStrides[a]! * dims[a]!;
      idx[t] = 0;
    }
  }
}

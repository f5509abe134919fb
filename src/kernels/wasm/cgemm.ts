// Fused complex GEMM over a batch: C[b] = op(A[b])·op(B[b]) (+ C[b] when accumulating), planar re/im,
// any mix of f32/f16/bf16, f32 arithmetic. One kernel computes both output parts (4-product form:
// re = ar·br − ai·bi, im = ar·bi + ai·br) from operands packed once, with a 4×4 complex register tile
// (8 f32x4 accumulators: the real GEMM's register budget). conjA / conjB conjugate an operand while
// packing (the backward of a complex contraction multiplies by conjugate transposes).
// K is not blocked: the spectral contraction's K (channels or batch) is small.
import { load1, load4, store1, store4, storeT4 } from "./common";

// descriptor fields (i32; byte offsets of batch strides)
const F_AR = 0, F_AI = 1, F_ADT = 2, F_RSA = 3, F_CSA = 4, F_CONJA = 5, F_SA = 6;
const F_BR = 7, F_BI = 8, F_BDT = 9, F_RSB = 10, F_CSB = 11, F_CONJB = 12, F_SB = 13;
const F_CR = 14, F_CI = 15, F_CDT = 16, F_LDC = 17, F_SC = 18;
const F_M = 19, F_N = 20, F_K = 21, F_ACC = 22;

@inline function fld(d: usize, i: i32): i32 {
  return load<i32>(d + (<usize>i << 2));
}

/** Workspace bytes of one cgemmRun task. */
export function cgemmWorkBytes(m: i32, k: i32): i32 {
  const mt = (m + 3) >> 2;
  return mt * k * 32 + k * 32 + 64;
}

@inline function storeRow(dst: usize, dt: i32, at: usize, nc: i32, v: v128, acc: bool, tmp: usize): void {
  if (nc == 4) {
    store4(dst, at, dt, acc ? f32x4.add(v, load4(dst, at, dt)) : v);
    return;
  }
  v128.store(tmp, v);
  for (let q: i32 = 0; q < nc; q++) {
    let x = load<f32>(tmp + (<usize>q << 2));
    if (acc) x += load1(dst, at + <usize>q, dt);
    store1(dst, at + <usize>q, dt, x);
  }
}

/** Runs batch items [b0, b1) of the descriptor at `desc`. */
export function cgemmRun(desc: usize, b0: i32, b1: i32, work: usize): void {
  const aDt = fld(desc, F_ADT), rsA = fld(desc, F_RSA), csA = fld(desc, F_CSA), sA = fld(desc, F_SA);
  const bDt = fld(desc, F_BDT), rsB = fld(desc, F_RSB), csB = fld(desc, F_CSB), sB = fld(desc, F_SB);
  const cDt = fld(desc, F_CDT), ldc = fld(desc, F_LDC), sC = fld(desc, F_SC);
  const m = fld(desc, F_M), n = fld(desc, F_N), k = fld(desc, F_K);
  const acc = fld(desc, F_ACC) != 0;
  const sgA: f32 = fld(desc, F_CONJA) != 0 ? -1 : 1;
  const sgB: f32 = fld(desc, F_CONJB) != 0 ? -1 : 1;
  const mt = (m + 3) >> 2;
  const apR = work, apI = apR + <usize>(mt * k * 16);
  const bpR = apI + <usize>(mt * k * 16), bpI = bpR + <usize>(k * 16);
  const tmp = bpI + <usize>(k * 16);
  for (let bi = b0; bi < b1; bi++) {
    const ar = <usize>fld(desc, F_AR) + <usize>(bi * sA), ai = <usize>fld(desc, F_AI) + <usize>(bi * sA);
    const br = <usize>fld(desc, F_BR) + <usize>(bi * sB), bim = <usize>fld(desc, F_BI) + <usize>(bi * sB);
    const cr = <usize>fld(desc, F_CR) + <usize>(bi * sC), ci = <usize>fld(desc, F_CI) + <usize>(bi * sC);
    // pack A: tiles of 4 rows, [k][4] for re and im (vector loads / 4×4 transposes for full tiles)
    const vsA = f32x4.splat(sgA);
    for (let t: i32 = 0; t < mt; t++) {
      const i0 = t * 4;
      const tR = apR + <usize>(t * k * 16), tI = apI + <usize>(t * k * 16);
      let p0: i32 = 0;
      if (i0 + 4 <= m && rsA == 1) {
        // transposed A: the 4 rows of a column are contiguous
        for (; p0 < k; p0++) {
          const e = <usize>(i0 + p0 * csA);
          v128.store(tR + <usize>(p0 * 16), load4(ar, e, aDt));
          v128.store(tI + <usize>(p0 * 16), f32x4.mul(vsA, load4(ai, e, aDt)));
        }
      } else if (i0 + 4 <= m && csA == 1) {
        // rows contiguous along k: 4×4 transposes
        for (; p0 + 4 <= k; p0 += 4) {
          const e = <usize>(i0 * rsA + p0);
          const rs = <usize>rsA;
          storeT4(tR + <usize>(p0 * 16), 16, load4(ar, e, aDt), load4(ar, e + rs, aDt), load4(ar, e + 2 * rs, aDt), load4(ar, e + 3 * rs, aDt));
          storeT4(tI + <usize>(p0 * 16), 16,
            f32x4.mul(vsA, load4(ai, e, aDt)), f32x4.mul(vsA, load4(ai, e + rs, aDt)),
            f32x4.mul(vsA, load4(ai, e + 2 * rs, aDt)), f32x4.mul(vsA, load4(ai, e + 3 * rs, aDt)));
        }
      }
      for (let r: i32 = 0; r < 4; r++) {
        const i = t * 4 + r;
        const oR = apR + <usize>(t * k * 16 + r * 4), oI = apI + <usize>(t * k * 16 + r * 4);
        if (i < m) {
          for (let p: i32 = p0; p < k; p++) {
            const e = <usize>(i * rsA + p * csA);
            store<f32>(oR + <usize>(p * 16), load1(ar, e, aDt));
            store<f32>(oI + <usize>(p * 16), sgA * load1(ai, e, aDt));
          }
        } else {
          for (let p: i32 = p0; p < k; p++) {
            store<f32>(oR + <usize>(p * 16), 0);
            store<f32>(oI + <usize>(p * 16), 0);
          }
        }
      }
    }
    for (let j0: i32 = 0; j0 < n; j0 += 4) {
      const nc = min(4, n - j0);
      // pack a 4-column panel of B, [k][4] for re and im (vector loads / transposes for full panels)
      const vsB = f32x4.splat(sgB);
      let q0: i32 = 0;
      if (nc == 4 && csB == 1) {
        for (; q0 < k; q0++) {
          const e = <usize>(q0 * rsB + j0);
          v128.store(bpR + <usize>(q0 * 16), load4(br, e, bDt));
          v128.store(bpI + <usize>(q0 * 16), f32x4.mul(vsB, load4(bim, e, bDt)));
        }
      } else if (nc == 4 && rsB == 1) {
        // transposed B: each of the 4 columns is contiguous along k
        const cs = <usize>csB;
        for (; q0 + 4 <= k; q0 += 4) {
          const e = <usize>(j0 * csB + q0);
          storeT4(bpR + <usize>(q0 * 16), 16, load4(br, e, bDt), load4(br, e + cs, bDt), load4(br, e + 2 * cs, bDt), load4(br, e + 3 * cs, bDt));
          storeT4(bpI + <usize>(q0 * 16), 16,
            f32x4.mul(vsB, load4(bim, e, bDt)), f32x4.mul(vsB, load4(bim, e + cs, bDt)),
            f32x4.mul(vsB, load4(bim, e + 2 * cs, bDt)), f32x4.mul(vsB, load4(bim, e + 3 * cs, bDt)));
        }
      }
      for (let p: i32 = q0; p < k; p++) {
        for (let q: i32 = 0; q < 4; q++) {
          const o = <usize>(p * 16 + q * 4);
          if (q < nc) {
            const e = <usize>(p * rsB + (j0 + q) * csB);
            store<f32>(bpR + o, load1(br, e, bDt));
            store<f32>(bpI + o, sgB * load1(bim, e, bDt));
          } else {
            store<f32>(bpR + o, 0);
            store<f32>(bpI + o, 0);
          }
        }
      }
      for (let t: i32 = 0; t < mt; t++) {
        let r0 = f32x4.splat(0), r1 = f32x4.splat(0), r2 = f32x4.splat(0), r3 = f32x4.splat(0);
        let i0 = f32x4.splat(0), i1 = f32x4.splat(0), i2 = f32x4.splat(0), i3 = f32x4.splat(0);
        let pa = <usize>(t * k * 16);
        let pb: usize = 0;
        for (let p: i32 = 0; p < k; p++) {
          const bR = v128.load(bpR + pb), bI = v128.load(bpI + pb);
          let aR = v128.load32_splat(apR + pa), aI = v128.load32_splat(apI + pa);
          r0 = f32x4.add(r0, f32x4.sub(f32x4.mul(aR, bR), f32x4.mul(aI, bI)));
          i0 = f32x4.add(i0, f32x4.add(f32x4.mul(aR, bI), f32x4.mul(aI, bR)));
          aR = v128.load32_splat(apR + pa, 4); aI = v128.load32_splat(apI + pa, 4);
          r1 = f32x4.add(r1, f32x4.sub(f32x4.mul(aR, bR), f32x4.mul(aI, bI)));
          i1 = f32x4.add(i1, f32x4.add(f32x4.mul(aR, bI), f32x4.mul(aI, bR)));
          aR = v128.load32_splat(apR + pa, 8); aI = v128.load32_splat(apI + pa, 8);
          r2 = f32x4.add(r2, f32x4.sub(f32x4.mul(aR, bR), f32x4.mul(aI, bI)));
          i2 = f32x4.add(i2, f32x4.add(f32x4.mul(aR, bI), f32x4.mul(aI, bR)));
          aR = v128.load32_splat(apR + pa, 12); aI = v128.load32_splat(apI + pa, 12);
          r3 = f32x4.add(r3, f32x4.sub(f32x4.mul(aR, bR), f32x4.mul(aI, bI)));
          i3 = f32x4.add(i3, f32x4.add(f32x4.mul(aR, bI), f32x4.mul(aI, bR)));
          pa += 16;
          pb += 16;
        }
        const rows = min(4, m - t * 4);
        for (let r: i32 = 0; r < rows; r++) {
          const vr = r == 0 ? r0 : r == 1 ? r1 : r == 2 ? r2 : r3;
          const vi = r == 0 ? i0 : r == 1 ? i1 : r == 2 ? i2 : i3;
          const at = <usize>((t * 4 + r) * ldc + j0);
          storeRow(cr, cDt, at, nc, vr, acc, tmp);
          storeRow(ci, cDt, at, nc, vi, acc, tmp);
        }
      }
    }
  }
}

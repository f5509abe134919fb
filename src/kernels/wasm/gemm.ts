// GEMM: C[m×n] = alpha·op(A)·op(B) + beta·C + bias (bias per row of C), any mix of f32/f16/bf16.
// Operands are addressed by strides (in elements), which gives the transposed forms:
//   A(i,p) at a + (i*rsA + p*csA)·size, B(p,j) at b + (p*rsB + j*csB)·size, C(i,j) at c + (i*ldc + j)·size.
// Design (measured on this machine kind at 25–35 GFLOP/s on one thread with relaxed-SIMD FMA): K is cut
// into blocks of KC; each block of A is packed as 4-row tiles [kc][4] in f32; N is cut into blocks of up
// to 64K packed floats, whose 8-column panels of B are packed as [kc][8] in f32 (16-bit inputs are
// decoded while packing); the row tiles then run over the whole N block with a 4×8 register tile (8
// f32x4 accumulators), so every row of C is written in long runs (the channel mixings of an FNO have
// small K and a large M·N: their cost is writing C and running the epilogue). The epilogue adds beta·C,
// the bias and a residual, applies the activation (writing its derivative) and a factor. All
// accumulation is in f32: when K spans several blocks and C is 16-bit, partial sums go to an f32 buffer
// and C is written once at the end.
// GEMMs with one K block (K ≤ KC) and beta = 0 (every channel mixing of an FNO) run in small functions of
// their own, one per C dtype and epilogue (plain + bias; bias, residual, gelu with its derivative,
// factor), with the tile's sums handed to the epilogue in registers: V8 allocates the tile loop's
// registers far better there than inside gemm() with every epilogue inlined (FNO 64² train step 1.15–1.2×
// faster, results bit-identical). gemm() keeps the general case (K blocks, beta, the tanh gelu).
// They share one body (fusedBody) whose cases are compile-time constants; the 4×8 tile loop is written
// out once more in gemm() for the general path.
import { DT_BF16, DT_F16, DT_F32, load1, load4, store1, store4, store8, storeT4 } from "./common";
import { geluCore2V, geluCoreV, geluErfV, geluFromCoreV, geluGradFromCoreV, geluTanhV } from "./elementwise";

export const KC: i32 = 256;

/**
 * c + a·b. In the relaxed-SIMD build (dist/wasm/mpno-relaxed.wasm) this is f32x4.relaxed_madd, which V8
 * compiles to one fused multiply-add where the CPU has FMA; the plain build multiplies, then adds.
 */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

@inline function sz(dt: i32): usize {
  return dt == DT_F32 ? 4 : 2;
}

/** Packed B floats per N block at most (256 KB: the block stays in L2 while the row tiles run over it). */
const NB_FLOATS: i32 = 65536;

/** The largest K block of a GEMM with this K (at least 1, so that the workspace layout is defined for K = 0). */
@inline function kBlock(k: i32): i32 {
  return min(max(k, 1), KC);
}

/** Columns per N block (a multiple of 8): as many as fit NB_FLOATS at this K block size, at least 8. */
@inline function blockCols(k: i32, n: i32): i32 {
  const nb = max(8, (NB_FLOATS / kBlock(k)) & ~7);
  return min(nb, (n + 7) & ~7);
}

/** Workspace bytes that gemm() needs for these sizes (the caller allocates it, 64-byte aligned). */
export function gemmWorkBytes(m: i32, n: i32, k: i32, cDt: i32): i32 {
  const mt = (m + 3) >> 2;
  let w = mt * KC * 16 + kBlock(k) * blockCols(k, n) * 4 + 64;
  if (k > KC && cDt != DT_F32) w += m * n * 4;
  return w;
}

/** Activation codes of the fused epilogue (gemm's `act`): none, gelu (erf form), gelu (tanh form). */
export const ACT_NONE: i32 = 0;
export const ACT_GELU_ERF: i32 = 1;
export const ACT_GELU_TANH: i32 = 2;

/** low: the result is rounded to a 16-bit dtype (the erf gelu's 16-bit core). */
@inline function actV(act: i32, low: bool, v: v128): v128 {
  if (act == ACT_GELU_ERF) return geluErfV(v, low);
  if (act == ACT_GELU_TANH) return geluTanhV(v);
  return v;
}

/** act(v) for one value through the vector code; drow != 0: act′(v) goes to element i of drow. */
@inline function actScalar(act: i32, v: f32, drow: usize, i: usize, dt: i32): f32 {
  const x = f32x4.splat(v);
  const low = dt != DT_F32;
  if (drow == 0) return f32x4.extract_lane(actV(act, low, x), 0);
  const erf = act == ACT_GELU_ERF;
  const core = geluCoreV(erf, low, x);
  const core2 = geluCore2V(erf, low, x, core);
  store1(drow, i, dt, f32x4.extract_lane(geluGradFromCoreV(erf, low, x, core, core2), 0));
  return f32x4.extract_lane(geluFromCoreV(erf, low, x, core, core2), 0);
}

/**
 * Writes dst(i, j..j+len) = act(src-row values + beta·dst + bias + res)·mul (len <= 8); with an
 * activation and drow != 0, its derivative at the value before it goes to drow (same dtype and columns as
 * dst): the backward pass is then one multiplication. rrow / mrow (0: none) are the rows of a residual
 * added before the activation and of a factor multiplied after it, in dst's dtype and columns.
 * The scalar tail runs the same vector code on a splatted lane (identical to the elementwise kernels).
 */
@inline function epilogueRow(
  src: usize, dst: usize, dDt: i32, j: i32, len: i32, beta: f32, bv: f32, act: i32, drow: usize, rrow: usize, mrow: usize,
): void {
  // src: f32 row values (contiguous), dst: row start of C
  let q: i32 = 0;
  for (; q + 4 <= len; q += 4) {
    let v = v128.load(src + (<usize>q << 2));
    if (beta != 0) v = f32x4.add(v, f32x4.mul(f32x4.splat(beta), load4(dst, <usize>(j + q), dDt)));
    if (bv != 0) v = f32x4.add(v, f32x4.splat(bv));
    if (rrow != 0) v = f32x4.add(v, load4(rrow, <usize>(j + q), dDt));
    if (act != ACT_NONE) {
      if (drow != 0) {
        const erf = act == ACT_GELU_ERF;
        const low = dDt != DT_F32;
        const core = geluCoreV(erf, low, v);
        const core2 = geluCore2V(erf, low, v, core);
        store4(drow, <usize>(j + q), dDt, geluGradFromCoreV(erf, low, v, core, core2));
        v = geluFromCoreV(erf, low, v, core, core2);
      } else {
        v = actV(act, dDt != DT_F32, v);
      }
    }
    if (mrow != 0) v = f32x4.mul(v, load4(mrow, <usize>(j + q), dDt));
    store4(dst, <usize>(j + q), dDt, v);
  }
  for (; q < len; q++) {
    let v = load<f32>(src + (<usize>q << 2));
    if (beta != 0) v += beta * load1(dst, <usize>(j + q), dDt);
    v += bv;
    if (rrow != 0) v += load1(rrow, <usize>(j + q), dDt);
    if (act != ACT_NONE) v = actScalar(act, v, drow, <usize>(j + q), dDt);
    if (mrow != 0) v *= load1(mrow, <usize>(j + q), dDt);
    store1(dst, <usize>(j + q), dDt, v);
  }
}

/**
 * The epilogue with the activation code as a constant (so that only the one activation is inlined
 * into each copy of the loop).
 */
@inline function epilogueAct(
  src: usize, dst: usize, dDt: i32, j: i32, len: i32, beta: f32, bv: f32, act: i32, drow: usize, rrow: usize, mrow: usize,
): void {
  if (act == ACT_GELU_ERF) epilogueRow(src, dst, dDt, j, len, beta, bv, ACT_GELU_ERF, drow, rrow, mrow);
  else if (act == ACT_GELU_TANH) epilogueRow(src, dst, dDt, j, len, beta, bv, ACT_GELU_TANH, drow, rrow, mrow);
  else epilogueRow(src, dst, dDt, j, len, beta, bv, ACT_NONE, 0, rrow, mrow);
}

/**
 * Packs the 8-column panel of B at columns j0..j0+nc, rows pc..pc+kc, as [kc][8] f32 at pbase (columns past
 * nc are 0); 16-bit inputs are decoded here.
 */
@inline function packPanel(b: usize, bDt: i32, rsB: i32, csB: i32, pc: i32, kc: i32, j0: i32, nc: i32, pbase: usize): void {
  if (nc == 8 && csB == 1) {
    for (let p: i32 = 0; p < kc; p++) {
      const off = (pc + p) * rsB + j0;
      const dst = pbase + <usize>(p * 32);
      v128.store(dst, load4(b, <usize>off, bDt));
      v128.store(dst, load4(b, <usize>(off + 4), bDt), 16);
    }
  } else {
    let p: i32 = 0;
    if (nc == 8 && rsB == 1) {
      // transposed B: each of the 8 columns is contiguous along k: two 4×4 transposes per 4 k
      for (; p + 4 <= kc; p += 4) {
        const o = j0 * csB + pc + p;
        const dst = pbase + <usize>(p * 32);
        storeT4(dst, 32,
          load4(b, <usize>o, bDt), load4(b, <usize>(o + csB), bDt),
          load4(b, <usize>(o + 2 * csB), bDt), load4(b, <usize>(o + 3 * csB), bDt));
        storeT4(dst + 16, 32,
          load4(b, <usize>(o + 4 * csB), bDt), load4(b, <usize>(o + 5 * csB), bDt),
          load4(b, <usize>(o + 6 * csB), bDt), load4(b, <usize>(o + 7 * csB), bDt));
      }
    }
    for (; p < kc; p++) {
      const off = (pc + p) * rsB + j0 * csB;
      const dst = pbase + <usize>(p * 32);
      for (let q: i32 = 0; q < 8; q++) {
        store<f32>(dst + <usize>(q * 4), q < nc ? load1(b, <usize>(off + q * csB), bDt) : 0);
      }
    }
  }
}

/** Packs rows 0..m−1, columns pc..pc+kc of A as tiles of 4 rows, [kc][4] f32 at ap (rows past m are 0). */
@inline function packA(a: usize, aDt: i32, rsA: i32, csA: i32, m: i32, mt: i32, pc: i32, kc: i32, ap: usize): void {
  // pack A block: tiles of 4 rows, [kc][4], zero rows past m
  for (let t: i32 = 0; t < mt; t++) {
    const base = ap + <usize>(t * kc * 16);
    const i0 = t * 4;
    const full = i0 + 4 <= m;
    let p: i32 = 0;
    if (full && csA == 1) {
      // rows contiguous along k: 4×4 transposes
      for (; p + 4 <= kc; p += 4) {
        const o = i0 * rsA + pc + p;
        storeT4(base + <usize>(p * 16), 16,
          load4(a, <usize>o, aDt), load4(a, <usize>(o + rsA), aDt),
          load4(a, <usize>(o + 2 * rsA), aDt), load4(a, <usize>(o + 3 * rsA), aDt));
      }
    } else if (full && rsA == 1) {
      // transposed A: the 4 rows of a column are contiguous
      for (; p < kc; p++) v128.store(base + <usize>(p * 16), load4(a, <usize>(i0 + (pc + p) * csA), aDt));
    }
    for (let r: i32 = 0; r < 4; r++) {
      const i = i0 + r;
      if (i < m) {
        const rowOff = i * rsA + pc * csA;
        for (let q: i32 = p; q < kc; q++) {
          store<f32>(base + <usize>(q * 16 + r * 4), load1(a, <usize>(rowOff + q * csA), aDt));
        }
      } else {
        for (let q: i32 = p; q < kc; q++) store<f32>(base + <usize>(q * 16 + r * 4), 0);
      }
    }
  }
}

/** Lanes j0..j0+nc−1 of a row (nc < 8) as two vectors, zero past nc, through tmp. */
@inline function loadPart(row: usize, dt: i32, j0: i32, nc: i32, tmp: usize): void {
  v128.store(tmp, f32x4.splat(0));
  v128.store(tmp, f32x4.splat(0), 16);
  for (let q: i32 = 0; q < nc; q++) store<f32>(tmp + <usize>(q * 4), load1(row, <usize>(j0 + q), dt));
}

/** Stores v0, v1 to lanes j0..j0+nc−1 of a row (all 8 at once when nc = 8). */
@inline function storeRowPart(v0: v128, v1: v128, row: usize, dt: i32, j0: i32, nc: i32, tmp: usize): void {
  if (nc == 8) {
    store8(row, <usize>j0, dt, v0, v1);
  } else {
    v128.store(tmp, v0);
    v128.store(tmp, v1, 16);
    for (let q: i32 = 0; q < nc; q++) store1(row, <usize>(j0 + q), dt, load<f32>(tmp + <usize>(q * 4)));
  }
}

/**
 * The epilogue for one row of a tile, as gemm()'s computes it (the earlier K blocks' sums or beta·C,
 * bias, residual, activation writing its derivative, factor), on the registers v0, v1; rows of C, D, R,
 * M at `off` bytes.
 */
@inline function fusedRow(
  v0: v128, v1: v128, bv: f32, c: usize, d: usize, res: usize, mm: usize, off: usize, cDt: i32, act: i32,
  j0: i32, nc: i32, tmp: usize, first: bool, last: bool, beta: f32,
): void {
  if (!first) {
    // onto the earlier K blocks' partial sums (an f32 C)
    if (nc == 8) {
      v0 = f32x4.add(v0, load4(c + off, <usize>j0, cDt));
      v1 = f32x4.add(v1, load4(c + off, <usize>(j0 + 4), cDt));
    } else {
      loadPart(c + off, cDt, j0, nc, tmp);
      v0 = f32x4.add(v0, v128.load(tmp));
      v1 = f32x4.add(v1, v128.load(tmp, 16));
    }
  } else if (beta != 0) {
    if (nc == 8) {
      v0 = f32x4.add(v0, f32x4.mul(f32x4.splat(beta), load4(c + off, <usize>j0, cDt)));
      v1 = f32x4.add(v1, f32x4.mul(f32x4.splat(beta), load4(c + off, <usize>(j0 + 4), cDt)));
    } else {
      loadPart(c + off, cDt, j0, nc, tmp);
      v0 = f32x4.add(v0, f32x4.mul(f32x4.splat(beta), v128.load(tmp)));
      v1 = f32x4.add(v1, f32x4.mul(f32x4.splat(beta), v128.load(tmp, 16)));
    }
  }
  if (bv != 0) {
    v0 = f32x4.add(v0, f32x4.splat(bv));
    v1 = f32x4.add(v1, f32x4.splat(bv));
  }
  if (!last) {
    // partial sums stay in C (f32) until the last K block
    storeRowPart(v0, v1, c + off, cDt, j0, nc, tmp);
    return;
  }
  if (res != 0) {
    if (nc == 8) {
      v0 = f32x4.add(v0, load4(res + off, <usize>j0, cDt));
      v1 = f32x4.add(v1, load4(res + off, <usize>(j0 + 4), cDt));
    } else {
      loadPart(res + off, cDt, j0, nc, tmp);
      v0 = f32x4.add(v0, v128.load(tmp));
      v1 = f32x4.add(v1, v128.load(tmp, 16));
    }
  }
  if (act != ACT_NONE) {
    if (d != 0) {
      const erf = act == ACT_GELU_ERF;
      const low = cDt != DT_F32;
      const k0 = geluCoreV(erf, low, v0);
      const k1 = geluCoreV(erf, low, v1);
      const q0 = geluCore2V(erf, low, v0, k0);
      const q1 = geluCore2V(erf, low, v1, k1);
      storeRowPart(geluGradFromCoreV(erf, low, v0, k0, q0), geluGradFromCoreV(erf, low, v1, k1, q1), d + off, cDt, j0, nc, tmp);
      v0 = geluFromCoreV(erf, low, v0, k0, q0);
      v1 = geluFromCoreV(erf, low, v1, k1, q1);
    } else {
      v0 = actV(act, cDt != DT_F32, v0);
      v1 = actV(act, cDt != DT_F32, v1);
    }
  }
  if (mm != 0) {
    if (nc == 8) {
      v0 = f32x4.mul(v0, load4(mm + off, <usize>j0, cDt));
      v1 = f32x4.mul(v1, load4(mm + off, <usize>(j0 + 4), cDt));
    } else {
      loadPart(mm + off, cDt, j0, nc, tmp);
      v0 = f32x4.mul(v0, v128.load(tmp));
      v1 = f32x4.mul(v1, v128.load(tmp, 16));
    }
  }
  storeRowPart(v0, v1, c + off, cDt, j0, nc, tmp);
}

/**
 * gemm for the common cases, with C's dtype, the activation and `blocks` as constants: bias, residual,
 * gelu (erf form) with its derivative, factor, beta = 0 and one K block (K ≤ KC) when `blocks` is
 * false; an f32 C, beta and any number of K blocks (accumulated on C: the weight gradients) when it is
 * true. Each combination is its own small function (gemmGelu*, gemmLin*, gemmPlain*, gemmAccF32): V8
 * allocates the tile loop's registers far better there than inside gemm() with every epilogue inlined
 * (one thread: plain [256×32]·[32×32768] 22.8 → 12.2 ms, FNO 64² train step 1.15–1.2×), and runtime
 * flags for these cases in one function measured slower again. The operations and their order are gemm()'s.
 */
@inline function fusedBody(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, cDt: i32, ldc: i32, m: i32, n: i32, kAll: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize,
  act: i32, d: usize, res: usize, mm: usize, blocks: bool,
): void {
  const mt = (m + 3) >> 2;
  const ap: usize = work;
  const bp: usize = ap + <usize>(mt * KC * 16);
  const nb = blockCols(kAll, n);
  const tmp: usize = bp + <usize>(kBlock(kAll) * nb * 4);
  const al = f32x4.splat(alpha);
  const rs = <usize>ldc * sz(cDt);
  for (let pc: i32 = 0; pc < kAll; pc += KC) {
    const k: i32 = blocks ? min(KC, kAll - pc) : kAll;
    const first = !blocks || pc == 0;
    const last = !blocks || pc + k >= kAll;
    packA(a, aDt, rsA, csA, m, mt, pc, k, ap);
    for (let jb: i32 = 0; jb < n; jb += nb) {
      const jEnd: i32 = min(n, jb + nb);
      for (let j0: i32 = jb; j0 < jEnd; j0 += 8) {
        packPanel(b, bDt, rsB, csB, pc, k, j0, min(8, n - j0), bp + <usize>(((j0 - jb) >> 3) * k * 32));
      }
      for (let t: i32 = 0; t < mt; t++) {
        const rows: i32 = min(4, m - t * 4);
        const i0 = t * 4;
        const hb = first && bias != 0;
        const b0v: f32 = hb ? load1(bias, <usize>i0, biasDt) : 0;
        const b1v: f32 = hb && rows > 1 ? load1(bias, <usize>(i0 + 1), biasDt) : 0;
        const b2v: f32 = hb && rows > 2 ? load1(bias, <usize>(i0 + 2), biasDt) : 0;
        const b3v: f32 = hb && rows > 3 ? load1(bias, <usize>(i0 + 3), biasDt) : 0;
        const o0 = <usize>(i0 * ldc) * sz(cDt);
        for (let j0: i32 = jb; j0 < jEnd; j0 += 8) {
          let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
          let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
          let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
          let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
          let pa = ap + <usize>(t * k * 16);
          let pb = bp + <usize>(((j0 - jb) >> 3) * k * 32);
          for (let p: i32 = 0; p < k; p++) {
            const bv0 = v128.load(pb);
            const bv1 = v128.load(pb, 16);
            let av = v128.load32_splat(pa);
            c00 = madd(av, bv0, c00);
            c01 = madd(av, bv1, c01);
            av = v128.load32_splat(pa, 4);
            c10 = madd(av, bv0, c10);
            c11 = madd(av, bv1, c11);
            av = v128.load32_splat(pa, 8);
            c20 = madd(av, bv0, c20);
            c21 = madd(av, bv1, c21);
            av = v128.load32_splat(pa, 12);
            c30 = madd(av, bv0, c30);
            c31 = madd(av, bv1, c31);
            pa += 16;
            pb += 32;
          }
          const nc: i32 = min(8, n - j0);
          fusedRow(f32x4.mul(c00, al), f32x4.mul(c01, al), b0v, c, d, res, mm, o0, cDt, act, j0, nc, tmp, first, last, beta);
          if (rows > 1) fusedRow(f32x4.mul(c10, al), f32x4.mul(c11, al), b1v, c, d, res, mm, o0 + rs, cDt, act, j0, nc, tmp, first, last, beta);
          if (rows > 2) fusedRow(f32x4.mul(c20, al), f32x4.mul(c21, al), b2v, c, d, res, mm, o0 + 2 * rs, cDt, act, j0, nc, tmp, first, last, beta);
          if (rows > 3) fusedRow(f32x4.mul(c30, al), f32x4.mul(c31, al), b3v, c, d, res, mm, o0 + 3 * rs, cDt, act, j0, nc, tmp, first, last, beta);
        }
      }
    }
  }
}

@noinline function gemmGeluF32(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_F32, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_GELU_ERF, d, res, mm, false);
}

@noinline function gemmLinF32(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_F32, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_NONE, 0, res, mm, false);
}

@noinline function gemmPlainF32(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_F32, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_NONE, 0, 0, 0, false);
}

@noinline function gemmGeluBf16(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_BF16, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_GELU_ERF, d, res, mm, false);
}

@noinline function gemmLinBf16(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_BF16, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_NONE, 0, res, mm, false);
}

@noinline function gemmPlainBf16(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_BF16, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_NONE, 0, 0, 0, false);
}

@noinline function gemmGeluF16(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_F16, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_GELU_ERF, d, res, mm, false);
}

@noinline function gemmLinF16(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_F16, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_NONE, 0, res, mm, false);
}

@noinline function gemmPlainF16(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_F16, ldc, m, n, k, alpha, 0, bias, biasDt, work, ACT_NONE, 0, 0, 0, false);
}

@noinline function gemmAccF32(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize, d: usize, res: usize, mm: usize,
): void {
  fusedBody(a, aDt, rsA, csA, b, bDt, rsB, csB, c, DT_F32, ldc, m, n, k, alpha, beta, bias, biasDt, work, ACT_NONE, 0, 0, 0, true);
}

/** Runs the common cases (see fusedBody) and returns true, or false for gemm()'s general path. */
@inline function fastPath(
  a: usize, aDt: i32, rsA: i32, csA: i32, b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, cDt: i32, ldc: i32, m: i32, n: i32, k: i32, alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize,
  act: i32, d: usize, res: usize, mm: usize,
): bool {
  if (k <= 0 || (act != ACT_NONE && act != ACT_GELU_ERF)) return false;
  const plain = act == ACT_NONE && res == 0 && mm == 0;
  if (k > KC || beta != 0) {
    if (!plain || cDt != DT_F32) return false;
    gemmAccF32(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, beta, bias, biasDt, work, 0, 0, 0);
    return true;
  }
  if (cDt == DT_F32) {
    if (plain) gemmPlainF32(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, 0, 0, 0);
    else if (act == ACT_NONE) gemmLinF32(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, 0, res, mm);
    else gemmGeluF32(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, d, res, mm);
  } else if (cDt == DT_BF16) {
    if (plain) gemmPlainBf16(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, 0, 0, 0);
    else if (act == ACT_NONE) gemmLinBf16(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, 0, res, mm);
    else gemmGeluBf16(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, d, res, mm);
  } else {
    if (plain) gemmPlainF16(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, 0, 0, 0);
    else if (act == ACT_NONE) gemmLinF16(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, 0, res, mm);
    else gemmGeluF16(a, aDt, rsA, csA, b, bDt, rsB, csB, c, ldc, m, n, k, alpha, 0, bias, biasDt, work, d, res, mm);
  }
  return true;
}

export function gemm(
  a: usize, aDt: i32, rsA: i32, csA: i32,
  b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, cDt: i32, ldc: i32,
  m: i32, n: i32, k: i32,
  alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize,
  act: i32, d: usize, res: usize, mm: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (fastPath(a, aDt, rsA, csA, b, bDt, rsB, csB, c, cDt, ldc, m, n, k, alpha, beta, bias, biasDt, work, act, d, res, mm)) return;
  const mt = (m + 3) >> 2;
  const ap: usize = work;
  const bp: usize = ap + <usize>(mt * KC * 16);
  const nb = blockCols(k, n);
  const tmp: usize = bp + <usize>(kBlock(k) * nb * 4);
  const useCw = k > KC && cDt != DT_F32;
  const cw: usize = tmp + 64;
  // target of the block updates: C itself, or the f32 buffer cw (row stride n)
  const tp: usize = useCw ? cw : c;
  const tDt: i32 = useCw ? DT_F32 : cDt;
  const ldt: i32 = useCw ? n : ldc;

  if (k <= 0) {
    // C = beta·C + bias
    for (let i: i32 = 0; i < m; i++) {
      const bv: f32 = bias != 0 ? load1(bias, <usize>i, biasDt) : 0;
      const row = c + <usize>(i * ldc) * sz(cDt);
      const drow = d != 0 ? d + <usize>(i * ldc) * sz(cDt) : 0;
      const rrow = res != 0 ? res + <usize>(i * ldc) * sz(cDt) : 0;
      const mrow = mm != 0 ? mm + <usize>(i * ldc) * sz(cDt) : 0;
      for (let j: i32 = 0; j < n; j++) {
        let v: f32 = bv;
        if (beta != 0) v += beta * load1(row, <usize>j, cDt);
        if (rrow != 0) v += load1(rrow, <usize>j, cDt);
        if (act != ACT_NONE) v = actScalar(act, v, drow, <usize>j, cDt);
        if (mrow != 0) v *= load1(mrow, <usize>j, cDt);
        store1(row, <usize>j, cDt, v);
      }
    }
    return;
  }

  for (let pc: i32 = 0; pc < k; pc += KC) {
    const kc: i32 = min(KC, k - pc);
    const first = pc == 0;
    const last = pc + kc >= k;
    packA(a, aDt, rsA, csA, m, mt, pc, kc, ap);
    // N is cut into blocks of nb columns whose B panels are packed together; the row tiles then run over
    // the whole block, so C (and the epilogue's other rows) are written in runs of nb columns per row
    // instead of 8-column pieces scattered over all M rows
    for (let jb: i32 = 0; jb < n; jb += nb) {
      const jEnd: i32 = min(n, jb + nb);
      for (let j0: i32 = jb; j0 < jEnd; j0 += 8) {
        packPanel(b, bDt, rsB, csB, pc, kc, j0, min(8, n - j0), bp + <usize>(((j0 - jb) >> 3) * kc * 32));
      }
      for (let t: i32 = 0; t < mt; t++) {
        for (let j0: i32 = jb; j0 < jEnd; j0 += 8) {
          const nc: i32 = min(8, n - j0);
          let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
          let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
          let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
          let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
          let pa = ap + <usize>(t * kc * 16);
          let pb = bp + <usize>(((j0 - jb) >> 3) * kc * 32);
          for (let p: i32 = 0; p < kc; p++) {
            const b0 = v128.load(pb);
            const b1 = v128.load(pb, 16);
            let av = v128.load32_splat(pa);
            c00 = madd(av, b0, c00);
            c01 = madd(av, b1, c01);
            av = v128.load32_splat(pa, 4);
            c10 = madd(av, b0, c10);
            c11 = madd(av, b1, c11);
            av = v128.load32_splat(pa, 8);
            c20 = madd(av, b0, c20);
            c21 = madd(av, b1, c21);
            av = v128.load32_splat(pa, 12);
            c30 = madd(av, b0, c30);
            c31 = madd(av, b1, c31);
            pa += 16;
            pb += 32;
          }
          const al = f32x4.splat(alpha);
          const rows: i32 = min(4, m - t * 4);
          for (let r: i32 = 0; r < rows; r++) {
            let v0: v128, v1: v128;
            if (r == 0) { v0 = c00; v1 = c01; }
            else if (r == 1) { v0 = c10; v1 = c11; }
            else if (r == 2) { v0 = c20; v1 = c21; }
            else { v0 = c30; v1 = c31; }
            v0 = f32x4.mul(v0, al);
            v1 = f32x4.mul(v1, al);
            const i = t * 4 + r;
            const trow = tp + <usize>(i * ldt) * sz(tDt);
            if (!first) {
              // accumulate onto the previous blocks' partial sums (f32 target or f32 C)
              if (nc == 8) {
                v128.store(tmp, f32x4.add(v0, load4(trow, <usize>j0, tDt)));
                v128.store(tmp, f32x4.add(v1, load4(trow, <usize>(j0 + 4), tDt)), 16);
              } else {
                v128.store(tmp, v0);
                v128.store(tmp, v1, 16);
                for (let q: i32 = 0; q < nc; q++) {
                  store<f32>(tmp + <usize>(q * 4), load<f32>(tmp + <usize>(q * 4)) + load1(trow, <usize>(j0 + q), tDt));
                }
              }
            } else {
              v128.store(tmp, v0);
              v128.store(tmp, v1, 16);
            }
            if (useCw) {
              // partial sums stay in f32 until the end
              for (let q: i32 = 0; q < nc; q++) store<f32>(trow + <usize>((j0 + q) * 4), load<f32>(tmp + <usize>(q * 4)));
            } else {
              // the bias goes with the first K block's write; the residual, the activation and the factor with
              // the last one's (then the sums are complete: the residual joins the finished sum, as an add after
              // the GEMM would)
              const drow = d != 0 && last ? d + <usize>(i * ldc) * sz(tDt) : 0;
              const rrow = res != 0 && last ? res + <usize>(i * ldc) * sz(tDt) : 0;
              const mrow = mm != 0 && last ? mm + <usize>(i * ldc) * sz(tDt) : 0;
              const bv: f32 = first && bias != 0 ? load1(bias, <usize>i, biasDt) : 0;
              epilogueAct(tmp, trow, tDt, j0, nc, first ? beta : 0, bv, last ? act : ACT_NONE, drow, rrow, mrow);
            }
          }
        }
      }
    }
    if (last && useCw) {
      for (let i: i32 = 0; i < m; i++) {
        const bv: f32 = bias != 0 ? load1(bias, <usize>i, biasDt) : 0;
        const crow = c + <usize>(i * ldc) * sz(cDt);
        const srow = cw + <usize>(i * n * 4);
        const drow = d != 0 ? d + <usize>(i * ldc) * sz(cDt) : 0;
        const rrow = res != 0 ? res + <usize>(i * ldc) * sz(cDt) : 0;
        const mrow = mm != 0 ? mm + <usize>(i * ldc) * sz(cDt) : 0;
        for (let j0: i32 = 0; j0 < n; j0 += 8) {
          epilogueAct(srow + <usize>(j0 * 4), crow, cDt, j0, min(8, n - j0), beta, bv, act, drow, rrow, mrow);
        }
      }
    }
  }
}

/**
 * C = Σ_t P_t + beta·C + bias, where the `count` f32 partial products P_t (m×n, row stride n) lie
 * `partStride` bytes apart: the reduction step of a GEMM split along K across threads.
 */
export function gemmReduce(
  parts: usize, count: i32, partStride: i32,
  c: usize, cDt: i32, ldc: i32, m: i32, n: i32,
  beta: f32, bias: usize, biasDt: i32,
): void {
  const p0 = parts;
  for (let i: i32 = 0; i < m; i++) {
    const row = p0 + <usize>(i * n * 4);
    for (let t: i32 = 1; t < count; t++) {
      const src = row + <usize>(t * partStride);
      let j: i32 = 0;
      for (; j + 4 <= n; j += 4) {
        const o = <usize>(j << 2);
        v128.store(row + o, f32x4.add(v128.load(row + o), v128.load(src + o)));
      }
      for (; j < n; j++) {
        const o = <usize>(j << 2);
        store<f32>(row + o, load<f32>(row + o) + load<f32>(src + o));
      }
    }
    const bv: f32 = bias != 0 ? load1(bias, <usize>i, biasDt) : 0;
    const crow = c + <usize>(i * ldc) * sz(cDt);
    for (let j0: i32 = 0; j0 < n; j0 += 8) {
      epilogueRow(row + <usize>(j0 * 4), crow, cDt, j0, min(8, n - j0), beta, bv, ACT_NONE, 0, 0, 0);
    }
  }
}

/**
 * `count` GEMMs of one shape whose operands lie sa / sb / sc bytes apart (sa or sb may be 0 for an
 * operand shared by all items): one call per thread instead of one per item. sc = 0 sums the items
 * into one C in item order (a channel mixing's weight gradient, Σ_b dY_b·X_bᵀ): beta and the bias
 * then apply with the first item only, each later item is added as gemm adds one product.
 */
export function gemmBatch(
  a: usize, aDt: i32, rsA: i32, csA: i32,
  b: usize, bDt: i32, rsB: i32, csB: i32,
  c: usize, cDt: i32, ldc: i32,
  m: i32, n: i32, k: i32,
  alpha: f32, beta: f32, bias: usize, biasDt: i32, work: usize,
  count: i32, sa: i32, sb: i32, sc: i32, act: i32, d: usize, res: usize, mm: usize,
): void {
  for (let i: i32 = 0; i < count; i++) {
    const later = sc == 0 && i > 0;
    gemm(
      a + <usize>(i * sa), aDt, rsA, csA, b + <usize>(i * sb), bDt, rsB, csB, c + <usize>(i * sc), cDt, ldc,
      m, n, k, alpha, later ? 1 : beta, later ? 0 : bias, biasDt, work, act, d != 0 ? d + <usize>(i * sc) : 0,
      res != 0 ? res + <usize>(i * sc) : 0, mm != 0 ? mm + <usize>(i * sc) : 0,
    );
  }
}

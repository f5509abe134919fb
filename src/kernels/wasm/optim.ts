// Optimizer updates of the Adam family on f32 parameters, gradients and moments, two elements at a time
// in f64x2 lanes. The arithmetic is float64 with the same operations in the same order as the reference
// (src/kernels/ref/optim.ts): every stored moment and parameter is rounded to f32 once (round to nearest
// even) and the rounded value is what the following steps read, so the results are bit-identical to the
// reference's. Elements [0, n) of every operand; a gradient pointer of 0 stands for a zero gradient.

/** Two f32 values at p + 4i as f64x2. */
@inline function ld2(p: usize, i: i32): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p + (<usize>i << 2)));
}

/** Rounds two f64 lanes to f32, stores them at p + 4i, and returns the stored values as f64x2. */
@inline function st2(p: usize, i: i32, v: v128): v128 {
  const r = f32x4.demote_f64x2_zero(v);
  v128.store64_lane(p + (<usize>i << 2), r, 0);
  return f64x2.promote_low_f32x4(r);
}

@inline function ld1(p: usize, i: i32): v128 {
  return f64x2.splat(<f64>load<f32>(p + (<usize>i << 2)));
}

@inline function st1(p: usize, i: i32, v: v128): v128 {
  const r = <f32>f64x2.extract_lane(v, 0);
  store<f32>(p + (<usize>i << 2), r);
  return f64x2.splat(<f64>r);
}

/**
 * torch.optim.Adam on elements [0, n): g ← g + wd·p; m ← lerp(m, g, w) (torch's two forms, w = 1 − β1);
 * v ← β2·v + c2·g² (c2 = 1 − β2); p ← p − stepSize·m/(√v/bc2Sqrt + eps).
 */
@inline function adamBody(
  pair: bool, p: usize, g: usize, m: usize, v: usize, i: i32,
  stepSize: f64, bc2Sqrt: f64, w: f64, omw: f64, beta2: f64, c2: f64, eps: f64, wd: f64,
): void {
  const P = pair ? ld2(p, i) : ld1(p, i);
  let G = g == 0 ? f64x2.splat(0) : pair ? ld2(g, i) : ld1(g, i);
  if (wd != 0) G = f64x2.add(G, f64x2.mul(f64x2.splat(wd), P));
  const M0 = pair ? ld2(m, i) : ld1(m, i);
  const Mn = w < 0.5
    ? f64x2.add(M0, f64x2.mul(f64x2.splat(w), f64x2.sub(G, M0)))
    : f64x2.sub(G, f64x2.mul(f64x2.sub(G, M0), f64x2.splat(omw)));
  const M = pair ? st2(m, i, Mn) : st1(m, i, Mn);
  const V0 = pair ? ld2(v, i) : ld1(v, i);
  const Vn = f64x2.add(f64x2.mul(f64x2.splat(beta2), V0), f64x2.mul(f64x2.splat(c2), f64x2.mul(G, G)));
  const V = pair ? st2(v, i, Vn) : st1(v, i, Vn);
  const denom = f64x2.add(f64x2.div(f64x2.sqrt(V), f64x2.splat(bc2Sqrt)), f64x2.splat(eps));
  const Pn = f64x2.sub(P, f64x2.mul(f64x2.splat(stepSize), f64x2.div(M, denom)));
  if (pair) st2(p, i, Pn);
  else st1(p, i, Pn);
}

export function adamStep(
  p: usize, g: usize, m: usize, v: usize, n: i32,
  stepSize: f64, bc2Sqrt: f64, w: f64, beta2: f64, eps: f64, wd: f64,
): void {
  const omw = 1 - w;
  const c2 = 1 - beta2;
  let i: i32 = 0;
  for (; i + 2 <= n; i += 2) adamBody(true, p, g, m, v, i, stepSize, bc2Sqrt, w, omw, beta2, c2, eps, wd);
  for (; i < n; i++) adamBody(false, p, g, m, v, i, stepSize, bc2Sqrt, w, omw, beta2, c2, eps, wd);
}

/**
 * neuralop's AdamW on elements [0, n) of one weight in `parts` parts (1, or 2 for the real and imaginary
 * parts of a complex weight, whose v is shared): v ← β2·v + c2·Σ g²; denom ← √v + eps; per part
 * m ← β1·m + c1·g; p ← p − alpha·m/denom; then p ← p + decay·p if decay ≠ 0.
 */
@inline function adamwBody(
  pair: bool, parts: i32, p0: usize, p1: usize, g0: usize, g1: usize, m0: usize, m1: usize, v: usize, i: i32,
  alpha: f64, beta1: f64, c1: f64, beta2: f64, c2: f64, eps: f64, decay: f64,
): void {
  const G0 = g0 == 0 ? f64x2.splat(0) : pair ? ld2(g0, i) : ld1(g0, i);
  const G1 = parts < 2 || g1 == 0 ? f64x2.splat(0) : pair ? ld2(g1, i) : ld1(g1, i);
  let sq = f64x2.add(f64x2.splat(0), f64x2.mul(G0, G0));
  if (parts == 2) sq = f64x2.add(sq, f64x2.mul(G1, G1));
  const V0 = pair ? ld2(v, i) : ld1(v, i);
  const Vn = f64x2.add(f64x2.mul(f64x2.splat(beta2), V0), f64x2.mul(f64x2.splat(c2), sq));
  const V = pair ? st2(v, i, Vn) : st1(v, i, Vn);
  const denom = f64x2.add(f64x2.sqrt(V), f64x2.splat(eps));
  for (let k: i32 = 0; k < parts; k++) {
    const pp = k == 0 ? p0 : p1;
    const mp = k == 0 ? m0 : m1;
    const G = k == 0 ? G0 : G1;
    const Mn = f64x2.add(f64x2.mul(f64x2.splat(beta1), pair ? ld2(mp, i) : ld1(mp, i)), f64x2.mul(f64x2.splat(c1), G));
    const M = pair ? st2(mp, i, Mn) : st1(mp, i, Mn);
    const P0 = pair ? ld2(pp, i) : ld1(pp, i);
    let P = f64x2.sub(P0, f64x2.mul(f64x2.splat(alpha), f64x2.div(M, denom)));
    if (decay != 0) {
      P = pair ? st2(pp, i, P) : st1(pp, i, P);
      P = f64x2.add(P, f64x2.mul(f64x2.splat(decay), P));
    }
    if (pair) st2(pp, i, P);
    else st1(pp, i, P);
  }
}

export function adamwStep(
  parts: i32, p0: usize, p1: usize, g0: usize, g1: usize, m0: usize, m1: usize, v: usize, n: i32,
  alpha: f64, beta1: f64, beta2: f64, eps: f64, decay: f64,
): void {
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  let i: i32 = 0;
  if (parts == 2) {
    for (; i + 2 <= n; i += 2) adamwBody(true, 2, p0, p1, g0, g1, m0, m1, v, i, alpha, beta1, c1, beta2, c2, eps, decay);
    for (; i < n; i++) adamwBody(false, 2, p0, p1, g0, g1, m0, m1, v, i, alpha, beta1, c1, beta2, c2, eps, decay);
  } else {
    for (; i + 2 <= n; i += 2) adamwBody(true, 1, p0, p1, g0, g1, m0, m1, v, i, alpha, beta1, c1, beta2, c2, eps, decay);
    for (; i < n; i++) adamwBody(false, 1, p0, p1, g0, g1, m0, m1, v, i, alpha, beta1, c1, beta2, c2, eps, decay);
  }
}

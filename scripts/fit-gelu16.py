#!/usr/bin/env python3
"""Fits the 16-bit erf-gelu core of the wasm kernels (src/kernels/wasm/elementwise.ts, X0…X5, L0…L6).

A gelu whose result is rounded to fp16 or bf16 (8 or 11 significant bits) needs its transcendental
parts to about 1e-6 relative, not to f32's 1e-7. The kernels then compute, in f32:

    E = exp(−x²/2) = 2^t, t = −x²·log2(e)/2 = n + f, n an integer, f ∈ [−½, ½], 2^f ≈ X(f) (degree 5)
    erfc(|x|/√2) = R(|x|)·E, R(a) = erfcx(a/√2) ≈ t·L(t), t = 1/(1 + a/4) (L of degree 6)

X and L minimise the relative error (linearised least squares with Lawson-style reweighting towards
the worst points; the best iterate is kept): X on f ∈ [−½, ½], L on a ∈ [0, 13.4], the range where
exp(−x²/2) is a normal f32. Then the script evaluates erfc(|x|/√2) and gelu as the kernel does
(coefficients rounded to f32, f32 arithmetic, no fused multiply-add) and prints the worst relative
error against float64.

    python3 scripts/fit-gelu16.py       (numpy only)
"""
import math

import numpy as np

A_MAX = 13.4
erfc = np.vectorize(math.erfc)


def fit(v, y, deg, iters=60):
    """Coefficients (increasing powers) of the degree-deg polynomial in v closest to y in relative error."""
    w = np.ones_like(v)
    best = None
    V = np.vander(v, deg + 1, increasing=True)
    for it in range(iters):
        wt = w / np.abs(y)
        c, *_ = np.linalg.lstsq(V * wt[:, None], y * wt, rcond=None)
        err = (V @ c) / y - 1
        worst = np.abs(err).max()
        if best is None or worst < best[0]:
            best = (worst, c)
        if it > 5:
            w = w * np.abs(err) ** 0.5 + 1e-300
            w /= w.max()
    return best


def erfcx_half(a):
    z = a / math.sqrt(2)
    return erfc(z) * np.exp(z * z)


def main():
    f = np.linspace(-0.5, 0.5, 20001)
    ex, X = fit(f, np.exp2(f), 5)
    a = np.linspace(0, A_MAX, 20000)
    t = 1 / (1 + a / 4)
    el, L = fit(t, erfcx_half(a) / t, 6)
    print(f"2^f on [-1/2, 1/2], degree 5: relative error {ex:.3g} in exact arithmetic")
    print(f"erfcx(a/sqrt 2) = t*L(t) on [0, {A_MAX}], degree 6: relative error {el:.3g}")
    for i, v in enumerate(X):
        print(f"const X{i}: f32 = {float(v)!r};")
    for i, v in enumerate(L):
        print(f"const L{i}: f32 = {float(v)!r};")

    # the kernel's evaluation in f32
    f32 = np.float32
    Xf = [f32(v) for v in X]
    Lf = [f32(v) for v in L]
    x = np.linspace(-A_MAX, A_MAX, 400001).astype(f32)
    tt = np.maximum(x * x * f32(-0.5 * math.log2(math.e)), f32(-127))
    n = np.round(tt)
    fr = tt - n
    f2 = fr * fr
    p = (Xf[0] + Xf[1] * fr) + f2 * ((Xf[2] + Xf[3] * fr) + f2 * (Xf[4] + Xf[5] * fr))
    E = p * np.exp2(n.astype(np.float64)).astype(f32)
    tq = f32(1) / (f32(1) + np.abs(x) * f32(0.25))
    t2 = tq * tq
    q = (Lf[0] + Lf[1] * tq) + t2 * ((Lf[2] + Lf[3] * tq) + t2 * ((Lf[4] + Lf[5] * tq) + t2 * Lf[6]))
    ec = tq * q * E
    xd = x.astype(np.float64)
    ref = erfc(np.abs(xd) / math.sqrt(2))
    ok = ref > 1e-37
    rel = np.abs(ec[ok] - ref[ok]) / ref[ok]
    print(f"erfc(|x|/sqrt 2) evaluated in f32: worst relative error {rel.max():.3g} (|x| <= {A_MAX}),"
          f" {rel[np.abs(xd[ok]) <= 3].max():.3g} for |x| <= 3")
    h = f32(0.5) * x * ec
    g = np.where(x < 0, h, x - h).astype(np.float64)
    gref = 0.5 * xd * erfc(-xd / math.sqrt(2))
    nz = np.abs(gref) > 1e-37
    print(f"gelu evaluated in f32: worst relative error {(np.abs(g[nz] - gref[nz]) / np.abs(gref[nz])).max():.3g}"
          " (fp16 half an ulp: 2.4e-4 or more; bf16 2.0e-3 or more)")


if __name__ == "__main__":
    main()

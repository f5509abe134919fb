#!/usr/bin/env python3
"""Fits the rational tanh of the wasm kernels (src/kernels/wasm/elementwise.ts, T_P0…T_Q4).

tanh(x) = c·P(s)/Q(s), c = x clamped to ±X, s = c², P and Q of degree 4 in s, Q(0) = 1. The fit
minimises the relative error of tanh on [0, X] by linearised least squares (P − f·Q ≈ 0 weighted by
1/(f·Q) of the previous iterate) with Lawson-style reweighting towards the worst points; the best
iterate is kept. X = 9.5: beyond it tanh is 1 in f32.

Then it evaluates the coefficients as the kernel does (rounded to f32; Estrin's scheme; with and
without fused multiply-add) on a dense grid and prints the worst error in ulps of the f32 result.

With --low it fits the tanh of results rounded to 16 bits (TL_P0…TL_Q3): P of degree 2, Q of degree 3,
X = 5 (beyond it tanh rounds to 1 in fp16 and bf16), and prints the worst relative error evaluated in
f32 (half an ulp of fp16 is 2.4e-4 or more).

    python3 scripts/fit-tanh.py [X]       (numpy only)
    python3 scripts/fit-tanh.py --low
"""
import sys

import numpy as np

M, K = 4, 4  # degrees of P and Q in s = x²


def fit(x_max, iters=80, M=M, K=K):
    x = np.concatenate([np.linspace(1e-4, x_max, 20000), np.geomspace(1e-6, 1, 2000)])
    x.sort()
    s = x * x
    f = np.tanh(x) / x
    w = np.ones_like(x)
    q_prev = np.ones_like(x)
    best = None
    for it in range(iters):
        a = np.hstack([np.vander(s, M + 1, increasing=True), -(f[:, None]) * np.vander(s, K + 1, increasing=True)[:, 1:]])
        weight = w / (f * np.abs(q_prev))
        c, *_ = np.linalg.lstsq(a * weight[:, None], f * weight, rcond=None)
        p = c[: M + 1]
        q = np.concatenate([[1.0], c[M + 1:]])
        pv = np.polyval(p[::-1], s)
        qv = np.polyval(q[::-1], s)
        err = pv / qv / f - 1
        worst = np.abs(err).max()
        if best is None or worst < best[0]:
            best = (worst, p, q)
        q_prev = qv
        if it > 10:
            w = w * np.abs(err) ** 0.5 + 1e-300
            w /= w.max()
    return best


def setup(p, q, x_max):
    """The coefficients rounded to f32, the evaluation grid x, the clamped c and s = c², s² in f32."""
    f32 = np.float32
    x = np.concatenate([np.linspace(0, 12, 2000001), np.geomspace(1e-30, 1, 200000)]).astype(f32)
    c = np.minimum(x, f32(x_max))
    s = c * c
    return [f32(v) for v in p], [f32(v) for v in q], x, c, s, s * s


def evaluate(p, q, x_max, fused):
    f32 = np.float32
    P, Q, x, c, s, s2 = setup(p, q, x_max)
    s4 = s2 * s2

    def madd(a, b, v):  # a + b·v
        if fused:
            return (a.astype(np.float64) + b.astype(np.float64) * v.astype(np.float64)).astype(f32)
        return a + b * v

    def full(v):
        return np.full_like(s, v)

    pv = madd(madd(madd(full(P[0]), full(P[1]), s), madd(full(P[2]), full(P[3]), s), s2), full(P[4]), s4)
    qv = madd(madd(madd(full(Q[0]), full(Q[1]), s), madd(full(Q[2]), full(Q[3]), s), s2), full(Q[4]), s4)
    t = np.minimum((c * pv) / qv, f32(1))
    ref = np.tanh(x.astype(np.float64))
    nz = ref > 0
    ulp = np.abs(t[nz].astype(np.float64) - ref[nz]) / np.spacing(f32(ref[nz])).astype(np.float64)
    return ulp.max(), x[nz][ulp.argmax()]


def main_low():
    x_max = 5.0
    worst, p, q = fit(x_max, M=2, K=3)
    print(f"16-bit results, X = {x_max}: relative error in exact arithmetic {worst:.3g}")
    for i, v in enumerate(p):
        print(f"const TL_P{i}: f32 = {float(v)!r};")
    for i, v in enumerate(q[1:], 1):
        print(f"const TL_Q{i}: f32 = {float(v)!r};")
    P, Q, x, c, s, s2 = setup(p, q, x_max)
    pv = (P[0] + P[1] * s) + s2 * P[2]
    qv = (Q[0] + Q[1] * s) + s2 * (Q[2] + Q[3] * s)
    t = (c * pv) / qv
    ref = np.tanh(x.astype(np.float64))
    nz = ref > 0
    inside = x[nz] <= x_max
    rel = np.abs(t[nz].astype(np.float64) - ref[nz]) / ref[nz]
    print(f"evaluated in f32: worst relative error {rel[inside].max():.3g} on [0, {x_max}],"
          f" {rel.max():.3g} on [0, 12] (there tanh(x) - tanh(5) < 1e-4 rounds away), largest value {t.max():.9g}")


def main():
    if "--low" in sys.argv:
        main_low()
        return
    x_max = float(sys.argv[1]) if len(sys.argv) > 1 else 9.5
    worst, p, q = fit(x_max)
    print(f"X = {x_max}: relative error in exact arithmetic {worst:.3g}")
    for i, v in enumerate(p):
        print(f"const T_P{i}: f32 = {float(v)!r};")
    for i, v in enumerate(q[1:], 1):
        print(f"const T_Q{i}: f32 = {float(v)!r};")
    for fused in (False, True):
        u, at = evaluate(p, q, x_max, fused)
        print(f"evaluated in f32{' with fused multiply-add' if fused else ''}: worst {u:.2f} ulp (at x = {at:.6g})")


if __name__ == "__main__":
    main()

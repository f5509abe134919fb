#!/usr/bin/env python3
"""The numpy side of bench/peers.sh --only kernels: f32 GEMM through numpy's BLAS (OpenBLAS where
libblas.so.3 resolves to it) and numpy's pocketfft rfft2, on the shapes of `mpno bench gemm` and
`mpno bench fft` (full transforms), one JSON object per line in the same fields as mpno's rows
(name, shape, median_ms, gflops). Run it with one thread (OPENBLAS_NUM_THREADS=1, OMP_NUM_THREADS=1),
as peers.sh does; numpy's FFT is single-threaded.

    numpy_kernels.py [--runs 7] [--warmup 1]
"""
import argparse
import json
import math
import time

import numpy as np

GEMM_SHAPES = [(32, 32, 32768), (64, 64, 262144), (128, 128, 65536), (256, 32, 32768)]
FFT_SHAPES = [(256, 64, 64), (256, 128, 128), (64, 256, 256)]


def median_ms(fn, runs, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    h = len(times) // 2
    return times[h] if len(times) % 2 else (times[h - 1] + times[h]) / 2


def blas_name():
    """The BLAS/LAPACK shared objects this process has mapped (what numpy's matmul runs on)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1].rsplit("/", 1)[-1] for line in f if "blas" in line.lower()}
        return ", ".join(sorted(libs)) or "unknown"
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    for m, k, n in GEMM_SHAPES:
        A = rng.standard_normal((m, k), dtype=np.float32)
        B = rng.standard_normal((k, n), dtype=np.float32)
        C = np.empty((m, n), dtype=np.float32)
        ms = median_ms(lambda: np.matmul(A, B, out=C), a.runs, a.warmup)
        print(json.dumps({"suite": "gemm", "name": f"gemm {m}x{k}·{k}x{n}", "shape": f"[{m}x{k}]·[{k}x{n}]", "dtype": "float32",
                          "median_ms": ms, "gflops": 2 * m * n * k / (ms * 1e6), "blas": blas_name()}), flush=True)
    for b, h, w in FFT_SHAPES:
        x = rng.standard_normal((b, h, w), dtype=np.float32)
        ms = median_ms(lambda: np.fft.rfft2(x, norm="forward"), a.runs, a.warmup)
        N = h * w
        print(json.dumps({"suite": "fft", "name": "rfft2 full", "shape": f"[{b}, {h}, {w}]", "dtype": "float32",
                          "median_ms": ms, "gflops": b * 2.5 * N * math.log2(N) / (ms * 1e6),
                          "note": "numpy computes in float64 (complex128 output)"}), flush=True)


if __name__ == "__main__":
    main()

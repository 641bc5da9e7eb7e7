"""The reference a kernel's speed is read against: NumPy's BLAS fp32 sgemm, measured here, single-threaded.

A tuned BLAS (NumPy's wheels ship OpenBLAS) gets close to the vector units' peak on a large
fp32 product, so its FLOP/s is the yardstick a LiteRT kernel is read against: `fraction` =
kernel GFLOP/s / sgemm GFLOP/s. It runs in a child process because BLAS fixes its thread count
when it loads (OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS are read once).
NumPy has no tuned fp16 or int8 product, so every dtype is read against the fp32 figure: an
int8 kernel can exceed 1 (it does 4x the multiplies per vector instruction). It is a reference,
not a limit: hence its name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

# The seed's FC product and a large square one (where BLAS reaches its peak).
SGEMM_SHAPES = ((100, 640, 1280), (1024, 1024, 1024))

_CHILD = r"""
import json, statistics, sys, time
import numpy as np
shapes, seconds = json.loads(sys.argv[1]), float(sys.argv[2])
rng = np.random.default_rng(0)
found = []
for m, k, n in shapes:
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    for _ in range(3):
        np.matmul(a, b, out=out)
    times, began = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - began < seconds:
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    found.append({"m": m, "k": k, "n": n, "runs": len(times), "median_ms": median * 1e3,
                  "gflops": 2 * m * k * n / median / 1e9})
print(json.dumps(found))
"""


def measure(threads: int = 1, seconds: float = 0.5) -> dict[str, Any]:
    """sgemm GFLOP/s at SGEMM_SHAPES on `threads` threads; `gflops` is the best of them."""
    env = {**os.environ, **{name: str(threads) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                           "MKL_NUM_THREADS")}}
    done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(SGEMM_SHAPES), str(seconds)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"the fp32 sgemm reference did not run (exit {done.returncode}): {' '.join(tail)}")
    shapes: list[dict[str, Any]] = json.loads(done.stdout)
    return {"kind": "numpy sgemm (fp32)", "threads": threads, "gflops": max(s["gflops"] for s in shapes),
            "shapes": shapes}

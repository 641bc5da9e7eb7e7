"""`pytest-litert matrix` against a plain serial script doing the same kind of work, cold and warm.

The yardstick is a straightforward serial matrix script (build, convert, inspect, run under three
op resolvers, compare with Keras; 7 operators x 7 recipes = 49 conversions), passed with
--baseline. The matrix runs the recipes it also converts over the original six operators
(42 cells) with --jobs 1 and with every core. Each run is a fresh process, started as the
`pytest-litert` command starts (`python -m pytest_litert`);
the runs of one repeat are interleaved so that a slow minute of the machine hits all of them.
cold = empty conversion cache (and a fresh directory for the script); warm = the same cache again.

Usage: python benchmarks/matrix_timing.py --baseline PATH/matrix.py [--repeats 3] [--jobs 1,2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPS = "fully_connected,batch_matmul,batch_matmul_const,conv2d_pointwise,conv2d,transpose_conv"
RECIPES = "fp32,fp16,dynamic_int8,static_int8,int16x8,int4,int4_weight_only"


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return time.perf_counter() - started


def matrix(cache: Path, jobs: int) -> list[str]:
    return [sys.executable, "-m", "pytest_litert", "matrix", f"--ops={OPS}", f"--recipes={RECIPES}",
            f"--cache-dir={cache}", f"--jobs={jobs}"]


def one_repeat(baseline: Path, jobs: list[int]) -> dict[str, float]:
    """Cold then warm for the script and for each --jobs, each in its own fresh directory/cache."""
    times: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="matrix-timing-"))
    try:
        for temperature in ("cold", "warm"):
            script_dir = work / "script"
            if temperature == "cold":
                shutil.rmtree(script_dir, ignore_errors=True)
            script_dir.mkdir(exist_ok=True)
            times[f"script {temperature}"] = timed([sys.executable, str(baseline)], script_dir)
            for count in jobs:
                times[f"matrix --jobs {count} {temperature}"] = timed(matrix(work / f"cache{count}", count), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, required=True, help="the plain serial matrix script")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", default="1,2", help="comma list of --jobs values to time")
    args = parser.parse_args()
    jobs = [int(value) for value in args.jobs.split(",")]
    runs: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name, seconds in one_repeat(args.baseline.resolve(), jobs).items():
            runs.setdefault(name, []).append(seconds)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    print(f"{args.repeats} repeats, {os.cpu_count()} cores; median (min-max), ratio to the script's median")
    for name, values in runs.items():
        script = medians[f"script {name.rsplit(' ', 1)[1]}"]
        print(f"{name:24s} {medians[name]:6.2f} s ({min(values):.2f}-{max(values):.2f})  "
              f"{medians[name] / script:.3f}x")


if __name__ == "__main__":
    main()

"""Time the full default matrix cold (empty cache, TensorFlow import included) and warm.

Each run is a fresh `pytest-litert matrix` process, as a user would start it.
Usage: python benchmarks/matrix_timing.py [--repeats N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(cache_dir: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest_litert.cli", "matrix", f"--cache-dir={cache_dir}"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.repeats):
        cache_dir = Path(tempfile.mkdtemp(prefix="litert-bench-"))
        try:
            cold.append(timed_run(cache_dir))
            warm.append(timed_run(cache_dir))
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
    for name, values in (("cold", cold), ("warm", warm)):
        print(f"{name}: median {statistics.median(values):.1f} s over {len(values)} runs "
              f"(min {min(values):.1f}, max {max(values):.1f})")


if __name__ == "__main__":
    main()

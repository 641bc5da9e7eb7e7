"""Examples per second of the property-based matrix under the litert-ci profile.

Runs `pytest --pyargs pytest_litert.suite.test_properties -k cell_property` twice in fresh
processes, cold (empty conversion cache) and warm (the same cache), with hypothesis
statistics, and prints wall time, examples run and examples per second per core.
Usage: python benchmarks/property_speed.py [--ops fully_connected,...] [--recipes ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(cache: Path, selection: list[str]) -> tuple[float, int, str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs",
               "pytest_litert.suite.test_properties", "-k", "cell_property and not sme2", "-q",
               "--hypothesis-profile=litert-ci", "--hypothesis-show-statistics", f"--litert-cache-dir={cache}",
               *selection]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "CI": "true"})
    seconds = time.perf_counter() - started
    examples = sum(int(n) for n in re.findall(r"- (\d+) passing, ", done.stdout))
    examples += sum(int(n) for n in re.findall(r", (\d+) failing, ", done.stdout))
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    return seconds, examples, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", default=None)
    parser.add_argument("--recipes", default=None)
    args = parser.parse_args()
    selection = [f"--litert-ops={args.ops}"] if args.ops else []
    selection += [f"--litert-recipes={args.recipes}"] if args.recipes else []
    cache = Path(tempfile.mkdtemp(prefix="litert-prop-bench-"))
    try:
        for label in ("cold", "warm"):
            seconds, examples, tail = run(cache, selection)
            rate = examples / seconds if seconds else 0.0
            print(f"{label}: {seconds:.0f} s, {examples} examples, {rate:.1f} examples/s "
                  f"({rate / (os.cpu_count() or 1):.1f} per core on {os.cpu_count()} cores; one process) - {tail}")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()

"""What the installed plugin adds to `pytest --co -q` of an unrelated small project.

Runs the two commands in turn (with the plugin, and with `-p no:litert`), RUNS times each, in
a temporary project of three plain tests, and prints both medians and their difference.
Usage: python benchmarks/startup_overhead.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = "def test_a():\n    assert 1\n\n\ndef test_b():\n    assert 2\n\n\ndef test_c():\n    assert 3\n"


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    base = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
    with tempfile.TemporaryDirectory(prefix="unrelated-") as folder:
        project = Path(folder)
        (project / "test_small.py").write_text(TESTS)
        timed(base, project)  # warm the file system cache
        with_plugin, without = [], []
        for _ in range(args.runs):
            with_plugin.append(timed(base, project))
            without.append(timed([*base, "-p", "no:litert"], project))
    a, b = statistics.median(with_plugin), statistics.median(without)
    print(f"with the plugin: median {a * 1000:.0f} ms; without (-p no:litert): median {b * 1000:.0f} ms; "
          f"added: {(a - b) * 1000:+.0f} ms over {args.runs} runs each")


if __name__ == "__main__":
    main()

"""The runtime axis of the upgrade report: one bundle, every ai-edge-litert release, diffs.

    pytest-litert export BUNDLE --shapes ci,seed --no-seed-models
    python benchmarks/runtime_axis.py --bundle BUNDLE --work DIR [--versions 2.0.2,...,nightly] [--out runs]

The models are converted once (the bundle), so two runs differ in the runtime only. Each
version gets a fresh venv holding that ai-edge-litert (`nightly`: ai-edge-litert-nightly, the
canary for the next release), numpy, pytest and hypothesis as pip resolves them from the
configured index, and this checkout without its dependencies; `record_run.py --bundle`
records every cell (an error anywhere becomes a failed record, never a lost run). Then each
version is diffed against the one before it with threshold 0: no change is dropped for being
small.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every ai-edge-litert release from 2.0 on with Python 3.11 wheels (2.0.0 and 2.0.1 were never
# published), then the nightly package.
VERSIONS = ("2.0.2", "2.0.3", "2.1.0", "2.1.1", "2.1.2", "2.1.3", "2.1.4", "2.1.5", "2.1.6", "2.2.0", "2.3.0",
            "nightly")
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


def requirement(version: str) -> list[str]:
    """pip arguments that install this runtime (the nightly is a pre-release of another name)."""
    return ["--pre", "ai-edge-litert-nightly"] if version == "nightly" else [f"ai-edge-litert=={version}"]


def prepare(version: str, work: Path) -> Path:
    """A venv with this runtime and the checkout; returns its python."""
    venv = work / f"litert-{version}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([str(BASE_PYTHON), "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, *requirement(version), "numpy", "pytest", "hypothesis"], check=True)
        subprocess.run([*pip, "--no-deps", str(ROOT)], check=True)
    return python


def record(python: Path, bundle: Path, out: Path) -> float:
    """One recorded run of the bundle on this venv's runtime; returns its wall time."""
    started = time.perf_counter()
    subprocess.run([str(python), str(ROOT / "benchmarks" / "record_run.py"), "--bundle", str(bundle),
                    "--cache-dir", "none", "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def diff(python: Path, before: Path, after: Path, out: Path) -> None:
    subprocess.run([str(python), "-m", "pytest_litert", "diff", str(before), str(after), "--threshold", "0",
                    "--out", str(out)], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bundle", type=Path, required=True, help="the bundle every runtime judges")
    parser.add_argument("--work", type=Path, required=True, help="where the venvs go (about 200 MB each)")
    parser.add_argument("--versions", default=",".join(VERSIONS), help="comma list (default: every 2.x and nightly)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs", help="run files and diffs (default runs/)")
    args = parser.parse_args(argv)
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, dict[str, float]] = {}
    previous: Path | None = None
    for version in versions:
        began = time.perf_counter()
        python = prepare(version, args.work)
        installed = time.perf_counter() - began
        run = args.out / f"runtime-{version}.json"
        timings[version] = {"install_s": round(installed, 1), "record_s": round(record(python, args.bundle, run), 1)}
        print(f"{version}: installed in {installed:.0f} s, recorded in {timings[version]['record_s']:.0f} s",
              flush=True)
        if previous is not None:
            diff(python, previous, run, args.out / f"{previous.stem}-vs-{version}.md")
        previous = run
    (args.out / "runtime-axis-timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

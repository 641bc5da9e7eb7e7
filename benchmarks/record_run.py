"""Record one full matrix run as baseline records, for `pytest-litert diff` across toolchains.

    python benchmarks/record_run.py --out run.json [--cache-dir DIR] [--ops ...] [--recipes ...]
                                   [--shapes ci,seed] [--bundle DIR]

With --bundle it converts nothing (no TensorFlow needed): the bundle's models run on this
environment's LiteRT, which is how benchmarks/runtime_axis.py holds the models fixed and
changes only the runtime.

Writes {"toolchain": versions(), "seed": N, "cells": [record_of(...), ...]}. Robust to an
older toolchain: a cell that fails to convert, to load or to run becomes a failed record
carrying the error, and the run goes on, so the diff shows what broke where.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from pytest_litert import toolchain
from pytest_litert.judge.verdict import Verdict, failed
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.report.record import record_of, run_document
from pytest_litert.session import Runner, Settings


def record_cell(runner: Runner, cell: Cell) -> dict[str, Any]:
    """The cell's record; any exception from an older toolchain becomes a failed verdict."""
    artifact: CellArtifact | None = None
    verdict: Verdict
    try:
        artifact = runner.artifact(cell)
        verdict = runner.evaluate(cell, artifact)
    except Exception as error:  # an older toolchain may fail anywhere: record it, keep going
        where = traceback.extract_tb(error.__traceback__)[-1]
        stage = "conversion" if artifact is None else "evaluation"
        verdict = failed(cell, f"{stage} failed: {type(error).__name__}: {error} "
                               f"({Path(where.filename).name}:{where.lineno})")
    if artifact is None:
        return record_of(cell, None, None, verdict, seed=runner.settings.seed)
    return record_of(cell, artifact.inspection, artifact.layer(cell.op), verdict, seed=runner.settings.seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="the run file to write (JSON)")
    parser.add_argument("--cache-dir", help="conversion cache ('none' disables it)")
    parser.add_argument("--ops", help="comma list of operators (default all)")
    parser.add_argument("--recipes", help="comma list of recipes (default all)")
    parser.add_argument("--shapes", help="comma list of shape sets (default ci)")
    parser.add_argument("--bundle", help="judge this exported bundle's models instead of converting")
    parser.add_argument("--seed", default=None, help="seed (default 0; with --bundle, the bundle's)")
    parser.add_argument("--target", default="host", help="where LiteRT runs (default host)")
    args = parser.parse_args(argv)
    settings = Settings.from_strings(args.ops, args.recipes, args.seed, args.cache_dir, args.target,
                                     bundle=args.bundle, shapes=args.shapes)
    runner = Runner(settings)
    started = time.perf_counter()
    print(f"record_run: {toolchain.describe()}; seed {settings.seed}; target {settings.target}", flush=True)
    records = []
    try:
        for cell in settings.cells():
            records.append(record_cell(runner, cell))
            print(f"  {cell.id}: {records[-1]['status']} {records[-1]['error']}".rstrip(), flush=True)
    finally:
        runner.close()
    document = run_document(records, settings.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(records)} records to {args.out} in {time.perf_counter() - started:.1f} s "
          f"({runner.cache.builds} converted, {runner.cache.hits} from cache)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

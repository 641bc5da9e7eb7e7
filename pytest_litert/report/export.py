"""`pytest-litert export DIR`: one .tflite per cell plus manifest.json, for a device's benchmark tool.

Each manifest entry is the cell's record (report/record.py, status "not judged") plus the file
it was written to; a cell that could not be converted keeps the reason in "error". Nothing
the user wrote is overwritten without `force`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from pytest_litert.judge.verdict import Verdict
from pytest_litert.matrix.cells import Cell, make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.report.record import record_of, run_document
from pytest_litert.session import Runner, Settings

# The seed document's own models: FC 100x640 -> 1280, under the seed's file names.
SEED_SHAPE = dataclasses.replace(OPS["fully_connected"].default_shape, m=100, k=640, n=1280)
SEED_FILES = {
    "fp32": "fc_fp32.tflite",
    "fp16": "fc_fp16.tflite",
    "dynamic_int8": "fc_dynamic_int8.tflite",
    "static_int8": "fc_static_int8.tflite",
}


class ExportRefused(RuntimeError):
    """The directory already holds files the export would overwrite."""


def plan(settings: Settings, seed_models: bool) -> list[tuple[str, Cell]]:
    """(file name, cell) for every selected cell, plus the seed's FC models."""
    files = [(f"{cell.id}.tflite", cell) for cell in settings.cells()]
    if seed_models and "fully_connected" in settings.ops:
        for recipe, name in SEED_FILES.items():
            if recipe in settings.recipes:
                files.append((name, make_cell(OPS["fully_connected"], RECIPES[recipe], SEED_SHAPE)))
    return files


def export(settings: Settings, directory: Path, *, force: bool, seed_models: bool) -> int:
    """Write the models and the manifest; returns how many models were written."""
    files = plan(settings, seed_models)
    existing = [name for name, _ in files if (directory / name).exists()]
    if (directory / "manifest.json").exists():
        existing.append("manifest.json")
    if existing and not force:
        raise ExportRefused(f"{directory} already holds {', '.join(existing[:5])}"
                            f"{' ...' if len(existing) > 5 else ''}; pass --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    runner = Runner(settings)
    manifest: list[dict[str, Any]] = []
    started = time.perf_counter()
    for position, (name, cell) in enumerate(files, 1):
        began = time.perf_counter()
        built = runner.build(cell)
        step = f"[{position}/{len(files)}] {name}"
        if isinstance(built, Verdict):
            print(f"{step}: not written: {built.reason.splitlines()[0]}", file=sys.stderr)
            manifest.append({**record_of(cell, None, None, built, seed=settings.seed), "file": None})
            continue
        (directory / name).write_bytes(built.model)
        record = record_of(cell, built.inspection, built.layer(cell.op), None, seed=settings.seed)
        manifest.append({**record, "file": name})
        print(f"{step} ({len(built.model)} bytes) {time.perf_counter() - began:.1f} s", flush=True)
    document = run_document(manifest, settings.seed, key="models")
    (directory / "manifest.json").write_text(json.dumps(document, indent=1) + "\n")
    written = sum(1 for entry in manifest if entry["file"])
    print(f"wrote {written} models and manifest.json to {directory} in {time.perf_counter() - started:.1f} s")
    return written

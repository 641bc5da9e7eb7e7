"""`pytest-litert export DIR`: the bundle (model/bundle.py) for judging elsewhere, plus one .tflite per
cell and manifest.json for a device's benchmark tool.

Per cell the stored artifact (model, seeded inputs, Keras outputs, Keras weights), its record
(report/record.py, status "not judged") and, with `property_examples`, that many
hypothesis-drawn examples (shape, weight style, inputs, Keras reference), so the property
corpus travels to a machine without TensorFlow. Nothing the user wrote is overwritten
without `force`.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from pytest_litert import jobs as parallel
from pytest_litert.judge.verdict import Verdict, active_findings, unproduced
from pytest_litert.matrix import kernel_types
from pytest_litert.matrix.cells import Cell, make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.shapes import SHAPE_SETS
from pytest_litert.model import storage
from pytest_litert.model.artifact import Arrays, CellArtifact
from pytest_litert.model.bundle import FORMAT, INDEX, KIND, index_entry
from pytest_litert.report.record import record_of, run_document
from pytest_litert.session import Runner, Settings
from pytest_litert.toolchain import versions

# The seed document's own models: FC 100x640 -> 1280, under the seed's file names.
SEED_SHAPE = SHAPE_SETS["seed"]["fully_connected"][0].shape
SEED_FILES = {
    "fp32": "fc_fp32.tflite",
    "fp16": "fc_fp16.tflite",
    "dynamic_int8": "fc_dynamic_int8.tflite",
    "static_int8": "fc_static_int8.tflite",
}
# The seed's benchmark command for a phone (one thread, XNNPACK, op profiling), per model.
BENCHMARK_COMMAND = ("benchmark_model --graph={file} --num_threads=1 --use_xnnpack=true "
                     "--enable_op_profiling=true")


def sme2_evidence(cell: Cell) -> dict[str, str] | None:
    """What `benchmark_model --enable_op_profiling=true` prints for this cell's layer when KleidiAI's
    SME2 kernels run on the phone (matrix/kernel_types.py); None outside the seed's SME2 cells."""
    if not cell.sme2:
        return None
    expected = kernel_types.expected_for(cell.op.op_code, cell.recipe.name, cell.shape)
    if expected is None:
        return {"operator": "", "packed_type": "", "note": "no expected operator is known for this form"}
    note = expected.why or (f"an operator named {expected.operator} in the op profile means KleidiAI's "
                            f"{expected.packed_type} kernels ran" + (" (QP8 also has NEON kernels)"
                                                                     if expected.packed_type == "QP8" else ""))
    return {"operator": expected.operator, "packed_type": expected.packed_type, "note": note}


class ExportRefused(RuntimeError):
    """The directory already holds files the export would overwrite."""


def plan(settings: Settings, seed_models: bool) -> list[tuple[str, Cell]]:
    """(file name, cell) for every selected cell, plus the seed's FC models."""
    files = [(f"{cell.id}.tflite", cell) for cell in settings.cells()]
    if seed_models and "fully_connected" in settings.ops:
        for recipe, name in SEED_FILES.items():
            if recipe in settings.recipes:
                files.append((name, make_cell(OPS["fully_connected"], RECIPES[recipe], SEED_SHAPE, "seed")))
    return files


def build_cell(runner: Runner, cell: Cell) -> CellArtifact | Verdict:
    """The converted cell (in a --jobs worker: it crosses back to the writing process)."""
    return runner.build(cell)


def export(settings: Settings, directory: Path, *, force: bool, seed_models: bool, property_examples: int = 0,
           jobs: int = 1) -> int:
    """Write the bundle, the models and the manifest; returns how many models were written.
    Cells convert on `jobs` jobs (jobs.py); files are written here, in cell order."""
    files = plan(settings, seed_models)
    _refuse_overwrite(directory, [name for name, _ in files], force=force)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory / "cells", ignore_errors=True)  # allowed by force (or absent)
    runner = Runner(settings)
    manifest: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    started = time.perf_counter()
    converted = parallel.ordered_map(settings, build_cell, [cell for _, cell in files], jobs, runner.converts)
    for position, ((name, cell), done) in enumerate(zip(files, converted, strict=True), 1):
        built = done.result
        step = f"[{position}/{len(files)}] {name}"
        seed_model = name in SEED_FILES.values()
        if not isinstance(built, Verdict):  # a model that is not this recipe's is not written under its name
            refused = unproduced(cell, built.inspection, built.layer(cell.op))
            built = built if refused is None else refused
        if isinstance(built, Verdict):
            print(f"{step}: not written: {built.reason.splitlines()[0]}", file=sys.stderr)
            manifest.append({**record_of(cell, None, None, built, seed=settings.seed), "file": None,
                             "not_written": built.reason.splitlines()[0]})
            if not seed_model:
                cells.append(index_entry(cell, None, {"status": str(built.status), "reason": built.reason}, []))
            continue
        (directory / name).write_bytes(built.model)
        record = record_of(cell, built.inspection, built.layer(cell.op), None, seed=settings.seed)
        findings = [f.text for f in active_findings(cell, require_sme2_kernels=False)]
        manifest.append({**record, "file": name, "benchmark_command": BENCHMARK_COMMAND.format(file=name),
                         "findings": findings, "sme2_evidence": sme2_evidence(cell)})
        if not seed_model:
            entry = _store(directory, f"cells/{cell.id}", built)
            examples = _examples(runner, directory, cell, property_examples, settings.seed)
            cells.append(index_entry(cell, entry, None, examples))
        extra = f", {property_examples} examples" if property_examples and not seed_model else ""
        print(f"{step} ({len(built.model)} bytes{extra}) {done.seconds:.1f} s", flush=True)
    (directory / "manifest.json").write_text(json.dumps(run_document(manifest, settings.seed, key="models"),
                                                        indent=1) + "\n")
    index = {"kind": KIND, "format": FORMAT, "toolchain": versions(), "seed": settings.seed,
             "property_examples": property_examples, "cells": cells}
    (directory / INDEX).write_text(json.dumps(index, indent=1) + "\n")
    written = sum(1 for entry in manifest if entry["file"])
    print(f"wrote {written} models, {INDEX} and manifest.json to {directory} in {time.perf_counter() - started:.1f} s")
    return written


def _refuse_overwrite(directory: Path, names: list[str], *, force: bool) -> None:
    existing = [name for name in [*names, "manifest.json", INDEX, "cells"] if (directory / name).exists()]
    if existing and not force:
        raise ExportRefused(f"{directory} already holds {', '.join(existing[:5])}"
                            f"{' ...' if len(existing) > 5 else ''}; pass --force to overwrite")


def _store(directory: Path, relative: str, artifact: Any) -> str:
    (directory / relative).mkdir(parents=True)
    storage.save(directory / relative, artifact)
    return relative


def _examples(runner: Runner, directory: Path, cell: Cell, count: int, seed: int) -> list[tuple[Cell, str]]:
    """`count` drawn examples of `cell`, stored under cells/<cell>/examples/<k>."""
    if count <= 0 or cell.not_produced:
        return []
    from pytest_litert.convert.examples import ExampleBuilder

    builder = ExampleBuilder(runner.artifact)
    stored = []
    for k, (variant, inputs) in enumerate(draw_examples(cell, count, seed)):
        stored.append((variant, _store(directory, f"cells/{cell.id}/examples/{k}", builder.artifact(variant, inputs))))
    return stored


def draw_examples(cell: Cell, count: int, seed: int) -> list[tuple[Cell, Arrays]]:
    """`count` (variant, inputs) draws of the property suite's strategies, the same for the
    same seed: hypothesis runs a collecting function under a fixed seed, no database."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fixed_seed
    from hypothesis import strategies as st

    from pytest_litert.matrix.strategies import draw_example

    drawn: list[tuple[Cell, Arrays]] = []

    # derandomize=False: the fixed seed decides, also where CI's hypothesis profile derandomizes
    @fixed_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate], derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def collect(data: st.DataObject) -> None:
        drawn.append(draw_example(data, cell))

    collect()
    return drawn[:count]

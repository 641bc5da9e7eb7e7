"""`pytest-litert`: export every cell as .tflite, or run the matrix outside a test suite."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from pytest_litert import toolchain
from pytest_litert.build.convert import ConversionError, MissingDependencyError
from pytest_litert.faults import inject
from pytest_litert.report import coverage, rundiff
from pytest_litert.report.table import CellSummary, counts, render_table
from pytest_litert.run.qemu import emulator
from pytest_litert.session import TARGETS, Runner, Settings
from pytest_litert.spec.cells import Cell, make_cell
from pytest_litert.spec.ops import OPS
from pytest_litert.spec.recipes import RECIPES

# The seed document's own models: FC 100x640 -> 1280, under the seed's file names.
SEED_SHAPE = dataclasses.replace(OPS["fully_connected"].default_shape, m=100, k=640, n=1280)
SEED_FILES = {
    "fp32": "fc_fp32.tflite",
    "fp16": "fc_fp16.tflite",
    "dynamic_int8": "fc_dynamic_int8.tflite",
    "static_int8": "fc_static_int8.tflite",
}


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", help=f"comma list of operators (default all: {','.join(OPS)})")
    parser.add_argument("--recipes", help=f"comma list of recipes (default all: {','.join(RECIPES)})")
    parser.add_argument("--seed", default="0", help="seed for weights, calibration and inputs (default 0)")
    parser.add_argument("--cache-dir", help="conversion cache ('none' disables; default ~/.cache/pytest-litert/cells)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pytest-litert", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write one .tflite per cell plus manifest.json")
    export.add_argument("directory", type=Path)
    export.add_argument("--force", action="store_true", help="overwrite files that already exist")
    export.add_argument("--no-seed-models", action="store_true",
                        help="skip the seed's FC 100x640->1280 models (fc_fp32.tflite, ...)")
    _add_selection(export)
    matrix = commands.add_parser("matrix", help="convert, run and judge every cell; print the table")
    matrix.add_argument("--target", default="host", choices=TARGETS, help="where LiteRT runs")
    matrix.add_argument("--json", type=Path, help="also write one record per cell to this file")
    _add_selection(matrix)
    coverage = commands.add_parser(
        "coverage", help="SME2 kernel coverage: the kernels each cell executes on the emulated CPU, SME2 on and off"
    )
    coverage.add_argument("--all-cells", action="store_true", help="every cell, not only the seed table's SME2 cells")
    coverage.add_argument("--markdown", action="store_true", help="print a markdown table")
    _add_selection(coverage)
    commands.add_parser("emulator", help="prepare the emulated SME2 target: `pytest-litert emulator setup|status`",
                        add_help=False)
    commands.add_parser("diff", help="compare two recorded runs per cell (structure, size, error)", add_help=False)
    commands.add_parser("faults", help="fault injection: mutate every cell's model, count what the oracles catch "
                        "(`--seeds N`: the false-positive sweep)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["emulator"]:
        return emulator.main(argv[1:])
    if argv[:1] == ["faults"]:
        return inject.main(argv[1:])
    if argv[:1] == ["diff"]:
        return rundiff.diff_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_strings(args.ops, args.recipes, args.seed, args.cache_dir,
                                         getattr(args, "target", None))
    except ValueError as error:
        print(f"pytest-litert: error: {error}", file=sys.stderr)
        return 2
    if args.command == "export":
        return export(settings, args.directory, force=args.force, seed_models=not args.no_seed_models)
    if args.command == "coverage":
        return coverage.main(settings, all_cells=args.all_cells, markdown=args.markdown)
    return run_matrix(settings, args.json)


def _export_plan(settings: Settings, seed_models: bool) -> list[tuple[str, Cell]]:
    plan = [(f"{cell.id}.tflite", cell) for cell in settings.cells()]
    if seed_models and "fully_connected" in settings.ops:
        for recipe, name in SEED_FILES.items():
            if recipe in settings.recipes:
                plan.append((name, make_cell(OPS["fully_connected"], RECIPES[recipe], SEED_SHAPE)))
    return plan


def export(settings: Settings, directory: Path, *, force: bool, seed_models: bool) -> int:
    plan = _export_plan(settings, seed_models)
    existing = [name for name, _ in plan if (directory / name).exists()]
    if (directory / "manifest.json").exists():
        existing.append("manifest.json")
    if existing and not force:
        print(f"pytest-litert: error: {directory} already holds {', '.join(existing[:5])}"
              f"{' ...' if len(existing) > 5 else ''}; pass --force to overwrite", file=sys.stderr)
        return 2
    directory.mkdir(parents=True, exist_ok=True)
    runner = Runner(settings)
    manifest: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name, cell in plan:
        try:
            artifact = runner.artifact(cell)
        except (ConversionError, MissingDependencyError) as error:
            print(f"  {name}: not written: {error}", file=sys.stderr)
            manifest.append(_describe(name, cell, None, str(error)))
            continue
        (directory / name).write_bytes(artifact.model)
        manifest.append(_describe(name, cell, artifact.inspect(), ""))
        print(f"  {name} ({len(artifact.model)} bytes)")
    document = {"toolchain": toolchain.versions(), "seed": settings.seed, "models": manifest}
    (directory / "manifest.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {sum(1 for m in manifest if not m['error'])} models and manifest.json to {directory} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def _describe(name: str, cell: Cell, inspection: Any, error: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "file": name,
        "cell": cell.id,
        "op": cell.op.name,
        "op_code": cell.op.op_code,
        "recipe": cell.recipe.name,
        "seed_table_row": str(cell.seed_row) if cell.seed_row else None,
        "kleidiai_sme2": cell.sme2,
        "shape": {name: cell.shape.as_dict()[name] for name in cell.op.fields},
        "not_produced": cell.not_produced,
        "findings": [f.text for f in cell.findings],
        "error": error,
    }
    if inspection is not None:
        record["op_codes"] = list(inspection.op_codes)
        record["inputs"] = [_tensor(inspection.tensors[i]) for i in inspection.inputs]
        record["outputs"] = [_tensor(inspection.tensors[i]) for i in inspection.outputs]
        op = inspection.find_op(cell.op.op_code)
        if op is not None:
            record["weights"] = _tensor(inspection.source_tensor(op.inputs[1]))
        record["metadata_keys"] = sorted(inspection.metadata)
        record["size"] = inspection.size
    return record


def _tensor(tensor: Any) -> dict[str, Any]:
    return {"name": tensor.name, "dtype": tensor.dtype, "shape": list(tensor.shape),
            "granularity": tensor.granularity}


def run_matrix(settings: Settings, json_path: Path | None) -> int:
    runner = Runner(settings)
    summaries: list[CellSummary] = []
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    print(f"pytest-litert matrix: {toolchain.describe()}; seed {settings.seed}; target {settings.target}")
    try:
        for cell in settings.cells():
            verdict = runner.evaluate_cell(cell, settings.svls[0])
            summaries.append(CellSummary.of(verdict))
            records.append({**summaries[-1].as_dict(), "reason": verdict.reason,
                            "checks": [dataclasses.asdict(c) for c in verdict.checks]})
            if verdict.status == "fail":
                print(verdict.explain(), file=sys.stderr)
    finally:
        runner.close()
    print(render_table(summaries, settings.ops, settings.recipes))
    elapsed = time.perf_counter() - started
    tally = counts(summaries)
    print(", ".join(f"{n} {s}" for s, n in sorted(tally.items())) +
          f" in {elapsed:.1f} s ({runner.cache.builds} converted, {runner.cache.hits} from cache)")
    if json_path is not None:
        json_path.write_text(json.dumps({"toolchain": toolchain.versions(), "cells": records}, indent=1))
    return 1 if tally.get("fail") else 0


if __name__ == "__main__":
    sys.exit(main())

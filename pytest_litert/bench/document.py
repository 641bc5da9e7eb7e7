"""A saved bench run (`--json`): machine, toolchain, fp32 sgemm reference, budget and every cell's statistics.

Like pytest-benchmark's saved runs, one JSON file per run carries everything needed to read it
later and to compare it with another (`--compare`): the raw samples too, so a comparison can
weigh the noise of both runs. `load` refuses anything else with the reason and the fix.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

from pytest_litert.bench.timing import Budget, CellTiming
from pytest_litert.model.documents import DocumentError, read_document

KIND = "pytest-litert bench"
FORMAT = 1


class BenchFileError(ValueError):
    """A file that is not a readable bench run; the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class BenchRun:
    machine: dict[str, Any]
    sgemm: dict[str, Any] | None  # the measured NumPy fp32 sgemm: a reference, not a limit
    budget: dict[str, Any]
    cells: list[CellTiming]
    created: str = ""

    def fraction(self, result: CellTiming, api: str) -> float | None:
        """The cell's GFLOP/s over the measured fp32 sgemm reference (None without one)."""
        if self.sgemm is None or not result.flops:
            return None
        return result.gflops(api) / float(self.sgemm["gflops"])

    def by_id(self) -> dict[str, CellTiming]:
        return {cell.cell_id: cell for cell in self.cells}

    def as_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "format": FORMAT, "created": self.created, "machine": self.machine,
                "sgemm": self.sgemm, "budget": self.budget, "cells": [cell.as_dict() for cell in self.cells]}


def new_run(machine: dict[str, Any], sgemm: dict[str, Any] | None, budget: Budget,
            cells: list[CellTiming]) -> BenchRun:
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return BenchRun(machine, sgemm, dataclasses.asdict(budget), cells, created)


def save(run: BenchRun, path: Path) -> None:
    path.write_text(json.dumps(run.as_dict(), indent=1) + "\n", encoding="utf-8")


def load(path: Path) -> BenchRun:
    try:
        data = read_document(path, KIND, FORMAT, fix=f"write one with `pytest-litert bench --json {path}` (records "
                             "of `pytest-litert matrix --json` compare with `pytest-litert diff`)")
    except DocumentError as error:
        raise BenchFileError(str(error)) from None
    try:
        cells = [CellTiming.from_dict(cell) for cell in data["cells"]]
        sgemm = data["sgemm"] if "sgemm" in data else data.get("ceiling")  # runs saved before the rename
        return BenchRun(data["machine"], sgemm, data["budget"], cells, data.get("created", ""))
    except (KeyError, TypeError, ValueError) as error:
        raise BenchFileError(f"{path}: damaged bench run ({type(error).__name__}: {error})") from None

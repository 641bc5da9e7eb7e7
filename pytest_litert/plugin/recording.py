"""Records of a run for machines and reviewers: baselines, the JSON report, JUnit properties.

Registered by plugin.py as a plugin object. Each judged cell's record (report/record.py)
travels in the test report's user_properties, so it reaches the controller under xdist;
a baseline difference fails the test in pytest_runtest_call, before the test body, so a
known finding's xfail or a not-produced skip cannot hide it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_litert.matrix.cells import Cell, select_cells
from pytest_litert.report import baseline
from pytest_litert.report.record import BaselineError, record_of, run_document, stored_part

if TYPE_CHECKING:
    from pytest_litert.judge.verdict import Verdict
    from pytest_litert.model.artifact import CellArtifact

RECORD_PROPERTY = "litert_record"
comparison_key = pytest.StashKey[baseline.Comparison]()


@dataclasses.dataclass(frozen=True)
class RecordingOptions:
    baseline_dir: Path | None
    update: bool
    tolerance: float
    report_json: Path | None
    seed: int
    bundle: dict[str, Any] | None = None  # {"path", "toolchain"} of a judged bundle
    html: Path | None = None  # --litert-html: the run as one HTML page


class RunRecorder:
    """Compares cells with their baselines and gathers the per-cell records."""

    def __init__(self, options: RecordingOptions) -> None:
        self.options = options
        self.records: dict[str, dict[str, Any]] = {}
        self.improved: list[str] = []

    def judge(self, item: pytest.Item, cell: Cell, artifact: CellArtifact | None, verdict: Verdict) -> None:
        """Attach the cell's record to the test and compare it with its baseline."""
        inspection = artifact.inspection if artifact is not None else None
        layer = artifact.layer(cell.op) if artifact is not None else None
        record = record_of(cell, inspection, layer, verdict, seed=self.options.seed, details=True)
        item.user_properties.append((RECORD_PROPERTY, json.dumps(record, default=str)))
        worst = verdict.worst_check()
        if worst is not None:
            item.user_properties.append(("litert_worst_fraction_of_bound", f"{worst.worst:.4g}"))
            item.user_properties.append(("litert_worst_error", f"{worst.units:.4g} {worst.unit}"))
        item.user_properties.append(("litert_status", str(verdict.status)))  # plain str: xdist serializes it
        if self.options.baseline_dir is None:
            return
        try:
            comparison = baseline.check_baseline(self.options.baseline_dir, stored_part(record),
                                                 update=self.options.update, tolerance=self.options.tolerance)
        except BaselineError as error:
            comparison = baseline.Comparison(False, "corrupt", str(error))
        item.stash[comparison_key] = comparison
        if comparison.kind == "improved":
            item.user_properties.append(("litert_baseline_improved", f"{cell.id}: {comparison.message}"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        comparison = item.stash.get(comparison_key, None)
        if comparison is not None and not comparison.ok:
            pytest.fail(f"baseline: {comparison.message}", pytrace=False)
        return (yield)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == "litert_baseline_improved":
                self.improved.append(str(value))
            if name == RECORD_PROPERTY:
                record = json.loads(str(value))
                self.records[f"{record['cell']} {json.dumps(record['shape'], sort_keys=True)}"] = record

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        wanted = self.options.report_json is not None or self.options.html is not None
        if not wanted or hasattr(session.config, "workerinput"):
            return  # under xdist only the controller writes the reports
        document = run_document(list(self.records.values()), self.options.seed, bundle=self.options.bundle)
        if self.options.report_json is not None:
            self.options.report_json.parent.mkdir(parents=True, exist_ok=True)
            self.options.report_json.write_text(json.dumps(document, indent=1, sort_keys=True, default=str) + "\n")
        if self.options.html is not None:
            from pytest_litert.report import html

            self.options.html.parent.mkdir(parents=True, exist_ok=True)
            plain = json.loads(json.dumps(document, default=str))
            self.options.html.write_text(html.render([("pytest session", plain)]), encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        directory = self.options.baseline_dir
        if directory is None:
            return
        if self.improved:
            terminalreporter.section("LiteRT baselines")
            terminalreporter.write_line("improved (passing; refresh with --litert-baseline-update to lock them in):")
            for line in self.improved:
                terminalreporter.write_line(f"  {line}")
        seen = {baseline.name_of(cell) for cell in select_cells(shapes="all")}
        seen |= {baseline.baseline_name(record) for record in self.records.values()}
        unused = baseline.unused_records(directory, seen)
        if unused:
            terminalreporter.section("LiteRT baselines")
            terminalreporter.write_line(f"{len(unused)} unused baseline(s), for cells that no longer exist:")
            for path in unused:
                terminalreporter.write_line(f"  {path}")


def parse_tolerance(value: object) -> float:
    """litert_baseline_tolerance: a fraction of the bound, >= 0."""
    try:
        tolerance = float(str(value))
    except ValueError:
        raise ValueError(f"litert_baseline_tolerance must be a number >= 0, got {value!r}") from None
    if tolerance < 0:
        raise ValueError(f"litert_baseline_tolerance must be a number >= 0, got {value!r}")
    return tolerance

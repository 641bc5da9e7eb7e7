"""The op x recipe table at the end of a session, gathered from test reports (so also from
xdist workers), and the -v status line that names each cell's seed-table row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_litert import toolchain
from pytest_litert.report.table import CellSummary, counts, render_table
from pytest_litert.settings import Settings

SUMMARY_PROPERTY = "litert_summary"
LABEL_PROPERTY = "litert_cell"


class MatrixSummary:
    """Collects cell summaries from test reports and prints the table."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.summaries: dict[str, CellSummary] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == SUMMARY_PROPERTY and report.when == "call":
                summary = CellSummary(**json.loads(str(value)))
                self.summaries[summary.cell_id] = summary

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        """In -v, follow the outcome with the cell's seed-table row."""
        label = next((str(v) for n, v in getattr(report, "user_properties", ()) if n == LABEL_PROPERTY), None)
        if label is None or report.when != "call":
            return None
        if hasattr(report, "wasxfail"):
            return "xfailed", "x", (f"XFAIL ({label})", {"yellow": True})
        if report.passed:
            return "passed", ".", (f"PASSED ({label})", {"green": True})
        if report.skipped:
            return "skipped", "s", (f"SKIPPED ({label})", {"yellow": True})
        return "failed", "F", (f"FAILED ({label})", {"red": True})

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.summaries:
            return
        summaries = list(self.summaries.values())
        terminalreporter.section("LiteRT operator x recipe matrix")
        terminalreporter.write_line(
            f"{toolchain.describe()}; seed {self.settings.seed}; target {self.settings.target}"
        )
        terminalreporter.write_line(render_table(summaries, self.settings.cells()))
        terminalreporter.write_line(", ".join(f"{n} {s}" for s, n in sorted(counts(summaries).items())))

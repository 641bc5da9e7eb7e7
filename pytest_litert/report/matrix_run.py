"""`pytest-litert matrix`: every selected cell converted, run and judged (on `--jobs` jobs),
printed as it finishes, in cell order, then the table; the records for `--json`."""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any

from pytest_litert import jobs as parallel
from pytest_litert import toolchain
from pytest_litert.judge.verdict import Status, Verdict
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.bundle import bundle_line
from pytest_litert.report.record import record_of, run_document
from pytest_litert.report.table import CellSummary, counts, render_table
from pytest_litert.session import Runner, Settings


@dataclasses.dataclass(frozen=True)
class JudgedCell:
    """What the parent process needs of one judged cell: plain data, so it crosses processes."""

    summary: CellSummary
    record: dict[str, Any]
    reason: str
    explanation: str  # the full explanation of a failure; empty otherwise


def judge_cell(runner: Runner, cell: Cell) -> JudgedCell:
    """Build (through the cache) and judge one cell; a conversion error is a failed verdict."""
    built = runner.build(cell)
    verdict = built if isinstance(built, Verdict) else runner.evaluate(cell, built, runner.settings.svls[0])
    artifact = None if isinstance(built, Verdict) else built
    record = record_of(cell, artifact.inspection if artifact else None, artifact.layer(cell.op) if artifact else None,
                       verdict, seed=runner.settings.seed, details=True)
    explanation = verdict.explain() if verdict.status == Status.FAIL else ""
    return JudgedCell(CellSummary.of(verdict), record, verdict.reason, explanation)


def run(settings: Settings, jobs: int) -> tuple[dict[str, Any], int]:
    """Print progress and the table; returns the run document and the number of failed cells."""
    started = time.perf_counter()
    print(f"pytest-litert matrix: {toolchain.describe()}; seed {settings.seed}; target {settings.target}; "
          f"{jobs} job{'s' if jobs > 1 else ''}")
    if settings.bundle is not None:
        print(f"pytest-litert matrix: {bundle_line(settings.bundle)}")
    cells = settings.cells()
    summaries, records, converted, from_cache = [], [], 0, 0
    converts = Runner(settings).converts  # starts nothing: it only looks in the cache
    for position, done in enumerate(parallel.ordered_map(settings, judge_cell, cells, jobs, converts), 1):
        judged = done.result
        summaries.append(judged.summary)
        records.append(judged.record)
        converted, from_cache = converted + done.converted, from_cache + done.from_cache
        why = f" ({judged.reason})" if judged.summary.status in (Status.NOT_PRODUCED, Status.SKIPPED) else ""
        print(f"[{position}/{len(cells)}] {judged.summary.cell_id}: {judged.summary.text()}{why} "
              f"{done.seconds:.1f} s", flush=True)
        if judged.explanation:
            print(judged.explanation, file=sys.stderr)
    print(render_table(summaries, cells))
    tally = counts(summaries)
    print(", ".join(f"{n} {s}" for s, n in sorted(tally.items())) +
          f" in {time.perf_counter() - started:.1f} s ({converted} converted, {from_cache} from cache)")
    return run_document(records, settings.seed), tally.get(Status.FAIL, 0)

"""The `pytest-litert bench` job: time the cells with the machine and its fp32 sgemm reference beside them
(refused first where timing means nothing), and compare with an earlier run, re-timing what
looks slower.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pytest_litert.bench import compare, machine, sgemm
from pytest_litert.bench.document import BenchRun, new_run
from pytest_litert.bench.timing import Budget, merge_rounds, time_cells, timing_target
from pytest_litert.matrix.cells import Cell
from pytest_litert.session import Runner


def bench(runner: Runner, cells: list[Cell], budget: Budget, *, with_sgemm: bool = True,
          progress: Callable[[str], None] = print) -> BenchRun:
    """Time `cells` on the run's target; the fp32 sgemm reference is measured first, in the same run."""
    timing_target(runner)  # refuse before the sgemm reference is measured
    found_sgemm = sgemm.measure(budget.threads) if with_sgemm else None
    if found_sgemm is not None:
        progress(f"sgemm reference: {found_sgemm['kind']}, {found_sgemm['gflops']:.1f} GFLOP/s")
    results = time_cells(runner, cells, budget, progress)
    return new_run(machine.describe(budget.threads), found_sgemm, budget, results)


def compare_confirmed(old: BenchRun, new: BenchRun, runner: Runner, cells: list[Cell], budget: Budget,
                      threshold: float, progress: Callable[[str], None] = print
                      ) -> tuple[BenchRun, list[compare.Change], list[str]]:
    """Compare; re-time every cell that looks slower (another `budget.rounds` fresh workers) and
    decide on all its rounds together, so one unlucky stretch of the machine is outvoted."""
    changes, unmatched = compare.compare(old, new, threshold)
    suspects = {change.cell_id for change in changes if change.verdict == "slower"}
    if suspects:
        progress(f"re-timing {len(suspects)} cell(s) that look slower, {budget.rounds} more round(s): "
                 f"{', '.join(sorted(suspects))}")
        again = {timed.cell_id: timed for timed in
                 time_cells(runner, [c for c in cells if c.id in suspects], budget, progress)}
        new = dataclasses.replace(new, cells=[merge_rounds([timed, again[timed.cell_id]])
                                              if timed.cell_id in again else timed for timed in new.cells])
        changes, unmatched = compare.compare(old, new, threshold)
    return new, changes, unmatched

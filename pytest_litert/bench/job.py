"""The `pytest-litert bench` job: refuse where timing means nothing, time the cells with the
machine and its ceiling beside them, and compare with an earlier run, re-timing what looks slower.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pytest_litert.bench import ceiling, compare, machine
from pytest_litert.bench.document import BenchRun, new_run
from pytest_litert.bench.timing import Budget, time_cells, timing_target
from pytest_litert.matrix.cells import Cell
from pytest_litert.session import Runner

CONFIRM_ROUNDS = 2  # fresh-worker re-timings a slower cell must survive


def bench(runner: Runner, cells: list[Cell], budget: Budget, *, with_ceiling: bool = True,
          progress: Callable[[str], None] = print) -> BenchRun:
    """Time `cells` on the run's target; the sgemm ceiling is measured first, in the same run."""
    timing_target(runner)  # refuse before the ceiling is measured
    found_ceiling = ceiling.measure(budget.threads) if with_ceiling else None
    if found_ceiling is not None:
        progress(f"ceiling: {found_ceiling['kind']}, {found_ceiling['gflops']:.1f} GFLOP/s")
    results = time_cells(runner, cells, budget, progress)
    return new_run(machine.describe(budget.threads), found_ceiling, budget, results)


def compare_confirmed(old: BenchRun, new: BenchRun, runner: Runner, cells: list[Cell], budget: Budget,
                      threshold: float, progress: Callable[[str], None] = print
                      ) -> tuple[BenchRun, list[compare.Change], list[str]]:
    """Compare, then re-time every cell that looks slower, up to CONFIRM_ROUNDS times, each in a
    fresh worker: one run's interval does not see what differs between processes (where the
    weights land in memory, a noisy neighbour). A cell stays slower only if every round says so;
    a cell some round clears keeps that round's timing, the evidence that cleared it."""
    changes, _ = compare.compare(old, new, threshold)
    suspects = {change.cell_id for change in changes if change.verdict == "slower"}
    for round_number in range(1, CONFIRM_ROUNDS + 1):
        if not suspects:
            break
        progress(f"re-timing {len(suspects)} cell(s) that look slower, in a fresh worker "
                 f"(round {round_number}/{CONFIRM_ROUNDS}): {', '.join(sorted(suspects))}")
        again = time_cells(runner, [c for c in cells if c.id in suspects], budget, progress)
        retimed = dataclasses.replace(new, cells=again)
        suspects = {change.cell_id for change in compare.compare(old, retimed, threshold)[0]
                    if change.verdict == "slower"}
        replaced = {timed.cell_id: timed for timed in again}
        new = dataclasses.replace(new, cells=[replaced.get(timed.cell_id, timed) for timed in new.cells])
    changes, unmatched = compare.compare(old, new, threshold)
    return new, changes, unmatched

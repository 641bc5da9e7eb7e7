"""`bench --compare OLD.json --fail-on=median:10%`: per cell and API, did it get slower?

A change counts only when it is both large and real. Large: the pooled median moved by more
than the threshold. Real: the rounds (one fresh worker each, bench/stats.py says why they are
the unit) of the new run sit above those of the old one, by an exact one-sided rank test at
ALPHA. A large change that is not real is reported as noise and never fails. The command also
re-times a cell that looks slower (bench/job.py) and decides on all its rounds together.
"""

from __future__ import annotations

import dataclasses
import re

from pytest_litert.bench.document import BenchRun
from pytest_litert.bench.stats import Summary, slower_p_value
from pytest_litert.report.table import aligned

DEFAULT_THRESHOLD = 0.10  # what --compare reports without --fail-on
ALPHA = 0.05  # one-sided; reachable from 3 rounds per run (1/20), 4 give 1/70
_FAIL_ON = re.compile(r"^median:(\d+(?:\.\d+)?)(%?)$")
_SAME_MACHINE_KEYS = ("cpu", "machine", "cores")
_FEATURES_SHOWN = 8


def parse_fail_on(text: str) -> float:
    """`median:10%` (or `median:0.1`) -> 0.1. Only the median has an interval to weigh noise by."""
    match = _FAIL_ON.match(text.strip())
    if match is None:
        raise ValueError(f"--fail-on must be median:N% (e.g. median:10%), got {text!r}")
    value = float(match.group(1)) / (100 if match.group(2) else 1)
    if not 0 < value < 10:
        raise ValueError(f"--fail-on threshold must be above 0 (a fraction or N%), got {text!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Change:
    """One (cell, API) in both runs. verdict: slower, faster, noise (large, intervals overlap), same."""

    cell_id: str
    api: str
    old: Summary
    new: Summary
    verdict: str

    @property
    def ratio(self) -> float:
        return self.new.median_ms / self.old.median_ms


def judge_change(old: Summary, new: Summary, threshold: float) -> str:
    ratio = new.median_ms / old.median_ms
    if ratio > 1 + threshold:
        return "slower" if slower_p_value(old.round_medians_ms, new.round_medians_ms) <= ALPHA else "noise"
    if ratio < 1 / (1 + threshold):
        return "faster" if slower_p_value(new.round_medians_ms, old.round_medians_ms) <= ALPHA else "noise"
    return "same"


def compare(old: BenchRun, new: BenchRun, threshold: float) -> tuple[list[Change], list[str]]:
    """The changes of every (cell, API) timed in both runs, and the cells only one run timed."""
    old_cells = old.by_id()
    changes: list[Change] = []
    unmatched: list[str] = []
    for cell in new.cells:
        before = old_cells.get(cell.cell_id)
        if before is None or before.status != "timed" or cell.status != "timed":
            status_before = before.status if before else "absent"
            if status_before != cell.status:
                unmatched.append(f"{cell.cell_id}: {status_before} -> {cell.status}")
            continue
        for api in dict.fromkeys([*before.apis, *cell.apis]):
            if api not in before.apis or api not in cell.apis:
                unmatched.append(f"{cell.cell_id} {api}: timed only in the {'new' if api in cell.apis else 'old'} run")
                continue
            old_summary, new_summary = before.apis[api].summary, cell.apis[api].summary
            changes.append(Change(cell.cell_id, api, old_summary, new_summary,
                                  judge_change(old_summary, new_summary, threshold)))
    new_ids = {cell.cell_id for cell in new.cells}
    unmatched += [f"{cell_id}: only in the old run" for cell_id in old_cells if cell_id not in new_ids]
    return changes, unmatched


def context_lines(old: BenchRun, new: BenchRun) -> list[str]:
    """What else differs between the runs. Another machine or thread count makes every change
    partly the machine's (two VMs of one kind differed 15x on int8: docs/findings.md); the
    toolchain's change is usually the point of the comparison."""
    differs = [f"{key} {old.machine.get(key)!r} -> {new.machine.get(key)!r}" for key in _SAME_MACHINE_KEYS
               if old.machine.get(key) != new.machine.get(key)]
    if old.budget.get("threads") != new.budget.get("threads"):
        differs.append(f"threads {old.budget.get('threads')} -> {new.budget.get('threads')}")
    old_features, new_features = set(old.machine.get("features", [])), set(new.machine.get("features", []))
    flags = [f"+{name}" for name in sorted(new_features - old_features)]
    flags += [f"-{name}" for name in sorted(old_features - new_features)]
    if flags:
        differs.append("CPU features " + " ".join(flags[:_FEATURES_SHOWN])
                       + (f" and {len(flags) - _FEATURES_SHOWN} more" if len(flags) > _FEATURES_SHOWN else ""))
    lines = ["not the same machine, so a change may be the machine's: " + "; ".join(differs)] if differs else []
    old_tools, new_tools = old.machine.get("toolchain", {}), new.machine.get("toolchain", {})
    moved = [f"{name} {old_tools.get(name, 'missing')} -> {new_tools.get(name, 'missing')}"
             for name in sorted({*old_tools, *new_tools}) if old_tools.get(name) != new_tools.get(name)]
    lines.append("toolchain: " + (", ".join(moved) if moved else "unchanged"))
    return lines


def _span(summary: Summary) -> str:
    return f"{min(summary.round_medians_ms):.4g}-{max(summary.round_medians_ms):.4g}"


def render(changes: list[Change], unmatched: list[str], threshold: float) -> str:
    """The changed (cell, API) pairs as a table, then one count line."""
    shown = [c for c in changes if c.verdict != "same"]
    lines = []
    if shown:
        rows = [("cell", "api", "old median ms [rounds]", "new median ms [rounds]", "change", "verdict")]
        rows += [(c.cell_id, c.api, f"{c.old.median_ms:.4g} [{_span(c.old)}]",
                  f"{c.new.median_ms:.4g} [{_span(c.new)}]", f"{c.ratio - 1:+.1%}", c.verdict) for c in shown]
        lines += aligned(rows)
    lines += [f"not compared: {text}" for text in unmatched]
    tally = {verdict: sum(c.verdict == verdict for c in changes) for verdict in ("slower", "faster", "noise")}
    lines.append(f"{len(changes)} compared at median:{threshold:.0%}: {tally['slower']} slower, {tally['faster']} "
                 f"faster, {tally['noise']} beyond the threshold but within noise, "
                 f"{len(changes) - sum(tally.values())} same")
    return "\n".join(lines) + "\n"

"""The op x recipe table printed by the plugin's terminal summary and `pytest-litert matrix`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_litert.judge.verdict import Verdict
    from pytest_litert.matrix.cells import Cell

_MARKS = {"pass": "pass", "fail": "FAIL", "finding": "xfail", "not produced": "n/p", "skipped": "skip"}
_UNIT_NAMES = {"step": "st", "ulp32": "ulp", "ulp16": "ulp16", "bound": "of bnd"}


@dataclasses.dataclass(frozen=True)
class CellSummary:
    """The part of a Verdict the table needs; plain data so it crosses xdist workers."""

    cell_id: str
    status: str
    worst: float | None = None
    units: float | None = None
    unit: str = ""
    worst_check: str = ""

    @classmethod
    def of(cls, verdict: Verdict) -> CellSummary:
        check = verdict.worst_check()
        if check is None:
            return cls(verdict.cell_id, verdict.status)
        return cls(verdict.cell_id, verdict.status, check.worst, check.units, check.unit, check.name)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def text(self) -> str:
        mark = _MARKS.get(self.status, self.status)
        if self.units is None:
            return mark
        return f"{mark} {self.units:.2g} {_UNIT_NAMES.get(self.unit, self.unit)}"


def render_table(summaries: Iterable[CellSummary], cells: Iterable[Cell]) -> str:
    """One row per operator and shape (`Cell.row`), one column per recipe."""
    by_id = {s.cell_id: s for s in summaries}
    grid: dict[str, dict[str, str]] = {}
    for cell in cells:
        grid.setdefault(cell.row, {})[cell.recipe.name] = by_id[cell.id].text() if cell.id in by_id else "-"
    recipes = list(dict.fromkeys(recipe for row in grid.values() for recipe in row))
    rows = [["op \\ recipe", *recipes]]
    rows += [[label, *(row.get(r, "-") for r in recipes)] for label, row in grid.items()]
    lines = aligned(rows)
    passed = [s for s in by_id.values() if s.worst is not None and s.status == "pass"]
    if passed:  # how close the passing cells come; a failure or a known finding says so itself
        top = max(passed, key=lambda s: s.worst or 0.0)
        lines.append(
            f"worst error of a passing cell as a fraction of its derived bound: {fraction_text(top.worst or 0.0)} "
            f"({top.cell_id}, {top.worst_check})"
        )
    lines.append(
        "units: st = output quantization steps, ulp = fp32 / ulp16 = fp16 units in the last place of "
        "|W|.|x|+|b|, of bnd = fraction of the derived bound; n/p = not produced by this toolchain; "
        "xfail = known finding (docs/findings.md)"
    )
    return "\n".join(lines)


def fraction_text(value: float) -> str:
    """A fraction of a limit, never rounded up to the limit: 0.996 reads 0.996, not 1.00."""
    if value >= 1000:  # a garbage output (a known finding): its size, not its digits
        return f"{value:.2g}"
    text = f"{value:.2f}"
    if value < 1.0 <= float(text):
        text = f"{math.floor(value * 1000) / 1000:.3f}"
        if float(text) >= 1.0:
            text = "0.999"  # closer than a thousandth, still under
    return text


def aligned(rows: Sequence[Sequence[str]], *, markdown: bool = False) -> list[str]:
    """Rows as text columns (the first row a header, ruled off), or as a markdown table."""
    if markdown:
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        lines.insert(1, "|" + "---|" * len(rows[0]))
        return lines
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def counts(summaries: Iterable[CellSummary]) -> dict[str, int]:
    result: dict[str, int] = {}
    for summary in summaries:
        result[summary.status] = result.get(summary.status, 0) + 1
    return result

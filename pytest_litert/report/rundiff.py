"""`pytest-litert diff RUN_A RUN_B`: what changed per cell between two recorded runs.

A run is a `--litert-report-json` file, `benchmarks/record_run.py` output or
`pytest-litert matrix --json` output; cells are matched by id and shape, and compared with
the same rules as baselines (structure, size, error as a fraction of its bound).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_litert.report.baseline import _Differences, _differences, baseline_name

DIFF_THRESHOLD = 0.01  # a change of a check's worst error below this fraction of its bound is noise


def _cells(run: dict[str, Any], label: str) -> dict[str, dict[str, Any]]:
    cells = run.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise ValueError(f"{label}: not a recorded run (expected {{'toolchain': ..., 'cells': [...]}})")
    return {baseline_name(c): c for c in cells}


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _worst_of(record: dict[str, Any]) -> float | None:
    values = [e["worst"] for e in (record.get("numeric") or {}).values() if e.get("worst") is not None]
    return max(values) if values else None


def _change(was: Any, now: Any, show: Callable[[Any], str] = str) -> str:
    return show(was) if was == now else f"{show(was)} -> {show(now)}"


def _row(key: str, a: dict[str, Any], b: dict[str, Any], found: _Differences) -> str:
    status = a["status"] if a["status"] == b["status"] else f"{a['status']} -> **{b['status']}**"
    paths = sorted({line.split(":")[0] for line in found.structural} - {"size", "status"})
    size = _change(a.get("size"), b.get("size"))
    if isinstance(a.get("size"), int) and isinstance(b.get("size"), int) and a["size"] != b["size"]:
        size += f" ({b['size'] - a['size']:+d})"
    worst = _change(_worst_of(a), _worst_of(b), lambda w: "-" if w is None else f"{w:.3g}")
    error = _change(a.get("error") or "-", b.get("error") or "-", str)
    cells = [f"`{key}`", status, ", ".join(paths) or "-", size, worst, error]
    return "| " + " | ".join(_md(c) for c in cells) + " |"


def diff_runs(a: dict[str, Any], b: dict[str, Any], *, names: tuple[str, str] = ("A", "B"),
              threshold: float = DIFF_THRESHOLD) -> str:
    """Markdown: the two toolchains side by side, then per cell what changed
    (structure, size, error, verdict); unchanged cells in one line."""
    return _diff(a, b, names, threshold)[0]


def _diff(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str], threshold: float) -> tuple[str, int]:
    """The report and the number of cells that changed, appeared or disappeared."""
    cells_a, cells_b = _cells(a, names[0]), _cells(b, names[1])
    tool_a, tool_b = a.get("toolchain") or {}, b.get("toolchain") or {}
    lines = [f"| component | {names[0]} | {names[1]} |", "|---|---|---|"]
    lines += [f"| {k} | {tool_a.get(k, '-')} | {tool_b.get(k, '-')}{'' if tool_a.get(k) == tool_b.get(k) else ' *'} |"
              for k in sorted(set(tool_a) | set(tool_b))]
    rows, details, unchanged = [], [], []
    for key in sorted(set(cells_a) & set(cells_b)):
        found = _differences(cells_a[key], cells_b[key], threshold)
        found.notes = [n for n in found.notes if not n.startswith("toolchain")]
        if found.kind() == "same" and not found.notes and cells_a[key].get("error") == cells_b[key].get("error"):
            unchanged.append(key)
            continue
        rows.append(_row(key, cells_a[key], cells_b[key], found))
        details += [f"- `{key}`", *[f"  -{line[1:]}" for line in found.lines()]]
    lines += ["", f"## Cells that changed: {len(rows)} of {len(set(cells_a) | set(cells_b))}", ""]
    if rows:
        lines += ["| cell | status | structure changed | size (bytes) | worst error (of bound) | error |",
                  "|---|---|---|---|---|---|", *rows, "", "### Details", "", *details]
    only = {names[0]: set(cells_a) - set(cells_b), names[1]: set(cells_b) - set(cells_a)}
    lines += [f"\nOnly in {label}: " + ", ".join(f"`{k}`" for k in sorted(keys))
              for label, keys in only.items() if keys]
    lines += ["", f"Unchanged ({len(unchanged)}): " + (", ".join(f"`{k}`" for k in unchanged) or "none")]
    return "\n".join(lines) + "\n", len(rows) + sum(map(len, only.values()))


def diff_files(run_a: Path, run_b: Path, *, threshold: float = DIFF_THRESHOLD) -> tuple[str, int]:
    """The markdown report of two run files and the number of cells that changed;
    ValueError naming the file for anything that is not a recorded run."""
    runs = []
    for path in (run_a, run_b):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None
    try:
        return _diff(runs[0], runs[1], (run_a.stem, run_b.stem), threshold)
    except (TypeError, KeyError, AttributeError) as error:
        raise ValueError(f"{run_a} / {run_b}: not recorded runs ({type(error).__name__}: {error})") from None

"""`pytest-litert diff RUN_A RUN_B`: what changed per cell between two recorded runs.

A run is a `--litert-report-json` file, `benchmarks/record_run.py` output or
`pytest-litert matrix --json` output; cells are matched by id and shape, and compared with
the same rules as baselines (structure, size, error as a fraction of its bound).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_litert.report.baseline import _Differences, _differences, baseline_name

DIFF_THRESHOLD = 0.01  # a change of a check's worst error below this fraction of its bound is noise


def _cell_view(record: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(key, record) for a baseline record, or a `matrix --json` record turned into one."""
    if "format" in record:
        return baseline_name(record), record
    checks = record.get("checks") or []
    reason = str(record.get("reason") or "")
    status = str(record.get("status"))
    return str(record.get("cell_id")), {
        "cell": record.get("cell_id"), "status": status, "structure": None, "size": None,
        "failed_checks": sorted(str(c.get("name")) for c in checks if not c.get("passed")),
        "numeric": {str(c["name"]): {"worst": c.get("worst"), "units": c.get("units"), "unit": c.get("unit", "")}
                    for c in checks if str(c.get("name", "")).endswith("vs keras") and c.get("worst") is not None},
        "error": reason.splitlines()[0][:300] if status == "fail" and reason else "",
    }


def _cells(run: dict[str, Any], label: str) -> dict[str, dict[str, Any]]:
    cells = run.get("cells")
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise ValueError(f"{label}: not a recorded run (expected {{'toolchain': ..., 'cells': [...]}})")
    return dict(_cell_view(c) for c in cells)


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


def diff_main(argv: list[str] | None = None) -> int:
    """`pytest-litert diff RUN_A RUN_B [--out FILE]`: 0 done, 1 with --fail-on-change and changes, 2 bad input."""
    parser = argparse.ArgumentParser(prog="pytest-litert diff", description="compare two recorded runs "
                                     "(benchmarks/record_run.py, `matrix --json`): what changed per cell, as markdown")
    parser.add_argument("run_a", type=Path, help="the earlier run (JSON)")
    parser.add_argument("run_b", type=Path, help="the later run (JSON)")
    parser.add_argument("--out", type=Path, help="write the report here instead of stdout")
    parser.add_argument("--threshold", type=float, default=DIFF_THRESHOLD, help="smallest change of a check's "
                        f"worst error, as a fraction of its bound, that counts (default {DIFF_THRESHOLD})")
    parser.add_argument("--fail-on-change", action="store_true", help="exit 1 when any cell changed")
    args = parser.parse_args(argv)
    runs = []
    for path in (args.run_a, args.run_b):
        try:
            runs.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            print(f"pytest-litert diff: error: {path}: {error}", file=sys.stderr)
            return 2
    try:
        report, changed = _diff(runs[0], runs[1], (args.run_a.stem, args.run_b.stem), args.threshold)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        print(f"pytest-litert diff: error: {error}", file=sys.stderr)
        return 2
    if args.out is not None:
        args.out.write_text(report, encoding="utf-8")
    else:
        print(report, end="")
    return 1 if args.fail_on_change and changed else 0

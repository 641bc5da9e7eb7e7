"""The report people look at: one self-contained HTML file from recorded runs.

The grids (operator x recipe, one per shape set, each cell coloured by its worst error as a
fraction of its derived bound) are written here as plain HTML, so the file reads the same in
any browser and a test can read every cell's id and status without running a script. The
page's small script only opens a cell's details (its checks, kernel evidence, toolchain,
findings) from the JSON embedded beside the grids. No network, no CDN: the file opens from
a CI artifact as it is.
"""

from __future__ import annotations

import datetime
import html
import json
import math
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_litert.report.table import fraction_text

BENCH_KIND = "pytest-litert bench"
AB_KIND = "pytest-litert bench sme2-ab"  # bench/ab.py: SME2 on and hidden on one machine
# Status -> (glyph, css class, what the legend says). The glyph, not only the colour, tells
# the statuses apart, for colour-blind readers and for print.
GLYPHS = {
    "pass": ("\u25cf", "pass", "pass"),
    "finding": ("\u25c6", "finding", "known finding (xfail)"),
    "not produced": ("\u25cb", "np", "not produced by this toolchain"),
    "fail": ("\u2716", "fail", "fail"),
    "skipped": ("\u2013", "skipped", "skipped"),
    "not judged": ("\u00b7", "skipped", "not judged"),
}


class ReportInputError(ValueError):
    """A file the report cannot read; the message names the file and what it expected."""


def load_documents(paths: Sequence[Path]) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """Recorded runs (`matrix --json`, `--litert-report-json`) and saved bench runs, by kind."""
    runs, benches = [], []
    for path in paths:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ReportInputError(f"{path}: {error}") from None
        if isinstance(document, dict) and document.get("kind") in (BENCH_KIND, AB_KIND):
            benches.append(document)
        elif isinstance(document, dict) and isinstance(document.get("cells"), list):
            runs.append((path.name, document))
        else:
            raise ReportInputError(f"{path}: neither a recorded run (`pytest-litert matrix --json`, "
                                   "`--litert-report-json`) nor a saved bench run (`pytest-litert bench --json`)")
    if not runs and not benches:
        raise ReportInputError("no input: give at least one recorded run or bench run")
    return runs, benches


def write_report(paths: Sequence[Path], out: Path) -> str:
    """Render the report of `paths` to `out`; returns a one-line summary."""
    runs, benches = load_documents(paths)
    out.write_text(render(runs, benches), encoding="utf-8")
    cells = len(runs[-1][1]["cells"]) if runs else 0
    return f"wrote {out} ({cells} cells, {len(benches)} bench run(s){', diff of two runs' if len(runs) > 1 else ''})"


def render(runs: Sequence[tuple[str, dict[str, Any]]], benches: Sequence[dict[str, Any]] = ()) -> str:
    """The page: the last run's grids, the diff against the run before it, the bench tables."""
    template = resources.files("pytest_litert.report").joinpath("report_template.html").read_text(encoding="utf-8")
    name, run = runs[-1] if runs else ("", {"cells": []})
    records = run["cells"]
    previous = runs[-2] if len(runs) > 1 else None
    parts = [_header(name, run), _legend(), *_grids(records)]
    if previous is not None:
        parts.append(_diff(previous, (name, run)))
    parts += [_ab(bench) if bench.get("kind") == AB_KIND else _bench(bench) for bench in benches]
    details = {record["cell"]: _detail(record) for record in records}
    page = template.replace("{{title}}", html.escape(f"pytest-litert report: {name or 'bench'}"))
    page = page.replace("{{body}}", "\n".join(parts))
    # "</" is escaped so no cell text can close the script element early.
    data = json.dumps(_json_safe(details), sort_keys=True, allow_nan=False)
    return page.replace("{{data}}", data.replace("</", "<\\/"))


def _json_safe(value: Any) -> Any:
    """Infinity and NaN (an exact match has an infinite SNR) as text: JSON.parse rejects them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _header(name: str, run: dict[str, Any]) -> str:
    tally: dict[str, int] = {}
    for record in run["cells"]:
        tally[record["status"]] = tally.get(record["status"], 0) + 1
    toolchain = ", ".join(f"{k} {v}" for k, v in sorted((run.get("toolchain") or {}).items()))
    targets = sorted({str(r.get("target")) for r in run["cells"] if r.get("target")})
    made = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(tally.items()))
    return (f"<header><h1>pytest-litert: {html.escape(name)}</h1>"
            f"<p>{len(run['cells'])} cells: {html.escape(counts)}. Target {html.escape(', '.join(targets) or '-')}, "
            f"seed {html.escape(str(run.get('seed')))}.</p><p class=small>{html.escape(toolchain)}. "
            f"Report written {made}.</p></header>")


def _legend() -> str:
    items = "".join(f"<span class='key {css}'>{glyph}</span> {html.escape(text)} &nbsp; "
                    for glyph, css, text in GLYPHS.values())
    scale = "".join(f"<span class=swatch style='background:{_colour(f / 10)}'>{f / 10:.1f}</span>" for f in range(11))
    return (f"<section class=legend><p>{items}</p><p>Colour: worst error as a fraction of its derived bound "
            f"(1.0 = at the bound) {scale}. Click a cell for its checks.</p></section>")


def _colour(fraction: float | None) -> str:
    """Green at 0 through yellow to red at the bound; grey where nothing was measured."""
    if fraction is None:
        return "#e6e6e6"
    hue = 120.0 * (1.0 - min(max(fraction, 0.0), 1.0))
    return f"hsl({hue:.0f}, 70%, 72%)"


def worst_fraction(record: dict[str, Any]) -> float | None:
    values = [entry["worst"] for entry in (record.get("numeric") or {}).values() if entry.get("worst") is not None]
    return max(values) if values else None


def _grids(records: Iterable[dict[str, Any]]) -> list[str]:
    """One table per shape set: a row per operator and shape, a column per recipe."""
    by_set: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for record in records:
        row = record["op"] + (f" {record['shape_label']}" if record.get("shape_label") else "")
        by_set.setdefault(record.get("shape_set") or "ci", {}).setdefault(row, {})[record["recipe"]] = record
    tables = []
    for shape_set, rows in by_set.items():
        recipes = list(dict.fromkeys(recipe for row in rows.values() for recipe in row))
        head = "".join(f"<th>{html.escape(r)}</th>" for r in recipes)
        body = "".join(
            f"<tr><th class=row>{html.escape(label)}</th>"
            + "".join(_cell(row.get(recipe)) for recipe in recipes) + "</tr>"
            for label, row in rows.items())
        tables.append(f"<section class=grid><h2>shape set {html.escape(shape_set)} ({sum(map(len, rows.values()))} "
                      f"cells)</h2><table><tr><th>op \\ recipe</th>{head}</tr>{body}</table></section>")
    return tables


def _cell(record: dict[str, Any] | None) -> str:
    if record is None:
        return "<td class=empty></td>"
    status = record["status"]
    glyph, css, _ = GLYPHS.get(status, ("?", "skipped", status))
    fraction = worst_fraction(record)
    label = fraction_text(fraction) if fraction is not None else ""
    title = f"{record['cell']}: {status}" + (f", worst {label} of its bound" if label else "")
    return (f"<td class='cell {css}' data-cell='{html.escape(record['cell'])}' data-status='{html.escape(status)}' "
            f"style='background:{_colour(fraction)}' title='{html.escape(title)}' tabindex=0>"
            f"<span class=glyph>{glyph}</span> <span class=frac>{label}</span></td>")


def _detail(record: dict[str, Any]) -> dict[str, Any]:
    """What the click shows: checks, kernel evidence, toolchain, findings; nothing volatile."""
    checks = record.get("checks") or [{"name": name, "passed": name not in record.get("failed_checks", []),
                                       "message": ""} for name in (record.get("numeric") or {})]
    findings = [c["message"].removeprefix("known finding: ") for c in checks
                if str(c.get("message", "")).startswith("known finding: ")]
    return {"status": record["status"], "shape": record.get("shape"), "target": record.get("target"),
            "seed_row": record.get("seed_table_row"), "error": record.get("error", ""), "checks": checks,
            "findings": findings, "kernels": _kernel_evidence(record.get("facts") or {}),
            "toolchain": record.get("toolchain") or {}, "size": record.get("size")}


def _kernel_evidence(facts: dict[str, Any]) -> dict[str, Any]:
    """Per lane, whatever the run said about kernels: profiler operator types, SME2 kernels seen."""
    evidence = {}
    for lane, lane_facts in facts.items():
        if not isinstance(lane_facts, dict):
            continue
        kept = {key: value for key, value in lane_facts.items()
                if any(word in key for word in ("kernel", "profile", "operator", "sme2", "delegated"))}
        if kept:
            evidence[lane] = kept
    return evidence


def _diff(before: tuple[str, dict[str, Any]], after: tuple[str, dict[str, Any]]) -> str:
    """Per cell, what changed between the two runs: status and worst fraction, coloured."""
    old = {r["cell"]: r for r in before[1]["cells"]}
    rows: list[tuple[str, str, str, float | None, float | None, str]] = []
    for record in after[1]["cells"]:
        was = old.get(record["cell"])
        if was is None:
            rows.append((record["cell"], "-", record["status"], None, worst_fraction(record), "new"))
            continue
        a, b = worst_fraction(was), worst_fraction(record)
        moved = a is not None and b is not None and abs(b - a) >= 0.01
        if was["status"] != record["status"] or moved:
            kind = "worse" if record["status"] == "fail" or (moved and b > a) else "better"  # type: ignore[operator]
            rows.append((record["cell"], was["status"], record["status"], a, b, kind))
    gone = sorted(set(old) - {r["cell"] for r in after[1]["cells"]})
    body = "".join(
        f"<tr class={kind}><td>{html.escape(cell)}</td><td>{html.escape(a_status)}</td><td>{html.escape(b_status)}</td>"
        f"<td>{'-' if a is None else fraction_text(a)}</td><td>{'-' if b is None else fraction_text(b)}</td></tr>"
        for cell, a_status, b_status, a, b, kind in rows)
    note = f"<p>Only in {html.escape(before[0])}: {html.escape(', '.join(gone))}</p>" if gone else ""
    return (f"<section class=diff><h2>What changed: {html.escape(before[0])} &rarr; {html.escape(after[0])} "
            f"({len(rows)} cells)</h2><table><tr><th>cell</th><th>was</th><th>now</th><th>worst was</th>"
            f"<th>worst now</th></tr>{body}</table>{note}</section>")


def _bench(bench: dict[str, Any]) -> str:
    """A saved bench run: per cell and API the median, GFLOP/s counted from the model, and the
    XNNPACK operator type where the run recorded it."""
    rows = []
    for cell in bench.get("cells", []):
        for api, stats in (cell.get("apis") or {}).items():
            median = stats.get("median_ms")
            gflops = cell.get("flops", 0) / median / 1e6 if isinstance(median, (int, float)) and median else None
            operator = cell.get("operator_type") or stats.get("operator_type") or ""
            rows.append(f"<tr><td>{html.escape(str(cell.get('cell_id')))}</td><td>{html.escape(api)}</td>"
                        f"<td>{_number(median)}</td><td>{_number(gflops)}</td><td>{html.escape(str(operator))}</td></tr>")
    machine = bench.get("machine") or {}
    return (f"<section class=bench><h2>Bench: {html.escape(str(machine.get('cpu', '')))} "
            f"({html.escape(str(bench.get('created', '')))})</h2><table><tr><th>cell</th><th>API</th>"
            f"<th>median (ms)</th><th>GFLOP/s</th><th>XNNPACK operator</th></tr>{''.join(rows)}</table></section>")


def _ab(run: dict[str, Any]) -> str:
    """`bench --sme2-ab`: per cell and API the speedup of SME2 over NEON as a bar (1x marked),
    with the rank test's verdict; "no gain" is a result like any other."""
    results = run.get("results", [])
    top = max([float(r.get("speedup", 1.0)) for r in results] + [2.0])
    rows = []
    for result in results:
        speedup = float(result.get("speedup", 0.0))
        width = 100.0 * speedup / top
        rows.append(f"<tr><td>{html.escape(str(result.get('cell_id')))}</td><td>{html.escape(str(result.get('api')))}"
                    f"</td><td class=bar><span style='width:{width:.1f}%'></span><i style='left:{100 / top:.1f}%'></i>"
                    f"</td><td>{speedup:.2f}x</td><td>{html.escape(str(result.get('verdict')))}</td>"
                    f"<td>{_number(result.get('p_faster'))}</td><td>{_number(result.get('sme2_median_ms'))}</td>"
                    f"<td>{_number(result.get('neon_median_ms'))}</td></tr>")
    machine = run.get("machine") or {}
    return (f"<section class=ab><h2>What SME2 buys: {html.escape(str(machine.get('cpu', '')))} "
            f"({html.escape(str(run.get('created', '')))})</h2><p>Speedup = NEON median / SME2 median on the same "
            f"machine (SME2 hidden from XNNPACK for NEON); the line marks 1x.</p><table><tr><th>cell</th><th>API</th>"
            f"<th>speedup</th><th></th><th>verdict</th><th>p (SME2 faster)</th><th>SME2 ms</th><th>NEON ms</th>"
            f"</tr>{''.join(rows)}</table></section>")


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else "-"

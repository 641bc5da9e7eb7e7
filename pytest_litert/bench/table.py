"""The bench table: one row per timed (cell, API), with the machine and its fp32 sgemm reference above it."""

from __future__ import annotations

import statistics

from pytest_litert.bench.document import BenchRun
from pytest_litert.report.table import aligned

_HEADER = ("cell", "api", "median ms", "IQR ms", "min ms", "stddev ms", "runs", "stop", "GFLOP/s", "x sgemm",
           "XNNPACK", "anchor ms")


def machine_line(run: BenchRun) -> str:
    machine = run.machine
    peak = machine.get("nominal_peak")
    parts = [f"{machine['cpu']} ({machine['machine']}, {machine['cores']} cores)",
             f"{run.budget['threads']} thread(s)", f"governor {machine.get('governor') or 'not readable'}",
             machine["sme2"]["line"].split(":")[0] + (": available" if machine["sme2"]["available"] else
                                                    ": unavailable")]
    lines = ["machine: " + ", ".join(parts)]
    if run.sgemm is not None:
        best = max(run.sgemm["shapes"], key=lambda s: s["gflops"])
        lines.append(f"sgemm reference: {run.sgemm['kind']} {run.sgemm['gflops']:.1f} GFLOP/s "
                     f"(at {best['m']}x{best['k']}x{best['n']}, {run.sgemm['threads']} thread(s))"
                     + (f"; nominal peak {peak['gflops']:.1f} GFLOP/s = {peak['formula']}" if peak else "")
                     + "; x sgemm = GFLOP/s over it: a reference, not a limit (int8 and fp16 kernels can pass 1)")
    return "\n".join(lines)


def render(run: BenchRun, *, markdown: bool = False) -> str:
    rows: list[tuple[str, ...]] = [_HEADER]
    for cell in run.cells:
        if cell.status != "timed":
            rows.append((cell.cell_id, "-", cell.status, *[""] * (len(_HEADER) - 3)))
            continue
        for api, timing in cell.apis.items():
            s = timing.summary
            fraction = run.fraction(cell, api)
            rows.append((cell.cell_id, api, f"{s.median_ms:.4g}", f"{s.iqr_ms:.3g}", f"{s.min_ms:.4g}",
                         f"{s.stddev_ms:.3g}", str(s.runs), timing.stop, f"{cell.gflops(api):.3g}",
                         "-" if fraction is None else f"{fraction:.2f}",
                         {True: "yes", False: "no", None: "?"}[timing.accelerated],
                         f"{statistics.median(cell.anchor_ms):.3g}" if cell.anchor_ms and api == "compiled" else "-"))
        rows += [(cell.cell_id, api, "refused", *[""] * (len(_HEADER) - 3)) for api in cell.errors]
    lines = aligned(rows, markdown=markdown)
    lines += [f"refused: {cell.cell_id} {api}: {error.splitlines()[0]}" for cell in run.cells
              for api, error in cell.errors.items()]
    return machine_line(run) + "\n" + "\n".join(lines) + "\n"

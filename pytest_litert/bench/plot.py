"""The sweep as a picture (the `plot` extra, matplotlib): latency and GFLOP/s against size.

One row per (operator, axis); left latency (log-log), right GFLOP/s with the fp32 sgemm reference as
a line; one colour per recipe, solid for the Interpreter and dashed for CompiledModel.
"""

from __future__ import annotations

from pathlib import Path

from pytest_litert.bench.document import BenchRun
from pytest_litert.bench.sweep import axis_and_size

PLOT_HINT = "the PNG needs matplotlib: pip install 'pytest-litert[plot]'"


class PlotError(RuntimeError):
    """The picture cannot be drawn (no matplotlib, nothing timed); the message says why."""


_STYLES = {"interpreter": "-", "compiled": "--"}


def curves(run: BenchRun) -> dict[tuple[str, str], dict[tuple[str, str], list[tuple[int, float, float]]]]:
    """(op, axis) -> (recipe, api) -> [(size, median ms, GFLOP/s)] in size order."""
    found: dict[tuple[str, str], dict[tuple[str, str], list[tuple[int, float, float]]]] = {}
    for cell in run.cells:
        if cell.status != "timed":
            continue
        axis, size = axis_and_size(cell.shape_label)
        for api, timing in cell.apis.items():
            points = found.setdefault((cell.op, axis), {}).setdefault((cell.recipe, api), [])
            points.append((size, timing.summary.median_ms, cell.gflops(api)))
    for lines in found.values():
        for points in lines.values():
            points.sort()
    return found


def save_png(run: BenchRun, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(PLOT_HINT) from None
    panels = curves(run)
    if not panels:
        raise PlotError("no timed sweep cells to draw")
    figure, axes = plt.subplots(len(panels), 2, figsize=(12, 4 * len(panels)), squeeze=False)
    recipes = sorted({recipe for lines in panels.values() for recipe, _ in lines})
    colours = {recipe: f"C{i}" for i, recipe in enumerate(recipes)}
    for row, ((op, axis), lines) in zip(axes, panels.items(), strict=True):
        for (recipe, api), points in sorted(lines.items()):
            sizes = [p[0] for p in points]
            style = {"color": colours[recipe], "linestyle": _STYLES.get(api, ":"), "marker": "o", "markersize": 3}
            row[0].plot(sizes, [p[1] for p in points], label=f"{recipe} ({api})", **style)
            row[1].plot(sizes, [p[2] for p in points], **style)
        if run.sgemm is not None:
            row[1].axhline(run.sgemm["gflops"], color="grey", linewidth=1, label="NumPy fp32 sgemm (reference)")
            row[1].legend(loc="lower right", fontsize=8)
        row[0].set(xscale="log", yscale="log", xlabel=f"{axis}", ylabel="median latency (ms)",
                   title=f"{op}: latency over {axis}")
        row[1].set(xscale="log", xlabel=f"{axis}", ylabel="GFLOP/s", title=f"{op}: GFLOP/s over {axis}")
        row[0].legend(fontsize=7)
        for panel in row:
            panel.grid(True, which="both", alpha=0.3)
    threads = run.budget["threads"]
    figure.suptitle(f"pytest-litert bench --sweep: {run.machine['cpu']}, {threads} thread(s), "
                    f"ai-edge-litert {run.machine['toolchain']['ai-edge-litert']}")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)

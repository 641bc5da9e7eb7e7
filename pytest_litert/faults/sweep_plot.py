"""The false-positive sweep as a picture (the `plot` extra, matplotlib): how close correct kernels
come to each bound.

One panel per check; per recipe a box of the worst fraction of the bound over every cell verdict
of the sweep (box: quartiles, line: median, whiskers: smallest and largest). The red line at 1
is the bound: a box near it is a bound with little margin, one near 0 a bound that a subtle
kernel bug might hide under.
"""

from __future__ import annotations

from pathlib import Path

from pytest_litert.bench.plot import PLOT_HINT, PlotError
from pytest_litert.faults.inject import SweepResult
from pytest_litert.matrix.recipes import RECIPES


def save_png(result: SweepResult, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(PLOT_HINT) from None
    checks = list(dict.fromkeys(check for check, _ in result.fractions))
    if not checks:
        raise PlotError("the sweep judged no check with a bound: nothing to draw")
    recipes = [r for r in RECIPES if any(recipe == r for _, recipe in result.fractions)]
    columns = 2
    rows = -(-len(checks) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(14, 3.4 * rows), squeeze=False)
    for panel, check in zip(axes.flat, checks, strict=False):
        present = [r for r in recipes if (check, r) in result.fractions]
        panel.boxplot([result.fractions[(check, r)] for r in present], whis=(0, 100), widths=0.6)
        panel.set_xticks(range(1, len(present) + 1), present, rotation=30, ha="right", fontsize=8)
        panel.axhline(1.0, color="red", linewidth=1)
        panel.set(xlim=(0.4, max(len(present), 4) + 0.6), ylim=(-0.03, 1.08), ylabel="worst fraction of bound",
                  title=check)
        panel.grid(True, axis="y", alpha=0.3)
    for panel in axes.flat[len(checks):]:
        panel.set_visible(False)
    last = result.first + result.count - 1
    figure.suptitle(f"pytest-litert faults --seeds {result.count}: seeds {result.first}..{last}, "
                    f"{result.judged} cell verdicts, {len(result.numeric)} false positives "
                    "(red: the bound; whiskers: smallest and largest)")
    figure.tight_layout(rect=(0, 0, 1, 0.98))
    figure.savefig(path, dpi=80)
    plt.close(figure)

"""Kernel faults over the matrix: every produced cell judged with each fault in its optimized
lanes (kernels.py), by the unchanged oracles; the detection table per fault kind and recipe.

A fault counts where it applies and changes an output. A fault that applies but changes
nothing (a stale last row of a one-row output, a 1% scale on steps too small to round
differently) is not a fault of this cell's output and is listed apart as "no effect".
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from pytest_litert.faults.kernels import KERNEL_FAULTS, FaultContext, FaultyKernelTarget
from pytest_litert.judge.verdict import Status, Verdict
from pytest_litert.matrix.cells import Cell
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.run.targets import RunResult, Target
from pytest_litert.session import Runner, evaluate_cell

NUMERIC_CHECKS = ("xnnpack vs keras", "reference vs keras")


@dataclasses.dataclass(frozen=True)
class KernelOutcome:
    """One fault on one cell: whether it applied and changed an output, and what caught it."""

    cell: Cell
    fault: str
    applied: bool
    changed: bool
    detected: bool
    caught_by: tuple[str, ...]
    note: str

    @property
    def counted(self) -> bool:
        return self.applied and self.changed


def judge_fault(cell: Cell, artifact: CellArtifact, fault: str, target: Target,
                cache: dict[str, RunResult]) -> KernelOutcome:
    layer = artifact.layer(cell.op)
    assert layer is not None
    faulty = FaultyKernelTarget(target, fault, FaultContext(cell, artifact.inspection, layer), cache)
    verdict = evaluate_cell(cell, artifact, faulty)
    applied, changed = bool(faulty.changed), any(faulty.changed)
    caught = tuple(c.name for c in verdict.failures)
    if not applied:
        note = "; ".join(sorted(faulty.inapplicable)) or "no optimized lane ran"
    else:
        note = verdict.reason.splitlines()[0] if verdict.status == Status.FAIL else _closest(verdict)
    return KernelOutcome(cell, fault, applied, changed, verdict.status == Status.FAIL, caught, note)


def _closest(verdict: Verdict) -> str:
    """How near the tightest numeric checks came, for a missed fault."""
    near = sorted((c for c in verdict.checks if c.worst is not None), key=lambda c: -(c.worst or 0.0))[:2]
    return f"{verdict.status}; closest: " + ", ".join(f"{c.name} {c.worst:.2f}" for c in near)


def unjudged(cell: Cell) -> bool:
    """A cell whose numeric checks are all a known finding (LiteRT computes garbage there):
    no output fault can show, by construction."""
    waived = {f.attribute for f in cell.findings if not f.observed}
    return set(NUMERIC_CHECKS) <= waived


def fault_cell(runner: Runner, cell: Cell) -> tuple[list[KernelOutcome], str]:
    """Every kernel fault of one cell on the runner's target; or why the cell is not counted."""
    built = runner.build(cell)
    if isinstance(built, Verdict) or unjudged(cell):
        reason = built.reason.splitlines()[0] if isinstance(built, Verdict) and built.status == Status.FAIL else ""
        return [], reason and f"{cell.id}: {reason}"
    target = runner.target()
    verdict = evaluate_cell(cell, built, target)
    if verdict.status == Status.NOT_PRODUCED:
        return [], ""
    if verdict.status == Status.FAIL:
        return [], f"{cell.id}: the correct kernels fail ({verdict.reason.splitlines()[0]})"
    cache: dict[str, RunResult] = {}
    return [judge_fault(cell, built, fault, target, cache) for fault in KERNEL_FAULTS], ""


def table(outcomes: list[KernelOutcome]) -> str:
    """Markdown: fault kind x recipe, detected/counted; '-' where the fault never applies."""
    recipes = [r for r in RECIPES if any(o.cell.recipe.name == r for o in outcomes)]
    total: Counter[tuple[str, str]] = Counter()
    found: Counter[tuple[str, str]] = Counter()
    for o in outcomes:
        if not o.counted:
            continue
        for key in ((o.fault, o.cell.recipe.name), (o.fault, "*"), ("*", o.cell.recipe.name), ("*", "*")):
            total[key] += 1
            found[key] += o.detected

    def cell(kind: str, recipe: str) -> str:
        return f"{found[kind, recipe]}/{total[kind, recipe]}" if total[kind, recipe] else "-"

    lines = ["| kernel fault | " + " | ".join(recipes) + " | total |", "|---" * (len(recipes) + 2) + "|"]
    for kind in [*KERNEL_FAULTS, "*"]:
        label = "**all kinds**" if kind == "*" else f"`{kind}`"
        lines.append(f"| {label} | " + " | ".join(cell(kind, r) for r in [*recipes, "*"]) + " |")
    return "\n".join(lines)


def report(outcomes: list[KernelOutcome], skipped: list[str]) -> str:
    counted = [o for o in outcomes if o.counted]
    missed = [o for o in counted if not o.detected]
    no_effect = [o for o in outcomes if o.applied and not o.changed]
    catchers = Counter(name for o in counted if o.detected for name in o.caught_by)
    parts = [
        f"Kernel faults: {sum(o.detected for o in counted)}/{len(counted)} detected "
        f"({len(no_effect)} applied without changing any output, not counted).",
        "",
        table(outcomes),
        "",
        "Checks that failed, over the detected faults: "
        + ", ".join(f"{name} {count}" for name, count in catchers.most_common()),
        "",
        f"Missed ({len(missed)}):",
        *[f"- {o.cell.id} `{o.fault}`: {o.note}" for o in missed],
        "",
        f"No effect ({len(no_effect)}):",
        *[f"- {o.cell.id} `{o.fault}`" for o in no_effect],
    ]
    if skipped:
        parts += ["", "Cells not counted:", *[f"- {text}" for text in skipped]]
    return "\n".join(parts) + "\n"

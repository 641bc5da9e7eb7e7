"""Fault-injection self-test: do the matrix's oracles catch corrupted models, and only those?

Default mode: for every produced cell of the matrix, mutate the correctly converted model
(pytest_litert.faults.mutations) and judge each mutant with the unchanged oracle. A mutant counts
as detected when its verdict is "fail"; a LiteRT error or crash on the mutant also fails the
verdict and is counted as detected, but listed separately, since it is the runtime rather
than the numeric bound that caught it. Prints a markdown table (mutation kind x recipe,
detected/total) and the missed mutants with how close they came to their bound.

--kernels: also the kernel-fault table (kernel_run.py): the unchanged models judged with a
faulty optimized kernel (kernels.py FaultyKernelTarget), fault kind x recipe, next to the file
mutants'.

--seeds N: the false-positive sweep. Judges the UNMUTATED full matrix for seeds
first..first+N-1 and counts verdicts of "fail" (each one a false positive of the oracle);
known findings are held strictly there (one that no longer reproduces is a failure).

Usage:
  pytest-litert faults [--seed S] [--kernels] [--out table.md] [--cache-dir DIR]
  pytest-litert faults --seeds 200 [--first-seed 0] [--cache-dir DIR] [--json SWEEP.json] [--plot PNG]
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from pytest_litert import jobs as parallel
from pytest_litert.faults import kernel_run
from pytest_litert.faults.mutations import MUTATION_KINDS, Mutant, mutants
from pytest_litert.judge.verdict import Status, Verdict
from pytest_litert.matrix.cells import Cell, all_cells
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.run.targets import Target
from pytest_litert.session import Runner, Settings, evaluate_cell


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One mutant judged: detected or not, by a run error or not, and the verdict's text."""

    cell: Cell
    mutant: Mutant
    detected: bool
    crashed: bool
    note: str


def judge_mutant(cell: Cell, artifact: CellArtifact, mutant: Mutant, target: Target) -> Outcome:
    """Run the unchanged oracle on the mutant. evaluate_cell turns LiteRT errors and worker
    crashes into failed "run" checks; any other exception is a bug here and propagates."""
    verdict = evaluate_cell(cell, dataclasses.replace(artifact, model=mutant.model), target)
    run_errors = [c for c in verdict.failures if c.name.endswith("run")]
    if run_errors:
        return Outcome(cell, mutant, True, True, run_errors[0].message.splitlines()[0])
    if verdict.status == Status.FAIL:
        return Outcome(cell, mutant, True, False, verdict.reason.splitlines()[0])
    return Outcome(cell, mutant, False, False, _closest(verdict))


def _closest(verdict: Verdict) -> str:
    check = verdict.worst_check()
    if check is None:
        return f"{verdict.status}: no numeric check"
    return f"{verdict.status}; worst check {check.name}: {check.worst:.2f} of its bound"


def judge_unmutated(runner: Runner, cell: Cell, target: Target,
                    strict_findings: bool = False) -> tuple[CellArtifact | None, Verdict | None]:
    """The cell's artifact and verdict; (None, None) when it is not produced or cannot be
    built here (a missing optional dependency); a conversion error is a failed verdict."""
    built = runner.build(cell)
    if isinstance(built, Verdict):
        return None, (None if built.status == Status.SKIPPED else built)
    verdict = evaluate_cell(cell, built, target, strict_findings=strict_findings)
    return (None, None) if verdict.status == Status.NOT_PRODUCED else (built, verdict)


def mutate_cell(runner: Runner, cell: Cell) -> tuple[list[Outcome], str]:
    """Every mutant of one cell judged on the runner's target; or why the cell is not counted."""
    target = runner.target()
    artifact, verdict = judge_unmutated(runner, cell, target)
    if verdict is not None and verdict.status == Status.FAIL:
        return [], f"{cell.id}: the unmutated model fails ({verdict.reason.splitlines()[0]})"
    if artifact is None:
        return [], ""
    return [judge_mutant(cell, artifact, mutant, target)
            for mutant in mutants(artifact.model, cell.op.op_code, seed=runner.settings.seed)], ""


def inject(settings: Settings, jobs: int) -> tuple[list[Outcome], list[str]]:
    outcomes: list[Outcome] = []
    skipped: list[str] = []
    cells = all_cells()
    for cell, done in zip(cells, parallel.ordered_map(settings, mutate_cell, cells, jobs), strict=True):
        found, why = done.result
        outcomes += found
        skipped += [why] if why else []
        print(f"  {cell.id}: {len(found)} mutants", file=sys.stderr, flush=True)
    return outcomes, skipped


def table(outcomes: list[Outcome]) -> str:
    """Markdown: mutation kind x recipe, detected/total, with totals; '-' where none apply."""
    recipes = [r for r in RECIPES if any(o.cell.recipe.name == r for o in outcomes)]
    total: Counter[tuple[str, str]] = Counter()
    found: Counter[tuple[str, str]] = Counter()
    for o in outcomes:
        for key in ((o.mutant.kind, o.cell.recipe.name), (o.mutant.kind, "*"), ("*", o.cell.recipe.name), ("*", "*")):
            total[key] += 1
            found[key] += o.detected

    def cell(kind: str, recipe: str) -> str:
        return f"{found[kind, recipe]}/{total[kind, recipe]}" if total[kind, recipe] else "-"

    lines = ["| mutation | " + " | ".join(recipes) + " | total |", "|---" * (len(recipes) + 2) + "|"]
    for kind in [*MUTATION_KINDS, "*"]:
        label = "**all kinds**" if kind == "*" else f"`{kind}`"
        lines.append(f"| {label} | " + " | ".join(cell(kind, r) for r in [*recipes, "*"]) + " |")
    return "\n".join(lines)


def report(outcomes: list[Outcome], skipped: list[str], seed: int, seconds: float) -> str:
    crashed = [o for o in outcomes if o.crashed]
    missed = [o for o in outcomes if not o.detected]
    parts = [
        f"Fault injection, seed {seed}: {sum(o.detected for o in outcomes)}/{len(outcomes)} mutants "
        f"detected ({len(crashed)} of them by a LiteRT error rather than a numeric check), {seconds:.0f} s.",
        "",
        table(outcomes),
        "",
        f"Missed ({len(missed)}):",
        *[f"- {o.cell.id} `{o.mutant.kind}`: {o.mutant.description} -> {o.note}" for o in missed],
        "",
        f"Detected by a LiteRT error ({len(crashed)}):",
        *[f"- {o.cell.id} `{o.mutant.kind}`: {o.note}" for o in crashed],
    ]
    if skipped:
        parts += ["", "Cells not counted:", *[f"- {text}" for text in skipped]]
    return "\n".join(parts) + "\n"


Fractions = dict[tuple[str, str], list[float]]  # (check, recipe) -> worst fraction of each cell verdict


@dataclasses.dataclass(frozen=True)
class SweepResult:
    first: int
    count: int
    judged: int
    seconds: float
    numeric: list[str]  # failed numeric checks on unmutated models: false positives
    other: list[str]  # delegation, structure, conversion or run failures: toolchain facts
    fractions: Fractions = dataclasses.field(default_factory=dict)

    def text(self) -> str:
        last = self.first + self.count - 1
        return "\n".join([
            f"False-positive sweep: seeds {self.first}..{last} ({self.count} seeds, {self.judged} cell verdicts), "
            f"{self.seconds:.0f} s wall ({self.seconds / max(self.count, 1):.1f} s/seed).",
            f"Numeric false positives (a failed numeric check on an unmutated model): {len(self.numeric)}",
            *self.numeric,
            f"Other failures on unmutated models (delegation, structure, conversion, run, stale findings): "
            f"{len(self.other)}",
            *self.other,
            "",
            fraction_table(self.fractions),
        ]) + "\n"

    def save(self, path: Path) -> None:
        """The sweep as JSON: what `--plot` draws, and what a later sweep is compared with."""
        document = {**dataclasses.asdict(self), "fractions": [
            {"check": check, "recipe": recipe, "worst": values} for (check, recipe), values in self.fractions.items()]}
        path.write_text(json.dumps(document, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> SweepResult:
        document = json.loads(path.read_text())
        fractions = {(row["check"], row["recipe"]): row["worst"] for row in document.pop("fractions")}
        return cls(**document, fractions=fractions)

    @classmethod
    def join(cls, parts: list[SweepResult]) -> SweepResult:
        """Sweeps of consecutive seed ranges (a sharded nightly's) as one; gaps or overlaps refused."""
        parts = sorted(parts, key=lambda part: part.first)
        for before, after in itertools.pairwise(parts):
            if before.first + before.count != after.first:
                raise ValueError(f"sweeps of seeds {before.first}..{before.first + before.count - 1} and "
                                 f"{after.first}..{after.first + after.count - 1} are not consecutive")
        fractions: Fractions = {}
        for part in parts:
            for key, values in part.fractions.items():
                fractions.setdefault(key, []).extend(values)
        return cls(parts[0].first, sum(p.count for p in parts), sum(p.judged for p in parts),
                   sum(p.seconds for p in parts), [line for p in parts for line in p.numeric],
                   [line for p in parts for line in p.other], fractions)


def fraction_table(fractions: Fractions) -> str:
    """Markdown: per check and recipe, the median, 99th percentile and largest worst fraction of
    the bound over every cell verdict of the sweep (known findings excluded)."""
    checks = list(dict.fromkeys(name for name, _ in fractions))
    recipes = [r for r in RECIPES if any(recipe == r for _, recipe in fractions)]
    lines = ["Worst fraction of each bound on correct kernels, median / 99th percentile / largest over the "
             "sweep's cell verdicts:", "",
             "| check | " + " | ".join(recipes) + " |", "|---" * (len(recipes) + 1) + "|"]
    for name in checks:
        row = [f"{np.median(v):.2f} / {np.percentile(v, 99):.2f} / {max(v):.4f}" if (v := fractions.get((name, r)))
               else "-" for r in recipes]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def _fractions(verdict: Verdict, recipe: str) -> Fractions:
    return {(c.name, recipe): [c.worst] for c in verdict.checks
            if c.worst is not None and c.passed and not c.message.startswith("known finding")}


def sweep_seed(runner: Runner, seed: int) -> tuple[int, list[str], list[str], Fractions]:
    """The unmutated matrix at one seed: cells judged, numeric false positives, other failures,
    and each passing check's worst fraction of its bound."""
    at_seed = Runner(dataclasses.replace(runner.settings, seed=seed))
    numeric: list[str] = []
    other: list[str] = []
    fractions: Fractions = {}
    judged = 0
    for cell in all_cells():
        _, verdict = judge_unmutated(at_seed, cell, runner.target(), strict_findings=True)
        judged += verdict is not None
        if verdict is None:
            continue
        for key, values in _fractions(verdict, cell.recipe.name).items():
            fractions.setdefault(key, []).extend(values)
        if verdict.status != Status.FAIL:
            continue
        bucket = numeric if any(c.worst is not None for c in verdict.failures) else other
        bucket.append(f"- seed {seed} {cell.id}: {verdict.reason.splitlines()[0]}")
    return judged, numeric, other, fractions


def sweep(first: int, count: int, settings: Settings, jobs: int) -> SweepResult:
    """Judge the unmutated matrix for `count` seeds, a seed per job at a time. A failed check
    with an error/bound ratio is a false positive of the oracle; other failures are reported apart."""
    started = time.perf_counter()
    numeric: list[str] = []
    other: list[str] = []
    fractions: Fractions = {}
    judged = 0
    seeds = range(first, first + count)
    for seed, done in zip(seeds, parallel.ordered_map(settings, sweep_seed, seeds, jobs), strict=True):
        cells, found, failures, seen = done.result
        judged, numeric, other = judged + cells, numeric + found, other + failures
        for key, values in seen.items():
            fractions.setdefault(key, []).extend(values)
        for line in [*found, *failures]:
            print(f"  {'FALSE POSITIVE' if line in found else 'OTHER FAILURE'} {line[2:]}", file=sys.stderr)
        print(f"  seed {seed}: {len(numeric)} numeric false positives so far, "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return SweepResult(first, count, judged, time.perf_counter() - started, numeric, other, fractions)


def inject_kernels(settings: Settings, jobs: int) -> tuple[list[kernel_run.KernelOutcome], list[str]]:
    """Every kernel fault on every produced cell (kernel_run.fault_cell), a cell per job."""
    outcomes: list[kernel_run.KernelOutcome] = []
    skipped: list[str] = []
    cells = all_cells()
    for cell, done in zip(cells, parallel.ordered_map(settings, kernel_run.fault_cell, cells, jobs), strict=True):
        found, why = done.result
        outcomes += found
        skipped += [why] if why else []
        print(f"  {cell.id}: {len(found)} kernel faults", file=sys.stderr, flush=True)
    return outcomes, skipped


def sweep_command(first: int, count: int, *, cache_dir: str | None, target: str, jobs: int = 1) -> SweepResult:
    """`faults --seeds N`: the false-positive sweep of the full matrix."""
    return sweep(first, count, Settings.from_strings(None, None, first, cache_dir, target), jobs)


def run(*, seed: int, cache_dir: str | None, target: str, jobs: int = 1, kernels: bool = False,
        mutants: bool = True) -> str:
    """The fault-injection report at `seed` (with `kernels`, the kernel-fault table beside
    it; `mutants` False: that table alone)."""
    settings = Settings.from_strings(None, None, seed, cache_dir, target)
    text = ""
    if mutants or not kernels:
        started = time.perf_counter()
        outcomes, skipped = inject(settings, jobs)
        text = report(outcomes, skipped, seed, time.perf_counter() - started)
    if kernels:
        started = time.perf_counter()
        found, missing = inject_kernels(settings, jobs)
        text += (f"\nKernel-fault injection, seed {seed}, target {target} ({time.perf_counter() - started:.0f} s):"
                 f"\n\n{kernel_run.report(found, missing)}")
    return text

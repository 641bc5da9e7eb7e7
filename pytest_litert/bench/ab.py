"""`pytest-litert bench --sme2-ab`: what SME2 buys on this machine, cell by cell.

The seed builds single-layer models "to directly observe SME2 improvements"; this is that
observation as a number. Every selected cell is timed with SME2 (`host`) and without it
(`host-nosme`: the same machine, cores and LiteRT build, SME hidden from XNNPACK), in the
same rounds: each round starts fresh workers for both sides and times every cell on both,
the side that goes first alternating, so drift over the run's minutes falls on both alike.
The speedup is NEON's median over SME2's; whether it is real is the exact rank test
`--compare` uses, over the rounds (bench/stats.py says why rounds are the unit). "No gain"
is a result like any other. Where timing means nothing (under QEMU) it refuses, as bench does.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_litert.bench import machine
from pytest_litert.bench.compare import ALPHA, judge_change
from pytest_litert.bench.stats import Summary, slower_p_value
from pytest_litert.bench.timing import (
    EMULATED_REASON,
    BenchRefused,
    Budget,
    CellTiming,
    TimingTarget,
    merge_rounds,
    prepare,
    progress_text,
    time_artifact,
)
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.report.table import aligned
from pytest_litert.run import nosme, sme2
from pytest_litert.session import Runner

KIND = "pytest-litert bench sme2-ab"
FORMAT = 1
SIDES = ("sme2", "neon")  # host, host-nosme
VERDICTS = {"faster": "SME2 faster", "slower": "SME2 slower", "noise": "no gain beyond noise", "same": "no gain"}
Pair = Callable[[], Mapping[str, TimingTarget]]  # fresh targets for one round, keyed by SIDES


@dataclasses.dataclass(frozen=True)
class AbResult:
    """One (cell, API) timed on both sides. `verdict`: compare.judge_change from NEON to SME2
    (faster: SME2 is faster, beyond the threshold and the rank test); `p_faster`: the test's
    p-value that SME2's rounds are faster than NEON's."""

    cell_id: str
    api: str
    sme2: Summary
    neon: Summary
    verdict: str
    p_faster: float

    @property
    def speedup(self) -> float:
        return self.neon.median_ms / self.sme2.median_ms

    def as_dict(self) -> dict[str, Any]:
        return {"cell_id": self.cell_id, "api": self.api, "speedup": self.speedup, "verdict": self.verdict,
                "p_faster": self.p_faster, "sme2_median_ms": self.sme2.median_ms,
                "neon_median_ms": self.neon.median_ms}


@dataclasses.dataclass(frozen=True)
class AbRun:
    machine: dict[str, Any]
    budget: dict[str, Any]
    threshold: float
    timings: dict[str, list[CellTiming]]  # per side, every cell
    results: list[AbResult]
    created: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "format": FORMAT, "created": self.created, "machine": self.machine,
                "budget": self.budget, "threshold": self.threshold,
                "sides": {"sme2": "host", "neon": nosme.HOST_NOSME},
                **{side: [cell.as_dict() for cell in cells] for side, cells in self.timings.items()},
                "results": [result.as_dict() for result in self.results]}


def refuse_unless_sme2_machine(runner: Runner) -> None:
    """Raise BenchRefused unless this is a real (not emulated) Linux aarch64 machine with SME2."""
    if runner.settings.emulated or machine.under_emulation():
        raise BenchRefused(EMULATED_REASON)
    if runner.settings.target != "host":
        raise BenchRefused(f"--sme2-ab times host against {nosme.HOST_NOSME} on this machine: drop "
                           f"--target={runner.settings.target}")
    status = sme2.host_status()
    if not status.available:
        missing = [f"the CPU does not report SME2 ({status.source})"] if not status.cpu_has_sme2 else []
        missing += [] if status.litert_has_sme2_kernels else ["the installed LiteRT has no KleidiAI SME2 kernels"]
        raise BenchRefused(f"--sme2-ab: not an SME2 machine: {' and '.join(missing)}; run it on an Arm Linux "
                           "machine with SME2 (emulated, `pytest-litert coverage` shows which kernels run, not "
                           "what they buy)")
    reason = nosme.unsupported_reason()
    if reason is not None:
        raise BenchRefused(f"--sme2-ab needs {nosme.HOST_NOSME}, which is {reason}")


def host_pair(runner: Runner) -> Pair:
    """host and host-nosme through the runner (it closed them: fresh workers)."""
    def pair() -> Mapping[str, TimingTarget]:
        on, off = runner.target(None, "host"), runner.target(None, nosme.HOST_NOSME)
        return {"sme2": on, "neon": off}  # type: ignore[dict-item]  # WorkerTargets: they time
    return pair


def time_both(runner: Runner, cells: list[Cell], budget: Budget, pair: Pair,
              progress: Callable[[str], None] = print) -> dict[str, list[CellTiming]]:
    """Every cell on both sides once per round, rounds merged per side (timing.merge_rounds)."""
    prepared: dict[str, CellArtifact | CellTiming] = {}
    rounds: dict[str, list[list[CellTiming]]] = {side: [] for side in SIDES}
    for round_number in range(1, budget.rounds + 1):
        runner.close()  # fresh workers for both sides
        targets = pair()
        for side in SIDES:
            rounds[side].append([])
        for index, cell in enumerate(cells):
            built = prepared.setdefault(cell.id, prepare(runner, cell))
            order = SIDES if (round_number + index) % 2 else SIDES[::-1]
            for side in order:
                timed = built if isinstance(built, CellTiming) else time_artifact(cell, built, targets[side], budget)
                rounds[side][-1].append(timed)
            progress(f"[{(round_number - 1) * len(cells) + index + 1}/{len(cells) * budget.rounds}] round "
                     f"{round_number}/{budget.rounds} {cell.id}: "
                     + "; ".join(f"{side} {progress_text(rounds[side][-1][-1])}" for side in SIDES))
    return {side: [merge_rounds(list(per_cell)) for per_cell in zip(*rounds[side], strict=True)] for side in SIDES}


def results_of(timings: Mapping[str, list[CellTiming]], threshold: float) -> list[AbResult]:
    """Per cell and API timed on both sides: the speedup, its rank test and the verdict."""
    found = []
    for on, off in zip(timings["sme2"], timings["neon"], strict=True):
        if on.status != "timed" or off.status != "timed":
            continue
        for api in [api for api in on.apis if api in off.apis]:
            fast, slow = on.apis[api].summary, off.apis[api].summary
            found.append(AbResult(on.cell_id, api, fast, slow, judge_change(slow, fast, threshold),
                                  slower_p_value(fast.round_medians_ms, slow.round_medians_ms)))
    return found


def sme2_ab(runner: Runner, cells: list[Cell], budget: Budget, threshold: float, *, pair: Pair | None = None,
            progress: Callable[[str], None] = print) -> AbRun:
    """Refuse where the A/B means nothing (unless `pair` gives the targets), then time both sides."""
    if pair is None:
        refuse_unless_sme2_machine(runner)
    timings = time_both(runner, cells, budget, pair or host_pair(runner), progress)
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return AbRun(machine.describe(budget.threads), dataclasses.asdict(budget), threshold, timings,
                 results_of(timings, threshold), created)


def _span(summary: Summary) -> str:
    return f"{min(summary.round_medians_ms):.4g}-{max(summary.round_medians_ms):.4g}"


def render(run: AbRun, *, markdown: bool = False) -> str:
    """The head line, one row per (cell, API), the cells not timed, and the tally."""
    rows: list[tuple[str, ...]] = [("cell", "api", "SME2 median ms [rounds]", "NEON median ms [rounds]", "speedup",
                                    "p", "verdict")]
    rows += [(r.cell_id, r.api, f"{r.sme2.median_ms:.4g} [{_span(r.sme2)}]",
              f"{r.neon.median_ms:.4g} [{_span(r.neon)}]", f"{r.speedup:.2f}x", f"{r.p_faster:.3f}",
              VERDICTS[r.verdict]) for r in run.results]
    head = (f"sme2 A/B on {run.machine['cpu']} ({run.machine['machine']}): host (SME2) against "
            f"{nosme.HOST_NOSME} (SME hidden from getauxval), {run.budget['rounds']} interleaved rounds, "
            f"{run.budget['threads']} thread(s); verdicts at median:{run.threshold:.0%} and rank test p <= {ALPHA}")
    lines = [head, *aligned(rows, markdown=markdown)]
    for side in SIDES:
        lines += [f"not timed ({side}): {cell.cell_id}: {cell.status}"
                  + (f": {cell.reason.splitlines()[0]}" if cell.reason else "")
                  for cell in run.timings[side] if cell.status != "timed"]
    tally = {verdict: sum(r.verdict == verdict for r in run.results) for verdict in VERDICTS}
    lines.append(f"{len(run.results)} compared: {tally['faster']} SME2 faster, {tally['slower']} SME2 slower, "
                 f"{tally['same'] + tally['noise']} no gain ({tally['noise']} of them beyond the threshold but "
                 "within noise)")
    return "\n".join(lines) + "\n"


def save(run: AbRun, path: Path) -> None:
    path.write_text(json.dumps(run.as_dict(), indent=1) + "\n", encoding="utf-8")


def command(runner: Runner, cells: list[Cell], budget: Budget, threshold: float, *, json_path: Path | None,
            markdown: bool) -> int:
    """`bench --sme2-ab`: time, print, save; exit 1 when LiteRT failed a cell on either side."""
    try:
        run = sme2_ab(runner, cells, budget, threshold)
    finally:
        runner.close()
    print(render(run, markdown=markdown), end="")
    if json_path is not None:
        save(run, json_path)
    return 1 if any(cell.status == "failed" for side in SIDES for cell in run.timings[side]) else 0

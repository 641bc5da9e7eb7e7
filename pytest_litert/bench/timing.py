"""Time cells: build each through the Runner (cache or bundle), then time every API on a target.

The timed loop itself runs where LiteRT runs (run/worker.time_model, in the worker process by
default), so a crash in LiteRT fails one cell, not the bench, and no pipe round trip is inside
a timed run. A target times if it has `time(model, inputs, timing)`; the host worker and the
in-process target do; QEMU targets are refused here (`timing_target`: their timings mean
nothing). Every cell is timed once per round, each round in a fresh worker (`time_cells`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, Protocol

from pytest_litert.bench import machine
from pytest_litert.bench.stats import Summary
from pytest_litert.bench.work import layer_flops
from pytest_litert.judge.verdict import Verdict
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.run.targets import TargetCrash, TargetError
from pytest_litert.run.worker import ANCHOR, TIMING_APIS, TIMING_DEFAULTS
from pytest_litert.session import Runner

EMULATED_REASON = ("timings under QEMU mean nothing: every guest instruction is translated, so an SME2 "
                   "instruction costs what QEMU's C code costs, not what the hardware does. What the emulated "
                   "SME2 CPU proves is which kernels run: `pytest-litert coverage` (or `pytest -m sme2 "
                   "--litert-target=qemu-sme2`). Time on real hardware: the same command, with --bundle DIR on a "
                   "machine without TensorFlow")


class BenchRefused(RuntimeError):
    """The bench cannot run as asked here; the message says why and what to do instead."""


class TimingTarget(Protocol):
    name: str

    def time(self, model: bytes, inputs: dict[str, Any], timing: dict[str, Any]) -> dict[str, Any]: ...


@dataclasses.dataclass(frozen=True)
class Budget:
    """How long to time: the worker's stopping rule (run/worker.TIMING_DEFAULTS) per API."""

    threads: int = TIMING_DEFAULTS["threads"]
    rounds: int = 4  # each in a fresh worker (time_cells); 4 + 4 lets a rank test reach p = 1/70
    instances: int = TIMING_DEFAULTS["instances"]
    max_seconds: float = TIMING_DEFAULTS["max_seconds"]
    precision: float = TIMING_DEFAULTS["precision"]
    apis: tuple[str, ...] = TIMING_APIS
    anchor: bool = False  # also run LiteRT's own benchmark (run/worker.run_anchor) once per round

    def request(self, api: str) -> dict[str, Any]:
        return {"api": api, "threads": self.threads, "instances": self.instances, "max_seconds": self.max_seconds,
                "precision": self.precision}


@dataclasses.dataclass(frozen=True)
class ApiTiming:
    """One API's timed runs on one cell. `accelerated`: the Interpreter applied XNNPACK (a
    DELEGATE node), or CompiledModel reports the model fully accelerated."""

    summary: Summary
    samples_ms: tuple[tuple[tuple[float, ...], ...], ...]  # per round and instance, in the order they ran
    stop: str
    accelerated: bool | None

    @classmethod
    def of(cls, reply: dict[str, Any]) -> ApiTiming:
        accelerated = reply.get("delegated", reply.get("fully_accelerated"))
        samples = (tuple(tuple(s * 1e3 for s in instance) for instance in reply["samples"]),)
        return cls(Summary.of(samples), samples, reply["stop"], accelerated)

    @classmethod
    def merged(cls, timings: list[ApiTiming]) -> ApiTiming:
        """Several rounds' timings of one API as one."""
        samples = tuple(round_ for timing in timings for round_ in timing.samples_ms)
        stops = ", ".join(dict.fromkeys(timing.stop for timing in timings))
        return cls(Summary.of(samples), samples, stops, timings[0].accelerated)

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary.as_dict(), "samples_ms": [[list(i) for i in round_] for round_ in self.samples_ms],
                "stop": self.stop,
                "accelerated": self.accelerated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApiTiming:
        samples = tuple(tuple(tuple(instance) for instance in round_) for round_ in data["samples_ms"])
        return cls(Summary.from_dict(data), samples, data["stop"], data["accelerated"])


@dataclasses.dataclass(frozen=True)
class CellTiming:
    """A cell's timings; `status` "timed", or why not ("not produced", "skipped", "failed": LiteRT
    crashed). `errors`: APIs that refused the model (LiteRT raised), the others still timed."""

    cell_id: str
    op: str
    recipe: str
    shape_set: str
    shape_label: str
    shape: dict[str, Any]
    flops: int
    status: str
    reason: str = ""
    apis: dict[str, ApiTiming] = dataclasses.field(default_factory=dict)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    anchor_ms: tuple[float, ...] = ()  # LiteRT's own benchmark: its median, one per round

    def gflops(self, api: str) -> float:
        return self.flops / self.apis[api].summary.median_ms / 1e6

    def as_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "apis"}
        return {**fields, "apis": {api: timing.as_dict() for api, timing in self.apis.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellTiming:
        apis = {api: ApiTiming.from_dict(timing) for api, timing in data.get("apis", {}).items()}
        names = [f.name for f in dataclasses.fields(cls) if f.name not in ("apis", "errors", "anchor_ms")]
        return cls(**{name: data[name] for name in names}, apis=apis, errors=dict(data.get("errors", {})),
                   anchor_ms=tuple(data.get("anchor_ms", ())))


def _untimed(cell: Cell, status: str, reason: str) -> CellTiming:
    return CellTiming(cell.id, cell.op.name, cell.recipe.name, cell.shape_set, cell.shape_label,
                      cell.shape.as_dict(), 0, status, reason)


def timing_target(runner: Runner) -> TimingTarget:
    """The run's target, if timing on it means something and it can time."""
    if runner.settings.emulated or machine.under_emulation():
        raise BenchRefused(EMULATED_REASON)
    target = runner.target()
    if not callable(getattr(target, "time", None)):
        raise BenchRefused(f"target {target.name!r} cannot time runs (it has no time(model, inputs, timing) method; "
                           "run/targets.py WorkerTarget shows one)")
    return target  # type: ignore[return-value]  # checked just above


def prepare(runner: Runner, cell: Cell) -> CellArtifact | CellTiming:
    """The built cell, or the untimed result that says why there is nothing to time."""
    if cell.not_produced:
        return _untimed(cell, "not produced", cell.not_produced)
    built = runner.build(cell)
    if isinstance(built, Verdict):
        return _untimed(cell, str(built.status), built.reason)
    if built.layer(cell.op) is None:
        return _untimed(cell, "failed", f"the model has no {cell.op.op_code} operator")
    return built


def time_artifact(cell: Cell, built: CellArtifact, target: TimingTarget, budget: Budget) -> CellTiming:
    """Each API on the cell's first seeded input draw; an API LiteRT refuses is recorded, a crash
    fails the cell."""
    layer = built.layer(cell.op)
    timed = dataclasses.replace(_untimed(cell, "timed", ""), flops=layer_flops(layer) if layer else 0)
    inputs = built.signature_inputs(built.model_inputs[0])
    for api in budget.apis:
        try:
            timed.apis[api] = ApiTiming.of(target.time(built.model, inputs, budget.request(api)))
        except TargetError as error:
            timed.errors[api] = str(error)
        except TargetCrash as error:
            return dataclasses.replace(timed, status="failed", reason=f"{api}: {error}")
    if not budget.anchor:
        return timed
    try:
        reply = target.time(built.model, inputs, {"api": ANCHOR, "threads": budget.threads})
        return dataclasses.replace(timed, anchor_ms=(float(reply["latency"]["median_ms"]),))
    except TargetError as error:
        timed.errors[ANCHOR] = str(error)
    except TargetCrash as error:
        return dataclasses.replace(timed, status="failed", reason=f"{ANCHOR}: {error}")
    return timed


def time_cells(runner: Runner, cells: list[Cell], budget: Budget,
               progress: Callable[[str], None] = print) -> list[CellTiming]:
    """Every cell once per round, each round in a fresh worker, one progress line per cell and
    round (done / total, the medians, elapsed). Rounds are the run's own repeat: they see drift
    over the run's minutes and what differs between worker processes, which one round cannot."""
    prepared: dict[str, CellArtifact | CellTiming] = {}
    rounds: list[list[CellTiming]] = []
    started = time.perf_counter()
    for round_number in range(1, budget.rounds + 1):
        runner.close()  # a fresh worker
        target = timing_target(runner)
        rounds.append([])
        for cell in cells:
            built = prepared.setdefault(cell.id, prepare(runner, cell))
            result = built if isinstance(built, CellTiming) else time_artifact(cell, built, target, budget)
            rounds[-1].append(result)
            done = (round_number - 1) * len(cells) + len(rounds[-1])
            where = f" round {round_number}/{budget.rounds}" if budget.rounds > 1 else ""
            progress(f"[{done}/{len(cells) * budget.rounds}]{where} {cell.id}: {progress_text(result)} "
                     f"({time.perf_counter() - started:.0f} s elapsed)")
    return [merge_rounds(list(per_cell)) for per_cell in zip(*rounds, strict=True)]


def merge_rounds(results: list[CellTiming]) -> CellTiming:
    """One cell's rounds as one timing: the samples of every round and instance together."""
    failed = next((r for r in results if r.status != "timed"), None)
    if failed is not None or len(results) == 1:
        return failed or results[0]
    first = results[0]
    apis = {api: ApiTiming.merged([r.apis[api] for r in results]) for api in first.apis
            if all(api in r.apis for r in results)}
    errors = {api: error for r in results for api, error in r.errors.items()}
    errors.update({api: "timed in some rounds only" for api in first.apis if api not in apis and api not in errors})
    anchors = tuple(ms for r in results for ms in r.anchor_ms)
    return dataclasses.replace(first, apis=apis, errors=errors, anchor_ms=anchors)


def progress_text(result: CellTiming) -> str:
    if result.status != "timed":
        return f"{result.status}: {result.reason.splitlines()[0] if result.reason else ''}".rstrip(": ")
    timed = [f"{api} {timing.summary.median_ms:.3g} ms ({result.gflops(api):.3g} GFLOP/s)"
             for api, timing in result.apis.items()]
    timed += [f"anchor {ms:.3g} ms" for ms in result.anchor_ms]
    return ", ".join(timed + [f"{api} refused: {error.splitlines()[0]}" for api, error in result.errors.items()])

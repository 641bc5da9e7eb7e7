"""`litert_bench`: time a model from a user's own test, and the section that lists what was timed.

The same timing as `pytest-litert bench` (bench/timing.py): on the session's target, every API,
each round in a fresh worker. Where timing means nothing (the emulated targets) the test is
skipped with that reason. Medians go to the report's user properties (junit XML, xdist) and a
"LiteRT bench" section at the end, printed only in sessions that used the fixture.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_litert.plugin import state

if TYPE_CHECKING:
    import numpy as np

    from pytest_litert.bench.timing import ApiTiming
    from pytest_litert.plugin.fixtures import LitertModel
    from pytest_litert.session import Runner

BENCH_PROPERTY = "litert_bench"


@dataclasses.dataclass(frozen=True)
class BenchResult:
    """One model's timings per API; `flops` is known for a matrix cell (litert_model), else None."""

    timings: dict[str, ApiTiming]
    flops: int | None = None

    def median_ms(self, api: str = "interpreter") -> float:
        return self.timings[api].summary.median_ms

    def gflops(self, api: str = "interpreter") -> float | None:
        return None if self.flops is None else self.flops / self.median_ms(api) / 1e6


class LitertBench:
    """`litert_bench(model, inputs=None, *, apis=..., rounds=2, threads=1, max_time=1.0)`.

    `model`: .tflite bytes, a path, or a `litert_model`. `inputs` by signature name; missing
    ones are seeded random data of the model's shape and dtype."""

    def __init__(self, request: pytest.FixtureRequest, runner: Runner) -> None:
        self.request = request
        self.runner = runner

    def __call__(self, model: bytes | str | Path | LitertModel, inputs: dict[str, np.ndarray] | None = None, *,
                 apis: tuple[str, ...] = ("interpreter", "compiled"), rounds: int = 2, threads: int = 1,
                 max_time: float = 1.0) -> BenchResult:
        from pytest_litert.bench.timing import ApiTiming, BenchRefused, Budget, timing_target
        from pytest_litert.bench.work import layer_flops

        model_bytes, flops = self._model(model, layer_flops)
        budget = Budget(threads=threads, rounds=rounds, max_seconds=max_time, apis=apis)
        rounds_of: dict[str, list[ApiTiming]] = {api: [] for api in apis}
        for _ in range(rounds):
            self.runner.close()  # each round in a fresh worker
            try:
                target = timing_target(self.runner)
            except BenchRefused as refused:
                pytest.skip(str(refused))
            for api in apis:
                rounds_of[api].append(ApiTiming.of(target.time(model_bytes, dict(inputs or {}), budget.request(api))))
        result = BenchResult({api: ApiTiming.merged(timed) for api, timed in rounds_of.items()}, flops)
        medians = {api: round(result.median_ms(api), 6) for api in apis}
        self.request.node.user_properties.append((BENCH_PROPERTY, json.dumps(medians)))
        return result

    @staticmethod
    def _model(model: bytes | str | Path | LitertModel, layer_flops: Any) -> tuple[bytes, int | None]:
        if isinstance(model, bytes):
            return model, None
        if isinstance(model, str | Path):
            return Path(model).read_bytes(), None
        layer = model.artifact.layer(model.cell.op)
        return model.tflite, layer_flops(layer) if layer is not None else None


@pytest.fixture
def litert_bench(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> LitertBench:
    """Times a model (Interpreter and CompiledModel, XNNPACK) on the session's target."""
    return LitertBench(request, state.runner(pytestconfig))


class BenchSection:
    """Collects the medians litert_bench recorded (also from xdist workers) and lists them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == BENCH_PROPERTY and report.when == "call":
                medians = json.loads(str(value))
                self.lines.append(f"{report.nodeid}: " + ", ".join(f"{api} {ms:.4g} ms" for api, ms in medians.items()))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("LiteRT bench (median per API)")
            for line in self.lines:
                terminalreporter.write_line(line)

"""Agreement with the anchor: LiteRT's own benchmark (ai_edge_litert/tools/benchmark_litert_model.py)
and `pytest-litert bench` time the seed's FC model (fp32 and dynamic int8, 100x640 -> 1280, one
thread) in this one process, interleaved; their medians must agree within 10%, plus the anchor's
rounding.

Why 10% holds by construction and not by luck (README, "Agreement with LiteRT's benchmark"): both
run the same XNNPACK kernel on the same CompiledModel path and report a median, so they differ
only by what sits inside the timed call (the same run_by_* call in both) and by noise. Within one
process, rounds of this model agree to about 1% (the between-process spread of up to ~10% is
shared, as both run here). The anchor rounds its median to 0.01 ms, so its reading is off by up
to 0.005 ms: 0.3% at fp32's 1.4-1.7 ms, but 4% at dynamic int8's 0.12 ms where a CPU has fast
int8 (a Xeon with AMX); that half step is added to the bound. Dynamic int8 is here because
it once disagreed: timing two instances call by call put it 31% above the anchor (each call found
the other instance's weights in the cache); bench now times them a block at a time.

It needs a core to itself. Beside other pytest-xdist workers (the README's `-n auto`), their
conversions land on one side's window and not the other's: measured in CI, 1.13x (fp32) and
2.28x (dynamic int8) with the two in agreement alone; with both cores busy, bench read 1.14x
the anchor even over its least disturbed round. So it skips beside other workers, saying so, and
.ci/run runs it alone after the README's command. Bursts on a machine that is otherwise quiet
only ever add time, so each side is read as its least disturbed round: the smallest of five
interleaved rounds' medians.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

import numpy as np
import pytest

from pytest_litert.matrix.cells import select_cells
from pytest_litert.run import worker
from pytest_litert.session import Runner, Settings

TOLERANCE = 0.10
ROUNDS = 5
ANCHOR_HALF_STEP_MS = 0.005  # the anchor's medians are round(median_ms, 2)


@pytest.fixture(scope="module", params=["fp32", "dynamic_int8"])
def seed_fc(request: pytest.FixtureRequest, shared_cache: Path) -> tuple[str, bytes, dict[str, np.ndarray]]:
    cell = select_cells("fully_connected", request.param, "seed")[0]
    artifact = Runner(Settings.from_strings(None, None, None, str(shared_cache))).artifact(cell)
    return request.param, artifact.model, artifact.signature_inputs(artifact.model_inputs[0])


def _workers_beside() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) - 1


@pytest.mark.skipif(_workers_beside() > 0, reason="two timings compared need a core to themselves, not beside "
                    "other pytest-xdist workers: run `pytest tests/test_bench_anchor.py` alone (.ci/run does)")
def test_bench_agrees_with_litert_benchmark(seed_fc: tuple[str, bytes, dict[str, np.ndarray]],
                                            record_property: pytest.RecordProperty) -> None:
    recipe, model, inputs = seed_fc
    ours: dict[str, list[float]] = {"compiled": [], "interpreter": []}
    anchor: list[float] = []
    for _ in range(ROUNDS):  # interleaved: drift over the test's seconds hits both alike
        anchor.append(worker.run_anchor(model, threads=1, runs=100)["latency"]["median_ms"])
        for api, medians in ours.items():
            timed = worker.time_model(model, inputs, {"api": api, "threads": 1, "max_seconds": 1.0})
            medians.append(statistics.median(s for instance in timed["samples"] for s in instance) * 1e3)
    anchor_ms = min(anchor)  # each side's least disturbed round (the docstring says why)
    ratios = {api: min(medians) / anchor_ms for api, medians in ours.items()}
    bound = TOLERANCE + ANCHOR_HALF_STEP_MS / anchor_ms
    figures = (f"seed FC {recipe}, 1 thread: anchor median {anchor_ms:.3f} ms; bench compiled "
               f"{min(ours['compiled']):.3f} ms (ratio {ratios['compiled']:.3f}), interpreter "
               f"{min(ours['interpreter']):.3f} ms (ratio {ratios['interpreter']:.3f}); "
               f"bound +-{bound:.3f}")
    print(figures)
    record_property("anchor_agreement", figures)
    assert abs(ratios["compiled"] - 1) <= bound, figures
    assert abs(ratios["interpreter"] - 1) <= bound, figures

"""Agreement with the anchor: LiteRT's own benchmark (ai_edge_litert/tools/benchmark_litert_model.py)
and `pytest-litert bench` time the seed's FC model (fp32, 100x640 -> 1280, one thread) in this one
process, interleaved; their medians must agree within 10%.

Why 10% holds by construction and not by luck (README, "Agreement with LiteRT's benchmark"): both
run the same XNNPACK kernel on the same CompiledModel path and report a median, so they differ
only by what sits inside the timed call (the same run_by_* call in both) and by noise. Within one
process, rounds of this model agree to about 1% (the between-process spread of up to ~10% is
shared, as both run here); the anchor rounds its median to 0.01 ms, 0.6% at 1.7 ms.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest

from pytest_litert.matrix.cells import select_cells
from pytest_litert.run import worker
from pytest_litert.session import Runner, Settings

TOLERANCE = 0.10


@pytest.fixture(scope="module")
def seed_fc_fp32(shared_cache: Path) -> tuple[bytes, dict[str, np.ndarray]]:
    cell = select_cells("fully_connected", "fp32", "seed")[0]
    artifact = Runner(Settings.from_strings(None, None, None, str(shared_cache))).artifact(cell)
    return artifact.model, artifact.signature_inputs(artifact.model_inputs[0])


def test_bench_agrees_with_litert_benchmark(seed_fc_fp32: tuple[bytes, dict[str, np.ndarray]],
                                            record_property: pytest.RecordProperty) -> None:
    model, inputs = seed_fc_fp32
    ours: dict[str, list[float]] = {"compiled": [], "interpreter": []}
    anchor: list[float] = []
    for _ in range(3):  # interleaved: drift over the test's seconds hits both alike
        anchor.append(worker.run_anchor(model, threads=1, runs=100)["latency"]["median_ms"])
        for api, medians in ours.items():
            timed = worker.time_model(model, inputs, {"api": api, "threads": 1, "max_seconds": 1.0})
            medians.append(statistics.median(s for instance in timed["samples"] for s in instance) * 1e3)
    anchor_ms = statistics.median(anchor)
    ratios = {api: statistics.median(medians) / anchor_ms for api, medians in ours.items()}
    figures = (f"seed FC fp32, 1 thread: anchor median {anchor_ms:.3f} ms; bench compiled "
               f"{statistics.median(ours['compiled']):.3f} ms (ratio {ratios['compiled']:.3f}), interpreter "
               f"{statistics.median(ours['interpreter']):.3f} ms (ratio {ratios['interpreter']:.3f})")
    print(figures)
    record_property("anchor_agreement", figures)
    assert abs(ratios["compiled"] - 1) <= TOLERANCE, figures
    assert abs(ratios["interpreter"] - 1) <= TOLERANCE, figures

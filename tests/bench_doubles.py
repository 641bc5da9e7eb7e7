"""Test doubles for `pytest-litert bench` (named as such: no user target looks like these).

`SlowedInProcessTarget` is the real LiteRT in this process, made slower on purpose: every timed
inference also sleeps SLOWDOWN_S, so a bench run on it is a run of a regressed runtime.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from pytest_litert.run import worker
from pytest_litert.run.targets import InProcessTarget

SLOWDOWN_S = 0.002  # on the seed's FC (about 2 ms here): twice as slow


class SlowedInProcessTarget(InProcessTarget):
    name = "slowed-inprocess (test double)"

    def time(self, model: bytes, inputs: dict[str, np.ndarray], timing: dict[str, Any]) -> dict[str, Any]:
        threads = int(timing.get("threads", 1))
        prepared = [worker.prepare_invoke(model, inputs, timing["api"], threads)
                    for _ in range(int(timing.get("instances", worker.TIMING_DEFAULTS["instances"])))]

        def slowed(invoke: Any) -> Any:
            return lambda: (invoke(), time.sleep(SLOWDOWN_S))

        timed = worker.sample_calls([slowed(invoke) for invoke, _ in prepared], timing)
        return {**timed, **prepared[0][1], "api": timing["api"]}


def slowed_target() -> SlowedInProcessTarget:
    """`--target bench_doubles:slowed_target`."""
    return SlowedInProcessTarget()

"""The worker target: protocol round trip, LiteRT errors, crashes and hangs isolated."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pytest_litert.convert.artifact import build_artifact
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.run.targets import InProcessTarget, TargetCrash, TargetError, WorkerTarget, host_target


@pytest.fixture(scope="module")
def fp32_fc() -> tuple[bytes, dict[str, np.ndarray]]:
    artifact = build_artifact(make_cell(OPS["fully_connected"], RECIPES["fp32"]), seed=0)
    return artifact.model, artifact.model_inputs[0]


def test_worker_matches_in_process(fp32_fc: tuple[bytes, dict[str, np.ndarray]]) -> None:
    model, inputs = fp32_fc
    target = host_target()
    try:
        remote = target.run(model, inputs, "xnnpack")
        assert remote.facts["delegated"] is True
        assert remote.facts["pid"] != __import__("os").getpid()
    finally:
        target.close()
    local = InProcessTarget().run(model, inputs, "xnnpack")
    np.testing.assert_array_equal(remote.output, local.output)


def test_litert_error_is_reported_and_worker_survives(fp32_fc: tuple[bytes, dict[str, np.ndarray]]) -> None:
    model, inputs = fp32_fc
    target = host_target()
    try:
        with pytest.raises(TargetError, match="ValueError"):
            target.run(b"TFL3 is not a model", inputs, "xnnpack")
        pid = target.run(model, inputs, "xnnpack").facts["pid"]
        assert target.run(model, inputs, "reference").facts["pid"] == pid
    finally:
        target.close()


def _self_destructing(code: str) -> WorkerTarget:
    """Fake worker that dies or hangs on its first request (a LiteRT crash we cannot cause)."""
    script = f"import os, signal, sys, time\nsys.stdin.buffer.read(4)\n{code}\n"
    return WorkerTarget("fake", [sys.executable, "-c", script], timeout=3)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("os.kill(os.getpid(), signal.SIGSEGV)", "killed by SIGSEGV"),
        ("os.abort()", "killed by SIGABRT"),
        ("sys.stderr.write('boom\\n'); sys.exit(3)", "(?s)exit code 3.*boom"),
        ("time.sleep(60)", "hung"),
    ],
)
def test_crash_becomes_target_crash(fp32_fc: tuple[bytes, dict[str, np.ndarray]], code: str, expected: str) -> None:
    model, inputs = fp32_fc
    target = _self_destructing(code)
    with pytest.raises(TargetCrash, match=expected):
        target.run(model, inputs, "xnnpack")
    target.close()


def test_next_run_gets_a_fresh_worker(fp32_fc: tuple[bytes, dict[str, np.ndarray]]) -> None:
    model, inputs = fp32_fc
    target = _self_destructing("os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(TargetCrash):
        target.run(model, inputs, "xnnpack")
    target.command = host_target().command  # the next worker is a healthy one
    assert target.run(model, inputs, "xnnpack").output.shape == (8, 64)
    target.close()

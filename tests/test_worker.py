"""The worker target: protocol round trip, LiteRT errors, crashes and hangs isolated."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pytest_litert import launch
from pytest_litert.convert.artifact import build_artifact
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.run import host_worker, worker
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


def test_arrays_cross_the_wire_with_their_dtype_shape_and_bytes() -> None:
    rng = np.random.default_rng(0)
    sent = {
        "f16": rng.standard_normal((2, 3)).astype(np.float16),
        "i8": rng.integers(-128, 128, (4,)).astype(np.int8),
        "transposed": np.arange(12, dtype=np.float32).reshape(3, 4).T,  # not C-contiguous
        "scalar": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 5), dtype=np.float32),
        "big_endian": np.arange(3, dtype=">i4"),
    }
    described, blobs = worker.described_arrays(sent)
    received = worker.arrays_of(described, blobs)
    assert list(received) == list(sent)
    for name, array in sent.items():
        assert received[name].dtype == array.dtype and received[name].shape == array.shape, name
        np.testing.assert_array_equal(received[name], array)
        assert received[name].flags.writeable
    with pytest.raises(ValueError, match="2 arrays described, 1 sent"):
        worker.arrays_of(described[:2], blobs[:1])


class LibrariesTarget(WorkerTarget):
    reports_libraries = True


def test_run_facts_map_litert_s_libraries_only_when_asked(fp32_fc: tuple[bytes, dict[str, np.ndarray]]) -> None:
    model, inputs = fp32_fc
    plain, asking = host_target(), LibrariesTarget("asking", host_target().command)
    try:
        assert "libraries" not in plain.run(model, inputs, "xnnpack").facts
        libraries = asking.run(model, inputs, "xnnpack").facts["libraries"]
    finally:
        plain.close()
        asking.close()
    assert any("ai_edge_litert" in path for path in libraries), libraries


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
        # a frame's first bytes, then silence or the end: the deadline holds inside a frame too
        ("sys.stdout.buffer.write(b'\\x00\\x00\\x01\\x00{'); sys.stdout.flush(); time.sleep(60)", "hung"),
        ("sys.stdout.buffer.write(b'\\x00\\x00\\x01\\x00{'); sys.stdout.flush()", "reply cut short"),
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


def test_a_worker_started_ahead_is_adopted_once(fp32_fc: tuple[bytes, dict[str, np.ndarray]]) -> None:
    """launch.py starts the host's worker before the imports; the first host target takes it."""
    host_worker.start_ahead()
    ahead = host_worker._ahead[tuple(host_worker.command())][0]
    first, second = host_target(), host_target()
    try:
        model, inputs = fp32_fc
        assert first.run(model, inputs, "xnnpack").facts["pid"] == ahead.pid
        assert second.run(model, inputs, "xnnpack").facts["pid"] != ahead.pid
    finally:
        first.close()
        second.close()
    assert ahead.poll() == 0


def test_a_worker_nobody_adopted_is_closed() -> None:
    host_worker.start_ahead()
    ahead = host_worker._ahead[tuple(host_worker.command())][0]
    host_worker.close_unadopted()
    assert ahead.poll() == 0 and not host_worker._ahead


@pytest.mark.parametrize(("words", "target"), [
    (["matrix"], "host"), (["matrix", "--target", "qemu-sme2"], "qemu-sme2"),
    (["check", "m.tflite", "--target=host-nosme"], "host-nosme"),
])
def test_the_command_line_reads_the_target_before_importing(words: list[str], target: str) -> None:
    assert launch._target(words) == target

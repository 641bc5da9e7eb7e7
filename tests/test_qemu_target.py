"""The emulated SME2 target for real: QEMU user mode, the aarch64 wheel, kernel proof, crashes.

Needs `pytest-litert emulator setup` (about 25 s once); skipped otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from pytest_litert.run.qemu import emulator, kernels
from pytest_litert.run.qemu.target import QemuTarget, cpu_model, guest_python, target_name
from pytest_litert.run.targets import InProcessTarget, TargetCrash, WorkerTarget

PATHS = emulator.find()

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(PATHS is None, reason="emulator not set up: run `pytest-litert emulator setup` to enable"),
]


@pytest.fixture(scope="module")
def fc_model() -> tuple[bytes, dict[str, np.ndarray]]:
    """A float32 FULLY_CONNECTED model (8x64 @ 64x64) and one input batch."""
    from pytest_litert.convert import converter, keras_models
    from pytest_litert.matrix.ops import OPS

    op = OPS["fully_connected"]
    rng = np.random.default_rng(7)
    weights = keras_models.random_weights(op, op.default_shape, rng)
    model = keras_models.build_model(op, op.default_shape, weights)
    inputs = keras_models.random_inputs(op, op.default_shape, rng)
    return converter.convert(model, "fp32", [inputs]), inputs


@pytest.fixture(scope="module")
def sme2_target() -> Iterator[QemuTarget]:
    assert PATHS is not None
    target = QemuTarget(PATHS)
    yield target
    target.close()


@pytest.fixture(scope="module")
def neon_target() -> Iterator[QemuTarget]:
    assert PATHS is not None
    target = QemuTarget(PATHS, sme=False)
    yield target
    target.close()


def test_cpu_models_and_names() -> None:
    assert cpu_model() == "max"
    assert cpu_model(sme=False) == "max,sme=off"
    assert cpu_model(svl=64) == "max,sme-default-vector-length=64"
    assert target_name(svl=64) == "qemu-sme2-svl64"
    with pytest.raises(ValueError, match="streaming vector length 48"):
        cpu_model(svl=48)
    with pytest.raises(ValueError, match="needs SME"):
        cpu_model(sme=False, svl=32)


def test_sme2_kernel_runs_and_matches_host(
    sme2_target: QemuTarget, fc_model: tuple[bytes, dict[str, np.ndarray]]
) -> None:
    model, inputs = fc_model
    expected = InProcessTarget().run(model, inputs, "xnnpack").output
    for attempt in ("first run", "repeat in the same worker"):
        result = sme2_target.run(model, inputs, "xnnpack")
        assert result.facts["machine"] == "aarch64"
        sme2 = result.facts["sme2_kernels"]
        assert any(name.startswith("kai_") for name in sme2), (attempt, result.facts["kernels"])
        assert all(kernels.is_sme2_kernel(name) for name in sme2)
        np.testing.assert_allclose(result.output, expected, rtol=1e-5, atol=1e-6)


def test_sme_off_runs_no_sme2_kernel(neon_target: QemuTarget, fc_model: tuple[bytes, dict[str, np.ndarray]]) -> None:
    model, inputs = fc_model
    result = neon_target.run(model, inputs, "xnnpack")
    assert result.facts["sme2_kernels"] == []
    assert any("neon" in name for name in result.facts["kernels"]), result.facts["kernels"]


def test_emulated_sme2_status(sme2_target: QemuTarget, neon_target: QemuTarget) -> None:
    on = sme2_target.sme2_status()
    assert on.available and on.cpu_has_sme2 and on.litert_has_sme2_kernels, on.reason
    off = neon_target.sme2_status()
    assert not off.available and not off.cpu_has_sme2 and off.litert_has_sme2_kernels
    assert "qemu-sme2" in off.reason


def guest_worker(code: str, *, timeout: float = 60.0) -> WorkerTarget:
    """A WorkerTarget whose 'worker' is guest Python running `code` under QEMU."""
    assert PATHS is not None
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    return WorkerTarget("qemu-crash", [*guest_python(PATHS, "max"), "-c", code], timeout=timeout, env=env)


@pytest.mark.parametrize(
    ("code", "signal_name"),
    [
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "SIGSEGV"),
        ("import os; os.abort()", "SIGABRT"),
    ],
)
def test_guest_signal_becomes_target_crash(code: str, signal_name: str) -> None:
    target = guest_worker(code)
    for _ in range(2):  # the second run gets a fresh worker, and the same verdict
        with pytest.raises(TargetCrash, match=signal_name):
            target.run(b"model", {"x": np.zeros(1, np.float32)}, "xnnpack")
    target.close()


def test_guest_hang_becomes_target_crash() -> None:
    target = guest_worker("import time; time.sleep(600)", timeout=3.0)
    with pytest.raises(TargetCrash, match="hung"):
        target.run(b"model", {"x": np.zeros(1, np.float32)}, "xnnpack")
    target.close()

"""host-nosme's mechanism on an SME2 CPU: the emulated one, with the real aarch64 LiteRT.

The interposer is built by the emulated machine's own gcc (the rootfs's, run under QEMU:
run/qemu/compiler.py). Preloaded into the qemu-sme2 worker it must (a) leave no KleidiAI
SME2 kernel in the translation log and (b) give outputs bitwise equal to the qemu-nosme lane
(-cpu max,sme=off), fp16 included, where SME2 and NEON accumulate differently. The slow test
runs the issue's command in the emulated SME2 Linux. Needs `pytest-litert emulator setup`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pytest_litert.run.nosme import build
from pytest_litert.run.qemu import emulator
from pytest_litert.run.qemu.target import QemuTarget, guest_environment, guest_python

PATHS = emulator.find()
pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(PATHS is None, reason="emulator not set up: run `pytest-litert emulator setup` to enable"),
    pytest.mark.skipif(PATHS is not None and not PATHS.compiler.is_file(),
                       reason="the emulator predates its compiler: rerun `pytest-litert emulator setup`"),
]
Model = tuple[bytes, dict[str, np.ndarray]]


@pytest.fixture(scope="module")
def guest_interposer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hide_sme.c built for aarch64 by the guest's cc, as host-nosme builds it there."""
    assert PATHS is not None
    path = tmp_path_factory.mktemp("nosme") / "libhide_sme.so"
    build.compile_library([str(PATHS.compiler)], path)
    return path


def _fc(recipe: str) -> Model:
    from pytest_litert.convert import converter, keras_models
    from pytest_litert.matrix.ops import OPS

    op = OPS["fully_connected"]
    rng = np.random.default_rng(7)
    weights = keras_models.random_weights(op, op.default_shape, rng)
    inputs = keras_models.random_inputs(op, op.default_shape, rng)
    return converter.convert(keras_models.build_model(op, op.default_shape, weights), recipe, [inputs]), inputs


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    return {recipe: _fc(recipe) for recipe in ("fp32", "fp16")}


@pytest.fixture(scope="module")
def hidden(guest_interposer: Path) -> Iterator[QemuTarget]:
    assert PATHS is not None
    target = QemuTarget(PATHS, preload=guest_interposer)
    yield target
    target.close()


def test_the_guest_sees_sme2_and_the_interposer_hides_exactly_its_bits(guest_interposer: Path) -> None:
    assert PATHS is not None
    prefix = guest_python(PATHS, "max")
    env = guest_environment(PATHS)
    done = subprocess.run([*prefix, "-c", "import ctypes; l = ctypes.CDLL(None); l.getauxval.restype = "
                           "ctypes.c_ulong; print(l.getauxval(26))"], capture_output=True, text=True, env=env,
                          timeout=120, check=True)
    real = int(done.stdout)
    assert real >> 37 & 1 and real >> 23 & 1  # SME2 and SME under -cpu max
    seen = build.probe(guest_interposer, prefix[:-1], python=prefix[-1], env=env)
    assert seen["loaded"] is True
    assert seen["hwcap2"] == real & ~build.HWCAP2_SME_BITS  # every other feature as the CPU reports it


def test_a_no_sme2_kernel_runs_under_the_interposer(hidden: QemuTarget, models: dict[str, Model]) -> None:
    model, inputs = models["fp32"]
    facts = hidden.run(model, inputs, "xnnpack").facts
    assert facts["kernels_complete"] and facts["functions_executed"] > 0
    assert facts["sme2_kernels"] == [], facts["sme2_kernels"]
    assert not facts["hwcap2"] >> 37 & 1  # guest.py's own reading, through the interposer


def test_b_outputs_are_bitwise_the_sme_off_cpu_s(hidden: QemuTarget, models: dict[str, Model]) -> None:
    assert PATHS is not None
    neon = QemuTarget(PATHS, sme=False, capture_kernels=False)
    sme2 = QemuTarget(PATHS, capture_kernels=False)
    try:
        for recipe, (model, inputs) in models.items():
            off = neon.run(model, inputs, "xnnpack").output
            assert np.array_equal(hidden.run(model, inputs, "xnnpack").output, off), recipe
            if recipe == "fp16":  # where SME2 accumulates differently, the hidden lane is NEON's, not SME2's
                assert not np.array_equal(sme2.run(model, inputs, "xnnpack").output, off)
    finally:
        neon.close()
        sme2.close()


@pytest.mark.slow
def test_the_issue_s_command_passes_with_sme2_neon_present(tmp_path: Path) -> None:
    """`pytest -m sme2 --litert-bundle=DIR --pyargs pytest_litert.suite --litert-target=host-nosme`
    in the emulated SME2 Linux: passes, sme2~neon in every record, and the profiler names no packed
    KleidiAI operator in the main lanes (the sme2 comparison lane, where profiled, has one)."""
    from pytest_litert.cli import main

    bundle, report = tmp_path / "bundle", tmp_path / "report.json"
    assert main(["export", str(bundle), "--no-seed-models", "--ops=fully_connected", "--recipes=fp32,fp16"]) == 0
    command = ["python", "-m", "pytest", "-p", "no:cacheprovider", "-m", "sme2", f"--litert-bundle={bundle}",
               "--pyargs", "pytest_litert.suite", "--litert-target=host-nosme", f"--litert-report-json={report}"]
    done = subprocess.run([sys.executable, "-m", "pytest_litert", "emulator", "run", "--", *command],
                          capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "SME2 on host-nosme: available" in done.stdout
    cells = json.loads(report.read_text())["cells"]
    assert {c["cell"] for c in cells} == {"fully_connected-fp32", "fully_connected-fp16"}
    for cell in cells:
        assert cell["status"] == "pass" and "sme2~neon" in {check["name"] for check in cell["checks"]}
        evidence = cell["kernel_evidence"]
        main = evidence["profile"]["main_operator"]
        assert evidence["profile"]["cpu_sme2"] is False and main.startswith("Fully Connected (NC, F")
        assert not any(packed in main for packed in ("PF32", "PF16", "PQS8"))
        if "sme2 profile" in evidence:
            assert evidence["sme2 profile"]["operator_type"] in ("PF32", "PF16")

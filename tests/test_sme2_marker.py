"""The sme2 marker: skip with a reason naming the fix, fail under --litert-require-sme2,
the SVL sweep in test ids, and kernel proof plus the NEON A/B lane on the emulated target."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_litert.run import sme2
from pytest_litert.run.qemu import emulator
from pytest_litert.session import Runner, Settings

no_host_sme2 = pytest.mark.skipif(sme2.host_status().available, reason="this host has SME2")
needs_emulator = pytest.mark.skipif(emulator.find() is None, reason="run `pytest-litert emulator setup` first")


@no_host_sme2
def test_sme2_cells_skip_naming_the_flag(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("-m", "sme2", "--litert-ops=fully_connected", "-rs")
    # the seed table's FC rows: fp32, fp16 and fp16_weights (FP32 x FP16), dynamic_int8, static_int8, int4
    result.assert_outcomes(skipped=6)
    result.stdout.fnmatch_lines(["*no SME2: the host CPU does not report SME2*--litert-target=qemu-sme2*"])
    result.stdout.fnmatch_lines(["litert: SME2 on host: unavailable*"])


@no_host_sme2
def test_require_sme2_turns_the_skip_into_a_failure(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("-m", "sme2", "--litert-ops=fully_connected", "--litert-require-sme2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*SME2 required by --litert-require-sme2, but the host CPU*"])


def test_non_sme2_cells_are_not_marked(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("-m", "sme2", "--collect-only", "-q", "--litert-recipes=int16x8")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_svl_needs_the_emulated_target(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--litert-svl=64")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*svl sets QEMU's SME vector length: it needs target qemu-sme2*"])
    result = matrix_test.runpytest("--litert-target=qemu-sme2", "--litert-svl=48")
    result.stderr.fnmatch_lines(["*svl 48 is not a streaming vector length*"])


def test_svl_sweep_parametrizes_the_cells(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--collect-only", "-q", "--litert-target=qemu-sme2", "--litert-svl=32,128",
                                   "--litert-ops=fully_connected", "--litert-recipes=fp32")
    result.stdout.fnmatch_lines(
        ["*test_cell[[]fully_connected-fp32-svl32[]]", "*test_cell[[]fully_connected-fp32-svl128[]]"]
    )


@pytest.mark.qemu
@needs_emulator
def test_emulated_cell_proves_the_sme2_kernel_and_compares_with_neon(shared_cache: Path) -> None:
    runner = Runner(Settings.parse({"ops": "fully_connected", "recipes": "static_int8",
                                    "cache_dir": str(shared_cache), "target": "qemu-sme2"}))
    try:
        verdict = runner.evaluate_cell(runner.settings.cells()[0])
    finally:
        runner.close()
    checks = {check.name: check for check in verdict.checks}
    assert verdict.status == "pass", verdict.explain()
    assert checks["sme2 kernel"].passed and "sme2_mopa" in checks["sme2 kernel"].message
    assert checks["neon vs keras"].passed
    assert checks["sme2~neon"].message == "bitwise equal"


@pytest.mark.qemu
@needs_emulator
def test_missing_sme2_kernel_is_a_finding_unless_required(shared_cache: Path) -> None:
    raw = {"ops": "conv2d", "recipes": "dynamic_int8", "cache_dir": str(shared_cache), "target": "qemu-sme2"}
    for required, status in ((False, "finding"), (True, "fail")):
        runner = Runner(Settings.parse({**raw, "require_sme2_kernels": required}))
        try:
            verdict = runner.evaluate_cell(runner.settings.cells()[0])
        finally:
            runner.close()
        assert verdict.status == status, verdict.explain()
        assert "no SME2 kernel ran" in verdict.explain()

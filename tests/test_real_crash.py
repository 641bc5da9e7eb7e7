"""A real LiteRT crash, not a fake worker: LiteRT 2.3.0 segfaults on the emulated SME2 CPU at
a streaming vector length of 128 bytes (fully_connected-fp32; docs/findings.md). In a pytest
session that cell fails with the signal named, and the next cell (fully_connected-dynamic_int8,
which survives SVL 128) still runs and passes on a fresh worker. Runs only where the emulated
target is set up (`pytest-litert emulator setup`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_litert.run.qemu import emulator

PATHS = emulator.find()  # read before pytester gives HOME another value
needs_emulator = pytest.mark.skipif(PATHS is None,
                                    reason=f"the emulated SME2 target is not set up: {emulator.SETUP_HINT}")


@needs_emulator
def test_a_segfault_fails_its_cell_and_the_next_cell_runs(matrix_test: pytest.Pytester, shared_cache: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert PATHS is not None
    monkeypatch.setenv(emulator.CACHE_ENV, str(PATHS.cache_dir))
    result = matrix_test.runpytest(
        "-v", "-p", "no:randomly", "-m", "not sme2", "--litert-target=qemu-sme2", "--litert-svl=128",
        "--litert-ops=fully_connected", "--litert-recipes=fp32,dynamic_int8", f"--litert-cache-dir={shared_cache}",
    )
    result.stdout.fnmatch_lines([
        "*test_cell[[]fully_connected-fp32-svl128[]] FAILED*",
        "*test_cell[[]fully_connected-dynamic_int8-svl128[]] PASSED*",
    ])
    result.stdout.fnmatch_lines(["*worker crashed (killed by SIGSEGV)*"])
    result.assert_outcomes(failed=1, passed=1)

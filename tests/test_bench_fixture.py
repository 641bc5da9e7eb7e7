"""The pytest side of the bench: `litert_bench` in a user's suite, and where it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def seed_fc(tmp_path: Path, shared_cache: Path) -> Path:
    from pytest_litert.matrix.cells import select_cells
    from pytest_litert.session import Runner, Settings

    cell = select_cells("fully_connected", "fp32", "seed")[0]
    path = tmp_path / "fc_fp32.tflite"
    path.write_bytes(Runner(Settings.from_strings(None, None, None, str(shared_cache))).artifact(cell).model)
    return path


def test_a_user_times_a_model_file(pytester: pytest.Pytester, seed_fc: Path) -> None:
    pytester.makepyfile(test_speed=f"""
        def test_fc_speed(litert_bench):
            result = litert_bench({str(seed_fc)!r}, rounds=2, max_time=0.2)
            assert set(result.timings) == {{"interpreter", "compiled"}}
            assert 0 < result.timings["interpreter"].summary.min_ms <= result.median_ms("interpreter")
            assert len(result.timings["compiled"].summary.round_medians_ms) == 2
            assert result.gflops() is None  # a file: no cell to count its work from
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*LiteRT bench (median per API)*",
                                 "test_speed.py::test_fc_speed: interpreter * ms, compiled * ms"])


def test_litert_bench_skips_on_the_emulated_target(pytester: pytest.Pytester, seed_fc: Path) -> None:
    pytester.makepyfile(test_speed=f"""
        def test_fc_speed(litert_bench):
            litert_bench({str(seed_fc)!r})
        """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--litert-target=qemu-sme2", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*timings under QEMU mean nothing*pytest-litert coverage*"])


def test_no_bench_section_without_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_plain():\n    assert True\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "LiteRT bench" not in result.stdout.str()

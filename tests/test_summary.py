"""The terminal summary: an op x recipe table with statuses and worst errors in units."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_summary_table_lists_every_selected_cell(matrix_test: pytest.Pytester, shared_cache: Path) -> None:
    result = matrix_test.runpytest(
        "-m", "not sme2", "--litert-ops=fully_connected,transpose_conv", "--litert-recipes=fp32,static_int8,int4",
        f"--litert-cache-dir={shared_cache}", "--litert-seed=3",
    )
    result.stdout.fnmatch_lines([
        "*LiteRT operator x recipe matrix*",
        "*seed 3*",
        "op \\ recipe*fp32*static_int8*int4",
        "fully_connected*pass * ulp*pass * st*pass * of bnd",
        "transpose_conv*pass * ulp*pass * st*n/p",
        "worst error of a passing cell as a fraction of its derived bound: *",
    ])
    result.assert_outcomes(passed=5, skipped=1)


def test_header_names_versions_and_seed(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--collect-only", "--litert-seed=7")
    result.stdout.fnmatch_lines([
        "litert: TensorFlow *, Keras *, ai-edge-litert *, ai-edge-quantizer *",
        "litert: seed 7, target host, *(reproduce with --litert-seed=7)",
    ])


def test_the_table_and_the_report_survive_xdist(matrix_test: pytest.Pytester, shared_cache: Path,
                                                tmp_path: Path) -> None:
    """Everything a cell hands back travels in user_properties, which xdist must serialize
    (a Status enum there once crashed the session with INTERNALERROR)."""
    pytest.importorskip("xdist")
    import json

    report = tmp_path / "report.json"
    result = matrix_test.runpytest_subprocess(
        "-n", "2", "-m", "not sme2", "--litert-ops=fully_connected", "--litert-recipes=fp32,static_int8",
        f"--litert-cache-dir={shared_cache}", f"--litert-report-json={report}",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["op \\ recipe*fp32*static_int8", "fully_connected*pass * ulp*pass * st"])
    assert sorted(c["cell"] for c in json.loads(report.read_text())["cells"]) == [
        "fully_connected-fp32", "fully_connected-static_int8"]


@pytest.mark.parametrize(("value", "text"), [(0.996, "0.996"), (0.99951, "0.999"), (0.5, "0.50"), (1.0, "1.00"),
                                             (1.2, "1.20"), (0.994, "0.99"), (3.6e40, "3.6e+40")])
def test_a_fraction_is_never_rounded_up_to_its_limit(value: float, text: str) -> None:
    from pytest_litert.report.table import fraction_text

    assert fraction_text(value) == text

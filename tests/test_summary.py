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
        "worst error as a fraction of its derived bound: *",
    ])
    result.assert_outcomes(passed=5, skipped=1)


def test_header_names_versions_and_seed(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--collect-only", "--litert-seed=7")
    result.stdout.fnmatch_lines([
        "litert: TensorFlow *, Keras *, ai-edge-litert *, ai-edge-quantizer *",
        "litert: seed 7, target host, *(reproduce with --litert-seed=7)",
    ])

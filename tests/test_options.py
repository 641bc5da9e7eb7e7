"""Option validation: typos are usage errors naming the valid values; flags beat ini keys."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_unknown_op_is_a_usage_error(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--litert-ops=fully_conected")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest-litert: --litert-ops: unknown op 'fully_conected' "
                                 "(did you mean fully_connected?); valid: fully_connected, *"])
    assert "--litert-seed" not in result.stderr.str()  # no list of unrelated options


def test_unknown_recipe_is_a_usage_error(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--litert-recipes=int8")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--litert-recipes: unknown recipe 'int8'*; valid: fp32, fp16, fp16_weights, *"])


def test_bad_seed_is_a_usage_error(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--litert-seed=abc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*seed must be an integer*"])


def test_ini_keys_select_and_flag_wins(matrix_test: pytest.Pytester, shared_cache: Path) -> None:
    matrix_test.makeini("[pytest]\nlitert_ops = conv2d\nlitert_recipes = fp32,fp16\n")
    result = matrix_test.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_cell[[]conv2d-fp32[]]", "*test_cell[[]conv2d-fp16[]]"])
    result = matrix_test.runpytest("--collect-only", "-q", "--litert-ops=transpose_conv")
    result.stdout.fnmatch_lines(["*test_cell[[]transpose_conv-fp32[]]"])
    assert "conv2d-fp32" not in result.stdout.str()

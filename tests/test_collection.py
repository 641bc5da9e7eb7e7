"""Collection: one test per cell, ids `<op>-<recipe>`, seed row shown in -v."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_litert.matrix.cells import all_cells
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES


def test_every_op_recipe_pair_is_a_cell() -> None:
    ids = [cell.id for cell in all_cells()]
    assert len(ids) == len(set(ids)) == len(OPS) * len(RECIPES)
    assert "fully_connected-static_int8" in ids
    assert "transpose_conv-int4" in ids  # not produced, but still listed


def test_collects_one_test_per_static_int8_cell(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--collect-only", "-q", "--litert-recipes=static_int8")
    result.stdout.fnmatch_lines([f"*test_cell[[]{op}-static_int8[]]" for op in OPS])
    sme2 = [cell.id for cell in all_cells() if cell.sme2 and cell.recipe.name == "static_int8"]
    result.stdout.fnmatch_lines([f"*test_sme2_cell[[]{cell_id}[]]" for cell_id in sme2])
    result.stdout.fnmatch_lines([f"{len(OPS) + len(sme2)} tests collected*"])


def test_verbose_shows_the_seed_row(matrix_test: pytest.Pytester, shared_cache: Path) -> None:
    result = matrix_test.runpytest(
        "-v", "-m", "not sme2", "--litert-ops=fully_connected,batch_matmul", "--litert-recipes=static_int8",
        f"--litert-cache-dir={shared_cache}",
    )
    result.stdout.fnmatch_lines([
        "*fully_connected-static_int8* PASSED (seed: Asymmetric INT8 quantization x Per-channel "
        "symmetric INT8 quantization -> Asymmetric INT8 quantization [[]KleidiAI SME2[]])*",
        "*batch_matmul-static_int8* PASSED (outside the seed table (XNNPACK default path))*",
    ])
    assert result.ret == pytest.ExitCode.OK

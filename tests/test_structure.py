"""The structural check: a model where the recipe did not apply fails and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_litert.convert.artifact import build_artifact
from pytest_litert.judge.structure import structural_mismatches
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import OPS, LayerShape
from pytest_litert.matrix.recipes import RECIPES


def test_small_dense_under_dynamic_int8_fails_with_the_reason(pytester: pytest.Pytester, shared_cache: Path) -> None:
    pytester.makepyfile(
        """
        from pytest_litert.matrix.cells import make_cell
        from pytest_litert.matrix.ops import OPS, LayerShape
        from pytest_litert.plugin import assert_verdict
        from pytest_litert.matrix.recipes import RECIPES

        def test_small_layer(litert_runner):
            # 16 x 16 = 256 weights: under the converter's 1024-element threshold
            cell = make_cell(OPS["fully_connected"], RECIPES["dynamic_int8"], LayerShape(m=4, k=16, n=16))
            assert_verdict(litert_runner.evaluate_cell(cell))
        """
    )
    result = pytester.runpytest(f"--litert-cache-dir={shared_cache}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*weight_dtype is FLOAT32 (expected INT8)*",
        "*dynamic_int8 recipe did not apply*256-element weights FLOAT32*under 1024 elements*",
    ])


def test_default_shapes_are_large_enough_for_every_recipe() -> None:
    for op in OPS.values():
        if op.constant_weights:
            assert op.weight_count(op.default_shape) >= 1024, op.name


def test_mismatches_name_what_the_converter_produced() -> None:
    cell = make_cell(OPS["conv2d_pointwise"], RECIPES["static_int8"])
    artifact = build_artifact(make_cell(OPS["conv2d_pointwise"], RECIPES["fp32"]), seed=0)
    found = {str(m) for m in structural_mismatches(cell, artifact.inspection, artifact.layer(cell.op))}
    assert "weight_dtype is FLOAT32 (expected INT8)" in found
    assert "activation_dtype is FLOAT32 (expected INT8)" in found
    assert any(m.startswith("input serving_default_x:0 dtype is FLOAT32") for m in found)


def test_invalid_shape_is_rejected_before_conversion() -> None:
    with pytest.raises(ValueError, match="kernel reach 5 exceeds the 4x4 input"):
        make_cell(OPS["conv2d"], RECIPES["fp32"]).with_shape(
            LayerShape(height=4, width=4, kernel=5, padding="valid")
        )

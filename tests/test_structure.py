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


def test_a_delegate_that_takes_only_the_dequantize_nodes_does_not_count(tmp_path: Path) -> None:
    """fp16 weights sit behind DEQUANTIZE nodes; delegation counts only when a DELEGATE node
    computes the FULLY_CONNECTED's own output. The real run covers it; the second run's facts
    are simulated (a delegate holding only the DEQUANTIZE outputs), which today's XNNPACK
    cannot be made to produce."""
    import dataclasses

    from pytest_litert.judge.verdict import judge
    from pytest_litert.run.lanes import run_cell
    from pytest_litert.run.targets import InProcessTarget
    from pytest_litert.session import Runner, Settings

    runner = Runner(Settings.from_strings("fully_connected", "fp16", 0, str(tmp_path), "inprocess"))
    [cell] = runner.settings.cells()
    artifact = runner.artifact(cell)
    layer = artifact.layer(cell.op)
    assert layer is not None and layer.behind_dequantize == {"weights", "bias"}
    run = run_cell(cell, artifact, InProcessTarget())
    assert layer.output.index in run.facts["xnnpack"]["delegate_outputs"]
    real = judge(cell, artifact, artifact.inspection, layer, run)
    assert next(c for c in real.checks if c.name == "delegation").passed

    dequantized = [op.outputs[0] for op in artifact.inspection.operators if op.op_code == "DEQUANTIZE"]
    only_dequantize = {**run.facts, "xnnpack": {**run.facts["xnnpack"], "delegate_outputs": dequantized}}
    verdict = judge(cell, artifact, artifact.inspection, layer, dataclasses.replace(run, facts=only_dequantize))
    delegation = next(c for c in verdict.checks if c.name == "delegation")
    assert not delegation.passed and "computed by the builtin kernel" in delegation.message
    assert verdict.status == "fail"

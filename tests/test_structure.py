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


def _mismatches(cell_recipe: str, model_recipe: str, op: str = "conv2d",
                shape: LayerShape | None = None) -> set[str]:
    """The cell `op-cell_recipe` judged on the model another recipe produced."""
    cell = make_cell(OPS[op], RECIPES[cell_recipe], shape)
    artifact = build_artifact(make_cell(OPS[op], RECIPES[model_recipe], shape), seed=0)
    return {str(m) for m in structural_mismatches(cell, artifact.inspection, artifact.layer(cell.op))}


@pytest.mark.parametrize("recipe", ["dynamic_int8", "static_int8"])
def test_per_tensor_recipes_produce_one_scale_and_the_check_tells_the_two_apart(recipe: str) -> None:
    assert _mismatches(f"{recipe}_per_tensor", f"{recipe}_per_tensor") == set()
    assert _mismatches(recipe, f"{recipe}_per_tensor") == {"weight_granularity is per-tensor (expected per-channel)"}
    assert _mismatches(f"{recipe}_per_tensor", recipe) == {"weight_granularity is per-channel (expected per-tensor)"}


def test_fp16_weights_is_fp16_without_the_accumulation_hint() -> None:
    assert _mismatches("fp16_weights", "fp16_weights", "fully_connected") == set()
    assert _mismatches("fp16", "fp16_weights", "fully_connected") == {
        "metadata 'reduced_precision_support' is fp16accfp32 (expected fp16accfp16)"}


def test_int4_weight_only_keeps_the_weights_behind_dequantize() -> None:
    pytest.importorskip("ai_edge_quantizer")
    cell = make_cell(OPS["fully_connected"], RECIPES["int4_weight_only"])
    artifact = build_artifact(cell, seed=0)
    layer = artifact.layer(cell.op)
    assert layer is not None and layer.weights.dtype == "INT4" and layer.behind_dequantize == {"weights"}
    assert structural_mismatches(cell, artifact.inspection, layer) == []
    dynamic = build_artifact(make_cell(OPS["fully_connected"], RECIPES["int4"]), seed=0).layer(cell.op)
    assert dynamic is not None and dynamic.behind_dequantize == frozenset()  # the int4 recipe: no DEQUANTIZE


def test_a_per_tensor_batch_matmul_constant_at_batch_one_is_not_per_channel() -> None:
    """A one-channel tensor is per-channel and per-tensor at once, but the channels of a
    (batch, k, n) constant are its last axis: at batch 1 one scale is still per-tensor.
    (The tiles shape set found this: the check had read axis 0, the batch.)"""
    shape = LayerShape(batch=1, m=1, k=64, n=64)
    assert _mismatches("dynamic_int8", "dynamic_int8", "batch_matmul_const", shape) == {
        "weight_granularity is per-tensor (expected per-channel)"}


def test_constants_stored_past_the_flatbuffer_are_read(shared_cache: Path) -> None:
    """ai-edge-quantizer writes a large model's constants after the flatbuffer (Buffer.offset
    and .size, no inline data): the seed's int4 FULLY_CONNECTED is such a model."""
    pytest.importorskip("ai_edge_quantizer")
    from ai_edge_litert import schema_py_generated as schema

    from pytest_litert.model.flatbuffer import ModelFormatError, inspect_model
    from pytest_litert.session import Runner, Settings

    runner = Runner(Settings.from_strings("fully_connected", "int4", 0, str(shared_cache), "inprocess", shapes="seed"))
    [cell] = runner.settings.cells()
    model = runner.artifact(cell).model
    buffers = schema.ModelT.InitFromPackedBuf(bytearray(model), 0).buffers
    assert any(b.data is None and b.offset > 1 and b.size > 0 for b in buffers)
    inspection = inspect_model(model)
    layer = inspection.find_op("FULLY_CONNECTED")
    assert layer is not None
    weights = inspection.source_tensor(layer.inputs[1])
    assert inspection.constant_values(weights).shape == (1280, 640)
    with pytest.raises(ModelFormatError, match="ends past the file"):
        inspect_model(model[: len(model) - 16])

"""The transformer FC (`fully_connected_3d`) and `depthwise_conv2d`: their shapes, what the
matrix expects of them, the NumPy layer against Keras, and their strategies and mutants."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from pytest_litert.faults.mutations import mutants
from pytest_litert.judge.layer_math import apply, keras_kernel
from pytest_litert.matrix.cells import SEED_TABLE, make_cell, select_cells
from pytest_litert.matrix.ops import INPUT_POSITIONS, OPS, LayerShape, OpSpec, depth_multiplier, depthwise_shape
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.shapes import SHAPE_SETS
from pytest_litert.matrix.strategies import (
    BOUNDARY_EXAMPLES,
    LONG_REDUCTION,
    ONE_CHANNEL,
    TINY_INPUT,
    layer_shapes,
)
from pytest_litert.session import Runner, Settings

FC3D, DEPTHWISE = OPS["fully_connected_3d"], OPS["depthwise_conv2d"]


def test_the_sequence_fc_is_the_seed_tables_fully_connected_row() -> None:
    assert FC3D.op_code == "FULLY_CONNECTED" and FC3D.positions == INPUT_POSITIONS["FULLY_CONNECTED"]
    for recipe in RECIPES:
        assert SEED_TABLE.get(("fully_connected_3d", recipe)) == SEED_TABLE.get(("fully_connected", recipe))
    shape = LayerShape(batch=2, m=16, k=64, n=48)
    assert FC3D.input_shapes(shape) == {"x": (2, 16, 64)}
    assert FC3D.weight_shape(shape) == (64, 48) and FC3D.reduction_length(shape) == 64


def test_the_seed_set_holds_a_transformer_blocks_fully_connected_layer() -> None:
    [named] = SHAPE_SETS["seed"]["fully_connected_3d"]
    assert (named.shape.batch, named.shape.m, named.shape.k, named.shape.n) == (1, 128, 768, 3072)


def test_depthwise_shape_carries_its_multiplier_and_channel_axis_3() -> None:
    shape = depthwise_shape(9, 9, 16, 3, 5, stride=2, padding="valid")
    assert (shape.n, depth_multiplier(shape)) == (48, 3)
    assert DEPTHWISE.positions.channel_axis == 3
    assert DEPTHWISE.weight_shape(shape) == (5, 5, 16, 3)
    assert DEPTHWISE.reduction_length(shape) == 25  # one input channel per output: the taps only
    assert "depth_multiplier=3" in DEPTHWISE.describe(shape) and "padding=valid" in DEPTHWISE.describe(shape)
    with pytest.raises(ValueError, match="n=40 output channels must be k=16 times the depth multiplier"):
        DEPTHWISE.validate(LayerShape(height=9, width=9, k=16, n=40, kernel=3))
    with pytest.raises(ValueError, match="kernel reach 5 exceeds the 4x4 input"):
        DEPTHWISE.validate(depthwise_shape(4, 4, 16, 1, 5, padding="valid"))


def test_depthwise_is_outside_the_table_and_expects_no_kleidiai_kernel() -> None:
    cells = {cell.recipe.name: cell for cell in select_cells("depthwise_conv2d", None)}
    assert not any(cell.sme2 for cell in cells.values())
    assert all("XNNPACK's own dwconv, no KleidiAI" in cell.kernel_evidence for cell in cells.values())
    assert {r for r, cell in cells.items() if cell.not_produced} == {"int4", "int4_weight_only"}
    assert not cells["dynamic_int8"].expected.xnnpack and cells["static_int8"].expected.xnnpack
    assert cells["dynamic_int8_per_tensor"].findings  # LiteRT's hybrid kernel reads past one scale
    assert make_cell(FC3D, RECIPES["static_int8"]).kernel_evidence == "a KleidiAI SME2 kernel"


@pytest.mark.parametrize("shape", [
    depthwise_shape(7, 6, 5, 2, 3),
    depthwise_shape(9, 9, 4, 1, 3, stride=2),
    depthwise_shape(9, 8, 3, 3, 3, dilation=2, padding="valid"),
    depthwise_shape(1, 1, 6, 2, 5),
], ids=["same", "strided", "dilated-valid", "1x1-input"])
def test_the_numpy_depthwise_layer_is_kerass(shape: LayerShape) -> None:
    from pytest_litert.convert.keras_models import build_model, keras_outputs, random_inputs, random_weights

    rng = np.random.default_rng(1)
    weights = random_weights(DEPTHWISE, shape, rng)
    inputs = random_inputs(DEPTHWISE, shape, rng)
    expected = keras_outputs(build_model(DEPTHWISE, shape, weights), inputs)
    assert weights.kernel is not None and weights.bias is not None
    ours = apply(DEPTHWISE, shape, inputs["x"], weights.kernel) + weights.bias
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_keras_kernel_undoes_the_files_depthwise_layout() -> None:
    shape = depthwise_shape(4, 4, 3, 2, 3)
    keras = np.arange(3 * 3 * 3 * 2, dtype=np.float64).reshape(3, 3, 3, 2)
    stored = keras.reshape(1, 3, 3, 6)  # TFLite: (1, kh, kw, k * m), channel c * m + j
    np.testing.assert_array_equal(keras_kernel(DEPTHWISE, shape, stored), keras)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(shape=layer_shapes("depthwise_conv2d"))
def test_depthwise_strategy_keeps_n_a_multiple_of_k_and_enough_weights(shape: LayerShape) -> None:
    DEPTHWISE.validate(shape)
    assert shape.n % shape.k == 0 and 1 <= depth_multiplier(shape) <= 4
    assert DEPTHWISE.weight_count(shape) >= 1024


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(shape=layer_shapes("fully_connected_3d"))
def test_sequence_fc_strategy_draws_a_batch_of_sequences(shape: LayerShape) -> None:
    FC3D.validate(shape)
    assert 1 <= shape.batch <= 4 and FC3D.weight_count(shape) >= 1024


def test_boundary_examples_give_depthwise_only_the_tiny_input() -> None:
    def families(op: OpSpec) -> set[str]:
        return {example.family for example in BOUNDARY_EXAMPLES if example.shape_for(op) is not None}

    assert families(DEPTHWISE) == {TINY_INPUT}
    assert families(FC3D) == {ONE_CHANNEL, LONG_REDUCTION}


def test_a_1x1_depthwise_filter_swaps_channels_on_axis_3(shared_cache: Path) -> None:
    """With no square spatial kernel to transpose, the layout mutant swaps two output channels
    along the operator's own channel axis (3), not axis 0 (size 1 in a depthwise filter)."""
    cell = make_cell(DEPTHWISE, RECIPES["fp32"]).with_shape(depthwise_shape(4, 4, 512, 2, 1))
    runner = Runner(Settings.from_strings(None, None, 0, str(shared_cache), "inprocess"))
    artifact = runner.artifact(cell)
    [swap] = [m for m in mutants(artifact.model, "DEPTHWISE_CONV_2D") if m.kind == "weights-transposed"]
    assert "(axis 3) swapped" in swap.description

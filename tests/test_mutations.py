"""Fault-injection mutants: each changes exactly the one thing its kind names, and nothing else.

Runs on real converted models (one conversion per cell, through the session's shared cache),
since the point is to corrupt what the converter actually writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from pytest_litert.convert.converter import MissingDependencyError
from pytest_litert.faults.mutations import BIAS_FRACTION, MANTISSA_BIT, MUTATION_KINDS, Mutant, mutants, roundtrip
from pytest_litert.matrix.cells import Cell, select_cells
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo, inspect_model
from pytest_litert.model.layer import MainLayer, main_layer
from pytest_litert.run.targets import InProcessTarget
from pytest_litert.session import Runner, Settings

CELLS = (
    "fully_connected-fp32", "fully_connected-fp16", "fully_connected-dynamic_int8",
    "fully_connected-static_int8", "fully_connected-int4", "fully_connected-int16x8",
    "batch_matmul-fp32", "batch_matmul-static_int8", "batch_matmul_const-fp16",
    "batch_matmul_const-static_int8", "conv2d-static_int8", "conv2d_pointwise-fp32", "transpose_conv-fp32",
    "fully_connected_3d-fp32", "fully_connected_3d-static_int8", "depthwise_conv2d-fp32",
    "depthwise_conv2d-dynamic_int8", "depthwise_conv2d-static_int8",
)
QUANTIZED = ("dynamic_int8", "static_int8", "int4", "int16x8")


@pytest.fixture(scope="module")
def built(shared_cache: Path) -> dict[str, tuple[Cell, CellArtifact | None]]:
    """Each cell of CELLS with its converted artifact (None when a dependency is missing)."""
    found: dict[str, tuple[Cell, CellArtifact | None]] = {}
    for cell_id in CELLS:
        op, recipe = cell_id.split("-")
        cell = select_cells(op, recipe)[0]
        runner = Runner(Settings.from_strings(op, recipe, 0, str(shared_cache), "inprocess"))
        try:
            found[cell_id] = (cell, runner.artifact(cell))
        except MissingDependencyError:
            found[cell_id] = (cell, None)
    return found


def _get(built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str) -> tuple[Cell, CellArtifact]:
    cell, artifact = built[cell_id]
    if artifact is None:
        pytest.skip(f"{cell_id} needs an optional dependency that is not installed (pip install .[int4])")
    return cell, artifact


def _by_kind(cell: Cell, artifact: CellArtifact, seed: int = 0) -> dict[str, Mutant]:
    return {m.kind: m for m in mutants(artifact.model, cell.op.op_code, seed=seed)}


def _changes(before: ModelInspection, after: ModelInspection) -> dict[int, set[str]]:
    """Tensor index -> which of (values, scales, zero_points, dtype, shape) differ."""
    changed: dict[int, set[str]] = {}
    for old, new in zip(before.tensors, after.tensors, strict=True):
        what = {name for name in ("dtype", "shape", "scales", "zero_points", "quantized_dimension")
                if getattr(old, name) != getattr(new, name)}
        if before.buffers[old.index] != after.buffers[new.index]:
            what.add("values")
        if what:
            changed[old.index] = what
    return changed


def _layer(cell: Cell, inspection: ModelInspection) -> MainLayer:
    layer = main_layer(inspection, cell.op.op_code)
    assert layer is not None
    return layer


def _weights(cell: Cell, inspection: ModelInspection) -> TensorInfo:
    return _layer(cell, inspection).weights


def _bias(cell: Cell, inspection: ModelInspection) -> TensorInfo:
    bias = _layer(cell, inspection).bias
    assert bias is not None
    return bias


def _fused_activation(model: bytes, op_code: str) -> int:
    root = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    code = getattr(schema.BuiltinOperator, op_code)
    for op in root.subgraphs[0].operators:
        if max(root.operatorCodes[op.opcodeIndex].builtinCode,
               root.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == code:
            return int(op.builtinOptions.fusedActivationFunction)
    raise AssertionError(f"no {op_code}")


@pytest.mark.parametrize("cell_id", CELLS)
def test_roundtrip_is_byte_identical_and_runs_identically(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str
) -> None:
    _, artifact = _get(built, cell_id)
    again = roundtrip(artifact.model)
    assert again == artifact.model
    target = InProcessTarget()
    for mode in ("xnnpack", "reference"):
        expected = target.run(artifact.model, artifact.model_inputs[0], mode).output
        np.testing.assert_array_equal(target.run(again, artifact.model_inputs[0], mode).output, expected)


@pytest.mark.parametrize("cell_id", CELLS)
def test_every_mutant_changes_the_model_and_still_parses(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str
) -> None:
    cell, artifact = _get(built, cell_id)
    found = mutants(artifact.model, cell.op.op_code)
    assert [m.kind for m in found] == [k for k in MUTATION_KINDS if k in {m.kind for m in found}]
    for mutant in found:
        assert mutant.model != artifact.model
        assert mutant.description
        after = inspect_model(mutant.model)
        assert after.op_codes == artifact.inspection.op_codes


@pytest.mark.parametrize(("cell_id", "kinds"), [
    ("batch_matmul-fp32", set()),  # two runtime inputs: no constant, no options, no zero point
    ("batch_matmul-static_int8", {"zero_point+1"}),
    ("batch_matmul_const-fp16", {"weight+1step", "weight+4steps", "weights-transposed", "mantissa-bit"}),
    ("batch_matmul_const-static_int8",
     {"weight+1step", "weight+4steps", "scale*1.02", "scale*1.10", "zero_point+1", "weights-transposed"}),
    ("fully_connected-fp32", set(MUTATION_KINDS) - {"scale*1.02", "scale*1.10", "zero_point+1"}),
    ("fully_connected-dynamic_int8", set(MUTATION_KINDS) - {"zero_point+1", "mantissa-bit"}),
    ("fully_connected-static_int8", set(MUTATION_KINDS) - {"mantissa-bit"}),
    ("fully_connected-int16x8", set(MUTATION_KINDS) - {"zero_point+1", "mantissa-bit"}),  # int16 zp is 0
])
def test_kinds_that_do_not_apply_are_absent(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str, kinds: set[str]
) -> None:
    cell, artifact = _get(built, cell_id)
    assert set(_by_kind(cell, artifact)) == kinds


@pytest.mark.parametrize("steps", [1, 4])
@pytest.mark.parametrize("cell_id", CELLS)
def test_weight_steps_change_one_weight_by_that_many_steps(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str, steps: int
) -> None:
    cell, artifact = _get(built, cell_id)
    mutant = _by_kind(cell, artifact).get(f"weight+{steps}step{'s' if steps > 1 else ''}")
    if mutant is None:
        pytest.skip("no constant weights")
    before, after = artifact.inspection, inspect_model(mutant.model)
    weights = _weights(cell, before)
    assert _changes(before, after) == {weights.index: {"values"}}
    old = before.constant_values(weights).astype(np.float64)
    new = after.constant_values(weights).astype(np.float64)
    diff = np.flatnonzero(old != new)
    assert diff.size == 1
    index = diff[0]
    if weights.scales:  # quantized: whole stored steps, toward the zero point, at the largest |q - zp|
        assert abs(new.flat[index] - old.flat[index]) == steps
        assert abs(old.flat[index] - weights.zero_points[0]) == np.abs(old - weights.zero_points[0]).max()
    else:  # float: steps of max|W|/127, rounded to the stored dtype
        step = np.abs(old).max() / 127.0
        rtol = 2.0**-10 if weights.dtype == "FLOAT16" else 1e-6
        assert abs(new.flat[index] - old.flat[index]) == pytest.approx(steps * step, rel=4 * rtol * 127 / steps)
        assert abs(old.flat[index]) == np.abs(old).max()


@pytest.mark.parametrize("factor", [1.02, 1.10])
@pytest.mark.parametrize("cell_id", [c for c in CELLS if c.split("-")[1] in QUANTIZED])
def test_scale_changes_one_channel_and_its_bias_scale(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str, factor: float
) -> None:
    cell, artifact = _get(built, cell_id)
    mutant = _by_kind(cell, artifact).get(f"scale*{factor:.2f}")
    if mutant is None:
        pytest.skip("no quantized constant weights")
    before, after = artifact.inspection, inspect_model(mutant.model)
    weights = _weights(cell, before)
    old, new = np.array(weights.scales), np.array(after.tensors[weights.index].scales)
    (channel,) = np.flatnonzero(old != new)
    assert new[channel] / old[channel] == pytest.approx(factor, rel=1e-6)
    expected = {weights.index: {"scales"}}
    if cell.op.op_code != "BATCH_MATMUL" and cell.recipe.name in ("static_int8", "int16x8"):
        bias = _bias(cell, before)
        expected[bias.index] = {"scales"}
        ratio = np.array(after.tensors[bias.index].scales) / np.array(bias.scales)
        assert np.flatnonzero(ratio != 1.0).tolist() == [channel]
    assert _changes(before, after) == expected


@pytest.mark.parametrize("cell_id", ["fully_connected-static_int8", "batch_matmul-static_int8", "conv2d-static_int8",
                                     "fully_connected_3d-static_int8", "depthwise_conv2d-static_int8"])
def test_zero_point_moves_the_data_input_by_one(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str
) -> None:
    cell, artifact = _get(built, cell_id)
    before = artifact.inspection
    after = inspect_model(_by_kind(cell, artifact)["zero_point+1"].model)
    index = _layer(cell, before).data.index
    assert _changes(before, after) == {index: {"zero_points"}}
    assert abs(after.tensors[index].zero_points[0] - before.tensors[index].zero_points[0]) == 1


@pytest.mark.parametrize("cell_id", [c for c in CELLS if not c.startswith("batch_matmul")])
def test_bias_changes_one_element_by_a_tenth_of_the_largest(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str
) -> None:
    cell, artifact = _get(built, cell_id)
    before = artifact.inspection
    after = inspect_model(_by_kind(cell, artifact)["bias"].model)
    bias = _bias(cell, before)
    assert _changes(before, after) == {bias.index: {"values"}}
    scales = np.array(bias.scales) if bias.scales else np.ones(1)
    old = before.constant_values(bias).astype(np.float64) * scales
    new = after.constant_values(bias).astype(np.float64) * scales
    (index,) = np.flatnonzero(old != new)
    step = scales[index] if scales.size > 1 else scales[0]
    tolerance = step if bias.scales else 2.0**-11 * abs(new[index]) + 1e-7
    assert new[index] - old[index] == pytest.approx(BIAS_FRACTION * np.abs(old).max(), abs=tolerance)


@pytest.mark.parametrize("cell_id", CELLS)
def test_transposed_weights_keep_their_values_and_shape(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str
) -> None:
    cell, artifact = _get(built, cell_id)
    mutant = _by_kind(cell, artifact).get("weights-transposed")
    if mutant is None:
        pytest.skip("no constant weights")
    before, after = artifact.inspection, inspect_model(mutant.model)
    weights = _weights(cell, before)
    assert _changes(before, after) == {weights.index: {"values"}}
    old, new = before.constant_values(weights), after.constant_values(weights)
    assert new.shape == old.shape
    assert sorted(new.reshape(-1).tolist()) == sorted(old.reshape(-1).tolist())
    if "transposed in place" in mutant.description:
        axes = (0, 1) if old.ndim == 2 else (1, 2)
        np.testing.assert_array_equal(new, np.swapaxes(old, *axes))
    else:
        assert "swapped" in mutant.description


@pytest.mark.parametrize("cell_id", [c for c in CELLS if not c.startswith("batch_matmul")])
def test_fused_relu_changes_only_the_activation(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str
) -> None:
    cell, artifact = _get(built, cell_id)
    mutant = _by_kind(cell, artifact)["fused-relu"]
    assert _fused_activation(artifact.model, cell.op.op_code) == schema.ActivationFunctionType.NONE
    assert _fused_activation(mutant.model, cell.op.op_code) == schema.ActivationFunctionType.RELU
    assert _changes(artifact.inspection, inspect_model(mutant.model)) == {}


@pytest.mark.parametrize("cell_id", [c for c in CELLS if c.split("-")[1] in ("fp32", "fp16")])
def test_mantissa_bit_flips_one_bit_of_the_largest_weight(
    built: dict[str, tuple[Cell, CellArtifact | None]], cell_id: str
) -> None:
    cell, artifact = _get(built, cell_id)
    mutant = _by_kind(cell, artifact).get("mantissa-bit")
    if mutant is None:
        pytest.skip("no constant weights")
    before, after = artifact.inspection, inspect_model(mutant.model)
    weights = _weights(cell, before)
    assert _changes(before, after) == {weights.index: {"values"}}
    unsigned = np.uint32 if weights.dtype == "FLOAT32" else np.uint16
    old = before.constant_values(weights).reshape(-1)
    new = after.constant_values(weights).reshape(-1)
    (index,) = np.flatnonzero(old != new)
    assert abs(old[index]) == np.abs(old).max()
    assert int(old.view(unsigned)[index] ^ new.view(unsigned)[index]) == 1 << MANTISSA_BIT[weights.dtype]


def test_mutants_are_deterministic_and_the_seed_picks_the_element(
    built: dict[str, tuple[Cell, CellArtifact | None]],
) -> None:
    cell, artifact = _get(built, "fully_connected-static_int8")
    first = mutants(artifact.model, cell.op.op_code, seed=0)
    assert first == mutants(artifact.model, cell.op.op_code, seed=0)
    other = _by_kind(cell, artifact, seed=1)
    for mutant in first:
        if mutant.kind in ("weight+1step", "scale*1.02", "bias"):
            assert other[mutant.kind].description != mutant.description, mutant.kind
        if mutant.kind in ("zero_point+1", "fused-relu"):
            assert other[mutant.kind].model == mutant.model, mutant.kind


def test_an_operator_the_model_lacks_is_a_caller_error(
    built: dict[str, tuple[Cell, CellArtifact | None]],
) -> None:
    _, artifact = _get(built, "fully_connected-fp32")
    with pytest.raises(ValueError, match="no CONV_2D operator"):
        mutants(artifact.model, "CONV_2D")

"""Does the converted model hold what the cell promises? Op code, dtypes, granularity, metadata.

Reads the MainLayer view (model/layer.py); a mismatch says what the converter did instead.
"""

from __future__ import annotations

import dataclasses

from pytest_litert.matrix.cells import Cell
from pytest_litert.matrix.ops import INPUT_POSITIONS
from pytest_litert.matrix.recipes import FP16_ACCUMULATION, FP16_HINT
from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo
from pytest_litert.model.layer import MainLayer, main_layer


@dataclasses.dataclass(frozen=True)
class Mismatch:
    attribute: str
    expected: str
    observed: str

    def __str__(self) -> str:
        return f"{self.attribute} is {self.observed} (expected {self.expected})"


def structural_mismatches(cell: Cell, inspection: ModelInspection, layer: MainLayer | None) -> list[Mismatch]:
    """Everything about the model that differs from what the cell promises."""
    want = cell.expected
    if layer is None:
        return [Mismatch("op_codes", want.op_code, ",".join(inspection.op_codes) or "none")]
    found: list[Mismatch] = []
    for kind, indices in (("input", inspection.inputs), ("output", inspection.outputs)):
        for index in indices:
            tensor = inspection.tensors[index]
            if tensor.dtype != want.io_dtype:
                found.append(Mismatch(f"{kind} {tensor.name} dtype", want.io_dtype, tensor.dtype))
    activation = layer.data
    if activation.dtype != want.activation_dtype:
        found.append(Mismatch("activation_dtype", want.activation_dtype, activation.dtype))
    weights = layer.weights
    if weights.dtype != want.weight_dtype:
        found.append(Mismatch("weight_dtype", want.weight_dtype, weights.dtype))
    if not same_granularity(weights, want.weight_granularity, cell.op.positions.channel_axis):
        found.append(Mismatch("weight_granularity", want.weight_granularity, weights.granularity))
    elif weights.granularity == "per-channel" and weights.quantized_dimension != cell.op.positions.channel_axis:
        found.append(Mismatch("weight quantized_dimension", str(cell.op.positions.channel_axis),
                              str(weights.quantized_dimension)))
    for key, value in want.metadata:
        stored = inspection.metadata.get(key)
        if stored is None:
            found.append(Mismatch(f"metadata {key!r}", value, "absent"))
        elif metadata_text(stored) != value:
            found.append(Mismatch(f"metadata {key!r}", value, metadata_text(stored)))
    return found


def metadata_text(stored: bytes) -> str:
    """A metadata buffer as text (the converter pads some with NUL bytes)."""
    return stored.rstrip(b"\0").decode("utf-8", "replace")


def same_granularity(weights: TensorInfo, promised: str, channel_axis: int) -> bool:
    """Granularity compared by meaning: one scale over an output-channel dimension of size 1
    (a layer with one output channel) is per-channel and per-tensor at once; the converter
    stores one. The axis is the operator's (a per-tensor tensor's quantized_dimension is 0,
    which for BATCH_MATMUL is the batch)."""
    if weights.granularity == promised:
        return True
    one_channel = len(weights.shape) > channel_axis and weights.shape[channel_axis] == 1
    return one_channel and {weights.granularity, promised} == {"per-tensor", "per-channel"}


def explain_mismatches(cell: Cell, found: list[Mismatch], weight_count: int) -> str:
    text = "; ".join(map(str, found))
    if any(m.attribute == "weight_dtype" and m.observed == "FLOAT32" for m in found):
        text += (
            f". The {cell.recipe.name} recipe did not apply: the converter left the "
            f"{weight_count}-element weights FLOAT32"
        )
        if cell.recipe.name == "dynamic_int8" and weight_count < 1024:
            text += " (dynamic-range quantization skips constants under 1024 elements)"
    return text


def infer_recipe(inspection: ModelInspection, op_code: str) -> str:
    """The matrix recipe a file holds, read from everything that tells them apart: graph I/O
    dtype (static int8, int16x8), the stored weight dtype, the weight scales' granularity on
    the operator's channel axis (the *_per_tensor recipes), INT4 weights behind DEQUANTIZE
    (weight-only) or not (dynamic), and for float16 weights the accumulation metadata
    (the seed's fp16accfp16 hint; TensorFlow's standard recipe writes fp16accfp32)."""
    layer = main_layer(inspection, op_code)
    assert layer is not None
    weights = layer.weights
    constant = weights.index not in inspection.inputs  # a two-input matmul's "weights" are data
    per_tensor = constant and not same_granularity(weights, "per-channel", INPUT_POSITIONS[op_code].channel_axis)
    io = inspection.tensors[inspection.inputs[0]].dtype
    if io == "INT16":
        return "int16x8"
    if io == "INT8":
        return "static_int8_per_tensor" if per_tensor else "static_int8"
    if weights.dtype == "INT8":
        return "dynamic_int8_per_tensor" if per_tensor else "dynamic_int8"
    if weights.dtype == "INT4":
        return "int4_weight_only" if "weights" in layer.behind_dequantize else "int4"
    hint = metadata_text(inspection.metadata.get(FP16_HINT, b""))
    if hint == FP16_ACCUMULATION:  # also on a two-input matmul, which has no weights to store
        return "fp16"
    return "fp16_weights" if weights.dtype == "FLOAT16" else "fp32"

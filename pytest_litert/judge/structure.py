"""Does the converted model hold what the cell promises? Op code, dtypes, granularity, metadata.

Reads the MainLayer view (model/layer.py); a mismatch says what the converter did instead.
"""

from __future__ import annotations

import dataclasses

from pytest_litert.matrix.cells import Cell
from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo
from pytest_litert.model.layer import MainLayer


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

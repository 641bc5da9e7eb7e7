"""The layer under test as the file holds it: found once per model and handed to every stage.

Which input of an operator is data, weights or bias is a property of the operator (TRANSPOSE_CONV
takes output_shape, weights, data, bias), so it is read from the table matrix/ops.py keeps per op code;
weights and bias are followed through DEQUANTIZE to the stored constants (fp16 weights hide
behind one). Structure checks, bounds, the NumPy reference, the constants check, records and
mutations all take this view instead of re-deriving tensor positions.
"""

from __future__ import annotations

import dataclasses

from pytest_litert.matrix.ops import INPUT_POSITIONS
from pytest_litert.model.flatbuffer import ModelInspection, OperatorInfo, TensorInfo


@dataclasses.dataclass(frozen=True)
class MainLayer:
    """The main operator and its tensors. `weights` is the stored constant, or the second
    runtime input of a two-input BATCH_MATMUL; `bias` is None where the layer has none."""

    operator: OperatorInfo
    data: TensorInfo
    weights: TensorInfo
    bias: TensorInfo | None
    output: TensorInfo
    behind_dequantize: frozenset[str] = frozenset()  # roles ("weights", "bias") stored behind DEQUANTIZE

    @property
    def fused_activation(self) -> str:
        return self.operator.fused_activation


def delegate_covers(layer: MainLayer | None, facts: dict[str, object]) -> bool | None:
    """Whether a DELEGATE node computes the layer's output, from a run's facts (the delegate
    nodes' output tensors); None when the run reported no node outputs."""
    outputs = facts.get("delegate_outputs")
    if layer is None or not isinstance(outputs, list):
        return None
    return layer.output.index in outputs


def main_layer(inspection: ModelInspection, op_code: str) -> MainLayer | None:
    """The first `op_code` operator of the model as a MainLayer; None if there is none."""
    operator = inspection.find_op(op_code)
    if operator is None:
        return None
    positions = INPUT_POSITIONS[op_code]
    weights_index = operator.inputs[positions.weights]
    weights = inspection.source_tensor(weights_index)
    behind = {"weights"} if weights.index != weights_index else set()
    bias = None
    if positions.bias is not None and positions.bias < len(operator.inputs):
        bias_index = operator.inputs[positions.bias]
        bias = inspection.source_tensor(bias_index)
        if bias.index != bias_index:
            behind.add("bias")
    return MainLayer(
        operator=operator,
        data=inspection.tensors[operator.inputs[positions.data]],
        weights=weights,
        bias=bias,
        output=inspection.tensors[operator.outputs[0]],
        behind_dequantize=frozenset(behind),
    )

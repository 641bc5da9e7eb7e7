"""The layer under test as the file holds it: found once per model and handed to every stage.

Which input of an operator is data, weights or bias is a property of the operator (TRANSPOSE_CONV
takes output_shape, weights, data, bias), so it is read from the table matrix/ops.py keeps per op code;
weights and bias are followed through DEQUANTIZE to the stored constants (fp16 weights hide
behind one). Structure checks, bounds, the NumPy reference, the constants check, records and
mutations all take this view instead of re-deriving tensor positions.

A layer may be more than its operator. A Keras Dense on a 3-D input with a fixed batch becomes
one FULLY_CONNECTED with keep_num_dims, but with a dynamic batch (Input(shape=(seq, features)),
Keras's default) the converter wraps it: RESHAPE to (batch * seq, features), FULLY_CONNECTED,
RESHAPE back, the new shapes computed at run time by SHAPE, GATHER, REDUCE_PROD, PACK and
CONCATENATION (measured, TensorFlow 2.21, every recipe). `operators` holds all of them: they
move no numbers, so the layer is still one layer.
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
    operators: frozenset[int] = frozenset()  # indices of every operator that is part of the layer

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


def main_layer(inspection: ModelInspection, op_code: str, op_index: int | None = None) -> MainLayer | None:
    """The first `op_code` operator of the model (or the one at `op_index`, in a whole model) as a
    MainLayer; None if there is none."""
    operator = inspection.find_op(op_code) if op_index is None else inspection.operators[op_index]
    if operator is None or operator.op_code != op_code:
        return None
    positions = INPUT_POSITIONS[op_code]
    weights_index = operator.inputs[positions.weights]
    weights = inspection.source_tensor(weights_index)
    behind = {"weights"} if weights.index != weights_index else set()
    constants = [weights_index]
    bias = None
    if positions.bias is not None and positions.bias < len(operator.inputs):
        bias_index = operator.inputs[positions.bias]
        constants.append(bias_index)
        bias = inspection.source_tensor(bias_index)
        if bias.index != bias_index:
            behind.add("bias")
    data_index = operator.inputs[positions.data]
    return MainLayer(
        operator=operator,
        data=inspection.tensors[data_index],
        weights=weights,
        bias=bias,
        output=inspection.tensors[operator.outputs[0]],
        behind_dequantize=frozenset(behind),
        operators=_layer_operators(inspection, operator, data_index, constants),
    )


RESHAPE = "RESHAPE"
# Operators that only compute a RESHAPE's new shape (the dynamic-batch wrap, see above).
SHAPE_ARITHMETIC = frozenset({"SHAPE", "GATHER", "REDUCE_PROD", "PACK", "CONCATENATION", "STRIDED_SLICE",
                              "SLICE", "CAST"})


def _layer_operators(inspection: ModelInspection, operator: OperatorInfo, data_index: int,
                     constants: list[int]) -> frozenset[int]:
    """The operator, the DEQUANTIZE chains in front of its weights and bias, a RESHAPE feeding
    its data and one taking its output, and the shape arithmetic whose results go nowhere but
    into those RESHAPEs' shape operand (found to a fixed point: SHAPE feeds two GATHERs)."""
    found = {operator.index}
    for index in constants:
        found |= _dequantize_chain(inspection, index)
    reshapes = {op.index for op in (inspection.producer(data_index), _only_consumer(inspection, operator.outputs[0]))
                if op is not None and op.op_code == RESHAPE}
    found |= reshapes
    grown = bool(reshapes)
    while grown:
        grown = False
        for candidate in inspection.operators:
            if candidate.index in found or candidate.op_code not in SHAPE_ARITHMETIC:
                continue
            uses = [use for out in candidate.outputs for use in _uses(inspection, out)]
            if uses and all(op in found and (op not in reshapes or position == 1) for op, position in uses):
                found.add(candidate.index)
                grown = True
    return frozenset(found)


def _dequantize_chain(inspection: ModelInspection, tensor_index: int) -> set[int]:
    found = set()
    producer = inspection.producer(tensor_index)
    while producer is not None and producer.op_code == "DEQUANTIZE":
        found.add(producer.index)
        producer = inspection.producer(producer.inputs[0])
    return found


def _uses(inspection: ModelInspection, tensor_index: int) -> list[tuple[int, int]]:
    """(operator index, input position) of every use of a tensor."""
    return [(op.index, position) for op in inspection.operators
            for position, index in enumerate(op.inputs) if index == tensor_index]


def _only_consumer(inspection: ModelInspection, tensor_index: int) -> OperatorInfo | None:
    users = [op for op in inspection.operators if tensor_index in op.inputs]
    return users[0] if len(users) == 1 else None

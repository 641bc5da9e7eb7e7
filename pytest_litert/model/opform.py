"""Which matrix operator, at which shape, one operator of a whole model is: read from the file.

A cut operator (model/cut.py) is judged as a matrix cell, so it must be one the matrix models:
its op code, tensor ranks, options (strides, dilation, padding, keep_num_dims, adjoints, fused
activation) and shapes map onto an OpSpec and a LayerShape. Anything else is "not judged",
with the reason, never judged by a model that does not fit it.
"""

from __future__ import annotations

import math

from pytest_litert.matrix.ops import OPS, LayerShape, OpSpec
from pytest_litert.model.flatbuffer import ModelInspection, OperatorInfo
from pytest_litert.model.layer import MainLayer

MODELLED_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
_PADDING = {0: "same", 1: "valid"}  # schema Padding: SAME = 0, VALID = 1


class NotJudged(ValueError):
    """The operator is outside what the matrix models; the message says why."""


def op_form(inspection: ModelInspection, layer: MainLayer) -> tuple[OpSpec, LayerShape]:
    """The matrix operator and shape of a single-operator model's main layer; NotJudged else."""
    op = layer.operator
    if op.fused_activation not in MODELLED_ACTIVATIONS:
        raise NotJudged(f"fused activation {op.fused_activation} (the matrix models {', '.join(MODELLED_ACTIVATIONS)})")
    data, weights = layer.data.shape, layer.weights.shape
    if op.op_code == "FULLY_CONNECTED":
        spec, shape = _fully_connected(op, data, weights, layer.weights.constant)
    elif op.op_code == "BATCH_MATMUL":
        spec, shape = _batch_matmul(op, data, weights, layer.weights.constant)
    elif op.op_code in ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV"):
        spec, shape = _convolution(op, data, weights)
    else:
        raise NotJudged(f"{op.op_code} is not a matrix operator")
    try:
        spec.validate(shape)
    except ValueError as error:
        raise NotJudged(str(error)) from None
    _same_output(spec, shape, data, inspection.tensors[op.outputs[0]].shape)
    return spec, shape


def _fully_connected(op: OperatorInfo, data: tuple[int, ...], weights: tuple[int, ...],
                     constant: bool) -> tuple[OpSpec, LayerShape]:
    if not constant or len(weights) != 2:
        raise NotJudged("FULLY_CONNECTED with run-time or non-2-D weights (the matrix's weights are stored)")
    n, k = weights
    if not data or data[-1] != k:
        raise NotJudged(f"FULLY_CONNECTED input {data} does not end in the weights' K={k}")
    if len(data) == 2:
        return OPS["fully_connected"], LayerShape(m=data[0], k=k, n=n)
    if len(data) == 3 and op.option("keepNumDims"):
        return OPS["fully_connected_3d"], LayerShape(batch=data[0], m=data[1], k=k, n=n)
    raise NotJudged(f"FULLY_CONNECTED on a rank-{len(data)} input"
                    f"{'' if op.option('keepNumDims') else ' without keep_num_dims (the output is flattened)'}: "
                    "the matrix has Dense on 2-D and (batch, sequence, features) inputs")


def _batch_matmul(op: OperatorInfo, data: tuple[int, ...], weights: tuple[int, ...],
                  constant: bool) -> tuple[OpSpec, LayerShape]:
    if op.adjoint:
        raise NotJudged("BATCH_MATMUL with adj_x / adj_y (the matrix's matmul has none)")
    if len(data) < 3 or len(weights) != len(data) or data[:-2] != weights[:-2] or data[-1] != weights[-2]:
        raise NotJudged(f"BATCH_MATMUL {data} x {weights}: the matrix has equal batch dimensions, no broadcasting")
    spec = OPS["batch_matmul_const" if constant else "batch_matmul"]
    if constant and len(weights) != 3:
        raise NotJudged(f"BATCH_MATMUL with a rank-{len(weights)} constant (the matrix's is (batch, k, n))")
    return spec, LayerShape(batch=math.prod(data[:-2]), m=data[-2], k=data[-1], n=weights[-1])


def _convolution(op: OperatorInfo, data: tuple[int, ...], weights: tuple[int, ...]) -> tuple[OpSpec, LayerShape]:
    if len(data) != 4 or len(weights) != 4:
        raise NotJudged(f"{op.op_code} on {data} with weights {weights}: the matrix's are NHWC and 4-D")
    pairs = {"kernel": weights[1:3], "stride": (op.option("strideH", 1), op.option("strideW", 1)),
             "dilation": (op.option("dilationHFactor", 1), op.option("dilationWFactor", 1))}
    uneven = [f"{name} {value}" for name, value in pairs.items() if len(set(value)) > 1]
    if uneven:
        raise NotJudged(f"{op.op_code} with {', '.join(uneven)}: the matrix models square kernels, strides "
                        "and dilations")
    kernel, stride, dilation = (int(pairs[name][0]) for name in ("kernel", "stride", "dilation"))
    padding = _PADDING.get(int(op.option("padding")), "")
    if not padding:
        raise NotJudged(f"{op.op_code} padding {op.option('padding')}")
    channels = data[3]
    if op.op_code == "DEPTHWISE_CONV_2D":
        if weights[0] != 1 or weights[3] % channels:
            raise NotJudged(f"DEPTHWISE_CONV_2D filter {weights} on {channels} channels")
        name, n = "depthwise_conv2d", weights[3]
    else:
        if weights[3] != channels:
            raise NotJudged(f"{op.op_code} filter {weights} on {channels} channels (grouped)")
        n = weights[0]
        name = {"TRANSPOSE_CONV": "transpose_conv"}.get(
            op.op_code, "conv2d_pointwise" if kernel == 1 and stride == 1 else "conv2d")  # SAME = VALID at 1x1
    shape = LayerShape(batch=data[0], height=data[1], width=data[2], k=channels, n=n, kernel=kernel,
                       stride=stride, dilation=dilation if op.op_code != "TRANSPOSE_CONV" else 1,
                       padding=padding)  # type: ignore[arg-type]  # checked above
    return OPS[name], shape


def _same_output(spec: OpSpec, shape: LayerShape, data: tuple[int, ...], output: tuple[int, ...]) -> None:
    """The matrix's layer on this shape gives the operator's output shape (TRANSPOSE_CONV's stored
    output_shape, SAME/VALID arithmetic), else the matrix's model is not this operator."""
    if spec.matrix_product:
        expected = (*data[:-1], shape.n)
    else:
        expected = (shape.batch, _spatial(spec, shape, shape.height), _spatial(spec, shape, shape.width), shape.n)
    if tuple(expected) != tuple(output):
        raise NotJudged(f"the matrix's {spec.name} on {data} gives {tuple(expected)}, the operator {tuple(output)}")


def _spatial(spec: OpSpec, shape: LayerShape, size: int) -> int:
    """One output dimension: TensorFlow's SAME / VALID rules (a transposed convolution grows)."""
    if spec.op_code == "TRANSPOSE_CONV":
        return size * shape.stride if shape.padding == "same" else (size - 1) * shape.stride + max(shape.kernel,
                                                                                                     shape.stride)
    if shape.padding == "same":
        return -(-size // shape.stride)
    return (size - ((shape.kernel - 1) * shape.dilation + 1)) // shape.stride + 1

"""Between the model's integers and the floats they stand for, with the file's own parameters.

One place for every quantize / dequantize the package does: graph inputs (matched to tensors by
name), stored constants (per-tensor or per-channel), graph outputs; and the weight layout
TFLite stores (FC (n, k), CONV_2D (n, kh, kw, k), TRANSPOSE_CONV (n, kh, kw, k)) turned into
the layout Keras keeps.
"""

from __future__ import annotations

import numpy as np

from pytest_litert.model.artifact import Arrays
from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo

INTEGER_DTYPES = ("INT8", "INT16")


def input_tensors(inspection: ModelInspection, names: list[str],
                  signature_names: dict[str, str] | None = None) -> dict[str, int]:
    """Map input names to tensor indices (tensors are named `serving_default_<name>:0`)."""
    found = {}
    for name in names:
        signature = (signature_names or {}).get(name, name)
        if signature in inspection.signature_inputs:
            found[name] = inspection.signature_inputs[signature]
            continue
        for index in inspection.inputs:
            tensor_name = inspection.tensors[index].name
            if tensor_name == signature or tensor_name.startswith(f"serving_default_{signature}:"):
                found[name] = index
    if len(found) != len(names):
        missing = sorted(set(names) - set(found))
        raise ValueError(f"the model has no input tensor for {missing}; its inputs are "
                         f"{[inspection.tensors[i].name for i in inspection.inputs]}")
    return found


def quantize(tensor: TensorInfo, values: np.ndarray) -> np.ndarray:
    """Float values -> what an integer graph tensor takes (float32 for float tensors)."""
    if tensor.dtype not in INTEGER_DTYPES:
        return values.astype(np.float32)
    info = np.iinfo(tensor.dtype.lower())
    q = np.round(values / tensor.scales[0]) + tensor.zero_points[0]
    return np.clip(q, info.min, info.max).astype(tensor.dtype.lower())


def dequantize(tensor: TensorInfo, values: np.ndarray) -> np.ndarray:
    """The float64 values that integer `values` of `tensor` stand for (per-channel along its
    quantized dimension); float values are returned widened, unchanged."""
    wide = np.asarray(values).astype(np.float64)
    if not tensor.scales:
        return wide
    shape = [1] * wide.ndim
    if wide.ndim:
        shape[tensor.quantized_dimension] = -1
    scales = np.asarray(tensor.scales).reshape(shape) if len(tensor.scales) > 1 else tensor.scales[0]
    zeros = (np.asarray(tensor.zero_points).reshape(shape) if len(tensor.zero_points) > 1
             else (tensor.zero_points[0] if tensor.zero_points else 0))
    return np.asarray((wide - zeros) * scales)


def dequantize_constant(inspection: ModelInspection, tensor: TensorInfo) -> np.ndarray:
    """A constant's float64 values, dequantized once per model (read-only, shared by every check)."""
    found: dict[int, np.ndarray] = inspection.__dict__.setdefault("_dequantized", {})
    if tensor.index not in found:
        found[tensor.index] = dequantize(tensor, inspection.constant_values(tensor))
        found[tensor.index].flags.writeable = False
    return found[tensor.index]


def quantize_inputs(inspection: ModelInspection, inputs: Arrays,
                    signature_names: dict[str, str] | None = None) -> Arrays:
    """Float inputs -> what the model's input tensors take (unchanged for float inputs)."""
    tensors = input_tensors(inspection, list(inputs), signature_names)
    return {name: quantize(inspection.tensors[tensors[name]], value) for name, value in inputs.items()}


def dequantize_inputs(inspection: ModelInspection, inputs: Arrays,
                      signature_names: dict[str, str] | None = None) -> Arrays:
    """Model inputs -> the float32 values they stand for."""
    tensors = input_tensors(inspection, list(inputs), signature_names)
    result = {}
    for name, value in inputs.items():
        tensor = inspection.tensors[tensors[name]]
        result[name] = dequantize(tensor, value).astype(np.float32) if tensor.dtype in INTEGER_DTYPES else value
    return result


def dequantize_output(inspection: ModelInspection, output: np.ndarray) -> np.ndarray:
    tensor = inspection.tensors[inspection.outputs[0]]
    return dequantize(tensor, output) if tensor.dtype in INTEGER_DTYPES else output.astype(np.float64)


def to_keras_layout(op_code: str, weights: np.ndarray) -> np.ndarray:
    """TFLite stores FC (n, k), CONV_2D (n, kh, kw, k), TRANSPOSE_CONV (n, kh, kw, k)."""
    if op_code == "FULLY_CONNECTED":
        return weights.T
    if op_code == "CONV_2D":
        return weights.transpose(1, 2, 3, 0)
    if op_code == "TRANSPOSE_CONV":
        return weights.transpose(1, 2, 0, 3)
    return weights

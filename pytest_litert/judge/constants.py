"""The constants check: the file's stored weights and bias against the Keras layer's."""

from __future__ import annotations

import numpy as np

from pytest_litert.judge import tolerance
from pytest_litert.judge.checks import Check
from pytest_litert.judge.layer_math import keras_kernel
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo
from pytest_litert.model.layer import MainLayer
from pytest_litert.model.quantization import dequantize_constant


def constants_check(cell: Cell, inspection: ModelInspection, layer: MainLayer | None, kernel: np.ndarray | None,
                    bias: np.ndarray | None) -> Check | None:
    """The file's stored weights and bias against the Keras layer's, element by element,
    within what rounding to their format allows: half a quantization step (plus the
    float32 rounding of the scale product), u16*|w| for float16, nothing for float32.
    Deterministic and input-free: a changed weight, scale or bias cannot hide here."""
    if kernel is None or layer is None:
        return None
    pairs = [("weights", layer.weights, kernel)]
    if layer.bias is not None and bias is not None:
        pairs.append(("bias", layer.bias, bias))
    worst, where = 0.0, "as stored"
    for name, tensor, expected in pairs:
        stored = _keras_layout(cell, name, dequantize_constant(inspection, tensor))
        if stored.shape != expected.shape:
            return Check("constants vs keras", False, f"{name} shape {stored.shape} != Keras {expected.shape}")
        reference = np.abs(expected.astype(np.float64))
        allowed = _keras_layout(cell, name, _quantization_allowance(tensor, inspection)) + 4 * tolerance.U32 * reference
        if tensor.dtype == "FLOAT16":
            allowed = np.maximum(tolerance.U16 * reference, tolerance.FP16_SUBNORMAL_HALF_STEP)
        error = np.abs(stored - expected)
        ratio = np.divide(error, allowed, out=np.where(error > 0, np.inf, 0.0), where=allowed > 0)
        index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if float(ratio[index]) >= worst:
            worst = float(ratio[index])
            where = (f"{name}{tuple(int(i) for i in index)}: stored {float(stored[index]):.6g} vs Keras "
                     f"{float(expected[index]):.6g}, allowance {float(allowed[index]):.3g} ({tensor.dtype})")
    message = f"largest difference is {worst:.2f} of its rounding allowance, at {where}"
    return Check("constants vs keras", worst <= 1.0, message)


def _quantization_allowance(tensor: TensorInfo, inspection: ModelInspection) -> np.ndarray:
    """Half a quantization step per element, in the file's layout (zero for floats)."""
    shape = inspection.constant_values(tensor).shape
    if not tensor.scales:
        return np.zeros(shape)
    scales = np.asarray(tensor.scales, np.float64)
    if scales.size > 1:
        axes = [1] * len(shape)
        axes[tensor.quantized_dimension] = -1
        scales = scales.reshape(axes)
    return np.broadcast_to(scales / 2.0, shape).astype(np.float64)


def _keras_layout(cell: Cell, name: str, values: np.ndarray) -> np.ndarray:
    return values if name == "bias" else keras_kernel(cell.op, cell.shape, values)

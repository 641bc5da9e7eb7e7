"""The constants check: the file's stored weights and bias against the Keras layer's.

Per stored element w' against the Keras value w (docs/tolerances.md derives each term):
- a folded normalization (whole models) makes the converter's float32 weight w(1+theta) and
  keras_side.folded_weights' another such product, each five float32 roundings (add, sqrt,
  divide, the gamma factor, the weight): |theta| <= phi = 2*gamma(5, u32); 0 when unfolded;
- float32 stored: phi*|w|;
- float16 stored: max(u16*(1+phi)*|w|, eta) + phi*|w| (float16 rounding, subnormals eta);
- int8 / int4 / int16 / int32 / int64 with scale s: s/2 + gamma(2, u32)*((1+phi)*|w| + s) +
  phi*|w|: half a step, plus the converter's float32 arithmetic (w * (1/s) with two
  roundings; or w / s in double with s then stored in float32: u32*(|w| + s)).
"""

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
    converter's float32 arithmetic), float16 rounding, and a folded normalization's float32
    arithmetic (module docstring).
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
        allowed = _allowance(tensor, _keras_layout(cell, name, _half_step(tensor, inspection)),
                             np.abs(expected.astype(np.float64)))
        error = np.abs(stored - expected)
        ratio = np.divide(error, allowed, out=np.where(error > 0, np.inf, 0.0), where=allowed > 0)
        index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if float(ratio[index]) >= worst:
            worst = float(ratio[index])
            where = (f"{name}{tuple(int(i) for i in index)}: stored {float(stored[index]):.6g} vs Keras "
                     f"{float(expected[index]):.6g}, allowance {float(allowed[index]):.3g} ({tensor.dtype})")
    message = f"largest difference is {worst:.2f} of its rounding allowance, at {where}"
    return Check("constants vs keras", worst <= 1.0, message, worst)


FOLDING = 2.0 * tolerance.gamma(5, tolerance.U32)  # phi: two float32 folds of a normalization


def _allowance(tensor: TensorInfo, half_step: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """How far the stored value may lie from the Keras one (module docstring)."""
    folded = FOLDING * magnitude
    if tensor.dtype == "FLOAT16":
        return np.maximum(tolerance.U16 * (1.0 + FOLDING) * magnitude, tolerance.FP16_SUBNORMAL_HALF_STEP) + folded
    if not tensor.scales:
        return folded
    arithmetic = tolerance.gamma(2, tolerance.U32) * ((1.0 + FOLDING) * magnitude + 2.0 * half_step)
    return half_step + arithmetic + folded


def _half_step(tensor: TensorInfo, inspection: ModelInspection) -> np.ndarray:
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

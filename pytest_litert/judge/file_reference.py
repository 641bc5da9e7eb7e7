"""The float reference of one operator when there is no Keras model: the file's own numbers.

Without the Keras model a whole model's operator is judged against what its file stands for:
the stored constants dequantized (fp16 widened, int8 scaled, the bias at its own scale), the
operator's float inputs (integer ones dequantized with their own scale and zero point), the
layer evaluated in float64 (judge/layer_math.py) and clamped by its fused activation. The lanes
are then held to the recipe's derived bound around it, as a matrix cell is around Keras.

What this cannot see: a fault in the file's own numbers (a changed weight, scale or bias is
part of the reference too). Only the Keras-side checks catch those.
"""

from __future__ import annotations

import numpy as np

from pytest_litert.judge.layer_math import apply, keras_kernel
from pytest_litert.matrix.ops import LayerShape, OpSpec
from pytest_litert.model.artifact import Arrays, LayerWeights
from pytest_litert.model.flatbuffer import ModelInspection
from pytest_litert.model.layer import MainLayer
from pytest_litert.model.quantization import dequantize_constant

CLAMPS = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


def file_weights(spec: OpSpec, shape: LayerShape, inspection: ModelInspection, layer: MainLayer) -> LayerWeights:
    """The stored weights and bias, dequantized, in the matrix's Keras layout (read once: the
    bound, the reference and the record all take these)."""
    kernel = (keras_kernel(spec, shape, dequantize_constant(inspection, layer.weights))
              if spec.constant_weights else None)
    bias = dequantize_constant(inspection, layer.bias) if layer.bias is not None else None
    return LayerWeights(kernel, bias)


def file_output(spec: OpSpec, shape: LayerShape, layer: MainLayer, weights: LayerWeights,
                float_inputs: Arrays) -> np.ndarray:
    """The operator in float64 on its float inputs with the file's own constants."""
    x = np.asarray(float_inputs["x"], np.float64)
    w = weights.kernel if weights.kernel is not None else float_inputs["y"]
    value = apply(spec, shape, x, np.asarray(w, np.float64))
    if weights.bias is not None:
        value = value + np.asarray(weights.bias, np.float64)
    low, high = CLAMPS[layer.fused_activation]
    return np.asarray(np.clip(value, low, high))

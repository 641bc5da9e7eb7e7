"""The third reference: the .tflite's own tensors evaluated in NumPy, independent of LiteRT.

It answers "does LiteRT compute the model that is in the file?", so a disagreement with
Keras can be told apart as a converter change (NumPy agrees with LiteRT, both differ from
Keras) or a kernel bug (LiteRT differs from NumPy computing the same file). Every lane is
held to it: the reference kernels (`kernels="reference"`) and the optimized lanes
(`kernels="xnnpack"`), each with the arithmetic it is due.

Modelled, per what LiteRT's kernels do (measured: agreement to ~1e-7):
- static int8 / int16x8: exact integer accumulation of (q_x - zp_x) * q_w plus the
  quantized bias, requantization by s_x*s_w/s_out rounded half away from zero, output
  zero point, fused activation clamp, saturation. A correct kernel rounds the same real
  number, so it may differ by one step only where that number is within its requantization
  error of a rounding tie (`ties`, docs/tolerances.md).
- dynamic int8 / int4: weights dequantized from the file; inputs quantized at run time to
  int8 as the kernel does it. Reference kernels: per row (FULLY_CONNECTED, BATCH_MATMUL:
  asymmetric if the op's asymmetric_quantize_inputs is set, else symmetric) or per image
  (CONV_2D: asymmetric with per-channel weights, symmetric with a single scale;
  TRANSPOSE_CONV and DEPTHWISE_CONV_2D: asymmetric), as TFLite's portable source computes
  it, an input within the other builds' rounding of a tie allowed either step. XNNPACK, where
  it takes the layer: its own asymmetric qd8 recipe (xnnpack_model.py). Then float arithmetic.
- fp32 / fp16 / weight-only int4: the file's weights (fp16 ones widened, int4 ones
  dequantized, as the DEQUANTIZE in front of the layer does) in float64; a lane computing
  in fp16 is allowed the fp16-arithmetic terms on top.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pytest_litert.judge import ties, tolerance, xnnpack_model
from pytest_litert.judge.layer_math import apply, keras_kernel
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo
from pytest_litert.model.layer import MainLayer
from pytest_litert.model.quantization import dequantize_constant

_CLAMPS = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}


class Unmodelled(ValueError):
    """The NumPy reference does not model this model; the other references still run."""


@dataclasses.dataclass(frozen=True)
class NumpyOutput:
    """`value` is float (dequantized); `quantized` the integer output of integer models, with
    `allowed` the (lowest, highest) integer a correct kernel may give per element (ties.py)."""

    value: np.ndarray
    quantized: np.ndarray | None
    bound: tolerance.Bound | None  # against a LiteRT lane, for float outputs
    allowed: tuple[np.ndarray, np.ndarray] | None = None
    unclamped: np.ndarray | None = None  # integer models: the output before saturation


def evaluate(cell: Cell, inspection: ModelInspection, layer: MainLayer | None, model_inputs: dict[str, np.ndarray],
             input_index: dict[str, int], *, kernels: str = "reference", fp16_arithmetic: bool = False,
             flush_to_zero: bool = False) -> NumpyOutput:
    """The model in NumPy on the same inputs LiteRT gets (`input_index`: name -> tensor), as
    the reference kernels compute it (`kernels="reference"`) or as XNNPACK does where it took
    the layer (`"xnnpack"`: its own dynamic quantization); `fp16_arithmetic`: the lane computes
    in float16 (its bound grows by the float16 terms), flushing subnormals under `flush_to_zero`."""
    if layer is None or any(op.index not in layer.operators for op in inspection.operators):
        raise Unmodelled(f"models one {cell.expected.op_code} layer (plus the DEQUANTIZE of its constants and "
                         f"a RESHAPE wrap); the file has {', '.join(inspection.op_codes)}")
    if layer.operator.adjoint or layer.fused_activation not in _CLAMPS:
        raise Unmodelled(f"adj_x/adj_y or fused activation {layer.fused_activation} is not modelled")
    data = inspection.tensors[input_index["x"]]
    if data.dtype in ("INT8", "INT16"):
        return _static(cell, inspection, layer, model_inputs, input_index)
    if layer.weights.dtype in ("INT8", "INT4") and "weights" not in layer.behind_dequantize:
        rows = xnnpack_model.granularity(cell) if kernels == "xnnpack" else None
        return _dynamic(cell, inspection, layer, model_inputs["x"].astype(np.float64), rows)
    return _float(cell, inspection, layer, model_inputs, fp16_arithmetic, flush_to_zero)


def file_operands(cell: Cell, inspection: ModelInspection, layer: MainLayer,
                  model_inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """The layer's weights (Keras layout) and bias as the file holds them, in float64."""
    return _weights(cell, inspection, layer, model_inputs), _bias(inspection, layer)


def _weights(cell: Cell, inspection: ModelInspection, layer: MainLayer,
             model_inputs: dict[str, np.ndarray]) -> np.ndarray:
    if not cell.op.constant_weights:
        return model_inputs["y"].astype(np.float64)
    return keras_kernel(cell.op, cell.shape, dequantize_constant(inspection, layer.weights))


def _bias(inspection: ModelInspection, layer: MainLayer) -> np.ndarray | None:
    return dequantize_constant(inspection, layer.bias) if layer.bias is not None else None


def _float(cell: Cell, inspection: ModelInspection, layer: MainLayer,
           model_inputs: dict[str, np.ndarray], fp16_arithmetic: bool, flush_to_zero: bool) -> NumpyOutput:
    x = model_inputs["x"].astype(np.float64)
    w = _weights(cell, inspection, layer, model_inputs)
    bias = _bias(inspection, layer)
    value = _clamp(apply(cell.op, cell.shape, x, w) + (0.0 if bias is None else bias), layer)
    terms = tolerance.LayerTerms.of(cell, {"x": x, "y": w}, w if cell.op.constant_weights else None, bias)
    return NumpyOutput(value, None, tolerance.file_bound(terms, fp16_arithmetic=fp16_arithmetic,
                                                         runtime_operand=not cell.op.constant_weights,
                                                         flush_to_zero=flush_to_zero))


def _dynamic(cell: Cell, inspection: ModelInspection, layer: MainLayer, x: np.ndarray,
             xnnpack_rows: tuple[int, ...] | None) -> NumpyOutput:
    """TFLite's hybrid kernels, or with `xnnpack_rows` XNNPACK's qd8 quantization per those axes."""
    if xnnpack_rows is not None:
        x_deq, ties = xnnpack_model.quantize(x, xnnpack_rows)
    else:
        rows = (-1,) if cell.op.op_code in ("FULLY_CONNECTED", "BATCH_MATMUL") else tuple(range(1, x.ndim))
        asymmetric = layer.operator.asymmetric_inputs or _asymmetric_by_kernel(cell.op.op_code, layer.weights)
        x_deq, ties = _quantize_rows(x, rows, asymmetric=asymmetric)
    w = keras_kernel(cell.op, cell.shape, dequantize_constant(inspection, layer.weights))
    bias = _bias(inspection, layer)
    value = _clamp(apply(cell.op, cell.shape, x_deq, w) + (0.0 if bias is None else bias), layer)
    terms = tolerance.LayerTerms.of(cell, {"x": x_deq}, w, bias)
    bound = tolerance.file_bound(terms, fp16_arithmetic=False, own_activation_scale=xnnpack_rows is None)
    if ties.any():  # an input a correct kernel may round to the next step
        flips = apply(cell.op, cell.shape, ties, np.abs(w))
        bound = dataclasses.replace(bound, elementwise=bound.elementwise + flips,
                                    formula=bound.formula + " + |W| times one activation step per input a "
                                    "correct kernel may round either way")
    return NumpyOutput(value, None, bound)


def _asymmetric_by_kernel(op_code: str, weights: TensorInfo) -> bool:
    """Whether the reference kernel quantizes the inputs asymmetrically whatever the op's
    options say. CONV_2D (conv.cc): only its per-channel hybrid path (EvalHybridPerChannel,
    AsymmetricQuantizeFloats per batch) does, and Prepare takes that path only when the filter
    has more than one scale and they are not all equal; else EvalHybrid quantizes each batch
    symmetrically (SymmetricQuantizeFloats). TRANSPOSE_CONV: asymmetric (measured, also with
    one scale). DEPTHWISE_CONV_2D (depthwise_conv.cc): its only hybrid path,
    EvalHybridPerChannel, quantizes each batch asymmetrically (measured)."""
    if op_code in ("TRANSPOSE_CONV", "DEPTHWISE_CONV_2D"):
        return True
    return op_code == "CONV_2D" and len(set(weights.scales)) > 1


def _quantize_rows(x: np.ndarray, axes: tuple[int, ...], *, asymmetric: bool) -> tuple[np.ndarray, np.ndarray]:
    """Run-time int8 quantization of activations as TFLite's kernels do it
    (tensor_utils PortableSymmetricQuantizeFloats / PortableAsymmetricQuantizeFloats): symmetric,
    q = round(x * fl32(127/max|x|)); asymmetric, scale and zero point in double (the zero
    point from the end with the smaller error, rounded half away from zero), the scale stored
    as float32, then q = round(zp + x * fl32(1/scale)) in float32. Also returns, per input, its
    step where a correct kernel may round it to the other neighbouring integer, else 0
    (`_flips`; every input of a row whose zero point sits that close to a tie)."""
    x32 = x.astype(np.float32)
    if not asymmetric:
        peak = np.max(np.abs(x32), axis=axes, keepdims=True)
        safe = np.where(peak == 0, np.float32(1), peak)
        scaled = (x32 * (np.float32(127) / safe)).astype(np.float32).astype(np.float64)
        q = np.clip(_round(scaled), -127, 127)
        step = safe.astype(np.float64) / 127.0
        return np.asarray(q * step), _flips(scaled, 2 * np.abs(scaled), step)
    low = np.minimum(np.min(x32, axis=axes, keepdims=True), np.float32(0)).astype(np.float64)
    high = np.maximum(np.max(x32, axis=axes, keepdims=True), np.float32(0)).astype(np.float64)
    empty = high == low  # TFLite: all zeros, scale 1, zero point 0
    scale = np.where(empty, 1.0, (high - low) / 255.0)
    use_min = (128.0 + np.abs(low / scale)) < (127.0 + np.abs(high / scale))
    unrounded_zero = np.where(use_min, -128.0 - low / scale, 127.0 - high / scale)
    zero = np.where(empty, 0.0, np.clip(_round(unrounded_zero), -128, 127))
    step = scale.astype(np.float32).astype(np.float64)
    inverse = (np.float32(1) / step.astype(np.float32)).astype(np.float32)
    product = (x32 * inverse).astype(np.float32)
    unrounded = (zero.astype(np.float32) + product).astype(np.float32).astype(np.float64)
    q = np.where(empty, 0.0, np.clip(_round(unrounded), -128, 127))
    flips = _flips(unrounded, np.abs(product.astype(np.float64)) + np.abs(unrounded), step)
    zero_tie = _flips(unrounded_zero, 128.0 + np.abs(np.where(use_min, low, high) / scale), step) > 0
    flips = np.where(np.broadcast_to(zero_tie, flips.shape) & ~empty, np.broadcast_to(step, flips.shape), flips)
    return np.asarray((q - zero) * step), flips


def _flips(value: np.ndarray, size: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Step size where `value` (this model's float32 number to be rounded) lies within
    gamma(8, u32) * `size` of a .5 tie, else 0. A correct kernel computes the number with other
    float32 or double roundings: its scale within gamma(2) of the exact one (float32 or double
    arithmetic, then float32), so within 2*gamma(2) of this model's, the reciprocal, the product
    and the addition one rounding each on either side (a fused multiply-add one fewer): the two
    numbers differ by at most gamma(8) * (|x/scale| + |value|) (docs/tolerances.md)."""
    window = tolerance.gamma(8, tolerance.U32) * size
    near = np.abs(np.abs(value - np.floor(value)) - 0.5) <= window
    return np.asarray(np.where(near, np.broadcast_to(step, value.shape), 0.0))


def _static(cell: Cell, inspection: ModelInspection, layer: MainLayer,
            model_inputs: dict[str, np.ndarray], input_index: dict[str, int]) -> NumpyOutput:
    x_tensor = inspection.tensors[input_index["x"]]
    x = model_inputs["x"].astype(np.float64) - x_tensor.zero_points[0]
    if cell.op.constant_weights:
        w_tensor = layer.weights
        w_zero = np.asarray(w_tensor.zero_points or [0], np.float64)
        w = inspection.constant_values(w_tensor).astype(np.float64)
        w = keras_kernel(cell.op, cell.shape,
                         w - (w_zero[0] if w_zero.size == 1 else _per_channel(w_zero, w, w_tensor)))
    else:
        w_tensor = inspection.tensors[input_index["y"]]
        w = model_inputs["y"].astype(np.float64) - w_tensor.zero_points[0]
    accumulator = apply(cell.op, cell.shape, x, w)
    if layer.bias is not None:
        accumulator = accumulator + inspection.constant_values(layer.bias).astype(np.float64)
    out = inspection.tensors[inspection.outputs[0]]
    s_w = np.asarray(w_tensor.scales, np.float64)
    multiplier = x_tensor.scales[0] * s_w / out.scales[0]
    exact = accumulator * multiplier  # in output steps, before the zero point
    low, high = _CLAMPS[layer.fused_activation]
    info = np.iinfo(out.dtype.lower())
    limits = (_activation_limit(low, out, info.min, max), _activation_limit(high, out, info.max, min))
    unclamped = _round(exact) + out.zero_points[0]
    q = np.clip(unclamped, *limits)
    window = ties.window(exact, multiplier, tolerance.requantization_error(out))
    allowed = ties.allowed(exact, window, out.zero_points[0], limits)
    return NumpyOutput((q - out.zero_points[0]) * out.scales[0], q.astype(np.int64), None, allowed,
                       unclamped.astype(np.int64))


def _activation_limit(value: float, out: TensorInfo, limit: int, pick: Any) -> float:
    """A fused-activation bound in output steps, never beyond the dtype's range."""
    if not np.isfinite(value):
        return float(limit)
    return float(pick(limit, out.zero_points[0] + float(_round(np.float64(value / out.scales[0])))))


def _per_channel(zeros: np.ndarray, w: np.ndarray, tensor: TensorInfo) -> np.ndarray:
    shape = [1] * w.ndim
    shape[tensor.quantized_dimension] = -1
    return zeros.reshape(shape)


def _round(value: np.ndarray | np.float64) -> np.ndarray:
    """Round half away from zero, as TFLite's requantization does."""
    return np.sign(value) * np.floor(np.abs(value) + 0.5)


def _clamp(value: np.ndarray, layer: MainLayer) -> np.ndarray:
    low, high = _CLAMPS[layer.fused_activation]
    return np.asarray(np.clip(value, low, high))

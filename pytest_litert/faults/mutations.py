"""Fault injection: small, named corruptions of a converted .tflite, made at the flatbuffer level.

An oracle is only as good as the faults it catches. Each mutant is the correctly converted
model with one thing changed, the way a converter or kernel bug would change it, so the
matrix's checks can be run on it and must fail. Works without TensorFlow: the model is read
and re-written with the schema module that ships with ai-edge-litert (re-serialising an
unmutated model reproduces it byte for byte).

The element or channel a mutation touches is chosen from the model alone (never from
outputs): the largest magnitudes, so the fault can show on random inputs. `seed` picks the
seed-th candidate of the top `TOP_CANDIDATES` (seed 0 = the largest).

Kinds, and what each one changes:
  weight+1step, weight+4steps  The largest-|w| weight moves 1 (or 4) steps toward zero.
      Quantized weights: steps of the stored integer (INT4 unpacked, low nibble first),
      toward the zero point (per-tensor weights of BATCH_MATMUL may be asymmetric).
      Float weights (fp32, fp16 stored): a step is max|W|/127, the step an int8
      per-tensor quantization of the same tensor would have, so recipes compare.
  scale*1.02, scale*1.10  One channel's weight scale (per-channel: the channel with the
      largest scale; per-tensor: the tensor scale) times 1.02 or 1.10. A quantized bias
      of that channel gets the same factor so the model stays self-consistent (bias scale
      = input scale x weight scale). It changes no output: the kernels add the integer
      bias to the accumulator as if it had that scale (measured, LiteRT 2.3.0: XNNPACK and
      the reference kernels give identical outputs with or without the bias-scale change).
  zero_point+1  The INT8 data input's zero point + 1 (- 1 if it is 127). The output's zero
      point is left alone: the judge dequantizes with the model's own output zero point,
      which would cancel the shift.
  bias  The largest-|b| bias element grows by 10% of max|b|: in float for float biases
      (fp16 rounded), in whole bias steps (at least one) for INT32/INT64 biases.
  weights-transposed  A layout bug: two equal weight axes are transposed in place (FC
      (out, in) when square, BATCH_MATMUL (k, n) when square, the kernel's H and W when
      H == W > 1, also a depthwise filter's); otherwise two output channels swap their data
      along the operator's channel axis (scales stay put).
  fused-relu  The operator's fused activation NONE -> RELU (anything else -> NONE), where
      its options have one (FULLY_CONNECTED, CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV;
      not BATCH_MATMUL).
  mantissa-bit  The largest-|w| float weight has mantissa bit 20 (FLOAT32) or bit 7
      (FLOAT16, the same 2^-3 place) flipped: a 6-12% change of the largest weight.

A kind that does not apply to a model (no constant weights, no bias, no zero point, no
fused activation, not float) is simply absent from `mutants()`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flatbuffers  # type: ignore[import-untyped]
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from pytest_litert.matrix.ops import INPUT_POSITIONS
from pytest_litert.model.flatbuffer import TensorInfo, inspect_model
from pytest_litert.model.layer import main_layer

MUTATION_KINDS: tuple[str, ...] = (
    "weight+1step",
    "weight+4steps",
    "scale*1.02",
    "scale*1.10",
    "zero_point+1",
    "bias",
    "weights-transposed",
    "fused-relu",
    "mantissa-bit",
)
TOP_CANDIDATES = 8
BIAS_FRACTION = 0.1
MANTISSA_BIT = {"FLOAT32": 20, "FLOAT16": 7}

_STORED: dict[str, type[np.generic]] = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT8": np.int8,
                                         "INT16": np.int16, "INT32": np.int32, "INT64": np.int64}
_FLOATS = ("FLOAT32", "FLOAT16")


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One corrupted copy of a model: what kind of fault, exactly what changed, the bytes."""

    kind: str
    description: str
    model: bytes


def mutants(model: bytes, op_code: str, *, seed: int = 0, op_index: int | None = None,
            kinds: tuple[str, ...] = MUTATION_KINDS) -> list[Mutant]:
    """Every applicable mutation of `op_code`'s layer in `model` (the operator at `op_index` in
    a whole model, else the first), in MUTATION_KINDS order (or only `kinds`).

    Raises ValueError if the model has no `op_code` operator (a caller error, not a kind
    that does not apply).
    """
    found: list[Mutant] = []
    for kind in kinds:
        layer = _Layer(model, op_code, op_index)  # a fresh parse per kind: mutations never stack
        description = _MUTATORS[kind](layer, seed)
        if description is None:
            continue
        mutated = layer.serialize()
        if mutated != model:
            found.append(Mutant(kind, description, mutated))
    return found


def roundtrip(model: bytes) -> bytes:
    """Parse and re-serialise unchanged: the path every mutant takes. On converter output it
    gives back the same bytes, so a mutant differs from its model only where it was mutated."""
    root = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    return _pack(root, len(model))


def _pack(root: Any, size: int) -> bytes:
    builder = flatbuffers.Builder(size)
    builder.Finish(root.Pack(builder), file_identifier=b"TFL3")  # the schema's file_identifier
    return bytes(builder.Output())


class _Layer:
    """One model's main layer: read through the inspection (model/layer.py), written through
    the schema's object API, which re-serialises everything else unchanged."""

    def __init__(self, model: bytes, op_code: str, op_index: int | None = None) -> None:
        self.size = len(model)
        self.inspection = inspect_model(model)
        view = main_layer(self.inspection, op_code, op_index)
        if view is None:
            names = ", ".join(sorted(set(self.inspection.op_codes)))
            raise ValueError(f"the model has no {op_code} operator (it has {names})")
        self.view, self.op_code = view, op_code
        self.root: Any = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
        self.graph: Any = self.root.subgraphs[0]
        self.op: Any = self.graph.operators[view.operator.index]

    def weights(self) -> TensorInfo | None:
        """The stored weights; None when the weights are a runtime input (two-input BATCH_MATMUL)."""
        return self.view.weights if self.view.weights.constant else None

    def bias(self) -> TensorInfo | None:
        bias = self.view.bias
        return bias if bias is not None and bias.constant else None

    def data_input(self) -> TensorInfo:
        return self.view.data

    def values(self, tensor: TensorInfo) -> np.ndarray:
        """The stored values, typed and shaped (INT4 unpacked, low nibble first), writable."""
        return self.inspection.constant_values(tensor).copy()

    def store(self, tensor: TensorInfo, values: np.ndarray) -> None:
        """Write `values` back in the tensor's own encoding; the buffer keeps its length."""
        stored = self.graph.tensors[tensor.index]
        old = np.asarray(self.root.buffers[stored.buffer].data, np.uint8)
        if tensor.dtype == "INT4":
            nibbles = (values.reshape(-1).astype(np.int16) & 0x0F).astype(np.uint8)
            nibbles = np.concatenate([nibbles, np.zeros(len(nibbles) % 2, np.uint8)])
            packed = nibbles[0::2] | (nibbles[1::2] << 4)
            new = np.concatenate([packed, old[len(packed):]])
        else:
            new = np.frombuffer(np.ascontiguousarray(values, _STORED[tensor.dtype]).tobytes(), np.uint8)
        assert new.size == old.size, "a mutation must not resize a buffer"
        self.root.buffers[stored.buffer].data = new.copy()

    def quantization(self, tensor: TensorInfo) -> Any:
        """The tensor's writable quantization parameters (scale, zeroPoint)."""
        return self.graph.tensors[tensor.index].quantization

    def serialize(self) -> bytes:
        return _pack(self.root, self.size)


def _scales(tensor: TensorInfo) -> np.ndarray:
    return np.array(tensor.scales, np.float32)


def _zero_points(tensor: TensorInfo) -> np.ndarray:
    """Zero points (0 where absent); asymmetric per-tensor weights have one that is not 0."""
    return np.array(tensor.zero_points or (0,), np.int64)


def _quantized(tensor: TensorInfo) -> bool:
    return tensor.dtype not in _FLOATS and bool(tensor.scales)


def _label(tensor: TensorInfo) -> str:
    return f"{tensor.name!r} ({tensor.dtype})"


def _ranked(magnitude: np.ndarray, seed: int) -> int:
    """The seed-th largest of the top TOP_CANDIDATES (stable, so ties go to the lower index)."""
    order = np.argsort(-magnitude.reshape(-1), kind="stable")
    return int(order[seed % min(TOP_CANDIDATES, order.size)])


def _at(shape: tuple[int, ...], flat_index: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat_index, shape))


def _weight_steps(steps: int) -> Callable[[_Layer, int], str | None]:
    def mutate(layer: _Layer, seed: int) -> str | None:
        tensor = layer.weights()
        if tensor is None or not (_quantized(tensor) or tensor.dtype in _FLOATS):
            return None
        values = layer.values(tensor)
        flat = values.reshape(-1)
        wide = flat.astype(np.float64)
        centred = wide - _zero_points(tensor)[0] if _quantized(tensor) else wide
        index = _ranked(np.abs(centred), seed)
        direction = -1.0 if centred[index] > 0 else 1.0
        if _quantized(tensor):
            step, unit = 1.0, "stored integer step(s) toward the zero point"
        else:
            step = float(np.abs(wide).max()) / 127.0
            unit = f"step(s) of max|W|/127 = {step:.3g} toward 0"
        old = flat[index].item()
        flat[index] = wide[index] + direction * steps * step
        layer.store(tensor, values)
        return (f"weight {_label(tensor)} element {_at(values.shape, index)}: "
                f"{old} -> {flat[index].item()} ({steps} {unit})")
    return mutate


def _scale(factor: float) -> Callable[[_Layer, int], str | None]:
    def mutate(layer: _Layer, seed: int) -> str | None:
        tensor = layer.weights()
        if tensor is None or not _quantized(tensor):
            return None
        scales = _scales(tensor)
        channel = _ranked(scales.astype(np.float64), seed) if scales.size > 1 else 0
        old = float(scales[channel])
        scales[channel] = np.float32(old * factor)
        layer.quantization(tensor).scale = scales
        where = f"channel {channel}" if scales.size > 1 else "per-tensor"
        text = f"weight {_label(tensor)} scale ({where}): {old:.6g} -> {float(scales[channel]):.6g}"
        bias = layer.bias()
        if bias is not None and _quantized(bias) and _scales(bias).size == scales.size:
            bias_scales = _scales(bias)
            bias_scales[channel] = np.float32(float(bias_scales[channel]) * factor)
            layer.quantization(bias).scale = bias_scales
            text += f"; bias {_label(bias)} scale x{factor:g} too (kept = s_in*s_w)"
        return text
    return mutate


def _zero_point(layer: _Layer, seed: int) -> str | None:
    tensor = layer.data_input()
    if tensor.dtype != "INT8" or not tensor.zero_points:
        return None
    zero_points = np.array(tensor.zero_points, np.int64)
    old = int(zero_points[0])
    zero_points[0] = old + 1 if old < 127 else old - 1
    layer.quantization(tensor).zeroPoint = zero_points
    return f"data input {_label(tensor)} zero point: {old} -> {int(zero_points[0])}"


def _bias(layer: _Layer, seed: int) -> str | None:
    tensor = layer.bias()
    if tensor is None or not (_quantized(tensor) or tensor.dtype in _FLOATS):
        return None
    values = layer.values(tensor)
    flat = values.reshape(-1)
    scales = _scales(tensor).astype(np.float64)
    real = flat.astype(np.float64) * (scales if _quantized(tensor) else 1.0)
    index = _ranked(np.abs(real), seed)
    change = BIAS_FRACTION * float(np.abs(real).max())
    old = flat[index].item()
    if _quantized(tensor):
        step = float(scales[index] if scales.size > 1 else scales[0])
        flat[index] += max(1, round(change / step))
    else:
        flat[index] = real[index] + change
    layer.store(tensor, values)
    return (f"bias {_label(tensor)} element {index}: {old} -> {flat[index].item()} "
            f"(+{BIAS_FRACTION:.0%} of max|b| = {change:.3g})")


def _transposed(layer: _Layer, seed: int) -> str | None:
    tensor = layer.weights()
    if tensor is None or not (_quantized(tensor) or tensor.dtype in _FLOATS):
        return None
    values = layer.values(tensor)
    shape = values.shape
    axes = {2: (0, 1), 3: (1, 2), 4: (1, 2)}.get(len(shape))
    if axes is not None and shape[axes[0]] == shape[axes[1]] > 1:
        mutated = np.swapaxes(values, *axes).copy()
        text = f"weight {_label(tensor)} {shape}: axes {axes} transposed in place"
    else:
        channel_axis = INPUT_POSITIONS[layer.op_code].channel_axis
        count = shape[channel_axis]
        if count < 2:
            return None
        a, b = seed % count, (seed + count // 2) % count
        mutated = values.copy()
        mutated.swapaxes(0, channel_axis)[[a, b]] = values.swapaxes(0, channel_axis)[[b, a]]
        text = f"weight {_label(tensor)} {shape}: output channels {a} and {b} (axis {channel_axis}) swapped"
    if np.array_equal(mutated, values):
        return None
    layer.store(tensor, mutated)
    return text


def _fused_relu(layer: _Layer, seed: int) -> str | None:
    options = layer.op.builtinOptions
    if options is None or not hasattr(options, "fusedActivationFunction"):
        return None
    names = {v: k for k, v in vars(schema.ActivationFunctionType).items() if not k.startswith("_")}
    old = int(options.fusedActivationFunction)
    new = schema.ActivationFunctionType.RELU if old == schema.ActivationFunctionType.NONE else (
        schema.ActivationFunctionType.NONE)
    options.fusedActivationFunction = new
    return f"{layer.op_code} fused activation: {names.get(old, old)} -> {names.get(new, new)}"


def _mantissa_bit(layer: _Layer, seed: int) -> str | None:
    tensor = layer.weights()
    if tensor is None or tensor.dtype not in _FLOATS:
        return None
    bit = MANTISSA_BIT[tensor.dtype]
    values = layer.values(tensor)
    flat = values.reshape(-1)
    index = _ranked(np.abs(flat.astype(np.float64)), seed)
    old = flat[index].item()
    bits = flat.view(np.uint32 if tensor.dtype == "FLOAT32" else np.uint16)
    bits[index] ^= 1 << bit
    layer.store(tensor, values)
    return (f"weight {_label(tensor)} element {_at(values.shape, index)}: mantissa bit {bit} flipped, "
            f"{old} -> {flat[index].item()}")


_MUTATORS: dict[str, Callable[[_Layer, int], str | None]] = {
    "weight+1step": _weight_steps(1),
    "weight+4steps": _weight_steps(4),
    "scale*1.02": _scale(1.02),
    "scale*1.10": _scale(1.10),
    "zero_point+1": _zero_point,
    "bias": _bias,
    "weights-transposed": _transposed,
    "fused-relu": _fused_relu,
    "mantissa-bit": _mantissa_bit,
}

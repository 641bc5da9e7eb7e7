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
      H == W > 1); otherwise two output channels swap their data (scales stay put).
  fused-relu  The operator's fused activation NONE -> RELU (anything else -> NONE), where
      its options have one (FULLY_CONNECTED, CONV_2D, TRANSPOSE_CONV; not BATCH_MATMUL).
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

_T = schema.TensorType
_DTYPES: dict[int, tuple[str, type[np.generic]]] = {
    _T.FLOAT32: ("FLOAT32", np.float32),
    _T.FLOAT16: ("FLOAT16", np.float16),
    _T.INT8: ("INT8", np.int8),
    _T.INT16: ("INT16", np.int16),
    _T.INT32: ("INT32", np.int32),
    _T.INT64: ("INT64", np.int64),
    _T.INT4: ("INT4", np.int8),
}
_FLOATS = ("FLOAT32", "FLOAT16")
_OP_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One corrupted copy of a model: what kind of fault, exactly what changed, the bytes."""

    kind: str
    description: str
    model: bytes


def mutants(model: bytes, op_code: str, *, seed: int = 0) -> list[Mutant]:
    """Every applicable mutation of `op_code`'s layer in `model`, in MUTATION_KINDS order.

    Raises ValueError if the model has no `op_code` operator (a caller error, not a kind
    that does not apply).
    """
    found: list[Mutant] = []
    for kind in MUTATION_KINDS:
        layer = _Layer(model, op_code)  # a fresh parse per kind: mutations never stack
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
    """The parsed model around one operator, with typed access to its constant tensors."""

    def __init__(self, model: bytes, op_code: str) -> None:
        self.size = len(model)
        self.root: Any = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
        self.graph: Any = self.root.subgraphs[0]
        names = [_op_name(code) for code in self.root.operatorCodes or []]
        ops = [op for op in self.graph.operators or [] if names[op.opcodeIndex] == op_code]
        if not ops:
            raise ValueError(f"the model has no {op_code} operator (it has {', '.join(sorted(set(names)))})")
        self.op: Any = ops[0]
        self.op_code = op_code
        self._producers = {int(out): op for op in self.graph.operators or [] for out in op.outputs}
        self._dequantize = {i for i, name in enumerate(names) if name == "DEQUANTIZE"}

    def _input(self, slot: int) -> Any | None:
        inputs = list(self.op.inputs)
        return self.graph.tensors[inputs[slot]] if slot < len(inputs) and inputs[slot] >= 0 else None

    def _source(self, tensor: Any | None) -> Any | None:
        """Follow DEQUANTIZE back to the stored constant; None unless it holds data."""
        while tensor is not None:
            index = self.graph.tensors.index(tensor)
            producer = self._producers.get(index)
            if producer is None or producer.opcodeIndex not in self._dequantize:
                break
            tensor = self.graph.tensors[producer.inputs[0]]
        return tensor if tensor is not None and self._data(tensor) is not None else None

    def weights(self) -> Any | None:
        return self._source(self._input(1))

    def bias(self) -> Any | None:
        if self.op_code == "BATCH_MATMUL":
            return None
        return self._source(self._input(3 if self.op_code == "TRANSPOSE_CONV" else 2))

    def data_input(self) -> Any:
        return self._input(2 if self.op_code == "TRANSPOSE_CONV" else 0)

    def _data(self, tensor: Any) -> np.ndarray | None:
        buffer = self.root.buffers[tensor.buffer] if tensor.buffer < len(self.root.buffers) else None
        data = None if buffer is None else buffer.data
        return None if data is None or len(data) == 0 else np.asarray(data, np.uint8)

    def values(self, tensor: Any) -> np.ndarray:
        """The stored values, typed and shaped (INT4 unpacked, low nibble first)."""
        raw = self._data(tensor)
        assert raw is not None
        shape = tuple(int(d) for d in tensor.shape)
        if tensor.type == _T.INT4:
            nibbles = np.stack([raw & 0x0F, raw >> 4], axis=-1).reshape(-1)[: int(np.prod(shape))]
            return np.where(nibbles > 7, nibbles.astype(np.int8) - 16, nibbles).astype(np.int8).reshape(shape)
        return np.frombuffer(raw.tobytes(), _DTYPES[tensor.type][1]).reshape(shape).copy()

    def store(self, tensor: Any, values: np.ndarray) -> None:
        """Write `values` back in the tensor's own encoding; the buffer keeps its length."""
        old = self._data(tensor)
        assert old is not None
        if tensor.type == _T.INT4:
            nibbles = (values.reshape(-1).astype(np.int16) & 0x0F).astype(np.uint8)
            nibbles = np.concatenate([nibbles, np.zeros(len(nibbles) % 2, np.uint8)])
            packed = nibbles[0::2] | (nibbles[1::2] << 4)
            new = np.concatenate([packed, old[len(packed):]])
        else:
            new = np.frombuffer(np.ascontiguousarray(values, _DTYPES[tensor.type][1]).tobytes(), np.uint8)
        assert new.size == old.size, "a mutation must not resize a buffer"
        self.root.buffers[tensor.buffer].data = new.copy()

    def serialize(self) -> bytes:
        return _pack(self.root, self.size)


def _op_name(code: Any) -> str:
    value = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    return str(_OP_NAMES.get(value, f"UNKNOWN_{value}"))


def _dtype(tensor: Any) -> str:
    return _DTYPES.get(tensor.type, (f"TYPE_{tensor.type}", np.uint8))[0]


def _scales(tensor: Any) -> np.ndarray:
    quant = tensor.quantization
    scale = None if quant is None else quant.scale
    return np.zeros(0, np.float32) if scale is None else np.array(scale, np.float32)


def _zero_points(tensor: Any) -> np.ndarray:
    """Zero points (0 where absent); asymmetric per-tensor weights have one that is not 0."""
    quant = tensor.quantization
    points = None if quant is None else quant.zeroPoint
    return np.zeros(1, np.int64) if points is None or len(points) == 0 else np.array(points, np.int64)


def _quantized(tensor: Any) -> bool:
    return _dtype(tensor) not in _FLOATS and _scales(tensor).size > 0


def _label(tensor: Any) -> str:
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    return f"{name!r} ({_dtype(tensor)})"


def _ranked(magnitude: np.ndarray, seed: int) -> int:
    """The seed-th largest of the top TOP_CANDIDATES (stable, so ties go to the lower index)."""
    order = np.argsort(-magnitude.reshape(-1), kind="stable")
    return int(order[seed % min(TOP_CANDIDATES, order.size)])


def _at(shape: tuple[int, ...], flat_index: int) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat_index, shape))


def _weight_steps(steps: int) -> Callable[[_Layer, int], str | None]:
    def mutate(layer: _Layer, seed: int) -> str | None:
        tensor = layer.weights()
        if tensor is None or not (_quantized(tensor) or _dtype(tensor) in _FLOATS):
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
        tensor.quantization.scale = scales
        where = f"channel {channel}" if scales.size > 1 else "per-tensor"
        text = f"weight {_label(tensor)} scale ({where}): {old:.6g} -> {float(scales[channel]):.6g}"
        bias = layer.bias()
        if bias is not None and _quantized(bias) and _scales(bias).size == scales.size:
            bias_scales = _scales(bias)
            bias_scales[channel] = np.float32(float(bias_scales[channel]) * factor)
            bias.quantization.scale = bias_scales
            text += f"; bias {_label(bias)} scale x{factor:g} too (kept = s_in*s_w)"
        return text
    return mutate


def _zero_point(layer: _Layer, seed: int) -> str | None:
    tensor = layer.data_input()
    quant = None if tensor is None else tensor.quantization
    if quant is None or _dtype(tensor) != "INT8" or quant.zeroPoint is None or len(quant.zeroPoint) == 0:
        return None
    zero_points = np.array(quant.zeroPoint, np.int64)
    old = int(zero_points[0])
    zero_points[0] = old + 1 if old < 127 else old - 1
    quant.zeroPoint = zero_points
    return f"data input {_label(tensor)} zero point: {old} -> {int(zero_points[0])}"


def _bias(layer: _Layer, seed: int) -> str | None:
    tensor = layer.bias()
    if tensor is None or not (_quantized(tensor) or _dtype(tensor) in _FLOATS):
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
    if tensor is None or not (_quantized(tensor) or _dtype(tensor) in _FLOATS):
        return None
    values = layer.values(tensor)
    shape = values.shape
    axes = {2: (0, 1), 3: (1, 2), 4: (1, 2)}.get(len(shape))
    if axes is not None and shape[axes[0]] == shape[axes[1]] > 1:
        mutated = np.swapaxes(values, *axes).copy()
        text = f"weight {_label(tensor)} {shape}: axes {axes} transposed in place"
    else:
        channel_axis = len(shape) - 1 if layer.op_code == "BATCH_MATMUL" else 0
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
    if tensor is None or _dtype(tensor) not in _FLOATS:
        return None
    bit = MANTISSA_BIT[_dtype(tensor)]
    values = layer.values(tensor)
    flat = values.reshape(-1)
    index = _ranked(np.abs(flat.astype(np.float64)), seed)
    old = flat[index].item()
    bits = flat.view(np.uint32 if _dtype(tensor) == "FLOAT32" else np.uint16)
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

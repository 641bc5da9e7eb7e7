"""Kernel-fault injection: a test double of a target whose optimized kernels are wrong.

The file mutants (mutations.py) change the model, which the constants check sees whatever
the kernels do. A kernel bug leaves the file alone and computes the wrong numbers, which
only the numeric oracles can see. `FaultyKernelTarget` wraps a real target and perturbs
the output of the optimized lanes (worker modes "xnnpack" and "fp16") the way real kernel
bugs do, while the reference kernels stay correct. A fault is a fake by necessity: LiteRT
has no buggy kernel to call. Kinds (KERNEL_FAULTS):

  tile-edge-zero     the last output channel never written: 0 (an integer output's zero point)
  tile-edge-stale    the last row (pixel) never written: the previous row's values
  bf16-accumulation  the layer recomputed from the file's tensors with every partial sum
  fp16-accumulation  rounded to bfloat16 / float16, where the lane owes float32 arithmetic
  channel-scale*1.01 the output channel with the largest |y| scaled by 1.01
  scale*1.01         every output scaled by 1.01
  one-element        the largest-|y| element holds its neighbour's value (an off-by-one read)
  round-up-all       integer outputs: every element one step up (a requantization bias)
  round-up-half      integer outputs: every other element one step up
  lost-zero-point    integer outputs: the output zero point not added; dynamic recipes: the
                     run-time input zero point not subtracted (XNNPACK's qd8 row parameters)
  no-saturation      integer outputs: the unclamped value wrapped to the output's bit width

`apply` returns the faulty output, or a reason the fault does not apply to this lane.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from pytest_litert.judge import numpy_reference, xnnpack_model
from pytest_litert.judge.file_checks import fp16_arithmetic
from pytest_litert.judge.layer_math import apply as apply_layer
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.flatbuffer import ModelInspection
from pytest_litert.model.layer import MainLayer
from pytest_litert.model.quantization import INTEGER_DTYPES, input_tensors
from pytest_litert.run.targets import RunResult, Target

KERNEL_FAULTS: tuple[str, ...] = (
    "tile-edge-zero", "tile-edge-stale", "bf16-accumulation", "fp16-accumulation", "channel-scale*1.01",
    "scale*1.01", "one-element", "round-up-all", "round-up-half", "lost-zero-point", "no-saturation",
)
OPTIMIZED_MODES = ("xnnpack", "fp16")
INTEGER_ONLY = ("round-up-all", "round-up-half", "no-saturation")


@dataclasses.dataclass(frozen=True)
class FaultContext:
    """What a fault needs to know about the cell: the file and its main layer."""

    cell: Cell
    inspection: ModelInspection
    layer: MainLayer

    @property
    def output_dtype(self) -> str:
        return self.inspection.tensors[self.inspection.outputs[0]].dtype

    @property
    def output_zero_point(self) -> int:
        tensor = self.inspection.tensors[self.inspection.outputs[0]]
        return int(tensor.zero_points[0]) if tensor.zero_points else 0


def applicable(kind: str, context: FaultContext, mode: str, facts: dict[str, Any]) -> str:
    """'' if `kind` can happen in this lane, else why not (shown as '-' in the table)."""
    integer = context.output_dtype in INTEGER_DTYPES
    dynamic = context.layer.weights.dtype in ("INT8", "INT4") and "weights" not in context.layer.behind_dequantize
    if kind in INTEGER_ONLY and not integer:
        return "the output is float: no requantization"
    if kind.endswith("-accumulation"):
        if integer or dynamic:
            return "integer accumulation (exact int32)"
        if fp16_arithmetic(context.inspection, mode, facts):
            return "the lane computes in float16 by design"
    if kind == "lost-zero-point" and not integer and not dynamic:
        return "float arithmetic has no zero point"
    if kind == "lost-zero-point" and integer and context.output_zero_point == 0:
        return "the output zero point is 0"
    return ""


def apply(kind: str, context: FaultContext, output: np.ndarray, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The faulty output of one optimized lane (same dtype and shape as `output`)."""
    y = np.array(output, copy=True)
    if kind == "tile-edge-zero":
        y[..., -1] = context.output_zero_point if y.dtype.kind == "i" else 0
    elif kind == "tile-edge-stale":
        rows = y.reshape(-1, y.shape[-1])
        if rows.shape[0] > 1:
            rows[-1] = rows[-2]
        y = rows.reshape(y.shape)
    elif kind.endswith("-accumulation"):
        y = _reduced_precision(context, inputs, np.float16 if kind.startswith("fp16") else "bf16").astype(y.dtype)
    elif kind in ("channel-scale*1.01", "scale*1.01"):
        channel = int(np.argmax(np.abs(_centred(y, context)).reshape(-1, y.shape[-1]).max(axis=0)))
        where = (..., channel) if kind.startswith("channel") else (...,)
        y[where] = _scaled(y[where], context, 1.01)
    elif kind == "one-element":
        flat = y.reshape(-1)
        at = int(np.argmax(np.abs(_centred(flat, context))))
        flat[at] = flat[(at + 1) % flat.size]
    elif kind in ("round-up-all", "round-up-half"):
        step = np.ones_like(y, dtype=np.int64)
        if kind == "round-up-half":
            step.reshape(-1)[1::2] = 0
        y = _saturate(y.astype(np.int64) + step, y.dtype)
    elif kind == "lost-zero-point":
        y = _lost_zero_point(context, y, inputs)
    elif kind == "no-saturation":
        y = _wrapped(context, y, inputs)
    return y


def _centred(y: np.ndarray, context: FaultContext) -> np.ndarray:
    return y.astype(np.float64) - (context.output_zero_point if y.dtype.kind == "i" else 0)


def _scaled(values: np.ndarray, context: FaultContext, factor: float) -> np.ndarray:
    """Values times `factor`: in float32, or an integer output's steps requantized."""
    if values.dtype.kind != "i":
        return (values.astype(np.float32) * np.float32(factor)).astype(values.dtype)
    zero = context.output_zero_point
    return _saturate(np.round((values.astype(np.float64) - zero) * factor) + zero, values.dtype)


def _saturate(values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.asarray(np.clip(values, info.min, info.max), dtype)


def _evaluate(context: FaultContext, inputs: dict[str, np.ndarray]) -> numpy_reference.NumpyOutput:
    index = input_tensors(context.inspection, list(inputs))
    return numpy_reference.evaluate(context.cell, context.inspection, context.layer, inputs, index)


def _wrapped(context: FaultContext, y: np.ndarray, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """A kernel that stores the low bits of its result without clamping it first."""
    model = _evaluate(context, inputs)
    assert model.unclamped is not None
    info = np.iinfo(y.dtype)
    span = int(info.max) - int(info.min) + 1
    wrapped = (model.unclamped - info.min) % span + info.min
    beyond = (model.unclamped < info.min) | (model.unclamped > info.max)
    return np.where(beyond, wrapped, y).astype(y.dtype)


def _lost_zero_point(context: FaultContext, y: np.ndarray, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Integer output: the zero point never added. Dynamic: sum((q - zp) * w) computed as
    sum(q * w), i.e. zp * step * sum(w) too much per row (XNNPACK's qd8 parameters)."""
    if y.dtype.kind == "i":
        return _saturate(y.astype(np.int64) - context.output_zero_point, y.dtype)
    x = inputs["x"].astype(np.float64)
    axes = xnnpack_model.granularity(context.cell) or tuple(range(1, x.ndim))
    _, zero, step = xnnpack_model.parameters(x, axes)
    w, _ = numpy_reference.file_operands(context.cell, context.inspection, context.layer, inputs)
    shift = apply_layer(context.cell.op, context.cell.shape, np.broadcast_to(zero * step, x.shape), w)
    return np.asarray(y.astype(np.float64) + shift, y.dtype)


def _reduced_precision(context: FaultContext, inputs: dict[str, np.ndarray], precision: Any) -> np.ndarray:
    """The layer from the file's tensors, each partial product rounded and added to an
    accumulator rounded after every step, in bfloat16 or float16; bias last."""
    x = inputs["x"].astype(np.float64)
    w, bias = numpy_reference.file_operands(context.cell, context.inspection, context.layer, inputs)
    acc: np.ndarray | None = None
    for part in _partial_products(context.cell, x, w):
        term = _round_to(part, precision)
        acc = term if acc is None else _round_to(acc + term, precision)
    assert acc is not None
    total = acc + (0.0 if bias is None else bias)
    return np.asarray(_round_to(total, precision), np.float32)


def _partial_products(cell: Cell, x: np.ndarray, w: np.ndarray) -> Iterator[np.ndarray]:
    """The layer's reduction split into its terms (matrix products: one per k; convolutions:
    one per filter tap and reduced input channel), each evaluated exactly in float64."""
    if cell.op.matrix_product:
        for k in range(x.shape[-1]):
            yield x[..., k : k + 1] @ w[..., k : k + 1, :]
        return
    axis = {"CONV_2D": 2, "TRANSPOSE_CONV": 3}.get(cell.op.op_code)  # the filter's reduced channel axis
    for index in np.ndindex(*w.shape[:2], w.shape[axis] if axis is not None else 1):
        where: tuple[Any, ...] = index[:2] if axis is None else (*index[:2], index[2]) if axis == 2 else (
            *index[:2], slice(None), index[2])
        masked = np.zeros_like(w)
        masked[where] = w[where]
        yield apply_layer(cell.op, cell.shape, x, masked)


def _round_to(values: np.ndarray, precision: Any) -> np.ndarray:
    """Round float64 values to float16 (overflow to inf) or bfloat16 (nearest even)."""
    if precision == "bf16":
        bits = np.asarray(values, np.float32).view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    with np.errstate(over="ignore"):
        return np.asarray(values, np.float64).astype(np.float16).astype(np.float64)


class FaultyKernelTarget:
    """TEST DOUBLE. A real target whose optimized lanes (modes "xnnpack", "fp16") return
    `fault` applied to the real output where it applies (`applied` records the lanes it
    changed, `inapplicable` why it did not apply); the reference lane and the profiled run
    pass through unchanged. Real results are cached per (model, inputs, mode), so every
    fault of a cell reuses one real run."""

    def __init__(self, real: Target, fault: str, context: FaultContext,
                 cache: dict[str, RunResult] | None = None) -> None:
        self.real, self.fault, self.context = real, fault, context
        self.name = real.name
        self.cache = {} if cache is None else cache
        self.changed: list[bool] = []
        self.inapplicable: set[str] = set()

    def run(self, model: bytes, inputs: dict[str, np.ndarray], mode: str) -> RunResult:
        key = hashlib.sha256(model + repr(sorted((k, v.tobytes()) for k, v in inputs.items())).encode()
                             + mode.encode()).hexdigest()
        if key not in self.cache:
            self.cache[key] = self.real.run(model, inputs, mode)
        result = self.cache[key]
        if mode not in OPTIMIZED_MODES:
            return result
        why = applicable(self.fault, self.context, mode, result.facts)
        if why:
            self.inapplicable.add(why)
            return result
        outputs = {name: apply(self.fault, self.context, out, inputs) for name, out in result.outputs.items()}
        self.changed += [not np.array_equal(outputs[n], result.outputs[n], equal_nan=True) for n in outputs]
        return RunResult(outputs, result.facts)

    def close(self) -> None:
        """The real target belongs to whoever made it."""

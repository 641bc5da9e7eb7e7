"""Hypothesis strategies for the matrix: layer shapes, weight styles and input data.

Following hypothesis's API style: plural nouns, keyword-only bounds, InvalidArgument on bad
bounds. Shapes lean towards the sizes where tiled kernels break: just around multiples of
16, 32 and 64 (SME2 tiles are vector-length multiples), and tiny odd sizes; and towards the
boundary families the thorough profile found oracle defects in (BOUNDARY_FAMILIES): one output
channel, a 1x1 input under a larger kernel, reductions longer than 1/u16 = 2048 terms (a
depthwise layer reaches the 1x1 input only). A depthwise shape keeps n a multiple of k.
BOUNDARY_EXAMPLES pins one shape of each family per operator, for explicit examples.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from pytest_litert.matrix.ops import OPS, LayerShape, OpSpec, Padding, depthwise_shape

if TYPE_CHECKING:
    from pytest_litert.matrix.cells import Cell

TILE_EDGES = (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129)
WEIGHT_STYLES = ("uniform", "one-sign-channels", "mixed-scales")
INPUT_STYLES = ("uniform", "int8-grid", "constant-rows", "zeros", "calibration-edge")
ONE_CHANNEL, TINY_INPUT, LONG_REDUCTION = "n=1", "1x1 input, kernel larger", "reduction > 1/u16"
BOUNDARY_FAMILIES = (ONE_CHANNEL, TINY_INPUT, LONG_REDUCTION)
FP16_TERMS = 2048  # 1/u16: past it gamma16 is undefined


def _check_bounds(name: str, low: int, high: int, *, least: int = 1) -> None:
    if not isinstance(low, int) or not isinstance(high, int):
        raise InvalidArgument(f"{name}: bounds must be integers, got {low!r} and {high!r}")
    if low < least:
        raise InvalidArgument(f"{name}: min_value={low} must be at least {least}")
    if low > high:
        raise InvalidArgument(f"{name}: min_value={low} is greater than max_value={high}")


def dimensions(*, min_value: int = 1, max_value: int = 96) -> st.SearchStrategy[int]:
    """Sizes, half of the time one of TILE_EDGES within the bounds."""
    _check_bounds("dimensions", min_value, max_value)
    edges = [size for size in TILE_EDGES if min_value <= size <= max_value]
    anywhere = st.integers(min_value, max_value)
    return st.one_of(st.sampled_from(edges), anywhere) if edges else anywhere


def _op(op: str | OpSpec) -> OpSpec:
    if isinstance(op, OpSpec):
        return op
    if op not in OPS:
        raise InvalidArgument(f"unknown op {op!r}; valid: {', '.join(OPS)}")
    return OPS[op]


def layer_shapes(op: str | OpSpec, *, min_weights: int = 1024, max_weights: int = 32768,
                 max_dim: int = 96, max_kernel: int = 5, boundaries: bool = True) -> st.SearchStrategy[LayerShape]:
    """Valid shapes for `op` with between min_weights and max_weights constant weights, so
    every recipe really applies (dynamic-range quantization skips constants under 1024
    elements) and a conversion stays cheap. Runtime BATCH_MATMUL has no weight minimum.
    `boundaries`: 3 in 8 draws come from BOUNDARY_FAMILIES."""
    spec = _op(op)
    _check_bounds("layer_shapes max_dim", 1, max_dim)
    _check_bounds("layer_shapes max_kernel", 1, max_kernel)
    _check_bounds("layer_shapes weights", max(min_weights, 1), max_weights)

    @st.composite
    def draw_shape(draw: st.DrawFn) -> LayerShape:
        if spec.name == "fully_connected":
            shape = LayerShape(m=draw(dimensions(max_value=max_dim)), k=draw(dimensions(max_value=max_dim)),
                               n=draw(dimensions(max_value=max_dim)))
        elif spec.matrix_product:  # (batch, m, k): BATCH_MATMUL and the 3-D FULLY_CONNECTED
            shape = LayerShape(batch=draw(st.integers(1, 4)), m=draw(dimensions(max_value=max_dim)),
                               k=draw(dimensions(max_value=max_dim)), n=draw(dimensions(max_value=max_dim)))
        else:
            shape = draw(_convolution_shapes(spec, max_dim, max_kernel))
        families = _families(spec)
        family = draw(st.sampled_from((None,) * 5 + families)) if boundaries and families else None
        if family is not None:
            shape = draw(_at_boundary(spec, shape, family, max_kernel))
        if family != ONE_CHANNEL:
            shape = _enough_weights(spec, shape, min_weights, max_dim)
        else:
            shape = _enough_inputs(spec, shape, min_weights)
        assume(not spec.constant_weights or min_weights <= spec.weight_count(shape) <= max_weights)
        try:
            spec.validate(shape)
        except ValueError:
            assume(False)
        return shape

    return draw_shape()


def _families(spec: OpSpec) -> tuple[str, ...]:
    """The boundary families an operator can reach with enough weights: a depthwise layer has
    one output channel only with one input channel (under 1024 weights) and reduces over its
    kernel taps only (at most 25 terms), so only the tiny input applies to it."""
    return (TINY_INPUT,) if spec.op_code == "DEPTHWISE_CONV_2D" else BOUNDARY_FAMILIES


def _convolution_shapes(spec: OpSpec, max_dim: int, max_kernel: int) -> st.SearchStrategy[LayerShape]:
    @st.composite
    def draw_shape(draw: st.DrawFn) -> LayerShape:
        pointwise = spec.name == "conv2d_pointwise"
        kernel = 1 if pointwise else draw(st.integers(1, max_kernel))
        stride = 1 if pointwise else draw(st.integers(1, 3))
        dilation = 1 if pointwise or spec.name == "transpose_conv" or stride > 1 else draw(st.integers(1, 2))
        padding: Padding = "valid" if pointwise else draw(st.sampled_from(("same", "valid")))
        reach = (kernel - 1) * dilation + 1
        side = st.integers(reach if padding == "valid" else 1, max(reach, 12))
        k = draw(dimensions(max_value=max_dim))
        # a depthwise layer's n is k times its depth multiplier (matrix/ops.py)
        n = k * draw(st.integers(1, 4)) if spec.op_code == "DEPTHWISE_CONV_2D" else draw(dimensions(max_value=max_dim))
        return LayerShape(batch=draw(st.integers(1, 2)), height=draw(side), width=draw(side), k=k, n=n,
                          kernel=kernel, stride=stride, dilation=dilation, padding=padding)

    return draw_shape()


def _at_boundary(spec: OpSpec, shape: LayerShape, family: str, max_kernel: int) -> st.SearchStrategy[LayerShape]:
    """`shape` moved into a boundary family (unchanged where the family does not apply)."""

    @st.composite
    def draw_shape(draw: st.DrawFn) -> LayerShape:
        if family == ONE_CHANNEL:
            return dataclasses.replace(shape, n=1)
        convolution = spec.name in ("conv2d", "transpose_conv", "depthwise_conv2d")
        if family == TINY_INPUT and convolution and max_kernel >= 2:
            return dataclasses.replace(shape, height=1, width=1, kernel=draw(st.integers(2, max_kernel)),
                                       stride=1, dilation=1, padding="same")
        if family == LONG_REDUCTION:
            terms = draw(st.integers(FP16_TERMS + 1, FP16_TERMS + 1024))
            taps = 1 if spec.matrix_product or spec.name == "conv2d_pointwise" else shape.kernel * shape.kernel
            return dataclasses.replace(shape, k=math.ceil(terms / taps), n=draw(st.integers(1, 8)),
                                       batch=min(shape.batch, 2))
        return shape

    return draw_shape()


def _enough_inputs(spec: OpSpec, shape: LayerShape, min_weights: int) -> LayerShape:
    """With one output channel, grow the input channels until the layer has min_weights."""
    if not spec.constant_weights or spec.weight_count(shape) >= min_weights:
        return shape
    per_input = spec.weight_count(dataclasses.replace(shape, k=1))
    return dataclasses.replace(shape, k=max(shape.k, math.ceil(min_weights / per_input)))


def _enough_weights(spec: OpSpec, shape: LayerShape, min_weights: int, max_dim: int) -> LayerShape:
    """Grow the output dimension until the layer has min_weights constants (if it can); a
    depthwise layer grows its input channels, keeping its depth multiplier."""
    if not spec.constant_weights or spec.weight_count(shape) >= min_weights:
        return shape
    if spec.op_code == "DEPTHWISE_CONV_2D":
        multiplier = shape.n // shape.k
        k = min(max(shape.k, math.ceil(min_weights / (shape.kernel**2 * multiplier))), max(max_dim, shape.k) * 8)
        return dataclasses.replace(shape, k=k, n=k * multiplier)
    per_output = spec.weight_count(shape) // shape.n
    n = min(max(shape.n, math.ceil(min_weights / per_output)), max(max_dim, shape.n) * 8)
    return dataclasses.replace(shape, n=n)


def weight_styles() -> st.SearchStrategy[str]:
    """uniform; one-sign-channels (every output channel all positive or all negative, so
    cancellation cannot hide an error); mixed-scales (channel scales across three decades)."""
    return st.sampled_from(WEIGHT_STYLES)


def input_arrays(shapes: dict[str, tuple[int, ...]], *, style: str | None = None) -> st.SearchStrategy[
        dict[str, np.ndarray]]:
    """Float inputs in [-1, 1] (the calibration range): uniform; on an int8 grid of step
    1/127 (survives run-time quantization exactly); constant rows; zeros; or values at the
    edge of the calibration range (+-1 and just inside)."""
    if style is not None and style not in INPUT_STYLES:
        raise InvalidArgument(f"input_arrays: style={style!r}; valid: {', '.join(INPUT_STYLES)}")
    styles = st.just(style) if style is not None else st.sampled_from(INPUT_STYLES)

    @st.composite
    def draw_inputs(draw: st.DrawFn) -> dict[str, np.ndarray]:
        chosen = draw(styles)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        return {name: styled_array(rng, dims, chosen) for name, dims in shapes.items()}

    return draw_inputs()


def draw_example(data: st.DataObject, cell: Cell, *, boundaries: bool = True) -> tuple[Cell, dict[str, np.ndarray]]:
    """One property example of `cell`: its variant (drawn shape and weight style) and inputs,
    each drawn under its own label. The property tests and `export --property-examples` both
    draw through here, so a bundle carries the suite's own examples."""
    shape = data.draw(layer_shapes(cell.op, boundaries=boundaries), label="shape")
    variant = cell.with_shape(shape, data.draw(weight_styles(), label="weights"))
    return variant, data.draw(input_arrays(cell.op.input_shapes(shape)), label="inputs")


def styled_array(rng: np.random.Generator, dims: tuple[int, ...], style: str) -> np.ndarray:
    if style == "zeros":
        return np.zeros(dims, np.float32)
    if style == "int8-grid":
        return (rng.integers(-127, 128, dims) / 127.0).astype(np.float32)
    if style == "constant-rows":
        rows = rng.uniform(-1, 1, (*dims[:-1], 1))
        return np.broadcast_to(rows, dims).astype(np.float32)
    if style == "calibration-edge":
        edge = rng.choice(np.array([-1.0, -0.999, 0.999, 1.0]), dims)
        return np.where(rng.random(dims) < 0.5, edge, rng.uniform(-1, 1, dims)).astype(np.float32)
    return rng.uniform(-1, 1, dims).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class BoundaryExample:
    """An explicit example of the property tests: one pinned shape per operator of a boundary
    family, drawn with seeded uniform weights and inputs. The six shapes the thorough profile
    shrank its false positives to are among them, so every profile runs them."""

    family: str
    shapes: dict[str, LayerShape]

    def shape_for(self, op: OpSpec) -> LayerShape | None:
        """None where the family does not apply to the operator (a 1x1 FC input is no edge)."""
        return self.shapes.get(op.name)

    def inputs(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(len(self.family))
        return {name: styled_array(rng, dims, "uniform") for name, dims in shapes.items()}


def _same(height: int, width: int, k: int, n: int, kernel: int) -> LayerShape:
    return LayerShape(height=height, width=width, k=k, n=n, kernel=kernel, stride=1, padding="same")


BOUNDARY_EXAMPLES = (
    BoundaryExample(ONE_CHANNEL, {
        "fully_connected": LayerShape(m=8, k=1024, n=1),
        "fully_connected_3d": LayerShape(batch=2, m=4, k=1024, n=1),
        "batch_matmul": LayerShape(batch=1, m=8, k=64, n=1),
        "batch_matmul_const": LayerShape(batch=1, m=8, k=1024, n=1),
        "conv2d_pointwise": LayerShape(height=4, width=4, k=1024, n=1),
        "conv2d": _same(10, 9, 96, 1, 5),
        "transpose_conv": _same(3, 3, 64, 1, 4),
    }),
    BoundaryExample(TINY_INPUT, {
        "conv2d": _same(1, 1, 82, 1, 5),
        "transpose_conv": _same(1, 1, 64, 1, 4),
        "depthwise_conv2d": depthwise_shape(1, 1, 128, 1, 5),
    }),
    BoundaryExample(LONG_REDUCTION, {
        "fully_connected": LayerShape(m=4, k=3000, n=16),
        "fully_connected_3d": LayerShape(batch=2, m=3, k=2100, n=8),
        "batch_matmul": LayerShape(batch=1, m=4, k=2100, n=8),
        "batch_matmul_const": LayerShape(batch=1, m=4, k=2100, n=8),
        "conv2d_pointwise": LayerShape(height=2, width=2, k=2100, n=4),
        "conv2d": _same(3, 3, 240, 4, 3),
        "transpose_conv": _same(2, 2, 240, 4, 3),
    }),
)

"""Hypothesis strategies for the matrix: layer shapes, weight styles and input data.

Following hypothesis's API style: plural nouns, keyword-only bounds, InvalidArgument on bad
bounds. Shapes lean towards the sizes where tiled kernels break: just around multiples of
16, 32 and 64 (SME2 tiles are vector-length multiples), and tiny odd sizes.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from pytest_litert.matrix.ops import OPS, LayerShape, OpSpec, Padding

TILE_EDGES = (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129)
WEIGHT_STYLES = ("uniform", "one-sign-channels", "mixed-scales")
INPUT_STYLES = ("uniform", "int8-grid", "constant-rows", "zeros", "calibration-edge")


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
                 max_dim: int = 96, max_kernel: int = 5) -> st.SearchStrategy[LayerShape]:
    """Valid shapes for `op` with between min_weights and max_weights constant weights, so
    every recipe really applies (dynamic-range quantization skips constants under 1024
    elements) and a conversion stays cheap. Runtime BATCH_MATMUL has no weight minimum."""
    spec = _op(op)
    _check_bounds("layer_shapes max_dim", 1, max_dim)
    _check_bounds("layer_shapes max_kernel", 1, max_kernel)
    _check_bounds("layer_shapes weights", max(min_weights, 1), max_weights)

    @st.composite
    def draw_shape(draw: st.DrawFn) -> LayerShape:
        if spec.name == "fully_connected":
            shape = LayerShape(m=draw(dimensions(max_value=max_dim)), k=draw(dimensions(max_value=max_dim)),
                               n=draw(dimensions(max_value=max_dim)))
        elif spec.name.startswith("batch_matmul"):
            shape = LayerShape(batch=draw(st.integers(1, 4)), m=draw(dimensions(max_value=max_dim)),
                               k=draw(dimensions(max_value=max_dim)), n=draw(dimensions(max_value=max_dim)))
        else:
            shape = draw(_convolution_shapes(spec, max_dim, max_kernel))
        shape = _enough_weights(spec, shape, min_weights, max_dim)
        assume(not spec.constant_weights or min_weights <= spec.weight_count(shape) <= max_weights)
        try:
            spec.validate(shape)
        except ValueError:
            assume(False)
        return shape

    return draw_shape()


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
        return LayerShape(batch=draw(st.integers(1, 2)), height=draw(side), width=draw(side),
                          k=draw(dimensions(max_value=max_dim)), n=draw(dimensions(max_value=max_dim)),
                          kernel=kernel, stride=stride, dilation=dilation, padding=padding)

    return draw_shape()


def _enough_weights(spec: OpSpec, shape: LayerShape, min_weights: int, max_dim: int) -> LayerShape:
    """Grow the output dimension until the layer has min_weights constants (if it can)."""
    if not spec.constant_weights or spec.weight_count(shape) >= min_weights:
        return shape
    per_output = spec.weight_count(shape) // shape.n
    n = min(max(shape.n, math.ceil(min_weights / per_output)), max(max_dim, shape.n) * 8)
    return LayerShape(**{**shape.as_dict(), "n": n})  # type: ignore[arg-type]


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

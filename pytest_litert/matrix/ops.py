"""The operators under test and the shapes of their single-layer models.

Pure data: nothing here imports TensorFlow or LiteRT. A `LayerShape` carries every
dimension any operator needs; each `OpSpec` says which of them it reads, so one shape
type serves the whole matrix and hashes into the conversion cache key.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

Padding = Literal["same", "valid"]


@dataclasses.dataclass(frozen=True)
class LayerShape:
    """Dimensions of one single-layer model.

    batch, m, k, n: matrix products (rows, reduction length, output columns); a 3-D
    fully connected layer reads (batch, m, k) as (batch, sequence, features).
    For convolutions k is the input channel count and n the output channel count, and
    height x width is the input image. A depthwise convolution's n is k times its depth
    multiplier (its output channels, the weights' channel axis in the file), so the
    multiplier needs no field of its own and every existing shape keeps its cache key.
    """

    batch: int = 1
    m: int = 8
    k: int = 64
    n: int = 64
    height: int = 8
    width: int = 8
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    padding: Padding = "valid"

    def as_dict(self) -> dict[str, int | str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class InputPositions:
    """Which operator input is the data, the weights and the bias (None: the op has none), and
    the weights' output-channel axis in the file (where per-channel scales must lie)."""

    data: int = 0
    weights: int = 1
    bias: int | None = 2
    channel_axis: int = 0


# Per TFLite operator: which input is data, weights, bias. TRANSPOSE_CONV takes
# (output_shape, weights, data, bias); BATCH_MATMUL has no bias input and its constant
# (batch, k, n) has its output channels last; DEPTHWISE_CONV_2D stores its filter
# (1, kh, kw, k * multiplier), output channels last (measured: quantized_dimension 3).
INPUT_POSITIONS: dict[str, InputPositions] = {
    "FULLY_CONNECTED": InputPositions(),
    "CONV_2D": InputPositions(),
    "DEPTHWISE_CONV_2D": InputPositions(channel_axis=3),
    "BATCH_MATMUL": InputPositions(bias=None, channel_axis=2),
    "TRANSPOSE_CONV": InputPositions(data=2, weights=1, bias=3),
}


@dataclasses.dataclass(frozen=True)
class OpSpec:
    """One operator form: its id, the TFLite op code it must become, its default shape."""

    name: str
    op_code: str
    description: str
    default_shape: LayerShape
    fields: tuple[str, ...]
    constant_weights: bool = True

    @property
    def positions(self) -> InputPositions:
        return INPUT_POSITIONS[self.op_code]

    @property
    def matrix_product(self) -> bool:
        """FULLY_CONNECTED (2-D or 3-D input) or BATCH_MATMUL: one reduction over k, no taps."""
        return self.op_code in ("FULLY_CONNECTED", "BATCH_MATMUL")

    def input_shapes(self, shape: LayerShape) -> dict[str, tuple[int, ...]]:
        """Runtime inputs by name (the converter sorts inputs by name: see DESIGN.md)."""
        if self.name == "fully_connected":
            return {"x": (shape.m, shape.k)}
        if self.matrix_product:
            lhs: dict[str, tuple[int, ...]] = {"x": (shape.batch, shape.m, shape.k)}
            if self.constant_weights:
                return lhs
            return {**lhs, "y": (shape.batch, shape.k, shape.n)}
        return {"x": (shape.batch, shape.height, shape.width, shape.k)}

    def weight_shape(self, shape: LayerShape) -> tuple[int, ...]:
        """The Keras-side weight array (kernel layout as Keras stores it)."""
        if self.op_code == "FULLY_CONNECTED":
            return (shape.k, shape.n)
        if self.op_code == "BATCH_MATMUL":
            return (shape.batch, shape.k, shape.n)
        if self.op_code == "TRANSPOSE_CONV":
            return (shape.kernel, shape.kernel, shape.n, shape.k)
        if self.op_code == "DEPTHWISE_CONV_2D":
            return (shape.kernel, shape.kernel, shape.k, depth_multiplier(shape))
        return (shape.kernel, shape.kernel, shape.k, shape.n)

    def weight_count(self, shape: LayerShape) -> int:
        return math.prod(self.weight_shape(shape))

    def reduction_length(self, shape: LayerShape) -> int:
        """K in the error bounds: the most products summed into one output element (a
        depthwise output channel reads one input channel: its kernel taps only)."""
        if self.matrix_product:
            return shape.k
        if self.op_code == "DEPTHWISE_CONV_2D":
            return shape.kernel * shape.kernel
        return shape.kernel * shape.kernel * shape.k

    def describe(self, shape: LayerShape) -> str:
        values = shape.as_dict()
        text = " ".join(f"{name}={values[name]}" for name in self.fields)
        if self.op_code == "DEPTHWISE_CONV_2D":
            text += f" depth_multiplier={depth_multiplier(shape)}"
        return text

    def validate(self, shape: LayerShape) -> None:
        """Raise ValueError naming the bad dimension; the converter's own errors are cryptic."""
        values = shape.as_dict()
        for name in self.fields:
            value = values[name]
            if isinstance(value, int) and value < 1:
                raise ValueError(f"{self.name}: {name}={value} must be >= 1")
        if shape.padding not in ("same", "valid"):
            raise ValueError(f"{self.name}: padding={shape.padding!r} must be 'same' or 'valid'")
        if shape.stride > 1 and shape.dilation > 1:
            raise ValueError(f"{self.name}: Keras cannot combine stride > 1 with dilation > 1")
        if self.op_code == "DEPTHWISE_CONV_2D" and shape.n % shape.k:
            raise ValueError(f"{self.name}: n={shape.n} output channels must be k={shape.k} times the "
                             "depth multiplier")
        if self.op_code in ("CONV_2D", "DEPTHWISE_CONV_2D") and shape.padding == "valid":
            reach = (shape.kernel - 1) * shape.dilation + 1
            if reach > min(shape.height, shape.width):
                raise ValueError(
                    f"{self.name}: kernel reach {reach} exceeds the {shape.height}x{shape.width} "
                    "input with padding='valid'"
                )


def depth_multiplier(shape: LayerShape) -> int:
    """A depthwise convolution's output channels per input channel (n = k * multiplier)."""
    return max(shape.n // shape.k, 1)


def depthwise_shape(height: int, width: int, k: int, multiplier: int, kernel: int, *, stride: int = 1,
                    dilation: int = 1, padding: Padding = "same", batch: int = 1) -> LayerShape:
    """A depthwise convolution's shape by its depth multiplier rather than its output count."""
    return LayerShape(batch=batch, height=height, width=width, k=k, n=k * multiplier, kernel=kernel,
                      stride=stride, dilation=dilation, padding=padding)


OPS: dict[str, OpSpec] = {
    spec.name: spec
    for spec in (
        OpSpec(
            "fully_connected",
            "FULLY_CONNECTED",
            "Keras Dense on an (m, k) input",
            LayerShape(m=8, k=64, n=64),
            ("m", "k", "n"),
        ),
        OpSpec(
            "fully_connected_3d",
            "FULLY_CONNECTED",
            "Keras Dense on a (batch, sequence, features) input: a transformer's fully connected layer",
            LayerShape(batch=2, m=16, k=64, n=64),
            ("batch", "m", "k", "n"),
        ),
        OpSpec(
            "batch_matmul",
            "BATCH_MATMUL",
            "keras.ops.matmul of two runtime inputs (batch, m, k) x (batch, k, n)",
            LayerShape(batch=2, m=8, k=32, n=32),
            ("batch", "m", "k", "n"),
            constant_weights=False,
        ),
        OpSpec(
            "batch_matmul_const",
            "BATCH_MATMUL",
            "keras.ops.matmul with a constant 3-D right-hand side (batch, k, n)",
            LayerShape(batch=2, m=8, k=32, n=32),
            ("batch", "m", "k", "n"),
        ),
        OpSpec(
            "conv2d_pointwise",
            "CONV_2D",
            "Keras Conv2D with a 1x1 kernel",
            LayerShape(batch=1, height=8, width=8, k=32, n=64, kernel=1),
            ("batch", "height", "width", "k", "n"),
        ),
        OpSpec(
            "conv2d",
            "CONV_2D",
            "Keras Conv2D, k x k kernel with strides, dilation and SAME/VALID padding",
            LayerShape(batch=1, height=9, width=9, k=16, n=32, kernel=3, stride=2, padding="same"),
            ("batch", "height", "width", "k", "n", "kernel", "stride", "dilation", "padding"),
        ),
        OpSpec(
            "transpose_conv",
            "TRANSPOSE_CONV",
            "Keras Conv2DTranspose",
            LayerShape(batch=1, height=6, width=6, k=16, n=32, kernel=3, stride=2, padding="same"),
            ("batch", "height", "width", "k", "n", "kernel", "stride", "padding"),
        ),
        OpSpec(
            "depthwise_conv2d",
            "DEPTHWISE_CONV_2D",
            "Keras DepthwiseConv2D, k x k kernel, depth multiplier n/k, strides, dilation and SAME/VALID padding",
            depthwise_shape(9, 9, 64, 2, 3, stride=2),
            ("batch", "height", "width", "k", "n", "kernel", "stride", "dilation", "padding"),
        ),
    )
}

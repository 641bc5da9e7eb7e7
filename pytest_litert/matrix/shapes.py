"""Named shape sets: the sizes a cell is built at (`--litert-shapes=ci,seed,tiles`).

Pure data. `ci` is each operator's default shape (small, fast). `seed` is the seed document's
FULLY_CONNECTED (batch 100, 640 -> 1280) and the same scale for every operator, where
XNNPACK's packing and kernel choices are those of real models: a transformer block's first
fully connected layer for the 3-D one (128 tokens, 768 -> 3072, BERT-base's sizes) and a
MobileNet block's depthwise convolution (56x56x128, 3x3). `tiles` puts M, K and N at and
around multiples of 16, 32 and 64 (the SME2 tile edges at 512-bit vectors), with an odd K and
M=1, where tile remainders and the one-row paths run. Every shape keeps the weights at 1024
elements or more, or dynamic-range quantization would leave them FLOAT32 (DESIGN.md).
"""

from __future__ import annotations

import dataclasses

from pytest_litert.matrix.ops import OPS, LayerShape, Padding, depthwise_shape

DEFAULT_SET = "ci"


@dataclasses.dataclass(frozen=True)
class NamedShape:
    """One shape of a set; `label` tells the shapes of a set apart in ids ('' when alone)."""

    label: str
    shape: LayerShape


def _conv(height: int, width: int, k: int, n: int, kernel: int, stride: int, padding: Padding) -> LayerShape:
    return LayerShape(height=height, width=width, k=k, n=n, kernel=kernel, stride=stride, padding=padding)


_SEED: dict[str, LayerShape] = {
    "fully_connected": LayerShape(m=100, k=640, n=1280),
    "fully_connected_3d": LayerShape(batch=1, m=128, k=768, n=3072),
    "batch_matmul": LayerShape(batch=1, m=100, k=640, n=1280),
    "batch_matmul_const": LayerShape(batch=1, m=100, k=640, n=1280),
    "conv2d_pointwise": _conv(56, 56, 64, 128, 1, 1, "valid"),
    "conv2d": _conv(56, 56, 64, 64, 3, 1, "same"),
    "transpose_conv": _conv(28, 28, 64, 64, 3, 2, "same"),
    "depthwise_conv2d": depthwise_shape(56, 56, 128, 1, 3),
}

_MATMUL_TILES = (
    NamedShape("m1", LayerShape(batch=1, m=1, k=64, n=64)),
    NamedShape("t16", LayerShape(batch=2, m=16, k=32, n=32)),
    NamedShape("odd", LayerShape(batch=1, m=31, k=63, n=33)),
    NamedShape("t64", LayerShape(batch=1, m=64, k=128, n=64)),
)
_TILES: dict[str, tuple[NamedShape, ...]] = {
    "fully_connected": tuple(
        NamedShape(s.label, dataclasses.replace(s.shape, batch=1)) for s in _MATMUL_TILES
    ),
    "fully_connected_3d": _MATMUL_TILES,
    "batch_matmul": _MATMUL_TILES,
    "batch_matmul_const": _MATMUL_TILES,
    "conv2d_pointwise": (
        NamedShape("m1", _conv(1, 1, 64, 64, 1, 1, "valid")),
        NamedShape("t16", _conv(4, 4, 16, 64, 1, 1, "valid")),
        NamedShape("odd", _conv(5, 7, 33, 63, 1, 1, "valid")),
        NamedShape("t64", _conv(8, 8, 64, 64, 1, 1, "valid")),
    ),
    "conv2d": (
        NamedShape("m1", _conv(3, 3, 16, 32, 3, 1, "valid")),
        NamedShape("t16", _conv(4, 4, 16, 16, 3, 1, "same")),
        NamedShape("odd", _conv(7, 7, 17, 33, 3, 1, "same")),
        NamedShape("t64", _conv(8, 8, 64, 64, 3, 2, "same")),
    ),
    "transpose_conv": (
        NamedShape("m1", _conv(1, 1, 16, 32, 3, 1, "valid")),
        NamedShape("t16", _conv(4, 4, 16, 16, 3, 2, "same")),
        NamedShape("odd", _conv(5, 5, 17, 33, 3, 2, "same")),
        NamedShape("t64", _conv(8, 8, 64, 64, 3, 2, "same")),
    ),
    # 1152..1053 weights each (3x3 taps x output channels >= 1024, see above)
    "depthwise_conv2d": (
        NamedShape("m1", depthwise_shape(3, 3, 128, 1, 3, padding="valid")),
        NamedShape("t16", depthwise_shape(4, 4, 64, 2, 3)),
        NamedShape("odd", depthwise_shape(7, 7, 39, 3, 3)),
        NamedShape("t64", depthwise_shape(8, 8, 128, 1, 3, stride=2)),
    ),
}

SHAPE_SETS: dict[str, dict[str, tuple[NamedShape, ...]]] = {
    DEFAULT_SET: {name: (NamedShape("", op.default_shape),) for name, op in OPS.items()},
    "seed": {name: (NamedShape("", shape),) for name, shape in _SEED.items()},
    "tiles": _TILES,
}

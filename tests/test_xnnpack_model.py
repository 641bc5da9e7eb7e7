"""XNNPACK's own dynamic quantization (judge/xnnpack_model.py), worked by hand from
src/xnnpack/quantization.h, and the granularity the delegate gives each operator form."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_litert.judge import xnnpack_model
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import OPS, LayerShape
from pytest_litert.matrix.recipes import RECIPES


def test_a_row_by_hand() -> None:
    """x = (-1, 0, 3): scale 255/4 = 63.75; (-128 - 63.75) + (127 + 191.25) = 126.5 > 0, so the
    zero point comes from the minimum, -128 + 63.75 = -64.25 -> -64; q = rint(x*63.75) - 64,
    clamped: -128, -64, 127; x' = (q + 64) / 63.75."""
    scale, zero, step = xnnpack_model.parameters(np.array([[-1.0, 0.0, 3.0]]), (-1,))
    assert (float(scale[0, 0]), float(zero[0, 0]), float(step[0, 0])) == (63.75, -64.0, float(np.float32(1 / 63.75)))
    values, ties = xnnpack_model.quantize(np.array([[-1.0, 0.0, 3.0]]), (-1,))
    assert values[0] == pytest.approx(np.array([-64, 0, 191]) * float(np.float32(1 / 63.75)), rel=1e-15)
    assert not ties.any()


def test_a_tie_is_flagged_and_rounded_to_even() -> None:
    """max - min = 255: scale 1, zero point 0 ((-128 - 128) + (127 + 127) = -2: from the maximum);
    0.5 is a tie: XNNPACK rounds it to 0 (even), KleidiAI to 1, one step either way."""
    values, ties = xnnpack_model.quantize(np.array([[-128.0, 127.0, 0.5, 2.5]]), (-1,))
    assert values.tolist() == [[-128.0, 127.0, 0.0, 2.0]]
    assert ties.tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_an_all_zero_row() -> None:
    values, ties = xnnpack_model.quantize(np.zeros((2, 4)), (-1,))
    assert not values.any() and not ties.any()


@pytest.mark.parametrize(("op", "shape", "axes"), [
    ("fully_connected", None, (-1,)),
    ("fully_connected_3d", None, (-1,)),
    ("batch_matmul_const", None, (-1,)),
    ("conv2d_pointwise", None, (-1,)),  # a fully connected node in XNNPACK: a row per pixel
    ("conv2d", None, (1, 2, 3)),
    ("conv2d", LayerShape(height=5, width=5, k=8, n=8, kernel=1, stride=2), (1, 2, 3)),  # strided: a convolution
    ("transpose_conv", None, (1, 2, 3)),
    ("depthwise_conv2d", None, None),  # XNNPACK does not take a hybrid depthwise
])
def test_granularity_per_form(op: str, shape: LayerShape | None, axes: tuple[int, ...] | None) -> None:
    assert xnnpack_model.granularity(make_cell(OPS[op], RECIPES["dynamic_int8"], shape)) == axes

"""FLOPs per layer, read from the converted model, against the textbook count from the cell's shape."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pytest_litert.bench.work import layer_flops
from pytest_litert.matrix.cells import Cell, select_cells
from pytest_litert.matrix.ops import LayerShape
from pytest_litert.session import Runner, Settings


def _out(size: int, shape: LayerShape) -> int:
    if shape.padding == "same":
        return math.ceil(size / shape.stride)
    return (size - shape.kernel) // shape.stride + 1


def textbook_flops(op: str, s: LayerShape) -> int:
    """2 x multiply-accumulates, from the Keras layer's shape alone."""
    if op == "fully_connected":
        return 2 * s.m * s.k * s.n
    if op in ("batch_matmul", "batch_matmul_const", "fully_connected_3d"):  # (batch, m, k) x (k, n)
        return 2 * s.batch * s.m * s.k * s.n
    if op in ("conv2d", "conv2d_pointwise"):
        return 2 * s.batch * _out(s.height, s) * _out(s.width, s) * s.n * s.kernel * s.kernel * s.k
    if op == "depthwise_conv2d":  # n = k x depth multiplier outputs, each over kernel x kernel of one channel
        return 2 * s.batch * _out(s.height, s) * _out(s.width, s) * s.n * s.kernel * s.kernel
    if op == "transpose_conv":  # every input pixel scatters a kernel x kernel x filters block
        return 2 * s.batch * s.height * s.width * s.k * s.kernel * s.kernel * s.n
    raise AssertionError(op)


@pytest.mark.parametrize("cell", select_cells(recipes="fp32,static_int8", shapes="ci"), ids=lambda c: c.id)
def test_layer_flops_match_the_textbook(cell: Cell, shared_cache: Path) -> None:
    runner = Runner(Settings.from_strings(cell.op.name, cell.recipe.name, None, str(shared_cache)))
    layer = runner.artifact(cell).layer(cell.op)
    assert layer is not None
    assert layer_flops(layer) == textbook_flops(cell.op.name, cell.shape)


"""`bench --sweep`: how an operator's cost grows with its size, one axis at a time.

Each axis varies one dimension of the seed's shape (FULLY_CONNECTED 100x640 -> 1280; the
convolutions' 56x56 image) and keeps the others, so a curve shows where a kernel stops being
memory bound, where tiles fill (M at and past 16 / 64 rows) and where the one-row path runs.
Sweep cells are ordinary cells of shape set "sweep" (ids `fully_connected-fp32-sweep-m64`):
they convert through the same cache and are timed like any other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

from pytest_litert.matrix.cells import Cell, make_cell, parse_names
from pytest_litert.matrix.ops import OPS, LayerShape
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.shapes import SHAPE_SETS

SWEEP_SET = "sweep"
SEED_RECIPES = ("fp32", "fp16", "dynamic_int8", "static_int8")  # the seed's four FC models
_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_CHANNELS = (64, 128, 256, 512, 1024, 2048, 4096)
_IMAGE = (7, 14, 28, 56, 112)

Resize = Callable[[LayerShape, int], LayerShape]
_M: tuple[Resize, tuple[int, ...]] = (lambda shape, size: dataclasses.replace(shape, m=size), _ROWS)
_K: tuple[Resize, tuple[int, ...]] = (lambda shape, size: dataclasses.replace(shape, k=size), _CHANNELS)
_N: tuple[Resize, tuple[int, ...]] = (lambda shape, size: dataclasses.replace(shape, n=size), _CHANNELS)
_HW: tuple[Resize, tuple[int, ...]] = (lambda shape, size: dataclasses.replace(shape, height=size, width=size),
                                       _IMAGE)
# Per operator: axis name -> (how it resizes the seed shape, its sizes).
AXES: dict[str, dict[str, tuple[Resize, tuple[int, ...]]]] = {
    "fully_connected": {"m": _M, "k": _K, "n": _N},
    "fully_connected_3d": {"m": _M},  # the tokens of a transformer's sequence
    "batch_matmul": {"m": _M},
    "batch_matmul_const": {"m": _M},
    "conv2d_pointwise": {"hw": _HW},
    "conv2d": {"hw": _HW},
    "transpose_conv": {"hw": _HW},
    "depthwise_conv2d": {"hw": _HW},
}


def sweep_cells(ops: Iterable[str], recipes: Iterable[str], axes: str | None = None) -> list[Cell]:
    """Every (op, recipe) over each selected axis the op has (`axes` a comma list, None: all)."""
    known = sorted({axis for op_axes in AXES.values() for axis in op_axes})
    wanted = parse_names(axes, known, "sweep axis")
    cells = []
    for op_name in ops:
        seed_shape = SHAPE_SETS["seed"][op_name][0].shape
        for axis, (resize, sizes) in AXES[op_name].items():
            if axis not in wanted:
                continue
            for size in sizes:
                cells += [make_cell(OPS[op_name], RECIPES[recipe], resize(seed_shape, size), SWEEP_SET, f"{axis}{size}")
                          for recipe in recipes]
    return cells


def axis_and_size(label: str) -> tuple[str, int]:
    """`m64` -> ("m", 64)."""
    axis = label.rstrip("0123456789")
    return axis, int(label[len(axis):])

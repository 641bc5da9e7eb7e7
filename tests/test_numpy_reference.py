"""The NumPy reference agrees with LiteRT's reference kernels on the inputs that stress
run-time quantization: all-zero rows, constant rows, values on an int8 grid (rounding ties)."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_litert.convert.examples import ExampleBuilder
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import OPS, LayerShape, depthwise_shape
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.strategies import styled_array
from pytest_litert.session import Runner, Settings


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(Settings.from_strings(None, None, 0, None, "inprocess"))


@pytest.fixture(scope="module")
def examples(runner: Runner) -> ExampleBuilder:
    return ExampleBuilder(runner.artifact)


@pytest.mark.parametrize("style", ["zeros", "constant-rows", "int8-grid"])
@pytest.mark.parametrize(("op", "recipe", "shape"), [
    ("fully_connected", "dynamic_int8", LayerShape(m=4, k=2, n=512)),
    ("fully_connected", "int4", LayerShape(m=4, k=32, n=64)),
    ("batch_matmul_const", "dynamic_int8", LayerShape(batch=1, m=7, k=7, n=147)),
    ("conv2d_pointwise", "int4", LayerShape(height=2, width=2, k=2, n=512)),
    ("conv2d", "dynamic_int8", LayerShape(height=5, width=5, k=8, n=32, kernel=3, padding="same")),
    ("conv2d", "dynamic_int8_per_tensor", LayerShape(height=5, width=5, k=8, n=32, kernel=3, padding="same")),
    ("fully_connected", "int4_weight_only", LayerShape(m=4, k=32, n=64)),
    ("conv2d_pointwise", "int4_weight_only", LayerShape(height=2, width=2, k=2, n=512)),
    ("fully_connected_3d", "dynamic_int8", LayerShape(batch=2, m=3, k=4, n=512)),
    ("fully_connected_3d", "int4", LayerShape(batch=2, m=3, k=32, n=64)),
    ("depthwise_conv2d", "dynamic_int8", depthwise_shape(5, 5, 64, 2, 3)),
])
def test_numpy_matches_the_reference_kernels(runner: Runner, examples: ExampleBuilder, op: str, recipe: str,
                                             shape: LayerShape, style: str) -> None:
    cell = make_cell(OPS[op], RECIPES[recipe], shape)
    rng = np.random.default_rng(7)
    inputs = {name: styled_array(rng, dims, style) for name, dims in cell.op.input_shapes(shape).items()}
    verdict = runner.evaluate(cell, examples.artifact(cell, inputs))
    numpy_check = next(check for check in verdict.checks if check.name == "numpy vs reference")
    assert numpy_check.passed, verdict.explain()

"""Everything a cell needs that takes TensorFlow: the model bytes and the Keras reference.

A `CellArtifact` is what the cache stores, so that judging a cell later needs only
numpy and LiteRT. Inputs for integer-input recipes are drawn on the model's own input
grid (quantized with the model's input scale and zero point, then dequantized), so the
Keras reference sees exactly the values the integer model sees: input quantization is the
caller's business, not the model's, and is kept out of the error being judged.
"""

from __future__ import annotations

import numpy as np

from pytest_litert.convert.converter import ConversionError, convert
from pytest_litert.convert.keras_models import (
    build_model,
    keras_outputs,
    random_inputs,
    random_weights,
)
from pytest_litert.convert.quiet import Captured, quiet
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.model.flatbuffer import inspect_model
from pytest_litert.model.quantization import dequantize_inputs, quantize_inputs

CALIBRATION_SAMPLES = 32
INPUT_DRAWS = 3


def build_artifact(cell: Cell, seed: int, *, echo: bool = False) -> CellArtifact:
    """Build, convert and run the Keras reference; raises converter.ConversionError carrying
    the tail of what TensorFlow printed. On success its output is kept back, unless `echo`."""
    captured = Captured()
    try:
        with quiet(echo=echo) as captured:
            return _build(cell, seed)
    except ConversionError as error:
        output = captured.tail() or "(nothing)"
        raise ConversionError(f"{error}\nwhat the converter printed (last lines):\n{output}") from error


def _build(cell: Cell, seed: int) -> CellArtifact:
    rng = np.random.default_rng([seed, _stable_hash(cell.id)])
    weights = random_weights(cell.op, cell.shape, rng, cell.weight_style)
    model = build_model(cell.op, cell.shape, weights)
    calibration = [random_inputs(cell.op, cell.shape, rng) for _ in range(CALIBRATION_SAMPLES)]
    tflite = convert(model, cell.recipe.name, calibration)
    inspection = inspect_model(tflite)
    draws = [random_inputs(cell.op, cell.shape, rng) for _ in range(INPUT_DRAWS)]
    model_inputs = [quantize_inputs(inspection, draw) for draw in draws]
    float_inputs = [dequantize_inputs(inspection, draw) for draw in model_inputs]
    outputs = [keras_outputs(model, draw) for draw in float_inputs]
    return CellArtifact(tflite, weights, model_inputs, float_inputs, outputs)


def _stable_hash(text: str) -> int:
    """A per-cell seed component that, unlike hash(), is the same in every process."""
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") ^ len(text)

"""A drawn example as an artifact: the cell's cached conversion, the drawn inputs put on the
model's input grid, and the Keras reference for them.

Conversion is the cost (0.1-0.3 s a model), so a model is converted once per (cell, shape,
weight style) through the on-disk cache and its Keras twin is kept in memory; every input
draw then costs one Keras call. Used by the property tests (plugin/properties.py) and by
`export --property-examples` (report/export.py).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from pytest_litert.convert.keras_models import build_model, keras_outputs
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import Arrays, CellArtifact
from pytest_litert.model.quantization import dequantize_inputs, quantize_inputs

_KERAS_MODELS_KEPT = 32


class ExampleBuilder:
    """`artifact_of(cell)` gives the converted cell (through the cache); see the module doc."""

    def __init__(self, artifact_of: Callable[[Cell], CellArtifact]) -> None:
        self.artifact_of = artifact_of
        self._keras: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def artifact(self, cell: Cell, float_inputs: Arrays) -> CellArtifact:
        base = self.artifact_of(cell)
        model_inputs = quantize_inputs(base.inspection, float_inputs)
        on_grid = dequantize_inputs(base.inspection, model_inputs)
        reference = keras_outputs(self._keras_model(cell, base), on_grid)
        return dataclasses.replace(base, model_inputs=[model_inputs], float_inputs=[on_grid],
                                   reference_outputs=[reference])

    def _keras_model(self, cell: Cell, artifact: CellArtifact) -> Any:
        key = (cell.id, cell.shape, cell.weight_style)
        if key not in self._keras:
            self._keras[key] = build_model(cell.op, cell.shape, artifact.weights)
            if len(self._keras) > _KERAS_MODELS_KEPT:
                self._keras.popitem(last=False)
        self._keras.move_to_end(key)
        return self._keras[key]

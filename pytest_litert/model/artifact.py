"""What judging needs of a converted cell, with no TensorFlow: the model and its Keras reference.

convert/ builds a CellArtifact (and the cache stores it); run/ and judge/ take it. Inputs for
integer-input recipes lie on the model's own input grid (see convert/artifact.py).
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from pytest_litert.matrix.ops import OpSpec
from pytest_litert.model.flatbuffer import ModelInspection, inspect_model
from pytest_litert.model.layer import MainLayer, main_layer

Arrays = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class LayerWeights:
    """Weights in Keras layout. `kernel` is None for the two-input BATCH_MATMUL."""

    kernel: np.ndarray | None
    bias: np.ndarray | None


_PARSED = ("inspection", "_layers")  # what a CellArtifact derives from its model, once


@dataclasses.dataclass(frozen=True)
class CellArtifact:
    """A converted cell and its float reference on `INPUT_DRAWS` seeded input draws."""

    model: bytes
    weights: LayerWeights
    model_inputs: list[Arrays]
    float_inputs: list[Arrays]
    reference_outputs: list[np.ndarray]
    # Canonical input name ("x", "y") -> the model's signature input name, where they differ
    # (a user's model: `pytest_litert.check`). Arrays here are keyed canonically.
    signature_names: dict[str, str] = dataclasses.field(default_factory=dict)
    # What `reference_outputs` are: "keras" (the Keras model's output), or "file" (no Keras model:
    # the file's own constants evaluated in float64, the float model the file stands for; one
    # operator of a whole model judged file-only). Numeric checks are named "<lane> vs <reference>".
    reference: str = "keras"

    def first_draws(self, count: int | None) -> CellArtifact:
        """The artifact with only its first `count` input draws (all of them for None)."""
        if count is None or count >= len(self.model_inputs):
            return self
        fewer = dataclasses.replace(self, model_inputs=self.model_inputs[:count],
                                    float_inputs=self.float_inputs[:count],
                                    reference_outputs=self.reference_outputs[:count])
        fewer.__dict__.update({key: self.__dict__[key] for key in _PARSED if key in self.__dict__})  # same model
        return fewer

    def signature_inputs(self, inputs: Arrays) -> Arrays:
        return {self.signature_names.get(name, name): value for name, value in inputs.items()}

    @functools.cached_property
    def inspection(self) -> ModelInspection:
        """The parsed model, once per artifact (a mutated copy is a new artifact)."""
        return inspect_model(self.model)

    def layer(self, op: OpSpec) -> MainLayer | None:
        """The main layer of the model, found once per artifact."""
        found: dict[str, MainLayer | None] = self.__dict__.setdefault("_layers", {})
        if op.op_code not in found:
            found[op.op_code] = main_layer(self.inspection, op.op_code)
        return found[op.op_code]

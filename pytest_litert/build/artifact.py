"""Everything a cell needs that takes TensorFlow: the model bytes and the Keras reference.

A `CellArtifact` is what the cache stores, so that judging a cell later needs only
numpy and LiteRT. Inputs for integer-input recipes are drawn on the model's own input
grid (quantized with the model's input scale and zero point, then dequantized), so the
Keras reference sees exactly the values the integer model sees: input quantization is the
caller's business, not the model's, and is kept out of the error being judged.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pytest_litert.model.flatbuffer import ModelInspection, inspect_model
from pytest_litert.build.keras_models import Arrays, LayerWeights, build_model, keras_outputs, random_inputs, random_weights
from pytest_litert.spec.cells import Cell

CALIBRATION_SAMPLES = 32
INPUT_DRAWS = 3


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

    def signature_inputs(self, inputs: Arrays) -> Arrays:
        return {self.signature_names.get(name, name): value for name, value in inputs.items()}

    def inspect(self) -> ModelInspection:
        return inspect_model(self.model)


def build_artifact(cell: Cell, seed: int) -> CellArtifact:
    """Build, convert and run the Keras reference; raises convert.ConversionError."""
    from pytest_litert.build.convert import convert

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


def input_tensors(inspection: ModelInspection, names: list[str],
                  signature_names: dict[str, str] | None = None) -> dict[str, int]:
    """Map input names to tensor indices (tensors are named `serving_default_<name>:0`)."""
    found = {}
    for name in names:
        signature = (signature_names or {}).get(name, name)
        if signature in inspection.signature_inputs:
            found[name] = inspection.signature_inputs[signature]
            continue
        for index in inspection.inputs:
            tensor_name = inspection.tensors[index].name
            if tensor_name == signature or tensor_name.startswith(f"serving_default_{signature}:"):
                found[name] = index
    if len(found) != len(names):
        missing = sorted(set(names) - set(found))
        raise ValueError(f"the model has no input tensor for {missing}; its inputs are "
                         f"{[inspection.tensors[i].name for i in inspection.inputs]}")
    return found


def quantize_inputs(inspection: ModelInspection, inputs: Arrays,
                    signature_names: dict[str, str] | None = None) -> Arrays:
    """Float inputs -> what the model's input tensors take (unchanged for float inputs)."""
    tensors = input_tensors(inspection, list(inputs), signature_names)
    result = {}
    for name, value in inputs.items():
        tensor = inspection.tensors[tensors[name]]
        if tensor.dtype in ("INT8", "INT16"):
            info = np.iinfo(tensor.dtype.lower())
            q = np.round(value / tensor.scales[0]) + tensor.zero_points[0]
            result[name] = np.clip(q, info.min, info.max).astype(tensor.dtype.lower())
        else:
            result[name] = value.astype(np.float32)
    return result


def dequantize_inputs(inspection: ModelInspection, inputs: Arrays,
                      signature_names: dict[str, str] | None = None) -> Arrays:
    """Model inputs -> the float values they stand for."""
    tensors = input_tensors(inspection, list(inputs), signature_names)
    result = {}
    for name, value in inputs.items():
        tensor = inspection.tensors[tensors[name]]
        if tensor.dtype in ("INT8", "INT16"):
            scale, zero = tensor.scales[0], tensor.zero_points[0]
            result[name] = ((value.astype(np.float64) - zero) * scale).astype(np.float32)
        else:
            result[name] = value
    return result

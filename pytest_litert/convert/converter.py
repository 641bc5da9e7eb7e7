"""Turn a Keras model into .tflite bytes with one of the post-training recipes.

The recipes are the seed document's snippets, generalised: `fp32`, `fp16` (with the
fp16-accumulation hint), `fp16_weights` (without it), `dynamic_int8` and `static_int8`
(int8 input and output), each also `_per_tensor` (the converter's per-channel switch off),
`int16x8` (extra), and `int4` / `int4_weight_only` (per-channel INT4 weights through
ai-edge-quantizer, because the converter has no post-training INT4 option).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from pytest_litert.convert.keras_models import MissingDependencyError, import_keras
from pytest_litert.model.artifact import Arrays

__all__ = ["ConversionError", "MissingDependencyError", "convert"]


class ConversionError(RuntimeError):
    """The converter or the quantizer refused the model; the message is theirs."""


def convert(model: Any, recipe: str, calibration: list[Arrays]) -> bytes:
    """Convert `model`; `calibration` feeds static recipes, matched to inputs by name."""
    if recipe in _INT4_RECIPES:
        return _quantize_int4(convert(model, "fp32", calibration), recipe)
    import_keras()
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    _RECIPES[recipe](tf, converter, calibration)
    try:
        return bytes(converter.convert())  # its output is kept by convert/quiet.py
    except Exception as error:
        raise ConversionError(f"{recipe}: {type(error).__name__}: {error}") from error


def _fp32(tf: Any, converter: Any, calibration: list[Arrays]) -> None:
    del tf, converter, calibration


def _fp16(tf: Any, converter: Any, calibration: list[Arrays]) -> None:
    _fp16_weights(tf, converter, calibration)
    converter.target_spec._experimental_supported_accumulation_type = tf.dtypes.float16


def _fp16_weights(tf: Any, converter: Any, calibration: list[Arrays]) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]


def _dynamic_int8(tf: Any, converter: Any, calibration: list[Arrays]) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]


def _static_int8(tf: Any, converter: Any, calibration: list[Arrays]) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.target_spec.supported_types = [tf.int8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter.representative_dataset = _by_name(calibration)


def _per_tensor(recipe: Callable[[Any, Any, list[Arrays]], None]) -> Callable[[Any, Any, list[Arrays]], None]:
    """The same recipe with the converter's (private, undocumented) per-channel switch off."""

    def per_tensor(tf: Any, converter: Any, calibration: list[Arrays]) -> None:
        recipe(tf, converter, calibration)
        converter._experimental_disable_per_channel = True

    return per_tensor


def _int16x8(tf: Any, converter: Any, calibration: list[Arrays]) -> None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
    ]
    converter.inference_input_type = tf.int16
    converter.inference_output_type = tf.int16
    converter.representative_dataset = _by_name(calibration)


def _by_name(calibration: list[Arrays]) -> Callable[[], Iterator[Arrays]]:
    """Yield dicts keyed by input name: a list would follow the converter's name order."""

    def dataset() -> Iterator[Arrays]:
        for sample in calibration:
            yield {name: np.asarray(value, np.float32) for name, value in sample.items()}

    return dataset


# recipe -> ai-edge-quantizer's recipe function (in ai_edge_quantizer.recipe)
_INT4_RECIPES = {"int4": "dynamic_wi4_afp32", "int4_weight_only": "weight_only_wi4_afp32"}


def _quantize_int4(float_model: bytes, name: str) -> bytes:
    try:
        from ai_edge_quantizer import quantizer, recipe
    except ImportError as error:
        raise MissingDependencyError(
            f"the {name} recipe needs ai-edge-quantizer: pip install 'pytest-litert[int4]'", "int4"
        ) from error
    try:
        engine = quantizer.Quantizer(float_model, getattr(recipe, _INT4_RECIPES[name])())
        result = engine.quantize(enable_progress_report=False)
    except Exception as error:
        raise ConversionError(f"{name}: {type(error).__name__}: {error}") from error
    if result.quantized_model is None:
        raise ConversionError(f"{name}: ai-edge-quantizer returned no model")
    return bytes(result.quantized_model)


_RECIPES: dict[str, Callable[[Any, Any, list[Arrays]], None]] = {
    "fp32": _fp32,
    "fp16": _fp16,
    "fp16_weights": _fp16_weights,
    "dynamic_int8": _dynamic_int8,
    "dynamic_int8_per_tensor": _per_tensor(_dynamic_int8),
    "static_int8": _static_int8,
    "static_int8_per_tensor": _per_tensor(_static_int8),
    "int16x8": _int16x8,
}

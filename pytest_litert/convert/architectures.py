"""Real architectures, built from Keras layers and seeded, to judge whole models op by op.

- `mobilenet_v2`: keras.applications.MobileNetV2 (weights=None) at a small alpha and input.
- `mobile_blocks`: the same building blocks in small (a strided stem, an inverted residual block
  with a ZeroPadding2D in front of a strided depthwise convolution, one with a residual ADD, a
  pooled Dense head): the CI-sized instance.
- `encoder_block`: a transformer encoder block (MultiHeadAttention, LayerNormalization, a Dense
  feed-forward on the 3-D sequence with GELU).

BatchNormalization statistics, biases and LayerNormalization offsets get seeded random values:
an untrained network's (mean 0, variance 1, biases 0) makes every fold trivial, stores one
shared zero bias for every layer of a width, and lets a deep stack's activations die out, so an
operator would be judged on zeros. `convert_all` converts one model with the matrix's recipes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_litert.convert.converter import convert
from pytest_litert.convert.keras_models import import_keras
from pytest_litert.convert.quiet import quiet
from pytest_litert.model.artifact import Arrays

CALIBRATION_SAMPLES = 16
WHOLE_MODEL_RECIPES = ("fp32", "fp16", "dynamic_int8", "static_int8")


def mobilenet_v2(*, alpha: float = 0.35, size: int = 32, classes: int = 10, seed: int = 0) -> Any:
    keras = import_keras()
    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(input_shape=(size, size, 3), alpha=alpha, weights=None, classes=classes)
    return _seeded_statistics(model, seed)


def mobile_blocks(*, size: int = 16, width: int = 16, classes: int = 10, seed: int = 0) -> Any:
    """Conv-BN-ReLU6 stem (stride 2), an inverted residual block with a strided depthwise
    convolution behind ZeroPadding2D, one with a residual ADD, global pooling, a Dense head."""
    keras = import_keras()
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input((size, size, 3), batch_size=1, name="image")
    x = _conv_bn(layers, x, width, 3, 2, "stem", relu=True)
    x = _inverted(layers, x, width, 2, "block_1")
    shortcut = x
    x = _inverted(layers, x, width, 1, "block_2")
    x = layers.Add(name="block_2_add")([shortcut, x])
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return _seeded_statistics(keras.Model(inputs, outputs, name="mobile_blocks"), seed)


def _conv_bn(layers: Any, x: Any, filters: int, kernel: int, stride: int, name: str, *, relu: bool) -> Any:
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(name=f"{name}_BN")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _inverted(layers: Any, x: Any, width: int, stride: int, name: str) -> Any:
    x = _conv_bn(layers, x, width * 4, 1, 1, f"{name}_expand", relu=True)
    if stride == 2:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, padding="valid" if stride == 2 else "same", use_bias=False,
                               name=f"{name}_depthwise")(x)
    x = layers.BatchNormalization(name=f"{name}_depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    return _conv_bn(layers, x, width, 1, 1, f"{name}_project", relu=False)


def encoder_block(*, sequence: int = 16, width: int = 64, heads: int = 4, hidden: int = 128, seed: int = 0) -> Any:
    """x + MultiHeadAttention(x, x) -> LayerNormalization -> Dense(hidden, gelu) -> Dense(width),
    added back -> LayerNormalization, on a fixed batch of one (3-D FULLY_CONNECTED with keep_num_dims)."""
    keras = import_keras()
    layers = keras.layers
    keras.utils.set_random_seed(seed)
    x = keras.Input((sequence, width), batch_size=1, name="tokens")
    attended = layers.MultiHeadAttention(heads, width // heads, name="mha")(x, x)
    h = layers.LayerNormalization(name="ln1")(layers.Add(name="add1")([x, attended]))
    f = layers.Dense(hidden, activation="gelu", name="ff1")(h)
    f = layers.Dense(width, name="ff2")(f)
    y = layers.LayerNormalization(name="ln2")(layers.Add(name="add2")([h, f]))
    return _seeded_statistics(keras.Model(x, y, name="encoder"), seed)


def _seeded_statistics(model: Any, seed: int) -> Any:
    """Seeded, non-trivial BatchNormalization statistics, biases and normalization offsets."""
    rng = np.random.default_rng([seed, 22])
    for variable in model.weights:
        path = str(variable.path)
        shape = tuple(variable.shape)
        if path.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        elif path.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        elif path.endswith(("moving_mean", "beta", "bias")):
            value = rng.normal(0.0, 0.1, shape)
        else:
            continue
        variable.assign(value.astype(np.float32))
    return model


def calibration(model: Any, seed: int, samples: int = CALIBRATION_SAMPLES) -> list[Arrays]:
    """Representative inputs, uniform [-1, 1] by input name (the range the checks draw from)."""
    rng = np.random.default_rng([seed, 23])
    shapes = {tensor.name: tuple(1 if d is None else int(d) for d in tensor.shape) for tensor in model.inputs}
    return [{name: rng.uniform(-1, 1, shape).astype(np.float32) for name, shape in shapes.items()}
            for _ in range(samples)]


def convert_all(model: Any, recipes: tuple[str, ...] = WHOLE_MODEL_RECIPES, *, seed: int = 0) -> dict[str, bytes]:
    """The model converted with each recipe (the static ones calibrated on seeded inputs)."""
    data = calibration(model, seed)
    converted = {}
    for recipe in recipes:
        with quiet():  # "Saved artifact at ...", the calibrator's warnings
            converted[recipe] = convert(model, recipe, data)
    return converted

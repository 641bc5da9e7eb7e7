"""Build the single-layer Keras model of a cell and compute its float reference.

TensorFlow is imported here and in converter.py only, and lazily, so that a fully cached
run and the emulated target never pay for it (~3 s, ~660 MB).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pytest_litert.matrix.ops import LayerShape, OpSpec, depth_multiplier
from pytest_litert.model.artifact import Arrays, LayerWeights


class MissingDependencyError(RuntimeError):
    """A dependency a recipe needs is not installed; `extra` is the install extra that has it.
    Without `convert` (TensorFlow) nothing converts: an error; without `int4` one recipe: a skip."""

    def __init__(self, message: str, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


TENSORFLOW_HINT = ("converting a cell needs TensorFlow, which is not installed: pip install 'pytest-litert[convert]', "
                   "or judge a bundle exported where TensorFlow is "
                   "(`pytest-litert export DIR`, then --litert-bundle=DIR)")


def import_keras() -> Any:
    """Import Keras with TensorFlow's start-up noise silenced (see DESIGN.md)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import keras
        import tensorflow  # noqa: F401  # Keras 3 alone cannot convert
    except ImportError as error:
        raise MissingDependencyError(TENSORFLOW_HINT, "convert") from error
    return keras


def random_weights(op: OpSpec, shape: LayerShape, rng: np.random.Generator,
                   style: str = "uniform") -> LayerWeights:
    """Weights scaled by 1/sqrt(K) so outputs stay O(1) whatever the reduction length.

    style: "uniform"; "one-sign-channels" (each output channel all positive or all negative,
    so errors cannot cancel); "mixed-scales" (channel magnitudes spread over three decades)."""
    if not op.constant_weights:
        return LayerWeights(kernel=None, bias=None)
    scale = 1.0 / np.sqrt(op.reduction_length(shape) / 4.0)
    kernel = rng.uniform(-1.0, 1.0, op.weight_shape(shape)) * scale
    per_channel = _output_channel_shape(op, kernel.shape)
    if style == "one-sign-channels":
        kernel = np.abs(kernel) * rng.choice(np.array([-1.0, 1.0]), per_channel)
    elif style == "mixed-scales":
        kernel = kernel * 10.0 ** rng.uniform(-2.0, 1.0, per_channel)
    elif style != "uniform":
        raise ValueError(f"unknown weight style {style!r}")
    kernel = kernel.astype(np.float32)
    if op.name == "batch_matmul_const":
        return LayerWeights(kernel=kernel, bias=None)
    bias = rng.uniform(-0.5, 0.5, (shape.n,)).astype(np.float32)
    return LayerWeights(kernel=kernel, bias=bias)


def _output_channel_shape(op: OpSpec, kernel_shape: tuple[int, ...]) -> list[int]:
    """A shape that broadcasts one value per output channel over the Keras kernel: its last
    axis, TRANSPOSE_CONV's third, and a depthwise kernel's (input channel, multiplier) pair."""
    per_channel = [1] * len(kernel_shape)
    axes = {"TRANSPOSE_CONV": (2,), "DEPTHWISE_CONV_2D": (2, 3)}.get(op.op_code, (len(kernel_shape) - 1,))
    for axis in axes:
        per_channel[axis] = kernel_shape[axis]
    return per_channel


def random_inputs(op: OpSpec, shape: LayerShape, rng: np.random.Generator) -> Arrays:
    """Inputs uniform in [-1, 1], the range the representative dataset also covers."""
    return {
        name: rng.uniform(-1.0, 1.0, dims).astype(np.float32)
        for name, dims in op.input_shapes(shape).items()
    }


def build_model(op: OpSpec, shape: LayerShape, weights: LayerWeights) -> Any:
    """A functional Keras model with inputs named as in `OpSpec.input_shapes`."""
    keras = import_keras()
    op.validate(shape)
    inputs = {
        name: keras.Input(shape=dims[1:], batch_size=dims[0], name=name)
        for name, dims in op.input_shapes(shape).items()
    }
    layer = _make_layer(keras, op, shape)
    output = layer(inputs["x"], inputs["y"]) if "y" in inputs else layer(inputs["x"])
    # A list (not a dict) of inputs: the converter calls the model positionally.
    listed = list(inputs.values())
    model = keras.Model(inputs=listed[0] if len(listed) == 1 else listed, outputs=output, name=op.name)
    if weights.kernel is not None:
        values = [weights.kernel] if weights.bias is None else [weights.kernel, weights.bias]
        layer.set_weights(values)
    return model


def _make_layer(keras: Any, op: OpSpec, shape: LayerShape) -> Any:
    layers = keras.layers
    if op.op_code == "FULLY_CONNECTED":  # on a 2-D or a 3-D input alike
        return layers.Dense(shape.n, name="dense")
    if op.name == "batch_matmul":
        return _matmul_layer(keras)
    if op.name == "batch_matmul_const":
        return _constant_matmul_layer(keras, op.weight_shape(shape))
    if op.name == "transpose_conv":
        return layers.Conv2DTranspose(
            shape.n, shape.kernel, strides=shape.stride, padding=shape.padding, name="tconv"
        )
    if op.op_code == "DEPTHWISE_CONV_2D":
        return layers.DepthwiseConv2D(
            shape.kernel, strides=shape.stride, padding=shape.padding, depth_multiplier=depth_multiplier(shape),
            dilation_rate=shape.dilation, name="depthwise",
        )
    return layers.Conv2D(
        shape.n,
        shape.kernel,
        strides=shape.stride,
        dilation_rate=shape.dilation,
        padding=shape.padding,
        name="conv",
    )


def _matmul_layer(keras: Any) -> Any:
    class MatMul(keras.layers.Layer):  # type: ignore[misc]
        def call(self, lhs: Any, rhs: Any) -> Any:
            return keras.ops.matmul(lhs, rhs)

    return MatMul(name="matmul")


def _constant_matmul_layer(keras: Any, rhs_shape: tuple[int, ...]) -> Any:
    """A 3-D constant right-hand side: a 2-D one would become FULLY_CONNECTED."""

    class ConstantMatMul(keras.layers.Layer):  # type: ignore[misc]
        def build(self, input_shape: Any) -> None:
            self.rhs = self.add_weight(shape=rhs_shape, trainable=False, name="rhs")

        def call(self, lhs: Any) -> Any:
            return keras.ops.matmul(lhs, self.rhs)

    return ConstantMatMul(name="const_matmul")


def keras_outputs(model: Any, inputs: Arrays) -> np.ndarray:
    """The float32 reference output for one batch of inputs."""
    ordered = [np.asarray(inputs[name]) for name in _input_names(model)]
    result = model(ordered[0] if len(ordered) == 1 else ordered, training=False)
    return np.asarray(result, dtype=np.float32)


def _input_names(model: Any) -> list[str]:
    return [tensor.name for tensor in model.inputs]

"""The Keras side of one matrix operator of a whole model: the layers it computes, their weights
as the operator holds them, and their output on the operator's own inputs.

One TFLite operator may compute several Keras layers: the converter folds a BatchNormalization
that follows a convolution into its weights and bias, fuses a ReLU / ReLU6 into it, and a
ZeroPadding2D in front of a VALID convolution into SAME padding. So the Keras side of an
operator is that chain: [ZeroPadding2D] -> the layer -> [BatchNormalization ...] -> [activation].
The normalization is folded the way the converter does it, in float32 with Keras's own ops
(inv = rsqrt(variance + epsilon) * gamma; kernel * inv; bias * inv - mean * inv + beta: measured
bit-exact against the converter's fp32 weights, TensorFlow 2.21), and the layer itself is then
run by Keras with those weights (a clone with no activation, or no bias where the converter
moved the bias out of the operator).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pytest_litert.convert.keras_match import Candidate, einsum_split, keras_kernel_of
from pytest_litert.convert.keras_models import import_keras
from pytest_litert.model.artifact import LayerWeights
from pytest_litert.model.graph import ModelGraph

FUSED = {"relu": "RELU", "relu6": "RELU6", "linear": "NONE"}


class ChainError(ValueError):
    """The Keras layers around the matched layer do not add up to what the operator computes."""


@dataclasses.dataclass(frozen=True)
class KerasChain:
    """The Keras layers one operator computes, and what to call to compute them."""

    main: Candidate
    before: tuple[Any, ...]  # ZeroPadding2D folded into SAME padding
    norms: tuple[Any, ...]  # BatchNormalization folded into the weights
    activation: Any  # a callable (a Keras activation layer or function), or None
    use_bias: bool

    @property
    def names(self) -> tuple[str, ...]:
        named = [*(layer.name for layer in self.before), self.main.name, *(layer.name for layer in self.norms)]
        if self.activation is not None and hasattr(self.activation, "name"):
            named.append(self.activation.name)
        return tuple(named)


def chain_of(model: Any, main: Candidate, graph: ModelGraph, op_index: int, has_bias: bool) -> KerasChain:
    """The chain for `main` as operator `op_index` holds it; ChainError says what does not fit."""
    op = graph.operators[op_index]
    consumers = _consumers(model)
    layer = main.layer
    nxt = _only(consumers.get(id(layer.output), [])) if len(main.path) == 1 else None
    norms: list[Any] = []
    while nxt is not None and nxt.__class__.__name__ == "BatchNormalization" and _folded(graph, op_index):
        norms.append(nxt)
        nxt = _only(consumers.get(id(nxt.output), []))
    own = _activation_name(layer)
    activation: Any = None
    if op.fused_activation != "NONE":
        if not norms and FUSED.get(own) == op.fused_activation:
            activation = import_keras().activations.get(own)
        elif nxt is not None and _fused_by(nxt) == op.fused_activation and own == "linear":
            activation = nxt
        else:
            raise ChainError(f"the operator fuses {op.fused_activation}, but after {main.name} "
                             f"({own}{', ' + norms[-1].name if norms else ''}) Keras has no such activation")
    elif norms and own != "linear":
        raise ChainError(f"{main.name} applies {own} before {norms[0].name}: the operator cannot fold it")
    before = _padding_before(model, layer, graph.tensor(op.inputs[_data_position(op.op_code)]).shape)
    return KerasChain(main, before, tuple(norms), activation, has_bias)


def _data_position(op_code: str) -> int:
    return 2 if op_code == "TRANSPOSE_CONV" else 0


def _activation_name(layer: Any) -> str:
    activation = getattr(layer, "activation", None)
    return str(getattr(activation, "__name__", "linear")) if activation is not None else "linear"


def _fused_by(layer: Any) -> str:
    """The TFLite fused activation an activation layer becomes ('' for any other layer)."""
    kind = layer.__class__.__name__
    if kind == "ReLU":
        config = layer.get_config()
        if float(config.get("negative_slope") or 0) or float(config.get("threshold") or 0):
            return ""
        return {None: "RELU", 6.0: "RELU6"}.get(None if config.get("max_value") is None
                                                 else float(config["max_value"]), "")
    if kind == "Activation":
        return FUSED.get(_activation_name(layer), "")
    return ""


def _folded(graph: ModelGraph, op_index: int) -> bool:
    """The converter folded the normalization in: the operator's output does not go straight into
    a MUL by a constant (an unfolded BatchNormalization's scale)."""
    users = graph.consumers.get(graph.operators[op_index].outputs[0], ())
    return not any(graph.operators[u].op_code == "MUL" and any(graph.is_constant(t) for t in graph.operators[u].inputs)
                   for u in users)


def _padding_before(model: Any, layer: Any, data_shape: tuple[int, ...]) -> tuple[Any, ...]:
    """A ZeroPadding2D feeding the layer, when the operator reads the unpadded tensor."""
    try:
        source = _producers(model).get(id(layer.input))
    except (AttributeError, ValueError):  # a sublayer: no functional input
        return ()
    if source is None or source.__class__.__name__ != "ZeroPadding2D":
        return ()
    unpadded = tuple(int(d) for d in source.input.shape[1:] if d is not None)
    return (source,) if unpadded == tuple(data_shape[1:]) else ()


def _only(layers: list[Any]) -> Any:
    return layers[0] if len(layers) == 1 else None


def _consumers(model: Any) -> dict[int, list[Any]]:
    """id(KerasTensor) -> the top-level layers that read it."""
    found: dict[int, list[Any]] = {}
    for layer in model.layers:
        try:
            inputs = layer.input
        except (AttributeError, ValueError):
            continue
        for tensor in inputs if isinstance(inputs, list | tuple) else [inputs]:
            found.setdefault(id(tensor), []).append(layer)
    return found


def _producers(model: Any) -> dict[int, Any]:
    found = {}
    for layer in model.layers:
        try:
            found[id(layer.output)] = layer
        except (AttributeError, ValueError):
            continue
    return found


def folded_weights(chain: KerasChain) -> tuple[np.ndarray, np.ndarray | None]:
    """Kernel (the layer's own layout) and bias after folding the normalizations, in float32."""
    layer = chain.main.layer
    kernel = np.asarray(layer.kernel, np.float32)
    bias_variable = getattr(layer, "bias", None)
    bias = None if bias_variable is None else np.asarray(bias_variable, np.float32)
    for norm in chain.norms:
        kernel, bias = _fold(norm, chain.main.kind, kernel, bias)
    return kernel, bias


def _fold(norm: Any, kind: str, kernel: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """BatchNormalization's inference arithmetic (Keras's own ops) moved into kernel and bias."""
    ops = import_keras().ops
    inv = ops.rsqrt(ops.add(np.asarray(norm.moving_variance), norm.epsilon))
    if norm.gamma is not None:
        inv = ops.multiply(inv, np.asarray(norm.gamma))
    shift = ops.multiply(ops.negative(np.asarray(norm.moving_mean)), inv)
    if norm.beta is not None:
        shift = ops.add(shift, np.asarray(norm.beta))
    inv, shift = np.asarray(inv, np.float32), np.asarray(shift, np.float32)
    shape = [1] * kernel.ndim
    if kind == "DepthwiseConv2D":
        shape[2:] = kernel.shape[2:]
    else:
        shape[2 if kind == "Conv2DTranspose" else -1] = -1
    folded = np.asarray(ops.multiply(kernel, inv.reshape(shape)), np.float32)
    new_bias = shift if bias is None else np.asarray(ops.add(ops.multiply(bias.reshape(-1), inv), shift), np.float32)
    return folded, new_bias


def layer_weights(chain: KerasChain) -> LayerWeights:
    """The weights in the matrix's Keras layout for this operator (EinsumDense flattened to (K, N))."""
    kernel, bias = _operator_weights(chain)
    if chain.main.kind == "EinsumDense":
        flat = keras_kernel_of(chain.main)
        assert flat is not None
        kernel = kernel.reshape(flat.shape)
    return LayerWeights(kernel, None if bias is None else bias.reshape(-1))


def _operator_weights(chain: KerasChain) -> tuple[np.ndarray, np.ndarray | None]:
    """Folded kernel, and the bias the operator holds: none where it has no bias input, zeros
    where it has one that Keras lacks (the converter adds it)."""
    kernel, bias = folded_weights(chain)
    if not chain.use_bias:
        return kernel, None
    if bias is None:
        bias = np.zeros(_outputs(chain), np.float32)
    return kernel, bias


def _outputs(chain: KerasChain) -> int:
    """Output channels (EinsumDense: every output element of one row)."""
    kernel = keras_kernel_of(chain.main)
    assert kernel is not None
    if chain.main.kind == "Conv2DTranspose":
        return int(kernel.shape[2])
    if chain.main.kind == "DepthwiseConv2D":
        return int(kernel.shape[2] * kernel.shape[3])
    return int(kernel.shape[-1])


def outputs(chain: KerasChain, x: np.ndarray, output_shape: tuple[int, ...]) -> np.ndarray:
    """The chain's float32 output on the operator's float input `x`, in the operator's shape."""
    keras = import_keras()
    layer = chain.main.layer
    value: Any = np.asarray(x, np.float32)
    for pad in chain.before:
        value = pad(value)
    if chain.main.kind == "EinsumDense":
        split = einsum_split(layer.equation, len(layer.kernel.shape))
        assert split is not None
        value = np.reshape(np.asarray(value), (*np.shape(value)[:-1], *layer.kernel.shape[:split]))
    value = _clone(keras, chain, tuple(np.shape(value)))(value)
    if chain.activation is not None:
        value = chain.activation(value)
    return np.asarray(value, np.float32).reshape(output_shape)


def _clone(keras: Any, chain: KerasChain, input_shape: tuple[int, ...]) -> Any:
    """The layer again, linear, carrying the operator's weights: the folded ones, with a bias
    exactly where the operator has one (the converter moves a bias it cannot fuse into an ADD)."""
    layer = chain.main.layer
    config = {**layer.get_config(), "activation": "linear"}
    kernel, bias = _operator_weights(chain)
    own_bias = getattr(layer, "bias", None)
    if chain.main.kind == "EinsumDense":
        if bias is not None and own_bias is None:
            raise ChainError(f"{chain.main.name} has no bias, but the operator has one")
        config["bias_axes"] = config.get("bias_axes") if bias is not None else None
    else:
        config["use_bias"] = bias is not None
    clone = layer.__class__.from_config(config)
    clone.build(input_shape)
    if bias is None:
        clone.set_weights([kernel])
    else:
        clone.set_weights([kernel, bias.reshape(np.shape(own_bias) if own_bias is not None else (-1,))])
    return clone

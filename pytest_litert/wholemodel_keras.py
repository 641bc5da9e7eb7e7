"""The Keras side of a whole-model check: which layers each operator computes, and the model's
end-to-end metrics (XNNPACK vs reference kernels vs Keras: max abs, cosine, SNR).

Matching is convert/keras_match.py (names, then order and shapes), the layer chains and their
outputs convert/keras_side.py. An operator without a match is judged file-only and says why;
a Keras layer no operator claimed is listed; neither is ever dropped silently.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_litert.judge.checks import aggregate_metrics
from pytest_litert.model.artifact import Arrays, LayerWeights
from pytest_litert.model.flatbuffer import ModelInspection
from pytest_litert.model.graph import ModelGraph
from pytest_litert.model.quantization import INTEGER_DTYPES, dequantize
from pytest_litert.run.model_run import ModelRun

if TYPE_CHECKING:
    from pytest_litert.convert.keras_side import KerasChain
    from pytest_litert.matrix.ops import LayerShape, OpSpec


@dataclasses.dataclass(frozen=True)
class OpToFind:
    """What matching needs of one judged operator: its index, operator and shape, and whether
    the file stores a bias (a Keras layer without one cannot be it)."""

    index: int
    spec: OpSpec
    shape: LayerShape
    has_bias: bool


@dataclasses.dataclass(frozen=True)
class KerasMatches:
    """Per judged operator its Keras chain and how it was found, or why there is none."""

    chains: dict[int, KerasChain] = dataclasses.field(default_factory=dict)
    how: dict[int, str] = dataclasses.field(default_factory=dict)
    unmatched: dict[int, str] = dataclasses.field(default_factory=dict)
    unclaimed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def describe(self, op_index: int) -> str:
        """'block_1_expand (Conv2D) + block_1_expand_BN + block_1_expand_relu, by name', or
        'unmatched: why', or '' without a Keras model."""
        chain = self.chains.get(op_index)
        if chain is not None:
            return f"{' + '.join(chain.names)} ({chain.main.kind}), {self.how[op_index]}"
        return f"unmatched: {self.unmatched[op_index]}" if op_index in self.unmatched else ""

    def side(self, chain: KerasChain, floats: list[Arrays], output_shape: tuple[int, ...]) -> tuple[
            LayerWeights, list[np.ndarray]]:
        """The chain's weights in the matrix's Keras layout and its output on each draw."""
        from pytest_litert.convert.keras_side import layer_weights, outputs

        return layer_weights(chain), [outputs(chain, draw["x"], output_shape) for draw in floats]


def keras_matches(model: Any, graph: ModelGraph, ops: list[OpToFind]) -> KerasMatches:
    """Match every judged operator to its Keras layers; list the layers nobody claimed."""
    from pytest_litert.convert import keras_match
    from pytest_litert.convert.keras_side import ChainError, chain_of

    found = keras_match.candidates(model)
    wanted = [keras_match.OpToMatch(op.index, op.spec, op.shape, graph.own_tensor_names(op.index)) for op in ops]
    matched, unmatched = keras_match.match(wanted, found)
    has_bias = {op.index: op.has_bias for op in ops}
    chains: dict[int, KerasChain] = {}
    for index, (candidate, _how) in matched.items():
        try:
            chains[index] = chain_of(model, candidate, graph, index, has_bias[index])
        except ChainError as error:
            unmatched[index] = f"{candidate.name}: {error}"
    claimed = {chain.main.name for chain in chains.values()}
    unclaimed = tuple(f"{c.name} ({c.kind})" for c in found if c.name not in claimed)
    return KerasMatches(chains, {i: how for i, (_, how) in matched.items() if i in chains}, unmatched, unclaimed)


def end_to_end(inspection: ModelInspection, run: ModelRun, keras: Any, inputs: list[Arrays]) -> dict[
        str, dict[str, float]]:
    """Whole-model outputs compared pairwise over every draw: reported, never judged."""
    if len(inspection.outputs) != 1:
        return {}
    output = inspection.tensors[inspection.outputs[0]]
    lanes: dict[str, np.ndarray] = {}
    for lane in ("xnnpack", "reference"):
        if all(lane in draw for draw in run.outputs):
            values = [next(iter(draw[lane].values())) for draw in run.outputs]
            lanes[lane] = np.concatenate([_widen(output.dtype, output, v).ravel() for v in values])
    if keras is not None:
        lanes["keras"] = np.concatenate([_keras_output(keras, inspection, draw).ravel() for draw in inputs])
    names = list(lanes)
    return {f"{a} vs {b}": aggregate_metrics(lanes[a], lanes[b]) for i, a in enumerate(names) for b in names[i + 1:]}


def _widen(dtype: str, tensor: Any, values: np.ndarray) -> np.ndarray:
    return dequantize(tensor, values) if dtype in INTEGER_DTYPES else values.astype(np.float64)


def _keras_output(keras: Any, inspection: ModelInspection, draw: Arrays) -> np.ndarray:
    """The Keras model on the float values the file's inputs stand for, matched by name, else
    (one input) positionally, else by shape in the Keras model's input order."""
    floats = {name: _widen(inspection.tensors[index].dtype, inspection.tensors[index], draw[name]).astype(np.float32)
              for name, index in inspection.signature_inputs.items() if name in draw}
    ordered = []
    free = dict(floats)
    for tensor in keras.inputs:
        match = tensor.name if tensor.name in free else next(
            (n for n, v in free.items() if len(keras.inputs) == 1 or v.shape[1:] == tuple(tensor.shape[1:])), None)
        if match is None:
            raise ValueError(f"the Keras input {tensor.name!r} matches no model input ({', '.join(floats)})")
        ordered.append(free.pop(match))
    result = keras(ordered[0] if len(ordered) == 1 else ordered, training=False)
    return np.asarray(result, np.float64)

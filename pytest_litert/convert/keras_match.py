"""Which Keras layer each matrix operator of a whole model came from: names, then order and shapes.

The converter names a fused operator's tensors after the TensorFlow ops it folded in, which carry
the Keras layer's name scope (`encoder_1/mha_1/query_1/MatMul`, `mobilenetv2_1/block_1_expand_1/
convolution`: the layer name, with a `_<n>` suffix per trace). An operator whose tensor names hold
exactly one candidate layer's path is matched by name; the rest are paired in order, where the
layer's kernel has the shape the operator's weights need. An operator left over is reported as
unmatched with the reason, and so is every layer no operator claimed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from pytest_litert.matrix.ops import LayerShape, OpSpec

# Keras layers whose weights a matrix operator holds.
MAIN_KINDS = ("Dense", "EinsumDense", "Conv2D", "DepthwiseConv2D", "Conv2DTranspose")


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A Keras layer that can become a matrix operator, with its path of layer names."""

    path: tuple[str, ...]
    layer: Any = dataclasses.field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return "/".join(self.path)

    @property
    def kind(self) -> str:
        return str(self.layer.__class__.__name__)


@dataclasses.dataclass(frozen=True)
class OpToMatch:
    """What matching needs of one judged operator: index, form and its tensors' names."""

    index: int
    spec: OpSpec
    shape: LayerShape
    names: tuple[str, ...]


def candidates(model: Any) -> list[Candidate]:
    """Every layer of a MAIN_KIND in model order, sublayers (MultiHeadAttention's projections)
    under their parent's name."""
    found = []
    for layer in model.layers:
        if layer.__class__.__name__ in MAIN_KINDS:
            found.append(Candidate((layer.name,), layer))
        for sub in _sublayers(layer):
            if sub.__class__.__name__ in MAIN_KINDS:
                found.append(Candidate((layer.name, sub.name), sub))
    return found


def _sublayers(layer: Any) -> list[Any]:
    nested = getattr(layer, "layers", None)  # a functional or sequential model inside the model
    if isinstance(nested, list):
        return nested
    flatten = getattr(layer, "_flatten_layers", None)  # Keras tracks a layer's own sublayers here
    return list(flatten(include_self=False, recursive=True)) if callable(flatten) else []


def match(ops: list[OpToMatch], found: list[Candidate]) -> tuple[
    dict[int, tuple[Candidate, str]], dict[int, str]
]:
    """op index -> (layer, "by name" | "by order and shape"), and op index -> why unmatched."""
    matched: dict[int, tuple[Candidate, str]] = {}
    for op in ops:
        named = [c for c in found if _named(c.path, op.names)]
        if len(named) > 1:  # e.g. a layer and a longer path that contains it: the longest wins
            longest = max(len(c.path) for c in named)
            named = [c for c in named if len(c.path) == longest]
        if len(named) == 1 and _fits(named[0], op) and named[0] not in {c for c, _ in matched.values()}:
            matched[op.index] = (named[0], "by name")
    used = {c for c, _ in matched.values()}
    free = [c for c in found if c not in used]
    unmatched: dict[int, str] = {}
    for op in (op for op in ops if op.index not in matched):
        pick = next((c for c in free if _fits(c, op)), None)
        if pick is None:
            unmatched[op.index] = _why_unmatched(op, found)
            continue
        matched[op.index] = (pick, "by order and shape")
        free.remove(pick)
    return matched, unmatched


def _named(path: tuple[str, ...], names: tuple[str, ...]) -> bool:
    """The layer path appears, name by name, as consecutive scopes of one tensor name."""
    patterns = [re.compile(rf"{re.escape(part)}(_\d+)?") for part in path]
    for scopes in _scopes(names):
        for start in range(len(scopes) - len(path) + 1):
            if all(p.fullmatch(scopes[start + i]) for i, p in enumerate(patterns)):
                return True
    return False


def _scopes(names: tuple[str, ...]) -> Iterator[list[str]]:
    for name in names:
        for piece in name.split(";"):
            yield piece.split(":")[0].split("/")


def _fits(candidate: Candidate, op: OpToMatch) -> bool:
    """The layer's kernel, in the operator's Keras layout, has the shape the operator needs."""
    kernel = keras_kernel_of(candidate)
    return kernel is not None and tuple(kernel.shape) == tuple(op.spec.weight_shape(op.shape)) and (
        _kind_fits(candidate.kind, op.spec.op_code))


def _kind_fits(kind: str, op_code: str) -> bool:
    return {"Dense": "FULLY_CONNECTED", "EinsumDense": "FULLY_CONNECTED", "Conv2D": "CONV_2D",
            "DepthwiseConv2D": "DEPTHWISE_CONV_2D", "Conv2DTranspose": "TRANSPOSE_CONV"}[kind] == op_code


def keras_kernel_of(candidate: Candidate) -> np.ndarray | None:
    """The layer's kernel as the matrix's Keras layout has it: an EinsumDense whose kernel is
    (reduced axes..., output axes...) flattened to (K, N); None where it is not."""
    layer = candidate.layer
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return None
    values = np.asarray(kernel, np.float32)
    if candidate.kind != "EinsumDense":
        return values
    split = einsum_split(layer.equation, values.ndim)
    if split is None:
        return None
    return values.reshape(int(np.prod(values.shape[:split])), -1)


def einsum_split(equation: str, kernel_rank: int) -> int | None:
    """How many leading kernel axes an EinsumDense reduces over, if its equation is a plain
    projection: the input's trailing axes meet the kernel's leading axes, in order."""
    sides = equation.replace(" ", "").split("->")
    if len(sides) != 2 or sides[0].count(",") != 1:
        return None
    inputs, kernel = sides[0].split(",")
    reduced = [axis for axis in kernel if axis in inputs and axis not in sides[1]]
    count = len(reduced)
    if count == 0 or kernel[:count] != "".join(reduced) or not inputs.endswith("".join(reduced)):
        return None
    return count if len(kernel) == kernel_rank else None


def _why_unmatched(op: OpToMatch, found: list[Candidate]) -> str:
    if not op.spec.constant_weights:
        owner = next((path for path in _top_scopes(op.names) if path), "")
        inside = f" (computed inside Keras layer {owner!r})" if owner else ""
        return f"both operands are run-time tensors{inside}: no Keras layer of its own holds it"
    want = op.spec.weight_shape(op.shape)
    return (f"no Keras layer is named in its tensors ({op.names[-1][:80]!r}) and no unclaimed "
            f"{'/'.join(sorted({c.kind for c in found}) or ['layer'])} has a kernel of shape {want}")


def _top_scopes(names: tuple[str, ...]) -> Iterator[str]:
    for scopes in _scopes(names):
        if len(scopes) > 2:
            yield re.sub(r"_\d+$", "", scopes[1])

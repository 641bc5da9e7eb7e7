"""Flatbuffer surgery on a whole model, with the schema module that ships with ai-edge-litert.

- `cut`: one operator, its constants and the DEQUANTIZE operators in front of them, as a model
  of its own whose graph inputs are the operator's run-time inputs: it is then judged exactly
  as a matrix cell. Tensors keep their types, names and quantization parameters; shapes are
  the ones the whole model ran with, and static (no shape signature).
- `static_shapes`: the same model without shape signatures. LiteRT's C API cannot allocate a
  dynamic-batch input (the profiler's buffers: "Failed to get num packed bytes"); the stored
  shape (batch 1) is what every run here feeds anyway.
- `unshare`: give one operator its own copy of constants other operators read too, so a fault
  planted in it stays in it.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

import flatbuffers  # type: ignore[import-untyped]
from ai_edge_litert import schema_py_generated as schema

from pytest_litert.matrix.ops import INPUT_POSITIONS
from pytest_litert.model.graph import ModelGraph

SIGNATURE_KEY = "serving_default"
OUTPUT_NAME = "output"


@dataclasses.dataclass(frozen=True)
class CutModel:
    """A single-operator model and how its graph inputs and output map to the whole model's
    tensors (`inputs`: signature input name -> tensor index in the whole model)."""

    op_index: int
    model: bytes
    inputs: dict[str, int]
    output: int


def input_names(graph: ModelGraph, op_index: int) -> dict[str, int]:
    """Signature names of the operator's run-time inputs: a matrix operator's data is "x" and a
    run-time right-hand side "y" (the matrix's names); any other input is input_<position>."""
    op = graph.operators[op_index]
    runtime = graph.runtime_inputs(op_index)
    names: dict[str, int] = {}
    positions = INPUT_POSITIONS.get(op.op_code)
    if positions is not None:
        for name, position in (("x", positions.data), ("y", positions.weights)):
            if position < len(op.inputs) and op.inputs[position] in runtime:
                names.setdefault(name, op.inputs[position])
    for position, tensor in enumerate(op.inputs):
        if tensor in runtime and tensor not in names.values():
            names[f"input_{position}"] = tensor
    return names


class Cutter:
    """Cuts operators out of one model, which is unpacked once (cutting only copies from it)."""

    def __init__(self, model: bytes, graph: ModelGraph) -> None:
        self.root: Any = _unpack(model)
        self.size = len(model)
        self.graph = graph

    def cut(self, op_index: int, shapes: Mapping[int, tuple[int, ...]]) -> CutModel:
        """`op_index` and its constants as a model; `shapes`: tensor -> the shape it ran with."""
        return _cut(self.root, self.size, self.graph, op_index, shapes)


def cut(model: bytes, graph: ModelGraph, op_index: int, shapes: Mapping[int, tuple[int, ...]]) -> CutModel:
    """`op_index` and its constants as a model; `shapes`: tensor -> the shape it ran with."""
    return _cut(_unpack(model), len(model), graph, op_index, shapes)


def _cut(root: Any, size: int, graph: ModelGraph, op_index: int, shapes: Mapping[int, tuple[int, ...]]) -> CutModel:
    source = root.subgraphs[0]
    names = input_names(graph, op_index)
    op = graph.operators[op_index]
    kept_ops = [*graph.constant_chain(op_index), op_index]
    order = list(dict.fromkeys(t for i in kept_ops for t in (*graph.operators[i].inputs, *graph.operators[i].outputs)))
    index = {old: new for new, old in enumerate(order)}
    buffers: list[Any] = [schema.BufferT()]  # buffer 0: the empty sentinel
    tensors = []
    for old in order:
        tensor = copy.copy(source.tensors[old])
        tensor.shapeSignature = None
        if graph.tensor(old).constant:
            tensor.buffer = len(buffers)
            buffers.append(_buffer(graph.inspection.buffers[old]))
        else:
            tensor.buffer = 0
            tensor.shape = list(shapes.get(old, tensor.shape if tensor.shape is not None else ()))
        tensors.append(tensor)
    codes: dict[int, int] = {}
    operators = []
    for i in kept_ops:
        operator = copy.copy(source.operators[i])
        codes.setdefault(operator.opcodeIndex, len(codes))
        operator.opcodeIndex = codes[operator.opcodeIndex]
        operator.inputs = [index[t] if t >= 0 else -1 for t in _raw_inputs(source.operators[i])]
        operator.outputs = [index[t] for t in operator.outputs]
        operator.intermediates = None
        operators.append(operator)
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.operators, subgraph.name = tensors, operators, f"op{op_index}"
    subgraph.inputs = [index[t] for t in names.values()]
    subgraph.outputs = [index[op.outputs[0]]]
    cut_root = schema.ModelT()
    cut_root.version, cut_root.description = root.version, f"operator {op_index} of a whole model"
    cut_root.operatorCodes = [root.operatorCodes[old] for old in codes]
    cut_root.subgraphs, cut_root.buffers = [subgraph], buffers
    cut_root.metadata = _metadata(root, buffers)
    cut_root.signatureDefs = [_signature({name: index[t] for name, t in names.items()}, index[op.outputs[0]])]
    weight = sum(len(getattr(buffer, "data", None) or b"") for buffer in buffers)
    return CutModel(op_index, _pack(cut_root, weight), names, op.outputs[0])


def static_shapes(model: bytes) -> bytes:
    """The model without shape signatures: every dimension as stored (a dynamic batch is 1)."""
    root = _unpack(model)
    for subgraph in root.subgraphs or []:
        for tensor in subgraph.tensors or []:
            tensor.shapeSignature = None
    return _pack(root, len(model))


def unshare(model: bytes, graph: ModelGraph, op_index: int) -> bytes:
    """The model with `op_index` reading its own copy of every constant it shares."""
    shared = graph.shared_constants(op_index)
    if not shared:
        return model
    root = _unpack(model)
    source = root.subgraphs[0]
    users = {op_index, *graph.constant_chain(op_index)}
    for old in shared:
        tensor = copy.copy(source.tensors[old])
        tensor.buffer = len(root.buffers)
        root.buffers.append(_buffer(graph.inspection.buffers[old]))
        source.tensors.append(tensor)
        for i in users:
            operator = source.operators[i]
            operator.inputs = [len(source.tensors) - 1 if t == old else t for t in _raw_inputs(operator)]
    return _pack(root, len(model) + sum(len(graph.inspection.buffers[t]) for t in shared))


def _raw_inputs(operator: Any) -> list[int]:
    return [int(t) for t in (operator.inputs if operator.inputs is not None else [])]


def _buffer(data: bytes) -> Any:
    buffer = schema.BufferT()
    buffer.data = bytearray(data)
    return buffer


def _metadata(root: Any, buffers: list[Any]) -> list[Any]:
    """The whole model's metadata (the fp16 hint among it), each entry with its buffer copied."""
    entries = []
    for entry in root.metadata or []:
        kept = copy.copy(entry)
        kept.buffer = len(buffers)
        old = root.buffers[entry.buffer]
        buffers.append(_buffer(bytes(old.data) if old.data is not None else b""))
        entries.append(kept)
    return entries


def _signature(inputs: dict[str, int], output: int) -> Any:
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = SIGNATURE_KEY, 0
    signature.inputs = [_tensor_map(name, index) for name, index in inputs.items()]
    signature.outputs = [_tensor_map(OUTPUT_NAME, output)]
    return signature


def _tensor_map(name: str, index: int) -> Any:
    entry = schema.TensorMapT()
    entry.name, entry.tensorIndex = name, index
    return entry


def _unpack(model: bytes) -> Any:
    return schema.ModelT.InitFromPackedBuf(bytearray(model), 0)


def _pack(root: Any, size: int) -> bytes:
    builder = flatbuffers.Builder(size + 1024)
    builder.Finish(root.Pack(builder), file_identifier=b"TFL3")  # the schema's file_identifier
    return bytes(builder.Output())

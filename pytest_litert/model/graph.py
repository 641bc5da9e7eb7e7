"""A whole model as a graph: which operator makes and which ones use each tensor.

The matrix judges one operator at a time; a converted network is a sequence of them. This
view says, per operator, what it takes at run time (tensors other operators or the graph
inputs make) and what is part of it (its constants, and the DEQUANTIZE operators that widen
them: fp16 weights live behind one), so model/cut.py can lift it out into a model of its own.
Built once per model from the inspection; no TensorFlow, no LiteRT.
"""

from __future__ import annotations

import dataclasses
import functools

from pytest_litert.model.flatbuffer import ModelInspection, OperatorInfo, TensorInfo

# The operators the matrix knows (matrix/ops.py): judged one by one in a whole model.
MATRIX_OP_CODES = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
DEQUANTIZE = "DEQUANTIZE"


@dataclasses.dataclass(frozen=True)
class ModelGraph:
    """Producers and consumers of every tensor of the first subgraph."""

    inspection: ModelInspection
    producers: dict[int, int]  # tensor -> the operator that writes it
    consumers: dict[int, tuple[int, ...]]  # tensor -> the operators that read it, in order

    @classmethod
    def of(cls, inspection: ModelInspection) -> ModelGraph:
        producers: dict[int, int] = {}
        consumers: dict[int, list[int]] = {}
        for op in inspection.operators:
            for tensor in op.outputs:
                producers[tensor] = op.index
            for tensor in dict.fromkeys(op.inputs):
                consumers.setdefault(tensor, []).append(op.index)
        return cls(inspection, producers, {t: tuple(ops) for t, ops in consumers.items()})

    @property
    def operators(self) -> tuple[OperatorInfo, ...]:
        return self.inspection.operators

    def tensor(self, index: int) -> TensorInfo:
        return self.inspection.tensors[index]

    def is_constant(self, tensor: int) -> bool:
        """Stored in the file, or a DEQUANTIZE of something stored (fp16 / int4 weights)."""
        return tensor in self._constant_tensors

    @functools.cached_property
    def _constant_tensors(self) -> frozenset[int]:
        found = {t.index for t in self.inspection.tensors if t.constant}
        for op in self.operators:  # operators are stored in execution order
            if op.op_code == DEQUANTIZE and op.inputs and op.inputs[0] in found:
                found.update(op.outputs)
        return frozenset(found)

    def constant_chain(self, op_index: int) -> tuple[int, ...]:
        """The DEQUANTIZE operators (in execution order) that widen this operator's constants."""
        found: set[int] = set()
        pending = [t for t in self.operators[op_index].inputs if self.is_constant(t)]
        while pending:
            producer = self.producers.get(pending.pop())
            if producer is not None and producer not in found:
                found.add(producer)
                pending.extend(self.operators[producer].inputs)
        return tuple(sorted(found))

    def runtime_inputs(self, op_index: int) -> tuple[int, ...]:
        """The operator's inputs that exist only at run time, each once, in input order."""
        return tuple(dict.fromkeys(t for t in self.operators[op_index].inputs if not self.is_constant(t)))

    @functools.cached_property
    def constant_dequantizes(self) -> frozenset[int]:
        """DEQUANTIZE operators of constants: part of the operator that uses them, not operators
        of their own."""
        return frozenset(op.index for op in self.operators
                         if op.op_code == DEQUANTIZE and all(self.is_constant(t) for t in op.outputs))

    def own_operators(self) -> tuple[OperatorInfo, ...]:
        """Every operator that computes something at run time (constant DEQUANTIZEs are not)."""
        return tuple(op for op in self.operators if op.index not in self.constant_dequantizes)

    def shared_constants(self, op_index: int) -> tuple[int, ...]:
        """This operator's stored constants that other operators read too (the converter
        stores one zero bias for every layer of a width)."""
        chain = {op_index, *self.constant_chain(op_index)}
        stored = [t for i in sorted(chain) for t in self.operators[i].inputs if self.tensor(t).constant]
        return tuple(dict.fromkeys(t for t in stored if set(self.consumers.get(t, ())) - chain))

    def tensor_names(self, op_index: int) -> tuple[str, ...]:
        """The names of the operator's inputs and outputs (constants followed to what is stored)."""
        op = self.operators[op_index]
        return tuple(self.inspection.source_tensor(t).name for t in (*op.inputs, *op.outputs))

    def own_tensor_names(self, op_index: int) -> tuple[str, ...]:
        """The names of what is the operator's own: its outputs, then its stored constants (where
        the converter writes the Keras layer's name scope; its run-time inputs are other layers')."""
        op = self.operators[op_index]
        constants = [self.inspection.source_tensor(t).name for t in op.inputs if self.is_constant(t)]
        return tuple(self.tensor(t).name for t in op.outputs) + tuple(constants)

"""Read a .tflite flatbuffer without TensorFlow: op codes, tensors, quantization, metadata.

Uses the schema module that ships with ai-edge-litert, so the cached path and the
emulated target never import TensorFlow.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import numpy as np
from ai_edge_litert import schema_py_generated as schema

_TYPE_NAMES = {
    value: name for name, value in vars(schema.TensorType).items() if not name.startswith("_")
}
_ACTIVATION_NAMES = {
    value: name for name, value in vars(schema.ActivationFunctionType).items() if not name.startswith("_")
}
_OP_NAMES = {
    value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}


class ModelFormatError(ValueError):
    """The bytes are not a readable .tflite model."""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    quantized_dimension: int
    constant: bool

    @property
    def granularity(self) -> str:
        """'per-channel', 'per-tensor' or 'float' (no quantization parameters)."""
        if len(self.scales) > 1:
            return "per-channel"
        return "per-tensor" if self.scales else "float"


@dataclasses.dataclass(frozen=True)
class OperatorInfo:
    index: int  # position in the subgraph's operator list
    op_code: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    fused_activation: str = "NONE"
    asymmetric_inputs: bool = False  # hybrid ops: run-time input quantization asymmetric
    adjoint: bool = False  # BATCH_MATMUL adj_x / adj_y
    # The builtin options' scalar fields (strideH, padding, keepNumDims, depthMultiplier, ...),
    # as (name, value) pairs: what a whole model's operator needs to be read as a matrix cell.
    options: tuple[tuple[str, int | float | bool], ...] = ()

    def option(self, name: str, default: int | float | bool = 0) -> int | float | bool:
        return next((value for key, value in self.options if key == name), default)


@dataclasses.dataclass(frozen=True)
class ModelInspection:
    """What the converter actually produced, in the terms the matrix checks."""

    operators: tuple[OperatorInfo, ...]
    tensors: tuple[TensorInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    metadata: dict[str, bytes]
    size: int
    buffers: tuple[bytes, ...] = dataclasses.field(repr=False)
    signature_inputs: dict[str, int] = dataclasses.field(default_factory=dict)  # name -> tensor

    @property
    def op_codes(self) -> tuple[str, ...]:
        return tuple(op.op_code for op in self.operators)

    def find_op(self, op_code: str) -> OperatorInfo | None:
        return next((op for op in self.operators if op.op_code == op_code), None)

    def producer(self, tensor_index: int) -> OperatorInfo | None:
        return next((op for op in self.operators if tensor_index in op.outputs), None)

    def source_tensor(self, tensor_index: int) -> TensorInfo:
        """Follow DEQUANTIZE back to the stored constant (fp16 weights hide behind one)."""
        producer = self.producer(tensor_index)
        while producer is not None and producer.op_code == "DEQUANTIZE":
            tensor_index = producer.inputs[0]
            producer = self.producer(tensor_index)
        return self.tensors[tensor_index]

    def constant_values(self, tensor: TensorInfo) -> np.ndarray:
        """The stored values of a constant tensor (INT4 unpacked, low nibble first), read once per
        model and read-only: the structure, constants and NumPy checks and the bounds all share it."""
        read: dict[int, np.ndarray] = self.__dict__.setdefault("_constant_values", {})
        if tensor.index not in read:
            read[tensor.index] = self._read_constant(tensor)
            read[tensor.index].flags.writeable = False
        return read[tensor.index]

    def _read_constant(self, tensor: TensorInfo) -> np.ndarray:
        raw = np.frombuffer(self.buffers[tensor.index], dtype=np.uint8)
        if tensor.dtype == "INT4":
            low = (raw & 0x0F).astype(np.int8)
            high = (raw >> 4).astype(np.int8)
            nibbles = np.stack([low, high], axis=-1).reshape(-1)[: int(np.prod(tensor.shape))]
            return np.where(nibbles > 7, nibbles - 16, nibbles).reshape(tensor.shape)
        dtype = np.dtype(tensor.dtype.lower())
        return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(tensor.shape)


def inspect_model(model: bytes) -> ModelInspection:
    """Parse `model`; raise ModelFormatError (not a flatbuffer crash) on junk."""
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise ModelFormatError(
            "not a .tflite model: the flatbuffer identifier 'TFL3' is missing at byte 4"
        )
    try:
        root = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
        return _summarise(root, model)
    except (IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError, struct.error) as error:
        raise ModelFormatError(f"corrupt .tflite model: {type(error).__name__}: {error}") from error


def _buffer_bytes(buffer: Any, model: bytes) -> bytes:
    """A buffer's bytes: inline (`data`), or past the flatbuffer at `offset` (schema: offset > 1
    is valid), as ai-edge-quantizer writes constants of large models."""
    if buffer.data is not None:
        return bytes(buffer.data)
    offset, size = int(buffer.offset or 0), int(buffer.size or 0)
    if offset > 1 and size:
        if offset + size > len(model):
            raise ModelFormatError(f"corrupt .tflite model: a buffer at {offset}+{size} ends past the file")
        return model[offset:offset + size]
    return b""


def _summarise(root: Any, model: bytes) -> ModelInspection:
    if not root.subgraphs:
        raise ModelFormatError("corrupt .tflite model: no subgraph")
    graph = root.subgraphs[0]
    op_names = [_op_code_name(code) for code in root.operatorCodes or []]
    buffers = [_buffer_bytes(buf, model) for buf in root.buffers or []]
    tensors = tuple(_tensor_info(i, t, buffers) for i, t in enumerate(graph.tensors or []))
    operators = tuple(_operator_info(i, op, op_names) for i, op in enumerate(graph.operators or []))
    metadata = {
        entry.name.decode(): buffers[entry.buffer] for entry in root.metadata or []
    }
    tensor_buffers = tuple(
        buffers[t.buffer] if t.buffer < len(buffers) else b"" for t in graph.tensors or []
    )
    signature = (root.signatureDefs or [None])[0]
    signature_inputs = {
        _text(entry.name): int(entry.tensorIndex) for entry in (signature.inputs or [] if signature else [])
    }
    return ModelInspection(
        signature_inputs=signature_inputs,
        operators=operators,
        tensors=tensors,
        inputs=tuple(int(i) for i in graph.inputs),
        outputs=tuple(int(i) for i in graph.outputs),
        metadata=metadata,
        size=len(model),
        buffers=tensor_buffers,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _operator_info(index: int, op: Any, op_names: list[str]) -> OperatorInfo:
    options = op.builtinOptions
    activation = getattr(options, "fusedActivationFunction", 0) or 0
    return OperatorInfo(
        index,
        op_names[op.opcodeIndex],
        tuple(int(i) for i in op.inputs if i >= 0),
        tuple(int(i) for i in op.outputs),
        fused_activation=_ACTIVATION_NAMES.get(int(activation), f"ACTIVATION_{activation}"),
        asymmetric_inputs=bool(getattr(options, "asymmetricQuantizeInputs", False)),
        adjoint=bool(getattr(options, "adjX", False) or getattr(options, "adjY", False)),
        options=tuple((key, value) for key, value in sorted(vars(options).items())
                      if isinstance(value, int | float | bool)) if options is not None else (),
    )


def _op_code_name(code: Any) -> str:
    value = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
    return str(_OP_NAMES.get(value, f"UNKNOWN_{value}"))


def _tensor_info(index: int, tensor: Any, buffers: list[bytes]) -> TensorInfo:
    quant = tensor.quantization
    scales = tuple(float(s) for s in quant.scale) if quant is not None and quant.scale is not None else ()
    zero_points = (
        tuple(int(z) for z in quant.zeroPoint)
        if quant is not None and quant.zeroPoint is not None
        else ()
    )
    name = tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)
    return TensorInfo(
        index=index,
        name=name,
        dtype=_TYPE_NAMES.get(tensor.type, f"TYPE_{tensor.type}"),
        shape=tuple(int(d) for d in tensor.shape) if tensor.shape is not None else (),
        scales=scales,
        zero_points=zero_points,
        quantized_dimension=int(quant.quantizedDimension) if quant is not None else 0,
        constant=tensor.buffer < len(buffers) and len(buffers[tensor.buffer]) > 0,
    )

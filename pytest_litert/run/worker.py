"""Run a .tflite model with LiteRT, and the worker loop that does so in another process.

This file must stay importable on its own with only ai-edge-litert, numpy and the
standard library: it is copied as-is to targets (an emulated aarch64 Python, a phone)
and started there as `python worker.py`. Nothing from the rest of the package is
imported here.

Modes:
  xnnpack    Interpreter with the default resolver (XNNPACK applied at allocation).
  reference  Interpreter with BUILTIN_REF: LiteRT's reference kernels, no XNNPACK.
  fp16       CompiledModel with XNNPACK's FORCE_FP16 flag: real fp16 arithmetic, which
             the Interpreter never does even when the model carries the fp16 hint.

Wire protocol (stdin/stdout, one request then one reply, repeated):
  frame = 4-byte big-endian length + JSON header, then the header's `blobs` byte strings.
  request header: {"mode": str, "blobs": [len(model), len(npz_inputs)]}
  reply header:   {"ok": bool, "error": str, "facts": {...}, "blobs": [len(npz_outputs)]}
"""

from __future__ import annotations

import io
import json
import os
import platform
import struct
import sys
from typing import IO, Any

import numpy as np

MODES = ("xnnpack", "reference", "fp16")
_FORCE_FP16_FLAGS = 0x1 | 0x2 | 0x4  # XNNPACK QS8 | QU8 | FORCE_FP16


def execute(model: bytes, inputs: dict[str, np.ndarray], mode: str) -> tuple[
    dict[str, np.ndarray], dict[str, Any]
]:
    """Run `model` once on `inputs` (matched by signature input name)."""
    if mode not in MODES:
        raise ValueError(f"unknown run mode {mode!r}; valid modes: {', '.join(MODES)}")
    if mode == "fp16":
        return _execute_compiled(model, inputs)
    return _execute_interpreter(model, inputs, reference=mode == "reference")


def _execute_interpreter(
    model: bytes, inputs: dict[str, np.ndarray], *, reference: bool
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from ai_edge_litert import interpreter as litert

    resolver = (
        litert.OpResolverType.BUILTIN_REF if reference else litert.OpResolverType.AUTO
    )
    interp = litert.Interpreter(
        model_content=model, num_threads=1, experimental_op_resolver_type=resolver
    )
    runner = interp.get_signature_runner()
    outputs = runner(**inputs)
    delegates = [op for op in interp._get_ops_details() if op["op_name"] == "DELEGATE"]
    facts = {
        "delegated": bool(delegates),  # some DELEGATE node exists
        "delegate_outputs": sorted({int(t) for op in delegates for t in op["outputs"]}),  # what they compute
        "machine": platform.machine(),
    }
    return {name: np.array(value) for name, value in outputs.items()}, facts


def _execute_compiled(
    model: bytes, inputs: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.options import CpuOptions, Options

    options = Options(cpu_options=CpuOptions(num_threads=1, xnnpack_flags=_FORCE_FP16_FLAGS))
    compiled = CompiledModel.from_buffer(model, options=options)
    signature = compiled.get_signature_list()
    key = next(iter(signature))
    input_names = signature[key]["inputs"]
    output_names = signature[key]["outputs"]
    input_buffers = compiled.create_input_buffers(0)
    for name, buffer in zip(input_names, input_buffers, strict=True):
        buffer.write(np.ascontiguousarray(inputs[name]))
    output_buffers = compiled.create_output_buffers(0)
    compiled.run_by_index(0, input_buffers, output_buffers)
    details = compiled.get_output_tensor_details(key)
    outputs = {}
    for name, buffer in zip(output_names, output_buffers, strict=True):
        shape = tuple(details[name]["shape"])
        dtype = np.dtype(details[name]["dtype"])
        outputs[name] = buffer.read(int(np.prod(shape)), dtype).reshape(shape)
    facts = {"delegated": True, "fully_accelerated": compiled.is_fully_accelerated()}
    facts["machine"] = platform.machine()
    return outputs, facts


def loaded_litert_libraries() -> dict[str, int]:
    """Load base of each LiteRT shared library in this process (Linux), for mapping
    executed guest addresses back to the library's symbol table."""
    bases: dict[str, int] = {}
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                if len(fields) >= 6 and "ai_edge_litert" in fields[5]:
                    start = int(fields[0].split("-")[0], 16)
                    if int(fields[2], 16) == 0:
                        bases.setdefault(fields[5], start)
    except OSError:
        pass
    return bases


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy stub: allow_pickle kwarg
    return buffer.getvalue()


def unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def write_frame(stream: IO[bytes], header: dict[str, Any], blobs: list[bytes]) -> None:
    header = {**header, "blobs": [len(blob) for blob in blobs]}
    encoded = json.dumps(header).encode()
    stream.write(struct.pack(">I", len(encoded)) + encoded)
    for blob in blobs:
        stream.write(blob)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], list[bytes]] | None:
    """One frame, or None at a clean end of stream."""
    prefix = stream.read(4)
    if not prefix:
        return None
    if len(prefix) < 4:
        raise EOFError("stream ended inside a frame header")
    (length,) = struct.unpack(">I", prefix)
    header: dict[str, Any] = json.loads(_read_exactly(stream, length))
    blobs = [_read_exactly(stream, size) for size in header.get("blobs", [])]
    return header, blobs


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"stream ended after {len(data)} of {size} bytes")
    return data


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The worker loop: a Python exception becomes an error reply, never a dead worker."""
    while (frame := read_frame(requests)) is not None:
        header, blobs = frame
        try:
            outputs, facts = execute(blobs[0], unpack_arrays(blobs[1]), header["mode"])
            facts["pid"] = os.getpid()
            facts["libraries"] = loaded_litert_libraries()
            write_frame(replies, {"ok": True, "error": "", "facts": facts}, [pack_arrays(outputs)])
        except Exception as error:
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}", "facts": {}}
            write_frame(replies, reply, [])


def main() -> None:
    # Keep stdout for frames only: LiteRT's own logging goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    main()

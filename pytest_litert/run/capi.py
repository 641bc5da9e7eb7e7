"""LiteRT's C API through ctypes: kernel evidence from LiteRT's profiler, and the fp16 lane.

The Python `Interpreter` and `CompiledModel` wrappers have no profiler, but the wheel's
`libLiteRt.so` (`libLiteRt.dylib` on macOS) exports LiteRT's C API with one. A CompiledModel
created with the opaque option `runtime_options_string` = `enable_profiling = true` owns a
profiler whose delegate events (type 8) name XNNPACK's operators, e.g.
`Fully Connected (NC, PF32) GEMM`: the packed KleidiAI type says SME2 ran, on any machine.

The fp16 lane (a CompiledModel with XNNPACK's FORCE_FP16 flag) runs here too: the Python
`CompiledModel` imports ml_dtypes, and ml_dtypes 0.7.0 takes 0.46 s to import (numpy 2.4 on
x86_64), a third of a warm matrix run; the C API needs no import at all.

Standard library, numpy and ai_edge_litert only, like worker.py, which loads this file by
path (it runs as a script on targets). Signatures and struct layouts are LiteRT's headers
(litert/c/litert_profiler.h, litert_profiler_event.h, litert_compiled_model.h, litert_model.h,
litert_layout.h, litert_model_types.h, litert_tensor_buffer.h, litert_options.h,
litert_opaque_options.h; ai-edge-litert 2.3.0); the CPU options' keys are
litert/runtime/litert_cpu_options.cc's, which ignores a key it does not know, so
tests/test_capi.py checks that the flags took effect. A missing symbol or a failed call raises
CApiError; the profiler's evidence then reads "unavailable: <reason>", never an exception.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

UNAVAILABLE = "unavailable: "
# LiteRtProfilerEventType (litert_profiler_event.h)
OPERATOR_INVOKE_EVENT = 1 << 1  # a node of the TFLite graph (a builtin op, or the DELEGATE node)
DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT = 1 << 3  # an XNNPACK operator inside the delegate node
# Runs of one profiling: the first run of a model is 1.5-2.6x slower on x86 (seed FC fp32: 2.1 ms,
# then 1.1-1.3 ms), so one unprofiled run comes first; one profiled run then names the operators.
WARMUP_RUNS, PROFILED_RUNS = 1, 1
_RUNTIME_OPTIONS = (b"runtime_options_string", b"enable_profiling = true\n")  # litert_runtime_options.cc
_CPU_OPTIONS_ID = b"xnnpack"  # litert_cpu_options.cc: LrtGetCpuOptionsIdentifier
_HW_ACCELERATOR_CPU = 1  # kLiteRtHwAcceleratorCpu (litert_common.h)
_LOCK_READ, _LOCK_WRITE = 0, 1  # kLiteRtTensorBufferLockModeRead / Write
# LiteRtElementType (litert_model_types.h: TfLiteType's values) -> numpy
_ELEMENT_TYPES = {1: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_, 7: np.int16, 9: np.int8,
                  10: np.float16, 11: np.float64, 13: np.uint64, 16: np.uint32, 17: np.uint16}
_AT_HWCAP2, _HWCAP2_SME2_BIT = 26, 37  # <sys/auxv.h>, asm/hwcap.h HWCAP2_SME2
_STATUS = {1: "invalid argument", 2: "memory allocation failure", 3: "runtime failure",
           4: "missing input tensor", 5: "unsupported", 6: "not found"}
_P = ctypes.c_void_p
_SIZE = ctypes.c_size_t


class CApiError(RuntimeError):
    """The library lacks the API, or a call failed: the evidence (or the lane's error) says why."""


class _MemoryUsage(ctypes.Structure):
    _fields_ = [("total_allocated_bytes", _SIZE), ("in_use_allocated_bytes", _SIZE),
                ("private_footprint_bytes", _SIZE)]


class _Event(ctypes.Structure):
    """ProfiledEventData (litert_profiler_event.h)."""

    _fields_ = [("tag", ctypes.c_char_p), ("event_type", ctypes.c_int),
                ("start_timestamp_us", ctypes.c_uint64), ("elapsed_time_us", ctypes.c_uint64),
                ("begin_mem_usage", _MemoryUsage), ("end_mem_usage", _MemoryUsage),
                ("event_metadata1", ctypes.c_uint64), ("event_metadata2", ctypes.c_uint64),
                ("event_source", ctypes.c_int)]


class _Layout(ctypes.Structure):
    """LiteRtLayout (litert_layout.h)."""

    _fields_ = [("rank", ctypes.c_uint, 7), ("has_strides", ctypes.c_uint, 1),
                ("dimensions", ctypes.c_int32 * 8), ("strides", ctypes.c_uint32 * 8)]


class _RankedTensorType(ctypes.Structure):
    """LiteRtRankedTensorType: element type + LiteRtLayout (68 bytes, litert_layout.h)."""

    _fields_ = [("element_type", ctypes.c_int), ("rank", ctypes.c_uint, 7), ("has_strides", ctypes.c_uint, 1),
                ("dimensions", ctypes.c_int32 * 8), ("strides", ctypes.c_uint32 * 8)]


# name -> argument types; every one returns LiteRtStatus (int) unless listed in _VOID.
_SIGNATURES: dict[str, list[Any]] = {
    "LiteRtCreateEnvironment": [ctypes.c_int, _P, ctypes.POINTER(_P)],
    "LiteRtCreateModelFromBuffer": [_P, _P, _SIZE, ctypes.POINTER(_P)],
    "LiteRtDestroyModel": [_P],
    "LiteRtGetModelSignature": [_P, _SIZE, ctypes.POINTER(_P)],
    "LiteRtGetNumSignatureInputs": [_P, ctypes.POINTER(_SIZE)],
    "LiteRtGetNumSignatureOutputs": [_P, ctypes.POINTER(_SIZE)],
    "LiteRtGetSignatureInputName": [_P, _SIZE, ctypes.POINTER(ctypes.c_char_p)],
    "LiteRtGetSignatureOutputName": [_P, _SIZE, ctypes.POINTER(ctypes.c_char_p)],
    "LiteRtGetSignatureInputTensorByIndex": [_P, _SIZE, ctypes.POINTER(_P)],
    "LiteRtGetSignatureOutputTensorByIndex": [_P, _SIZE, ctypes.POINTER(_P)],
    "LiteRtGetRankedTensorType": [_P, ctypes.POINTER(_RankedTensorType)],
    "LiteRtCreateOptions": [ctypes.POINTER(_P)],
    "LiteRtDestroyOptions": [_P],
    "LiteRtSetOptionsHardwareAccelerators": [_P, ctypes.c_int],
    "LiteRtCreateOpaqueOptions": [ctypes.c_char_p, _P, _P, ctypes.POINTER(_P)],
    "LiteRtAddOpaqueOptions": [_P, _P],
    "LiteRtCreateCompiledModel": [_P, _P, _P, ctypes.POINTER(_P)],
    "LiteRtDestroyCompiledModel": [_P],
    "LiteRtGetCompiledModelInputBufferRequirements": [_P, _SIZE, _SIZE, ctypes.POINTER(_P)],
    "LiteRtGetCompiledModelOutputBufferRequirements": [_P, _SIZE, _SIZE, ctypes.POINTER(_P)],
    "LiteRtCreateManagedTensorBufferFromRequirements": [_P, ctypes.POINTER(_RankedTensorType), _P,
                                                        ctypes.POINTER(_P)],
    "LiteRtDestroyTensorBuffer": [_P],
    "LiteRtGetTensorBufferSize": [_P, ctypes.POINTER(_SIZE)],
    "LiteRtLockTensorBuffer": [_P, ctypes.POINTER(_P), ctypes.c_int],
    "LiteRtUnlockTensorBuffer": [_P],
    "LiteRtRunCompiledModel": [_P, _SIZE, _SIZE, ctypes.POINTER(_P), _SIZE, ctypes.POINTER(_P)],
    "LiteRtCompiledModelGetProfiler": [_P, ctypes.POINTER(_P)],
    "LiteRtCompiledModelResizeInputTensor": [_P, _SIZE, _SIZE, ctypes.POINTER(ctypes.c_int), _SIZE],
    "LiteRtGetCompiledModelOutputTensorLayouts": [_P, _SIZE, _SIZE, ctypes.POINTER(_Layout), ctypes.c_bool],
    "LiteRtStartProfiler": [_P],
    "LiteRtStopProfiler": [_P],
    "LiteRtGetNumProfilerEvents": [_P, ctypes.POINTER(ctypes.c_int)],
    "LiteRtGetProfilerEvents": [_P, ctypes.c_int, ctypes.POINTER(_Event)],
}
_VOID = {"LiteRtDestroyModel", "LiteRtDestroyOptions", "LiteRtDestroyCompiledModel",
         "LiteRtDestroyTensorBuffer"}
_MINIMUM_VERSION = (2, 1, 6)  # LiteRtCreateModelFromBuffer takes an environment since 2.1.6


def library_path() -> str:
    """The wheel's C API library: ai_edge_litert/libLiteRt.so (.dylib on macOS)."""
    import ai_edge_litert

    name = "libLiteRt.dylib" if sys.platform == "darwin" else "libLiteRt.so"
    return os.path.join(os.path.dirname(os.path.abspath(ai_edge_litert.__file__)), name)


def _version_problem() -> str:
    """Why this LiteRT's C API may not match the signatures above ('' if it does, or unknown)."""
    from importlib import metadata

    try:
        version = metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        return ""
    try:
        numbers = tuple(int(part) for part in version.split(".")[:3])
    except ValueError:
        return ""
    if numbers < _MINIMUM_VERSION:
        return f"ai-edge-litert {version} predates the C API read here (needs >= 2.1.6)"
    return ""


class CApi:
    """The C functions this module calls, bound with their header signatures."""

    def __init__(self, path: str | None = None, loader: Callable[[str], Any] = ctypes.CDLL) -> None:
        self.path = path or library_path()
        try:
            library = loader(self.path)
        except OSError as error:
            raise CApiError(f"cannot load {os.path.basename(self.path)}: {error}") from None
        missing = [name for name in _SIGNATURES if not hasattr(library, name)]
        if missing:
            raise CApiError(f"{os.path.basename(self.path)} lacks {', '.join(missing[:3])}"
                                      + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
        self._functions: dict[str, Any] = {}
        for name, argtypes in _SIGNATURES.items():
            function = getattr(library, name)
            function.argtypes = argtypes
            function.restype = None if name in _VOID else ctypes.c_int
            self._functions[name] = function
        self.libc = ctypes.CDLL(None)
        self.libc.strdup.argtypes, self.libc.strdup.restype = [ctypes.c_char_p], _P
        self.libc.free.argtypes, self.libc.free.restype = [_P], None
        self.free = ctypes.cast(self.libc.free, _P)  # the payload destructor LiteRT calls
        self._environment: _P | None = None

    def environment(self) -> _P:
        """The LiteRT environment every model of this binding shares, made on first use and kept:
        making one registers the accelerators (dlopen of four GPU libraries, an NPU lookup,
        eleven lines of log), per model otherwise."""
        if self._environment is None:
            environment = _P()
            self.call("LiteRtCreateEnvironment", 0, None, ctypes.byref(environment))
            self._environment = environment
        return self._environment

    def call(self, name: str, *args: Any) -> None:
        """Call `name`; a status other than kLiteRtStatusOk raises CApiError."""
        status = self._functions[name](*args)
        if status:
            raise CApiError(f"{name} failed: status {status} ({_STATUS.get(status, 'error')})")

    def void(self, name: str, *args: Any) -> None:
        self._functions[name](*args)


@functools.cache
def _api() -> CApi:
    """This process's binding of the library, made once (a failed one is tried again)."""
    return CApi()


def _handle(api: CApi, stack: contextlib.ExitStack, create: str, destroy: str | None, *args: Any) -> _P:
    """`create(*args, &handle)`, destroyed with `destroy` when `stack` closes."""
    handle = _P()
    api.call(create, *args, ctypes.byref(handle))
    if destroy is not None:
        stack.callback(api.void, destroy, handle)
    return handle


def _options(api: CApi, stack: contextlib.ExitStack, threads: int, *, profiling: bool, xnnpack_flags: int) -> _P:
    """CPU (XNNPACK with `xnnpack_flags`, 0 for LiteRT's default, `threads`), the profiler if
    `profiling`. Each payload is a C string from libc's strdup, which LiteRT frees with free, as
    its own options do."""
    options = _handle(api, stack, "LiteRtCreateOptions", "LiteRtDestroyOptions")
    api.call("LiteRtSetOptionsHardwareAccelerators", options, _HW_ACCELERATOR_CPU)
    cpu = f"num_threads = {threads}\n" + (f"flags = {xnnpack_flags}\n" if xnnpack_flags else "")
    payloads = [*([_RUNTIME_OPTIONS] if profiling else []), (_CPU_OPTIONS_ID, cpu.encode())]
    for identifier, text in payloads:
        payload = api.libc.strdup(text)
        if not payload:
            raise CApiError("strdup failed")
        try:
            opaque = _handle(api, stack, "LiteRtCreateOpaqueOptions", None, identifier, payload, api.free)
        except CApiError:
            api.libc.free(payload)
            raise
        api.call("LiteRtAddOpaqueOptions", options, opaque)  # the options now own `opaque`
    return options


def _compile(api: CApi, stack: contextlib.ExitStack, model: bytes, threads: int, *, profiling: bool = False,
             xnnpack_flags: int = 0) -> dict[str, _P]:
    """Model, its first signature and the CompiledModel, destroyed with `stack` (the shared
    environment stays)."""
    handles: dict[str, _P] = {}
    handles["environment"] = api.environment()
    data = ctypes.create_string_buffer(model, len(model))
    stack.callback(lambda: data)  # held until the stack closes: the model reads these bytes, it does not copy them
    handles["model"] = _handle(api, stack, "LiteRtCreateModelFromBuffer", "LiteRtDestroyModel",
                               handles["environment"], data, len(model))
    handles["signature"] = _handle(api, stack, "LiteRtGetModelSignature", None, handles["model"], 0)
    options = _options(api, stack, threads, profiling=profiling, xnnpack_flags=xnnpack_flags)
    handles["compiled"] = _handle(api, stack, "LiteRtCreateCompiledModel", "LiteRtDestroyCompiledModel",
                                  handles["environment"], handles["model"], options)
    return handles


@dataclasses.dataclass(frozen=True)
class _Buffer:
    name: str
    handle: _P
    tensor_type: _RankedTensorType


def _signature_tensors(api: CApi, stack: contextlib.ExitStack, signature: _P, kind: str,
                       ) -> list[tuple[str, _RankedTensorType]]:
    """The signature's inputs or outputs (`kind`): name and tensor type, -1 for a dynamic size."""
    count = _SIZE()
    api.call(f"LiteRtGetNumSignature{kind.title()}s", signature, ctypes.byref(count))
    found = []
    for index in range(count.value):
        tensor = _handle(api, stack, f"LiteRtGetSignature{kind.title()}TensorByIndex", None, signature, index)
        tensor_type = _RankedTensorType()
        api.call("LiteRtGetRankedTensorType", tensor, ctypes.byref(tensor_type))
        name = ctypes.c_char_p()
        api.call(f"LiteRtGetSignature{kind.title()}Name", signature, index, ctypes.byref(name))
        found.append(((name.value or b"").decode(), tensor_type))
    return found


def _sized(api: CApi, compiled: _P, tensors: dict[str, list[tuple[str, _RankedTensorType]]],
           inputs: dict[str, np.ndarray]) -> None:
    """Dynamic sizes (a batch of -1) made those of `inputs`: the compiled model's inputs resized,
    then its outputs' sizes read back (LiteRT 2.3.0 keeps an output at batch 1 whatever the
    input's batch, and the run then fails: a finding, tests/test_capi.py)."""
    resized = False
    for index, (name, tensor_type) in enumerate(tensors["input"]):
        dims = tensor_type.dimensions[:tensor_type.rank]
        if name not in inputs or min(dims, default=0) >= 0:
            continue
        shape = np.shape(inputs[name])
        if len(shape) != tensor_type.rank:
            raise CApiError(f"input {name!r} has shape {shape}, the model's rank is {tensor_type.rank}")
        api.call("LiteRtCompiledModelResizeInputTensor", compiled, 0, index, (ctypes.c_int * len(shape))(*shape),
                 len(shape))
        tensor_type.dimensions[:len(shape)] = shape
        resized = True
    outputs = tensors["output"]
    if resized or any(min(t.dimensions[:t.rank], default=0) < 0 for _, t in outputs):
        layouts = (_Layout * len(outputs))()
        api.call("LiteRtGetCompiledModelOutputTensorLayouts", compiled, 0, len(outputs), layouts, True)
        for (_, tensor_type), layout in zip(outputs, layouts, strict=True):
            tensor_type.rank = layout.rank
            tensor_type.dimensions[:] = layout.dimensions[:]


def _buffers(api: CApi, stack: contextlib.ExitStack, handles: dict[str, _P], inputs: dict[str, np.ndarray],
             ) -> tuple[list[_Buffer], list[_Buffer]]:
    """Managed input buffers holding `inputs` (by signature name), and output buffers."""
    env, signature, compiled = handles["environment"], handles["signature"], handles["compiled"]
    tensors = {kind: _signature_tensors(api, stack, signature, kind) for kind in ("input", "output")}
    _sized(api, compiled, tensors, inputs)
    made: dict[str, list[_Buffer]] = {"input": [], "output": []}
    for kind, buffers in made.items():
        for index, (name, tensor_type) in enumerate(tensors[kind]):
            needs = _handle(api, stack, f"LiteRtGetCompiledModel{kind.title()}BufferRequirements", None,
                            compiled, 0, index)
            buffer = _handle(api, stack, "LiteRtCreateManagedTensorBufferFromRequirements",
                             "LiteRtDestroyTensorBuffer", env, ctypes.byref(tensor_type), needs)
            made_buffer = _Buffer(name, buffer, tensor_type)
            if kind == "input":
                _write(api, made_buffer, inputs)
            buffers.append(made_buffer)
    return made["input"], made["output"]


def _write(api: CApi, buffer: _Buffer, inputs: dict[str, np.ndarray]) -> None:
    if buffer.name not in inputs:
        raise CApiError(f"no input named {buffer.name!r} (given: {', '.join(inputs)})")
    data = np.ascontiguousarray(inputs[buffer.name])
    size = _SIZE()
    api.call("LiteRtGetTensorBufferSize", buffer.handle, ctypes.byref(size))
    if data.nbytes > size.value:
        raise CApiError(f"input {buffer.name!r} has {data.nbytes} bytes, its buffer {size.value}")
    address = _P()
    api.call("LiteRtLockTensorBuffer", buffer.handle, ctypes.byref(address), _LOCK_WRITE)
    try:
        ctypes.memmove(address, data.ctypes.data, data.nbytes)
    finally:
        api.call("LiteRtUnlockTensorBuffer", buffer.handle)


def _read(api: CApi, buffer: _Buffer) -> np.ndarray:
    """A copy of an output buffer, with its tensor's dtype and shape."""
    tensor_type = buffer.tensor_type
    dtype = _ELEMENT_TYPES.get(tensor_type.element_type)
    if dtype is None:
        raise CApiError(f"output {buffer.name!r} has element type {tensor_type.element_type}, not read here")
    shape = tuple(int(d) for d in tensor_type.dimensions[:tensor_type.rank])
    array: np.ndarray = np.empty(shape, dtype)
    size = _SIZE()
    api.call("LiteRtGetTensorBufferSize", buffer.handle, ctypes.byref(size))
    if size.value < array.nbytes:
        raise CApiError(f"output {buffer.name!r} holds {size.value} bytes, its shape {shape} needs {array.nbytes}")
    address = _P()
    api.call("LiteRtLockTensorBuffer", buffer.handle, ctypes.byref(address), _LOCK_READ)
    try:
        ctypes.memmove(array.ctypes.data, address, array.nbytes)
    finally:
        api.call("LiteRtUnlockTensorBuffer", buffer.handle)
    return array


def _run(api: CApi, compiled: _P, inputs: list[_Buffer], outputs: list[_Buffer]) -> Callable[[], None]:
    """One run of the first signature, as a call."""
    in_array = (_P * len(inputs))(*(buffer.handle for buffer in inputs))
    out_array = (_P * len(outputs))(*(buffer.handle for buffer in outputs))

    def run() -> None:
        try:
            api.call("LiteRtRunCompiledModel", compiled, 0, len(inputs), in_array, len(outputs), out_array)
        except CApiError as error:  # worded as LiteRT's C++ API words it (litert_compiled_model.h)
            raise CApiError(f"Failed to invoke the compiled model ({error})") from None

    return run


@dataclasses.dataclass(frozen=True)
class _Ready:
    """A compiled model with its buffers, the inputs written: destroyed with `stack`."""

    api: CApi
    stack: contextlib.ExitStack
    handles: dict[str, _P]
    inputs: list[_Buffer]
    outputs: list[_Buffer]

    def invoker(self) -> Callable[[], None]:
        """One run of the first signature, as a call (its argument arrays built once)."""
        return _run(self.api, self.handles["compiled"], self.inputs, self.outputs)


@contextlib.contextmanager
def _ready(model: bytes, inputs: dict[str, np.ndarray], threads: int, api: CApi | None, *,
           profiling: bool = False, xnnpack_flags: int = 0) -> Iterator[_Ready]:
    """`model` compiled on the CPU with its buffers, after the last profiled model's teardown;
    raises CApiError (a LiteRT error, or a library without this API)."""
    problem = _version_problem()
    if problem:
        raise CApiError(problem)
    api = api or _api()
    finish_teardown()
    with contextlib.ExitStack() as stack:
        handles = _compile(api, stack, model, threads, profiling=profiling, xnnpack_flags=xnnpack_flags)
        inputs_made, outputs_made = _buffers(api, stack, handles, inputs)
        yield _Ready(api, stack, handles, inputs_made, outputs_made)


def run_compiled(model: bytes, inputs: dict[str, np.ndarray], *, xnnpack_flags: int, threads: int = 1,
                 api: CApi | None = None) -> dict[str, np.ndarray]:
    """One run of `model` as a CompiledModel on the CPU with `xnnpack_flags`: its outputs by
    signature name; raises CApiError."""
    with _ready(model, inputs, threads, api, xnnpack_flags=xnnpack_flags) as ready:
        ready.invoker()()
        return {buffer.name: _read(ready.api, buffer) for buffer in ready.outputs}


def _events(api: CApi, profiler: _P) -> list[_Event]:
    count = ctypes.c_int()
    api.call("LiteRtGetNumProfilerEvents", profiler, ctypes.byref(count))
    if count.value <= 0:
        return []
    events = (_Event * count.value)()
    api.call("LiteRtGetProfilerEvents", profiler, count.value, events)
    return list(events)


def summarize(runs: list[list[tuple[str, int, int, int]]]) -> dict[str, list[dict[str, Any]]]:
    """Per run, (tag, type, index, microseconds) events -> the XNNPACK operators (type 8) and
    the graph nodes (type 2) of one run in the order they ran, each with its median time over
    the runs. Events are matched across runs by their position among the run's events of their
    type: an operator's index restarts in each delegate partition of a whole model."""
    found: dict[str, dict[tuple[int, str], tuple[int, list[int]]]] = {"operators": {}, "nodes": {}}
    kinds = {DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT: "operators", OPERATOR_INVOKE_EVENT: "nodes"}
    for events in runs:
        seen = dict.fromkeys(kinds.values(), 0)
        for tag, kind, index, micros in events:
            if kind in kinds:
                entries = found[kinds[kind]]
                entries.setdefault((seen[kinds[kind]], tag), (index, []))[1].append(micros)
                seen[kinds[kind]] += 1
    return {kind: [{"name": tag, "index": index, "us": float(statistics.median(times))}
                   for (_, tag), (index, times) in sorted(entries.items())]
            for kind, entries in found.items()}


def _profiled_runs(api: CApi, profiler: _P, run: Callable[[], None], warmup: int,
                   runs: int) -> tuple[list[list[tuple[str, int, int, int]]], list[float]]:
    """`warmup` unprofiled runs, then `runs` profiled ones: their events and wall times (seconds)."""
    for _ in range(warmup):
        run()
    seen: list[list[tuple[str, int, int, int]]] = []
    walls: list[float] = []
    for _ in range(runs):
        api.call("LiteRtStartProfiler", profiler)
        began = time.perf_counter()
        run()
        walls.append(time.perf_counter() - began)
        api.call("LiteRtStopProfiler", profiler)
        seen.append([((e.tag or b"").decode(errors="replace"), int(e.event_type), int(e.event_metadata1),
                      int(e.elapsed_time_us)) for e in _events(api, profiler)])
    return seen, walls


# A profiled CompiledModel takes 1.7 ms to destroy (x86_64; it holds ~70 MB): its teardown waits
# for finish_teardown, which the worker calls after sending its reply, and the next call here.
_teardown: list[contextlib.ExitStack] = []


def finish_teardown() -> None:
    """Destroy what the last profiled run left."""
    while _teardown:
        _teardown.pop().close()


def profile_model(model: bytes, inputs: dict[str, np.ndarray], *, threads: int = 1, warmup: int = WARMUP_RUNS,
                  runs: int = PROFILED_RUNS, api: CApi | None = None) -> dict[str, Any]:
    """The XNNPACK operators (type 8 events) and graph nodes of `model` on LiteRT's default CPU
    path, with per-operator microseconds; raises CApiError."""
    with _ready(model, inputs, threads, api, profiling=True) as ready:
        profiler = _handle(ready.api, ready.stack, "LiteRtCompiledModelGetProfiler", None, ready.handles["compiled"])
        if not profiler.value:
            raise CApiError("the compiled model has no profiler (runtime option not honoured)")
        seen, walls = _profiled_runs(ready.api, profiler, ready.invoker(), warmup, runs)
        _teardown.append(ready.stack.pop_all())
        library = os.path.basename(ready.api.path)
    summary = summarize(seen)
    if not summary["operators"] and not summary["nodes"]:
        raise CApiError("the profiler recorded no operator events")
    return {**summary, "warmup_runs": warmup, "runs": runs, "threads": threads, "run_seconds": statistics.median(walls),
            "library": library}


def cpu_has_sme2() -> bool | None:
    """The CPU's SME2 as this process sees it (an interposed getauxval included): Linux
    AT_HWCAP2 bit 37, macOS hw.optional.arm.FEAT_SME2; None where it cannot be read."""
    machine = platform.machine().lower()
    if machine not in ("aarch64", "arm64"):
        return False
    try:
        libc = ctypes.CDLL(None)
        if sys.platform == "darwin":
            value, size = ctypes.c_int(0), ctypes.c_size_t(ctypes.sizeof(ctypes.c_int))
            found = libc.sysctlbyname(b"hw.optional.arm.FEAT_SME2", ctypes.byref(value), ctypes.byref(size), None, 0)
            return found == 0 and value.value == 1
        libc.getauxval.argtypes, libc.getauxval.restype = [ctypes.c_ulong], ctypes.c_ulong
        return bool(libc.getauxval(_AT_HWCAP2) >> _HWCAP2_SME2_BIT & 1)
    except (OSError, AttributeError):
        return None


def profile(model: bytes, inputs: dict[str, np.ndarray], *, threads: int = 1, warmup: int = WARMUP_RUNS,
            runs: int = PROFILED_RUNS, api_factory: Callable[[], CApi] | None = None) -> dict[str, Any]:
    """`profile_model` as evidence: its result with `available` True, or `available` False and
    `reason` "unavailable: <why>"; plus the CPU's SME2. `seconds`: all of it, compile included."""
    began = time.perf_counter()
    facts: dict[str, Any] = {"cpu_sme2": cpu_has_sme2()}
    try:
        found = profile_model(model, inputs, threads=threads, warmup=warmup, runs=runs, api=(api_factory or _api)())
    except (CApiError, ImportError) as error:
        return {**facts, "available": False, "reason": f"{UNAVAILABLE}{error}",
                "seconds": time.perf_counter() - began}
    return {**facts, "available": True, "reason": "", **found, "seconds": time.perf_counter() - began}

"""Run a .tflite model with LiteRT, and the worker loop that does so in another process.

This file must stay importable on its own with only ai-edge-litert, numpy and the
standard library: it is copied as-is to targets (an emulated aarch64 Python, a phone)
and started there as `python worker.py`. Nothing from the rest of the package is
imported here.

Modes:
  xnnpack    Interpreter with the default resolver (XNNPACK applied at allocation).
  reference  Interpreter with BUILTIN_REF: LiteRT's reference kernels, no XNNPACK.
  tensors    The same reference kernels with experimental_preserve_all_tensors: every tensor
             of the model after one run, keyed "t<tensor index>" (a whole model's operators
             are then judged one by one on the inputs it gave them).
  fp16       CompiledModel with XNNPACK's FORCE_FP16 flag: real fp16 arithmetic, which
             the Interpreter never does even when the model carries the fp16 hint. Through
             LiteRT's C API (capi.py, next to this file), which imports nothing (capi.py says why).
  profile    CompiledModel (LiteRT's default CPU path, one thread) under LiteRT's profiler,
             through the C API (capi.py): the XNNPACK operator that ran each layer, with its
             time. No outputs; the evidence is in the facts, and reads "unavailable: <reason>"
             where the library or a call fails.
  time       `pytest-litert bench`: one API (Interpreter or CompiledModel, LiteRT's default
             XNNPACK path) timed here, adaptively (`sample_calls`); the reply's facts hold
             the samples, so no round trip sits inside a timed run.

Wire protocol (stdin/stdout, one request then one reply, repeated):
  frame = 4-byte big-endian length + JSON header, then the header's `blobs` byte strings.
  arrays = [[name, dtype, shape], ...] in the header, each array's raw bytes a blob (C order): no
           zip and no header parsing per array (np.savez / np.load: ~0.1 ms an array, both ways).
  request header: {"mode": str, "arrays": inputs, "libraries": bool, "blobs": [len(model), ...]}
                  (mode "time": plus "timing"); blobs: the model, then the inputs
  reply header:   {"ok": bool, "error": str, "facts": {...}, "arrays": outputs, "blobs": [...]}
  "libraries": the reply's facts also map each loaded LiteRT library to its load base (an
  emulated target's kernel capture needs it; reading /proc/self/maps costs ~0.15 ms a run).
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import platform
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import IO, Any, Protocol

import numpy as np

MODES = ("xnnpack", "reference", "fp16", "profile", "tensors", "tensors-builtin")
_FORCE_FP16_FLAGS = 0x1 | 0x2 | 0x4  # XNNPACK QS8 | QU8 | FORCE_FP16
_CAPI_MODULE = "pytest_litert_run_capi"
# Mode "profile": unprofiled runs, then profiled runs (capi.py). An emulated target's start
# script sets warmup 0: its timings mean nothing, and a seed-sized SME2 GEMM takes ~18 s there.
PROFILE_RUNS = {"warmup": 1, "runs": 1}


def execute(model: bytes, inputs: dict[str, np.ndarray], mode: str) -> tuple[
    dict[str, np.ndarray], dict[str, Any]
]:
    """Run `model` once on `inputs` (matched by signature input name)."""
    if mode not in MODES:
        raise ValueError(f"unknown run mode {mode!r}; valid modes: {', '.join(MODES)}")
    if mode == "fp16":
        outputs = _capi().run_compiled(model, inputs, xnnpack_flags=_FORCE_FP16_FLAGS, threads=1)
        return outputs, {"delegated": True, **_machine_facts()}
    if mode == "profile":
        _keep_freed_memory()
        return {}, {**_capi().profile(model, inputs, threads=1, **PROFILE_RUNS), "machine": platform.machine()}
    if mode in ("tensors", "tensors-builtin"):
        return _execute_preserved(model, inputs, reference=mode == "tensors")
    return _execute_interpreter(model, inputs, reference=mode == "reference")


@functools.cache
def _keep_freed_memory() -> None:
    """LiteRT 2.3.0 gives every profiled CompiledModel a fresh profile buffer of tens of MB;
    glibc maps a block that large afresh each time and the kernel clears its pages: 28-30 ms
    per model (x86_64). Kept in this worker's heap instead, the next model reuses it: 10-12 ms.
    Judging workers only (the first profiled run); timing workers keep the default allocator.
    Elsewhere than glibc there is no mallopt, and nothing changes."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 1 << 30)
    mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>


def _execute_preserved(
    model: bytes, inputs: dict[str, np.ndarray], *, reference: bool
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One run (reference or optimized builtin kernels) that keeps every tensor readable."""
    from ai_edge_litert import interpreter as litert

    kinds = litert.OpResolverType
    kernels = kinds.BUILTIN_REF if reference else kinds.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = litert.Interpreter(
        model_content=model, num_threads=1, experimental_op_resolver_type=kernels,
        experimental_preserve_all_tensors=True,
    )
    interp.get_signature_runner()(**inputs)
    tensors = {}
    for detail in interp.get_tensor_details():
        try:
            tensors[f"t{detail['index']}"] = np.array(interp.get_tensor(detail["index"]))
        except ValueError:  # a tensor without data (an optional input, a scratch buffer)
            continue
    return tensors, {"machine": platform.machine(), "tensors": len(tensors)}


def _capi() -> Any:
    """capi.py from this file's directory, by path: on a target this file runs as a
    script, without the package around it."""
    module = sys.modules.get(_CAPI_MODULE)
    if module is None:
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capi.py")
        spec = importlib.util.spec_from_file_location(_CAPI_MODULE, path)
        if spec is None or spec.loader is None or not os.path.exists(path):
            raise FileNotFoundError(f"modes fp16 and profile need capi.py next to the worker ({path})")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_CAPI_MODULE] = module  # before it runs: its dataclass looks its module up
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[_CAPI_MODULE]
            raise
    return module


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
        **_machine_facts(),
    }
    return {name: np.array(value) for name, value in outputs.items()}, facts


@functools.cache
def _machine_facts() -> dict[str, Any]:
    """What the bounds need of the CPU: the architecture, and on x86 whether float16 arithmetic
    is native (AVX512-FP16, which flushes subnormals under XNNPACK's MXCSR as aarch64 does)."""
    facts: dict[str, Any] = {"machine": platform.machine()}
    if facts["machine"] in ("x86_64", "AMD64"):
        try:
            flags = pathlib.Path("/proc/cpuinfo").read_text().split()
        except OSError:
            flags = []
        if "avx512fp16" in flags:
            facts["avx512fp16"] = True
    return facts


# --- timing (pytest-litert bench) ------------------------------------------------------

TIMING_APIS = ("interpreter", "compiled")
ANCHOR = "anchor"  # LiteRT's own benchmark, ai_edge_litert/tools/benchmark_litert_model.py
# What a timed run repeats until the median is known: defaults of `pytest-litert bench`.
TIMING_DEFAULTS: dict[str, Any] = {
    "threads": 1,  # the seed's benchmark runs one thread
    # Instances of the model, timed in turn: one instance's speed depends on where its buffers
    # land (measured: a small TRANSPOSE_CONV takes 10.4 or 15.0 us per instance, stable within
    # one), so a run over several sees that spread instead of drawing one side of it.
    "instances": 2,
    # Calls timed per instance before the next one's turn, after one untimed call: timing
    # instances call by call makes each call find the other's weights in the cache (measured:
    # seed FC int8 0.157 ms that way, 0.120 ms for one instance and for LiteRT's benchmark).
    "block_runs": 10,
    "warmup_runs": 5,  # per instance, and at least warmup_seconds: XNNPACK packs weights first
    "warmup_seconds": 0.1,
    "min_runs": 40,
    "max_runs": 100_000,
    "max_seconds": 3.0,  # the time cap, per API and cell
    "precision": 0.02,  # stop when the median's 95% interval is within +-2%
}


def _input(inputs: dict[str, np.ndarray], name: str, shape: Any, dtype: Any) -> np.ndarray:
    """The caller's input `name`, or (none given) a seeded random one of the model's shape and
    dtype, as LiteRT's own benchmark fills its inputs: a user's model times without data."""
    if name in inputs:
        return np.ascontiguousarray(inputs[name])
    kind = np.dtype(dtype)
    rng = np.random.default_rng(0)
    if np.issubdtype(kind, np.integer):
        info = np.iinfo(kind)
        return rng.integers(max(info.min, -128), min(info.max, 127) + 1, size=tuple(shape)).astype(kind)
    return rng.uniform(-1.0, 1.0, size=tuple(shape)).astype(kind)


def prepare_invoke(model: bytes, inputs: dict[str, np.ndarray], api: str, threads: int) -> tuple[
    Callable[[], object], dict[str, Any]
]:
    """One inference with its inputs already written: the call a timed run repeats, plus facts."""
    if api == "interpreter":
        from ai_edge_litert import interpreter as litert

        interp = litert.Interpreter(model_content=model, num_threads=threads)
        interp.allocate_tensors()
        for name, detail in interp.get_signature_runner().get_input_details().items():
            interp.set_tensor(detail["index"], _input(inputs, name, detail["shape"], detail["dtype"]))
        delegated = any(op["op_name"] == "DELEGATE" for op in interp._get_ops_details())
        return interp.invoke, {"delegated": delegated}
    if api == "compiled":
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.options import CpuOptions, Options

        compiled = CompiledModel.from_buffer(model, options=Options(cpu_options=CpuOptions(num_threads=threads)))
        key, signature = next(iter(compiled.get_signature_list().items()))
        details = compiled.get_input_tensor_details(key)
        input_buffers = compiled.create_input_buffers(0)
        for name, buffer in zip(signature["inputs"], input_buffers, strict=True):
            buffer.write(_input(inputs, name, details[name]["shape"], details[name]["dtype"]))
        output_buffers = compiled.create_output_buffers(0)
        return (lambda: compiled.run_by_index(0, input_buffers, output_buffers),
                {"fully_accelerated": compiled.is_fully_accelerated()})
    raise ValueError(f"unknown timing API {api!r}; valid: {', '.join(TIMING_APIS)}")


def median_interval(samples: list[float], z: float = 1.96) -> tuple[float, float]:
    """The median's confidence interval from order statistics (distribution-free: no normal
    timings assumed): ranks n/2 -+ z*sqrt(n)/2 of the sorted samples, 95% at z=1.96."""
    ordered = sorted(samples)
    n = len(ordered)
    half = z * n**0.5 / 2
    low = max(int(n / 2 - half), 0)
    high = min(int(-(-(n / 2 + half) // 1)), n - 1)
    return ordered[low], ordered[high]


def _warm_up(invokes: list[Callable[[], object]], runs: int, seconds: float) -> None:
    began = time.perf_counter()
    done = 0
    while done < runs or time.perf_counter() - began < seconds:
        for invoke in invokes:
            invoke()
        done += 1


def sample_calls(invokes: list[Callable[[], object]], budget: dict[str, Any]) -> dict[str, Any]:
    """Warm up, then time the instances in turn, a block of calls each, until the pooled
    median's interval is within `precision` of it, or a cap (runs, seconds) is reached.
    `samples`: seconds, per instance; `stop` says which rule ended it."""
    settings = {**TIMING_DEFAULTS, **budget}
    clock = time.perf_counter
    _warm_up(invokes, settings["warmup_runs"], settings["warmup_seconds"])
    samples: list[list[float]] = [[] for _ in invokes]
    pooled: list[float] = []
    began = clock()
    stop = "run cap"
    while len(pooled) < settings["max_runs"]:
        for instance, invoke in zip(samples, invokes, strict=True):
            invoke()  # untimed: brings this instance's weights back into the cache
            for _ in range(min(settings["block_runs"], settings["max_runs"] - len(pooled))):
                start = clock()
                invoke()
                instance.append(clock() - start)
                pooled.append(instance[-1])
        if len(pooled) >= settings["min_runs"]:
            low, high = median_interval(pooled)
            if (high - low) / 2 <= settings["precision"] * statistics.median(pooled):
                stop = "converged"
                break
        if clock() - began >= settings["max_seconds"]:
            stop = "time cap"
            break
    return {"samples": samples, "stop": stop, "threads": settings["threads"]}


def run_anchor(model: bytes, threads: int, runs: int) -> dict[str, Any]:
    """LiteRT's own Python benchmark on `model` (CompiledModel, CPU, random inputs, 5 warm-up
    runs), as its command line would run it; its report goes to stderr, its latency is returned."""
    import argparse
    import contextlib
    import tempfile

    from ai_edge_litert.tools import benchmark_litert_model as anchor

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.tflite")
        with open(path, "wb") as file:
            file.write(model)
        args = argparse.Namespace(model=path, signature="", use_cpu=True, no_cpu=False, use_gpu=False, use_npu=False,
                                  require_full_delegation=False, dispatch_library_path="", compiler_plugin_path="",
                                  runtime_path="", num_runs=runs, warmup_runs=5, num_threads=threads, result_json="",
                                  verbose=False)
        with contextlib.redirect_stdout(sys.stderr):
            result: dict[str, Any] = anchor.run_benchmark(args)
    return {"latency": result["latency"], "api": ANCHOR}


def time_model(model: bytes, inputs: dict[str, np.ndarray], timing: dict[str, Any]) -> dict[str, Any]:
    """Time one API on one model (`timing`: api plus any TIMING_DEFAULTS key), or run the anchor."""
    threads = int(timing.get("threads", TIMING_DEFAULTS["threads"]))
    if timing["api"] == ANCHOR:
        return run_anchor(model, threads, int(timing.get("anchor_runs", 100)))
    prepared = [prepare_invoke(model, inputs, timing["api"], threads)
                for _ in range(int(timing.get("instances", TIMING_DEFAULTS["instances"])))]
    timed = sample_calls([invoke for invoke, _ in prepared], timing)
    return {**timed, **prepared[0][1], "api": timing["api"], "machine": platform.machine()}


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


def described_arrays(arrays: dict[str, np.ndarray]) -> tuple[list[list[Any]], list[bytes]]:
    """Arrays for a frame: their [name, dtype, shape] for the header, their bytes as blobs."""
    described, blobs = [], []
    for name, array in arrays.items():
        contiguous = np.asarray(array, order="C")  # ascontiguousarray would make a 0-d array 1-d
        described.append([name, contiguous.dtype.str, list(contiguous.shape)])
        blobs.append(contiguous.tobytes())
    return described, blobs


def arrays_of(described: list[list[Any]], blobs: list[bytes]) -> dict[str, np.ndarray]:
    """The arrays a frame carries (described_arrays reversed); ValueError on a size mismatch."""
    if len(described) != len(blobs):
        raise ValueError(f"{len(described)} arrays described, {len(blobs)} sent")
    arrays = {}
    for (name, dtype, shape), blob in zip(described, blobs, strict=True):
        arrays[name] = np.frombuffer(blob, dtype=np.dtype(dtype)).reshape(shape).copy()
    return arrays


class Readable(Protocol):
    """What a frame is read from: a binary stream, or the host's pipe reader with a deadline."""

    def read(self, size: int, /) -> bytes: ...


def write_frame(stream: IO[bytes], header: dict[str, Any], blobs: list[bytes]) -> None:
    header = {**header, "blobs": [len(blob) for blob in blobs]}
    encoded = json.dumps(header).encode()
    stream.write(struct.pack(">I", len(encoded)) + encoded)
    for blob in blobs:
        stream.write(blob)
    stream.flush()


def read_frame(stream: Readable) -> tuple[dict[str, Any], list[bytes]] | None:
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


def _read_exactly(stream: Readable, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError(f"stream ended after {len(data)} of {size} bytes")
    return data


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The worker loop: a Python exception becomes an error reply, never a dead worker."""
    while (frame := read_frame(requests)) is not None:
        header, blobs = frame
        try:
            inputs = arrays_of(header["arrays"], blobs[1:])
            if header["mode"] == "time":
                timed = time_model(blobs[0], inputs, header["timing"])
                write_frame(replies, {"ok": True, "error": "", "facts": timed}, [])
                continue
            outputs, facts = execute(blobs[0], inputs, header["mode"])
            facts["pid"] = os.getpid()
            if header.get("libraries"):
                facts["libraries"] = loaded_litert_libraries()
            described, output_blobs = described_arrays(outputs)
            write_frame(replies, {"ok": True, "error": "", "facts": facts, "arrays": described}, output_blobs)
            if _CAPI_MODULE in sys.modules:  # after the reply: the caller judges meanwhile
                sys.modules[_CAPI_MODULE].finish_teardown()
        except Exception as error:
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}", "facts": {}}
            write_frame(replies, reply, [])


def _load_runtime() -> None:
    """LiteRT's Interpreter loaded before the first request, not during it: a worker started
    ahead of need (run/host_worker.py) is then ready when the first cell is. Not the C API
    (capi.py): a timing worker (`bench`) never uses it, and keeps one LiteRT in its process."""
    from ai_edge_litert import interpreter  # noqa: F401


def main() -> None:
    # Keep stdout for frames only: LiteRT's own logging goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _load_runtime()
    serve(sys.stdin.buffer, replies)
    # The caller waits for this exit (WorkerTarget.close); Python's and LiteRT's teardown would
    # take 15-30 ms of it, with nothing left to save.
    for stream in (replies, sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()

"""Where inference runs: a target takes (model bytes, inputs, mode), gives outputs + facts.

The default host target runs LiteRT in a persistent worker process (worker.py), so a
segfault, abort or hang in LiteRT fails one test and the next cell gets a fresh worker,
instead of taking the pytest session down. Other targets (an emulated SME2 CPU, later a
phone over adb or a board over ssh) are the same worker started behind a different
command prefix.
"""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from typing import IO, Any, Protocol

import numpy as np

from pytest_litert.run import host_worker, worker


class TargetCrash(RuntimeError):
    """The worker died (signal, exit) or hung; LiteRT did not return."""


class TargetError(RuntimeError):
    """LiteRT raised an error for this model (the worker itself is fine)."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    outputs: dict[str, np.ndarray]
    facts: dict[str, Any]

    @property
    def output(self) -> np.ndarray:
        """The single output of a single-layer model."""
        return next(iter(self.outputs.values()))


class Target(Protocol):
    name: str

    def run(self, model: bytes, inputs: dict[str, np.ndarray], mode: str) -> RunResult: ...

    def close(self) -> None: ...


class InProcessTarget:
    """LiteRT in the pytest process itself: fastest, but a crash ends the session."""

    name = "inprocess"

    def run(self, model: bytes, inputs: dict[str, np.ndarray], mode: str) -> RunResult:
        try:
            outputs, facts = worker.execute(model, inputs, mode)
        except Exception as error:
            raise TargetError(f"{type(error).__name__}: {error}") from error
        return RunResult(outputs, facts)

    def time(self, model: bytes, inputs: dict[str, np.ndarray], timing: dict[str, Any]) -> dict[str, Any]:
        """worker.time_model here: the samples and facts of one timed API."""
        try:
            return worker.time_model(model, inputs, timing)
        except Exception as error:
            raise TargetError(f"{type(error).__name__}: {error}") from error

    def close(self) -> None:
        pass


class WorkerTarget:
    """A persistent worker.py worker behind `command`, restarted after any crash."""

    reports_libraries = False  # whether run facts map LiteRT's libraries to their load bases

    def __init__(
        self, name: str, command: Sequence[str], *, timeout: float = 120.0, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.command = list(command)
        self.timeout = timeout
        self.env = env
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None  # the worker's stderr: LiteRT's log, a crash's last words

    def run(self, model: bytes, inputs: dict[str, np.ndarray], mode: str) -> RunResult:
        header, blobs = self._request({"mode": mode, "libraries": self.reports_libraries}, model, inputs,
                                      self.timeout)
        try:
            outputs = worker.arrays_of(header.get("arrays", []), blobs)
        except ValueError as error:
            raise self._crash(f"a reply that does not hold its arrays: {error}") from None
        return RunResult(outputs, header["facts"])

    def time(self, model: bytes, inputs: dict[str, np.ndarray], timing: dict[str, Any]) -> dict[str, Any]:
        """Time one API in the worker (worker.time_model): no round trip inside a timed run."""
        cap = float(timing.get("max_seconds", worker.TIMING_DEFAULTS["max_seconds"]))
        header, _ = self._request({"mode": "time", "timing": timing}, model, inputs, self.timeout + 2 * cap)
        facts: dict[str, Any] = header["facts"]
        return facts

    def _request(self, header: dict[str, Any], model: bytes, inputs: dict[str, np.ndarray],
                 timeout: float) -> tuple[dict[str, Any], list[bytes]]:
        process = self._ensure_started()
        assert process.stdin is not None and process.stdout is not None
        try:
            described, blobs = worker.described_arrays(inputs)
            worker.write_frame(process.stdin, {**header, "arrays": described}, [model, *blobs])
        except (BrokenPipeError, OSError):
            raise self._crash("the worker closed its input") from None
        reply, blobs = self._read_reply(process.stdout, timeout)
        if not reply["ok"]:
            raise TargetError(reply["error"])
        return reply, blobs

    def _read_reply(self, stream: IO[bytes], timeout: float) -> tuple[dict[str, Any], list[bytes]]:
        """The next frame, read here with a deadline (select on the pipe: no thread per request,
        whose hand-offs wait for the GIL while another job thread computes)."""
        try:
            frame = worker.read_frame(_PipeReader(stream.fileno(), time.monotonic() + timeout))
        except TimeoutError:
            self._kill()
            raise self._crash(f"no reply within {timeout:g} s (hung); worker killed") from None
        except (EOFError, OSError, ValueError) as error:
            raise self._crash(f"reply cut short: {error}") from None
        if frame is None:
            raise self._crash("the worker exited without replying")
        return frame

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            if self._stderr is not None:
                self._stderr.close()
            started = host_worker.take(self.command) if self.env is None else None
            self._process, self._stderr = started or host_worker.start(self.command, self.env)
        return self._process

    def _crash(self, what: str) -> TargetCrash:
        """Describe the dead worker (signal name, exit code, stderr tail), then forget it."""
        process, self._process = self._process, None
        if process is None:
            return TargetCrash(f"{self.name} worker: {what}")
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        stderr = _tail(self._stderr).decode(errors="replace")  # the dead worker's last words
        cause = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        return TargetCrash(f"{self.name} worker crashed ({cause}): {what}\n{tail}".rstrip())

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def close(self) -> None:
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _tail(file: IO[bytes] | None, size: int = 16384) -> bytes:
    """The last `size` bytes written to `file`."""
    if file is None:
        return b""
    file.seek(0, os.SEEK_END)
    file.seek(max(0, file.tell() - size))
    return file.read()


class _PipeReader:
    """`read(n)` on a pipe's descriptor: n bytes, fewer at end of stream, TimeoutError past the
    deadline. Unbuffered, so select never misses bytes a buffer already took."""

    def __init__(self, descriptor: int, deadline: float) -> None:
        self.descriptor = descriptor
        self.deadline = deadline

    def read(self, size: int) -> bytes:
        chunks: list[bytes] = []
        wanted = size
        while wanted > 0:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.descriptor], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self.descriptor, wanted)
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
        return b"".join(chunks)


def host_target() -> WorkerTarget:
    """This machine, LiteRT in a child process of the same Python (started ahead by the command
    line, where it was: run/host_worker.py)."""
    return WorkerTarget("host", host_worker.command())

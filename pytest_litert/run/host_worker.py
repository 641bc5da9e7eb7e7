"""How this machine starts its LiteRT worker, and one started ahead of need.

The command line starts the host's worker before it imports the rest of the package (launch.py):
the worker takes ~80 ms to start and load LiteRT, which then overlaps the ~200 ms of imports
instead of following them. The first host target with the same command adopts it; one that
nobody adopted is closed at exit. Standard library only: it runs before numpy is imported.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

WORKER_PREFIX_ENV = "PYTEST_LITERT_WORKER_PREFIX"

Started = tuple["subprocess.Popen[bytes]", IO[bytes]]  # the process and the file its stderr goes to

_ahead: dict[tuple[str, ...], Started] = {}


def worker_prefix() -> list[str]:
    """How this machine starts one of its own programs: nothing, or inside the emulated guest
    (`pytest-litert emulator run`) the same QEMU, a JSON list in $PYTEST_LITERT_WORKER_PREFIX
    (run/qemu/guest_shell.py says why)."""
    prefix: list[str] = json.loads(os.environ.get(WORKER_PREFIX_ENV) or "[]")
    return prefix


def command() -> list[str]:
    """worker.py in a child process of this same Python."""
    return [*worker_prefix(), sys.executable, str(Path(__file__).with_name("worker.py"))]


def start(worker_command: list[str], env: dict[str, str] | None = None) -> Started:
    """The worker process, its stderr in an unnamed file: LiteRT logs ~0.3 KB per CompiledModel,
    and a pipe would need a thread to drain it (or the worker blocks when it fills)."""
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(worker_command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)
    return process, stderr


def start_ahead() -> None:
    """Start the host's worker now, for the first host target to adopt (`take`)."""
    key = tuple(command())
    if key not in _ahead:
        _ahead[key] = start(list(key))
        atexit.register(close_unadopted)


def take(worker_command: list[str]) -> Started | None:
    """The worker started ahead with this command and still running, once; else None."""
    started = _ahead.pop(tuple(worker_command), None)
    if started is not None and started[0].poll() is not None:
        started[1].close()
        return None
    return started


def close_unadopted() -> None:
    """Close the workers nobody adopted (a run that needed none: conversions on job processes)."""
    while _ahead:
        process, stderr = _ahead.popitem()[1]
        if process.stdin is not None:
            process.stdin.close()  # the worker exits at the end of its input
        process.wait()
        stderr.close()

"""The emulated aarch64 target: the worker (worker.py) under QEMU user mode, with kernel proof.

One persistent worker serves many runs (a start costs ~5 s under emulation, a small model
milliseconds). With kernel capture on, QEMU logs translated blocks (`-d in_asm -D LOG`);
each run's slice of the log (file offsets before and after the reply: QEMU flushes the
log after every block, before the guest can reply) is mapped to the library's symbols
and attached as `facts["kernels"]` and `facts["sme2_kernels"]`.

A block is logged only when translated, so a kernel that ran for an earlier request
would be missing from the next one. The guest start script (guest.py) therefore
makes QEMU drop its translations of LiteRT code before every request (mprotect of the
library's code), so each run's list is complete. `-d nochain,exec` would also be
complete but logs every executed block: 4.3 GB in 2 minutes before the first reply.

Crashes need nothing extra: QEMU re-raises the guest's fatal signal on itself, so
WorkerTarget sees the same SIGSEGV/SIGABRT and raises TargetCrash naming it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from pytest_litert.matrix.kernel_types import SVL_BYTES
from pytest_litert.run import sme2, worker
from pytest_litert.run.qemu import kernels
from pytest_litert.run.qemu.emulator import EmulatorPaths
from pytest_litert.run.targets import RunResult, WorkerTarget

_GUEST_SCRIPT = Path(__file__).with_name("guest.py")
_RUNTIME_SCRIPT = Path(worker.__file__)
_MAX_LOG_BYTES = 512 * 1024 * 1024


def cpu_model(*, sme: bool = True, svl: int | None = None) -> str:
    """QEMU's `-cpu` value: `max` has SME2; `sme=off` is the NEON comparison lane."""
    if svl is not None and svl not in SVL_BYTES:
        raise ValueError(f"streaming vector length {svl} bytes: choose one of {SVL_BYTES}")
    if not sme:
        if svl is not None:
            raise ValueError("a streaming vector length needs SME: drop svl or keep sme on")
        return "max,sme=off"
    return "max" if svl is None else f"max,sme-default-vector-length={svl}"


def target_name(*, sme: bool = True, svl: int | None = None) -> str:
    """`qemu-sme2`, `qemu-sme2-svl64`, or `qemu-nosme`."""
    if not sme:
        return "qemu-nosme"
    return "qemu-sme2" if svl is None else f"qemu-sme2-svl{svl}"


def guest_python(paths: EmulatorPaths, cpu: str, log: Path | None = None) -> list[str]:
    """`qemu-aarch64 -cpu CPU -L ROOTFS [-d in_asm -D LOG] python3`, all host paths."""
    command = [str(paths.qemu), "-cpu", cpu, "-L", str(paths.rootfs)]
    if log is not None:
        command += ["-d", "in_asm", "-D", str(log)]
    return [*command, str(paths.python)]


def worker_command(paths: EmulatorPaths, cpu: str, log: Path | None) -> list[str]:
    """The guest Python running guest.py, which serves worker.py (host paths)."""
    command = [*guest_python(paths, cpu, log), str(_GUEST_SCRIPT), str(_RUNTIME_SCRIPT)]
    return command if log is not None else [*command, "--keep-translations"]


def guest_environment(paths: EmulatorPaths) -> dict[str, str]:
    """A clean environment: QEMU hands its own to the guest, and QEMU_* variables would
    change QEMU itself. No bytecode writes into the host's source tree."""
    return {
        "PATH": "/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": str(paths.site),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "1",
    }


class QemuTarget(WorkerTarget):
    """worker.py in emulated aarch64 Python; `facts` gain the kernels each run executed."""

    reports_libraries = True  # the kernel capture maps executed addresses into them

    def __init__(
        self,
        paths: EmulatorPaths,
        *,
        sme: bool = True,
        svl: int | None = None,
        capture_kernels: bool = True,
        timeout: float = 300.0,
        max_log_bytes: int = _MAX_LOG_BYTES,
        preload: Path | None = None,
    ) -> None:
        """`preload`: an aarch64 library the guest's ld.so preloads into the worker (run/nosme's
        interposer: qemu-sme2 with SME hidden from getauxval, to check host-nosme's mechanism)."""
        self.paths = paths
        self.cpu = cpu_model(sme=sme, svl=svl)
        self.sme = sme
        self.svl = svl
        self.max_log_bytes = max_log_bytes
        self._log_dir = Path(tempfile.mkdtemp(prefix="pytest-litert-qemu-"))
        self.log = self._log_dir / "qemu.log" if capture_kernels else None
        self._pid: int | None = None
        command = worker_command(paths, self.cpu, self.log)
        env = guest_environment(paths) | ({"LD_PRELOAD": str(preload)} if preload is not None else {})
        super().__init__(target_name(sme=sme, svl=svl), command, timeout=timeout, env=env)

    def run(self, model: bytes, inputs: dict[str, np.ndarray], mode: str) -> RunResult:
        start = self._log_size()
        result = super().run(model, inputs, mode)
        if self.log is None:
            return result
        if result.facts.get("pid") != self._pid:
            start, self._pid = 0, result.facts.get("pid")  # a new worker rewrote the log
        end = self._log_size()
        facts = {**result.facts, **self._kernel_facts(start, end, result.facts)}
        if end > self.max_log_bytes:
            super().close()  # the next run starts a fresh worker and an empty log
        return RunResult(result.outputs, facts)

    def sme2_status(self) -> sme2.Sme2Status:
        """This target's SME2 status from a one-shot guest probe (~1 s, no LiteRT import)."""
        return sme2.emulated_status(guest_python(self.paths, self.cpu), self.paths.library, self.name)

    def _kernel_facts(self, start: int, end: int, facts: dict[str, object]) -> dict[str, object]:
        assert self.log is not None
        with self.log.open("rb") as log:
            log.seek(start)
            segment = log.read(max(0, end - start))
        libraries = facts.get("libraries")
        executed = kernels.executed_functions(segment, libraries if isinstance(libraries, dict) else {})
        return {
            "kernels": kernels.kernels_of(executed),
            "sme2_kernels": kernels.sme2_kernels_of(executed),
            "functions_executed": len(executed),
            # False only if the guest could not make QEMU forget earlier translations:
            # then kernels that already ran in this worker may be missing from the list.
            "kernels_complete": start == 0 or bool(facts.get("translations_reset")),
            "log_bytes": len(segment),
            "cpu_model": self.cpu,
        }

    def _log_size(self) -> int:
        try:
            return self.log.stat().st_size if self.log is not None else 0
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        super().close()
        shutil.rmtree(self._log_dir, ignore_errors=True)

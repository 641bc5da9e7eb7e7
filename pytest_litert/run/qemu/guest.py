"""Guest-side start script of the emulated worker: worker.py plus two QEMU-only duties.

Run inside QEMU user mode as `python3 guest.py /path/to/worker.py [--keep-translations]`
(the flag, for runs without kernel capture, skips duty 1). Standard
library only, like worker.py, which it loads by path and serves unchanged, except that
before each request it:

1. Makes QEMU forget its translations of LiteRT's code. QEMU logs a block (`-d in_asm`)
   only when it translates it, so in a persistent worker a kernel that ran for an earlier
   request would be invisible the second time. Toggling the library's executable
   mappings writable and back (mprotect) makes QEMU invalidate those translations, so
   every request's log names every LiteRT function it executed. Cost: ~0.3 s a request,
   against ~5 s for a fresh worker.
2. Adds the CPU facts the guest sees (AT_HWCAP2, /proc/cpuinfo Features) to the reply,
   so the host can state the emulated CPU's SME2 status without another process.

Mode "profile" (LiteRT's profiler) skips its warm-up run here: timings under QEMU mean
nothing and the operator names are the evidence (a seed-sized SME2 GEMM takes ~18 s a run).
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
from typing import Any

_AT_HWCAP2 = 26
_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4


def _load_runtime(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("runtime", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the worker from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["runtime"] = module
    spec.loader.exec_module(module)
    return module


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.getauxval.argtypes = [ctypes.c_ulong]
    libc.getauxval.restype = ctypes.c_ulong
    return libc


def litert_code_ranges() -> list[tuple[int, int]]:
    """Executable mappings of LiteRT's libraries, from /proc/self/maps."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 6 and "ai_edge_litert" in fields[5] and "x" in fields[1]:
                start, end = (int(value, 16) for value in fields[0].split("-"))
                ranges.append((start, end))
    return ranges


def forget_translations(libc: Any) -> list[str]:
    """Invalidate QEMU's translated blocks of LiteRT code; returns failures, if any."""
    failures = []
    for start, end in litert_code_ranges():
        writable = _PROT_READ | _PROT_WRITE | _PROT_EXEC
        if (
            libc.mprotect(start, end - start, writable) != 0
            or libc.mprotect(start, end - start, _PROT_READ | _PROT_EXEC) != 0
        ):
            failures.append(f"mprotect {start:#x}: errno {ctypes.get_errno()}")
    return failures


def cpu_facts(libc: Any) -> dict[str, Any]:
    features: list[str] = []
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("Features"):
                    features = line.split(":", 1)[1].split()
                    break
    except OSError:
        pass
    return {"hwcap2": int(libc.getauxval(_AT_HWCAP2)), "cpuinfo_features": features}


def main(argv: list[str]) -> None:
    runtime = _load_runtime(argv[1])
    libc = _libc()
    cpu = cpu_facts(libc)
    execute = runtime.execute
    reset = "--keep-translations" not in argv[2:]
    getattr(runtime, "PROFILE_RUNS", {}).update(warmup=0)

    def execute_logged(model: bytes, inputs: Any, mode: str) -> tuple[Any, dict[str, Any]]:
        failures = forget_translations(libc) if reset else []
        outputs, facts = execute(model, inputs, mode)
        facts.update(cpu, translations_reset=reset and not failures, translation_errors=failures)
        return outputs, facts

    runtime.execute = execute_logged
    runtime.main()


if __name__ == "__main__":
    main(sys.argv)

"""The `host-nosme` target: this Linux aarch64 machine, with SME and SME2 hidden from LiteRT.

The host worker (run/worker.py) started with the interposer preloaded (build.py): XNNPACK
then sees a CPU without SME and picks its NEON kernels, on the same cores, memory and
LiteRT build as `host`. Only Linux aarch64 can do this: on macOS the LiteRT dylibs ask
sysctlbyname, not getauxval (DYLD_INSERT_LIBRARIES would be the analogue, untestable here),
and an x86 CPU has no SME to hide.
"""

from __future__ import annotations

import platform
from pathlib import Path

from pytest_litert.run import host_worker, sme2
from pytest_litert.run.nosme.build import Interposer, NosmeUnavailable, interposer
from pytest_litert.run.targets import WorkerTarget

HOST_NOSME = "host-nosme"
_proven: dict[Path | None, Interposer] = {}  # one build and probe per process and cache directory


def unsupported_reason(system: str | None = None, machine: str | None = None) -> str | None:
    """Why SME cannot be hidden on this platform, in one line; None on Linux aarch64."""
    system, machine = system or platform.system(), machine or platform.machine()
    arch = machine.lower()
    if system == "Darwin":
        return ("not on macOS: the LiteRT dylibs learn about SME2 from sysctlbyname, not getauxval "
                "(DYLD_INSERT_LIBRARIES would be the analogue; this package does not ship one)")
    if arch in ("x86_64", "amd64", "i386", "i686"):
        return (f"this is an {machine} machine: there is no SME to hide (SME is an Arm extension); "
                "the emulated NEON lane is --litert-target=qemu-nosme")
    if system != "Linux" or arch not in ("aarch64", "arm64"):
        return f"needs Linux aarch64; this is {system} {machine}"
    return None


def proven_interposer(directory: Path | None = None) -> Interposer:
    """The interposer for this machine, built on first use and proven once per process."""
    reason = unsupported_reason()
    if reason is not None:
        raise NosmeUnavailable(reason)
    if directory not in _proven:
        _proven[directory] = interposer(directory, prefix=host_worker.worker_prefix())
    return _proven[directory]


def host_nosme_target(directory: Path | None = None) -> WorkerTarget:
    """The host worker with SME hidden; raises NosmeUnavailable saying why it cannot be made."""
    return WorkerTarget(HOST_NOSME, host_worker.command(), env=proven_interposer(directory).environment())


def nosme_status(host: sme2.Sme2Status, directory: Path | None = None) -> sme2.Sme2Status:
    """SME2 for `-m sme2` cells on host-nosme: available where the machine has it (the main
    lanes run with it hidden, the `sme2` comparison lane without), proven by the probe."""
    reason = unsupported_reason()
    if reason is not None:
        return sme2.Sme2Status(HOST_NOSME, False, host.cpu_has_sme2, host.litert_has_sme2_kernels, host.source,
                               reason)
    if not host.available:
        return sme2.Sme2Status(HOST_NOSME, False, host.cpu_has_sme2, host.litert_has_sme2_kernels, host.source,
                               f"nothing to hide: {host.reason}")
    try:
        built = proven_interposer(directory)
    except NosmeUnavailable as error:
        return sme2.Sme2Status(HOST_NOSME, False, True, host.litert_has_sme2_kernels, host.source, str(error))
    real = f"{built.hwcap2_real:#x}" if built.hwcap2_real is not None else "?"
    source = (f"{host.source}; hidden from the main lanes by the getauxval interposer (AT_HWCAP2 {real} -> "
              f"{built.hwcap2_seen:#x}), the sme2 comparison lane runs with it")
    return sme2.Sme2Status(HOST_NOSME, True, True, host.litert_has_sme2_kernels, source)

"""The machine a bench ran on, as far as it tells: CPU, features, SME2, governor, a nominal peak.

Saved with every run so two runs can be told apart (a different CPU or governor explains a
change before LiteRT does). Everything is read, nothing assumed silently: a field the machine
does not expose is None, and the nominal peak names the one assumption it makes.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from pytest_litert import toolchain
from pytest_litert.run import sme2
from pytest_litert.run.host_worker import WORKER_PREFIX_ENV

_CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")
# x86 vector features, widest first, and their fp32 lanes
_X86_LANES = (("avx512f", 16), ("avx2", 8), ("avx", 8), ("sse2", 4))
# Two FMA pipes per core: true of x86 server cores since Haswell / Zen, not reported by the CPU.
FMA_PIPES_ASSUMED = 2


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _cpuinfo_field(cpuinfo: str, key: str) -> str | None:
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def cpu_clock(cpuinfo: str) -> tuple[float | None, str]:
    """The CPU's clock in GHz and where it was read: cpufreq's maximum, else /proc/cpuinfo's
    `cpu MHz`, which is the current (often the base) clock: a boosting CPU runs above it."""
    khz = _read(_CPUFREQ / "cpuinfo_max_freq")
    if khz and khz.isdigit():
        return int(khz) / 1e6, "cpufreq maximum"
    mhz = _cpuinfo_field(cpuinfo, "cpu MHz")
    try:
        return (float(mhz) / 1e3, "cpu MHz: the current clock, not the boost clock") if mhz else (None, "")
    except ValueError:
        return None, ""


def nominal_peak_gflops(features: list[str], ghz: float | None, threads: int, clock: str = "") -> dict[str, Any] | None:
    """fp32 FLOP/s the vector units could do: lanes x 2 (an FMA) x FMA pipes x clock x threads.

    x86 only: an Arm core does not report its pipe count, and SME2's rate depends on the
    streaming vector length, so there the measured sgemm reference stands alone."""
    lanes = next((width for flag, width in _X86_LANES if flag in features), None)
    if lanes is None or ghz is None or "fma" not in features:
        return None
    per_cycle = lanes * 2 * FMA_PIPES_ASSUMED
    return {"gflops": per_cycle * ghz * threads, "flop_per_cycle": per_cycle, "ghz": ghz, "threads": threads,
            "formula": f"{lanes} fp32 lanes x 2 (FMA) x {FMA_PIPES_ASSUMED} FMA pipes (assumed) x {ghz:.2f} GHz "
                       f"({clock or 'reported clock'}) x {threads} thread(s)"}


def under_emulation() -> bool:
    """Inside `pytest-litert emulator run`: this 'aarch64 machine' is QEMU on another CPU."""
    return bool(os.environ.get(WORKER_PREFIX_ENV))


def describe(threads: int) -> dict[str, Any]:
    """CPU, features, SME2 status, governor, clock and toolchain, for a saved run."""
    cpuinfo = sme2.read_cpuinfo() or ""
    flags = _cpuinfo_field(cpuinfo, "flags") or _cpuinfo_field(cpuinfo, "Features") or ""
    features = flags.split()
    ghz, clock = cpu_clock(cpuinfo)
    status = sme2.host_status()
    return {
        "cpu": (_cpuinfo_field(cpuinfo, "model name") or sme2.read_sysctl("machdep.cpu.brand_string")
                or platform.processor() or platform.machine()),
        "machine": platform.machine(),
        "system": platform.system(),
        "cores": os.cpu_count(),
        "features": features,
        "sme2": {"available": status.available, "cpu": status.cpu_has_sme2,
                 "litert_kernels": status.litert_has_sme2_kernels, "line": status.describe()},
        "governor": _read(_CPUFREQ / "scaling_governor"),
        "ghz": ghz,
        "clock_source": clock,
        "nominal_peak": nominal_peak_gflops(features, ghz, threads, clock),
        "emulated": under_emulation(),
        "python": platform.python_version(),
        "toolchain": toolchain.versions(),
    }

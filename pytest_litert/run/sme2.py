"""Is SME2 usable on the target: a CPU that reports it and a LiteRT build with SME2 kernels.

XNNPACK picks KleidiAI SME2 kernels at run time when the CPU reports SME2, and only if
the LiteRT build contains them (the aarch64 wheels do, the x86_64 one does not). Both
halves are checked, each from an input that tests can fake: the auxiliary vector and
/proc/cpuinfo on Linux, sysctl on macOS, a symbol list for the library (ELF or Mach-O,
read in Python by run/library.py: no `nm`, which cannot read Mach-O or is absent).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import importlib.util
import json
import platform
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_litert.run import library as libraries

AT_HWCAP2 = 26
HWCAP2_SME2 = 1 << 37
MACOS_SYSCTL = "hw.optional.arm.FEAT_SME2"
LIBRARY_NAME = "libpywrap_litert_common"
EMULATE_FLAG = "--litert-target=qemu-sme2"
# KleidiAI's SME2 kernels: `kai_*sme2*` in ELF, `_kai_*sme2*` in Mach-O (C names get an underscore).
_SME2_SYMBOL = re.compile(r"^_?kai_.*sme2")


@dataclasses.dataclass(frozen=True)
class Sme2Status:
    """SME2 on one target. `reason` is empty when available, else names what is missing
    and the flag that changes it (for skip messages and the report header)."""

    target: str
    available: bool
    cpu_has_sme2: bool
    litert_has_sme2_kernels: bool
    source: str
    reason: str = ""

    def describe(self) -> str:
        """One line for the report header."""
        if self.available:
            return f"SME2 on {self.target}: available ({self.source})"
        return f"SME2 on {self.target}: unavailable: {self.reason}"


# --- the CPU ---------------------------------------------------------------------------


def hwcap2_has_sme2(hwcap2: int) -> bool:
    return bool(hwcap2 & HWCAP2_SME2)


def cpuinfo_has_sme2(cpuinfo: str) -> bool:
    """True when any `Features` line of /proc/cpuinfo lists `sme2`."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Features" and "sme2" in value.split():
            return True
    return False


def sysctl_has_sme2(value: str | None) -> bool:
    return value is not None and value.strip() == "1"


def read_hwcap2() -> int | None:
    """getauxval(AT_HWCAP2); only meaningful on Linux aarch64."""
    try:
        libc = ctypes.CDLL(None)
        libc.getauxval.argtypes = [ctypes.c_ulong]
        libc.getauxval.restype = ctypes.c_ulong
        return int(libc.getauxval(AT_HWCAP2))
    except (OSError, AttributeError):
        return None


def read_cpuinfo() -> str | None:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return None


def read_sysctl(name: str) -> str | None:
    try:
        done = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


@dataclasses.dataclass(frozen=True)
class CpuProbe:
    """Where the CPU facts come from; replace any field with a fake in tests."""

    system: str = dataclasses.field(default_factory=platform.system)
    machine: str = dataclasses.field(default_factory=platform.machine)
    hwcap2: Callable[[], int | None] = read_hwcap2
    cpuinfo: Callable[[], str | None] = read_cpuinfo
    sysctl: Callable[[str], str | None] = read_sysctl


def cpu_sme2(probe: CpuProbe) -> tuple[bool, str]:
    """(has SME2, how that was decided)."""
    machine = probe.machine.lower()
    if probe.system == "Darwin":
        if machine != "arm64":
            return False, f"macOS on {probe.machine}"
        return sysctl_has_sme2(probe.sysctl(MACOS_SYSCTL)), f"sysctl {MACOS_SYSCTL}"
    if probe.system != "Linux" or machine not in ("aarch64", "arm64"):
        return False, f"{probe.system} {probe.machine} CPU"
    hwcap2 = probe.hwcap2()
    if hwcap2 is not None and hwcap2_has_sme2(hwcap2):
        return True, "getauxval(AT_HWCAP2) bit 37"
    cpuinfo = probe.cpuinfo()
    if cpuinfo is not None and cpuinfo_has_sme2(cpuinfo):
        return True, "/proc/cpuinfo Features"
    return False, "getauxval(AT_HWCAP2) bit 37 and /proc/cpuinfo Features"


# --- the LiteRT build ------------------------------------------------------------------


def symbols_have_sme2_kernels(names: Iterable[str]) -> bool:
    """Any KleidiAI SME2 symbol (`kai_*sme2*`, Mach-O `_kai_*sme2*`) among the names."""
    return any(_SME2_SYMBOL.match(name) for name in names)


def sme2_kernel_names(names: Iterable[str]) -> list[str]:
    """The KleidiAI SME2 symbols among the names, sorted (for doctor's count and JSON)."""
    return sorted(name for name in names if _SME2_SYMBOL.match(name))


def host_litert_library() -> Path | None:
    """The installed LiteRT runtime library, found without importing ai_edge_litert."""
    spec = importlib.util.find_spec("ai_edge_litert")
    for location in (spec.submodule_search_locations or []) if spec else []:
        for candidate in sorted(Path(location).glob(f"{LIBRARY_NAME}.*")):
            return candidate
    return None


@functools.lru_cache(maxsize=8)
def library_has_sme2_kernels(path: Path) -> bool:
    """Function symbols of the ELF `.symtab` or the Mach-O symbol table; an unreadable file has none."""
    try:
        return symbols_have_sme2_kernels(symbol.name for symbol in libraries.function_symbols(path))
    except (libraries.LibraryFormatError, OSError):
        return False


# --- the verdict -----------------------------------------------------------------------


def combine(target: str, cpu: tuple[bool, str], library: Path | None, *, hint: str = "") -> Sme2Status:
    """Status from the two halves; the reason names the first missing one and the fix."""
    has_cpu, how = cpu
    has_kernels = library is not None and library_has_sme2_kernels(library)
    missing = []
    if not has_cpu:
        missing.append(f"the {target} CPU does not report SME2 ({how})")
    if not has_kernels:
        where = str(library) if library else "no LiteRT library found"
        missing.append(f"the LiteRT build has no KleidiAI kai_*sme2* kernels ({where})")
    reason = ""
    if missing:
        reason = "; ".join(missing) + (
            f": {hint}" if hint else f": run on an SME2 machine or emulate one with {EMULATE_FLAG}"
        )
    return Sme2Status(target, not missing, has_cpu, has_kernels, how, reason)


def host_status(probe: CpuProbe | None = None, library: Path | None = None) -> Sme2Status:
    """SME2 on this machine with the installed ai-edge-litert."""
    return combine("host", cpu_sme2(probe or CpuProbe()), library or host_litert_library())


def status_from_facts(target: str, facts: Mapping[str, Any], library: Path, *, hint: str = "") -> Sme2Status:
    """SME2 status from the guest's own report (guest.py adds hwcap2 and cpuinfo
    features to every reply, and the probe below prints the same)."""
    hwcap2 = facts.get("hwcap2")
    features = facts.get("cpuinfo_features") or []
    probe = CpuProbe(
        system="Linux",
        machine=str(facts.get("machine", "aarch64")),
        hwcap2=lambda: int(hwcap2) if hwcap2 is not None else None,
        cpuinfo=lambda: "Features\t: " + " ".join(features),
    )
    return combine(target, cpu_sme2(probe), library, hint=hint)


GUEST_PROBE = """
import ctypes, json, platform
libc = ctypes.CDLL(None)
libc.getauxval.argtypes = [ctypes.c_ulong]
libc.getauxval.restype = ctypes.c_ulong
features = []
for line in open("/proc/cpuinfo"):
    if line.startswith("Features"):
        features = line.split(":", 1)[1].split()
        break
print(json.dumps({"machine": platform.machine(), "hwcap2": libc.getauxval(26),
                  "cpuinfo_features": features}))
"""


def emulated_status(command_prefix: list[str], library: Path, target: str) -> Sme2Status:
    """Run GUEST_PROBE under the emulator (`qemu-aarch64 -cpu ... -L ROOTFS python3.11`,
    ~1 s, no LiteRT import) and judge its CPU facts with the guest's LiteRT library."""
    hint = "use --litert-target=qemu-sme2 (QEMU -cpu max), not the sme=off lane"
    try:
        done = subprocess.run(
            [*command_prefix, "-c", GUEST_PROBE],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        )
        facts = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as error:
        return Sme2Status(
            target,
            False,
            False,
            False,
            "guest probe",
            f"the emulator did not run ({error}): run `pytest-litert emulator setup`",
        )
    return status_from_facts(target, facts, library, hint=hint)

"""`pytest-litert doctor`: what this machine and a LiteRT build can prove about SME2.

One fact per line, each decided here without running LiteRT: the CPU's SME2 (run/sme2.py),
the build's KleidiAI SME2 kernels and its C profiler API (symbols read in Python by
run/library.py, so a Mac without the Xcode tools is answered too), the SME-hiding
interposer, the emulator, and which targets work. `--library` points the build facts at
another build (an unpacked wheel of another platform, say); the machine facts and the
targets stay those of this machine and its installed LiteRT.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_litert import toolchain
from pytest_litert.run import library as libraries
from pytest_litert.run import sme2
from pytest_litert.run.qemu import emulator

COMMON = sme2.LIBRARY_NAME  # the kernels: libpywrap_litert_common.so / .dylib
RUNTIME = "libLiteRt"  # LiteRT's C API: libLiteRt.so / .dylib
PROFILER_API = ("LiteRtCompiledModelGetProfiler", "LiteRtStartProfiler", "LiteRtStopProfiler",
                "LiteRtGetNumProfilerEvents", "LiteRtGetProfilerEvents")
YES, NO, UNKNOWN, NOT_APPLICABLE = "yes", "no", "unknown", "n/a"
QEMU_TARGETS = {"qemu-sme2": "-cpu max: SME2, kernels named from the translation log",
                "qemu-nosme": "-cpu max,sme=off: the NEON lane"}


class DoctorRefused(ValueError):
    """doctor cannot run as asked (a --library without LiteRT, a --json file that exists)."""


@dataclasses.dataclass(frozen=True)
class Fact:
    """One line: `state` is yes / no (proven either way), unknown (cannot be decided here) or n/a."""

    key: str
    label: str
    state: str
    detail: str
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Build:
    """The LiteRT build inspected: where it came from and its two libraries (None if absent)."""

    origin: str
    version: str
    common: Path | None
    runtime: Path | None


@dataclasses.dataclass(frozen=True)
class Machine:
    """Where the machine facts come from; tests replace any field."""

    probe: sme2.CpuProbe = dataclasses.field(default_factory=sme2.CpuProbe)
    compiler: Callable[[str], Sequence[str]] | None = None  # default: run/nosme's find_compiler
    emulator_dir: Path | None = None
    installed: Callable[[], Path | None] = sme2.host_litert_library


# --- the build -------------------------------------------------------------------------


def locate_build(where: Path | None, machine: Machine) -> Build:
    """The installed build, or the one `--library` names (a file, a directory, an unpacked wheel)."""
    if where is None:
        common = machine.installed()
        runtime = libraries.find(common, RUNTIME) if common else None
        return Build("installed", toolchain.versions()["ai-edge-litert"], common, runtime)
    if not where.exists():
        raise DoctorRefused(f"--library {where}: no such file or directory")
    if where.suffix == ".whl":
        raise DoctorRefused(f"--library {where}: unpack the wheel first (python -m zipfile -e WHEEL DIR)")
    common, runtime = libraries.find(where, COMMON), libraries.find(where, RUNTIME)
    if where.is_file() and common is None and runtime != where:
        common = where  # another library: its symbols are still worth reading
    if common is None and runtime is None:
        raise DoctorRefused(f"--library {where}: no {COMMON} or {RUNTIME} (.so, .dylib) there")
    return Build(f"--library {where}", _wheel_version(common or runtime), common, runtime)


def _wheel_version(path: Path | None) -> str:
    """The version from an `ai_edge_litert-X.dist-info` beside the package, if there is one."""
    for info in sorted(path.parent.parent.glob("ai_edge_litert-*.dist-info")) if path else []:
        return info.name.removeprefix("ai_edge_litert-").removesuffix(".dist-info")
    return "unknown"


def kernels_fact(build: Build) -> Fact:
    """KleidiAI SME2 kernels: `kai_*sme2*` (Mach-O `_kai_*sme2*`) among the function symbols."""
    label = "SME2 kernels"
    if build.common is None:
        return Fact("sme2_kernels", label, UNKNOWN, f"no {COMMON}.so/.dylib found")
    try:
        found = libraries.info(build.common)
        functions = [symbol.name for symbol in libraries.function_symbols(build.common)]
    except (libraries.LibraryFormatError, OSError) as error:
        return Fact("sme2_kernels", label, UNKNOWN, f"unreadable: {error}", {"library": str(build.common)})
    names = sme2.sme2_kernel_names(functions)
    data = {"library": str(build.common), "format": found.format, "arch": found.arch,
            "functions": len(functions), "count": len(names), "names": names}
    where = f"{build.common} ({found.describe()})"
    if not functions:
        return Fact("sme2_kernels", label, UNKNOWN, f"no symbol table (stripped): {where}", data)
    state = YES if names else NO
    return Fact("sme2_kernels", label, state, f"{len(names)} kai_*sme2* of {len(functions)} functions: {where}", data)


def profiler_fact(build: Build) -> Fact:
    """LiteRT's C profiler API among the runtime library's exports (what ctypes can reach)."""
    label = "profiler API"
    if build.runtime is None:
        return Fact("profiler_api", label, UNKNOWN, f"no {RUNTIME}.so/.dylib found")
    try:
        exported = libraries.exported_names(build.runtime)
    except (libraries.LibraryFormatError, OSError) as error:
        return Fact("profiler_api", label, UNKNOWN, f"unreadable: {error}", {"library": str(build.runtime)})
    missing = [name for name in PROFILER_API if name not in exported]
    data = {"library": str(build.runtime), "exported": len(exported), "missing": missing}
    have = len(PROFILER_API) - len(missing)
    detail = f"{have} of {len(PROFILER_API)} exported by {build.runtime}"
    return Fact("profiler_api", label, NO if missing else YES,
                detail + (f"; missing {', '.join(missing)}" if missing else ""), data)


# --- this machine ----------------------------------------------------------------------


def cpu_fact(probe: sme2.CpuProbe) -> Fact:
    """SME2 as XNNPACK sees it: getauxval and /proc/cpuinfo on Linux aarch64, sysctl on macOS."""
    has, how = sme2.cpu_sme2(probe)
    data = {"system": probe.system, "machine": probe.machine, "how": how}
    if probe.machine.lower() not in ("aarch64", "arm64"):
        return Fact("cpu_sme2", "CPU SME2", NO, f"{probe.system} {probe.machine}: not an Arm CPU", data)
    return Fact("cpu_sme2", "CPU SME2", YES if has else NO, f"{'' if has else 'not '}reported by {how}", data)


def interposer_fact(probe: sme2.CpuProbe, compiler: Callable[[str], Sequence[str]] | None = None) -> Fact:
    """Can the SME-hiding LD_PRELOAD interposer of `host-nosme` be built here: the platform and
    a C compiler that builds for this CPU, decided as run/nosme decides them (nothing is built)."""
    from pytest_litert.run.nosme.build import NosmeUnavailable, find_compiler
    from pytest_litert.run.nosme.target import unsupported_reason

    label = "nosme interposer"
    reason = unsupported_reason(probe.system, probe.machine)
    if reason is not None and probe.system != "Darwin" and probe.machine.lower() not in ("aarch64", "arm64"):
        detail = f"not needed on {probe.system} {probe.machine}: no SME to hide"
        return Fact("interposer", label, NOT_APPLICABLE, detail)
    if reason is not None:
        return Fact("interposer", label, NO, reason)
    try:
        command = list((compiler or find_compiler)(probe.machine))
    except NosmeUnavailable as error:
        return Fact("interposer", label, NO, str(error))
    return Fact("interposer", label, YES, f"{' '.join(command)} builds for {probe.machine}; "
                "LD_PRELOAD hides SME from getauxval", {"compiler": command})


def emulator_fact(cache_dir: Path | None) -> tuple[Fact, emulator.EmulatorPaths | None]:
    """The prepared emulator (file checks plus `qemu-aarch64 --version`)."""
    paths = emulator.find(cache_dir)
    where = cache_dir or emulator.default_cache_dir()
    if paths is None:
        return Fact("emulator", "emulator", NO, f"not set up in {where}: {emulator.SETUP_HINT}"), None
    try:
        major, minor = emulator.qemu_version(paths.qemu)
        version = f"QEMU {major}.{minor}"
    except emulator.EmulatorSetupError as error:
        return Fact("emulator", "emulator", NO, f"{paths.qemu} does not run: {error.problem}"), None
    from pytest_litert.run.qemu.guest_shell import stale_requirements  # imports numpy: only here

    stale = stale_requirements(paths)
    detail = f"{version} in {paths.cache_dir}"
    if stale:
        detail += f"; the guest lacks {', '.join(stale)}: rerun `pytest-litert emulator setup`"
    data = {"cache_dir": str(paths.cache_dir), "qemu": version, "stale": stale}
    return Fact("emulator", "emulator", YES, detail, data), paths


# --- the targets -----------------------------------------------------------------------


def target_facts(machine: Machine, cpu: Fact, interposer: Fact, emulated: emulator.EmulatorPaths | None) -> list[Fact]:
    """host, qemu-sme2, qemu-nosme, host-nosme: works here or not, and why, in one line each."""
    probe = machine.probe
    facts = [_host_target(machine.installed(), cpu)]
    for name, what in QEMU_TARGETS.items():
        if probe.system != "Linux":
            facts.append(Fact(f"target:{name}", f"target {name}", NO, "QEMU user mode runs on Linux hosts only"))
        elif emulated is None:
            facts.append(Fact(f"target:{name}", f"target {name}", NO, f"no emulator: {emulator.SETUP_HINT}"))
        else:
            facts.append(Fact(f"target:{name}", f"target {name}", YES, f"emulated aarch64, QEMU {what}"))
    return [*facts, _host_nosme_target(probe, cpu, interposer)]


def _host_target(installed: Path | None, cpu: Fact) -> Fact:
    if installed is None:
        return Fact("target:host", "target host", NO, "ai-edge-litert is not installed: pip install pytest-litert")
    kernels = sme2.library_has_sme2_kernels(installed)
    checks = (("no SME2 CPU", cpu.state == YES), ("no SME2 kernels in the installed build", kernels))
    missing = [why for why, ok in checks if not ok]
    cells = f"sme2 cells skip: {', '.join(missing)}" if missing else "sme2 cells run on SME2"
    return Fact("target:host", "target host", YES, f"this CPU, ai-edge-litert {toolchain.versions()['ai-edge-litert']}"
                f"; {cells}", {"sme2": not missing})


def _host_nosme_target(probe: sme2.CpuProbe, cpu: Fact, interposer: Fact) -> Fact:
    from pytest_litert.run.nosme.target import unsupported_reason

    key, label = "target:host-nosme", "target host-nosme"
    reason = unsupported_reason(probe.system, probe.machine)
    if reason is not None or interposer.state != YES:
        return Fact(key, label, NO, reason or interposer.detail)
    if cpu.state != YES:
        return Fact(key, label, YES, "works, but hides nothing: this CPU has no SME2 (sme2 cells skip)")
    return Fact(key, label, YES, "this CPU with SME2 hidden from XNNPACK: the NEON lane beside host")


def proof_fact(targets: Sequence[Fact]) -> Fact:
    """Where a run can show that SME2 kernels ran: a host with SME2, or the emulated SME2 CPU."""
    works = {fact.key.removeprefix("target:"): fact for fact in targets if fact.state == YES}
    where = [name for name in ("host", "qemu-sme2") if name in works and works[name].data.get("sme2", True)]
    if not where:
        return Fact("sme2_proof", "SME2 proof", NO, "nowhere here: no SME2 host, no emulator "
                    f"({emulator.SETUP_HINT})")
    return Fact("sme2_proof", "SME2 proof", YES, f"on {', '.join(where)}", {"targets": where})


# --- all of it -------------------------------------------------------------------------


def facts(where: Path | None = None, machine: Machine | None = None) -> tuple[Build, list[Fact]]:
    """Every fact, in the order they print."""
    machine = machine or Machine()
    build = locate_build(where, machine)
    cpu = cpu_fact(machine.probe)
    interposer = interposer_fact(machine.probe, machine.compiler)
    emulated, paths = emulator_fact(machine.emulator_dir)
    targets = target_facts(machine, cpu, interposer, paths)
    return build, [cpu, kernels_fact(build), profiler_fact(build), interposer, emulated, *targets,
                   proof_fact(targets)]


def title(build: Build, probe: sme2.CpuProbe) -> str:
    return (f"pytest-litert doctor: {probe.system} {probe.machine}, Python {platform.python_version()}; "
            f"LiteRT build: {build.origin}, ai-edge-litert {build.version}")


def render(build: Build, found: Sequence[Fact], probe: sme2.CpuProbe) -> str:
    """The title, then one aligned line per fact: label, state, how it was decided."""
    width = max(len(fact.label) for fact in found)
    lines = [title(build, probe), *(f"{fact.label:<{width}}  {fact.state:<7}  {fact.detail}" for fact in found)]
    return "\n".join(lines) + "\n"


def document(build: Build, found: Sequence[Fact], probe: sme2.CpuProbe) -> dict[str, Any]:
    """The same facts for machines: `facts[key]` holds state, detail and the fact's data."""
    return {
        "doctor": 1,
        "machine": {"system": probe.system, "machine": probe.machine, "python": platform.python_version()},
        "build": {"origin": build.origin, "version": build.version,
                  "common": str(build.common) if build.common else None,
                  "runtime": str(build.runtime) if build.runtime else None},
        "facts": {fact.key: {"label": fact.label, "state": fact.state, "detail": fact.detail, **fact.data}
                  for fact in found},
    }


def run(where: Path | None, json_path: Path | None, *, force: bool = False, machine: Machine | None = None) -> str:
    """The printed report; with `json_path`, also the document (refused if it exists, unless force)."""
    if json_path is not None and json_path.exists() and not force:
        raise DoctorRefused(f"{json_path} exists; pass --force to overwrite it")
    machine = machine or Machine()
    build, found = facts(where, machine)
    if json_path is not None:
        json_path.write_text(json.dumps(document(build, found, machine.probe), indent=1) + "\n")
    return render(build, found, machine.probe)

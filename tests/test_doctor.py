"""`pytest-litert doctor`: each fact from faked machines, the command line, and the real macOS
arm64 and Linux aarch64 wheels (downloaded once, not installed) read with no `nm` on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from library_files import LINUX_AARCH64, MACOS_ARM64, fake_elf, fake_macho, litert_wheel

from pytest_litert.cli import main
from pytest_litert.run import doctor, sme2
from pytest_litert.run.nosme.build import NosmeUnavailable
from pytest_litert.run.qemu import emulator

SME2_HWCAP2 = 1 << 37


def probe(system: str = "Linux", machine: str = "aarch64", hwcap2: int = SME2_HWCAP2) -> sme2.CpuProbe:
    return sme2.CpuProbe(system=system, machine=machine, hwcap2=lambda: hwcap2, cpuinfo=lambda: "",
                         sysctl=lambda name: "1\n")


def fake_machine(tmp_path: Path, system: str = "Linux", machine: str = "x86_64",
                 compiler: Sequence[str] | None = None) -> doctor.Machine:
    """No emulator (an empty cache dir), an installed build with SME2 kernels, a compiler or none."""
    installed = fake_elf(tmp_path / "libpywrap_litert_common.so", ["kai_run_x_sme2_mopa"])
    return doctor.Machine(probe=probe(system, machine), compiler=lambda machine: compilers(compiler),
                          emulator_dir=tmp_path / "no-emulator", installed=lambda: installed)


def compilers(command: Sequence[str] | None) -> Sequence[str]:
    if command is None:
        raise NosmeUnavailable("no C compiler for aarch64: install one")
    return command


def fake_cc(directory: Path, triple: str) -> Path:
    """A `cc` whose -dumpmachine names `triple`, alone on a PATH."""
    directory.mkdir()
    cc = directory / "cc"
    cc.write_text(f"#!/bin/sh\necho {triple}\n")
    cc.chmod(0o755)
    return directory


def by_key(found: list[doctor.Fact]) -> dict[str, doctor.Fact]:
    return {fact.key: fact for fact in found}


# --- the interposer and the targets, per platform ---------------------------------------


def test_interposer_on_macos_refuses_in_one_line() -> None:
    fact = doctor.interposer_fact(probe("Darwin", "arm64"), lambda machine: ["cc"])
    assert fact.state == doctor.NO and "\n" not in fact.detail and "macOS" in fact.detail


def test_interposer_not_needed_on_x86() -> None:
    fact = doctor.interposer_fact(probe("Linux", "x86_64"), lambda machine: ["cc"])
    assert fact.state == doctor.NOT_APPLICABLE and "not needed" in fact.detail


def test_interposer_on_linux_aarch64() -> None:
    without = doctor.interposer_fact(probe(), lambda machine: compilers(None))
    assert without.state == doctor.NO and "install" in without.detail
    assert doctor.interposer_fact(probe(), lambda machine: ["gcc"]).state == doctor.YES


@pytest.mark.parametrize(("triple", "state"), [("aarch64-linux-gnu", doctor.YES), ("x86_64-linux-gnu", doctor.NO)])
def test_interposer_compiler_must_build_for_this_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     triple: str, state: str) -> None:
    """run/nosme's own check (cc -dumpmachine): in the emulated guest the host's x86 cc shows
    through QEMU's -L, and cannot build the aarch64 interposer."""
    monkeypatch.setenv("PATH", str(fake_cc(tmp_path / "bin", triple)))
    monkeypatch.delenv("CC", raising=False)
    fact = doctor.interposer_fact(probe())
    assert fact.state == state, fact.detail
    assert state == doctor.YES or triple in fact.detail


def test_x86_host_without_emulator(tmp_path: Path) -> None:
    _, found = doctor.facts(None, fake_machine(tmp_path))
    facts = by_key(found)
    assert facts["cpu_sme2"].state == doctor.NO and "not an Arm CPU" in facts["cpu_sme2"].detail
    assert facts["emulator"].state == doctor.NO and emulator.SETUP_HINT in facts["emulator"].detail
    for name in ("qemu-sme2", "qemu-nosme"):
        assert facts[f"target:{name}"].state == doctor.NO
    assert facts["target:host"].state == doctor.YES and "no SME2 CPU" in facts["target:host"].detail
    assert "no SME to hide" in facts["target:host-nosme"].detail
    assert facts["sme2_proof"].state == doctor.NO


def test_macos_host(tmp_path: Path) -> None:
    _, found = doctor.facts(None, fake_machine(tmp_path, system="Darwin", machine="arm64"))
    facts = by_key(found)
    assert facts["cpu_sme2"].state == doctor.YES and sme2.MACOS_SYSCTL in facts["cpu_sme2"].detail
    assert facts["target:qemu-sme2"].detail == "QEMU user mode runs on Linux hosts only"
    assert facts["target:host-nosme"].state == doctor.NO and "macOS" in facts["target:host-nosme"].detail
    assert facts["sme2_proof"].detail == "on host"


def test_sme2_linux_host_with_compiler(tmp_path: Path) -> None:
    facts = by_key(doctor.facts(None, fake_machine(tmp_path, machine="aarch64", compiler=["cc"]))[1])
    assert facts["interposer"].state == doctor.YES
    assert facts["target:host"].detail.endswith("sme2 cells run on SME2")
    assert facts["target:host-nosme"].state == doctor.YES
    assert facts["sme2_proof"].detail == "on host"


def test_linux_aarch64_host_without_compiler(tmp_path: Path) -> None:
    facts = by_key(doctor.facts(None, fake_machine(tmp_path, machine="aarch64"))[1])
    assert facts["interposer"].state == facts["target:host-nosme"].state == doctor.NO
    assert facts["target:host-nosme"].detail == facts["interposer"].detail


def test_prepared_emulator() -> None:
    paths = emulator.find()
    if paths is None:
        pytest.skip(f"the emulator is not set up: {emulator.SETUP_HINT}")
    fact, found = doctor.emulator_fact(None)
    assert found == paths and fact.state == doctor.YES and fact.detail.startswith("QEMU ")
    assert fact.data["stale"] == [], fact.detail


def test_in_the_emulated_sme2_linux(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The guest's runtime-only install reads its own aarch64 library (the symbol readers were
    installed host-side for aarch64 by `emulator setup`)."""
    if emulator.find() is None:
        pytest.skip(f"the emulator is not set up: {emulator.SETUP_HINT}")
    out = tmp_path / "guest.json"
    assert main(["emulator", "run", "--", "pytest-litert", "doctor", "--json", str(out)]) == 0
    facts = json.loads(out.read_text())["facts"]
    assert facts["cpu_sme2"]["state"] == doctor.YES, capfd.readouterr().out
    assert (facts["sme2_kernels"]["state"], facts["sme2_kernels"]["arch"]) == (doctor.YES, "aarch64")
    assert facts["target:host"]["sme2"] is True


# --- the build: kernels and profiler API -------------------------------------------------


def test_build_from_a_directory(tmp_path: Path) -> None:
    package = tmp_path / "ai_edge_litert"
    package.mkdir()
    fake_macho(package / "libpywrap_litert_common.dylib", ["_kai_run_x_sme2_mopa", "_helper"])
    fake_macho(package / "libLiteRt.dylib", [], exported=[f"_{name}" for name in doctor.PROFILER_API[:-1]])
    (tmp_path / "ai_edge_litert-9.9.9.dist-info").mkdir()
    build = doctor.locate_build(tmp_path, doctor.Machine())
    assert build.version == "9.9.9"
    kernels = doctor.kernels_fact(build)
    assert kernels.state == doctor.YES and kernels.data["names"] == ["_kai_run_x_sme2_mopa"]
    profiler = doctor.profiler_fact(build)
    assert profiler.state == doctor.NO and profiler.data["missing"] == [doctor.PROFILER_API[-1]]


def test_stripped_and_unreadable_libraries(tmp_path: Path) -> None:
    stripped = fake_elf(tmp_path / "libpywrap_litert_common.so", [])
    assert doctor.kernels_fact(doctor.locate_build(stripped, doctor.Machine())).state == doctor.UNKNOWN
    other = tmp_path / "other"
    other.mkdir()
    (other / "libLiteRt.so").write_text("not a library")
    build = doctor.locate_build(other / "libLiteRt.so", doctor.Machine())
    assert build.common is None and doctor.kernels_fact(build).state == doctor.UNKNOWN
    assert "unreadable" in doctor.profiler_fact(build).detail


@pytest.mark.parametrize(("make", "message"), [
    (lambda tmp: tmp / "absent.so", "no such file"),
    (lambda tmp: tmp, "no libpywrap_litert_common or libLiteRt"),
    (lambda tmp: tmp / "ai_edge_litert-2.3.0-cp311-cp311-macosx_12_0_arm64.whl", "unpack the wheel"),
])
def test_library_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          make: Callable[[Path], Path], message: str) -> None:
    path = make(tmp_path)
    if path.suffix == ".whl":
        path.write_bytes(b"PK")
    assert main(["doctor", "--library", str(path)]) == 2
    assert message in capsys.readouterr().err


# --- the command line ---------------------------------------------------------------------


def test_cli_prints_aligned_facts_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "doctor.json"
    assert main(["doctor", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("pytest-litert doctor: ")
    states = {line[19:28].strip() for line in lines[1:]}
    assert states <= {doctor.YES, doctor.NO, doctor.UNKNOWN, doctor.NOT_APPLICABLE}, lines
    document = json.loads(out.read_text())
    assert set(document["facts"]) >= {"cpu_sme2", "sme2_kernels", "profiler_api", "interposer", "emulator",
                                      "target:host", "target:qemu-sme2", "target:qemu-nosme", "target:host-nosme"}
    assert len(lines) == 1 + len(document["facts"])
    assert main(["doctor", "--json", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["doctor", "--json", str(out), "--force"]) == 0


def test_symbol_readers_stay_out_of_pytest_start_up() -> None:
    code = ("import sys, pytest_litert.plugin, pytest_litert.run.sme2, pytest_litert.run.qemu.kernels; "
            "print(sorted({'elftools', 'macholib'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- the real wheels, with no nm on PATH --------------------------------------------------


def doctor_without_nm(tmp_path: Path, library: Path) -> tuple[str, dict[str, dict[str, object]]]:
    """`python -m pytest_litert doctor --library ...` with a PATH that holds nothing at all."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    out = tmp_path / "doctor.json"
    env = {**os.environ, "PATH": str(empty)}
    done = subprocess.run([sys.executable, "-m", "pytest_litert", "doctor", "--library", str(library),
                           "--json", str(out)], capture_output=True, text=True, env=env, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())["facts"]


def test_macos_wheel_dylib(tmp_path: Path) -> None:
    """The done-when: the macOS arm64 wheel's dylib, on a machine with no nm."""
    dylib = litert_wheel(MACOS_ARM64) / "ai_edge_litert" / "libpywrap_litert_common.dylib"
    text, facts = doctor_without_nm(tmp_path, dylib)
    kernels = facts["sme2_kernels"]
    assert kernels["state"] == doctor.YES and (kernels["format"], kernels["arch"]) == ("Mach-O", "arm64")
    names = kernels["names"]
    assert isinstance(names, list) and names and all(name.startswith("_kai_") and "sme2" in name for name in names)
    assert facts["profiler_api"]["state"] == doctor.YES and str(facts["profiler_api"]["library"]).endswith(".dylib")
    assert f"{len(names)} kai_*sme2*" in text


def test_linux_aarch64_wheel_directory(tmp_path: Path) -> None:
    _, facts = doctor_without_nm(tmp_path, litert_wheel(LINUX_AARCH64))
    kernels = facts["sme2_kernels"]
    assert kernels["state"] == doctor.YES and (kernels["format"], kernels["arch"]) == ("ELF", "aarch64")
    assert facts["profiler_api"]["state"] == doctor.YES and facts["profiler_api"]["missing"] == []

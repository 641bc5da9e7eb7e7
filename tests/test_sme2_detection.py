"""SME2 detection from faked auxv, /proc/cpuinfo, sysctl and symbol-table inputs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from library_files import MACOS_ARM64, fake_elf, fake_macho, litert_wheel

from pytest_litert.run import sme2

SME2_FEATURES = "Features\t: fp asimd sve sve2 sme smef32f32 sme2 sme2p1 bf16\n"
NEON_FEATURES = "Features\t: fp asimd aes pmull sha1 sha2 crc32 atomics sve sve2 sme\n"


def fake_probe(
    system: str = "Linux",
    machine: str = "aarch64",
    hwcap2: int | None = 0,
    cpuinfo: str | None = NEON_FEATURES,
    sysctl: str | None = None,
) -> sme2.CpuProbe:
    """A CpuProbe whose readers return fixed fake values."""
    return sme2.CpuProbe(
        system=system,
        machine=machine,
        hwcap2=lambda: hwcap2,
        cpuinfo=lambda: cpuinfo,
        sysctl=lambda name: sysctl if name == sme2.MACOS_SYSCTL else None,
    )


@pytest.mark.parametrize(
    ("hwcap2", "cpuinfo", "expected", "how"),
    [
        (1 << 37, None, True, "getauxval"),
        (0, SME2_FEATURES, True, "/proc/cpuinfo"),
        (None, SME2_FEATURES, True, "/proc/cpuinfo"),
        ((1 << 37) - 1, NEON_FEATURES, False, "getauxval"),
        (None, None, False, "getauxval"),
    ],
)
def test_linux_aarch64_cpu(hwcap2: int | None, cpuinfo: str | None, expected: bool, how: str) -> None:
    has, source = sme2.cpu_sme2(fake_probe(hwcap2=hwcap2, cpuinfo=cpuinfo))
    assert has is expected
    assert how in source


def test_sme_without_sme2_in_cpuinfo_is_not_sme2() -> None:
    assert not sme2.cpuinfo_has_sme2(NEON_FEATURES)
    assert not sme2.cpuinfo_has_sme2("flags\t: sme2\n")  # x86-style key is not Features


def test_x86_linux_never_reads_auxv() -> None:
    def refuse() -> int:
        raise AssertionError("getauxval must not be read on x86_64")

    probe = sme2.CpuProbe(system="Linux", machine="x86_64", hwcap2=refuse)
    assert sme2.cpu_sme2(probe) == (False, "Linux x86_64 CPU")


@pytest.mark.parametrize(("value", "expected"), [("1\n", True), ("0\n", False), (None, False)])
def test_macos_sysctl(value: str | None, expected: bool) -> None:
    has, source = sme2.cpu_sme2(fake_probe(system="Darwin", machine="arm64", sysctl=value))
    assert has is expected
    assert sme2.MACOS_SYSCTL in source


def test_symbol_list_detection() -> None:
    assert sme2.symbols_have_sme2_kernels(
        ["xnn_f32_gemm", "kai_run_matmul_clamp_f32_f32p2vlx1_f32p2vlx1biasf32_sme2_mopa"]
    )
    assert not sme2.symbols_have_sme2_kernels(["xnn_pf32_gemm__neonsme2", "kai_neon_dotprod"])


def test_library_symbol_table(tmp_path: Path) -> None:
    with_kernels = fake_elf(tmp_path / "with.so", ["main", "kai_matmul_x_sme2_mopa"])
    without = fake_elf(tmp_path / "without.so", ["main", "xnn_f32_gemm_ukernel__neon"])
    assert sme2.library_has_sme2_kernels(with_kernels)
    assert not sme2.library_has_sme2_kernels(without)


@pytest.mark.parametrize("name", ["_kai_run_matmul_clamp_f32_f32p2vlx1_f32p2vlx1biasf32_sme2_mopa",
                                  "kai_run_matmul_clamp_f32_f32p2vlx1_f32p2vlx1biasf32_sme2_mopa"])
def test_macho_underscore_is_accepted(name: str) -> None:
    assert sme2.symbols_have_sme2_kernels([name])
    assert sme2.sme2_kernel_names(["_xnn_pack_kai_f32_weights_and_biases_sme2", name, "__kai_x_sme2"]) == [name]


def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any subprocess (nm, otool, ...) fails the test: symbols are read in Python."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a process was started: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_macho_library_without_nm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_processes(monkeypatch)
    with_kernels = fake_macho(tmp_path / "with.dylib", ["_kai_run_matmul_x_sme2_mopa", "_helper"])
    data_only = fake_macho(tmp_path / "data.dylib", ["_helper"], data=["_kai_table_sme2"])
    assert sme2.library_has_sme2_kernels(with_kernels)
    assert not sme2.library_has_sme2_kernels(data_only)  # a data symbol is not a kernel


def test_unreadable_library_has_no_kernels(tmp_path: Path) -> None:
    text = tmp_path / "notes.so"
    text.write_text("kai_run_x_sme2\n")
    assert not sme2.library_has_sme2_kernels(text)


def test_macos_wheel_dylib_without_nm(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real macOS arm64 wheel (downloaded, not installed): its local _kai_*sme2* functions."""
    dylib = litert_wheel(MACOS_ARM64) / "ai_edge_litert" / "libpywrap_litert_common.dylib"
    _no_processes(monkeypatch)
    assert sme2.library_has_sme2_kernels(dylib)


def test_available_needs_both_halves(tmp_path: Path) -> None:
    library = fake_elf(tmp_path / "lib.so", ["kai_matmul_x_sme2_mopa"])
    status = sme2.host_status(fake_probe(hwcap2=1 << 37), library)
    assert status.available and status.reason == ""
    assert "available" in status.describe()


def test_reason_names_cpu_library_and_flag(tmp_path: Path) -> None:
    library = fake_elf(tmp_path / "lib.so", ["xnn_f32_gemm_ukernel__neon"])
    status = sme2.host_status(fake_probe(machine="x86_64"), library)
    assert not status.available
    assert not status.cpu_has_sme2 and not status.litert_has_sme2_kernels
    assert "CPU does not report SME2" in status.reason
    assert "kai_*sme2*" in status.reason
    assert sme2.EMULATE_FLAG in status.reason


def test_status_from_guest_facts(tmp_path: Path) -> None:
    library = fake_elf(tmp_path / "lib.so", ["kai_matmul_x_sme2_mopa"])
    facts = {"machine": "aarch64", "hwcap2": 0, "cpuinfo_features": ["fp", "sme2"]}
    assert sme2.status_from_facts("qemu-sme2", facts, library).available
    off = {"machine": "aarch64", "hwcap2": 0, "cpuinfo_features": ["fp", "sve2"]}
    status = sme2.status_from_facts("qemu-nosme", off, library, hint="use -cpu max")
    assert not status.available and status.reason.endswith("use -cpu max")

"""SME2 detection from faked auxv, /proc/cpuinfo, sysctl and symbol-table inputs."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

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


def fake_elf(path: Path, names: list[str]) -> Path:
    """A minimal 64-bit little-endian ELF holding only a .symtab of FUNC symbols."""
    strtab = b"\0" + b"".join(name.encode() + b"\0" for name in names)
    symbols = [struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0)]
    offset = 1
    for index, name in enumerate(names):
        symbols.append(struct.pack("<IBBHQQ", offset, 0x12, 0, 1, 0x1000 + 0x100 * index, 0x80))
        offset += len(name) + 1
    symtab = b"".join(symbols)
    header_size, section_size = 64, 64
    symtab_at = header_size
    strtab_at = symtab_at + len(symtab)
    sections_at = strtab_at + len(strtab)
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 3, 183, 1, 0, 0, sections_at, 0, 64, 0, 0, section_size, 3, 0)
    null = b"\0" * section_size
    sym = struct.pack("<IIQQQQIIQQ", 0, 2, 0, 0, symtab_at, len(symtab), 2, 1, 8, 24)
    strs = struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, strtab_at, len(strtab), 0, 0, 1, 0)
    path.write_bytes(header + symtab + strtab + null + sym + strs)
    return path


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

"""Mapping a QEMU translation log to function names, on a synthetic log and symbol table."""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from library_files import EM_X86_64, LINUX_AARCH64, MACOS_ARM64, fake_elf, fake_macho, litert_wheel

from pytest_litert.run.qemu import kernels
from pytest_litert.run.qemu.kernels import Symbol, SymbolTable

LIBRARY = "/fake/site/ai_edge_litert/libpywrap_litert_common.so"
BASE = 0x7F00_0000_0000

FAKE_SYMBOLS = [
    Symbol("_ZN6tflite3ops7builtin15fully_connected4EvalEP13TfLiteContextP10TfLiteNode", 0x1000, 0x100),
    Symbol("kai_run_matmul_clamp_f32_f32p2vlx1_f32p2vlx1biasf32_sme2_mopa", 0x2000, 0x200),
    Symbol("kai_get_mr_matmul_clamp_f32_f32p2vlx1_f32p2vlx1biasf32_sme2_mopa", 0x2200, 0x20),
    Symbol("xnn_pf32_gemm_minmax_ukernel_32x32__neonsme2", 0x3000, 0x100),
    Symbol("xnn_pf32_gemm_minmax_ukernel_32x32__neonsme2_get_mr", 0x3100, 0x10),
    Symbol("xnn_f32_gemm_minmax_ukernel_7x8__asm_aarch64_neonfma_ld128_2", 0x4000, 0x100),
    Symbol("_ZN6tflite13reference_ops15FullyConnectedERKNS_20FullyConnectedParamsE", 0x5000, 0x80),
    Symbol("no_size_label", 0x6000, 0),
    Symbol("after_label", 0x6100, 0x10),
]


def fake_table(path: str) -> SymbolTable:
    assert path == LIBRARY
    return SymbolTable.from_symbols(FAKE_SYMBOLS)


def in_asm_block(address: int, name: str = "") -> str:
    """One block as `qemu -d in_asm` writes it."""
    return (
        "----------------\n"
        f"IN: {name}\n"
        f"0x{address:016x}:  d503245f  bti      c\n"
        f"0x{address + 4:016x}:  a9bf7bfd  stp      x29, x30, [sp, #-0x10]!\n\n"
    )


FAKE_LOG = "".join(
    [
        in_asm_block(0x5555_0000_1000, "main"),  # the Python binary: outside the library
        in_asm_block(BASE + 0x1000 + 0x40),  # fully_connected Eval
        in_asm_block(BASE + 0x2000),  # the SME2 KleidiAI kernel
        in_asm_block(BASE + 0x2000 + 0x1F0),
        in_asm_block(BASE + 0x2200),  # its size query
        in_asm_block(BASE + 0x3100),  # XNNPACK's size query
        in_asm_block(BASE + 0x6080),  # inside a zero-sized symbol, up to the next one
        in_asm_block(BASE + 0x9000),  # inside the library's range, no symbol
    ]
).encode()


def test_block_addresses_of_in_asm_and_exec_logs() -> None:
    exec_log = b"Trace 0: 0x7f69b6600100 [80081009331/00007f69c00dae40/00000001/00000200] \n"
    assert kernels.block_addresses(exec_log) == {0x7F69B6600100}
    addresses = kernels.block_addresses(FAKE_LOG)
    assert BASE + 0x2000 in addresses and BASE + 0x2004 not in addresses  # block starts only


def test_symbol_lookup_bounds() -> None:
    table = SymbolTable.from_symbols(FAKE_SYMBOLS)
    assert table.lookup(0x2000) == FAKE_SYMBOLS[1].name
    assert table.lookup(0x21FF) == FAKE_SYMBOLS[1].name
    assert table.lookup(0x0FFF) is None
    assert table.lookup(0x6080) == "no_size_label"
    assert table.lookup(0x9000) is None


def test_executed_functions_from_log() -> None:
    executed = kernels.executed_functions(FAKE_LOG, {LIBRARY: BASE}, tables=fake_table)
    assert executed == {
        FAKE_SYMBOLS[0].name,
        FAKE_SYMBOLS[1].name,
        FAKE_SYMBOLS[2].name,
        FAKE_SYMBOLS[4].name,
        "no_size_label",
    }


def test_library_not_loaded_means_nothing_executed() -> None:
    assert kernels.executed_functions(FAKE_LOG, {}, tables=fake_table) == frozenset()


@pytest.mark.parametrize(
    ("name", "family", "sme2"),
    [
        ("kai_run_matmul_clamp_f32_f32p2vlx1_f32p2vlx1biasf32_sme2_mopa", "kleidiai-sme2", True),
        ("kai_get_mr_matmul_clamp_f32_f32p2vlx1_f32p2vlx1biasf32_sme2_mopa", "kleidiai-sme2", False),
        ("kai_run_lhs_quant_pack_qai8dxp_f32", "kleidiai", False),
        ("xnn_pf32_gemm_minmax_ukernel_32x32__neonsme2", "xnnpack-sme2", True),
        ("xnn_pf32_gemm_minmax_ukernel_32x32__neonsme2_get_mr", "xnnpack-sme2", False),
        ("xnn_f32_gemm_minmax_ukernel_7x8__asm_aarch64_neonfma_ld128_2", "xnnpack-neon", False),
        ("_ZN6tflite13reference_ops15FullyConnectedERKNS_20FullyConnectedParamsE", "reference", False),
        ("_ZN6tflite3ops7builtin15fully_connected4EvalEP13TfLiteContextP10TfLiteNode", None, False),
    ],
)
def test_classify(name: str, family: str | None, sme2: bool) -> None:
    assert kernels.classify(name) == family
    assert kernels.is_sme2_kernel(name) is sme2


def test_kernel_lists_and_families() -> None:
    names = [symbol.name for symbol in FAKE_SYMBOLS]
    assert kernels.sme2_kernels_of(names) == sorted([FAKE_SYMBOLS[1].name, FAKE_SYMBOLS[3].name])
    families = kernels.by_family(names)
    assert list(families) == ["kleidiai-sme2", "xnnpack-sme2", "xnnpack-neon", "reference"]
    assert "no_size_label" not in kernels.kernels_of(names)


def test_large_log_parses_fast() -> None:
    """A worker start logs ~20 MB; mapping it must not dominate a test run."""
    blocks = [in_asm_block(BASE + 0x2000 + (i % 0x200) * 4) for i in range(100_000)]
    log = "".join(blocks).encode()
    started = time.perf_counter()
    executed = kernels.executed_functions(log, {LIBRARY: BASE}, tables=fake_table)
    elapsed = time.perf_counter() - started
    assert FAKE_SYMBOLS[1].name in executed
    assert elapsed < 2.0, f"{len(log) / 1e6:.0f} MB log took {elapsed:.2f} s"


def test_symbol_table_of_an_elf_file(tmp_path: Path) -> None:
    path = fake_elf(tmp_path / "lib.so", ["main", "kai_run_x_sme2_mopa"], machine=EM_X86_64)
    table = kernels.symbol_table(path)
    assert table.lookup(0x1100 + 0x7F) == "kai_run_x_sme2_mopa"
    assert table.lookup(0x1100 + 0x80) is None  # past its size


def test_symbol_table_of_a_macho_file(tmp_path: Path) -> None:
    """Mach-O symbols have no size: each reaches to the next; names keep their underscore."""
    path = fake_macho(tmp_path / "lib.dylib", ["_kai_run_x_sme2_mopa", "_helper"], data=["_table"])
    table = SymbolTable.from_library(path)
    assert len(table) == 2
    assert table.lookup(0x1000 + 0xFF) == "_kai_run_x_sme2_mopa"
    assert table.lookup(0x1100) == "_helper"


def test_not_a_library(tmp_path: Path) -> None:
    path = tmp_path / "lib.so"
    path.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(kernels.SymbolTableError, match="neither ELF nor Mach-O"):
        kernels.read_function_symbols(path)


@pytest.mark.parametrize("make", [fake_elf, fake_macho])
def test_damaged_library(tmp_path: Path, make: Callable[[Path, list[str]], Path]) -> None:
    """A truncated file is an error the callers handle, not a crash from inside the readers."""
    path = make(tmp_path / "lib", ["kai_run_x_sme2_mopa"])
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(kernels.SymbolTableError):
        kernels.read_function_symbols(path)


@pytest.mark.parametrize(("platforms", "name", "count"), [
    (LINUX_AARCH64, "libpywrap_litert_common.so", 51),
    (MACOS_ARM64, "libpywrap_litert_common.dylib", 88),
])
def test_real_wheel_symbol_tables(platforms: tuple[str, ...], name: str, count: int) -> None:
    """The aarch64 and macOS arm64 wheels (2.3.0: 51 and 88 kai_*sme2* functions): every kernel
    found by address, and the table read fast enough for a pytest header."""
    path = litert_wheel(platforms) / "ai_edge_litert" / name
    started = time.perf_counter()
    symbols = kernels.read_function_symbols(path)
    elapsed = time.perf_counter() - started
    table = SymbolTable.from_symbols(symbols)
    sme2 = [s for s in symbols if s.name.lstrip("_").startswith("kai_") and "sme2" in s.name]
    assert sme2, f"no kai_*sme2* function in {path}"
    if metadata.version("ai-edge-litert") == "2.3.0":
        assert len(sme2) == count
    assert all(table.lookup(s.value) is not None for s in sme2)
    assert elapsed < 5.0, f"{len(symbols)} symbols took {elapsed:.2f} s"

"""Which LiteRT / KleidiAI / XNNPACK functions ran: QEMU's log mapped to the library's symbol table.

QEMU user mode writes every translated block (`-d in_asm`) or every executed block
(`-d exec`) with its guest address. The worker reports where each LiteRT library is
loaded (runtime.loaded_litert_libraries); address minus load base is an offset into
the library, and the library's `.symtab` (not exported, but not stripped) names the
function. A `kai_*sme2*` name among them is the proof that an SME2 kernel ran.

No TensorFlow, no LiteRT, no numpy, so it works on any host; the symbol table is read by
run/library.py (pyelftools, macholib: pure Python, imported only when a table is read).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from pytest_litert.run.library import LibraryFormatError, Symbol, function_symbols

# A block start in `-d in_asm` ("IN: [name]" then "0xADDR:  insn") or in `-d exec`
# ("Trace N: 0xADDR [...]"). One regex over bytes keeps a 20 MB log under a second.
_BLOCK_PC = re.compile(rb"(?:IN:[^\n]*\n|Trace \d+: )0x([0-9a-fA-F]+)")

_SIZE_QUERY = re.compile(r"_get_[a-z]+$")

KERNEL_CLASSES = (
    "kleidiai-sme2",
    "kleidiai",
    "xnnpack-sme2",
    "xnnpack-sme",
    "xnnpack-neon",
    "xnnpack",
    "reference",
    "optimized",
)


SymbolTableError = LibraryFormatError  # the file is neither ELF nor Mach-O


@dataclasses.dataclass(frozen=True)
class SymbolTable:
    """Function symbols sorted by address, for offset -> name lookups."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    names: tuple[str, ...]

    @classmethod
    def from_symbols(cls, symbols: Iterable[Symbol]) -> SymbolTable:
        """Zero-sized symbols reach to the next symbol, so no address falls in a gap."""
        ordered = sorted({(s.value, s.size, s.name) for s in symbols if s.value})
        starts = tuple(value for value, _, _ in ordered)
        ends = []
        for index, (value, size, _) in enumerate(ordered):
            following = starts[index + 1] if index + 1 < len(starts) else value + 1
            ends.append(value + size if size else max(following, value + 1))
        return cls(starts, tuple(ends), tuple(name for _, _, name in ordered))

    @classmethod
    def from_library(cls, path: str | Path) -> SymbolTable:
        return cls.from_symbols(read_function_symbols(Path(path)))

    def lookup(self, offset: int) -> str | None:
        """The function containing `offset` (relative to the load base), if any."""
        index = bisect.bisect_right(self.starts, offset) - 1
        if index < 0 or offset >= self.ends[index]:
            return None
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)


def read_function_symbols(path: Path) -> list[Symbol]:
    """The defined function symbols of the full symbol table, locals included ([] if stripped)."""
    return function_symbols(path)


@functools.lru_cache(maxsize=8)
def _cached_table(path: str, mtime_ns: int) -> SymbolTable:
    del mtime_ns  # part of the cache key only: a reinstalled wheel is read again
    return SymbolTable.from_library(path)


def symbol_table(path: str | Path) -> SymbolTable:
    """The library's function table, parsed once per file version (87k entries: ~0.1 s)."""
    return _cached_table(str(path), os.stat(path).st_mtime_ns)


def block_addresses(log: bytes) -> set[int]:
    """Distinct guest block start addresses in a QEMU `in_asm` or `exec` log."""
    return {int(match, 16) for match in _BLOCK_PC.findall(log)}


def executed_functions(
    log: bytes,
    libraries: Mapping[str, int],
    tables: Callable[[str], SymbolTable] = symbol_table,
) -> frozenset[str]:
    """Names of library functions whose code appears in `log`.

    `libraries` maps a library path (as the guest's /proc/self/maps shows it, which under
    QEMU user mode is the host path) to its load base.
    """
    addresses = sorted(block_addresses(log))
    names: set[str] = set()
    for path, base in libraries.items():
        table = tables(path)
        if not table.starts:
            continue
        low, high = base + table.starts[0], base + table.ends[-1]
        first = bisect.bisect_left(addresses, low)
        for address in addresses[first : bisect.bisect_left(addresses, high)]:
            name = table.lookup(address - base)
            if name is not None:
                names.add(name)
    return frozenset(names)


def classify(name: str) -> str | None:
    """The kernel family of a function name, or None for glue code (interpreter, Python)."""
    lowered = name.lower()
    if lowered.startswith("kai_"):
        return "kleidiai-sme2" if "sme2" in lowered else "kleidiai"
    if lowered.startswith("xnn_") and "ukernel" in lowered:
        if "sme2" in lowered:
            return "xnnpack-sme2"
        if "sme" in lowered:
            return "xnnpack-sme"
        return "xnnpack-neon" if "neon" in lowered else "xnnpack"
    if "reference_ops" in name or "reference_integer_ops" in name:
        return "reference"
    if "optimized_ops" in name or "optimized_integer_ops" in name or "Neon" in name:
        return "optimized"
    return None


def is_sme2_kernel(name: str) -> bool:
    """An SME2 compute kernel: KleidiAI's `kai_*sme2*` or an XNNPACK `*sme2*` micro-kernel,
    not their size queries (`kai_get_*`, `*_get_mr`), which run while planning."""
    if classify(name) not in ("kleidiai-sme2", "xnnpack-sme2"):
        return False
    return not name.startswith("kai_get_") and not _SIZE_QUERY.search(name)


def kernels_of(functions: Iterable[str]) -> list[str]:
    """The compute kernels among executed functions, sorted."""
    return sorted(name for name in functions if classify(name) is not None)


def sme2_kernels_of(functions: Iterable[str]) -> list[str]:
    return sorted(name for name in functions if is_sme2_kernel(name))


def by_family(functions: Iterable[str]) -> dict[str, list[str]]:
    """Kernels grouped by `classify` family, families in KERNEL_CLASSES order."""
    groups: dict[str, list[str]] = {}
    for name in sorted(functions):
        family = classify(name)
        if family is not None:
            groups.setdefault(family, []).append(name)
    return {family: groups[family] for family in KERNEL_CLASSES if family in groups}

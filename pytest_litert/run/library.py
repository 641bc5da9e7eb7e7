"""A LiteRT build's shared libraries read in Python: function symbols and exports, ELF and Mach-O.

The aarch64 wheels' `libpywrap_litert_common.so` keeps its `.symtab` (the KleidiAI
`kai_*sme2*` kernels are local symbols there); the macOS arm64 wheel's `.dylib` keeps them
in its Mach-O symbol table with a leading underscore (`_kai_*sme2*`). `nm` is no answer:
GNU nm cannot read Mach-O, and a Mac has nm only with the Xcode command line tools.

Why pyelftools and macholib, not LIEF: both are pure Python (py3-none-any wheels), so the
runtime-only install and the emulated aarch64 guest, whose site-packages are installed
host-side with `pip install --target --platform manylinux_2_27_aarch64 --only-binary=:all:`,
get them like any other requirement. LIEF 1.0 reads both formats but ships compiled wheels,
and its aarch64 wheel is tagged manylinux_2_28, which that command refuses. Both are imported
here lazily, so the plugin's start-up never loads them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ELF = "ELF"
MACHO = "Mach-O"
SUFFIXES = (".so", ".dylib")

_ELF_MAGIC = b"\x7fELF"
_MACHO_MAGICS = {bytes.fromhex(m) for m in ("feedface", "cefaedfe", "feedfacf", "cffaedfe", "cafebabe")}
_STT_FUNC = 2
_STB_GLOBAL, _STB_WEAK = 1, 2
_STV_DEFAULT = 0
# Elf32_Sym and Elf64_Sym as (name, value, size, info, other, shndx) in struct order.
_ELF_SYM = {32: ("IIIBBH", (0, 1, 2, 3, 4, 5)), 64: ("IBBHQQ", (0, 4, 5, 1, 2, 3))}
_ELF_ARCH = {"EM_AARCH64": "aarch64", "EM_X86_64": "x86_64", "EM_ARM": "arm", "EM_386": "x86"}


class LibraryFormatError(RuntimeError):
    """The file is not an ELF or Mach-O library this module can read."""


@dataclasses.dataclass(frozen=True)
class Symbol:
    """A function symbol: its name as the file spells it, its offset from the load base and size
    (0 when the format does not say, as in Mach-O)."""

    name: str
    value: int
    size: int


@dataclasses.dataclass(frozen=True)
class LibraryInfo:
    """What a file is: its format and CPU architecture, for messages."""

    path: Path
    format: str
    arch: str

    def describe(self) -> str:
        return f"{self.format} {self.arch}"


def file_format(path: Path) -> str | None:
    """ELF, Mach-O, or None, from the magic number (fat Mach-O included)."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == _ELF_MAGIC:
        return ELF
    return MACHO if magic in _MACHO_MAGICS else None


def info(path: Path) -> LibraryInfo:
    """The file's format and architecture; raises LibraryFormatError for anything else."""
    kind = file_format(path)
    if kind == ELF:
        with _elf(path) as elf:
            machine = str(elf["e_machine"])
            return LibraryInfo(path, ELF, _ELF_ARCH.get(machine, machine.removeprefix("EM_").lower()))
    if kind == MACHO:
        from macholib.mach_o import CPU_TYPE_NAMES

        header = _macho_header(path)
        return LibraryInfo(path, MACHO, str(CPU_TYPE_NAMES.get(header.header.cputype, "unknown")).lower())
    raise LibraryFormatError(f"{path}: neither ELF nor Mach-O")


def function_symbols(path: Path) -> list[Symbol]:
    """Defined function symbols of the full symbol table (ELF `.symtab`, Mach-O LC_SYMTAB),
    locals included: that is where the KleidiAI kernels are. A stripped ELF gives []."""
    kind = file_format(path)
    if kind == ELF:
        return [Symbol(name, value, size) for name, value, size, info_, _, shndx in _elf_symbols(path, "SHT_SYMTAB")
                if info_ & 0xF == _STT_FUNC and shndx != 0]
    if kind == MACHO:
        return _macho_functions(path)
    raise LibraryFormatError(f"{path}: neither ELF nor Mach-O")


def exported_names(path: Path) -> frozenset[str]:
    """Names the library exports to the dynamic linker (what ctypes can call), without
    Mach-O's leading underscore so both formats give `LiteRtStartProfiler`."""
    kind = file_format(path)
    if kind == ELF:
        return frozenset(name for name, _, _, info_, other, shndx in _elf_symbols(path, "SHT_DYNSYM")
                         if info_ >> 4 in (_STB_GLOBAL, _STB_WEAK) and other & 3 == _STV_DEFAULT and shndx != 0)
    if kind == MACHO:
        _, table = _macho_symbols(path)
        return frozenset(_name(raw).removeprefix("_") for _, raw in getattr(table, "extdefsyms", []))
    raise LibraryFormatError(f"{path}: neither ELF nor Mach-O")


# --- ELF (pyelftools) ------------------------------------------------------------------


@contextlib.contextmanager
def _elf(path: Path) -> Iterator[Any]:
    """An ELFFile over the open file; pyelftools reads lazily, so a damaged table can fail
    while it is read: every pyelftools error becomes a LibraryFormatError."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as handle:
        try:
            yield ELFFile(handle)
        except (ELFError, ValueError, struct.error) as error:
            raise LibraryFormatError(f"{path}: {error}") from error


def _elf_symbols(path: Path, section_type: str) -> Iterator[tuple[str, int, int, int, int, int]]:
    """(name, value, size, info, other, shndx) of every entry of the sections of this type.

    pyelftools finds the tables, their string tables, the class and the byte order; the
    fixed-size entries are then decoded in bulk. Its own per-entry parse (construct) takes
    1.5 s for the 87k entries of the aarch64 wheel's .symtab on x86 and 15 s in the emulated
    guest, against 0.1 s and 0.2 s this way, and the check runs in every pytest header."""
    with _elf(path) as elf:
        layout, order = _ELF_SYM[elf.elfclass]
        entry = struct.Struct(("<" if elf.little_endian else ">") + layout)
        for section in elf.iter_sections(type=section_type):
            if section["sh_entsize"] != entry.size:
                raise LibraryFormatError(f"{path}: {section_type} entries of {section['sh_entsize']} bytes")
            strings = section.stringtable.data()
            data = section.data()
            for fields in entry.iter_unpack(data[: len(data) - len(data) % entry.size]):
                name_at, value, size, info_, other, shndx = (fields[i] for i in order)
                end = strings.find(b"\0", name_at)
                name = strings[name_at : end if end >= 0 else len(strings)].decode(errors="replace")
                yield name, value, size, info_, other, shndx


# --- Mach-O (macholib) -----------------------------------------------------------------


def _macho_header(path: Path) -> Any:
    """The arm64 slice of a (fat) Mach-O file, else its first one."""
    from macholib.mach_o import CPU_TYPE_NAMES
    from macholib.MachO import MachO

    try:
        headers = MachO(str(path), allow_unknown_load_commands=True).headers
    except (ValueError, KeyError, OSError, struct.error) as error:
        raise LibraryFormatError(f"{path}: unreadable Mach-O ({error})") from error
    if not headers:
        raise LibraryFormatError(f"{path}: a Mach-O file without a header")
    arm64 = [h for h in headers if CPU_TYPE_NAMES.get(h.header.cputype) == "ARM64"]
    return (arm64 or headers)[0]


def _macho_functions(path: Path) -> list[Symbol]:
    """Symbols defined in a section that holds instructions (not stabs, not data)."""
    from macholib.mach_o import (
        N_SECT,
        N_STAB,
        N_TYPE,
        S_ATTR_PURE_INSTRUCTIONS,
        S_ATTR_SOME_INSTRUCTIONS,
    )

    header, table = _macho_symbols(path)
    sections = [section for _, _, data in header.commands if isinstance(data, list) for section in data]
    code = {index + 1 for index, section in enumerate(sections)
            if getattr(section, "flags", 0) & (S_ATTR_PURE_INSTRUCTIONS | S_ATTR_SOME_INSTRUCTIONS)}
    return [Symbol(_name(raw), int(entry.n_value), 0) for entry, raw in getattr(table, "nlists", [])
            if not entry.n_type & N_STAB and entry.n_type & N_TYPE == N_SECT and entry.n_sect in code]


def _macho_symbols(path: Path) -> tuple[Any, Any]:
    """The header and macholib's SymbolTable (nlists; locals, exports, imports from LC_DYSYMTAB)."""
    from macholib.SymbolTable import SymbolTable

    header = _macho_header(path)
    try:
        return header, SymbolTable(header.parent, header)
    except (ValueError, IndexError, OSError, struct.error) as error:
        raise LibraryFormatError(f"{path}: unreadable Mach-O symbol table ({error})") from error


def _name(raw: bytes | str) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


# --- finding the libraries of a build --------------------------------------------------


def find(where: Path, stem: str) -> Path | None:
    """`stem.so` / `stem.dylib` given as the file itself, beside it, in a directory, an unpacked
    wheel (`ai_edge_litert/`) or anywhere below the directory."""
    folder = where.parent if where.is_file() else where
    if where.is_file() and where.name.startswith(f"{stem}."):
        return where
    for place in (folder, folder / "ai_edge_litert"):
        for suffix in SUFFIXES:
            if (place / f"{stem}{suffix}").is_file():
                return place / f"{stem}{suffix}"
    if where.is_dir():
        found = sorted(p for suffix in SUFFIXES for p in where.rglob(f"{stem}{suffix}") if p.is_file())
        return found[0] if found else None
    return None

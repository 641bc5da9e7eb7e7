"""Libraries for the symbol readers' tests: minimal fake ELF and Mach-O files, and the real
ai-edge-litert wheels of other platforms, downloaded once (not installed) and unpacked."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import pytest

EM_AARCH64, EM_X86_64 = 183, 62
MACOS_ARM64 = ("macosx_12_0_arm64",)  # the tag ai-edge-litert 2.3.0's macOS wheel carries
LINUX_AARCH64 = ("manylinux_2_27_aarch64", "manylinux2014_aarch64")
_KEPT = ("ai_edge_litert/libpywrap_litert_common.", "ai_edge_litert/libLiteRt.")


def fake_elf(path: Path, names: list[str], machine: int = EM_AARCH64) -> Path:
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
    header += struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, 0, sections_at, 0, 64, 0, 0, section_size, 3, 0)
    null = b"\0" * section_size
    sym = struct.pack("<IIQQQQIIQQ", 0, 2, 0, 0, symtab_at, len(symtab), 2, 1, 8, 24)
    strs = struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, strtab_at, len(strtab), 0, 0, 1, 0)
    path.write_bytes(header + symtab + strtab + null + sym + strs)
    return path


def fake_macho(path: Path, local: Sequence[str], exported: Sequence[str] = (), data: Sequence[str] = ()) -> Path:
    """A minimal arm64 Mach-O dylib: one __TEXT,__text section whose local (`local`) and exported
    (`exported`) symbols are functions, and `data` symbols in a non-code section. Names are
    written as given (a C name `f` is `_f` in Mach-O)."""
    code_at, code_size = 0x1000, 0x100 * (len(local) + len(exported) + len(data) + 1)
    entries = [(name, 0x0E, 1) for name in local] + [(name, 0x0E, 2) for name in data]
    entries += [(name, 0x0F, 1) for name in exported]  # N_SECT, | N_EXT for exports
    strtab = b"\0" + b"".join(name.encode() + b"\0" for name, _, _ in entries)
    nlists, offset = [], 1
    for index, (name, kind, section) in enumerate(entries):
        nlists.append(struct.pack("<IBBHQ", offset, kind, section, 0, code_at + 0x100 * index))
        offset += len(name) + 1
    symoff = code_at + code_size
    stroff = symoff + 16 * len(nlists)
    sections = b"".join(struct.pack("<16s16sQQIIIIIIII", name, b"__TEXT", code_at, code_size, code_at, 2, 0, 0,
                                    flags, 0, 0, 0) for name, flags in ((b"__text", 0x80000400), (b"__const", 0)))
    segment = struct.pack("<II16sQQQQiiII", 0x19, 72 + len(sections), b"__TEXT", 0, stroff + len(strtab), 0,
                          stroff + len(strtab), 5, 5, 2, 0) + sections
    symtab = struct.pack("<IIIIII", 0x2, 24, symoff, len(nlists), stroff, len(strtab))
    dysymtab = struct.pack("<II18I", 0xB, 80, 0, len(local) + len(data), len(local) + len(data), len(exported),
                           len(nlists), 0, *[0] * 12)
    commands = segment + symtab + dysymtab
    header = struct.pack("<IiiIIIII", 0xFEEDFACF, 0x0100000C, 0, 6, 3, len(commands), 0, 0)
    body = header + commands
    path.write_bytes(body + b"\0" * (code_at - len(body)) + b"\xc0\x03\x5f\xd6" * (code_size // 4)
                     + b"".join(nlists) + strtab)
    return path


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-litert" / "wheels"


def litert_wheel(platforms: tuple[str, ...], python: str = "3.11") -> Path:
    """The installed ai-edge-litert version's wheel for another platform, downloaded with pip
    (the index pip is configured with) and unpacked once: its two LiteRT libraries and its
    dist-info. Returns the unpacked directory (holding `ai_edge_litert/`)."""
    version = metadata.version("ai-edge-litert")
    target = cache_dir() / f"ai_edge_litert-{version}-{platforms[0]}"
    if (target / "ai_edge_litert").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as staging:
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                   "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
                   *(f"--platform={tag}" for tag in platforms), "--dest", staging, f"ai-edge-litert=={version}"]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
        wheels = sorted(Path(staging).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            pytest.fail(f"pip download of ai-edge-litert=={version} for {platforms} failed:\n{done.stderr[-2000:]}")
        unpacked = Path(staging) / "unpacked"
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(unpacked, [name for name in wheel.namelist() if name.startswith(_KEPT)
                                        or name.endswith(".dist-info/METADATA")])
        try:
            unpacked.rename(target)
        except OSError:  # another process got there first
            shutil.rmtree(unpacked, ignore_errors=True)
    return target

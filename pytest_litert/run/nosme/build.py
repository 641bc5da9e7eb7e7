"""Build the interposer (hide_sme.c) with this machine's own C compiler, once, and prove it works.

The library is cached under the plugin's cache directory, keyed by the source's hash and the
machine (the emulated guest shares the host's home directory), and written under a temporary
name then renamed, so two sessions building at once never load a half-written file. Every
session proves it before use: a child Python with the library preloaded must show it loaded
and see no SME bit in getauxval, because ld.so only warns, and goes on, when a preload fails.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from pytest_litert.run import sme2

SOURCE = Path(__file__).with_name("hide_sme.c")
LIBRARY_NAME = "libhide_sme.so"
COMPILERS = ("cc", "gcc", "clang")
AT_HWCAP, AT_HWCAP2 = 16, 26
# The bits hide_sme.c clears (it says which feature each is): tests and the probe check them.
HWCAP2_SME_BITS = (0xFF << 23) | (0x3F << 37) | (0x3F << 57)
HWCAP_SME_BITS = 0x3F << 42
_ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64"}
_PROBE = """
import ctypes, json, sys
libc = ctypes.CDLL(None)
libc.getauxval.argtypes = [ctypes.c_ulong]
libc.getauxval.restype = ctypes.c_ulong
with open("/proc/self/maps") as maps:
    loaded = any(line.rstrip().endswith(sys.argv[1]) for line in maps)
print(json.dumps({"hwcap": libc.getauxval(16), "hwcap2": libc.getauxval(26), "loaded": loaded}))
"""


class NosmeUnavailable(RuntimeError):
    """SME cannot be hidden here; the message names the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class Interposer:
    """A built, proven interposer: its path and what a preloaded process saw."""

    path: Path
    compiler: tuple[str, ...]  # empty when it came from the cache
    hwcap2_seen: int  # AT_HWCAP2 under the interposer
    hwcap2_real: int | None  # AT_HWCAP2 in this process (None off Linux)

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        return preloaded(self.path, base)


def preloaded(path: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with `path` preloaded first."""
    env = dict(os.environ if base is None else base)
    env["LD_PRELOAD"] = f"{path}:{env['LD_PRELOAD']}" if env.get("LD_PRELOAD") else str(path)
    return env


def cache_root() -> Path:
    """Beside the conversion cache: ~/.cache/pytest-litert/nosme (XDG_CACHE_HOME honoured)."""
    from pytest_litert.settings import default_cache_dir

    return default_cache_dir().parent / "nosme"


def library_path(directory: Path, machine: str) -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    return directory / f"{digest}-{_arch(machine)}" / LIBRARY_NAME


def install_hint(system: str = platform.system()) -> str:
    if system == "Darwin":
        return "install the Xcode command line tools (xcode-select --install)"
    return "install one (Debian, Ubuntu: sudo apt install gcc; Fedora: sudo dnf install gcc) or point $CC at one"


def find_compiler(machine: str | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """$CC if set, else the first of cc, gcc, clang that builds for this machine's CPU."""
    env = os.environ if env is None else env
    machine = _arch(machine or platform.machine())
    given = shlex.split(env.get("CC", ""))
    candidates = [given] if given else [[name] for name in COMPILERS]
    tried = []
    for command in candidates:
        if shutil.which(command[0]) is None:
            tried.append(f"{command[0]}: not found")
            continue
        triple = _target_triple(command)
        if triple is None:
            tried.append(f"{' '.join(command)}: -dumpmachine failed")
        elif _arch(triple.split("-")[0]) != machine:
            tried.append(f"{' '.join(command)}: builds for {triple}")
        else:
            return command
    where = "$CC" if given else ", ".join(COMPILERS)
    raise NosmeUnavailable(f"no C compiler for {machine} to build the SME-hiding interposer ({'; '.join(tried)}; "
                           f"tried {where}): {install_hint()}")


def _target_triple(command: Sequence[str]) -> str | None:
    try:
        done = subprocess.run([*command, "-dumpmachine"], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def _arch(name: str) -> str:
    return _ARCH_ALIASES.get(name.lower(), name.lower())


def compile_library(command: Sequence[str], destination: Path) -> None:
    """`cc -shared -fPIC -O2 -o TMP hide_sme.c -ldl`, then an atomic rename onto `destination`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=destination.parent)
    os.close(handle)
    argv = [*command, "-shared", "-fPIC", "-O2", "-o", temporary, str(SOURCE), "-ldl"]
    try:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise NosmeUnavailable(f"cannot run {command[0]} to build the interposer: {error}; "
                                   f"{install_hint()}") from None
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
            raise NosmeUnavailable(f"`{shlex.join(argv)}` failed (exit {done.returncode}): {tail}; fix the compiler "
                                   f"(is libc6-dev installed?) or point $CC at another one")
        os.replace(temporary, destination)
    finally:
        Path(temporary).unlink(missing_ok=True)


def probe(path: Path, prefix: Sequence[str] = (), python: str = sys.executable,
          env: Mapping[str, str] | None = None) -> dict[str, int | bool]:
    """What a child `python` (default: this one) with `path` preloaded sees: {"hwcap", "hwcap2",
    "loaded"}. `prefix` starts this machine's programs (the emulated guest's QEMU, run/targets.py)."""
    try:
        done = subprocess.run([*prefix, python, "-c", _PROBE, str(path)], capture_output=True, text=True,
                              env=preloaded(path, env), timeout=300, check=False)
        seen: dict[str, int | bool] = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as error:
        raise NosmeUnavailable(f"the interposer probe did not run ({error}); delete {path.parent} and retry") from None
    if not seen.get("loaded"):
        why = " | ".join(done.stderr.strip().splitlines()[-2:])
        raise NosmeUnavailable(f"ld.so did not preload {path} ({why or 'no message'}); delete {path.parent} and retry")
    if not int(seen["hwcap"]):  # the real getauxval not found: every feature would be hidden, not only SME
        raise NosmeUnavailable(f"{path} is preloaded but getauxval(AT_HWCAP) reads 0: report this")
    if int(seen["hwcap2"]) & HWCAP2_SME_BITS or int(seen["hwcap"]) & HWCAP_SME_BITS:
        raise NosmeUnavailable(f"{path} is preloaded but getauxval still reports SME ({int(seen['hwcap2']):#x}): "
                               "report this")
    return seen


def interposer(directory: Path | None = None, compiler: Sequence[str] | None = None,
               prefix: Sequence[str] = ()) -> Interposer:
    """The cached interposer for this machine, built first if missing, always proven by a probe."""
    machine = platform.machine()
    path = library_path(directory or cache_root(), machine)
    command: tuple[str, ...] = ()
    if not path.is_file():
        command = tuple(compiler or find_compiler(machine))
        compile_library(command, path)
    seen = probe(path, prefix)
    return Interposer(path, command, int(seen["hwcap2"]), sme2.read_hwcap2() if platform.system() == "Linux" else None)

"""Prepare the emulated SME2 target: QEMU user mode, an arm64 rootfs, the aarch64 wheels.

`pytest-litert emulator setup` builds, in a cache directory:

    qemu/qemu-aarch64      static QEMU user mode >= 10.1 (Debian trixie-backports qemu-user;
                           Debian 12's own 7.2 lacks SME2 and crashes LiteRT)
    rootfs/                Debian 13 arm64 with python3.13, and gcc for host-nosme's
                           interposer (mmdebstrap --variant=extract: no emulation needed)
    rootfs/opt/site/       pytest-litert's runtime-only requirements for aarch64 (ai-edge-litert
                           at the host's version, numpy, pytest, hypothesis)
    compiler/cc            the guest's C compiler: the rootfs's gcc under QEMU (compiler.py)
    verified               a marker: the guest Python imported LiteRT once

Each step is skipped when its output exists, and each writes to a temporary name first
and renames, so an interrupted run never leaves a half-made step that looks finished.
The Debian mirror is read at run time from this machine's APT configuration (or
--mirror / $PYTEST_LITERT_DEBIAN_MIRROR); none is named in the repository.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pytest_litert.run.qemu.compiler import compiler_step
from pytest_litert.run.qemu.debian import (
    MIRROR_ENV,
    EmulatorSetupError,
    PrivateApt,
    Progress,
    debian_mirror,
    parse_madison,
    run_tool,
    upstream_version,
)
from pytest_litert.toolchain import runtime_requirements

__all__ = [
    "CACHE_ENV", "GUEST_PYTHON_VERSION", "MIN_QEMU", "MIRROR_ENV", "ROOTFS_PACKAGES", "SETUP_HINT",
    "EmulatorPaths", "EmulatorSetupError", "Progress", "debian_mirror", "default_cache_dir", "find", "parse_madison",
    "qemu_version", "setup", "upstream_version",
]

MIN_QEMU = (10, 1)
QEMU_SUITES = ("trixie-backports", "trixie", "sid")
# Debian 13 (trixie): Python 3.13, the Python macOS and Arm Linux users get by default (bookworm has 3.11).
ROOTFS_SUITE = "trixie"
GUEST_PYTHON_VERSION = "3.13"
# gcc and libc6-dev: the machine's own C compiler, as on an Arm board (measured: +186 MB; mmdebstrap +3-9 s)
ROOTFS_PACKAGES = (f"python{GUEST_PYTHON_VERSION}", "libstdc++6", "gcc", "libc6-dev")
GUEST_PYTHON = f"usr/bin/python{GUEST_PYTHON_VERSION}"
WHEEL_PLATFORM = "manylinux_2_27_aarch64"
CACHE_ENV = "PYTEST_LITERT_EMULATOR_DIR"
_LIBRARY = "ai_edge_litert/libpywrap_litert_common.so"
SETUP_HINT = "run `pytest-litert emulator setup` first"


@dataclasses.dataclass(frozen=True)
class EmulatorPaths:
    """Everything a QEMU target needs; all host paths."""

    cache_dir: Path
    qemu: Path
    rootfs: Path
    site: Path

    @property
    def python(self) -> Path:
        """The guest's Python, as a host path (QEMU user mode runs it directly)."""
        return self.rootfs / GUEST_PYTHON

    @property
    def compiler(self) -> Path:
        """The guest's `cc` (a host script running the rootfs's gcc under QEMU: compiler.py)."""
        return self.cache_dir / "compiler" / "cc"

    @property
    def library(self) -> Path:
        """The aarch64 LiteRT library whose symbol table names the kernels."""
        return self.site / _LIBRARY

    @classmethod
    def under(cls, cache_dir: Path) -> EmulatorPaths:
        rootfs = cache_dir / "rootfs"
        return cls(cache_dir, cache_dir / "qemu" / "qemu-aarch64", rootfs, rootfs / "opt" / "site")


def default_cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-litert" / "emulator"


def find(cache_dir: Path | None = None) -> EmulatorPaths | None:
    """The prepared emulator, or None: file checks only, no network, no process."""
    paths = EmulatorPaths.under(cache_dir or default_cache_dir())
    ready = (
        paths.qemu.is_file()
        and paths.python.exists()
        and paths.library.is_file()
        and (paths.cache_dir / "verified").is_file()
    )
    return paths if ready else None


def setup(cache_dir: Path | None = None, progress: Progress = print, *, mirror: str | None = None) -> EmulatorPaths:
    """Run every missing step; raises EmulatorSetupError naming the step that failed."""
    paths = EmulatorPaths.under(cache_dir or default_cache_dir())
    paths.cache_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _qemu_step(paths, progress, mirror)
    _rootfs_step(paths, progress, mirror)
    _site_step(paths, progress)
    compiler_step(paths.qemu, paths.rootfs, paths.compiler, progress)
    _verify_step(paths, progress)
    progress(f"emulator ready in {paths.cache_dir} ({time.monotonic() - started:.1f} s)")
    return paths


# --- step a: QEMU ----------------------------------------------------------------------


def qemu_version(binary: Path) -> tuple[int, int]:
    """(major, minor) from `qemu-aarch64 --version`."""
    output = run_tool("qemu", [str(binary), "--version"], "reinstall with: pytest-litert emulator setup")
    match = re.search(r"version (\d+)\.(\d+)", output)
    if not match:
        raise EmulatorSetupError("qemu", f"cannot read a version from {output[:80]!r}", "rerun setup")
    return int(match.group(1)), int(match.group(2))


def _qemu_step(paths: EmulatorPaths, progress: Progress, mirror: str | None) -> None:
    if paths.qemu.is_file() and qemu_version(paths.qemu) >= MIN_QEMU:
        progress(f"qemu: {paths.qemu} (cached)")
        return
    apt = PrivateApt(paths.cache_dir / "apt", debian_mirror(mirror))
    try:
        suite, version = _find_qemu_package(apt, progress)
        progress(f"qemu: downloading qemu-user {version} from {suite}")
        deb = apt.download(f"qemu-user={version}")
        progress("qemu: extracting qemu-aarch64 (dpkg-deb -x)")
        _extract_qemu(deb, paths.qemu)
    finally:
        shutil.rmtree(apt.root, ignore_errors=True)
    found = qemu_version(paths.qemu)
    if found < MIN_QEMU:
        paths.qemu.unlink()
        raise EmulatorSetupError("qemu", f"got QEMU {found}, need >= {MIN_QEMU}", "check the mirror")
    progress(f"qemu: QEMU {found[0]}.{found[1]} at {paths.qemu}")


def _find_qemu_package(apt: PrivateApt, progress: Progress) -> tuple[str, str]:
    """The first suite, in QEMU_SUITES order, whose qemu-user is >= MIN_QEMU."""
    seen: list[str] = []
    for suite in QEMU_SUITES:
        progress(f"qemu: apt-get update for {suite} (private APT config)")
        try:
            apt.update(suite)
        except EmulatorSetupError as error:
            seen.append(f"{suite}: {error.problem}")
            continue
        versions = apt.offers(suite)
        for version in versions:
            if upstream_version(version) >= MIN_QEMU:
                return suite, version
        seen.append(f"{suite}: qemu-user {', '.join(versions) or 'absent'}")
    raise EmulatorSetupError(
        "qemu",
        f"no qemu-user >= {MIN_QEMU[0]}.{MIN_QEMU[1]} found: " + "; ".join(seen),
        "pass --mirror with a Debian mirror that carries trixie-backports or sid",
    )


def _extract_qemu(deb: Path, destination: Path) -> None:
    """dpkg-deb -x, keep only the static aarch64 binary (the package holds ~460 MB)."""
    with tempfile.TemporaryDirectory(dir=deb.parent) as tree:
        run_tool("qemu", ["dpkg-deb", "-x", str(deb), tree], "is dpkg-deb installed?")
        for name in ("qemu-aarch64-static", "qemu-aarch64"):
            binary = Path(tree) / "usr" / "bin" / name
            if binary.is_file():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(binary), str(destination.with_suffix(".tmp")))
                destination.with_suffix(".tmp").rename(destination)
                return
    raise EmulatorSetupError("qemu", f"no qemu-aarch64 binary in {deb.name}", "report this")


# --- step b: rootfs --------------------------------------------------------------------


def _rootfs_step(paths: EmulatorPaths, progress: Progress, mirror: str | None) -> None:
    """Build the rootfs, or rebuild it when the suite or ROOTFS_PACKAGES changed (keeping the
    wheels in opt/site: the site step reinstalls them if the Python changed); the new tree
    replaces the old by two renames, so a guest never sees none."""
    marker = paths.cache_dir / "rootfs.packages"
    include = ",".join(ROOTFS_PACKAGES)
    if paths.python.exists() and marker.is_file() and marker.read_text().strip() == f"{ROOTFS_SUITE}:{include}":
        progress(f"rootfs: {paths.rootfs} (cached)")
        return
    tool = _ensure_mmdebstrap(progress)
    staging = paths.cache_dir / "rootfs.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"rootfs: mmdebstrap {ROOTFS_SUITE} arm64 ({', '.join(ROOTFS_PACKAGES)})")
    command = [tool, "--variant=extract", "--arch=arm64", f"--include={include}", ROOTFS_SUITE,
               str(staging), debian_mirror(mirror)]  # fmt: skip
    run_tool(
        "rootfs",
        command,
        "see mmdebstrap's message above; as non-root it needs user "
        "namespaces (sysctl kernel.unprivileged_userns_clone=1) or run setup as root",
    )
    _merge_usr(staging)
    if paths.python.exists() and paths.site.is_dir():  # only the Debian packages changed
        (staging / "opt").mkdir(exist_ok=True)
        paths.site.rename(staging / "opt" / "site")
        (paths.cache_dir / "verified").unlink(missing_ok=True)
    old = paths.cache_dir / "rootfs.old"
    shutil.rmtree(old, ignore_errors=True)
    if paths.rootfs.exists():
        paths.rootfs.rename(old)
    staging.rename(paths.rootfs)
    shutil.rmtree(old, ignore_errors=True)
    marker.write_text(f"{ROOTFS_SUITE}:{include}\n")
    progress(f"rootfs: {paths.rootfs}")


def _merge_usr(rootfs: Path) -> None:
    """trixie's packages ship /lib, /bin ... under /usr only; the extract variant runs no
    maintainer script, so the merged-/usr links (/lib -> usr/lib, where the guest's ELF
    interpreter /lib/ld-linux-aarch64.so.1 is looked up) are made here."""
    for name in ("bin", "sbin", "lib", "lib64"):
        link = rootfs / name
        if not link.exists() and not link.is_symlink() and (rootfs / "usr" / name).is_dir():
            link.symlink_to(f"usr/{name}")


def _ensure_mmdebstrap(progress: Progress) -> str:
    tool = shutil.which("mmdebstrap")
    if tool:
        return tool
    if os.geteuid() != 0:
        raise EmulatorSetupError(
            "rootfs", "mmdebstrap is not installed", "sudo apt-get install mmdebstrap, then rerun setup"
        )
    progress("rootfs: installing mmdebstrap with apt-get (once, system-wide)")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run_tool("rootfs", ["apt-get", "update", "-q"], "apt-get update by hand", env=environment)
    run_tool(
        "rootfs",
        ["apt-get", "install", "-y", "-q", "mmdebstrap"],
        "apt-get install mmdebstrap by hand",
        env=environment,
    )
    return shutil.which("mmdebstrap") or "mmdebstrap"


# --- step c: the aarch64 wheels --------------------------------------------------------


def _site_step(paths: EmulatorPaths, progress: Progress) -> None:
    """pytest-litert's runtime-only requirements for aarch64 (LiteRT pinned to the host's):
    the worker needs LiteRT and numpy, `emulator run` also pytest and hypothesis."""
    wanted = [f"# cp{GUEST_PYTHON_VERSION.replace('.', '')}", *runtime_requirements()]
    marker = paths.site / "requirements.txt"
    have = marker.read_text().splitlines() if marker.is_file() else []
    if paths.library.is_file() and have == wanted:
        progress(f"wheels: {' '.join(wanted)} in {paths.site} (cached)")
        return
    staging = paths.site.with_name("site.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"wheels: pip install {' '.join(wanted[1:])} for {WHEEL_PLATFORM}, {wanted[0][2:]}")
    options = ("--disable-pip-version-check --only-binary=:all: --implementation cp "
               f"--python-version {GUEST_PYTHON_VERSION}")
    command = [sys.executable, "-m", "pip", "install", "-q", *options.split(), "--platform", WHEEL_PLATFORM,
               "--target", str(staging), *wanted[1:]]  # fmt: skip
    run_tool("wheels", command, f"check that PyPI serves {' '.join(wanted[1:])} for {WHEEL_PLATFORM}")
    (staging / "requirements.txt").write_text("\n".join(wanted) + "\n")
    shutil.rmtree(paths.site, ignore_errors=True)
    (paths.cache_dir / "verified").unlink(missing_ok=True)
    staging.rename(paths.site)
    progress(f"wheels: {paths.site}")


# --- step d: the worker runs in the guest -----------------------------------------------


def _verify_step(paths: EmulatorPaths, progress: Progress) -> None:
    """The worker (worker.py) runs from its host path: QEMU user mode sees the host's
    files, -L only redirects the guest's absolute paths that exist in the rootfs."""
    marker = paths.cache_dir / "verified"
    if marker.is_file():
        progress("verify: guest Python imports LiteRT (cached)")
        return
    progress("verify: importing LiteRT in the emulated Python (a few seconds)")
    probe = "import numpy, ai_edge_litert.interpreter as i; print(numpy.__version__)"
    command = [str(paths.qemu), "-cpu", "max", "-L", str(paths.rootfs), str(paths.python), "-c", probe]
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "PYTHONPATH": str(paths.site)}
    output = run_tool("verify", command, "rerun setup after deleting the cache dir", env=env)
    marker.write_text(f"numpy {output.strip()}\n")
    progress("verify: ok")

"""Prepare the emulated SME2 target: QEMU user mode, an arm64 rootfs, the aarch64 wheels.

`pytest-litert emulator setup` builds, in a cache directory:

    qemu/qemu-aarch64      static QEMU user mode >= 10.1 (Debian trixie-backports qemu-user;
                           Debian 12's own 7.2 lacks SME2 and crashes LiteRT)
    rootfs/                Debian 12 arm64 with python3.11 (mmdebstrap --variant=extract:
                           no emulation needed to build it)
    rootfs/opt/site/       pytest-litert's runtime-only requirements for aarch64 (ai-edge-litert
                           at the host's version, numpy, pytest, hypothesis)
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_litert.toolchain import runtime_requirements

Progress = Callable[[str], None]

MIN_QEMU = (10, 1)
QEMU_SUITES = ("trixie-backports", "trixie", "sid")
ROOTFS_SUITE = "bookworm"
ROOTFS_PACKAGES = ("python3.11", "libstdc++6")
GUEST_PYTHON = "usr/bin/python3.11"
WHEEL_PLATFORM = "manylinux_2_27_aarch64"
MIRROR_ENV = "PYTEST_LITERT_DEBIAN_MIRROR"
CACHE_ENV = "PYTEST_LITERT_EMULATOR_DIR"
_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
_LIBRARY = "ai_edge_litert/libpywrap_litert_common.so"


SETUP_HINT = "run `pytest-litert emulator setup` first"
SVL_BYTES = (16, 32, 64, 128, 256)  # SME streaming vector lengths QEMU can emulate

class EmulatorSetupError(RuntimeError):
    """A setup step failed; the message names the step and what to do about it."""

    def __init__(self, step: str, problem: str, fix: str) -> None:
        super().__init__(f"emulator setup, step '{step}': {problem}\n  fix: {fix}")
        self.step = step
        self.problem = problem


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
    _verify_step(paths, progress)
    progress(f"emulator ready in {paths.cache_dir} ({time.monotonic() - started:.1f} s)")
    return paths


# --- the Debian mirror ------------------------------------------------------------------


def debian_mirror(override: str | None = None, apt_dir: Path = Path("/etc/apt")) -> str:
    """The first non-security Debian archive URI this machine's APT uses."""
    chosen = override or os.environ.get(MIRROR_ENV)
    if chosen:
        return chosen.rstrip("/")
    for uri in _configured_uris(apt_dir):
        if "security" not in uri and uri.startswith(("http://", "https://", "file:")):
            return uri.rstrip("/")
    raise EmulatorSetupError(
        "mirror",
        f"no Debian archive URI found in {apt_dir}/sources.list or sources.list.d/",
        f"pass --mirror URI or set ${MIRROR_ENV}",
    )


def _configured_uris(apt_dir: Path) -> list[str]:
    uris: list[str] = []
    for path in sorted(apt_dir.glob("sources.list.d/*.sources")):
        for line in _read_lines(path):
            if line.lower().startswith("uris:"):
                uris.extend(line.split(":", 1)[1].split())
    list_files = [apt_dir / "sources.list", *sorted(apt_dir.glob("sources.list.d/*.list"))]
    for path in list_files:
        for line in _read_lines(path):
            match = re.match(r"deb\s+(?:\[[^\]]*\]\s+)?(\S+)", line)
            if match:
                uris.append(match.group(1))
    return uris


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if not line.strip().startswith("#")]


# --- step a: QEMU ----------------------------------------------------------------------


def qemu_version(binary: Path) -> tuple[int, int]:
    """(major, minor) from `qemu-aarch64 --version`."""
    output = _run("qemu", [str(binary), "--version"], "reinstall with: pytest-litert emulator setup")
    match = re.search(r"version (\d+)\.(\d+)", output)
    if not match:
        raise EmulatorSetupError("qemu", f"cannot read a version from {output[:80]!r}", "rerun setup")
    return int(match.group(1)), int(match.group(2))


def _qemu_step(paths: EmulatorPaths, progress: Progress, mirror: str | None) -> None:
    if paths.qemu.is_file() and qemu_version(paths.qemu) >= MIN_QEMU:
        progress(f"qemu: {paths.qemu} (cached)")
        return
    apt = _PrivateApt(paths.cache_dir / "apt", debian_mirror(mirror))
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


class _PrivateApt:
    """apt-get with its own sources, lists and cache: no root, the host's APT untouched."""

    def __init__(self, root: Path, mirror: str) -> None:
        self.root = root
        for (
            sub
        ) in "etc/sources.list.d etc/preferences.d etc/apt.conf.d lists/partial cache/archives/partial debs".split():
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.mirror = mirror
        arch = _run("qemu", ["dpkg", "--print-architecture"], "run on Debian or Ubuntu").strip()
        settings = {
            "Dir::Etc": root / "etc",
            "Dir::Etc::SourceList": "/dev/null",
            "Dir::Etc::SourceParts": root / "etc/sources.list.d",
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": root / "etc/preferences.d",
            "Dir::Etc::Parts": root / "etc/apt.conf.d",
            "Dir::State": root,
            "Dir::State::Lists": root / "lists",
            "Dir::State::status": "/dev/null",
            "Dir::Cache": root / "cache",
            "APT::Architecture": arch,
            "APT::Architectures": arch,
            "Acquire::Languages": "none",
            "APT::Sandbox::User": "root" if os.geteuid() == 0 else "",
        }
        config = "".join(f'{key} "{value}";\n' for key, value in settings.items() if value != "")
        (root / "apt.conf").write_text(config)
        self.env = {**os.environ, "APT_CONFIG": str(root / "apt.conf")}

    def apt(self, *args: str, cwd: Path | None = None) -> str:
        fix = "check the network and the mirror (--mirror URI)"
        return _run("qemu", ["apt-get", "-q", *args], fix, env=self.env, cwd=cwd)

    def update(self, suite: str) -> None:
        """Index one suite only: a broken or expired suite must not block the others."""
        signed = f"Signed-By: {_KEYRING}\n" if _KEYRING.exists() else ""
        (self.root / "etc/sources.list.d/qemu.sources").write_text(
            f"Types: deb\nURIs: {self.mirror}\nSuites: {suite}\nComponents: main\n{signed}"
        )
        output = self.apt("update")
        errors = [line.strip() for line in output.splitlines() if line.startswith(("Err:", "  "))]
        if any(line.startswith("Err:") for line in errors):  # apt-get exits 0 on fetch errors
            fix = "check the network and the mirror (--mirror URI)"
            raise EmulatorSetupError("qemu", f"apt-get update failed: {' '.join(errors)[:300]}", fix)

    def offers(self, suite: str) -> list[str]:
        table = _run("qemu", ["apt-cache", "madison", "qemu-user"], "rerun setup", env=self.env)
        return parse_madison(table).get(suite, [])

    def download(self, package: str) -> Path:
        self.apt("download", package, cwd=self.root / "debs")
        debs = sorted((self.root / "debs").glob("*.deb"))
        if not debs:
            raise EmulatorSetupError("qemu", "apt-get download gave no .deb", "rerun setup")
        return debs[0]


def _find_qemu_package(apt: _PrivateApt, progress: Progress) -> tuple[str, str]:
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


def parse_madison(table: str) -> dict[str, list[str]]:
    """`apt-cache madison` lines -> {suite: [versions]}."""
    offers: dict[str, list[str]] = {}
    for line in table.splitlines():
        fields = [field.strip() for field in line.split("|")]
        if len(fields) >= 3:
            suite = fields[2].split()[1].split("/")[0] if len(fields[2].split()) > 1 else ""
            offers.setdefault(suite, []).append(fields[1])
    return offers


def upstream_version(debian_version: str) -> tuple[int, int]:
    """'1:11.1.3+ds-1~bpo13+1' -> (11, 1)."""
    match = re.match(r"(?:\d+:)?(\d+)\.(\d+)", debian_version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _extract_qemu(deb: Path, destination: Path) -> None:
    """dpkg-deb -x, keep only the static aarch64 binary (the package holds ~460 MB)."""
    with tempfile.TemporaryDirectory(dir=deb.parent) as tree:
        _run("qemu", ["dpkg-deb", "-x", str(deb), tree], "is dpkg-deb installed?")
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
    if paths.python.exists():
        progress(f"rootfs: {paths.rootfs} (cached)")
        return
    tool = _ensure_mmdebstrap(progress)
    staging = paths.cache_dir / "rootfs.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(paths.rootfs, ignore_errors=True)  # a rootfs without python is unfinished
    progress(f"rootfs: mmdebstrap {ROOTFS_SUITE} arm64 ({', '.join(ROOTFS_PACKAGES)})")
    include = ",".join(ROOTFS_PACKAGES)
    command = [tool, "--variant=extract", "--arch=arm64", f"--include={include}", ROOTFS_SUITE,
               str(staging), debian_mirror(mirror)]  # fmt: skip
    _run(
        "rootfs",
        command,
        "see mmdebstrap's message above; as non-root it needs user "
        "namespaces (sysctl kernel.unprivileged_userns_clone=1) or run setup as root",
    )
    staging.rename(paths.rootfs)
    progress(f"rootfs: {paths.rootfs}")


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
    _run("rootfs", ["apt-get", "update", "-q"], "apt-get update by hand", env=environment)
    _run(
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
    wanted = runtime_requirements()
    marker = paths.site / "requirements.txt"
    have = marker.read_text().split() if marker.is_file() else []
    if paths.library.is_file() and have == wanted:
        progress(f"wheels: {' '.join(wanted)} in {paths.site} (cached)")
        return
    staging = paths.site.with_name("site.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    progress(f"wheels: pip install {' '.join(wanted)} for {WHEEL_PLATFORM}, cp311")
    options = "--disable-pip-version-check --only-binary=:all: --implementation cp --python-version 3.11"
    command = [sys.executable, "-m", "pip", "install", "-q", *options.split(), "--platform", WHEEL_PLATFORM,
               "--target", str(staging), *wanted]  # fmt: skip
    _run("wheels", command, f"check that PyPI serves {' '.join(wanted)} for {WHEEL_PLATFORM}")
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
    output = _run("verify", command, "rerun setup after deleting the cache dir", env=env)
    marker.write_text(f"numpy {output.strip()}\n")
    progress("verify: ok")


# --- plumbing --------------------------------------------------------------------------


def _run(
    step: str,
    command: Sequence[str],
    fix: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a tool; its failure becomes an EmulatorSetupError with the tool's last words."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    except OSError as error:
        raise EmulatorSetupError(step, f"cannot run {command[0]}: {error}", fix) from error
    if done.returncode != 0:
        tail = "\n    ".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise EmulatorSetupError(step, f"{Path(command[0]).name} exited {done.returncode}:\n    {tail}", fix)
    return done.stdout

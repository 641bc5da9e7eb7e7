"""`pytest-litert emulator run -- CMD ...`: a command inside the emulated SME2 Linux.

The emulator's rootfs under `qemu-aarch64 -cpu max` is, as far as user space can tell, an
aarch64 Linux machine with SME2 (getauxval(AT_HWCAP2) bit 37 set). This runs a command in
it with the plugin installed in the guest's Python the way a user installs it on an Arm
board: the runtime-only install (pytest-litert without TensorFlow, resolved by pip for
aarch64 at `emulator setup`), the plugin's own files copied next to it with their entry
points, and the current directory visible (QEMU user mode sees the host's files; `-L`
redirects only paths that exist in the rootfs).

One difference from a real board: without binfmt_misc (a kernel-wide setting this tool
does not touch) the guest cannot exec an aarch64 program, so the host target's worker,
which is a child process, is started through the same QEMU and CPU
(`PYTEST_LITERT_WORKER_PREFIX`, read by run/targets.py). What runs in it is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

from pytest_litert.run.host_worker import WORKER_PREFIX_ENV
from pytest_litert.run.qemu.emulator import GUEST_PYTHON_VERSION, SETUP_HINT, EmulatorPaths, find
from pytest_litert.toolchain import runtime_requirements

_PACKAGE = Path(__file__).resolve().parents[2]  # pytest_litert/, copied into the guest
_PYTHONS = ("python", "python3", f"python{GUEST_PYTHON_VERSION}")
_SCRIPTS = {"pytest": ["-m", "pytest"], "pytest-litert": ["-m", "pytest_litert"]}


class GuestCommandError(RuntimeError):
    """The command cannot be run in the guest; the message says why and what to do."""


def run(command: list[str], *, cpu: str = "max", cache_dir: Path | None = None) -> int:
    """Run `command` in the guest with this terminal's stdio; returns its exit code."""
    paths = find(cache_dir)
    if paths is None:
        raise GuestCommandError(f"the emulated SME2 Linux is not set up: {SETUP_HINT}")
    if not command:
        raise GuestCommandError("no command given: pytest-litert emulator run -- python -m pytest ...")
    missing = stale_requirements(paths)
    if missing:
        raise GuestCommandError(f"the guest lacks {', '.join(missing)} (set up by another pytest-litert): "
                                f"rerun `pytest-litert emulator setup`")
    argv_tail = guest_argv(paths, command)
    with tempfile.TemporaryDirectory(prefix="plugin-", dir=paths.cache_dir) as private:
        return _run_in_guest(paths, argv_tail, install_plugin(Path(private)), cpu)


def _run_in_guest(paths: EmulatorPaths, argv_tail: list[str], plugin: Path, cpu: str) -> int:
    prefix = [str(paths.qemu), "-cpu", cpu, "-L", str(paths.rootfs)]
    argv = [*prefix, *argv_tail]
    env = {
        "PATH": "/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": f"{plugin}{os.pathsep}{paths.site}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "1",
        WORKER_PREFIX_ENV: json.dumps(prefix),
        **({"CC": str(paths.compiler)} if paths.compiler.is_file() else {}),  # the guest's gcc (compiler.py)
        **{k: v for k, v in os.environ.items() if k in ("CI", "XDG_CACHE_HOME", "TERM", "COLUMNS")},
    }
    return subprocess.run(argv, env=env, check=False).returncode


def stale_requirements(paths: EmulatorPaths) -> list[str]:
    """This pytest-litert's runtime requirements the guest's site was not installed with."""
    marker = paths.site / "requirements.txt"
    have = set(marker.read_text().splitlines()) if marker.is_file() else set()
    return [wanted for wanted in runtime_requirements() if wanted not in have]


def guest_argv(paths: EmulatorPaths, command: list[str]) -> list[str]:
    """`python ...`, `pytest ...` and `pytest-litert ...` run with the guest's Python;
    anything else must be a program of the rootfs."""
    head, rest = command[0], command[1:]
    if head in _PYTHONS:
        return [str(paths.python), *rest]
    if head in _SCRIPTS:
        return [str(paths.python), *_SCRIPTS[head], *rest]
    for directory in ("usr/bin", "bin"):
        program = paths.rootfs / directory / head
        if program.is_file():
            return [str(program), *rest]
    raise GuestCommandError(f"{head!r} is not a program of the guest (try python, pytest or pytest-litert)")


def install_plugin(target: Path) -> Path:
    """This pytest-litert's files and entry points in `target`, a directory private to one run
    (a few hundred KB), so the guest runs exactly the plugin the host has, and two runs side by
    side (.ci/run step 6) never see each other's copy."""
    shutil.copytree(_PACKAGE, target / "pytest_litert", ignore=shutil.ignore_patterns("__pycache__"))
    distribution = metadata.distribution("pytest-litert")
    info = target / f"pytest_litert-{distribution.version}.dist-info"
    info.mkdir()
    for name in ("METADATA", "entry_points.txt"):
        (info / name).write_text(distribution.read_text(name) or "")
    return target

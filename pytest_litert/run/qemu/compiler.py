"""The emulated machine's C compiler: the rootfs's Debian gcc, run under QEMU, as `cc`.

`host-nosme` builds its interposer (run/nosme/) with the machine's own C compiler, so the
emulated SME2 Linux needs one, as a real Arm board has one. The rootfs carries gcc and
libc6-dev (emulator.ROOTFS_PACKAGES); this writes the command that runs it. Without
binfmt_misc (a kernel-wide setting this tool does not touch) no process can exec an aarch64
program, and gcc is a driver that execs its helpers, so the `cc` script runs gcc under
QEMU and has it run cc1, as and collect2 through QEMU too (`-wrapper`); collect2 execs the
linker itself, and finds it as `real-ld` beside the script (its first `-B` directory).
Both are host shell scripts: `emulator run` hands `cc` to the guest as $CC.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from pytest_litert.run.qemu.debian import EmulatorSetupError, Progress

GCC = "usr/bin/gcc"
LINKER = "usr/bin/ld"
TRIPLE = "aarch64-linux-gnu"


def scripts(qemu_path: Path, rootfs: Path, compiler: Path) -> dict[str, str]:
    """The text of `cc` (at `compiler`) and `real-ld` for this emulator's QEMU and rootfs."""
    qemu, root = str(qemu_path), str(rootfs)
    guest = [qemu, "-cpu", "max", "-L", root]
    wrapper = ",".join(guest)
    if any("," in part for part in guest):
        raise EmulatorSetupError("compiler", f"a comma in {wrapper!r} breaks gcc's -wrapper list",
                                 "use a cache directory without commas (--cache-dir)")
    head = "#!/bin/sh\n# Written by `pytest-litert emulator setup` (run/qemu/compiler.py says why).\n"
    cc = [*guest, f"{root}/{GCC}", f"-B{compiler.parent}/", f"-B{root}/usr/bin/", "-wrapper", wrapper]
    return {
        "cc": f"{head}exec {shlex.join(cc)} \"$@\"\n",
        "real-ld": f"{head}exec {shlex.join([*guest, f'{root}/{LINKER}'])} \"$@\"\n",
    }


def compiler_step(qemu: Path, rootfs: Path, compiler: Path, progress: Progress) -> None:
    """Write the scripts (atomically) unless they are current, then check `cc -dumpmachine`."""
    if not (rootfs / GCC).exists():
        raise EmulatorSetupError("compiler", f"the rootfs has no {GCC}", "rerun setup (the rootfs step adds gcc)")
    wanted = scripts(qemu, rootfs, compiler)
    current = all((compiler.parent / name).is_file() and (compiler.parent / name).read_text() == text
                  for name, text in wanted.items())
    if current:
        progress(f"compiler: {compiler} (cached)")
        return
    compiler.parent.mkdir(parents=True, exist_ok=True)
    for name, text in wanted.items():
        staging = compiler.parent / f".{name}.tmp"
        staging.write_text(text)
        staging.chmod(0o755)
        os.replace(staging, compiler.parent / name)
    triple = _dumpmachine(compiler)
    if triple != TRIPLE:
        raise EmulatorSetupError("compiler", f"{compiler} -dumpmachine gave {triple!r}, not {TRIPLE}",
                                 "delete the cache directory and rerun setup")
    progress(f"compiler: {compiler} (gcc for {triple} under QEMU)")


def _dumpmachine(compiler: Path) -> str:
    try:
        done = subprocess.run([str(compiler), "-dumpmachine"], capture_output=True, text=True, timeout=120,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"not run: {error}"
    return done.stdout.strip() or done.stderr.strip()[-200:]

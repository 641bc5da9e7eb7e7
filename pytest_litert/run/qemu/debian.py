"""Debian packages without root: the mirror this machine's APT uses, a private apt-get, and
the plumbing that turns a failed tool into one EmulatorSetupError (emulator.py's steps).

The mirror is read at run time from /etc/apt (or --mirror / $PYTEST_LITERT_DEBIAN_MIRROR);
none is named in the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

Progress = Callable[[str], None]
MIRROR_ENV = "PYTEST_LITERT_DEBIAN_MIRROR"
_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


class EmulatorSetupError(RuntimeError):
    """A setup step failed; the message names the step and what to do about it."""

    def __init__(self, step: str, problem: str, fix: str) -> None:
        super().__init__(f"emulator setup, step '{step}': {problem}\n  fix: {fix}")
        self.step = step
        self.problem = problem


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


# --- a private apt-get -------------------------------------------------------------


class PrivateApt:
    """apt-get with its own sources, lists and cache: no root, the host's APT untouched."""

    def __init__(self, root: Path, mirror: str) -> None:
        self.root = root
        for (
            sub
        ) in "etc/sources.list.d etc/preferences.d etc/apt.conf.d lists/partial cache/archives/partial debs".split():
            (root / sub).mkdir(parents=True, exist_ok=True)
        self.mirror = mirror
        arch = run_tool("qemu", ["dpkg", "--print-architecture"], "run on Debian or Ubuntu").strip()
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
        return run_tool("qemu", ["apt-get", "-q", *args], fix, env=self.env, cwd=cwd)

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
        table = run_tool("qemu", ["apt-cache", "madison", "qemu-user"], "rerun setup", env=self.env)
        return parse_madison(table).get(suite, [])

    def download(self, package: str) -> Path:
        self.apt("download", package, cwd=self.root / "debs")
        debs = sorted((self.root / "debs").glob("*.deb"))
        if not debs:
            raise EmulatorSetupError("qemu", "apt-get download gave no .deb", "rerun setup")
        return debs[0]


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


# --- plumbing --------------------------------------------------------------------------


def run_tool(
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

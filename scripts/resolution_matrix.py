#!/usr/bin/env python3
"""Prove with pip's own resolver that pytest-litert installs on every machine it claims.

18 dry-run resolutions: {Linux x86_64, Linux aarch64, macOS arm64} x {Python 3.11, 3.12, 3.13} x
{full install `[convert,int4]`, runtime-only install}. Nothing is installed: pip resolves against
the wheel tags of the target (`--platform/--python-version --only-binary=:all:`) and writes a JSON
report (`--report`) of what it would install, which is checked here.

Why pip runs with the target's marker environment: pip evaluates environment markers
(`sys_platform == 'linux' and platform_machine == 'x86_64'`, `python_version < '3.12'`, ...) against
the interpreter running pip, not against `--platform`/`--python-version`. A plain
`python -m pip install --platform macosx_12_0_arm64 ...` on Linux x86_64 therefore asks for
tensorflow-cpu (the x86_64 branch of the `convert` extra) on macOS and fails. So each resolution runs
pip's own `main()` with `packaging.markers.default_environment` returning the target's values
(`--host-markers` runs the unpatched `python -m pip` instead, to show the difference).

Why pip >= 23.3: older pip checks a wheel's Requires-Python metadata against the running interpreter
instead of `--python-version` (pypa/pip#12216, fixed by #12218 in 23.3), so a pip 23.2 on Python 3.11
drops numpy 2.5 (Requires-Python >=3.12) from the 3.12 and 3.13 cells and keeps wheels those Pythons
cannot take. `--pip-python` names another interpreter whose pip resolves.

Standard library only; pip is called as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYTHONS: tuple[str, ...] = ("3.11", "3.12", "3.13")

# glibc 2.28 (RHEL 8, Debian 10, Ubuntu 20.04) is the newest Linux this claims; tensorflow(-cpu) 2.21
# and ai-edge-litert 2.3 ship manylinux_2_27 wheels, numpy manylinux_2_27/2_28, older packages
# manylinux2014 (2_17), manylinux2010 (2_12) or manylinux1 (2_5). pip prefers earlier tags.
MANYLINUX_GLIBC_MAX = 28


def _manylinux_tags(arch: str, oldest_minor: int) -> list[str]:
    """Every manylinux tag a glibc-2.MANYLINUX_GLIBC_MAX machine accepts, newest first, legacy aliases included."""
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags: list[str] = []
    for minor in range(MANYLINUX_GLIBC_MAX, oldest_minor - 1, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        if minor in legacy:
            tags.append(f"{legacy[minor]}_{arch}")
    return tags


def _macos_arm64_tags() -> list[str]:
    """macOS 15 down to 11 (the first arm64 macOS); universal2 wheels (10.9+) carry an arm64 slice too."""
    tags: list[str] = []
    for major in range(15, 10, -1):
        tags += [f"macosx_{major}_0_arm64", f"macosx_{major}_0_universal2"]
    tags += [f"macosx_10_{minor}_universal2" for minor in range(16, 8, -1)]
    return tags


@dataclass(frozen=True)
class Platform:
    """A target machine: the wheel tags it accepts and the marker values its Python reports."""

    name: str
    tags: tuple[str, ...]
    sys_platform: str
    platform_system: str
    platform_machine: str
    tensorflow: str  # the TensorFlow distribution the `convert` extra must pick here


PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("linux-x86_64", tuple(_manylinux_tags("x86_64", 5)), "linux", "Linux", "x86_64", "tensorflow-cpu"),
        # aarch64 has no manylinux1/2010 (those predate it): manylinux2014 (2_17) is the oldest.
        Platform("linux-aarch64", tuple(_manylinux_tags("aarch64", 17)), "linux", "Linux", "aarch64", "tensorflow"),
        Platform("macos-arm64", tuple(_macos_arm64_tags()), "darwin", "Darwin", "arm64", "tensorflow"),
    )
}

INSTALLS: dict[str, str] = {"full": "convert,int4", "runtime-only": ""}

TENSORFLOW_DISTS = frozenset({"tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos"})
# the runtime-only install judges bundles without TensorFlow: none of these may come in through any dependency
FORBIDDEN_IN_RUNTIME = TENSORFLOW_DISTS | {"keras", "tf-keras"}
REQUIRED_EVERYWHERE = ("pytest-litert", "ai-edge-litert", "numpy")
SUMMARY_PACKAGES = ("tensorflow", "tensorflow-cpu", "ai-edge-litert", "ai-edge-quantizer", "numpy")

# pip before 23.3 checks Requires-Python of the resolved wheels against the running interpreter (pypa/pip#12216)
MIN_PIP: tuple[int, int] = (23, 3)

# Runs pip's own CLI with the marker environment replaced: argv[1] is the JSON of the marker values.
# The patch comes before any pip._internal import, so the report's "environment" shows the values used.
_PIP_WITH_MARKERS = """\
import json, sys
import pip._vendor.packaging.markers as markers
_target = json.loads(sys.argv[1])
_host = markers.default_environment
markers.default_environment = lambda: {**_host(), **_target}
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


@dataclass(frozen=True)
class Cell:
    """One resolution: a platform, a Python version and an install (full or runtime-only)."""

    platform: str
    python: str
    install: str

    @property
    def label(self) -> str:
        """How failures name the cell."""
        return f"{self.platform} / Python {self.python} / {self.install}"


@dataclass
class Result:
    """What pip would install for a cell, or why it could not resolve."""

    cell: Cell
    packages: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # broken promises: TensorFlow where it must not be, ...
    error: list[str] = field(default_factory=list)  # pip's last lines when the resolution failed
    seconds: float = 0.0
    command: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A cell passes when pip resolved it and the result keeps the install's promises."""
        return not self.error and not self.problems

    def to_json(self) -> dict[str, Any]:
        """The --json record of this cell."""
        return {
            "platform": self.cell.platform,
            "python": self.cell.python,
            "install": self.cell.install,
            "ok": self.ok,
            "packages": [f"{name}=={version}" for name, version in sorted(self.packages.items())],
            "problems": self.problems,
            "error": self.error,
            "seconds": round(self.seconds, 1),
            "command": self.command,
        }


def normalize(name: str) -> str:
    """PEP 503 names: the report says `tensorflow_cpu` or `Tensorflow-CPU` as the metadata has it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_report(report: Mapping[str, Any]) -> dict[str, str]:
    """Name -> version of everything pip's --report would install (report format version 1)."""
    if str(report.get("version")) != "1":
        raise ValueError(f"unknown pip report version {report.get('version')!r}")
    packages: dict[str, str] = {}
    for item in report.get("install", []):
        metadata = item["metadata"]
        packages[normalize(metadata["name"])] = str(metadata["version"])
    return packages


def check_install(install: str, platform: Platform, packages: Mapping[str, str]) -> list[str]:
    """The promises each install makes, as a list of what is broken (empty: all kept)."""
    problems = [f"{name} missing" for name in REQUIRED_EVERYWHERE if name not in packages]
    if install == "runtime-only":
        problems += [
            f"runtime-only install pulls in {name}=={packages[name]}"
            for name in sorted(FORBIDDEN_IN_RUNTIME & packages.keys())
        ]
    elif install == "full":
        if platform.tensorflow not in packages:
            problems.append(f"full install lacks {platform.tensorflow}")
        # two TensorFlow wheels write the same `tensorflow` package directory over each other
        problems += [
            f"full install pulls in {name}=={packages[name]} next to {platform.tensorflow}"
            for name in sorted((TENSORFLOW_DISTS - {platform.tensorflow}) & packages.keys())
        ]
        if "ai-edge-quantizer" not in packages:
            problems.append("full install lacks ai-edge-quantizer")
    else:
        raise ValueError(f"unknown install {install!r}")
    return problems


def marker_environment(platform: Platform, python: str) -> dict[str, str]:
    """The marker values a CPython `python` on `platform` reports (the x.y.0 release)."""
    return {
        "sys_platform": platform.sys_platform,
        "platform_system": platform.platform_system,
        "platform_machine": platform.platform_machine,
        "os_name": "posix",
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "implementation_version": f"{python}.0",
        "platform_python_implementation": "CPython",
    }


def pip_command(
    cell: Cell, wheel: Path, target: Path, report: Path, *, python_exe: str = sys.executable, host_markers: bool = False
) -> list[str]:
    """The dry-run `pip install` of one cell."""
    platform = PLATFORMS[cell.platform]
    if host_markers:
        launcher = [python_exe, "-m", "pip"]
    else:
        launcher = [python_exe, "-c", _PIP_WITH_MARKERS, json.dumps(marker_environment(platform, cell.python))]
    extras = INSTALLS[cell.install]
    requirement = f"{wheel}[{extras}]" if extras else str(wheel)
    args = ["install", "--dry-run", "--ignore-installed", "--only-binary=:all:", "--no-input", "--progress-bar=off"]
    for tag in platform.tags:
        args += ["--platform", tag]
    args += ["--python-version", cell.python, "--implementation", "cp", "--target", str(target)]
    args += ["--report", str(report), requirement]
    return launcher + args


def parse_pip_version(text: str) -> tuple[int, int]:
    """(major, minor) from `pip --version` output ("pip 26.3 from /... (python 3.11)")."""
    match = re.match(r"pip (\d+)\.(\d+)", text.strip())
    if match is None:
        raise ValueError(f"not pip --version output: {text.strip()!r}")
    return int(match[1]), int(match[2])


def check_pip(python_exe: str) -> str:
    """The version of the pip that will resolve; RuntimeError if it cannot resolve for another Python."""
    proc = subprocess.run([python_exe, "-m", "pip", "--version"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{python_exe} has no pip: " + "\n".join(error_tail(proc.stderr)))
    version = parse_pip_version(proc.stdout)
    if version < MIN_PIP:
        raise RuntimeError(
            f"pip {version[0]}.{version[1]} of {python_exe} checks Requires-Python against its own Python, not"
            f" --python-version (pypa/pip#12216): the 3.12/3.13 cells would be wrong. Use pip >="
            f" {MIN_PIP[0]}.{MIN_PIP[1]}: `{python_exe} -m pip install -U pip` or --pip-python .venv/bin/python"
        )
    return proc.stdout.split(" from ")[0].strip()


def error_tail(stderr: str, stdout: str = "", limit: int = 15) -> list[str]:
    """pip's reason for failing: its stderr from the first ERROR line on, else the last lines it printed."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("ERROR:")]
    if errors:
        return lines[errors[0] :][:limit]
    lines += [line.rstrip() for line in stdout.splitlines() if line.strip()]
    return lines[-limit:]


def summarize(result: Result) -> str:
    """One table cell: the versions that matter, or the failure."""
    if not result.ok:
        reasons = result.problems + result.error
        return "FAILED: " + "<br>".join(line.replace("|", "\\|") for line in reasons)
    versions = [f"{name} {result.packages[name]}" for name in SUMMARY_PACKAGES if name in result.packages]
    return "ok: " + ", ".join(versions)


def render_table(results: Iterable[Result]) -> str:
    """Markdown: a row per platform x Python, a column per install."""
    by_cell = {r.cell: r for r in results}
    rows = sorted({(c.platform, c.python) for c in by_cell}, key=lambda k: (list(PLATFORMS).index(k[0]), k[1]))
    installs = [i for i in INSTALLS if any(c.install == i for c in by_cell)]
    lines = ["| platform | python | " + " | ".join(installs) + " |", "|---|---|" + "---|" * len(installs)]
    for platform, python in rows:
        cells = [by_cell.get(Cell(platform, python, i)) for i in installs]
        text = [summarize(r) if r is not None else "not run" for r in cells]
        lines.append(f"| {platform} | {python} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def build_wheel(project: Path, out: Path, python_exe: str = sys.executable) -> Path:
    """The project's wheel, built once: every cell resolves the same artifact users install."""
    proc = subprocess.run(
        [python_exe, "-m", "pip", "wheel", "--no-deps", "--no-input", "-q", "-w", str(out), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted(out.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        raise RuntimeError(f"building the wheel of {project} failed:\n" + "\n".join(error_tail(proc.stderr)))
    return wheels[0]


def resolve(
    cell: Cell, wheel: Path, scratch: Path, *, python_exe: str = sys.executable, host_markers: bool = False
) -> Result:
    """Run one dry-run resolution and check what it would install."""
    work = Path(tempfile.mkdtemp(prefix=f"{cell.platform}-{cell.python}-{cell.install}-", dir=scratch))
    target, report = work / "target", work / "report.json"
    target.mkdir()
    command = pip_command(cell, wheel, target, report, python_exe=python_exe, host_markers=host_markers)
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    result = Result(cell, seconds=time.monotonic() - started, command=command)
    if proc.returncode != 0 or not report.exists():
        result.error = error_tail(proc.stderr, proc.stdout) or [f"pip exited with {proc.returncode}"]
        return result
    result.packages = parse_report(json.loads(report.read_text()))
    result.problems = check_install(cell.install, PLATFORMS[cell.platform], result.packages)
    return result


def cells(platforms: Sequence[str], pythons: Sequence[str]) -> list[Cell]:
    """Every requested platform x Python x install."""
    return [Cell(p, v, i) for p in platforms for v in pythons for i in INSTALLS]


def main(argv: Sequence[str] | None = None) -> int:
    """Build the wheel, resolve every cell in parallel, print the table; 1 if any cell failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--workers", type=int, default=6, help="parallel pip resolutions (default 6)")
    parser.add_argument("--only-platform", action="append", choices=list(PLATFORMS), help="repeatable")
    parser.add_argument("--only-python", action="append", choices=list(PYTHONS), help="repeatable")
    parser.add_argument("--json", type=Path, help="also write every cell's result here")
    parser.add_argument(
        "--pip-python", default=sys.executable, help=f"the Python whose pip resolves (pip >= {MIN_PIP[0]}.{MIN_PIP[1]})"
    )
    parser.add_argument(
        "--host-markers", action="store_true", help="plain `python -m pip`: markers of this machine (to compare)"
    )
    args = parser.parse_args(argv)

    todo = cells(args.only_platform or list(PLATFORMS), args.only_python or list(PYTHONS))
    with tempfile.TemporaryDirectory(prefix="resolution-matrix-") as tmp:
        scratch = Path(tmp)
        (scratch / "wheel").mkdir()
        try:
            pip = check_pip(args.pip_python)
            wheel = build_wheel(args.project.resolve(), scratch / "wheel", args.pip_python)
        except (RuntimeError, ValueError) as exc:
            print(exc, file=sys.stderr)
            return 2
        print(f"resolving {len(todo)} installs of {wheel.name} with {pip}, {args.workers} workers", file=sys.stderr)

        def run(cell: Cell) -> Result:
            return resolve(cell, wheel, scratch, python_exe=args.pip_python, host_markers=args.host_markers)

        with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
            results = list(pool.map(run, todo))

    print(render_table(results))
    if args.json:
        record = {
            "wheel": wheel.name,
            "pip": pip,
            "host_markers": args.host_markers,
            "results": [r.to_json() for r in results],
        }
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"FAILED: {r.cell.label}: " + "; ".join(r.problems + r.error[-3:]), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

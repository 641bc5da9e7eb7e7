"""scripts/resolution_matrix.py without pip or network: its report parsing, its checks and its table."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "resolution_matrix.py"


def _load() -> ModuleType:
    """The script is not a package module: import it by path (registered, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location("resolution_matrix", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rm = _load()

RUNTIME_FAKE = {"pytest-litert": "0.1.0", "ai-edge-litert": "2.3.0", "numpy": "2.4.6", "pytest": "9.2.0"}
FULL_X86_FAKE = {**RUNTIME_FAKE, "tensorflow-cpu": "2.21.0", "keras": "3.15.1", "ai-edge-quantizer": "0.10.0"}
FULL_ELSEWHERE_FAKE = {**RUNTIME_FAKE, "tensorflow": "2.21.0", "keras": "3.15.1", "ai-edge-quantizer": "0.10.0"}


def fake_report(packages: dict[str, str], version: str = "1") -> dict[str, Any]:
    """A pip --report as pip writes it, trimmed to the fields the script reads plus a few it ignores."""
    return {
        "version": version,
        "pip_version": "26.3",
        "install": [
            {
                "download_info": {"url": f"https://files.example/{name}-{ver}.whl", "archive_info": {}},
                "is_direct": False,
                "requested": name == "pytest-litert",
                "metadata": {"metadata_version": "2.1", "name": name, "version": ver},
            }
            for name, ver in packages.items()
        ],
        "environment": {"sys_platform": "darwin"},
    }


def fake_result(cell: Any, packages: dict[str, str] | None = None, **kw: Any) -> Any:
    """A Result as resolve() would return it."""
    return rm.Result(cell, packages=dict(packages or {}), **kw)


# --- parsing pip's report ------------------------------------------------------------------------


def test_parse_report_lists_name_and_version_with_normalized_names() -> None:
    report = fake_report({"Tensorflow_CPU": "2.21.0", "ai_edge.litert": "2.3.0", "numpy": "2.4.6"})
    assert rm.parse_report(report) == {"tensorflow-cpu": "2.21.0", "ai-edge-litert": "2.3.0", "numpy": "2.4.6"}


def test_parse_report_of_nothing_to_install_is_empty() -> None:
    assert rm.parse_report(fake_report({})) == {}


def test_parse_report_refuses_an_unknown_report_format() -> None:
    with pytest.raises(ValueError, match="report version"):
        rm.parse_report(fake_report({"numpy": "2.4.6"}, version="2"))


# --- the promises of each install ----------------------------------------------------------------


@pytest.mark.parametrize("platform", list(rm.PLATFORMS))
def test_runtime_only_without_tensorflow_passes(platform: str) -> None:
    assert rm.check_install("runtime-only", rm.PLATFORMS[platform], RUNTIME_FAKE) == []


@pytest.mark.parametrize("intruder", ["tensorflow", "tensorflow-cpu", "keras"])
def test_runtime_only_with_tensorflow_or_keras_fails(intruder: str) -> None:
    packages = {**RUNTIME_FAKE, intruder: "1.0"}
    problems = rm.check_install("runtime-only", rm.PLATFORMS["linux-aarch64"], packages)
    assert problems == [f"runtime-only install pulls in {intruder}==1.0"]


def test_full_install_on_linux_x86_64_wants_tensorflow_cpu() -> None:
    x86 = rm.PLATFORMS["linux-x86_64"]
    assert rm.check_install("full", x86, FULL_X86_FAKE) == []
    problems = rm.check_install("full", x86, FULL_ELSEWHERE_FAKE)
    assert problems == [
        "full install lacks tensorflow-cpu",
        "full install pulls in tensorflow==2.21.0 next to tensorflow-cpu",
    ]


@pytest.mark.parametrize("platform", ["linux-aarch64", "macos-arm64"])
def test_full_install_elsewhere_wants_tensorflow(platform: str) -> None:
    assert rm.check_install("full", rm.PLATFORMS[platform], FULL_ELSEWHERE_FAKE) == []
    problems = rm.check_install("full", rm.PLATFORMS[platform], FULL_X86_FAKE)
    assert "full install lacks tensorflow" in problems


def test_both_tensorflow_wheels_in_one_install_fail() -> None:
    packages = {**FULL_X86_FAKE, "tensorflow": "2.21.0"}
    problems = rm.check_install("full", rm.PLATFORMS["linux-x86_64"], packages)
    assert problems == ["full install pulls in tensorflow==2.21.0 next to tensorflow-cpu"]


def test_full_install_without_quantizer_fails() -> None:
    packages = {k: v for k, v in FULL_X86_FAKE.items() if k != "ai-edge-quantizer"}
    assert rm.check_install("full", rm.PLATFORMS["linux-x86_64"], packages) == ["full install lacks ai-edge-quantizer"]


def test_the_runtime_itself_must_be_there() -> None:
    packages = {k: v for k, v in RUNTIME_FAKE.items() if k != "ai-edge-litert"}
    assert rm.check_install("runtime-only", rm.PLATFORMS["macos-arm64"], packages) == ["ai-edge-litert missing"]


def test_unknown_install_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown install"):
        rm.check_install("minimal", rm.PLATFORMS["macos-arm64"], RUNTIME_FAKE)


# --- targets: tags and markers -------------------------------------------------------------------


def test_platform_tags_cover_the_wheels_of_tensorflow_litert_and_numpy() -> None:
    x86, arm, mac = (set(rm.PLATFORMS[p].tags) for p in ("linux-x86_64", "linux-aarch64", "macos-arm64"))
    assert {"manylinux_2_27_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= x86
    assert {"manylinux_2_27_aarch64", "manylinux_2_26_aarch64", "manylinux2014_aarch64"} <= arm
    assert not any("manylinux1" in t or "manylinux2010" in t for t in arm)
    assert {f"macosx_{v}_0_arm64" for v in range(11, 16)} <= mac
    assert "macosx_10_9_universal2" in mac


def test_manylinux_tags_are_newest_first() -> None:
    tags = rm.PLATFORMS["linux-x86_64"].tags
    assert tags[0] == f"manylinux_2_{rm.MANYLINUX_GLIBC_MAX}_x86_64"
    assert tags.index("manylinux_2_27_x86_64") < tags.index("manylinux2014_x86_64") < tags.index("manylinux1_x86_64")


def _convert_markers() -> dict[str, str]:
    """Package name -> environment marker of each requirement of the `convert` extra."""
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    found = {}
    for text in project["project"]["optional-dependencies"]["convert"]:
        requirement = Requirement(text)
        assert requirement.marker is not None, text
        found[requirement.name] = str(requirement.marker)
    return found


@pytest.mark.parametrize(
    ("platform", "tensorflow"),
    [("linux-x86_64", "tensorflow-cpu"), ("linux-aarch64", "tensorflow"), ("macos-arm64", "tensorflow")],
)
def test_target_markers_pick_the_convert_extras_tensorflow(platform: str, tensorflow: str) -> None:
    """The project's own `convert` markers, read from pyproject.toml and evaluated as pip is made
    to evaluate them per cell."""
    markers = _convert_markers()
    env = rm.marker_environment(rm.PLATFORMS[platform], "3.13")
    picked = [name for name, marker in markers.items() if Marker(marker).evaluate(env)]
    assert picked == [tensorflow] == [rm.PLATFORMS[platform].tensorflow]
    assert Marker("python_version >= '3.13'").evaluate(env)
    assert not Marker("python_version < '3.13'").evaluate(env)


def test_pip_command_passes_every_tag_the_python_and_the_markers(tmp_path: Path) -> None:
    cell = rm.Cell("macos-arm64", "3.12", "full")
    command = rm.pip_command(cell, tmp_path / "w.whl", tmp_path / "t", tmp_path / "r.json", python_exe="py")
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms == list(rm.PLATFORMS["macos-arm64"].tags)
    assert command[:2] == ["py", "-c"]
    assert json.loads(command[3])["sys_platform"] == "darwin"
    assert command[-1] == f"{tmp_path / 'w.whl'}[convert,int4]"
    for flag in ("--dry-run", "--ignore-installed", "--only-binary=:all:"):
        assert flag in command
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--report") + 1] == str(tmp_path / "r.json")


def test_pip_command_runtime_only_and_host_markers(tmp_path: Path) -> None:
    cell = rm.Cell("linux-x86_64", "3.11", "runtime-only")
    command = rm.pip_command(cell, tmp_path / "w.whl", tmp_path / "t", tmp_path / "r.json", python_exe="py",
                             host_markers=True)
    assert command[:4] == ["py", "-m", "pip", "install"]
    assert command[-1] == str(tmp_path / "w.whl")


# --- pip's failure output ------------------------------------------------------------------------


def test_error_tail_starts_at_pips_first_error() -> None:
    stderr = "WARNING: something\nERROR: Could not find a version of tensorflow-cpu\nERROR: No matching distribution\n"
    assert rm.error_tail(stderr, "Collecting numpy\n") == [
        "ERROR: Could not find a version of tensorflow-cpu",
        "ERROR: No matching distribution",
    ]


def test_error_tail_without_error_lines_keeps_the_last_lines() -> None:
    stdout = "\n".join(f"line {i}" for i in range(30))
    assert rm.error_tail("", stdout, limit=3) == ["line 27", "line 28", "line 29"]


# --- the table -----------------------------------------------------------------------------------


def test_summary_of_a_full_install_names_the_versions_that_matter() -> None:
    result = fake_result(rm.Cell("linux-x86_64", "3.11", "full"), FULL_X86_FAKE)
    expected = "ok: tensorflow-cpu 2.21.0, ai-edge-litert 2.3.0, ai-edge-quantizer 0.10.0, numpy 2.4.6"
    assert rm.summarize(result) == expected


def test_summary_of_a_failure_keeps_table_syntax_intact() -> None:
    result = fake_result(rm.Cell("macos-arm64", "3.13", "full"), error=["ERROR: a | b", "ERROR: no match"])
    assert rm.summarize(result) == "FAILED: ERROR: a \\| b<br>ERROR: no match"
    assert not result.ok


def test_a_broken_promise_fails_the_cell_even_when_pip_resolved() -> None:
    cell = rm.Cell("linux-aarch64", "3.12", "runtime-only")
    result = fake_result(cell, {**RUNTIME_FAKE, "keras": "3.15.1"}, problems=["runtime-only install pulls in keras"])
    assert not result.ok
    assert rm.summarize(result).startswith("FAILED: runtime-only install pulls in keras")
    assert result.to_json()["ok"] is False


def test_table_has_a_row_per_platform_and_python_and_a_column_per_install() -> None:
    results = [
        fake_result(rm.Cell(p, v, i), FULL_X86_FAKE if i == "full" else RUNTIME_FAKE)
        for p in reversed(list(rm.PLATFORMS))
        for v in ("3.13", "3.11")
        for i in rm.INSTALLS
    ]
    lines = rm.render_table(results).splitlines()
    assert lines[0] == "| platform | python | full | runtime-only |"
    assert [tuple(line.split(" | ")[0:2]) for line in lines[2:]] == [
        ("| linux-x86_64", "3.11"), ("| linux-x86_64", "3.13"),
        ("| linux-aarch64", "3.11"), ("| linux-aarch64", "3.13"),
        ("| macos-arm64", "3.11"), ("| macos-arm64", "3.13"),
    ]
    assert lines[2].endswith("| ok: ai-edge-litert 2.3.0, numpy 2.4.6 |")


def test_table_marks_a_missing_cell() -> None:
    table = rm.render_table([fake_result(rm.Cell("macos-arm64", "3.11", "full"), FULL_ELSEWHERE_FAKE),
                             fake_result(rm.Cell("macos-arm64", "3.12", "runtime-only"), RUNTIME_FAKE)])
    assert "| macos-arm64 | 3.11 | ok: tensorflow 2.21.0" in table
    assert table.splitlines()[2].endswith("| not run |")


# --- main, with pip replaced by fakes ------------------------------------------------------------


def test_main_exits_1_and_names_the_failed_cell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    def fake_build_wheel(project: Path, out: Path, python_exe: str) -> Path:
        return out / "pytest_litert-0.1.0-py3-none-any.whl"

    def fake_resolve(cell: Any, wheel: Path, scratch: Path, **kw: Any) -> Any:
        if cell.install == "full" and cell.python == "3.13":
            return fake_result(cell, error=["ERROR: No matching distribution found for tensorflow"])
        return fake_result(cell, RUNTIME_FAKE if cell.install == "runtime-only" else FULL_ELSEWHERE_FAKE)

    monkeypatch.setattr(rm, "check_pip", lambda python_exe: "pip 26.3")
    monkeypatch.setattr(rm, "build_wheel", fake_build_wheel)
    monkeypatch.setattr(rm, "resolve", fake_resolve)
    out = tmp_path / "matrix.json"
    argv = ["--only-platform", "macos-arm64", "--only-python", "3.12", "--only-python", "3.13", "--json", str(out)]
    assert rm.main(argv) == 1
    captured = capsys.readouterr()
    assert "FAILED: macos-arm64 / Python 3.13 / full: ERROR: No matching distribution" in captured.err
    assert captured.out.count("\n| macos-arm64 |") == 2
    record = json.loads(out.read_text())
    assert [(r["python"], r["install"], r["ok"]) for r in record["results"]] == [
        ("3.12", "full", True), ("3.12", "runtime-only", True), ("3.13", "full", False), ("3.13", "runtime-only", True),
    ]
    assert "numpy==2.4.6" in record["results"][0]["packages"]


def test_main_exits_0_when_every_cell_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rm, "check_pip", lambda python_exe: "pip 26.3")
    monkeypatch.setattr(rm, "build_wheel", lambda project, out, python_exe: out / "w.whl")
    monkeypatch.setattr(rm, "resolve", lambda cell, wheel, scratch, **kw: fake_result(
        cell, RUNTIME_FAKE if cell.install == "runtime-only" else FULL_X86_FAKE))
    assert rm.main(["--only-platform", "linux-x86_64", "--workers", "2"]) == 0


def test_main_refuses_a_pip_that_ignores_python_version(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(rm.subprocess, "run", fake_pip_version("pip 23.2.1 from /x/pip (python 3.11)\n"))
    assert rm.main(["--only-platform", "macos-arm64"]) == 2
    assert "pypa/pip#12216" in capsys.readouterr().err


# --- the pip that resolves -----------------------------------------------------------------------


def fake_pip_version(stdout: str) -> Any:
    """subprocess.run as `python -m pip --version` answers, nothing else."""
    def run(command: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        assert command[1:] == ["-m", "pip", "--version"]
        return subprocess.CompletedProcess(command, 0, stdout=stdout, stderr="")
    return run


@pytest.mark.parametrize(("text", "version"), [("pip 26.3 from /v/pip (python 3.11)", (26, 3)),
                                                ("pip 23.2.1 from /p (python 3.11)\n", (23, 2)),
                                                ("pip 24.0", (24, 0))])
def test_parse_pip_version(text: str, version: tuple[int, int]) -> None:
    assert rm.parse_pip_version(text) == version


def test_parse_pip_version_rejects_other_output() -> None:
    with pytest.raises(ValueError, match="not pip --version output"):
        rm.parse_pip_version("No module named pip")


def test_check_pip_accepts_23_3_and_newer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rm.subprocess, "run", fake_pip_version("pip 23.3 from /p (python 3.11)\n"))
    assert rm.check_pip("py") == "pip 23.3"
    monkeypatch.setattr(rm.subprocess, "run", fake_pip_version("pip 23.2.1 from /p (python 3.11)\n"))
    with pytest.raises(RuntimeError, match=r"pip 23\.2 of py checks Requires-Python against its own Python"):
        rm.check_pip("py")

"""`pytest-litert emulator run -- CMD`: a command in the emulated SME2 Linux, with the plugin
installed in the guest's Python. The QEMU tests need `pytest-litert emulator setup`."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_litert.cli import main
from pytest_litert.run.qemu import emulator
from pytest_litert.run.qemu.guest_shell import GuestCommandError, guest_argv, stale_requirements
from pytest_litert.toolchain import runtime_requirements

PATHS = emulator.find()
needs_emulator = pytest.mark.skipif(PATHS is None,
                                    reason="emulator not set up: run `pytest-litert emulator setup` to enable")


def test_run_before_setup_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "run", "--cache-dir", str(tmp_path), "--", "python", "-m", "pytest"]) == 2
    err = capsys.readouterr().err
    assert "the emulated SME2 Linux is not set up: run `pytest-litert emulator setup` first" in err
    assert err.count("\n") == 1


def test_setup_takes_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "status", "--", "python"]) == 2
    assert "did you mean: emulator run -- python" in capsys.readouterr().err


def test_a_guest_set_up_by_another_version_is_one_clear_error(tmp_path: Path) -> None:
    paths = emulator.EmulatorPaths.under(tmp_path)
    paths.site.mkdir(parents=True)
    (paths.site / "requirements.txt").write_text("ai-edge-litert==2.3.0\nnumpy\n")  # an older setup's list
    assert "pytest<10,>=8.0" in stale_requirements(paths)
    (paths.site / "requirements.txt").write_text("\n".join(runtime_requirements()))
    assert stale_requirements(paths) == []


def test_commands_map_to_the_guest_python(tmp_path: Path) -> None:
    paths = emulator.EmulatorPaths.under(tmp_path)
    python = str(paths.python)
    assert guest_argv(paths, ["python", "-V"]) == [python, "-V"]
    assert guest_argv(paths, ["pytest", "-q"]) == [python, "-m", "pytest", "-q"]
    assert guest_argv(paths, ["pytest-litert", "matrix"]) == [python, "-m", "pytest_litert", "matrix"]
    with pytest.raises(GuestCommandError, match="'gcc' is not a program of the guest"):
        guest_argv(paths, ["gcc"])


def _guest(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cli = [sys.executable, "-m", "pytest_litert", "emulator", "run", "--", *command]
    return subprocess.run(cli, capture_output=True, text=True, cwd=cwd, timeout=300, check=False)


@pytest.mark.qemu
@needs_emulator
def test_the_guest_is_an_sme2_linux_with_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "here.txt").write_text("visible")
    code = ("import platform, importlib.metadata as m, pytest_litert.run.sme2 as s; "
            "print(platform.machine()); print(open('here.txt').read()); "
            "print(sorted(e.name for e in m.entry_points(group='pytest11'))); "
            "print(s.host_status().describe()); "
            "import importlib.util; print(importlib.util.find_spec('tensorflow'))")
    done = _guest("python", "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    machine, seen, plugins, status, tensorflow = done.stdout.splitlines()[-5:]
    assert (machine, seen, tensorflow) == ("aarch64", "visible", "None")
    assert "litert" in plugins
    assert status == "SME2 on host: available (getauxval(AT_HWCAP2) bit 37)"


@pytest.mark.qemu
@needs_emulator
def test_the_exit_code_is_the_command_s() -> None:
    assert _guest("python", "-c", "raise SystemExit(3)").returncode == 3


@pytest.mark.qemu
@needs_emulator
def test_two_runs_side_by_side_each_see_their_own_plugin(tmp_path: Path) -> None:
    """.ci/run step 5 runs guest sessions in parallel: each gets a private copy of the plugin,
    removed after it, so neither deletes the other's mid-run."""
    assert PATHS is not None
    code = "import time, pytest_litert; time.sleep(2); import pytest_litert.cli; print(pytest_litert.__file__)"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: _guest("python", "-c", code, cwd=tmp_path), range(2)))  # not the checkout
    assert [run.returncode for run in runs] == [0, 0], [run.stderr[-500:] for run in runs]
    seen = {run.stdout.splitlines()[-1] for run in runs}
    assert len(seen) == 2 and all(path.startswith(str(PATHS.cache_dir)) for path in seen)
    assert not any(Path(path).exists() for path in seen)

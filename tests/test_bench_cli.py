"""`pytest-litert bench` end to end with the real LiteRT: the table, the saved run, comparing a
run with itself and with a slowed target (a test double), refusals and bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pytest_litert.bench import document as bench_document
from pytest_litert.bench.compare import context_lines
from pytest_litert.cli import main
from pytest_litert.run.host_worker import WORKER_PREFIX_ENV

# The seed's FC (100x640 -> 1280, about 2 ms here): small models (a few us) vary up to 40%
# between worker processes on this machine kind, so the comparisons use the seed's size.
SEED_FC = ["--ops=fully_connected", "--recipes=fp32", "--shapes=seed", "--no-sgemm"]
QUICK = ["--rounds=3", "--max-time=0.3", "--apis=interpreter"]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Path:
    path = tmp_path_factory.mktemp("bench") / "old.json"
    assert main(["bench", *SEED_FC, *QUICK, f"--cache-dir={shared_cache}", f"--json={path}"]) == 0
    return path


def test_bench_prints_every_statistic_and_saves_the_run(tmp_path: Path, shared_cache: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.json"
    args = ["bench", "--ops=fully_connected", "--recipes=fp32,int16x8", "--shapes=ci", "--rounds=1", "--max-time=0.2",
            f"--cache-dir={shared_cache}", f"--json={path}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[1/2] fully_connected-fp32: interpreter" in out and "elapsed)" in out  # progress
    for column in ("median ms", "IQR ms", "min ms", "stddev ms", "runs", "GFLOP/s", "x sgemm"):
        assert column in out
    assert "sgemm reference: numpy sgemm (fp32)" in out
    # LiteRT's CompiledModel cannot write int16 inputs from Python: recorded, the Interpreter still timed
    assert "refused: fully_connected-int16x8 compiled: ValueError: Unsupported dtype: int16" in out
    saved = json.loads(path.read_text())
    assert saved["kind"] == "pytest-litert bench" and saved["machine"]["toolchain"]["ai-edge-litert"] != "missing"
    assert saved["machine"]["sme2"]["available"] in (True, False) and saved["sgemm"]["gflops"] > 0
    fp32 = saved["cells"][0]
    assert fp32["flops"] == 2 * 8 * 64 * 64
    assert set(fp32["apis"]) == {"interpreter", "compiled"}
    timing = fp32["apis"]["interpreter"]
    assert timing["runs"] == sum(len(i) for r in timing["samples_ms"] for i in r) >= 40
    assert timing["min_ms"] <= timing["q1_ms"] <= timing["median_ms"] <= timing["q3_ms"]
    assert main(args) == 2  # the saved run is not overwritten without --force
    assert "pass --force" in capsys.readouterr().err


def test_compare_with_itself_reports_no_change(saved_run: Path, shared_cache: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # 25%: the seed FC's worker processes differ by up to ~10% here (README, noise of a repeated run)
    args = ["bench", *SEED_FC, *QUICK, f"--cache-dir={shared_cache}", f"--compare={saved_run}",
            "--fail-on=median:25%"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "1 compared at median:25%: 0 slower" in out
    assert "toolchain: unchanged" in out and "not the same machine" not in out


def test_compare_names_another_machine_and_the_toolchain_change(saved_run: Path) -> None:
    old = bench_document.load(saved_run)
    machine = {**old.machine, "cpu": "Another CPU", "features": [*old.machine["features"], "made_up_flag"],
               "toolchain": {**old.machine["toolchain"], "ai-edge-litert": "9.9.9"}}
    new = dataclasses.replace(old, machine=machine, budget={**old.budget, "threads": 4})
    mismatch, toolchain = context_lines(old, new)
    assert mismatch.startswith("not the same machine, so a change may be the machine's: ")
    assert f"cpu {old.machine['cpu']!r} -> 'Another CPU'" in mismatch
    assert "threads 1 -> 4" in mismatch and "CPU features +made_up_flag" in mismatch
    assert toolchain == f"toolchain: ai-edge-litert {old.machine['toolchain']['ai-edge-litert']} -> 9.9.9"


def test_compare_with_a_slowed_target_reports_the_regression(saved_run: Path, shared_cache: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", *SEED_FC, *QUICK, f"--cache-dir={shared_cache}", f"--compare={saved_run}",
            "--fail-on=median:25%", "--target=bench_doubles:slowed_target"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "re-timing 1 cell(s) that look slower" in out
    changes = out.split("compared with")[1].splitlines()
    line = next(line for line in changes if line.startswith("fully_connected-fp32-seed  interpreter"))
    assert line.endswith("slower")
    assert "1 compared at median:25%: 1 slower" in out


def test_compare_without_fail_on_reports_but_passes(saved_run: Path, shared_cache: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", *SEED_FC, *QUICK, "--rounds=3", f"--cache-dir={shared_cache}", f"--compare={saved_run}",
            "--target=bench_doubles:slowed_target"]
    assert main(args) == 0
    assert "1 slower" in capsys.readouterr().out


def test_bench_refuses_the_emulated_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--target=qemu-sme2", "--ops=fully_connected", "--recipes=fp32"]) == 2
    err = capsys.readouterr().err
    assert "timings under QEMU mean nothing" in err and "pytest-litert coverage" in err


def test_bench_refuses_inside_the_emulated_guest(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(WORKER_PREFIX_ENV, '["qemu-aarch64", "-cpu", "max"]')  # what `emulator run` sets
    assert main(["bench", "--ops=fully_connected", "--recipes=fp32"]) == 2
    assert "timings under QEMU mean nothing" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "message"), [
    (["--fail-on=median:10%"], "pass --compare OLD.json too"),
    (["--compare=/nonexistent.json"], "no such file; write one with `pytest-litert bench --json"),
    (["--compare=/nonexistent.json", "--fail-on=mean:5%"], "--fail-on must be median:N%"),
    (["--threads=0"], "--threads and --rounds must be 1 or more"),
    (["--apis=interpreter,gpu"], "--apis must be a comma list of interpreter, compiled"),
    (["--plot=x.png"], "--plot draws a sweep: pass --sweep too"),
    (["--sweep=q"], "unknown sweep axis 'q'"),
    (["--sweep", "--bundle=/nonexistent"], "bundle"),
])
def test_bench_bad_input_names_the_fix(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--ops=fully_connected", "--recipes=fp32", *extra]) == 2
    assert message in capsys.readouterr().err


def test_compare_refuses_a_matrix_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = tmp_path / "records.json"
    records.write_text(json.dumps({"format": 1, "toolchain": {}, "seed": 0, "cells": []}))  # `matrix --json`
    assert main(["bench", "--ops=fully_connected", "--recipes=fp32", f"--compare={records}"]) == 2
    assert "pytest-litert diff" in capsys.readouterr().err

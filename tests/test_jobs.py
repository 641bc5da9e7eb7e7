"""--jobs: the matrix and the export on several jobs give what one gives, in the same order;
jobs are processes where a cell converts and threads where none does; bad counts are refused
naming the flag."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest

from pytest_litert.cli import main
from pytest_litert.jobs import ordered_map, parse_jobs
from pytest_litert.session import Runner, Settings

CELLS = ["--ops=fully_connected,conv2d,transpose_conv", "--recipes=fp32,static_int8,int4"]


def _matrix(tmp_path: Path, jobs: int, cache: Path, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], dict]:
    out = tmp_path / f"jobs{jobs}.json"
    assert main(["matrix", *CELLS, f"--cache-dir={cache}", f"--jobs={jobs}", "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    progress = [re.sub(r" [0-9.]+ s$", "", line) for line in lines if line.startswith("[")]
    return progress, json.loads(out.read_text())


def test_two_jobs_judge_like_one(tmp_path: Path, shared_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serial_progress, serial = _matrix(tmp_path, 1, shared_cache, capsys)
    cold = tmp_path / "cold-cache"  # the parallel run converts for itself: workers write one cache
    parallel_progress, parallel = _matrix(tmp_path, 2, cold, capsys)
    assert parallel_progress == serial_progress and len(serial_progress) == 9
    assert [line.split("]")[0] for line in parallel_progress] == [f"[{i}/9" for i in range(1, 10)]
    keep = ("cell", "status", "numeric", "structure", "size", "delegated", "failed_checks")
    assert [{k: r[k] for k in keep} for r in parallel["cells"]] == [{k: r[k] for k in keep} for r in serial["cells"]]


def test_a_warm_matrix_on_two_jobs_judges_like_one(tmp_path: Path, shared_cache: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Every cell cached: the two jobs are threads, each with its own LiteRT worker."""
    serial_progress, serial = _matrix(tmp_path, 1, shared_cache, capsys)
    warm_progress, warm = _matrix(tmp_path, 2, shared_cache, capsys)
    assert warm_progress == serial_progress
    assert [r["checks"] for r in warm["cells"]] == [r["checks"] for r in serial["cells"]]


def where_it_ran(runner: Runner, item: int) -> tuple[int, int, int]:
    """A job's work for the test below: which process and thread ran `item`."""
    return item, os.getpid(), threading.get_ident()


@pytest.mark.parametrize("converts", [False, True], ids=["nothing-converts", "something-converts"])
def test_jobs_are_threads_unless_something_converts(converts: bool, shared_cache: Path) -> None:
    settings = Settings.from_strings("fully_connected", "fp32", 0, str(shared_cache), "host")
    done = list(ordered_map(settings, where_it_ran, range(6), 2, lambda item: converts and item == 3))
    assert [d.result[0] for d in done] == list(range(6))  # in item order
    processes = {d.result[1] for d in done}
    if converts:
        assert os.getpid() not in processes
    else:
        assert processes == {os.getpid()}
        assert threading.get_ident() not in {d.result[2] for d in done}


def test_export_on_two_jobs_writes_the_same_files(tmp_path: Path, shared_cache: Path) -> None:
    for jobs in (1, 2):
        assert main(["export", str(tmp_path / f"e{jobs}"), *CELLS, "--no-seed-models", f"--cache-dir={shared_cache}",
                     f"--jobs={jobs}"]) == 0
    one, two = (sorted(p.name for p in (tmp_path / f"e{j}").glob("*.tflite")) for j in (1, 2))
    assert one == two and len(one) == 8  # 9 cells; transpose_conv-int4 is not produced, so not written
    for name in one:
        assert (tmp_path / "e1" / name).read_bytes() == (tmp_path / "e2" / name).read_bytes()


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_job_count_is_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="--jobs must be a positive count or 'auto'"):
        parse_jobs(value)
    assert main(["matrix", "--ops=fully_connected", "--recipes=fp32", f"--jobs={value}"]) == 2
    assert "--jobs must be a positive count" in capsys.readouterr().err


def test_auto_is_the_usable_cores() -> None:
    assert parse_jobs("auto") >= 1

"""`bench --sweep`: the sizes it builds, the run end to end, and the picture's data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pytest_litert.bench import document, plot
from pytest_litert.bench.sweep import sweep_cells
from pytest_litert.cli import main


def test_sweep_cells_vary_one_axis_of_the_seed_shape() -> None:
    cells = sweep_cells(["fully_connected"], ["fp32"], "m,k")
    assert [c.id for c in cells[:2]] == ["fully_connected-fp32-sweep-m1", "fully_connected-fp32-sweep-m2"]
    rows = {c.shape.m for c in cells if c.shape_label.startswith("m")}
    assert rows == {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}
    assert all((c.shape.k, c.shape.n) == (640, 1280) for c in cells if c.shape_label.startswith("m"))
    assert {(c.shape.m, c.shape.n) for c in cells if c.shape_label.startswith("k")} == {(100, 1280)}
    convs = sweep_cells(["conv2d"], ["static_int8"])
    first = convs[0].shape
    assert (first.height, first.width, first.k, first.n) == (7, 7, 64, 64)
    assert [c.shape.height for c in convs] == [7, 14, 28, 56, 112]


def test_sweep_runs_end_to_end(tmp_path: Path, shared_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sweep.json"
    args = ["bench", "--sweep=m", "--recipes=fp32", "--apis=interpreter", "--rounds=1", "--max-time=0.05",
            "--no-sgemm", f"--cache-dir={shared_cache}", f"--json={path}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "[11/11] fully_connected-fp32-sweep-m1024" in out
    run = document.load(path)
    lines = plot.curves(run)[("fully_connected", "m")]
    sizes = [size for size, _, _ in lines[("fp32", "interpreter")]]
    assert sizes == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    latency = [ms for _, ms, _ in lines[("fp32", "interpreter")]]
    assert latency[-1] > 10 * latency[0]  # 1024 rows cost more than one: the sweep measured something
    if importlib.util.find_spec("matplotlib") is not None:
        plot.save_png(run, tmp_path / "sweep.png")
        assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_every_operator_has_a_sweep_axis() -> None:
    from pytest_litert.bench.sweep import AXES
    from pytest_litert.matrix.ops import OPS

    assert set(AXES) == set(OPS)

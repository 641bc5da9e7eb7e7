"""The HTML report: every cell of a real run in the grid with its status, the diff of two runs,
a bench run's table, the page from a pytest session, and (where Chromium is installed) the page
rendered by a real browser with a cell's details opened."""

from __future__ import annotations

import copy
import html.parser
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pytest_litert.cli import main
from pytest_litert.report.html import ReportInputError, load_documents, render, worst_fraction

CELLS = ["--ops=fully_connected,transpose_conv", "--recipes=fp32,static_int8,int4"]
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


class _Cells(html.parser.HTMLParser):
    """The grid as a reader sees it: (cell id, status, fraction text) per grid cell."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[str, tuple[str, str]] = {}
        self.sections: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "td" and found.get("data-cell"):
            self._open = str(found["data-cell"])
            self.cells[self._open] = (str(found["data-status"]), "")
        if tag == "section":
            self.sections.append(str(found.get("class")))

    def handle_data(self, data: str) -> None:
        if self._open and data.strip() and data.strip()[0].isdigit():
            self.cells[self._open] = (self.cells[self._open][0], data.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._open = None


def _parse(page: str) -> _Cells:
    parser = _Cells()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Path:
    path = tmp_path_factory.mktemp("runs") / "run.json"
    main(["matrix", *CELLS, f"--cache-dir={shared_cache}", "--json", str(path)])
    return path


def test_every_cell_of_a_run_is_in_the_grid_with_its_status(run_file: Path) -> None:
    records = json.loads(run_file.read_text())["cells"]
    page = _parse(render(load_documents([run_file])[0]))
    assert {cell: status for cell, (status, _) in page.cells.items()} == {r["cell"]: r["status"] for r in records}
    assert {r["status"] for r in records} >= {"pass", "not produced"}
    for record in records:
        fraction = worst_fraction(record)
        if fraction is not None:
            assert float(page.cells[record["cell"]][1]) == pytest.approx(fraction, abs=0.01)


def test_two_runs_add_the_diff_of_what_changed(run_file: Path, tmp_path: Path) -> None:
    later = json.loads(run_file.read_text())
    changed = copy.deepcopy(later)  # an edited copy stands in for a run after an upgrade
    record = next(r for r in changed["cells"] if r["status"] == "pass")
    record["status"] = "fail"
    (tmp_path / "after.json").write_text(json.dumps(changed))
    runs, _ = load_documents([run_file, tmp_path / "after.json"])
    page = render(runs)
    assert "diff" in _parse(page).sections
    diff = page[page.index("<section class=diff>"):]
    assert f"<tr class=worse><td>{record['cell']}</td><td>pass</td><td>fail</td>" in diff
    assert "(1 cells)" in diff


def test_a_bench_run_gets_its_table(tmp_path: Path, shared_cache: Path, run_file: Path) -> None:
    bench = tmp_path / "bench.json"
    assert main(["bench", "--ops=fully_connected", "--recipes=fp32", "--shapes=ci", "--rounds=1", "--max-time=0.1",
                 "--no-sgemm", f"--cache-dir={shared_cache}", "--json", str(bench)]) == 0
    runs, benches = load_documents([run_file, bench])
    page = render(runs, benches)
    assert "bench" in _parse(page).sections
    median = json.loads(bench.read_text())["cells"][0]["apis"]["interpreter"]["median_ms"]
    assert f"<td>fully_connected-fp32</td><td>interpreter</td><td>{median:.4g}</td>" in page


def test_input_that_is_not_a_run_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ReportInputError, match=r"other\.json: neither a recorded run"):
        load_documents([other])
    assert main(["report", str(other), "--html", str(tmp_path / "r.html")]) == 2


def test_report_refuses_to_overwrite(run_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    out.write_text("mine")
    assert main(["report", str(run_file), "--html", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err and out.read_text() == "mine"
    assert main(["report", str(run_file), "--html", str(out), "--force"]) == 0


def test_a_pytest_session_writes_the_page(pytester: pytest.Pytester, shared_cache: Path) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--pyargs", "pytest_litert.suite",
                                           "-k", "test_cell", "--litert-ops=fully_connected",
                                           "--litert-recipes=fp32,int4", f"--litert-cache-dir={shared_cache}",
                                           f"--litert-html={pytester.path / 'out' / 'r.html'}")
    assert result.ret == 0
    page = _parse((pytester.path / "out" / "r.html").read_text())
    assert set(page.cells) == {"fully_connected-fp32", "fully_connected-int4"}


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium (`apt-get install chromium`; .ci/run does)")
def test_the_page_renders_in_chromium_with_a_cell_opened(run_file: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", str(run_file), "--html", str(page)]) == 0
    records = json.loads(run_file.read_text())["cells"]
    opened = records[0]["cell"]
    dom = _browser(page, opened, "--dump-dom")
    rendered = _parse(dom)
    assert {cell: status for cell, (status, _) in rendered.cells.items()} == {r["cell"]: r["status"] for r in records}
    details = dom[dom.index('<aside id="details"'):]
    assert 'class="open"' in details[:80] and f"{opened}: {records[0]['status']}" in details
    assert "checks" in details and "toolchain" in details
    shot = tmp_path / "report.png"
    _browser(page, opened, f"--screenshot={shot}", "--window-size=1400,900")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _browser(page: Path, opened: str, *args: str) -> Any:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([str(_chromium()), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args,
                               f"file://{page}#{opened}"], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_an_sme2_ab_run_gets_its_speedup_bars(tmp_path: Path, run_file: Path) -> None:
    """An A/B run as bench/ab.py saves it (its own classes; timing a real one needs an SME2
    machine, so the samples here are made up and the verdicts set by hand)."""
    from pytest_litert.bench import ab
    from pytest_litert.bench.stats import Summary

    fast, slow = Summary.of((((1.0, 1.1, 0.9),),)), Summary.of((((2.0, 2.1, 1.9),),))
    results = [ab.AbResult("fully_connected-fp32-seed", "interpreter", fast, slow, "faster", 0.01),
               ab.AbResult("conv2d-dynamic_int8-seed", "interpreter", slow, slow, "same", 0.5)]
    run = ab.AbRun({"cpu": "test stand-in"}, {}, 0.1, {}, results, "2026-12-02")
    path = tmp_path / "ab.json"
    ab.save(run, path)
    runs, benches = load_documents([run_file, path])
    page = render(runs, benches)
    section = page[page.index("<section class=ab>"):]
    assert "fully_connected-fp32-seed" in section and "<td>2.00x</td><td>faster</td>" in section
    assert "<td>1.00x</td><td>same</td>" in section

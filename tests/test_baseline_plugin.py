"""The baseline workflow through the plugin: --litert-baseline, --litert-baseline-update,
litert_baseline_tolerance and --litert-report-json (pytest-regressions style)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CELL = ("-m", "not sme2", "--litert-ops=fully_connected", "--litert-recipes=fp32")


def _run(matrix_test: pytest.Pytester, cache: Path, *args: str) -> pytest.RunResult:
    return matrix_test.runpytest(*CELL, f"--litert-cache-dir={cache}", *args)


def _edit(path: Path, change: Any) -> None:
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record, indent=2, sort_keys=True))


def test_missing_pass_change_update_pass(matrix_test: pytest.Pytester, shared_cache: Path) -> None:
    directory = matrix_test.path / "baselines"
    stored = directory / "fully_connected-fp32.json"
    flag = f"--litert-baseline={directory}"

    result = _run(matrix_test, shared_cache, flag)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no baseline for fully_connected-fp32*rerun*"])
    assert stored.is_file()

    _run(matrix_test, shared_cache, flag).assert_outcomes(passed=1)

    _edit(stored, lambda r: r["structure"]["tensors"]["op weights"].update(granularity="per-channel"))
    result = _run(matrix_test, shared_cache, flag)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*changed: tensors.op weights.granularity: "per-channel" -> "float"*'])
    assert (directory / "fully_connected-fp32.obtained.json").is_file()

    result = _run(matrix_test, shared_cache, flag, "--litert-baseline-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*regenerated*"])
    assert not (directory / "fully_connected-fp32.obtained.json").exists()

    _run(matrix_test, shared_cache, flag).assert_outcomes(passed=1)


def test_tolerance_ini_decides_numeric_growth(matrix_test: pytest.Pytester, shared_cache: Path) -> None:
    directory = matrix_test.path / "baselines"
    flag = f"--litert-baseline={directory}"
    _run(matrix_test, shared_cache, flag)

    def lower(record: dict[str, Any]) -> None:
        for entry in record["numeric"].values():
            entry["worst"] -= 0.05

    _edit(directory / "fully_connected-fp32.json", lower)
    _run(matrix_test, shared_cache, flag).assert_outcomes(passed=1)  # default tolerance 0.1
    matrix_test.makeini("[pytest]\nlitert_baseline_tolerance = 0.01\n")
    result = _run(matrix_test, shared_cache, flag)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*error grew*more than the tolerance 0.01*"])


def test_bad_tolerance_is_a_usage_error(matrix_test: pytest.Pytester) -> None:
    matrix_test.makeini("[pytest]\nlitert_baseline_tolerance = lots\n")
    result = matrix_test.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*litert_baseline_tolerance*"])


def test_corrupt_baseline_fails_naming_the_file(matrix_test: pytest.Pytester, shared_cache: Path) -> None:
    directory = matrix_test.path / "baselines"
    directory.mkdir()
    (directory / "fully_connected-fp32.json").write_text("{ hand edited")
    result = _run(matrix_test, shared_cache, f"--litert-baseline={directory}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*fully_connected-fp32.json: not valid JSON*"])


def test_unused_baselines_are_reported(matrix_test: pytest.Pytester, shared_cache: Path) -> None:
    directory = matrix_test.path / "baselines"
    flag = f"--litert-baseline={directory}"
    _run(matrix_test, shared_cache, flag)
    (directory / "retired_op-fp32.json").write_text((directory / "fully_connected-fp32.json").read_text())
    result = _run(matrix_test, shared_cache, flag)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*unused*retired_op-fp32.json*"])


def test_report_json_has_one_record_per_cell_and_the_toolchain(matrix_test: pytest.Pytester,
                                                               shared_cache: Path) -> None:
    report = matrix_test.path / "report.json"
    _run(matrix_test, shared_cache, f"--litert-report-json={report}").assert_outcomes(passed=1)
    document = json.loads(report.read_text())
    assert document["toolchain"]["tensorflow"] != "missing"
    [cell] = document["cells"]
    assert (cell.get("cell") or cell.get("cell_id")) == "fully_connected-fp32"
    assert cell["status"] == "pass"

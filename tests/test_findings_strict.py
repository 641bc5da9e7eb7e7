"""Known findings are strict: one whose check ran and passed no longer reproduces and fails
its cell, naming the entry to remove; --litert-findings=report (an upgrade survey) reports it
and passes. The stale finding is made up (a fake entry in matrix/cells.py's table): no real
finding can be made to stop reproducing on demand."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pytest_litert.judge.verdict import Status
from pytest_litert.matrix import cells
from pytest_litert.matrix.cells import Finding, make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.session import Runner, Settings, evaluate_cell

MADE_UP = Finding("delegation", "expected to take the op", "FAKE: XNNPACK refuses this layer")
MADE_UP_STRUCTURE = Finding("weight_dtype", "INT8", "FAKE: the converter stores INT8 weights")


@pytest.fixture(scope="module")
def built() -> tuple[Runner, CellArtifact]:
    runner = Runner(Settings.from_strings(None, None, 0, None, "inprocess"))
    artifact = runner.build(make_cell(OPS["fully_connected"], RECIPES["fp32"]))
    assert isinstance(artifact, CellArtifact)
    return runner, artifact


@pytest.mark.parametrize("finding", [MADE_UP, MADE_UP_STRUCTURE], ids=["check", "structure"])
def test_a_finding_that_no_longer_reproduces_fails_naming_its_entry(built: tuple[Runner, CellArtifact],
                                                                    finding: Finding) -> None:
    runner, artifact = built
    cell = dataclasses.replace(make_cell(OPS["fully_connected"], RECIPES["fp32"]), findings=(finding,))
    strict = evaluate_cell(cell, artifact, runner.target(), strict_findings=True)
    assert strict.status == Status.FAIL
    stale = next(c for c in strict.checks if c.name == "findings")
    assert "_FINDINGS[('fully_connected', 'fp32')]" in stale.message and "FAKE" in stale.message
    survey = evaluate_cell(cell, artifact, runner.target(), strict_findings=False)
    assert survey.status == Status.PASS
    assert "reported, not failed" in next(c for c in survey.checks if c.name == "findings").message


def test_a_finding_that_reproduces_is_not_stale(built: tuple[Runner, CellArtifact]) -> None:
    """batch_matmul_const-dynamic_int8: the converter quantizes the 3-D constant per-tensor (a
    real, structural finding): strict judging keeps it an expected failure."""
    runner, _ = built
    cell = make_cell(OPS["batch_matmul_const"], RECIPES["dynamic_int8"])
    artifact = runner.build(cell)
    assert isinstance(artifact, CellArtifact)
    verdict = evaluate_cell(cell, artifact, runner.target(), strict_findings=True)
    assert verdict.status == Status.FINDING, verdict.explain()
    assert all(c.name != "findings" for c in verdict.checks)


def test_a_finding_that_varies_is_never_stale(built: tuple[Runner, CellArtifact]) -> None:
    runner, artifact = built
    varies = dataclasses.replace(MADE_UP, varies="FAKE: depends on the calibration data")
    cell = dataclasses.replace(make_cell(OPS["fully_connected"], RECIPES["fp32"]), findings=(varies,))
    assert evaluate_cell(cell, artifact, runner.target(), strict_findings=True).status == Status.PASS


def test_the_option_in_a_session(matrix_test: pytest.Pytester, shared_cache: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cells._FINDINGS, ("fully_connected", "fp32"), (MADE_UP,))
    args = ("-m", "not sme2", "--litert-ops=fully_connected", "--litert-recipes=fp32",
            f"--litert-cache-dir={shared_cache}", "--litert-target=inprocess")
    strict = matrix_test.runpytest(*args)
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*no longer reproduce; remove them from _FINDINGS[[]('fully_connected', 'fp32')[]]*"])
    matrix_test.runpytest(*args, "--litert-findings=report").assert_outcomes(passed=1)


def test_a_bad_mode_names_the_flag(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--litert-findings=lenient")
    result.stderr.fnmatch_lines(["*--litert-findings: findings must be one of strict, report, got 'lenient'*"])

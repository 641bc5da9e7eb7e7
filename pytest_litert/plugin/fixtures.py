"""The fixtures users' tests take, and `assert_verdict`. Heavy modules load on first use."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

import pytest

from pytest_litert.judge.status import Status
from pytest_litert.plugin import options, state
from pytest_litert.plugin.summary import SUMMARY_PROPERTY

if TYPE_CHECKING:
    from pytest_litert.judge.verdict import Verdict
    from pytest_litert.matrix.cells import Cell
    from pytest_litert.model.artifact import CellArtifact
    from pytest_litert.model.flatbuffer import ModelInspection
    from pytest_litert.plugin.properties import PropertyHarness
    from pytest_litert.session import Runner


@pytest.fixture(scope="session")
def litert_svl() -> int | None:
    """The streaming vector length under test (parametrized by --litert-svl), else None."""
    return None


@pytest.fixture(scope="session")
def litert_runner(pytestconfig: pytest.Config) -> Runner:
    """Converts through the cache and runs cells on the selected target."""
    return state.runner(pytestconfig)


@dataclasses.dataclass(frozen=True)
class LitertModel:
    """A converted cell: its .tflite bytes, what they contain, and the Keras reference."""

    cell: Cell
    artifact: CellArtifact

    @property
    def tflite(self) -> bytes:
        return self.artifact.model

    @property
    def inspection(self) -> ModelInspection:
        return self.artifact.inspection


@pytest.fixture(scope="session")
def litert_model(litert_cell: Cell, litert_runner: Runner) -> LitertModel:
    return _convert(litert_cell, litert_runner)


def _convert(cell: Cell, runner: Runner) -> LitertModel:
    from pytest_litert.judge.verdict import Verdict

    built = runner.build(cell)
    if isinstance(built, Verdict):
        assert_verdict(built)  # skips (missing dependency) or fails (conversion error)
        raise AssertionError(f"unreachable: {built.status}")
    return LitertModel(cell, built)


@pytest.fixture
def litert_verdict(request: pytest.FixtureRequest, litert_model: LitertModel, litert_runner: Runner,
                   litert_svl: int | None) -> Verdict:
    """The judged cell; recorded for the summary table (also across xdist workers)."""
    return _judge(request, litert_model, litert_runner, litert_svl)


@pytest.fixture
def litert_sme2_verdict(request: pytest.FixtureRequest, litert_sme2_cell: Cell, litert_runner: Runner,
                        litert_svl: int | None) -> Verdict:
    """A seed SME2 cell judged on a target with SME2 (the test skips before this without it);
    on the emulated target the verdict includes the kernel proof and the NEON A/B lane."""
    return _judge(request, _convert(litert_sme2_cell, litert_runner), litert_runner, litert_svl)


def _judge(request: pytest.FixtureRequest, model: LitertModel, runner: Runner, svl: int | None) -> Verdict:
    from pytest_litert.report.table import CellSummary
    from pytest_litert.session import TargetUnavailable

    try:
        verdict = runner.evaluate(model.cell, model.artifact, svl)
    except TargetUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    summary = CellSummary.of(verdict)
    request.node.user_properties.append((SUMMARY_PROPERTY, json.dumps(summary.as_dict())))
    request.config.stash[state.recorder_key].judge(request.node, model.cell, model.artifact, verdict)
    return verdict


@pytest.fixture(scope="session")
def litert_properties(pytestconfig: pytest.Config, litert_runner: Runner) -> PropertyHarness:
    """Judges hypothesis-drawn (shape, weights, inputs) examples; writes repro bundles."""
    from pytest_litert.plugin.properties import PropertyHarness

    return PropertyHarness(litert_runner, options.artifacts_dir(pytestconfig))  # made here, not in every session


def assert_verdict(verdict: Verdict) -> None:
    """Map a verdict onto pytest outcomes: fail, skip (not produced), xfail (finding)."""
    if verdict.status == Status.FAIL:
        pytest.fail(verdict.explain(), pytrace=False)
    if verdict.status in {Status.NOT_PRODUCED, Status.SKIPPED}:
        pytest.skip(verdict.reason)
    if verdict.status == Status.FINDING:
        pytest.xfail(f"known finding: {verdict.reason}")

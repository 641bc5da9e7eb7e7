"""`pytest --litert-model=m.tflite --litert-reference=m.keras`: tests named after the model.

Each model path joins the session's arguments and is collected as its own file, so its tests
read `models/m.tflite::check` in the report, in -k and in JUnit, not an id inside the plugin's
package. A single-layer model is one `check` test, judged exactly as `pytest_litert.check`
does; a whole model is one test per operator of a kind the matrix knows
(`models/m.tflite::op012-CONV_2D`), all judged by one `check_model` run, whose summary (and
where SME2 ran) closes the terminal report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_litert.plugin import state
from pytest_litert.plugin.fixtures import assert_verdict

if TYPE_CHECKING:
    from pytest_litert.judge.model_verdict import ModelVerdict

MODEL_SUMMARY = "litert_model_summary"
_verdict_key = pytest.StashKey["ModelVerdict"]()


class UserModelFile(pytest.File):
    """A --litert-model file: one `check` test, or one test per matrix operator of a whole model."""

    def __init__(self, *, reference: Path | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reference = reference

    def collect(self) -> list[pytest.Item]:
        operators = matrix_operators(self.path)
        if operators is None:
            return [UserModelItem.from_parent(self, name="check", reference=self.reference)]
        return [ModelOpItem.from_parent(self, name=name, op_index=index) for index, name in operators]

    def model_verdict(self) -> ModelVerdict:
        """The whole model judged once, for all of its tests."""
        if _verdict_key not in self.stash:
            from pytest_litert.wholemodel import check_model

            runner = state.runner(self.config)
            self.stash[_verdict_key] = check_model(self.path, self.reference, seed=runner.settings.seed,
                                                   target=runner.target(runner.settings.svls[0]))
        return self.stash[_verdict_key]


def matrix_operators(path: Path) -> list[tuple[int, str]] | None:
    """(index, `op012-CONV_2D`) of a whole model's matrix operators; None for a model that is one
    layer (judged by `check` as before). A file that cannot be read is left to the test to name."""
    from pytest_litert.judge.model_verdict import op_id
    from pytest_litert.model.flatbuffer import ModelFormatError, inspect_model
    from pytest_litert.model.graph import MATRIX_OP_CODES, ModelGraph
    from pytest_litert.usermodel import ModelMismatchError, single_layer

    try:
        inspection = inspect_model(path.read_bytes())
        if single_layer(inspection):
            return None
    except (ModelFormatError, ModelMismatchError, OSError):
        return None
    graph = ModelGraph.of(inspection)
    return [(op.index, op_id(position, op.op_code)) for position, op in enumerate(graph.own_operators())
            if op.op_code in MATRIX_OP_CODES]


class UserModelItem(pytest.Item):
    def __init__(self, *, reference: Path | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reference = reference

    def runtest(self) -> None:
        from pytest_litert.judge.verdict import Verdict
        from pytest_litert.usermodel import check

        runner = state.runner(self.config)
        try:
            verdict = check(self.path, self.reference, seed=runner.settings.seed,
                            target=runner.target(runner.settings.svls[0]))
        except ValueError as error:  # ModelMismatchError, bad inputs: named, not a traceback
            pytest.fail(f"{self.path}: {error}", pytrace=False)
        self.user_properties.append(("litert_user_model", str(self.path)))
        self.user_properties.append(("litert_status", str(verdict.status)))
        if not isinstance(verdict, Verdict):  # a one-layer file without a Keras model: the model's verdict
            self.user_properties.append((MODEL_SUMMARY, verdict.summary()))
            if not verdict:
                pytest.fail(verdict.explain(), pytrace=False)
            return
        assert_verdict(verdict)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        against = self.reference.name if self.reference is not None else "its own file"
        return self.path, None, f"{self.path.name} judged against {against}"


class ModelOpItem(pytest.Item):
    """One matrix operator of a whole model: its cell verdict, as a matrix cell's test."""

    def __init__(self, *, op_index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.op_index = op_index

    def runtest(self) -> None:
        from pytest_litert.judge.model_verdict import INFO, NOT_JUDGED

        assert isinstance(self.parent, UserModelFile)
        try:
            model = self.parent.model_verdict()
        except ValueError as error:
            pytest.fail(f"{self.path}: {error}", pytrace=False)
        self.user_properties.append((MODEL_SUMMARY, model.summary()))
        report = next(op for op in model.ops if op.index == self.op_index)
        self.user_properties.append(("litert_status", report.status))
        if report.status in (NOT_JUDGED, INFO) or report.verdict is None:
            pytest.skip(f"{report.id} not judged: {report.reason}")
        self.user_properties.append(("litert_cell", report.verdict.cell_id))
        assert_verdict(report.verdict)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name} operator {self.name}"


class ModelSummaries:
    """The whole models' summary lines at the end of the terminal report."""

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == MODEL_SUMMARY:
                self.lines[report.nodeid.split("::")[0]] = str(value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("LiteRT whole models")
            for line in self.lines.values():
                terminalreporter.write_line(line)


def collect_model(file_path: Path, parent: pytest.Collector) -> UserModelFile | None:
    """The collector for a --litert-model path (None for every other file)."""
    pairs = parent.config.stash.get(state.user_models_key, [])
    found = [ref for model, ref in pairs if model.resolve() == file_path.resolve()]
    if not found:
        return None
    # A model outside the rootdir would get an empty node id: name it by its path instead.
    try:
        shown = str(file_path.resolve().relative_to(parent.config.rootpath))
    except ValueError:
        shown = str(file_path)
    return UserModelFile.from_parent(parent, path=file_path, nodeid=shown, reference=found[0])

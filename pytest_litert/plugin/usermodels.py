"""`pytest --litert-model=m.tflite --litert-reference=m.keras`: one test per model, named after it.

Each model path joins the session's arguments and is collected as its own file, so its test
reads `models/m.tflite::check` in the report, in -k and in JUnit, not an id inside the
plugin's package. The test judges the model exactly as `pytest_litert.check` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_litert.plugin import state
from pytest_litert.plugin.fixtures import assert_verdict


class UserModelFile(pytest.File):
    """A --litert-model file: one `check` test against its --litert-reference."""

    def __init__(self, *, reference: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reference = reference

    def collect(self) -> list[pytest.Item]:
        return [UserModelItem.from_parent(self, name="check", reference=self.reference)]


class UserModelItem(pytest.Item):
    def __init__(self, *, reference: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reference = reference

    def runtest(self) -> None:
        from pytest_litert.usermodel import check

        runner = state.runner(self.config)
        try:
            verdict = check(self.path, self.reference, seed=runner.settings.seed,
                            target=runner.target(runner.settings.svls[0]))
        except ValueError as error:  # ModelMismatchError, bad inputs: named, not a traceback
            pytest.fail(f"{self.path}: {error}", pytrace=False)
        self.user_properties.append(("litert_user_model", str(self.path)))
        self.user_properties.append(("litert_status", str(verdict.status)))
        assert_verdict(verdict)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name} judged against {self.reference.name}"


def collect_model(file_path: Path, parent: pytest.Collector) -> UserModelFile | None:
    """The collector for a --litert-model path (None for every other file)."""
    pairs = parent.config.stash.get(state.user_models_key, [])
    reference = next((ref for model, ref in pairs if model.resolve() == file_path.resolve()), None)
    if reference is None:
        return None
    # A model outside the rootdir would get an empty node id: name it by its path instead.
    try:
        shown = str(file_path.resolve().relative_to(parent.config.rootpath))
    except ValueError:
        shown = str(file_path)
    return UserModelFile.from_parent(parent, path=file_path, nodeid=shown, reference=reference)

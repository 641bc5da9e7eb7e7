"""--litert-draws=N judges only the first N input draws of each cell: the same verdict inputs, fewer runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_litert.matrix.cells import select_cells
from pytest_litert.session import Runner, Settings
from pytest_litert.settings import SettingError


def test_one_draw_judges_the_first_draw_only(shared_cache: Path) -> None:
    cell = select_cells("fully_connected", "static_int8")[0]
    every = Runner(Settings.parse({"cache_dir": str(shared_cache)})).artifact(cell)
    one = Runner(Settings.parse({"cache_dir": str(shared_cache), "draws": "1"})).artifact(cell)
    assert len(every.model_inputs) == 3 and len(one.model_inputs) == 1
    assert one.model_inputs[0]["x"].tobytes() == every.model_inputs[0]["x"].tobytes()
    assert one.reference_outputs[0].tobytes() == every.reference_outputs[0].tobytes()
    assert one.model == every.model


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_bad_count_names_the_setting(value: str) -> None:
    with pytest.raises(SettingError, match="draws must be a positive count") as caught:
        Settings.parse({"draws": value})
    assert caught.value.key == "draws"


def test_the_option_reaches_the_session(pytester: pytest.Pytester, shared_cache: Path) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--pyargs", "pytest_litert.suite", "-k",
                                           "test_cell", "--litert-ops=fully_connected", "--litert-recipes=fp32",
                                           f"--litert-cache-dir={shared_cache}", "--litert-draws=1",
                                           f"--litert-report-json={pytester.path / 'r.json'}")
    assert result.ret == 0
    import json

    record = json.loads((pytester.path / "r.json").read_text())["cells"][0]
    assert len(record["facts"]["output_digests"]["xnnpack"]) == 1

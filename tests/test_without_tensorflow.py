"""The runtime-only install (`pip install pytest-litert`: LiteRT, numpy, pytest, hypothesis;
no TensorFlow): what needs conversion says which extra to install. .ci/run runs this file in
such a venv; where TensorFlow is installed it is skipped."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pytest_litert.cli import main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None,
                                reason="TensorFlow is installed: these run in the runtime-only venv (.ci/run)")


@pytest.mark.parametrize("command", [["export", "out"], ["matrix"], ["coverage"], ["bench"]])
def test_a_command_that_converts_names_the_extra(command: list[str], capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    assert main([*command[:1], *(str(tmp_path / c) for c in command[1:])]) == 2
    err = capsys.readouterr().err
    assert "needs TensorFlow, which is not installed: pip install 'pytest-litert[convert]'" in err
    assert not (tmp_path / "out").exists()


def test_a_cell_without_a_bundle_fails_naming_the_extra(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--pyargs", "pytest_litert.suite",
                                           "-k", "test_cell and fully_connected-fp32", "--litert-cache-dir=none")
    out = result.stdout.str()
    assert "fully_connected-fp32: fail - converting a cell needs TensorFlow" in out
    assert out.count("pip install 'pytest-litert[convert]', or judge a bundle") >= 2  # the cell and its property
    assert "Traceback" not in out
    result.assert_outcomes(errors=1, failed=1)

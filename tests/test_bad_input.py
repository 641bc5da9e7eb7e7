"""Bad input: a converter error fails the cell with the converter's words; a missing
optional dependency skips with the extra to install; junk bytes are not a model."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from pytest_litert.convert import converter
from pytest_litert.model.artifact import Arrays
from pytest_litert.model.flatbuffer import ModelFormatError, inspect_model
from pytest_litert.session import Runner, Settings


def _runner(ops: str, recipes: str) -> Runner:
    return Runner(Settings.from_strings(ops, recipes, 0, "none", "inprocess"))


def test_converter_error_fails_the_cell_with_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def int8_only_without_calibration(tf: Any, converter: Any, calibration: list[Arrays]) -> None:
        """A recipe the real converter refuses: full integer ops but no representative dataset."""
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    monkeypatch.setitem(converter._RECIPES, "fp32", int8_only_without_calibration)
    runner = _runner("fully_connected", "fp32")
    verdict = runner.evaluate_cell(runner.settings.cells()[0])
    assert verdict.status == "fail"
    assert verdict.reason.startswith("conversion failed: fp32: ")
    assert "representative" in verdict.reason.lower()


def test_missing_quantizer_skips_int4_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_quantizer", None)  # import now raises ImportError
    runner = _runner("fully_connected", "int4")
    verdict = runner.evaluate_cell(runner.settings.cells()[0])
    assert verdict.status == "skipped"
    assert "pip install 'pytest-litert[int4]'" in verdict.reason


@pytest.mark.parametrize("junk", [b"", b"not a model at all", b"\x00\x00\x00\x00TFL3" + b"\xff" * 8])
def test_junk_bytes_are_a_model_format_error(junk: bytes) -> None:
    with pytest.raises(ModelFormatError):
        inspect_model(junk)

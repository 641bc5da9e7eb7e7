"""pytest-litert: the KleidiAI/XNNPACK operator x quantization matrix for LiteRT, as a pytest plugin.

`pytest_litert.check(tflite, keras_model)` judges a model you bring and returns a Verdict (a
single layer) or a ModelVerdict (a whole model, op by op; `check_model`);
`assert_verdict(verdict)` maps it onto pytest outcomes. Everything in `__all__` is public;
the subpackages (spec, build, model, run, judge, report, faults, plugin) are internals.

Names load on first use (PEP 562), so that pytest loading the plugin imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, eagerly, for type checkers
    from pytest_litert.convert.converter import ConversionError, MissingDependencyError
    from pytest_litert.judge.checks import Check
    from pytest_litert.judge.model_verdict import ModelVerdict, OpReport
    from pytest_litert.judge.verdict import Status, Verdict
    from pytest_litert.matrix.cells import Cell, make_cell, select_cells
    from pytest_litert.matrix.ops import OPS, LayerShape
    from pytest_litert.matrix.recipes import RECIPES
    from pytest_litert.model.flatbuffer import ModelFormatError
    from pytest_litert.plugin import assert_verdict
    from pytest_litert.report.record import BaselineError
    from pytest_litert.run.targets import InProcessTarget, RunResult, Target
    from pytest_litert.session import TargetUnavailable
    from pytest_litert.usermodel import ModelMismatchError, check
    from pytest_litert.wholemodel import check_model

__version__ = "0.1.0"

_PUBLIC = {
    "check": "pytest_litert.usermodel",
    "check_model": "pytest_litert.wholemodel",
    "ModelVerdict": "pytest_litert.judge.model_verdict",
    "OpReport": "pytest_litert.judge.model_verdict",
    "ModelMismatchError": "pytest_litert.usermodel",
    "assert_verdict": "pytest_litert.plugin",
    "Verdict": "pytest_litert.judge.verdict",
    "Status": "pytest_litert.judge.verdict",
    "Check": "pytest_litert.judge.checks",
    "Cell": "pytest_litert.matrix.cells",
    "make_cell": "pytest_litert.matrix.cells",
    "select_cells": "pytest_litert.matrix.cells",
    "LayerShape": "pytest_litert.matrix.ops",
    "OPS": "pytest_litert.matrix.ops",
    "RECIPES": "pytest_litert.matrix.recipes",
    "ConversionError": "pytest_litert.convert.converter",
    "MissingDependencyError": "pytest_litert.convert.converter",
    "ModelFormatError": "pytest_litert.model.flatbuffer",
    "TargetUnavailable": "pytest_litert.session",
    "Target": "pytest_litert.run.targets",
    "RunResult": "pytest_litert.run.targets",
    "InProcessTarget": "pytest_litert.run.targets",
    "BaselineError": "pytest_litert.report.record",
}
__all__ = [
    "OPS",
    "RECIPES",
    "BaselineError",
    "Cell",
    "Check",
    "ConversionError",
    "InProcessTarget",
    "LayerShape",
    "MissingDependencyError",
    "ModelFormatError",
    "ModelMismatchError",
    "ModelVerdict",
    "OpReport",
    "RunResult",
    "Status",
    "Target",
    "TargetUnavailable",
    "Verdict",
    "assert_verdict",
    "check",
    "check_model",
    "make_cell",
    "select_cells",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'pytest_litert' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*__all__, "__version__"]

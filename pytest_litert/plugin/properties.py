"""The property-based matrix: any drawn shape and data, judged like a matrix cell.

Drawn examples become artifacts in convert/examples.py (TensorFlow in-process, conversions
cached); a bundle's stored examples need no TensorFlow. A failing example is written as a
repro bundle (repro.py) whose directory the assertion message names; hypothesis replays the
shrunk example last, so the bundle on disk is the minimal one.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from pytest_litert.convert.keras_models import MissingDependencyError
from pytest_litert.judge.verdict import Status, Verdict
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.plugin.repro import pack_arrays
from pytest_litert.session import Runner

if TYPE_CHECKING:
    from pytest_litert.convert.examples import ExampleBuilder
    from pytest_litert.model.bundle import BundledExample

_REPRO = '''"""Reproduce a pytest-litert property failure without pytest: python repro.py"""
import sys
from pathlib import Path

from pytest_litert.plugin.repro import main

sys.exit(main(Path(__file__).resolve().parent))
'''


class PropertyFailure(AssertionError):
    """A drawn example the oracles reject; the message names the repro bundle."""


class PropertyHarness:
    """Judges (cell variant, inputs) examples on the session's runner: drawn ones (converted
    here) or, with --litert-bundle, the bundle's stored ones."""

    def __init__(self, runner: Runner, artifacts_dir: Path) -> None:
        self.runner = runner
        self.artifacts_dir = artifacts_dir
        self._examples: ExampleBuilder | None = None

    def check(self, cell: Cell, float_inputs: dict[str, np.ndarray], svl: int | None = None) -> Verdict:
        """The verdict; raises PropertyFailure (after writing the repro bundle) on a failure."""
        if self._examples is None:
            from pytest_litert.convert.examples import ExampleBuilder

            self._examples = ExampleBuilder(self.runner.artifact)
        try:
            artifact = self._examples.artifact(cell, float_inputs)
        except MissingDependencyError as error:  # no TensorFlow: fail; no ai-edge-quantizer: skip
            if error.extra == "convert":
                pytest.fail(str(error), pytrace=False)
            pytest.skip(str(error))
        return self.judge(cell, artifact, svl)

    def judge_example(self, example: BundledExample, svl: int | None = None) -> Verdict:
        """A bundle's stored example (model/bundle.py); its files checked as it loads."""
        from pytest_litert.model.bundle import BundleError, open_bundle

        assert self.runner.settings.bundle is not None
        try:
            artifact = open_bundle(self.runner.settings.bundle).example_artifact(example)
        except BundleError as error:
            raise PropertyFailure(f"{example.id}: {error}") from None
        return self.judge(example.cell, artifact, svl)

    def judge(self, cell: Cell, artifact: CellArtifact, svl: int | None = None) -> Verdict:
        verdict = self.runner.evaluate(cell, artifact, svl)
        if verdict.status == Status.FAIL:
            bundle = write_bundle(self.artifacts_dir / cell.id, cell, artifact, verdict,
                                  self.runner.settings.target, svl)
            raise PropertyFailure(f"{cell.variant}\n{verdict.explain()}\nrepro bundle: {bundle} "
                                  f"(python {bundle / 'repro.py'})")
        return verdict


def write_bundle(directory: Path, cell: Cell, artifact: CellArtifact, verdict: Verdict, target: str,
                 svl: int | None) -> Path:
    """model.tflite, inputs, Keras weights and reference, the verdict, and repro.py; written
    under a temporary name and swapped in, so readers never see half a bundle."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    (staging / "model.tflite").write_bytes(artifact.model)
    (staging / "inputs.npz").write_bytes(pack_arrays(artifact.model_inputs[0]))
    (staging / "float_inputs.npz").write_bytes(pack_arrays(artifact.float_inputs[0]))
    (staging / "reference.npz").write_bytes(pack_arrays({"output": artifact.reference_outputs[0]}))
    weights = {k: v for k, v in (("kernel", artifact.weights.kernel), ("bias", artifact.weights.bias)) if v is not None}
    (staging / "keras_weights.npz").write_bytes(pack_arrays(weights))
    description = {"op": cell.op.name, "recipe": cell.recipe.name, "shape": cell.shape.as_dict(),
                   "weight_style": cell.weight_style, "target": target, "svl": svl}
    (staging / "cell.json").write_text(json.dumps(description, indent=1, sort_keys=True) + "\n")
    checks = [dataclasses.asdict(check) for check in verdict.checks]
    record = {"status": verdict.status, "reason": verdict.reason, "checks": checks}
    (staging / "verdict.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    (staging / "repro.py").write_text(_REPRO)
    if directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    return directory

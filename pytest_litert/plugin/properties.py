"""The property-based matrix: any drawn shape and data, judged like a matrix cell.

Conversion is the cost (0.1-0.3 s a model), so a model is converted once per (cell,
shape, weight style) through the on-disk cache and its Keras twin is kept in memory;
every input draw then costs a Keras call and a few LiteRT runs. TensorFlow stays
in-process. A failing example is written as a repro bundle (repro.py) whose directory
the assertion message names; hypothesis replays the shrunk example last, so the bundle on
disk is the minimal one.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from pytest_litert.convert.keras_models import build_model, keras_outputs
from pytest_litert.judge.verdict import Status, Verdict
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.model.quantization import dequantize_inputs, quantize_inputs
from pytest_litert.run.worker import pack_arrays
from pytest_litert.session import Runner

_KERAS_MODELS_KEPT = 32
_REPRO = '''"""Reproduce a pytest-litert property failure without pytest: python repro.py"""
import sys
from pathlib import Path

from pytest_litert.plugin.repro import main

sys.exit(main(Path(__file__).resolve().parent))
'''


class PropertyFailure(AssertionError):
    """A drawn example the oracles reject; the message names the repro bundle."""


class PropertyHarness:
    """Judges (cell variant, inputs) examples on the session's runner."""

    def __init__(self, runner: Runner, artifacts_dir: Path) -> None:
        self.runner = runner
        self.artifacts_dir = artifacts_dir
        self._keras: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def artifact(self, cell: Cell, float_inputs: dict[str, np.ndarray]) -> CellArtifact:
        """The cached conversion of `cell`, with `float_inputs` put on the model's input grid
        and the Keras reference computed for them."""
        base = self.runner.artifact(cell)
        inspection = base.inspection
        model_inputs = quantize_inputs(inspection, float_inputs)
        on_grid = dequantize_inputs(inspection, model_inputs)
        reference = keras_outputs(self._keras_model(cell, base), on_grid)
        return dataclasses.replace(base, model_inputs=[model_inputs], float_inputs=[on_grid],
                                   reference_outputs=[reference])

    def check(self, cell: Cell, float_inputs: dict[str, np.ndarray], svl: int | None = None) -> Verdict:
        """The verdict; raises PropertyFailure (after writing the bundle) on a failure."""
        artifact = self.artifact(cell, float_inputs)
        verdict = self.runner.evaluate(cell, artifact, svl)
        if verdict.status == Status.FAIL:
            bundle = write_bundle(self.artifacts_dir / cell.id, cell, artifact, verdict,
                                  self.runner.settings.target, svl)
            raise PropertyFailure(f"{cell.variant}\n{verdict.explain()}\nrepro bundle: {bundle} "
                                  f"(python {bundle / 'repro.py'})")
        return verdict

    def _keras_model(self, cell: Cell, artifact: CellArtifact) -> Any:
        key = (cell.id, cell.shape, cell.weight_style, self.runner.settings.seed)
        if key not in self._keras:
            self._keras[key] = build_model(cell.op, cell.shape, artifact.weights)
            if len(self._keras) > _KERAS_MODELS_KEPT:
                self._keras.popitem(last=False)
        self._keras.move_to_end(key)
        return self._keras[key]


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

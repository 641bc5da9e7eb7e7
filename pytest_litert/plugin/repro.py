"""Rerun a repro bundle (written by properties.write_bundle) without pytest.

Loads the model, the inputs, the Keras weights and reference from the bundle, rebuilds the
cell, runs the same oracles on the same target, prints the verdict and exits 1 if it fails.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np

from pytest_litert.judge.verdict import Status
from pytest_litert.matrix.cells import Cell, make_cell
from pytest_litert.matrix.ops import OPS, LayerShape
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import CellArtifact, LayerWeights
from pytest_litert.session import evaluate_cell, make_target


def pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    """A repro bundle's .npz file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy stub: allow_pickle kwarg
    return buffer.getvalue()


def unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def load(bundle: Path) -> tuple[Cell, CellArtifact, dict[str, object]]:
    description = json.loads((bundle / "cell.json").read_text())
    shape = LayerShape(**description["shape"])
    cell = make_cell(OPS[description["op"]], RECIPES[description["recipe"]], shape)
    cell = cell.with_shape(shape, description["weight_style"])
    weights = unpack_arrays((bundle / "keras_weights.npz").read_bytes())
    artifact = CellArtifact(
        model=(bundle / "model.tflite").read_bytes(),
        weights=LayerWeights(weights.get("kernel"), weights.get("bias")),
        model_inputs=[unpack_arrays((bundle / "inputs.npz").read_bytes())],
        float_inputs=[unpack_arrays((bundle / "float_inputs.npz").read_bytes())],
        reference_outputs=[unpack_arrays((bundle / "reference.npz").read_bytes())["output"]],
    )
    return cell, artifact, description


def main(bundle: Path) -> int:
    cell, artifact, description = load(bundle)
    svl = description.get("svl")
    target = make_target(str(description["target"]), svl if isinstance(svl, int) else None)
    try:
        verdict = evaluate_cell(cell, artifact, target)
    finally:
        target.close()
    print(f"{cell.variant} on {target.name}")
    print(verdict.explain())
    return 1 if verdict.status == Status.FAIL else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))

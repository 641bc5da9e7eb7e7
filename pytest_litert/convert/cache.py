"""On-disk cache of converted cells, so a second run converts nothing and imports no TensorFlow.

Key: cell id, shape, recipe, seed, toolchain versions and the cache format. Each entry is a
directory written under a temporary name and renamed into place, so concurrent writers
(`pytest -n auto`) never see half an entry: the first rename wins, later ones are dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact, LayerWeights
from pytest_litert.model.flatbuffer import ModelFormatError, inspect_model
from pytest_litert.toolchain import versions

FORMAT = 1


class CacheWarning(UserWarning):
    """A cache entry was unreadable and has been rebuilt."""


def cache_key(cell: Cell, seed: int) -> str:
    material = {
        "format": FORMAT,
        "cell": cell.id,
        "shape": cell.shape.as_dict(),
        "seed": seed,
        "toolchain": versions(),
    }
    if cell.weight_style != "uniform":
        material["weights"] = cell.weight_style
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return f"{cell.id}-{digest[:16]}"


class ConversionCache:
    """Directory of converted cells; `None` directory means no caching."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.hits = 0
        self.builds = 0

    def get(self, cell: Cell, seed: int, build: Callable[[Cell, int], CellArtifact]) -> CellArtifact:
        if self.directory is None:
            self.builds += 1
            return build(cell, seed)
        entry = self.directory / cache_key(cell, seed)
        if entry.is_dir():
            try:
                artifact = _read(entry)
                self.hits += 1
                return artifact
            except (OSError, ValueError, KeyError, ModelFormatError) as error:
                warnings.warn(
                    CacheWarning(f"cache entry {entry} is unreadable ({error}); deleted and rebuilt"),
                    stacklevel=2,
                )
                shutil.rmtree(entry, ignore_errors=True)
        artifact = build(cell, seed)
        self.builds += 1
        _write(entry, artifact)
        return artifact


def _read(entry: Path) -> CellArtifact:
    model = (entry / "model.tflite").read_bytes()
    meta = json.loads((entry / "meta.json").read_text())
    if hashlib.sha256(model).hexdigest() != meta["model_sha256"]:
        raise ValueError("model.tflite does not match its recorded sha256 (truncated or edited)")
    inspect_model(model)
    with np.load(entry / "reference.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    draws = meta["draws"]
    names = meta["input_names"]
    return CellArtifact(
        model=model,
        weights=LayerWeights(arrays.get("kernel"), arrays.get("bias")),
        model_inputs=[{n: arrays[f"model_input_{i}_{n}"] for n in names} for i in range(draws)],
        float_inputs=[{n: arrays[f"float_input_{i}_{n}"] for n in names} for i in range(draws)],
        reference_outputs=[arrays[f"reference_{i}"] for i in range(draws)],
    )


def _write(entry: Path, artifact: CellArtifact) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
    try:
        arrays: dict[str, np.ndarray] = {}
        if artifact.weights.kernel is not None:
            arrays["kernel"] = artifact.weights.kernel
        if artifact.weights.bias is not None:
            arrays["bias"] = artifact.weights.bias
        for i, (model_in, float_in, out) in enumerate(
            zip(artifact.model_inputs, artifact.float_inputs, artifact.reference_outputs, strict=True)
        ):
            arrays.update({f"model_input_{i}_{n}": v for n, v in model_in.items()})
            arrays.update({f"float_input_{i}_{n}": v for n, v in float_in.items()})
            arrays[f"reference_{i}"] = out
        np.savez(staging / "reference.npz", **arrays)  # type: ignore[arg-type]  # numpy stub
        meta = {
            "draws": len(artifact.reference_outputs),
            "input_names": sorted(artifact.model_inputs[0]),
            "model_sha256": hashlib.sha256(artifact.model).hexdigest(),
            "toolchain": versions(),
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=1))
        (staging / "model.tflite").write_bytes(artifact.model)
        os.rename(staging, entry)
    except OSError:
        if not entry.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

"""A CellArtifact on disk: model.tflite, reference.npz (weights, inputs, Keras outputs), meta.json.

One format for the conversion cache (convert/cache.py) and the exported bundle (model/bundle.py),
read with numpy and the flatbuffer reader only, so a device without TensorFlow can load it.
Reading checks the model against its recorded sha256 and names the file that is missing or
damaged, so a truncated copy is a clear error rather than a wrong verdict.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from pytest_litert.model.artifact import CellArtifact, LayerWeights
from pytest_litert.model.flatbuffer import ModelFormatError

FILES = ("model.tflite", "reference.npz", "meta.json")


class StorageError(ValueError):
    """A stored artifact is missing a file or holds a damaged one; the message names it."""


def save(directory: Path, artifact: CellArtifact, extra: dict[str, Any] | None = None) -> None:
    """Write the artifact's three files into `directory` (which must exist)."""
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
    np.savez(directory / "reference.npz", **arrays)  # type: ignore[arg-type]  # numpy stub
    meta = {
        "draws": len(artifact.reference_outputs),
        "input_names": sorted(artifact.model_inputs[0]),
        "model_sha256": hashlib.sha256(artifact.model).hexdigest(),
        "reference_sha256": sha256_of(directory / "reference.npz"),
        **(extra or {}),
    }
    (directory / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    (directory / "model.tflite").write_bytes(artifact.model)


def load(directory: Path) -> CellArtifact:
    """The artifact stored in `directory`; StorageError naming the missing or damaged file."""
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise StorageError(f"{directory}: {', '.join(missing)} missing")
    meta = _meta(directory)
    model = (directory / "model.tflite").read_bytes()
    if hashlib.sha256(model).hexdigest() != meta["model_sha256"]:
        raise StorageError(f"{directory / 'model.tflite'} does not match its recorded sha256 (truncated or edited)")
    if "reference_sha256" in meta and sha256_of(directory / "reference.npz") != meta["reference_sha256"]:
        raise StorageError(f"{directory / 'reference.npz'} does not match its recorded sha256 (truncated or edited)")
    try:
        with np.load(directory / "reference.npz", allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        draws, names = int(meta["draws"]), list(meta["input_names"])
        artifact = CellArtifact(
            model=model,
            weights=LayerWeights(arrays.get("kernel"), arrays.get("bias")),
            model_inputs=[{n: arrays[f"model_input_{i}_{n}"] for n in names} for i in range(draws)],
            float_inputs=[{n: arrays[f"float_input_{i}_{n}"] for n in names} for i in range(draws)],
            reference_outputs=[arrays[f"reference_{i}"] for i in range(draws)],
        )
        _ = artifact.inspection  # parsed here, so a damaged model is a StorageError; kept for the run
        return artifact
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, ModelFormatError) as error:
        raise StorageError(f"{directory}: unreadable ({type(error).__name__}: {error})") from error


def _meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / "meta.json").read_text())
    except (OSError, ValueError) as error:
        raise StorageError(f"{directory / 'meta.json'}: unreadable ({error})") from error
    if not isinstance(meta, dict) or not {"draws", "input_names", "model_sha256"} <= set(meta):
        raise StorageError(f"{directory / 'meta.json'}: not an artifact description (keys missing)")
    return meta


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

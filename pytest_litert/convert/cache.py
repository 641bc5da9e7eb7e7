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

from pytest_litert.matrix.cells import Cell
from pytest_litert.model import storage
from pytest_litert.model.artifact import CellArtifact
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

    def holds(self, cell: Cell, seed: int) -> bool:
        """Whether `get` would find the cell here (an unreadable entry is found, then rebuilt)."""
        return self.directory is not None and (self.directory / cache_key(cell, seed)).is_dir()

    def get(self, cell: Cell, seed: int, build: Callable[[Cell, int], CellArtifact]) -> CellArtifact:
        if self.directory is None:
            self.builds += 1
            return build(cell, seed)
        entry = self.directory / cache_key(cell, seed)
        if entry.is_dir():
            try:
                artifact = storage.load(entry)
                self.hits += 1
                return artifact
            except storage.StorageError as error:
                warnings.warn(
                    CacheWarning(f"cache entry {entry} is unreadable ({error}); deleted and rebuilt"),
                    stacklevel=2,
                )
                shutil.rmtree(entry, ignore_errors=True)
        artifact = build(cell, seed)
        self.builds += 1
        _write(entry, artifact)
        return artifact


def _write(entry: Path, artifact: CellArtifact) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=entry.parent))
    try:
        storage.save(staging, artifact, {"toolchain": versions()})
        os.rename(staging, entry)
    except OSError:
        if not entry.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

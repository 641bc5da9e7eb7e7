"""Settings and shared state of one run, used by both the pytest plugin and the CLI."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from pytest_litert.build import CellArtifact, build_artifact
from pytest_litert.cache import ConversionCache
from pytest_litert.convert import ConversionError, MissingDependencyError
from pytest_litert.evaluate import Verdict, evaluate_cell, failed
from pytest_litert.matrix import Cell, select_cells
from pytest_litert.targets import InProcessTarget, Target, host_target

TARGETS = ("host", "inprocess")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-litert" / "cells"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a run covers; `from_strings` raises ValueError naming the bad value."""

    ops: tuple[str, ...]
    recipes: tuple[str, ...]
    seed: int
    cache_dir: Path | None
    target: str

    @classmethod
    def from_strings(cls, ops: str | None, recipes: str | None, seed: str | int | None,
                     cache_dir: str | None, target: str | None) -> Settings:
        cells = select_cells(ops, recipes)  # validates both lists
        try:
            seed_value = int(seed) if seed not in (None, "") else 0
        except ValueError:
            raise ValueError(f"seed must be an integer, got {seed!r}") from None
        target = target or "host"
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}")
        directory = None if cache_dir in ("none", "off") else Path(cache_dir) if cache_dir else default_cache_dir()
        return cls(
            ops=tuple(dict.fromkeys(c.op.name for c in cells)),
            recipes=tuple(dict.fromkeys(c.recipe.name for c in cells)),
            seed=seed_value,
            cache_dir=directory,
            target=target,
        )

    def cells(self) -> list[Cell]:
        return select_cells(self.ops, self.recipes)


class Runner:
    """Converts (through the cache) and evaluates cells on one target, started lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ConversionCache(settings.cache_dir)
        self._target: Target | None = None

    @property
    def target(self) -> Target:
        if self._target is None:
            self._target = InProcessTarget() if self.settings.target == "inprocess" else host_target()
        return self._target

    def artifact(self, cell: Cell) -> CellArtifact:
        """Raises convert.ConversionError / MissingDependencyError for the caller to report."""
        return self.cache.get(cell, self.settings.seed, build_artifact)

    def evaluate(self, cell: Cell, artifact: CellArtifact) -> Verdict:
        return evaluate_cell(cell, artifact, self.target)

    def evaluate_cell(self, cell: Cell) -> Verdict:
        """Build and judge; a conversion error becomes a failed verdict, not an exception."""
        try:
            artifact = self.artifact(cell)
        except MissingDependencyError as error:
            return Verdict(cell.id, "skipped", (), str(error))
        except ConversionError as error:
            return failed(cell, f"conversion failed: {error}")
        return self.evaluate(cell, artifact)

    def close(self) -> None:
        if self._target is not None:
            self._target.close()
            self._target = None

"""Read an exported bundle (report/export.py writes it): bundle.json, the index, and per cell
a stored artifact (storage.py).

    DIR/bundle.json                  format, toolchain that made it, seed, cells
    DIR/manifest.json                the cells' records (report/record.py), for people and tools
    DIR/<cell>.tflite                the model, for a device's benchmark tool
    DIR/cells/<cell>/                model.tflite, reference.npz (inputs, Keras outputs, weights), meta.json
    DIR/cells/<cell>/examples/<k>/   hypothesis-drawn examples (`export --property-examples N`)

Reading the index needs json only (pytest parses it while configuring); artifacts load on
first use. A cell whose files are missing or damaged fails alone, naming the file; a bundle of
another format is refused once, before any test runs.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_litert.matrix.cells import Cell, make_cell
from pytest_litert.matrix.ops import OPS, LayerShape
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.shapes import DEFAULT_SET
from pytest_litert.model.documents import DocumentError, read_document

if TYPE_CHECKING:
    from pytest_litert.model.artifact import CellArtifact

FORMAT = 1
INDEX = "bundle.json"
KIND = "pytest-litert bundle"
EXPORT_HINT = "re-export it with `pytest-litert export DIR` where TensorFlow is installed"


class BundleError(ValueError):
    """A bundle that cannot be used as asked; the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class BundledExample:
    """One hypothesis-drawn example of a cell: its variant (shape, weight style) and entry."""

    cell: Cell
    index: int
    entry: Path

    @property
    def id(self) -> str:
        return f"{self.cell.id}-example{self.index}"


@dataclasses.dataclass(frozen=True)
class BundledCell:
    cell: Cell
    entry: Path | None  # None: the export could not convert it
    outcome: dict[str, str]  # {"status", "reason"} when entry is None
    examples: tuple[BundledExample, ...]


@dataclasses.dataclass(frozen=True)
class Bundle:
    directory: Path
    toolchain: dict[str, str]
    seed: int
    cells: dict[str, BundledCell]

    def select(self, ops: tuple[str, ...], recipes: tuple[str, ...],
               shape_sets: tuple[str, ...] | None = None) -> list[BundledCell]:
        """The bundle's cells among the selected operators, recipes and shape sets (None: every
        set the bundle holds), in the bundle's order."""
        return [b for b in self.cells.values() if b.cell.op.name in ops and b.cell.recipe.name in recipes
                and (shape_sets is None or b.cell.shape_set in shape_sets)]

    def entry_of(self, cell: Cell) -> BundledCell:
        bundled = self.cells.get(cell.id)
        if bundled is None:
            raise BundleError(f"{self.directory} holds no cell {cell.id}; {EXPORT_HINT} (with that cell selected)")
        return bundled

    def artifact(self, cell: Cell) -> CellArtifact:
        """The stored artifact of a matrix cell."""
        bundled = self.entry_of(cell)
        if bundled.entry is None:
            raise BundleError(f"{cell.id} was not converted when the bundle was made: {bundled.outcome['reason']}")
        return _load(bundled.entry)

    def example_artifact(self, example: BundledExample) -> CellArtifact:
        return _load(example.entry)

    def differs_from(self, runtime: dict[str, str]) -> list[str]:
        """Components whose version here differs from the bundle's (LiteRT and numpy only:
        the runtime side; TensorFlow made the bundle and is not needed here)."""
        return [f"{name} {self.toolchain.get(name, '?')} (bundle) vs {runtime.get(name, '?')} (here)"
                for name in ("ai-edge-litert", "numpy") if self.toolchain.get(name) != runtime.get(name)]


def bundle_line(directory: Path) -> str:
    """What the report header says about a bundle: where, who made it, what differs here."""
    from pytest_litert.toolchain import versions

    bundle = open_bundle(directory)
    made = ", ".join(f"{name} {bundle.toolchain.get(name, '?')}" for name in ("tensorflow", "ai-edge-litert"))
    differs = bundle.differs_from(versions())
    note = f"; toolchain differs, judged anyway: {'; '.join(differs)}" if differs else ""
    return f"bundle {directory} ({len(bundle.cells)} cells, made with {made}){note}"


def _load(entry: Path) -> CellArtifact:
    from pytest_litert.model import storage

    try:
        return storage.load(entry)
    except storage.StorageError as error:
        raise BundleError(f"{error}; {EXPORT_HINT}") from error


@functools.lru_cache(maxsize=4)
def open_bundle(directory: Path) -> Bundle:
    """The bundle's index, checked; BundleError naming what is wrong and how to fix it."""
    index = directory / INDEX
    if not directory.is_dir():
        raise BundleError(f"{directory}: no such directory; make one with `pytest-litert export {directory}`")
    if not index.exists():
        raise BundleError(f"{index} is missing: {directory} is not a bundle; {EXPORT_HINT}")
    try:
        data = read_document(index, KIND, FORMAT, fix=EXPORT_HINT)
    except DocumentError as error:
        raise BundleError(str(error)) from None
    try:
        cells = [_bundled_cell(directory, entry) for entry in data["cells"]]
        return Bundle(directory, dict(data["toolchain"]), int(data["seed"]), {b.cell.id: b for b in cells})
    except (KeyError, TypeError, ValueError) as error:
        raise BundleError(f"{index}: malformed ({type(error).__name__}: {error}); {EXPORT_HINT}") from None


def _bundled_cell(directory: Path, entry: dict[str, Any]) -> BundledCell:
    cell = _cell(entry)
    examples = tuple(
        BundledExample(cell.with_shape(LayerShape(**example["shape"]), example["weight_style"]), k,
                       directory / example["entry"])
        for k, example in enumerate(entry.get("examples", ()))
    )
    path = entry.get("entry")
    return BundledCell(cell, directory / path if path else None, dict(entry.get("outcome") or {}), examples)


def _cell(entry: dict[str, Any]) -> Cell:
    op, recipe = entry["op"], entry["recipe"]
    if op not in OPS or recipe not in RECIPES:
        raise ValueError(f"cell {op}-{recipe} is unknown to this pytest-litert (made by another version?)")
    cell = make_cell(OPS[op], RECIPES[recipe], LayerShape(**entry["shape"]), entry.get("shape_set", DEFAULT_SET),
                     entry.get("shape_label", ""))
    return cell.with_shape(cell.shape, entry.get("weight_style", "uniform"))


def index_entry(cell: Cell, entry: str | None, outcome: dict[str, str] | None,
                examples: list[tuple[Cell, str]]) -> dict[str, Any]:
    """One cell of bundle.json (export.py writes, _bundled_cell reads)."""
    return {
        "cell": cell.id, "op": cell.op.name, "recipe": cell.recipe.name, "shape": cell.shape.as_dict(),
        "shape_set": cell.shape_set, "shape_label": cell.shape_label, "weight_style": cell.weight_style,
        "entry": entry, "outcome": outcome,
        "examples": [{"entry": path, "shape": c.shape.as_dict(), "weight_style": c.weight_style}
                     for c, path in examples],
    }

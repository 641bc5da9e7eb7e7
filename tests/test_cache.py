"""The conversion cache: reuse, no TensorFlow when warm, corrupt entries rebuilt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_litert.convert.artifact import build_artifact
from pytest_litert.convert.cache import CacheWarning, ConversionCache, cache_key
from pytest_litert.matrix.cells import Cell, make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import CellArtifact

CELL = make_cell(OPS["fully_connected"], RECIPES["static_int8"])


def refuse_to_build(cell: Cell, seed: int) -> CellArtifact:
    """Fake builder: the test fails if the cache asks for a conversion."""
    raise AssertionError(f"{cell.id} was converted again")


def test_second_get_converts_nothing(tmp_path: Path) -> None:
    first = ConversionCache(tmp_path).get(CELL, 0, build_artifact)
    again = ConversionCache(tmp_path).get(CELL, 0, refuse_to_build)
    assert again.model == first.model
    assert all((a == b).all() for a, b in zip(again.reference_outputs, first.reference_outputs, strict=True))


def test_key_depends_on_seed_and_shape() -> None:
    bigger = CELL.with_shape(CELL.shape.__class__(m=8, k=64, n=128))
    assert len({cache_key(CELL, 0), cache_key(CELL, 1), cache_key(bigger, 0)}) == 3


def test_corrupt_entry_is_deleted_and_rebuilt(tmp_path: Path) -> None:
    ConversionCache(tmp_path).get(CELL, 0, build_artifact)
    model = tmp_path / cache_key(CELL, 0) / "model.tflite"
    model.write_bytes(model.read_bytes()[:100])
    cache = ConversionCache(tmp_path)
    with pytest.warns(CacheWarning, match="unreadable.*deleted and rebuilt"):
        cache.get(CELL, 0, build_artifact)
    assert cache.builds == 1


def test_warm_run_imports_no_tensorflow(tmp_path: Path) -> None:
    ConversionCache(tmp_path).get(CELL, 0, build_artifact)
    script = (
        "import sys\n"
        "from pytest_litert.session import Runner, Settings\n"
        f"runner = Runner(Settings.from_strings('fully_connected', 'static_int8', 0, {str(tmp_path)!r}, 'host'))\n"
        "verdict = runner.evaluate_cell(runner.settings.cells()[0])\n"
        "runner.close()\n"
        "assert verdict.status == 'pass', verdict.explain()\n"
        "assert runner.cache.builds == 0\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)

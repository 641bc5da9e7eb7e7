"""Shape sets: named sizes per operator, ids that name one model, one property run per cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_litert.matrix.cells import is_primary, select_cells
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.shapes import SHAPE_SETS
from pytest_litert.report.baseline import name_of
from pytest_litert.report.table import CellSummary, render_table


def test_the_seed_set_holds_the_seed_documents_fully_connected_model() -> None:
    # seed/create-litert-models.md: batch_size = 100, input_size = 640, output_size = 1280
    [fc] = SHAPE_SETS["seed"]["fully_connected"]
    assert (fc.shape.m, fc.shape.k, fc.shape.n) == (100, 640, 1280)


@pytest.mark.parametrize("set_name", list(SHAPE_SETS))
def test_every_shape_is_valid_and_keeps_dynamic_range_quantization(set_name: str) -> None:
    for op_name, shapes in SHAPE_SETS[set_name].items():
        op = OPS[op_name]
        assert [s.label for s in shapes] == list(dict.fromkeys(s.label for s in shapes)), "labels are unique"
        for named in shapes:
            op.validate(named.shape)
            if op.constant_weights:  # the converter leaves weights under 1024 elements FLOAT32
                assert op.weight_count(named.shape) >= 1024, (set_name, op_name, named.label)


def test_tiles_cover_one_row_an_odd_reduction_and_tile_multiples() -> None:
    for op_name in ("fully_connected", "batch_matmul", "batch_matmul_const"):
        shapes = {s.label: s.shape for s in SHAPE_SETS["tiles"][op_name]}
        assert shapes["m1"].m == 1
        assert shapes["odd"].k % 2 == 1
        assert all(getattr(shapes["t64"], d) % 64 == 0 for d in ("m", "n"))


def test_ids_gain_the_set_and_the_shape_outside_the_default_set() -> None:
    ids = [c.id for c in select_cells("fully_connected", "fp32", "ci,seed,tiles")]
    assert ids == ["fully_connected-fp32", "fully_connected-fp32-seed", "fully_connected-fp32-tiles-m1",
                   "fully_connected-fp32-tiles-t16", "fully_connected-fp32-tiles-odd", "fully_connected-fp32-tiles-t64"]
    every = [c.id for c in select_cells(shapes="all")]
    assert len(every) == len(set(every)) == sum(len(s) for sets in SHAPE_SETS.values() for s in sets.values()) * len(
        RECIPES)


def test_an_unknown_shape_set_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown shape set 'huge'; valid: ci, seed, tiles"):
        select_cells(shapes="huge")


def test_baselines_of_two_sets_are_separate_files_without_a_digest() -> None:
    ci, seed = select_cells("fully_connected", "static_int8", "ci,seed")
    assert (name_of(ci), name_of(seed)) == ("fully_connected-static_int8", "fully_connected-static_int8-seed")


def test_property_tests_run_once_per_op_and_recipe_under_the_first_set() -> None:
    cells = select_cells("conv2d", "fp32", "tiles,ci")
    assert [c.id for c in cells if is_primary(c, ("tiles", "ci"))] == ["conv2d-fp32-tiles-m1"]


def test_the_table_has_a_row_per_operator_and_shape() -> None:
    cells = select_cells("fully_connected", "fp32,int4", "ci,seed")
    summaries = [CellSummary(c.id, "pass", 0.5, 0.5, "bound", "xnnpack vs keras") for c in cells[:3]]
    lines = render_table(summaries, cells).splitlines()
    assert lines[0].split() == ["op", "\\", "recipe", "fp32", "int4"]
    assert lines[2].split()[0] == "fully_connected" and lines[3].split()[:2] == ["fully_connected-seed", "pass"]
    assert lines[3].split()[-1] == "-"  # fully_connected-int4-seed was not judged


def test_litert_shapes_selects_sets_in_pytest(matrix_test: pytest.Pytester) -> None:
    result = matrix_test.runpytest("--collect-only", "-q", "--litert-ops=fully_connected", "--litert-recipes=fp32",
                                   "--litert-shapes=ci,seed")
    result.stdout.fnmatch_lines(["*test_cell[[]fully_connected-fp32[]]", "*test_cell[[]fully_connected-fp32-seed[]]"])


def test_litert_shapes_ini_key_and_a_bad_value(matrix_test: pytest.Pytester) -> None:
    matrix_test.makeini("[pytest]\nlitert_shapes = seed\n")
    result = matrix_test.runpytest("--collect-only", "-q", "--litert-ops=fully_connected", "--litert-recipes=fp32")
    result.stdout.fnmatch_lines(["*test_cell[[]fully_connected-fp32-seed[]]"])
    result = matrix_test.runpytest("--litert-shapes=bogus")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--litert-shapes: unknown shape set 'bogus'; valid: ci, seed, tiles*"])


def test_cli_matrix_judges_the_seed_model(tmp_path: Path, shared_cache: Path) -> None:
    """The issue's command: the seed's 100 x 640 -> 1280 FULLY_CONNECTED, built and judged."""
    import json

    from pytest_litert.cli import main

    out = tmp_path / "seed.json"
    assert main(["matrix", "--shapes=seed", "--ops=fully_connected", "--recipes=fp32", f"--cache-dir={shared_cache}",
                 "--json", str(out)]) == 0
    [record] = json.loads(out.read_text())["cells"]
    assert record["cell"] == "fully_connected-fp32-seed" and record["status"] == "pass"
    assert record["shape"] == {"m": 100, "k": 640, "n": 1280} and record["shape_set"] == "seed"

"""The property-based matrix: for every selected cell, hypothesis draws the layer's shape,
the weight style and the data; the property is "LiteRT agrees with the Keras model (and the
NumPy model of the file) within the derived bounds". -m sme2 selects the SME2 cells, run
on an SME2 target (or skipped, as for test_sme2_cell).

test_cell_property also runs, in every profile, the explicit examples of BOUNDARY_EXAMPLES:
one pinned shape per operator of each boundary family (one output channel, a 1x1 input under a larger kernel, a
reduction longer than 1/u16), among them the shapes the thorough profile found false
positives at.

With --litert-bundle nothing is drawn (no TensorFlow to convert): test_bundled_example judges
the examples the export drew and stored, on this machine's LiteRT."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pytest_litert.matrix.cells import Cell, is_primary
from pytest_litert.matrix.strategies import BOUNDARY_EXAMPLES, BoundaryExample, draw_example
from pytest_litert.model.bundle import BundledExample
from pytest_litert.plugin import state
from pytest_litert.plugin.profiles import property_settings
from pytest_litert.plugin.properties import PropertyHarness

_BUNDLED = ("hypothesis draws need TensorFlow to convert; with --litert-bundle the bundle's stored examples "
            "run instead (test_bundled_example)")


def _produced(cell: Cell, config: pytest.Config) -> Cell:
    """The cell, skipped before hypothesis starts where this toolchain cannot produce it, or
    where a bundle is judged (nothing converts then)."""
    if cell.not_produced:
        pytest.skip(f"not produced by this toolchain: {cell.not_produced}")
    settings = config.stash[state.settings_key]
    if not is_primary(cell, settings.selected_shape_sets):
        pytest.skip(f"hypothesis draws its own shapes: {cell.op.name}-{cell.recipe.name} runs once, under the "
                    "first selected shape set")
    if config.getoption("litert_bundle", None) or config.getini("litert_bundle"):
        pytest.skip(_BUNDLED)
    return cell


@pytest.fixture(scope="session")
def produced_cell(litert_cell: Cell, pytestconfig: pytest.Config) -> Cell:
    return _produced(litert_cell, pytestconfig)


@pytest.fixture(scope="session")
def produced_sme2_cell(litert_sme2_cell: Cell, pytestconfig: pytest.Config) -> Cell:
    return _produced(litert_sme2_cell, pytestconfig)


def _property(cell: Cell, harness: PropertyHarness, data: st.DataObject | BoundaryExample,
              svl: int | None = None, *, boundaries: bool = True) -> None:
    if isinstance(data, BoundaryExample):
        shape = data.shape_for(cell.op)
        if shape is None:
            return  # the family has no such shape for this operator
        variant = cell.with_shape(shape)
        inputs = data.inputs(cell.op.input_shapes(shape))
    else:
        variant, inputs = draw_example(data, cell, boundaries=boundaries)
    harness.check(variant, inputs, svl)


TestFunction = TypeVar("TestFunction", bound=Callable[..., None])


def _with_boundaries(test: TestFunction) -> TestFunction:
    """One explicit @example per boundary family."""
    for boundary in BOUNDARY_EXAMPLES:
        test = example(data=boundary)(test)
    return test


@_with_boundaries
@property_settings()
@given(data=st.data())
def test_cell_property(produced_cell: Cell, litert_properties: PropertyHarness, data: st.DataObject) -> None:
    _property(produced_cell, litert_properties, data)


@property_settings()
@given(data=st.data())
def test_sme2_cell_property(produced_sme2_cell: Cell, litert_properties: PropertyHarness,
                            litert_svl: int | None, data: st.DataObject) -> None:
    """The ordinary shapes only: the boundary families exercise the oracles, which
    test_cell_property does on every host (on an SME2 host through its SME2 kernels); under
    QEMU they cost several times the emulated lane's time."""
    _property(produced_sme2_cell, litert_properties, data, litert_svl, boundaries=False)


def test_bundled_example(litert_example: BundledExample, litert_properties: PropertyHarness) -> None:
    """A hypothesis-drawn example stored by `export --property-examples`, judged like a drawn one."""
    litert_properties.judge_example(litert_example)


def test_sme2_bundled_example(litert_sme2_example: BundledExample, litert_properties: PropertyHarness,
                              litert_svl: int | None) -> None:
    litert_properties.judge_example(litert_sme2_example, litert_svl)

"""Hooks another plugin or a conftest.py implements to extend pytest-litert without forking it,
registered through `pytest_addhooks` (as pytest-xdist and pytest-benchmark do theirs).

Example (a conftest.py): a target reached some other way, and the matrix at your own shape.

    from pytest_litert import InProcessTarget

    class MyBoard(InProcessTarget):
        name = "my-board"

    def pytest_litert_add_targets():
        return {"my-board": lambda svl: MyBoard()}        # then: --litert-target=my-board

    def pytest_litert_modify_cells(config, cells):
        cells[:] = [c.with_shape(dataclasses.replace(c.shape, m=100)) if c.op.name == "fully_connected" else c
                    for c in cells]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_litert.matrix.cells import Cell
    from pytest_litert.run.targets import Target


@pytest.hookspec
def pytest_litert_add_targets() -> dict[str, Callable[[int | None], Target]]:  # type: ignore[empty-body]
    """Return targets by name: a factory taking the SME streaming vector length (or None) and
    returning an object with `name`, `run(model, inputs, mode) -> RunResult` and `close()`
    (run/targets.py's Target protocol). `--litert-target=<name>` then selects it; every
    check runs on it unchanged. Called once, at configure; the results are merged."""


@pytest.hookspec
def pytest_litert_modify_cells(config: pytest.Config, cells: list[Cell]) -> None:
    """Change the list of cells the matrix fixtures (`litert_cell`, `litert_sme2_cell`) are
    parametrized with, in place: add cells, drop some, or give them other shapes
    (`cell.with_shape(...)`). Called once per parametrized test function."""

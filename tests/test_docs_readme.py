"""The README is a landing page: short, every common task on its first screen, and its matrix table
and counts those of the matrix as it is now (scripts/readme_matrix.py regenerates them)."""

from __future__ import annotations

import itertools
import re

from docs_text import README

from pytest_litert.matrix.cells import select_cells
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES

REGENERATE = "run `python scripts/readme_matrix.py` (it runs `pytest-litert matrix` and rewrites the README's section)"
FIRST_SCREEN = 40
# The common tasks (issue 23), each a command a newcomer finds on the README's first screen.
COMMON_TASKS = {
    "judge the matrix": "pytest --pyargs pytest_litert.suite",
    "SME2 on an SME2 machine": "pytest -m sme2 --litert-require-sme2",
    "SME2 emulated": "--litert-target=qemu-sme2",
    "judge your own model": "pytest-litert check ",
    "gate an upgrade": "--litert-baseline=",
    "bench": "pytest-litert bench ",
    "the SME2 A/B": "SME2 A/B",
    "export a bundle": "pytest-litert export ",
    "the HTML report": "pytest-litert report ",
}


def _text() -> str:
    return README.read_text(encoding="utf-8")


def test_the_readme_is_at_most_200_lines() -> None:
    assert len(_text().splitlines()) <= 200


def test_every_common_task_is_on_the_first_screen() -> None:
    screen = "\n".join(_text().splitlines()[:FIRST_SCREEN])
    missing = [task for task, command in COMMON_TASKS.items() if command not in screen]
    assert not missing, f"not in the README's first {FIRST_SCREEN} lines: {missing}"


def test_the_set_up_commands_are_what_ci_runs() -> None:
    """The README's two commands: the second is the test command `.ci/run` runs (-n auto: every core)."""
    text = _text()
    assert (".venv/bin/pip install '.[int4]' && .venv/bin/pytest-litert export out/ && "
            ".venv/bin/pytest-litert matrix") in text
    assert ".venv/bin/pip install -e '.[test]' && .venv/bin/pytest -p no:cacheprovider -n auto\n" in text
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet -e '.[test]'" in ci and '"$python" -m pytest -p no:cacheprovider "$@"' in ci
    assert "\nrun_pytest .venv/bin/python -n auto\n" in ci


def _table() -> list[list[str]]:
    """The README's matrix table: a header row of recipes, a row per operator (columns by offset)."""
    section = _text().split("<!-- matrix-table", 1)[1].split("<!-- /matrix-table -->", 1)[0]
    lines = section.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    header, rule, rows = lines[0], lines[1], [line for line in lines[2:] if line and not line[0].isupper()
                                              and not line.startswith(("worst", "units"))]
    starts = [match.start() for match in re.finditer(r"-+", rule)]
    cut = [*starts, None]

    def cells(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in itertools.pairwise(cut)]
    return [cells(header), *(cells(row) for row in rows)]


def test_the_readme_table_has_every_operator_and_recipe() -> None:
    header, *rows = _table()
    cells = select_cells()
    rows_expected = list(dict.fromkeys(cell.row for cell in cells))
    assert header[1:] == list(RECIPES), f"the README's recipes are not the matrix's: {REGENERATE}"
    assert [row[0] for row in rows] == rows_expected, f"the README's operators are not the matrix's: {REGENERATE}"


def test_the_readme_table_statuses_are_the_matrix_data() -> None:
    """n/p exactly where the matrix says the toolchain does not produce a cell; xfail only where it
    names a finding; no failure."""
    header, *rows = _table()
    by_id = {cell.id: cell for cell in select_cells()}
    wrong = []
    for row in rows:
        for recipe, entry in zip(header[1:], row[1:], strict=True):
            cell = by_id[f"{row[0]}-{recipe}"]
            status = entry.split()[0] if entry else ""
            if (status == "n/p") != bool(cell.not_produced) or status in {"FAIL", "-", ""} or (
                    status == "xfail" and not cell.findings):
                wrong.append(f"{cell.id}: {entry or 'empty'}")
    assert not wrong, f"the README's table disagrees with the matrix ({REGENERATE}): {wrong}"


def test_the_readme_counts_are_the_matrix_counts() -> None:
    section = _text().split("<!-- matrix-counts", 1)[1].split("<!-- /matrix-counts -->", 1)[0]
    numbers = [int(n) for n in re.findall(r"\*\*(\d+)", section)]
    words = [int(n) for n in re.findall(r"\((\d+) operators x (\d+) recipes, (\d+) of them", section)[0]]
    default, every = select_cells(), select_cells(shapes="all")
    assert numbers == [len(default), len(every)], f"the README's cell counts are stale: {REGENERATE}"
    assert words == [len(OPS), len(RECIPES), sum(cell.sme2 for cell in default)], \
        f"the README's counts are stale: {REGENERATE}"


def test_no_cell_count_is_written_by_hand() -> None:
    """Counts of the current matrix live between the markers only; the prose names none."""
    outside = re.sub(r"<!-- matrix-(counts|table).*?<!-- /matrix-\1 -->", "", _text(), flags=re.S)
    assert not re.findall(r"\b\d+ (?:cells|operators|recipes)\b", outside)

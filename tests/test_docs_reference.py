"""The reference pages hold to the code: every option the plugin registers has a row on
docs/reference/options.md, every `pytest-litert` command and option a row on docs/reference/cli.md
(and every row names a real one); every page is in mkdocs.yml's nav; every figure names its
command and its date."""

from __future__ import annotations

import re

from docs_text import DOCS, REPO, cli_options, registered_options

OPTIONS_PAGE = DOCS / "reference" / "options.md"
CLI_PAGE = DOCS / "reference" / "cli.md"
FIGURES = DOCS / "figures.md"


def _first_columns(text: str) -> list[str]:
    """The first cell of every table row (header and rule rows skipped)."""
    rows = [line for line in text.splitlines() if line.startswith("|") and not re.match(r"\|[-| ]+\|$", line)]
    return [row.split("|")[1] for row in rows]


def _table_cells(text: str) -> list[str]:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [cell for row in rows for cell in row.split("|")[1:3]]


def test_every_pytest_option_and_ini_key_is_on_the_options_page() -> None:
    registered = registered_options()
    cells = " ".join(_table_cells(OPTIONS_PAGE.read_text(encoding="utf-8")))
    documented = set(re.findall(r"`(--litert-[a-z0-9-]+)", cells)) | set(re.findall(r"`(litert_[a-z0-9_]+)`", cells))
    missing = (set(registered.options) | set(registered.ini)) - documented
    assert not missing, f"registered in pytest_litert/plugin/options.py but not on {OPTIONS_PAGE.name}: {missing}"
    stale = documented - set(registered.options) - set(registered.ini)
    assert not stale, f"on {OPTIONS_PAGE.name} but not registered: {stale}"


def _cli_sections() -> dict[str, str]:
    """`## pytest-litert <command> ...` heading -> the section's text."""
    parts = re.split(r"^## pytest-litert (\S+).*$", CLI_PAGE.read_text(encoding="utf-8"), flags=re.M)
    return {name: body for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def test_every_command_has_a_section_on_the_cli_page() -> None:
    assert sorted(_cli_sections()) == sorted(cli_options()), f"commands vs sections of {CLI_PAGE.name}"


def test_every_command_option_is_on_the_cli_page() -> None:
    shared = set(re.findall(r"`(--?[a-z][a-z0-9-]*)", " ".join(
        _first_columns(CLI_PAGE.read_text(encoding="utf-8").split("## pytest-litert", 1)[0]))))
    problems = []
    for name, body in _cli_sections().items():
        rows = _first_columns(body)
        documented = set(re.findall(r"`(--?[a-z][a-z0-9-]*)", " ".join(rows)))
        if any("selection options" in row for row in rows):
            documented |= shared
        actual = cli_options()[name]
        problems += [f"`pytest-litert {name} {option}` has no row" for option in sorted(actual - documented)]
        problems += [f"`pytest-litert {name}` has no option {option}" for option in sorted(documented - actual)]
    assert not problems, f"{CLI_PAGE.name} vs `pytest-litert <command> --help`:\n" + "\n".join(problems)


def test_every_operator_recipe_and_shape_set_is_on_the_matrix_page() -> None:
    from pytest_litert.matrix.ops import OPS
    from pytest_litert.matrix.recipes import RECIPES
    from pytest_litert.matrix.shapes import SHAPE_SETS

    text = (DOCS / "guide" / "matrix.md").read_text(encoding="utf-8")
    missing = [name for name in (*OPS, *RECIPES, *SHAPE_SETS) if f"`{name}`" not in text]
    assert not missing, f"not described on docs/guide/matrix.md: {missing}"


def test_every_page_is_in_the_nav() -> None:
    """mkdocs --strict reports a page left out of the nav too; this says it without mkdocs installed."""
    nav = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", (REPO / "mkdocs.yml").read_text(encoding="utf-8"), re.M))
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert pages - nav == set(), "pages not in mkdocs.yml's nav"
    assert nav - pages == set(), "nav entries without a page"


def test_every_figure_names_its_command_and_date() -> None:
    """Each section of the figures page (a heading with a table, a picture or a bold figure) says
    which command regenerates it and on which day it was measured."""
    sections = re.split(r"^#{2,3} .*$", FIGURES.read_text(encoding="utf-8"), flags=re.M)[1:]
    headings = re.findall(r"^#{2,3} (.*)$", FIGURES.read_text(encoding="utf-8"), flags=re.M)
    bare = []
    for heading, body in zip(headings, sections, strict=True):
        has_figure = "|---" in body or "![" in body or "**" in body or "```text" in body
        has_command = re.search(r"`(python|pytest|pytest-litert|tox|bash) [^`]*`|tox -e \w+", body)
        has_date = re.search(r"\b20\d\d-\d\d-\d\d\b", body)
        if has_figure and not (has_command and has_date):
            bare.append(heading)
    assert not bare, f"figures without their command and date: {bare}"

#!/usr/bin/env python3
"""Regenerate the README's matrix: run `pytest-litert matrix` and write its table, the day, the
toolchain and the cell counts (from `select_cells`) between the README's markers.

    python scripts/readme_matrix.py            # runs the default matrix (the `ci` shapes), rewrites README.md

tests/test_docs_readme.py fails when the README's table or counts no longer match the matrix
(an operator, recipe or shape set added without running this).
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
TABLE = ("<!-- matrix-table: scripts/readme_matrix.py -->", "<!-- /matrix-table -->")
COUNTS = ("<!-- matrix-counts: scripts/readme_matrix.py -->", "<!-- /matrix-counts -->")


def counts_sentence() -> str:
    """The README's cell counts, computed from the matrix data (no conversion, no LiteRT)."""
    from pytest_litert.matrix.cells import select_cells
    from pytest_litert.matrix.ops import OPS
    from pytest_litert.matrix.recipes import RECIPES

    default, every = select_cells(), select_cells(shapes="all")
    sme2 = sum(cell.sme2 for cell in default)
    return (f"The default `ci` shape set has **{len(default)} cells** ({len(OPS)} operators x {len(RECIPES)} "
            f"recipes, {sme2} of them in the seed's SME2 table); `--litert-shapes=all` has **{len(every)}**.")


def matrix_table(extra: list[str]) -> tuple[str, list[str]]:
    """`pytest-litert matrix` run here: its first line (toolchain, seed) and its table."""
    run = subprocess.run([sys.executable, "-m", "pytest_litert.cli", "matrix", *extra],
                         capture_output=True, text=True, check=False)
    lines = run.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("op \\ recipe")), None)
    if start is None or not lines:
        sys.exit(f"pytest-litert matrix printed no table (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("units:"))
    toolchain = re.sub(r"; \d+ jobs?$", "", lines[0].removeprefix("pytest-litert matrix: "))
    return toolchain, lines[start:end + 1]


def replace_between(text: str, markers: tuple[str, str], body: str) -> str:
    pattern = re.compile(re.escape(markers[0]) + r".*?" + re.escape(markers[1]), re.S)
    if not pattern.search(text):
        sys.exit(f"README.md has no {markers[0]} ... {markers[1]} block")
    return pattern.sub(lambda _: f"{markers[0]}\n{body}\n{markers[1]}", text, count=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts-only", action="store_true", help="rewrite the counts, not the table (no run)")
    parser.add_argument("matrix_args", nargs="*", help="passed to pytest-litert matrix (e.g. --cache-dir=DIR)")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    text = replace_between(text, COUNTS, counts_sentence())
    if not args.counts_only:
        toolchain, table = matrix_table(args.matrix_args)
        day = datetime.date.today().isoformat()
        body = (f"`pytest-litert matrix` ({day}, {platform.machine()}; {toolchain}):\n\n```text\n"
                + "\n".join(table) + "\n```")
        text = replace_between(text, TABLE, body)
    README.write_text(text, encoding="utf-8")
    print(f"rewrote {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`pytest-litert merge`: shard run documents joined into one run, as if one process had run it.

A nightly splits the long runs into shards (pytest-split, by recorded durations); each shard
writes `--litert-report-json`. Merged, the table, the HTML report and `diff` read the result
unchanged. Shards of different toolchains, seeds or bundles are refused: one run has one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_litert.matrix.cells import select_cells
from pytest_litert.report.baseline import baseline_name
from pytest_litert.report.record import run_document, stored_part


class MergeError(ValueError):
    """Shards that are not parts of one run; the message names the files and the field."""


def merge(documents: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """One run document of every shard's records, in the matrix's cell order."""
    if not documents:
        raise MergeError("nothing to merge: give the shards' run documents")
    first_name, first = documents[0]
    records: dict[str, dict[str, Any]] = {}
    for name, document in documents:
        if not isinstance(document.get("cells"), list):
            raise MergeError(f"{name}: not a recorded run (`--litert-report-json` or `pytest-litert matrix --json`)")
        for field in ("toolchain", "seed", "bundle"):
            if document.get(field) != first.get(field):
                raise MergeError(f"{name} and {first_name} differ in {field}: {document.get(field)} vs "
                                 f"{first.get(field)}; shards of one run share it")
        for record in document["cells"]:
            key = baseline_name(record)
            if key in records and stored_part(records[key]) != stored_part(record):
                raise MergeError(f"{key} is in two shards with different results (status "
                                 f"{records[key]['status']} vs {record['status']} in {name})")
            records.setdefault(key, record)
    order = {cell.id: position for position, cell in enumerate(select_cells(None, None, "all"))}
    ordered = sorted(records.values(), key=lambda r: (order.get(r["cell"], len(order)), baseline_name(r)))
    return run_document(ordered, first.get("seed"), bundle=first.get("bundle"))


def merge_files(paths: Sequence[Path], out: Path) -> str:
    documents = []
    for path in paths:
        try:
            documents.append((str(path), json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as error:
            raise MergeError(f"{path}: {error}") from None
    merged = merge(documents)
    out.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return f"merged {len(paths)} shard(s), {len(merged['cells'])} cells, into {out}"

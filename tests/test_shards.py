"""A nightly's shards (pytest-split) merged with `pytest-litert merge` equal one unsharded run,
record for record; shards of different runs are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_litert.cli import main
from pytest_litert.report.merge import MergeError, merge
from pytest_litert.report.record import stored_part

SELECTION = ["--litert-ops=fully_connected,transpose_conv", "--litert-recipes=fp32,static_int8,int4",
             "-k", "test_cell"]


def _run(pytester: pytest.Pytester, cache: Path, report: Path, *extra: str) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--pyargs", "pytest_litert.suite",
                                           *SELECTION, f"--litert-cache-dir={cache}",
                                           f"--litert-report-json={report}", *extra)
    assert result.ret == 0, result.stdout.str()[-2000:]


def test_merged_shards_equal_one_run(pytester: pytest.Pytester, shared_cache: Path) -> None:
    whole = pytester.path / "whole.json"
    _run(pytester, shared_cache, whole)
    shards = [pytester.path / f"shard{group}.json" for group in (1, 2)]
    for group, shard in enumerate(shards, 1):
        _run(pytester, shared_cache, shard, "--splits=2", f"--group={group}")
    sizes = [len(json.loads(shard.read_text())["cells"]) for shard in shards]
    assert all(sizes) and sum(sizes) == 6, sizes
    merged_path = pytester.path / "merged.json"
    assert main(["merge", *map(str, shards), "--json", str(merged_path)]) == 0
    merged, one = (json.loads(p.read_text()) for p in (merged_path, whole))
    assert [stored_part(r) for r in merged["cells"]] == sorted(
        (stored_part(r) for r in one["cells"]), key=lambda r: [c["cell"] for c in merged["cells"]].index(r["cell"]))
    assert {k: v for k, v in merged.items() if k != "cells"} == {k: v for k, v in one.items() if k != "cells"}


def test_shards_of_different_runs_are_refused() -> None:
    shard = {"format": 1, "toolchain": {"ai-edge-litert": "2.3.0"}, "seed": 0, "cells": []}
    other = {**shard, "seed": 1}
    with pytest.raises(MergeError, match=r"b\.json and a\.json differ in seed: 1 vs 0"):
        merge([("a.json", shard), ("b.json", other)])
    with pytest.raises(MergeError, match=r"c\.json: not a recorded run"):
        merge([("a.json", shard), ("c.json", {"cells": None, "toolchain": shard["toolchain"], "seed": 0})])

"""Two runs of one bundle agree: same statuses, bitwise-equal outputs per lane and draw.

The unit tests use handmade records (fakes of report files). The last test compares the real
reports of the two emulated SME2 lanes that .ci/run writes: `emulator run -- python -m pytest
... --litert-bundle` (the default host target inside the emulated Linux) and the qemu-sme2
target driven from x86, on the same bundle."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_litert.report.agreement import compare_runs, render

REPORTS_ENV = "PYTEST_LITERT_AGREEMENT_REPORTS"


def _record(status: str = "pass", digests: dict[str, list[str]] | None = None,
            checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"cell": "fully_connected-fp32", "shape": {"m": 8}, "status": status,
            "checks": checks or [{"name": "xnnpack vs keras", "passed": True, "message": "ok"}],
            "facts": {"output_digests": digests or {"xnnpack": ["a1", "b2"], "reference": ["c3", "d4"]}}}


def _run(*records: dict[str, Any]) -> dict[str, Any]:
    return {"cells": list(records)}


def test_identical_runs_agree() -> None:
    rows = compare_runs(_run(_record()), _run(_record()))
    assert [row.agrees for row in rows] == [True]
    assert rows[0].lanes == ("reference", "xnnpack")


def test_one_differing_draw_is_a_difference() -> None:
    other = _record(digests={"xnnpack": ["a1", "XX"], "reference": ["c3", "d4"]})
    (row,) = compare_runs(_run(_record()), _run(other))
    assert row.problems == ("xnnpack outputs differ bitwise (1 of 2 draws)",)


def test_a_lane_only_one_run_has_is_not_compared() -> None:
    neon = _record(digests={"xnnpack": ["a1", "b2"], "reference": ["c3", "d4"], "neon": ["n", "n"]})
    (row,) = compare_runs(_run(_record()), _run(neon))
    assert row.agrees and "neon" not in row.lanes


def test_a_lane_that_ran_on_one_target_only_is_a_difference() -> None:
    (row,) = compare_runs(_run(_record()), _run(_record(digests={"reference": ["c3", "d4"]})))
    assert row.problems == ("lanes run by one target only: xnnpack",)


def test_a_different_status_is_a_difference() -> None:
    (row,) = compare_runs(_run(_record()), _run(_record("fail")))
    assert row.problems == ("status pass vs fail",)


def test_the_kernel_proof_alone_may_differ() -> None:
    proof = {"name": "sme2 kernel", "passed": True, "message": "known finding: no SME2 kernel ran"}
    emulated = _record("finding", checks=[{"name": "xnnpack vs keras", "passed": True, "message": "ok"}, proof])
    (row,) = compare_runs(_run(emulated), _run(_record()))
    assert row.agrees and "only the kernel proof differs" in row.note
    failing_proof = {**proof, "passed": False, "message": "no SME2 kernel ran"}
    (row,) = compare_runs(_run(_record("fail", checks=[failing_proof])), _run(_record()))
    assert not row.agrees  # a failing proof is not a known finding


def test_a_cell_in_one_run_only() -> None:
    rows = compare_runs(_run(_record()), _run())
    assert rows[0].problems == ("only in the first run",)
    assert "DIFFER: only in the first run" in render(rows, "a", "b")


def _reports() -> tuple[Path, Path]:
    value = os.environ.get(REPORTS_ENV, "")
    if not value:
        pytest.skip(f"set {REPORTS_ENV}=GUEST.json{os.pathsep}QEMU.json (two --litert-report-json files of one "
                    "bundle; .ci/run step 5 does)")
    guest, emulated = value.split(os.pathsep)
    return Path(guest), Path(emulated)


def test_the_emulated_linux_and_the_qemu_target_agree() -> None:
    guest_path, emulated_path = _reports()
    guest, emulated = (json.loads(path.read_text()) for path in (guest_path, emulated_path))
    assert {r["target"] for r in guest["cells"]} == {"host"}
    assert {r["target"] for r in emulated["cells"]} == {"qemu-sme2"}
    rows = compare_runs(guest, emulated)
    print(render(rows, "emulated Linux (host target)", "qemu-sme2 target"))
    assert rows, "the reports hold no cells"
    assert all(row.agrees for row in rows), render([r for r in rows if not r.agrees], "guest", "qemu-sme2")
    assert all("reference" in row.lanes for row in rows)
    compared = sum(len(row.lanes) for row in rows)
    print(f"{len(rows)} cells, {compared} lanes compared bitwise")

"""The README's command for an SME2 machine, as an Arm Linux user runs it, and what it proves.

.ci/run step 5 runs that command (read from the README) inside the emulated SME2 Linux on a
bundle exported with the defaults, once as it is and once with `--litert-target=host-nosme`,
and hands the two reports to `test_reports_of_an_sme2_machine`: with SME2 the layers run
XNNPACK's packed KleidiAI operators (the profiler's names), with SME2 hidden none of the
SME-only ones (PF32, PF16, PQS8; QP8 has NEON kernels too), and both compare the two paths.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORTS_ENV = "PYTEST_LITERT_SME2_MACHINE_REPORTS"
SME_ONLY = {"PF32", "PF16", "PQS8"}  # XNNPACK's gemm-config.c: SME / SME2 configurations only


def _readme_command() -> str:
    line = next(line for line in (ROOT / "README.md").read_text().splitlines() if "# on an SME2 machine" in line)
    return line.split("#")[0].strip()


def test_ci_runs_the_readme_command_as_written() -> None:
    command = _readme_command()
    assert command.startswith("pytest -m sme2") and "--pyargs pytest_litert.suite" in command
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m1 '# on an SME2 machine' README.md" in ci
    assert re.search(r"emulator run -- \$sme2_command .*--litert-target=host-nosme", ci)


def _records(path: str) -> list[dict[str, Any]]:
    return list(json.loads(Path(path).read_text())["cells"])


def _operator_type(record: dict[str, Any]) -> str:
    return str(((record.get("kernel_evidence") or {}).get("profile") or {}).get("operator_type", ""))


def _compared_or_lane_failed(record: dict[str, Any]) -> bool:
    """Every cell compares the two lanes, unless a known finding stopped one of them from running
    (batch_matmul_const-fp16: XNNPACK refuses a FLOAT16 constant under the fp16 hint on aarch64)."""
    checks = {c["name"]: c for c in record["checks"]}
    if "sme2~neon" in checks:
        return True
    lane_failed = any(name.endswith(" run") and c["message"].startswith("known finding:")
                      for name, c in checks.items())
    return record["status"] == "finding" and lane_failed


@pytest.mark.skipif(REPORTS_ENV not in os.environ,
                    reason=f"reads the two reports .ci/run step 5 writes (${REPORTS_ENV})")
def test_reports_of_an_sme2_machine() -> None:
    with_sme2, hidden = (_records(path) for path in os.environ[REPORTS_ENV].split(":"))
    for records in (with_sme2, hidden):
        assert records, "an empty report"
        assert {r["status"] for r in records} <= {"pass", "finding"}, [r["cell"] for r in records
                                                                       if r["status"] not in ("pass", "finding")]
        uncompared = [r["cell"] for r in records if not _compared_or_lane_failed(r)]
        assert uncompared == [], "no sme2~neon comparison, though both lanes ran"
    types = {r["cell"]: _operator_type(r) for r in with_sme2}
    assert types["fully_connected-fp32"] == "PF32"
    packed = sorted(cell for cell, kind in types.items() if kind in SME_ONLY)
    print(f"with SME2: {len(packed)} of {len(types)} cells on an SME-only packed operator: {', '.join(packed)}")
    leaked = {r["cell"]: _operator_type(r) for r in hidden if _operator_type(r) in SME_ONLY}
    assert leaked == {}, "SME2 hidden, yet an SME-only packed operator ran"
    print(f"SME2 hidden: operators {sorted({_operator_type(r) or 'unpacked' for r in hidden})}")

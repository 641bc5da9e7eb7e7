"""`pytest-litert check MODEL [REFERENCE]`: judge, print, and write the JSON; the exit code.

A single layer prints its checks and writes its verdict as before; a whole model prints the
per-operator table (report/model_report.py) and writes the run document `pytest-litert diff`
reads, one record per operator plus the model's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pytest_litert.judge.verdict import Status, Verdict
from pytest_litert.report import model_report
from pytest_litert.session import make_target
from pytest_litert.usermodel import check


def run(model: Path, reference: Path | None, *, seed: int, target: str, json_path: Path | None) -> int:
    """0 on a pass or known findings, 1 when a check (of any operator) fails."""
    where = make_target(target)
    try:
        verdict = check(model, reference, seed=seed, target=where)
    finally:
        where.close()
    if not isinstance(verdict, Verdict):
        print(model_report.render(verdict), end="")
        if json_path is not None:
            document = model_report.document(verdict, seed=seed)
            json_path.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")
        return 1 if verdict.status == Status.FAIL else 0
    print(verdict.explain())
    if json_path is not None:
        record = {"model": str(model), "reference": str(reference), "cell": verdict.cell_id,
                  "status": str(verdict.status), "reason": verdict.reason,
                  "checks": [dataclasses.asdict(c) for c in verdict.checks]}
        json_path.write_text(json.dumps(record, indent=1, default=float) + "\n", encoding="utf-8")
    return 1 if verdict.status == Status.FAIL else 0

"""A whole model's verdict for people and for files: the per-operator table and the records.

The table: index, op, inferred recipe, status, worst error as a fraction of its bound, the
XNNPACK operator that ran it (its packed KleidiAI type, if any) and its share of the profiled
time. The records: the matrix's own record format (report/record.py), one per operator, keyed
by position (`op012-CONV_2D`) under the shape set "whole model", plus one record for the model,
so `pytest-litert diff` compares two conversions of one model op by op.
"""

from __future__ import annotations

from typing import Any

from pytest_litert.judge.model_verdict import ModelVerdict, OpReport, profiled_times
from pytest_litert.model.flatbuffer import inspect_model
from pytest_litert.model.layer import main_layer
from pytest_litert.report.baseline import WHOLE_MODEL
from pytest_litert.report.record import FORMAT_VERSION, record_of, run_document
from pytest_litert.toolchain import versions

COLUMNS = ("op", "recipe", "status", "worst", "XNNPACK operator", "time", "Keras layer / note")


def render(verdict: ModelVerdict, *, markdown: bool = False) -> str:
    """The summary line, the per-operator table, then what failed, in full."""
    total, _ = profiled_times(verdict.profile)
    rows = [_row(op, total) for op in verdict.ops]
    lines = [verdict.summary(), *(f"note: {note}" for note in verdict.notes), ""]
    lines += _markdown(rows) if markdown else _aligned(rows)
    lines += [f"Keras layer not matched to any operator: {name}" for name in verdict.unmatched_layers]
    lines += [f"end to end, {pair}: " + ", ".join(f"{k} {v:.3g}" for k, v in metrics.items())
              for pair, metrics in verdict.end_to_end.items()]
    for op in verdict.failures:
        assert op.verdict is not None
        lines += ["", f"FAILED {op.blame()}", op.verdict.explain()]
    return "\n".join(lines) + "\n"


def _row(op: OpReport, total_us: float) -> tuple[str, ...]:
    worst = f"{op.worst:.2f}" if op.worst is not None else "-"
    if op.information:
        worst = f"({_information(op.information)})"
    ran = next((name for name in op.operators if op.packed_type and op.packed_type in name), None)
    shown = (ran or (op.operators[-1] if op.operators else "builtin" if op.time_us is not None else "-"))
    shown = shown.removesuffix(" GEMM").removesuffix(" IGEMM")
    share = f"{op.time_us / total_us:.0%}" if op.time_us is not None and total_us > 0 else "-"
    note = op.keras or op.reason
    return (op.id, op.recipe or "-", op.status, worst, shown, share, note[:90])


def _information(metrics: dict[str, float]) -> str:
    """XNNPACK vs reference on an operator that is not judged, in short."""
    if "max_steps" in metrics:
        return f"x~ref {metrics['max_steps']:g} steps"
    return f"x~ref {metrics.get('max_abs', 0.0):.2g}"


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [COLUMNS, *rows]]


def _markdown(rows: list[tuple[str, ...]]) -> list[str]:
    escape = [tuple(cell.replace("|", "\\|") for cell in row) for row in rows]
    return ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS),
            *("| " + " | ".join(row) + " |" for row in escape)]


def records(verdict: ModelVerdict, *, seed: int | None = None) -> list[dict[str, Any]]:
    """One record per operator (the judged ones as matrix records), then the model's."""
    found = [_op_record(op, verdict, seed) for op in verdict.ops]
    return [*found, _model_record(verdict, seed)]


def document(verdict: ModelVerdict, *, seed: int | None = None) -> dict[str, Any]:
    """The run document `pytest-litert diff` reads (key "cells")."""
    return run_document(records(verdict, seed=seed), seed)


def _op_record(op: OpReport, verdict: ModelVerdict, seed: int | None) -> dict[str, Any]:
    """A judged operator's matrix record, or the short record of one that is not judged."""
    where = {"index": op.index, "op_code": op.op_code, "tensors": list(op.tensors), "keras": op.keras,
             "xnnpack_operators": list(op.operators), "packed_type": op.packed_type, "time_us": op.time_us,
             "reference": "keras" if op.keras and not op.keras.startswith("unmatched") else "file"}
    if op.cell is not None and op.verdict is not None and op.model:
        inspection = inspect_model(op.model)
        record = record_of(op.cell, inspection, main_layer(inspection, op.op_code), op.verdict, seed=seed,
                           details=True)
        record.update({"cell": op.id, "matrix_cell": op.cell.id, "shape_set": WHOLE_MODEL, "model_op": where})
        return record
    cut = inspect_model(op.model) if op.model else None
    return {"format": FORMAT_VERSION, "cell": op.id, "op": op.op_code.lower(), "op_code": op.op_code,
            "recipe": None, "shape": {}, "shape_set": WHOLE_MODEL, "seed": seed, "target": verdict.target,
            "toolchain": versions(), "status": op.status, "failed_checks": [], "numeric": {}, "error": "",
            "structure": None if cut is None else {"op_codes": list(cut.op_codes)},
            "size": None if cut is None else cut.size, "reason": op.reason,
            "information": op.information, "model_op": where}


def _model_record(verdict: ModelVerdict, seed: int | None) -> dict[str, Any]:
    total, packed = profiled_times(verdict.profile)
    return {"format": FORMAT_VERSION, "cell": "model", "op": "model", "op_code": "MODEL", "recipe": None,
            "shape": {}, "shape_set": WHOLE_MODEL, "seed": seed, "target": verdict.target, "toolchain": versions(),
            "status": str(verdict.status), "failed_checks": sorted(op.id for op in verdict.failures),
            "numeric": {}, "error": verdict.reason[:300], "size": None,
            "structure": {"op_codes": [op.op_code for op in verdict.ops]},
            "model": {"name": verdict.model, "reference": verdict.reference, "counts": verdict.counts(),
                      "kernels": verdict.kernel_summary(), "end_to_end": verdict.end_to_end,
                      "profiled_us": total, "packed_us": packed, "unmatched_layers": list(verdict.unmatched_layers),
                      "notes": list(verdict.notes), "seconds": round(verdict.seconds, 2)}}

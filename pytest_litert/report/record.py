"""One versioned JSON record of a cell: baselines, `--litert-report-json`, `matrix --json`,
the export manifest and the run diff all write and read this one shape (docs/records.md).

Tensors are recorded by role and position (graph inputs and outputs; the main layer's
activation, weights, bias and output), never by tensor name or index: those change between
TensorFlow releases even when the model does not (DESIGN.md section 3).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_litert.matrix.recipes import FP16_HINT
from pytest_litert.toolchain import versions

if TYPE_CHECKING:
    from pytest_litert.judge.verdict import Verdict
    from pytest_litert.matrix.cells import Cell
    from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo
    from pytest_litert.model.layer import MainLayer

FORMAT_VERSION = 1
SCALE_DIGITS = 4  # scales enter the digest rounded to 4 significant digits (relative precision 5e-4)
NOT_JUDGED = "not judged"  # the status of an export manifest's records
VOLATILE = ("checks", "facts", "kernel_evidence")  # details a baseline does not keep (machine-dependent)
UPDATE_HINT = "rerun with --litert-baseline-update to regenerate it"
RUNTIME_VERSION = "min_runtime_version"
# Older format -> function returning the record in the next format; empty until a format changes.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
_REQUIRED: dict[str, tuple[type, ...]] = {
    "format": (int,), "cell": (str,), "status": (str,), "structure": (dict, type(None)),
    "size": (int, type(None)), "numeric": (dict,), "failed_checks": (list,), "toolchain": (dict,),
}




class BaselineError(ValueError):
    """A record file (a baseline, a recorded run) that cannot be read; the message names the file."""


def record_of(cell: Cell, inspection: ModelInspection | None, layer: MainLayer | None, verdict: Verdict | None,
              *, seed: int | None = None, details: bool = False) -> dict[str, Any]:
    """The cell's record. `inspection` None: conversion failed (the record keeps the error);
    `verdict` None: converted but not judged (the export manifest). `details` adds every
    check, the run facts and the kernel evidence (LiteRT's profiler: the XNNPACK operators
    that ran), which baselines leave out (VOLATILE)."""
    shape = cell.shape.as_dict()
    facts = verdict.facts if verdict is not None else {}
    checks = verdict.checks if verdict is not None else ()
    delegated = _delegated(layer, facts.get("xnnpack", {}))
    failed = verdict is not None and verdict.status == "fail" and verdict.reason
    record: dict[str, Any] = {
        "format": FORMAT_VERSION, "cell": cell.id, "op": cell.op.name, "op_code": cell.op.op_code,
        "recipe": cell.recipe.name, "shape": {name: shape[name] for name in cell.op.fields},
        "shape_set": cell.shape_set, "shape_label": cell.shape_label,
        "seed_table_row": str(cell.seed_row) if cell.seed_row else None, "kleidiai_sme2": cell.sme2,
        "seed": seed, "target": facts.get("target"), "toolchain": versions(),
        "structure": None if inspection is None else structure_of(inspection, layer),
        "size": None if inspection is None else inspection.size,
        "delegated": None if delegated is None else bool(delegated),
        "status": str(verdict.status) if verdict is not None else NOT_JUDGED,
        "failed_checks": sorted(c.name for c in checks if not c.passed),
        "numeric": {c.name: {"worst": _round(c.worst), "units": _round(c.units), "unit": c.unit}
                    for c in checks if _reference_check(c.name) and c.worst is not None},
        "error": verdict.reason.splitlines()[0][:300] if failed and verdict is not None else "",
    }
    if details:
        record["checks"] = [{k: v for k, v in dataclasses.asdict(c).items() if v not in (None, "", {})}
                            for c in checks]
        evidence = verdict.kernel_evidence() if verdict is not None else {}
        record["facts"] = json.loads(json.dumps({k: v for k, v in facts.items() if k != "kernel_evidence"},
                                                default=str))
        record["kernel_evidence"] = json.loads(json.dumps(evidence, default=str))
    return record


def _reference_check(name: str) -> bool:
    from pytest_litert.judge.verdict import is_reference_check

    return is_reference_check(name)


def _delegated(layer: MainLayer | None, facts: dict[str, Any]) -> bool | None:
    """XNNPACK took the main operator (its output is a DELEGATE node's), where the run says."""
    from pytest_litert.model.layer import delegate_covers

    covers = delegate_covers(layer, facts)
    return covers if covers is not None else facts.get("delegated")


def run_document(records: list[dict[str, Any]], seed: int | None, *, key: str = "cells",
                 bundle: dict[str, Any] | None = None) -> dict[str, Any]:
    """The file around a run's records (`--litert-report-json`, `matrix --json`, the manifest).
    A run judging a bundle also records the bundle and the toolchain that made it."""
    document = {"format": FORMAT_VERSION, "toolchain": versions(), "seed": seed, key: records}
    if bundle is not None:
        document["bundle"] = bundle
    return document


def stored_part(record: dict[str, Any]) -> dict[str, Any]:
    """What a baseline keeps: the record without the VOLATILE details."""
    return {key: value for key, value in record.items() if key not in VOLATILE}


def structure_of(inspection: ModelInspection, layer: MainLayer | None) -> dict[str, Any]:
    """What the converter produced, by role: stable across tensor renumbering and renaming."""
    names = {index: name for name, index in inspection.signature_inputs.items()}
    by_name = set(inspection.inputs) <= set(names)
    tensors = {
        f"input {names[index] if by_name else position}": _tensor(inspection.tensors[index])
        for position, index in enumerate(inspection.inputs)
    }
    tensors.update({f"output {p}": _tensor(inspection.tensors[i]) for p, i in enumerate(inspection.outputs)})
    if layer is not None:
        tensors["op activation"] = _tensor(layer.data)
        tensors["op weights"] = _tensor(layer.weights, "weights" in layer.behind_dequantize)
        if layer.bias is not None:
            tensors["op bias"] = _tensor(layer.bias, "bias" in layer.behind_dequantize)
        tensors["op output"] = _tensor(layer.output)
    return {
        "op_codes": list(inspection.op_codes),
        "fused_activation": layer.fused_activation if layer is not None else None,
        "tensors": tensors,
        "constant_bytes": sum(len(data) for data in inspection.buffers),
        "metadata_keys": sorted(inspection.metadata),
        "fp16_hint": _text(inspection.metadata.get(FP16_HINT)),
        "min_runtime_version": _text(inspection.metadata.get(RUNTIME_VERSION)),
    }


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.rstrip(b"\0").decode(errors="replace")


def _tensor(stored: TensorInfo, behind_dequantize: bool = False) -> dict[str, Any]:
    """dtype, shape, quantization summary of a (stored) tensor."""
    entry: dict[str, Any] = {"dtype": stored.dtype, "shape": list(stored.shape), "granularity": stored.granularity,
                             "constant": stored.constant}
    if behind_dequantize:
        entry["behind"] = "DEQUANTIZE"
    if stored.scales:
        entry["n_scales"] = len(stored.scales)
        entry["quantized_dimension"] = stored.quantized_dimension
        rounded = [float(f"{s:.{SCALE_DIGITS - 1}e}") for s in stored.scales]
        material = json.dumps([rounded, list(stored.zero_points)]).encode()
        entry["quant_digest"] = hashlib.sha256(material).hexdigest()[:16]
    return entry


def _round(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


def load_record(path: Path) -> dict[str, Any]:
    """Read, validate and (where trivially possible) migrate a record; BaselineError otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BaselineError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                            f"fix the file or {UPDATE_HINT}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(f"{path}: cannot be read: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("format"), int):
        raise BaselineError(f"{path}: not a pytest-litert baseline (no integer 'format' key); {UPDATE_HINT}")
    data = _migrate(path, data)
    for key, types in _REQUIRED.items():
        if key not in data:
            raise BaselineError(f"{path}: key {key!r} is missing (hand-edited?); {UPDATE_HINT}")
        if not isinstance(data[key], types) or isinstance(data[key], bool):
            raise BaselineError(f"{path}: key {key!r} holds {json.dumps(data[key])}, expected "
                                f"{' or '.join(t.__name__ for t in types)}; {UPDATE_HINT}")
    for name, entry in data["numeric"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("worst"), int | float):
            raise BaselineError(f"{path}: numeric check {name!r} needs a number 'worst', got {json.dumps(entry)}; "
                                f"{UPDATE_HINT}")
    return data


def _migrate(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    version = data["format"]
    if version > FORMAT_VERSION:
        raise BaselineError(f"{path}: format {version} was written by a newer pytest-litert (this one reads "
                            f"format {FORMAT_VERSION}); upgrade pytest-litert or {UPDATE_HINT}")
    while version < FORMAT_VERSION:
        if version not in MIGRATIONS:
            raise BaselineError(f"{path}: format {version} is older than the current format {FORMAT_VERSION} "
                                f"and cannot be migrated; {UPDATE_HINT}")
        data = MIGRATIONS[version](data)
        version = data["format"] = version + 1
    return data


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Sorted keys and indentation, so a changed record reads well in code review."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")

"""Baselines: one small JSON record per cell, compared after a TensorFlow or LiteRT upgrade.

Tensors are recorded by role and position (graph inputs and outputs; the main op's activation,
weights, bias and output), never by tensor name or index: those change between TensorFlow
releases even when the model does not (DESIGN.md section 3). The workflow is
pytest-regressions': a missing record is written and fails; a difference writes
`<name>.obtained.json` next to the record and fails; regeneration fails once, so CI never
passes on a record it did not compare against.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_litert.judge.numpy_reference import bias_tensor
from pytest_litert.judge.oracle import data_input, main_operator
from pytest_litert.spec.ops import OPS
from pytest_litert.toolchain import versions

if TYPE_CHECKING:
    from pytest_litert.judge.verdict import Verdict
    from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo
    from pytest_litert.spec.cells import Cell

FORMAT_VERSION = 1
SCALE_DIGITS = 4  # scales enter the digest rounded to 4 significant digits (relative precision 5e-4)
# File size moves with tensor names and metadata padding (TF 2.19 -> 2.20: up to 72 bytes, no model change);
# a change within the larger of these is a note, beyond it a structural failure. Constant bytes are exact.
SIZE_SLACK_BYTES, SIZE_SLACK_FRACTION = 512, 0.05
UPDATE_HINT = "rerun with --litert-baseline-update to regenerate it"
FP16_HINT, RUNTIME_VERSION = "reduced_precision_support", "min_runtime_version"
# Older format -> function returning the record in the next format; empty until a format changes.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
_REQUIRED: dict[str, tuple[type, ...]] = {
    "format": (int,), "cell": (str,), "status": (str,), "structure": (dict, type(None)),
    "size": (int, type(None)), "numeric": (dict,), "failed_checks": (list,), "toolchain": (dict,),
}


class BaselineError(ValueError):
    """A baseline file that cannot be compared against; the message names the file."""


@dataclasses.dataclass(frozen=True)
class Comparison:
    ok: bool
    kind: str  # "same" | "improved" | "structural" | "numeric" | "missing" | "written"
    message: str


# --- the record -------------------------------------------------------------------------------


def record_of(cell: Cell, inspection: ModelInspection | None, verdict: Verdict, *,
              seed: int | None = None) -> dict[str, Any]:
    """The cell's record; `inspection` None when conversion failed (the record keeps the error)."""
    shape = cell.shape.as_dict()
    delegated = verdict.facts.get("xnnpack", {}).get("delegated")
    return {
        "format": FORMAT_VERSION, "cell": cell.id, "op": cell.op.name, "op_code": cell.op.op_code,
        "recipe": cell.recipe.name, "shape": {name: shape[name] for name in cell.op.fields},
        "seed": seed, "target": verdict.facts.get("target"), "toolchain": versions(),
        "structure": None if inspection is None else structure_of(cell, inspection),
        "size": None if inspection is None else inspection.size,
        "delegated": None if delegated is None else bool(delegated),
        "status": verdict.status,
        "failed_checks": sorted(c.name for c in verdict.checks if not c.passed),
        "numeric": {c.name: {"worst": _round(c.worst), "units": _round(c.units), "unit": c.unit}
                    for c in verdict.checks if c.name.endswith("vs keras") and c.worst is not None},
        "error": verdict.reason.splitlines()[0][:300] if verdict.status == "fail" and verdict.reason else "",
    }


def structure_of(cell: Cell, inspection: ModelInspection) -> dict[str, Any]:
    """What the converter produced, by role: stable across tensor renumbering and renaming."""
    names = {index: name for name, index in inspection.signature_inputs.items()}
    by_name = set(inspection.inputs) <= set(names)
    tensors = {
        f"input {names[index] if by_name else position}": _tensor(inspection, index)
        for position, index in enumerate(inspection.inputs)
    }
    tensors.update({f"output {p}": _tensor(inspection, i) for p, i in enumerate(inspection.outputs)})
    op = main_operator(cell, inspection)
    if op is not None:
        tensors["op activation"] = _tensor(inspection, data_input(cell, op))
        tensors["op weights"] = _tensor(inspection, op.inputs[1])
        bias = bias_tensor(cell, inspection, op)
        if bias is not None:
            tensors["op bias"] = _tensor(inspection, bias.index)
        tensors["op output"] = _tensor(inspection, op.outputs[0])
    return {
        "op_codes": list(inspection.op_codes),
        "fused_activation": op.fused_activation if op is not None else None,
        "tensors": tensors,
        "constant_bytes": sum(len(data) for data in inspection.buffers),
        "metadata_keys": sorted(inspection.metadata),
        "fp16_hint": _text(inspection.metadata.get(FP16_HINT)),
        "min_runtime_version": _text(inspection.metadata.get(RUNTIME_VERSION)),
    }


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.rstrip(b"\0").decode(errors="replace")


def _tensor(inspection: ModelInspection, index: int) -> dict[str, Any]:
    """dtype, shape, quantization summary; follows DEQUANTIZE to the stored constant."""
    stored: TensorInfo = inspection.source_tensor(index)
    entry: dict[str, Any] = {"dtype": stored.dtype, "shape": list(stored.shape), "granularity": stored.granularity,
                             "constant": stored.constant}
    if stored.index != index:
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


def baseline_name(record: dict[str, Any]) -> str:
    """`<cell id>`, plus a digest of the shape when it is not the operator's default."""
    cell, shape = str(record["cell"]), dict(record.get("shape") or {})
    spec = OPS.get(str(record.get("op")))
    if spec is not None:
        default = spec.default_shape.as_dict()
        if all(default.get(name) == value for name, value in shape.items()):
            return cell
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:8]
    return f"{cell}-{digest}"


def name_of(cell: Cell) -> str:
    """The baseline name a cell's record gets, without building it (for unused_records)."""
    shape = cell.shape.as_dict()
    return baseline_name({"cell": cell.id, "op": cell.op.name, "shape": {f: shape[f] for f in cell.op.fields}})


# --- comparing two records ----------------------------------------------------------------------


@dataclasses.dataclass
class _Differences:
    structural: list[str] = dataclasses.field(default_factory=list)
    numeric: list[str] = dataclasses.field(default_factory=list)
    improved: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def kind(self) -> str:
        for kind in ("structural", "numeric", "improved"):
            if getattr(self, kind):
                return kind
        return "same"

    def lines(self) -> list[str]:
        return ([f"  changed: {line}" for line in self.structural]
                + [f"  error grew: {line}" for line in self.numeric]
                + [f"  improved (passes): {line}" for line in self.improved]
                + [f"  note: {line}" for line in self.notes])


def compare(stored: dict[str, Any], obtained: dict[str, Any], *, tolerance: float) -> Comparison:
    """Structural differences fail; a check's error fails when it grows by more than
    `tolerance` (a fraction of its bound); improvements and toolchain changes are reported."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be a fraction of the bound >= 0, got {tolerance}")
    found = _differences(stored, obtained, tolerance)
    kind = found.kind()
    head = {"same": "matches the baseline", "improved": "matches the baseline; the error shrank",
            "structural": "the converted model or its verdict changed",
            "numeric": f"the error grew by more than {tolerance:g} of its bound"}[kind]
    message = "\n".join([f"{obtained.get('cell')}: {head}", *found.lines()])
    return Comparison(kind in ("same", "improved"), kind, message)


def _differences(stored: dict[str, Any], obtained: dict[str, Any], tolerance: float) -> _Differences:
    found = _Differences()
    old, new = _flatten(stored.get("structure"), ""), _flatten(obtained.get("structure"), "")
    if (stored.get("structure") is None) != (obtained.get("structure") is None):  # one did not convert
        old, new = ({"structure": "no model" if r.get("structure") is None else "a model"} for r in (stored, obtained))
    for key in ("status", "failed_checks", "delegated", "seed", "target"):
        if stored.get(key) is not None and obtained.get(key) is not None:
            old[key], new[key] = stored[key], obtained[key]
    for path in sorted(set(old) | set(new)):
        if old.get(path, "absent") != new.get(path, "absent"):
            found.structural.append(f"{path}: {_show(old.get(path, 'absent'))} -> {_show(new.get(path, 'absent'))}")
    _compare_size(stored.get("size"), obtained.get("size"), found)
    _compare_numeric(stored.get("numeric") or {}, obtained.get("numeric") or {}, tolerance, found)
    was, now = stored.get("toolchain") or {}, obtained.get("toolchain") or {}
    changed = [f"{k} {was.get(k, 'absent')} -> {now.get(k, 'absent')}"
               for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]
    if changed:
        found.notes.append("toolchain " + ", ".join(changed))
    return found


def _compare_size(was: int | None, now: int | None, found: _Differences) -> None:
    if was == now or was is None or now is None:
        if was != now:
            found.structural.append(f"size: {was} -> {now}")
        return
    text = f"size: {was} -> {now} bytes ({now - was:+d})"
    small = abs(now - was) <= max(SIZE_SLACK_BYTES, SIZE_SLACK_FRACTION * was)
    (found.notes if small else found.structural).append(text)


def _compare_numeric(old: dict[str, Any], new: dict[str, Any], tolerance: float, found: _Differences) -> None:
    for name in sorted(set(old) | set(new)):
        if name not in old or name not in new:
            found.structural.append(f"check {name!r} {'appeared' if name in new else 'disappeared'}")
            continue
        was, now = old[name].get("worst"), new[name].get("worst")
        if was is None or now is None:
            continue
        text = (f"{name}: worst {was:.3g} -> {now:.3g} of its bound "
                f"({_units(old[name])} -> {_units(new[name])}; {now - was:+.3g})")
        if now - was > tolerance:
            found.numeric.append(f"{text}, more than the tolerance {tolerance:g}")
        elif was - now > tolerance:
            found.improved.append(text)


def _units(entry: dict[str, Any]) -> str:
    units = entry.get("units")
    return f"{units:.3g} {entry.get('unit', '')}".strip() if isinstance(units, int | float) else "?"


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    """{"tensors.op weights.dtype": "INT8", ...}; a missing structure is {"structure": None}."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else key))
        return flat
    return {prefix or "structure": value}


def _show(value: Any) -> str:
    return value if value == "absent" else json.dumps(value)


# --- files: the regression workflow --------------------------------------------------------------


def write_record(path: Path, record: dict[str, Any]) -> None:
    """Sorted keys and indentation, so a changed record reads well in code review."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")


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


def check_baseline(directory: Path, record: dict[str, Any], *, update: bool, tolerance: float) -> Comparison:
    """Compare `record` with DIR/<name>.json: missing -> write and fail; differs -> write
    <name>.obtained.json and fail; update -> rewrite and fail; same (or improved) -> pass."""
    name = baseline_name(record)
    path, obtained = directory / f"{name}.json", directory / f"{name}.obtained.json"
    if update:
        existed = path.exists()
        write_record(path, record)
        obtained.unlink(missing_ok=True)
        return Comparison(False, "written", f"{path}: baseline {'regenerated' if existed else 'written'} "
                          "(--litert-baseline-update); rerun without it to compare against the new record")
    if not path.exists():
        write_record(path, record)
        return Comparison(False, "missing", f"{path}: no baseline for {name}; written from this run, rerun to "
                          "compare against it (commit the file)")
    stored = load_record(path)
    if stored["cell"] != record["cell"]:
        raise BaselineError(f"{path}: holds cell {stored['cell']!r}, expected {record['cell']!r}; {UPDATE_HINT}")
    result = compare(stored, record, tolerance=tolerance)
    if result.ok:
        obtained.unlink(missing_ok=True)
        return result
    write_record(obtained, record)
    return dataclasses.replace(result, message=(
        f"{path}: {result.message}\nobtained record written to {obtained}: review it, then copy it over the "
        "baseline or rerun with --litert-baseline-update"))


def unused_records(directory: Path, seen_names: set[str]) -> list[Path]:
    """Baselines in DIR for cells this run did not produce (`seen_names` from baseline_name)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json")
                  if not p.name.endswith(".obtained.json") and p.stem not in seen_names)

"""Baselines: one record per cell (report/record.py), compared after a TensorFlow or LiteRT upgrade.

The workflow is
pytest-regressions': a missing record is written and fails; a difference writes
`<name>.obtained.json` next to the record and fails; regeneration fails once, so CI never
passes on a record it did not compare against.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_litert.matrix.shapes import DEFAULT_SET, SHAPE_SETS
from pytest_litert.report.record import UPDATE_HINT, BaselineError, load_record, write_record

if TYPE_CHECKING:
    from pytest_litert.matrix.cells import Cell

# File size moves with tensor names and metadata padding (TF 2.19 -> 2.20: up to 72 bytes, no model change);
# a change within the larger of these is a note, beyond it a structural failure. Constant bytes are exact.
SIZE_SLACK_BYTES, SIZE_SLACK_FRACTION = 512, 0.05


@dataclasses.dataclass(frozen=True)
class Comparison:
    ok: bool
    kind: str  # "same" | "improved" | "structural" | "numeric" | "missing" | "written"
    message: str


# --- names ------------------------------------------------------------------------------------


WHOLE_MODEL = "whole model"  # the shape set of a whole model's per-operator records (report/model_report.py)


def baseline_name(record: dict[str, Any]) -> str:
    """`<cell id>`, plus a digest of the shape when it is not its shape set's (the id's) shape;
    an operator of a whole model is its position (`op012-CONV_2D`), compared op by op."""
    cell, shape = str(record["cell"]), dict(record.get("shape") or {})
    if record.get("shape_set") == WHOLE_MODEL:
        return cell
    named = SHAPE_SETS.get(str(record.get("shape_set", DEFAULT_SET)), {}).get(str(record.get("op")), ())
    label = str(record.get("shape_label", ""))
    for candidate in (n.shape.as_dict() for n in named if n.label == label):
        if all(candidate.get(name) == value for name, value in shape.items()):
            return cell
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:8]
    return f"{cell}-{digest}"


def name_of(cell: Cell) -> str:
    """The baseline name a cell's record gets, without building it (for unused_records)."""
    shape = cell.shape.as_dict()
    return baseline_name({"cell": cell.id, "op": cell.op.name, "shape": {f: shape[f] for f in cell.op.fields},
                          "shape_set": cell.shape_set, "shape_label": cell.shape_label})


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

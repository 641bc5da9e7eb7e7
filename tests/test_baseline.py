"""Baseline records, their comparison, the regression workflow and run diffs (pytest_litert.report.baseline)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_litert.cli import main as cli_main
from pytest_litert.matrix.cells import select_cells
from pytest_litert.matrix.ops import OPS
from pytest_litert.model.layer import main_layer
from pytest_litert.report import baseline
from pytest_litert.report import record as records_module
from pytest_litert.report.baseline import BaselineError, check_baseline, compare
from pytest_litert.report.record import record_of
from pytest_litert.report.rundiff import diff_runs
from pytest_litert.session import Runner, Settings

CELLS = ("fully_connected-fp16", "fully_connected-static_int8", "batch_matmul-static_int8")


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Records of a few real cells, converted into a private cache and run on the host."""
    settings = Settings.from_strings("fully_connected,batch_matmul", "fp16,static_int8", 0,
                                     str(tmp_path_factory.mktemp("baseline-cache")))
    runner = Runner(settings)
    try:
        found = {}
        for cell in settings.cells():
            artifact = runner.artifact(cell)
            found[cell.id] = record_of(cell, artifact.inspection, artifact.layer(cell.op),
                                       runner.evaluate(cell, artifact), seed=0)
        return found
    finally:
        runner.close()


def _record(**changes: Any) -> dict[str, Any]:
    """A synthetic record shaped like record_of's output."""
    record: dict[str, Any] = {
        "format": records_module.FORMAT_VERSION, "cell": "fully_connected-fp32", "op": "fully_connected",
        "op_code": "FULLY_CONNECTED", "recipe": "fp32", "shape": {"m": 8, "k": 64, "n": 64}, "seed": 0,
        "target": "host", "toolchain": {"tensorflow": "2.21.0", "ai-edge-litert": "2.3.0"},
        "structure": {"op_codes": ["FULLY_CONNECTED"], "fused_activation": "NONE", "metadata_keys": ["m"],
                      "fp16_hint": None, "tensors": {"op weights": {"dtype": "FLOAT32", "granularity": "float"}}},
        "size": 17000, "delegated": True, "status": "pass", "failed_checks": [],
        "numeric": {"xnnpack vs keras": {"worst": 0.30, "units": 1.2, "unit": "ulp32"}}, "error": "",
    }
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = record
        for key in parents:
            target = target[key]
        target[leaf] = value
    return record


# --- record_of on real conversions -------------------------------------------------------------


def test_fp16_record_shows_float16_weights_behind_dequantize_and_the_hint(records: dict[str, Any]) -> None:
    record = records["fully_connected-fp16"]
    structure = record["structure"]
    assert structure["op_codes"] == ["DEQUANTIZE", "DEQUANTIZE", "FULLY_CONNECTED"]
    assert structure["tensors"]["op weights"] == {
        "dtype": "FLOAT16", "shape": [64, 64], "granularity": "float", "constant": True, "behind": "DEQUANTIZE",
    }
    assert structure["fp16_hint"] == "fp16accfp16"
    assert structure["constant_bytes"] == 2 * (64 * 64 + 64)  # FLOAT16 weights and bias
    assert structure["min_runtime_version"]  # e.g. "1.14.0"
    assert "reduced_precision_support" in structure["metadata_keys"]
    assert record["delegated"] is True and record["status"] == "pass"
    assert {"xnnpack vs keras", "reference vs keras", "fp16 vs keras"} <= set(record["numeric"])
    assert record["toolchain"]["tensorflow"] != "missing"


def test_static_int8_record_summarises_per_channel_weights(records: dict[str, Any]) -> None:
    tensors = records["fully_connected-static_int8"]["structure"]["tensors"]
    weights = tensors["op weights"]
    assert (weights["dtype"], weights["granularity"], weights["n_scales"], weights["quantized_dimension"]) == (
        "INT8", "per-channel", 64, 0)
    assert len(weights["quant_digest"]) == 16
    assert tensors["input x"]["dtype"] == tensors["output 0"]["dtype"] == "INT8"
    assert "op bias" in tensors and tensors["op bias"]["dtype"] == "INT32"


def test_two_input_cell_names_inputs_by_signature_not_index(records: dict[str, Any]) -> None:
    tensors = records["batch_matmul-static_int8"]["structure"]["tensors"]
    assert {"input x", "input y", "output 0", "op activation", "op weights", "op output"} == set(tensors)
    assert tensors["op weights"]["quant_digest"] == tensors["input y"]["quant_digest"]


def test_record_is_small_json_without_tensor_names(records: dict[str, Any]) -> None:
    text = json.dumps(records["fully_connected-static_int8"], sort_keys=True, indent=2)
    assert "serving_default" not in text and "StatefulPartitioned" not in text
    assert len(text) < 4000
    assert json.loads(text) == records["fully_connected-static_int8"]


def test_record_ignores_tensor_names_and_float_noise_in_scales(tmp_path: Path) -> None:
    cell = select_cells("fully_connected", "static_int8")[0]
    runner = Runner(Settings.from_strings("fully_connected", "static_int8", 0, str(tmp_path)))
    try:
        artifact = runner.artifact(cell)
        verdict = runner.evaluate(cell, artifact)
    finally:
        runner.close()
    inspection = artifact.inspection
    renamed = dataclasses.replace(inspection, tensors=tuple(
        dataclasses.replace(t, name=f"renamed_{i}", scales=tuple(s * (1 + 1e-9) for s in t.scales))
        for i, t in enumerate(inspection.tensors)))
    assert (record_of(cell, renamed, main_layer(renamed, cell.op.op_code), verdict)
            == record_of(cell, inspection, main_layer(inspection, cell.op.op_code), verdict))


def test_baseline_name_adds_a_shape_digest_only_for_non_default_shapes() -> None:
    assert baseline.baseline_name(_record()) == "fully_connected-fp32"
    assert OPS["fully_connected"].default_shape.k == 64
    other = baseline.baseline_name(_record(shape__k=128))
    assert other.startswith("fully_connected-fp32-") and len(other) == len("fully_connected-fp32-") + 8


# --- compare ------------------------------------------------------------------------------------


def test_identical_records_are_the_same() -> None:
    result = compare(_record(), _record(), tolerance=0.1)
    assert (result.ok, result.kind) == (True, "same")


def test_structural_change_fails_and_names_the_attribute() -> None:
    changed = _record(structure__tensors={"op weights": {"dtype": "FLOAT32", "granularity": "per-channel"}})
    result = compare(_record(), changed, tolerance=0.1)
    assert (result.ok, result.kind) == (False, "structural")
    assert 'changed: tensors.op weights.granularity: "float" -> "per-channel"' in result.message


@pytest.mark.parametrize("key, value", [("status", "fail"), ("delegated", False), ("failed_checks", ["run"])])
def test_verdict_changes_are_structural(key: str, value: Any) -> None:
    result = compare(_record(), _record(**{key: value}), tolerance=0.1)
    assert (result.ok, result.kind) == (False, "structural") and key in result.message


def test_error_growth_beyond_tolerance_fails_within_it_passes() -> None:
    grown = _record(numeric={"xnnpack vs keras": {"worst": 0.45, "units": 1.8, "unit": "ulp32"}})
    failed = compare(_record(), grown, tolerance=0.1)
    assert (failed.ok, failed.kind) == (False, "numeric")
    assert "xnnpack vs keras: worst 0.3 -> 0.45 of its bound (1.2 ulp32 -> 1.8 ulp32; +0.15)" in failed.message
    assert compare(_record(), grown, tolerance=0.2).kind == "same"


def test_improvement_is_reported_and_passes() -> None:
    better = _record(numeric={"xnnpack vs keras": {"worst": 0.05, "units": 0.2, "unit": "ulp32"}})
    result = compare(_record(), better, tolerance=0.1)
    assert (result.ok, result.kind) == (True, "improved") and "improved (passes)" in result.message


def test_a_check_that_disappears_is_structural() -> None:
    result = compare(_record(), _record(numeric={}), tolerance=0.1)
    assert result.kind == "structural" and "'xnnpack vs keras' disappeared" in result.message


def test_toolchain_change_alone_is_a_note_not_a_failure() -> None:
    result = compare(_record(), _record(toolchain={"tensorflow": "2.22.0", "ai-edge-litert": "2.3.0"}), tolerance=0.1)
    assert (result.ok, result.kind) == (True, "same")
    assert "note: toolchain tensorflow 2.21.0 -> 2.22.0" in result.message


def test_small_size_change_is_a_note_large_one_structural() -> None:
    assert compare(_record(), _record(size=17008), tolerance=0.1).ok
    result = compare(_record(), _record(size=9000), tolerance=0.1)
    assert result.kind == "structural" and "size: 17000 -> 9000 bytes (-8000)" in result.message


def test_a_cell_that_stops_converting_is_one_structural_line() -> None:
    result = compare(_record(), _record(structure=None, size=None, status="fail"), tolerance=0.1)
    assert result.kind == "structural"
    assert 'structure: "a model" -> "no model"' in result.message and "op_codes" not in result.message


def test_negative_tolerance_is_rejected() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        compare(_record(), _record(), tolerance=-0.1)


# --- the workflow -------------------------------------------------------------------------------


def test_workflow_missing_pass_change_update(tmp_path: Path) -> None:
    stored = tmp_path / "fully_connected-fp32.json"
    obtained = tmp_path / "fully_connected-fp32.obtained.json"
    first = check_baseline(tmp_path, _record(), update=False, tolerance=0.1)
    assert (first.ok, first.kind) == (False, "missing") and stored.is_file() and "rerun" in first.message
    assert stored.read_text() == json.dumps(_record(), indent=2, sort_keys=True) + "\n"
    assert check_baseline(tmp_path, _record(), update=False, tolerance=0.1).ok

    changed = _record(structure__op_codes=["DEQUANTIZE", "FULLY_CONNECTED"])
    result = check_baseline(tmp_path, changed, update=False, tolerance=0.1)
    assert (result.ok, result.kind) == (False, "structural")
    assert str(stored) in result.message and str(obtained) in result.message and "op_codes" in result.message
    assert json.loads(obtained.read_text()) == changed
    assert json.loads(stored.read_text()) == _record()  # the baseline is untouched

    regenerated = check_baseline(tmp_path, changed, update=True, tolerance=0.1)
    assert (regenerated.ok, regenerated.kind) == (False, "written") and "regenerated" in regenerated.message
    assert not obtained.exists()
    assert check_baseline(tmp_path, changed, update=False, tolerance=0.1).ok


def test_a_passing_run_removes_a_stale_obtained_file(tmp_path: Path) -> None:
    check_baseline(tmp_path, _record(), update=False, tolerance=0.1)
    check_baseline(tmp_path, _record(status="fail"), update=False, tolerance=0.1)
    assert (tmp_path / "fully_connected-fp32.obtained.json").exists()
    assert check_baseline(tmp_path, _record(), update=False, tolerance=0.1).ok
    assert not (tmp_path / "fully_connected-fp32.obtained.json").exists()


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not valid JSON (line 1, column 2"),
    ("[1, 2]", "not a pytest-litert baseline"),
    (json.dumps({k: v for k, v in _record().items() if k != "numeric"}), "key 'numeric' is missing"),
    (json.dumps(_record(size="big")), "key 'size' holds \"big\", expected int or NoneType"),
    (json.dumps(_record(numeric={"xnnpack vs keras": {"worst": "low"}})), "numeric check 'xnnpack vs keras'"),
    (json.dumps(_record(cell="conv2d-fp32")), "holds cell 'conv2d-fp32', expected 'fully_connected-fp32'"),
])
def test_corrupt_or_hand_edited_file_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "fully_connected-fp32.json"
    path.write_text(text)
    with pytest.raises(BaselineError) as error:
        check_baseline(tmp_path, _record(), update=False, tolerance=0.1)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_update_overwrites_a_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "fully_connected-fp32.json").write_text("{not json")
    assert check_baseline(tmp_path, _record(), update=True, tolerance=0.1).kind == "written"
    assert check_baseline(tmp_path, _record(), update=False, tolerance=0.1).ok


def test_older_format_says_how_to_regenerate(tmp_path: Path) -> None:
    path = tmp_path / "fully_connected-fp32.json"
    path.write_text(json.dumps(_record(format=0)))
    with pytest.raises(BaselineError, match=r"format 0 is older .* rerun with --litert-baseline-update"):
        records_module.load_record(path)
    path.write_text(json.dumps(_record(format=records_module.FORMAT_VERSION + 1)))
    with pytest.raises(BaselineError, match="newer pytest-litert"):
        records_module.load_record(path)


def test_older_format_is_migrated_when_a_migration_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = _record(format=0)
    old["worst_by_check"] = old.pop("numeric")
    path = tmp_path / "fully_connected-fp32.json"
    path.write_text(json.dumps(old))

    def rename(record: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in record.items() if k != "worst_by_check"}, "numeric": record["worst_by_check"]}

    monkeypatch.setitem(records_module.MIGRATIONS, 0, rename)
    assert records_module.load_record(path) == _record()
    assert check_baseline(tmp_path, _record(), update=False, tolerance=0.1).ok


def test_name_of_a_cell_matches_its_record_name(records: dict[str, Any]) -> None:
    [cell] = select_cells("fully_connected", "fp16")
    assert baseline.name_of(cell) == baseline.baseline_name(records[cell.id]) == "fully_connected-fp16"
    wide = cell.with_shape(dataclasses.replace(cell.shape, n=128))
    assert baseline.name_of(wide).startswith("fully_connected-fp16-")


def test_unused_records_are_baselines_of_cells_not_seen(tmp_path: Path) -> None:
    for name in ("fully_connected-fp32", "gone-fp32", "gone-fp32.obtained"):
        (tmp_path / f"{name}.json").write_text("{}")
    assert baseline.unused_records(tmp_path, {"fully_connected-fp32"}) == [tmp_path / "gone-fp32.json"]
    assert baseline.unused_records(tmp_path / "absent", set()) == []


# --- run diffs ----------------------------------------------------------------------------------


def _runs() -> tuple[dict[str, Any], dict[str, Any]]:
    same = _record(cell="conv2d-fp32", op="conv2d", shape=dict(OPS["conv2d"].default_shape.as_dict()))
    a = {"toolchain": {"tensorflow": "2.19.1", "keras": "3.15.1"},
         "cells": [_record(), same, _record(cell="batch_matmul-fp32", op="batch_matmul", shape={})]}
    regrained = copy.deepcopy(_record(size=16000))
    regrained["structure"]["tensors"]["op weights"]["granularity"] = "per-channel"
    failing = _record(cell="transpose_conv-fp32", op="transpose_conv", shape={}, status="fail",
                      error="conversion failed: boom", structure=None, size=None, numeric={})
    b = {"toolchain": {"tensorflow": "2.21.0", "keras": "3.15.1"}, "cells": [regrained, copy.deepcopy(same), failing]}
    return a, b


def test_diff_runs_reports_toolchains_changes_and_unchanged_cells() -> None:
    a, b = _runs()
    report = diff_runs(a, b, names=("tf219", "tf221"))
    assert "| tensorflow | 2.19.1 | 2.21.0 * |" in report and "| keras | 3.15.1 | 3.15.1 |" in report
    assert "## Cells that changed: 1 of 4" in report
    assert "| `fully_connected-fp32` | pass | tensors.op weights.granularity | 17000 -> 16000 (-1000) |" in report
    assert "Only in tf219: `batch_matmul-fp32`" in report
    assert "Only in tf221: `transpose_conv-fp32`" in report
    assert "Unchanged (1): `conv2d-fp32`" in report


def test_matrix_json_writes_the_records_the_diff_reads(tmp_path: Path, shared_cache: Path) -> None:
    """`matrix --json` writes the same versioned records as baselines (one format, docs/records.md)."""
    run = tmp_path / "run.json"
    args = ["matrix", "--ops=fully_connected", "--recipes=fp32", f"--cache-dir={shared_cache}", "--json", str(run)]
    assert cli_main(args) == 0
    a = json.loads(run.read_text())
    [cell] = a["cells"]
    assert a["format"] == cell["format"] == records_module.FORMAT_VERSION
    assert cell["cell"] == "fully_connected-fp32" and cell["status"] == "pass" and cell["checks"]
    assert "Cells that changed: 0 of 1" in diff_runs(a, copy.deepcopy(a))
    b = copy.deepcopy(a)
    b["cells"][0].update(status="fail", error="run: crashed", failed_checks=["run"])
    b["cells"][0]["numeric"]["xnnpack vs keras"]["worst"] = 0.9
    was = a["cells"][0]["numeric"]["xnnpack vs keras"]["worst"]
    assert (f"| `fully_connected-fp32` | pass -> **fail** | failed_checks | {cell['size']} | "
            f"{max(e['worst'] for e in cell['numeric'].values()):.3g} -> 0.9 | - -> run: crashed |") in diff_runs(a, b)
    assert was < 0.9


def test_diff_main_writes_the_report_and_rejects_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = _runs()
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    out = tmp_path / "report.md"
    assert cli_main(["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(out)]) == 0
    assert "Cells that changed: 1 of 4" in out.read_text()
    assert cli_main(["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--fail-on-change"]) == 1
    assert cli_main(["diff", str(tmp_path / "a.json"), str(tmp_path / "a.json"), "--fail-on-change"]) == 0
    (tmp_path / "bad.json").write_text("{")
    assert cli_main(["diff", str(tmp_path / "a.json"), str(tmp_path / "bad.json")]) == 2
    assert "bad.json" in capsys.readouterr().err

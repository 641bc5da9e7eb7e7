"""The command line: export writes models + manifest without clobbering; matrix prints the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_litert.cli import main


def test_export_writes_models_and_manifest(tmp_path: Path, shared_cache: Path) -> None:
    out = tmp_path / "out"
    args = ["export", str(out), "--ops=fully_connected", "--recipes=fp32,static_int8",
            "--no-seed-models", f"--cache-dir={shared_cache}"]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    records = {m["file"]: m for m in manifest["models"]}
    assert set(records) == {"fully_connected-fp32.tflite", "fully_connected-static_int8.tflite"}
    static = records["fully_connected-static_int8.tflite"]
    tensors = static["structure"]["tensors"]
    assert tensors["input x"]["dtype"] == "INT8"
    assert tensors["op weights"] == {**tensors["op weights"], "dtype": "INT8", "granularity": "per-channel"}
    assert static["kleidiai_sme2"] is True
    assert static["shape"] == {"m": 8, "k": 64, "n": 64}
    assert manifest["toolchain"]["tensorflow"] != "missing"
    assert (out / "fully_connected-fp32.tflite").read_bytes()[4:8] == b"TFL3"


def test_export_refuses_to_overwrite_without_force(tmp_path: Path, shared_cache: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "fully_connected-fp32.tflite"
    mine.write_bytes(b"the user's own file")
    args = ["export", str(out), "--ops=fully_connected", "--recipes=fp32", "--no-seed-models",
            f"--cache-dir={shared_cache}"]
    assert main(args) == 2
    assert "pass --force to overwrite" in capsys.readouterr().err
    assert mine.read_bytes() == b"the user's own file"
    assert main([*args, "--force"]) == 0
    assert mine.read_bytes()[4:8] == b"TFL3"


def test_matrix_prints_the_table(shared_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--ops=conv2d_pointwise", "--recipes=fp32,int4", f"--cache-dir={shared_cache}"]) == 0
    out = capsys.readouterr().out
    assert "conv2d_pointwise" in out and "pass" in out and "2 pass" in out


def test_matrix_says_why_a_cell_is_not_produced(shared_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ai_edge_quantizer")
    assert main(["matrix", "--ops=transpose_conv", "--recipes=int4_weight_only", f"--cache-dir={shared_cache}"]) == 0
    out = capsys.readouterr().out
    assert ("transpose_conv-int4_weight_only: n/p (not produced by this toolchain: "
            "ai-edge-quantizer silently skips") in out
    reason = next(line for line in out.splitlines() if "transpose_conv-int4_weight_only: n/p" in line)
    assert "FLOAT32 (expected" not in reason and len(reason) < 200  # one sentence, not the structure dump


def test_unknown_recipe_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--recipes=int3"]) == 2
    assert "--recipes: unknown recipe 'int3' (did you mean int4?); valid: fp32" in capsys.readouterr().err


@pytest.mark.parametrize(("given", "meant"), [("dense", "fully_connected"), ("Conv2DTranspose", "transpose_conv"),
                                               ("conv2", "conv2d"), ("depthwise", "depthwise_conv2d")])
def test_an_operator_by_another_name_gets_a_suggestion(given: str, meant: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", f"--ops={given}"]) == 2
    assert f"--ops: unknown op '{given}' (did you mean {meant}?)" in capsys.readouterr().err

"""The exported bundle judged without converting: what it holds, and every way it can be bad
(another format, a missing or truncated file, another toolchain, a cell it does not hold)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_litert.cli import main
from pytest_litert.model import storage
from pytest_litert.model.bundle import BundleError, open_bundle
from pytest_litert.run.sme2 import host_status

CELLS = ["--ops=fully_connected", "--recipes=fp32,static_int8"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "out"
    assert main(["export", str(out), *CELLS, "--no-seed-models", "--property-examples=2",
                 f"--cache-dir={shared_cache}"]) == 0
    return out


@pytest.fixture
def copy(bundle: Path, tmp_path: Path) -> Path:
    """A private copy to damage."""
    target = tmp_path / "copy"
    shutil.copytree(bundle, target)
    return target


def _inner(pytester: pytest.Pytester, directory: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--litert-bundle={directory}",
                                         "--pyargs", "pytest_litert.suite", "-rA", *args)


def test_the_bundle_holds_what_judging_needs(bundle: Path) -> None:
    opened = open_bundle(bundle.resolve())
    assert sorted(opened.cells) == ["fully_connected-fp32", "fully_connected-static_int8"]
    static = opened.cells["fully_connected-static_int8"]
    artifact = storage.load(static.entry)  # type: ignore[arg-type]
    assert artifact.model[4:8] == b"TFL3"
    assert artifact.weights.kernel is not None and artifact.weights.bias is not None
    assert artifact.model_inputs[0]["x"].dtype.name == "int8"  # on the model's input grid
    assert len(artifact.reference_outputs) == len(artifact.model_inputs) == 3
    assert len(static.examples) == 2
    example = storage.load(static.examples[0].entry)
    assert example.model[4:8] == b"TFL3" and len(example.reference_outputs) == 1
    assert opened.toolchain["tensorflow"] != "missing"
    manifest = json.loads((bundle / "manifest.json").read_text())
    commands = {m["file"]: m["benchmark_command"] for m in manifest["models"]}
    assert commands["fully_connected-fp32.tflite"].startswith("benchmark_model --graph=fully_connected-fp32.tflite")
    assert "--enable_op_profiling=true" in commands["fully_connected-fp32.tflite"]
    evidence = {m["file"]: m["sme2_evidence"] for m in manifest["models"]}
    assert evidence["fully_connected-fp32.tflite"]["operator"] == "Fully Connected (NC, PF32)"
    assert evidence["fully_connected-static_int8.tflite"]["packed_type"] == "PQS8"


def test_export_draws_the_same_examples_for_the_same_seed(bundle: Path, tmp_path: Path, shared_cache: Path) -> None:
    again = tmp_path / "again"
    assert main(["export", str(again), *CELLS, "--no-seed-models", "--property-examples=2",
                 f"--cache-dir={shared_cache}"]) == 0
    assert json.loads((again / "bundle.json").read_text())["cells"] == json.loads(
        (bundle / "bundle.json").read_text())["cells"]


def test_a_bundle_is_judged_without_converting(pytester: pytest.Pytester, bundle: Path) -> None:
    pytester.makeconftest("""
        import sys
        def pytest_sessionfinish(session):
            open("modules.txt", "w").write("tensorflow" if "tensorflow" in sys.modules else "none")
    """)
    result = _inner(pytester, bundle)
    result.assert_outcomes(passed=6, skipped=_expected_skips(bundle))
    result.stdout.fnmatch_lines(["*litert: bundle * (2 cells, made with tensorflow *", "*test_bundled_example*"
                                 "fully_connected-static_int8-example1*"])
    assert (pytester.path / "modules.txt").read_text() == "none"


# The suite's tests a bundle run skips, by function (pytest_litert/suite): drawn properties are
# not judged from a bundle (its stored examples are); every sme2 test skips without SME2.
_ALWAYS_SKIPPED = ("test_cell_property",)
_SKIPPED_WITHOUT_SME2 = ("test_sme2_cell", "test_sme2_cell_property", "test_sme2_bundled_example")


def _expected_skips(bundle: Path, keyword: str = "") -> int:
    """How many tests of a bundle run skip, from the bundle's own index and this machine's SME2
    status, not from the run under test: one per bundled cell (or SME2 cell, or SME2 cell's
    example) for each skipped test function whose name `keyword` (a -k substring) selects."""
    opened = open_bundle(bundle.resolve())
    cells = list(opened.cells.values())
    sme2 = [bundled for bundled in cells if bundled.cell.sme2]
    per_function = {"test_cell_property": len(cells), "test_sme2_cell": len(sme2),
                    "test_sme2_cell_property": len(sme2),
                    "test_sme2_bundled_example": sum(len(bundled.examples) for bundled in sme2)}
    skipped = _ALWAYS_SKIPPED + (() if host_status().available else _SKIPPED_WITHOUT_SME2)
    return sum(per_function[name] for name in skipped if keyword in name)


def test_matrix_judges_a_bundle(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["matrix", "--bundle", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "bundle" in out and "2 pass" in out and "0 converted" in out


def test_a_truncated_model_fails_its_cell_alone(pytester: pytest.Pytester, copy: Path) -> None:
    model = copy / "cells" / "fully_connected-fp32" / "model.tflite"
    model.write_bytes(model.read_bytes()[:100])
    result = _inner(pytester, copy, "-k", "test_cell")
    result.assert_outcomes(passed=1, errors=1, skipped=_expected_skips(copy, "test_cell"))  # the model fixture fails
    result.stdout.fnmatch_lines(["*model.tflite does not match its recorded sha256 (truncated or edited)*"
                                 "re-export*"])


def test_a_missing_reference_names_the_file(pytester: pytest.Pytester, copy: Path) -> None:
    (copy / "cells" / "fully_connected-static_int8" / "examples" / "0" / "reference.npz").unlink()
    result = _inner(pytester, copy, "-k", "bundled_example")
    result.assert_outcomes(passed=3, failed=1, skipped=_expected_skips(copy, "bundled_example"))
    result.stdout.fnmatch_lines(["*fully_connected-static_int8-example0*reference.npz missing*"])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda index: index.update(format=99), "*bundle format 99, this pytest-litert reads format 1*"),
    (lambda index: index.pop("kind"), "*not a pytest-litert bundle*"),
    (lambda index: index["cells"][0].update(op="softmax"), "*cell softmax-fp32 is unknown to this pytest-litert*"),
])
def test_a_bundle_of_another_format_is_refused_once(pytester: pytest.Pytester, copy: Path, edit: object,
                                                     message: str) -> None:
    index = json.loads((copy / "bundle.json").read_text())
    edit(index)  # type: ignore[operator]
    (copy / "bundle.json").write_text(json.dumps(index))
    open_bundle.cache_clear()
    result = _inner(pytester, copy)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-litert: --litert-bundle: *{message.strip('*')}*re-export*"])


def test_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"bundle.json is missing: .* is not a bundle"):
        open_bundle(tmp_path)
    with pytest.raises(BundleError, match="no such directory"):
        open_bundle(tmp_path / "absent")


def test_another_toolchain_is_said_judged_and_recorded(pytester: pytest.Pytester, copy: Path) -> None:
    index = json.loads((copy / "bundle.json").read_text())
    index["toolchain"]["ai-edge-litert"] = "2.0.0"
    (copy / "bundle.json").write_text(json.dumps(index))
    result = _inner(pytester, copy, "-k", "test_cell", f"--litert-report-json={pytester.path / 'r.json'}")
    result.assert_outcomes(passed=2, skipped=_expected_skips(copy, "test_cell"))
    result.stdout.fnmatch_lines(["*toolchain differs, judged anyway: ai-edge-litert 2.0.0 (bundle) vs 2.3.0 (here)*"])
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["bundle"]["toolchain"]["ai-edge-litert"] == "2.0.0"
    assert report["toolchain"]["ai-edge-litert"] == "2.3.0"


def test_a_cell_the_bundle_does_not_hold(copy: Path) -> None:
    from pytest_litert.session import Runner, Settings

    runner = Runner(Settings.from_strings("conv2d", "fp32", None, "none", "inprocess", bundle=str(copy)))
    assert runner.settings.cells() == []  # selection: the bundle's cells only
    from pytest_litert.matrix.cells import select_cells

    verdict = runner.build(select_cells("conv2d", "fp32")[0])
    assert verdict.status == "fail" and "holds no cell conv2d-fp32" in verdict.reason  # type: ignore[union-attr]


def test_export_refuses_to_overwrite_a_bundle(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              shared_cache: Path) -> None:
    out = tmp_path / "out"
    (out / "cells").mkdir(parents=True)
    assert main(["export", str(out), *CELLS, f"--cache-dir={shared_cache}"]) == 2
    assert "already holds cells" in capsys.readouterr().err


def test_a_default_bundle_without_examples_is_judged(pytester: pytest.Pytester, tmp_path: Path,
                                                     shared_cache: Path) -> None:
    """`export DIR` with no --property-examples, the documented default, used to end the
    session with INTERNALERROR (pytest's NOTSET placeholder reached the collection hook)."""
    out = tmp_path / "default"
    assert main(["export", str(out), "--ops=fully_connected", "--recipes=fp32", "--no-seed-models",
                 f"--cache-dir={shared_cache}"]) == 0
    result = _inner(pytester, out)
    assert result.ret == pytest.ExitCode.OK
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and "failed" not in outcomes and "errors" not in outcomes
    result.stdout.fnmatch_lines(["*holds no property examples for these cells (export with --property-examples N*"])


def test_a_cell_the_toolchain_does_not_produce_is_judged_not_produced(tmp_path: Path, shared_cache: Path) -> None:
    """Export writes no model for it; judging the bundle says why, it does not error."""
    from pytest_litert.matrix.cells import select_cells
    from pytest_litert.session import Runner, Settings

    out = tmp_path / "np"
    assert main(["export", str(out), "--ops=transpose_conv", "--recipes=fp32,int4", "--no-seed-models",
                 f"--cache-dir={shared_cache}"]) == 0
    runner = Runner(Settings.from_strings(None, None, None, "none", "inprocess", bundle=str(out)))
    verdict = runner.evaluate_cell(select_cells("transpose_conv", "int4")[0])
    assert verdict.status == "not produced" and "silently skips TRANSPOSE_CONV" in verdict.reason

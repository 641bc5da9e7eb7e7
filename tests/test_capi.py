"""LiteRT's C API (run/capi.py). Kernel evidence from LiteRT's profiler: the real C API on this
host, the evidence in run facts, verdicts and records, "unavailable" instead of a crash, the
expected operator table, and on the emulated SME2 CPU the agreement of the two witnesses. The
fp16 lane: the same outputs as LiteRT's Python CompiledModel, its flags in effect."""

from __future__ import annotations

import ctypes
import dataclasses
import json
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_litert.convert.artifact import build_artifact
from pytest_litert.judge.checks import NO_PACKED, OPERATOR_CHECK, operator_check
from pytest_litert.judge.verdict import active_findings
from pytest_litert.matrix import kernel_types
from pytest_litert.matrix.cells import make_cell, select_cells
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.report.record import record_of, stored_part
from pytest_litert.run import capi, worker
from pytest_litert.run.lanes import Lane, profiles, run_cell
from pytest_litert.run.qemu import emulator
from pytest_litert.run.targets import InProcessTarget, RunResult, TargetError, WorkerTarget, host_target
from pytest_litert.session import Runner, Settings, evaluate_cell

X86_FC_FP32 = "Fully Connected (NC, F32) GEMM"


@pytest.fixture(scope="module")
def fc_fp32() -> CellArtifact:
    return build_artifact(make_cell(OPS["fully_connected"], RECIPES["fp32"]), seed=0)


def _inputs(artifact: CellArtifact) -> dict[str, np.ndarray]:
    return artifact.signature_inputs(artifact.model_inputs[0])


# --- the C API on this host -----------------------------------------------------------------


def test_profiled_run_names_the_xnnpack_operator(fc_fp32: CellArtifact) -> None:
    found = capi.profile(fc_fp32.model, _inputs(fc_fp32))
    assert found["available"], found["reason"]
    names = [op["name"] for op in found["operators"]]
    main = kernel_types.main_operator("FULLY_CONNECTED", names)
    assert main is not None and main.startswith("Fully Connected (NC, "), names
    if platform.machine() == "x86_64":
        assert main == X86_FC_FP32
        assert found["cpu_sme2"] is False
    assert all(op["us"] >= 0 for op in found["operators"])
    assert found["threads"] == 1 and found["runs"] == capi.PROFILED_RUNS and found["warmup_runs"] == 1


def test_a_profiled_model_is_destroyed_after_the_reply_and_never_two_outlive_it(fc_fp32: CellArtifact) -> None:
    """Its teardown waits for finish_teardown (the worker calls it after replying), and the next
    C API call finishes it first: at most one profiled model (~70 MB) outlives its run."""
    capi.finish_teardown()
    capi.profile_model(fc_fp32.model, _inputs(fc_fp32))
    assert len(capi._teardown) == 1
    capi.profile_model(fc_fp32.model, _inputs(fc_fp32))
    assert len(capi._teardown) == 1
    capi.run_compiled(fc_fp32.model, _inputs(fc_fp32), xnnpack_flags=0)
    assert not capi._teardown
    capi.profile_model(fc_fp32.model, _inputs(fc_fp32))
    capi.finish_teardown()
    assert not capi._teardown


def test_worker_process_serves_the_profile_mode(fc_fp32: CellArtifact) -> None:
    target = host_target()
    try:
        result = target.run(fc_fp32.model, _inputs(fc_fp32), "profile")
    finally:
        target.close()
    assert result.outputs == {}
    assert result.facts["available"] and result.facts["pid"], result.facts
    assert any(op["name"].startswith("Fully Connected") for op in result.facts["operators"])


def test_a_failing_call_is_unavailable_evidence(fc_fp32: CellArtifact) -> None:
    found = capi.profile(b"TFL3 but not a model", _inputs(fc_fp32))
    assert not found["available"]
    assert found["reason"].startswith("unavailable: LiteRtCreateModelFromBuffer failed: status"), found


def test_an_unloadable_library_is_unavailable_evidence(tmp_path: Path, fc_fp32: CellArtifact) -> None:
    missing = str(tmp_path / "libLiteRt.so")
    found = capi.profile(fc_fp32.model, _inputs(fc_fp32), api_factory=lambda: capi.CApi(missing))
    assert found["reason"].startswith("unavailable: cannot load libLiteRt.so"), found


class FakeLibraryWithoutProfiler:
    """Fake: the real libLiteRt.so with the profiler's symbols hidden, as a LiteRT build
    without the profiler API would look (the only way to see that on this wheel)."""

    HIDDEN = ("LiteRtCompiledModelGetProfiler", "LiteRtStartProfiler", "LiteRtGetProfilerEvents")

    def __init__(self, path: str) -> None:
        self._library = ctypes.CDLL(path)

    def __getattr__(self, name: str) -> Any:
        if name in self.HIDDEN:
            raise AttributeError(name)
        return getattr(self._library, name)


def test_a_library_without_the_profiler_api_is_unavailable_evidence(fc_fp32: CellArtifact) -> None:
    found = capi.profile(fc_fp32.model, _inputs(fc_fp32),
                             api_factory=lambda: capi.CApi(loader=FakeLibraryWithoutProfiler))
    assert not found["available"]
    assert found["reason"] == ("unavailable: libLiteRt.so lacks LiteRtCompiledModelGetProfiler, "
                               "LiteRtStartProfiler, LiteRtGetProfilerEvents"), found


def test_a_worker_copied_without_capi_py_gives_unavailable_evidence(tmp_path: Path,
                                                                      fc_fp32: CellArtifact) -> None:
    """worker.py copied alone to a target (the documented way): every other mode works, the
    profile reads "unavailable" and names the missing file."""
    shutil.copy(worker.__file__, tmp_path / "worker.py")
    target = WorkerTarget("copied", [sys.executable, str(tmp_path / "worker.py")])
    try:
        assert target.run(fc_fp32.model, _inputs(fc_fp32), "xnnpack").facts["delegated"]
        found = profiles([Lane("xnnpack", target, "xnnpack")], fc_fp32.model, _inputs(fc_fp32))
    finally:
        target.close()
    assert not found["profile"]["available"]
    assert "capi.py" in found["profile"]["reason"] and found["profile"]["reason"].startswith("unavailable: ")


# --- the fp16 lane through the C API -------------------------------------------------------


def _python_compiled_model(model: bytes, inputs: dict[str, np.ndarray], flags: int | None) -> dict[str, np.ndarray]:
    """The same run through LiteRT's own Python CompiledModel: the reference the C API must equal."""
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.options import CpuOptions, Options

    compiled = CompiledModel.from_buffer(model, options=Options(cpu_options=CpuOptions(num_threads=1,
                                                                                        xnnpack_flags=flags)))
    key, signature = next(iter(compiled.get_signature_list().items()))
    for index, name in enumerate(signature["inputs"]):
        if tuple(compiled.get_input_tensor_details(key)[name]["shape"]) != np.shape(inputs[name]):
            compiled.resize_input_tensor(index, np.shape(inputs[name]))
    input_buffers = compiled.create_input_buffers(0)
    for name, buffer in zip(signature["inputs"], input_buffers, strict=True):
        buffer.write(np.ascontiguousarray(inputs[name]))
    output_buffers = compiled.create_output_buffers(0)
    compiled.run_by_index(0, input_buffers, output_buffers)
    details = compiled.get_output_tensor_details(key)
    return {name: buffer.read(int(np.prod(details[name]["shape"])), np.dtype(details[name]["dtype"]))
            .reshape(tuple(details[name]["shape"])) for name, buffer in zip(signature["outputs"], output_buffers,
                                                                             strict=True)}


@pytest.mark.parametrize(("op", "recipe"), [("fully_connected", "fp16"), ("conv2d", "fp32"),
                                            ("transpose_conv", "fp16"), ("batch_matmul", "fp32")])
def test_the_fp16_lane_equals_litert_s_python_compiled_model(op: str, recipe: str) -> None:
    """Bit for bit, with FORCE_FP16 and with LiteRT's default flags; and the flag takes effect
    (the C API ignores a CPU option key it does not know, so a wrong key would pass silently)."""
    artifact = build_artifact(make_cell(OPS[op], RECIPES[recipe]), seed=0)
    inputs = _inputs(artifact)
    fp16 = capi.run_compiled(artifact.model, inputs, xnnpack_flags=worker._FORCE_FP16_FLAGS)
    default = capi.run_compiled(artifact.model, inputs, xnnpack_flags=0)
    for found, flags in ((fp16, worker._FORCE_FP16_FLAGS), (default, None)):
        expected = _python_compiled_model(artifact.model, inputs, flags)
        assert found.keys() == expected.keys()
        for name, array in expected.items():
            assert found[name].dtype == array.dtype and found[name].shape == array.shape
            np.testing.assert_array_equal(found[name], array)
    assert any(not np.array_equal(fp16[name], default[name]) for name in fp16), "FORCE_FP16 did not take effect"


@pytest.fixture(scope="module")
def dynamic_batch_dense() -> bytes:
    """Dense(48) on (None, 16, 64): the signature's batch is -1."""
    from pytest_litert.convert.converter import convert
    from pytest_litert.convert.keras_models import import_keras
    from pytest_litert.convert.quiet import quiet

    keras = import_keras()
    inputs = keras.Input(shape=(16, 64), name="x")
    with quiet():
        return convert(keras.Model(inputs, keras.layers.Dense(48)(inputs)), "fp32", [])


def test_a_dynamic_batch_is_sized_by_the_inputs(dynamic_batch_dense: bytes) -> None:
    """The signature says -1; a buffer needs sizes: the compiled model is resized to the inputs'
    batch (here 1, where LiteRT's Python CompiledModel needs no resize), and profiled too."""
    batch = {"x": np.random.default_rng(0).uniform(-1, 1, (1, 16, 64)).astype(np.float32)}
    (output,) = capi.run_compiled(dynamic_batch_dense, batch, xnnpack_flags=0).values()
    (expected,) = _python_compiled_model(dynamic_batch_dense, batch, None).values()
    assert output.shape == (1, 16, 48)
    np.testing.assert_array_equal(output, expected)
    assert capi.profile_model(dynamic_batch_dense, batch)["operators"]


def test_a_batch_other_than_one_is_a_litert_failure_in_both_apis(dynamic_batch_dense: bytes) -> None:
    """LiteRT 2.3.0: after the input is resized to batch 3, the output's layout stays at batch 1
    (`LiteRtGetCompiledModelOutputTensorLayouts` with update_allocation, strict or not), and the
    run fails ("Custom allocation is too small"), in its Python CompiledModel as here. A finding
    (docs/findings.md); this test fails the day LiteRT fixes it."""
    batch = {"x": np.zeros((3, 16, 64), np.float32)}
    with pytest.raises(capi.CApiError, match="Failed to invoke the compiled model"):
        capi.run_compiled(dynamic_batch_dense, batch, xnnpack_flags=0)
    with pytest.raises(RuntimeError, match="Failed to invoke the compiled model"):
        _python_compiled_model(dynamic_batch_dense, batch, None)


def test_a_model_litert_cannot_invoke_is_an_error_in_litert_s_words() -> None:
    """batch_matmul_const fp16: the CompiledModel cannot run its FLOAT16 constant (a finding)."""
    artifact = build_artifact(make_cell(OPS["batch_matmul_const"], RECIPES["fp16"]), seed=0)
    with pytest.raises(capi.CApiError, match="Failed to invoke the compiled model"):
        capi.run_compiled(artifact.model, _inputs(artifact), xnnpack_flags=worker._FORCE_FP16_FLAGS)
    with pytest.raises(RuntimeError, match="Failed to invoke the compiled model"):
        _python_compiled_model(artifact.model, _inputs(artifact), worker._FORCE_FP16_FLAGS)


# --- run facts, verdict, records ------------------------------------------------------------


class CountingTarget(InProcessTarget):
    """The in-process target, counting the modes it is asked for."""

    def __init__(self) -> None:
        self.modes: list[str] = []

    def run(self, model: bytes, inputs: dict[str, np.ndarray], mode: str) -> RunResult:
        self.modes.append(mode)
        return super().run(model, inputs, mode)


def test_every_cell_run_profiles_once_and_shows_it(fc_fp32: CellArtifact) -> None:
    cell = make_cell(OPS["fully_connected"], RECIPES["fp32"])
    target = CountingTarget()
    run = run_cell(cell, fc_fp32, target)
    assert target.modes.count("profile") == 1 and target.modes.count("xnnpack") == len(fc_fp32.model_inputs)
    assert "profile" in run.facts and "profile" not in run.lanes
    verdict = evaluate_cell(cell, fc_fp32, CountingTarget())
    evidence = verdict.kernel_evidence()["profile"]
    assert evidence["available"] and evidence["main_operator"].startswith("Fully Connected (NC, ")
    assert "profiler (inprocess): Static Reshape (NC) " in verdict.explain()
    assert OPERATOR_CHECK not in {c.name for c in verdict.checks}  # no SME2 here: no such check
    record = record_of(cell, fc_fp32.inspection, fc_fp32.layer(cell.op), verdict, details=True)
    assert record["kernel_evidence"]["profile"]["main_operator"] == evidence["main_operator"]
    assert "kernel_evidence" not in record["facts"] and "kernel_evidence" not in stored_part(record)


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the x86_64 operator name")
def test_matrix_json_records_name_the_xnnpack_operator(tmp_path: Path, shared_cache: Path) -> None:
    out = tmp_path / "out.json"
    command = [str(Path(sys.executable).with_name("pytest-litert")), "matrix", "--json", str(out),
               "--ops=fully_connected", "--recipes=fp32", f"--cache-dir={shared_cache}"]
    subprocess.run(command, check=True, capture_output=True)
    (record,) = json.loads(out.read_text())["cells"]
    assert record["kernel_evidence"]["profile"]["main_operator"] == X86_FC_FP32


# --- the expected operator table and the check ----------------------------------------------


def test_every_seed_sme2_cell_has_an_expected_operator() -> None:
    for cell in (c for c in select_cells(shapes="all") if c.sme2):
        expected = kernel_types.expected_for(cell.op.op_code, cell.recipe.name, cell.shape)
        assert expected is not None, cell.id
        parsed = kernel_types.OperatorName.parse(expected.operator)
        assert parsed is not None and parsed.kind in kernel_types.MAIN_KINDS[cell.op.op_code], cell.id
    for key, expected in kernel_types.EXPECTED.items():
        parsed = kernel_types.OperatorName.parse(expected.operator)
        assert parsed is not None and str(parsed) == expected.operator, key
        assert parsed.packed_type == expected.packed_type, key
        assert expected.packed_type or expected.why, key
    assert {op.op_code for op in OPS.values()} <= set(kernel_types.MAIN_KINDS)


def test_a_pointwise_convolution_is_xnnpacks_fully_connected() -> None:
    pointwise, conv = OPS["conv2d_pointwise"], OPS["conv2d"]
    assert kernel_types.form_of("CONV_2D", pointwise.default_shape) == kernel_types.CONV_1X1
    assert kernel_types.form_of("CONV_2D", conv.default_shape) == "CONV_2D"
    strided = dataclasses.replace(pointwise.default_shape, stride=2)
    assert kernel_types.form_of("CONV_2D", strided) == "CONV_2D"


def test_operator_names_parse() -> None:
    name = kernel_types.OperatorName.parse("Fully Connected (NC, QP8, F32, QC8W) GEMM")
    assert name == kernel_types.OperatorName("Fully Connected", "NC", ("QP8", "F32", "QC8W"))
    assert name.packed_type == "QP8"
    assert kernel_types.OperatorName.parse("Static Reshape (NC)") == kernel_types.OperatorName(
        "Static Reshape", "NC", ())
    assert kernel_types.OperatorName.parse("FULLY_CONNECTED") is None
    assert kernel_types.ran_sme2("Convolution (NHWC, PF32) IGEMM", cpu_has_sme2=True)
    assert not kernel_types.ran_sme2("Convolution (NHWC, PF32) IGEMM", cpu_has_sme2=False)
    assert not kernel_types.ran_sme2("Convolution (NHWC, QD8, F32, QC8W) IGEMM", cpu_has_sme2=True)


def _profiled(*names: str) -> dict[str, Any]:
    """Profile facts as a target reports them (data, for the pure check)."""
    return {"available": True, "reason": "", "cpu_sme2": True, "nodes": [],
            "operators": [{"name": name, "index": i, "us": 1.0} for i, name in enumerate(names)]}


def test_operator_check_wants_the_expected_packed_type() -> None:
    fc = make_cell(OPS["fully_connected"], RECIPES["fp32"])
    ok = operator_check(fc, _profiled("Static Reshape (NC)", "Fully Connected (NC, PF32) GEMM"), required=False)
    assert ok.passed and ok.message == "ran Fully Connected (NC, PF32) GEMM"
    neon = operator_check(fc, _profiled("Fully Connected (NC, F32) GEMM"), required=False)
    assert not neon.passed and neon.message.startswith(f"{NO_PACKED}: the layer ran Fully Connected (NC, F32)")
    dynamic = make_cell(OPS["fully_connected"], RECIPES["dynamic_int8"])
    qp8 = operator_check(dynamic, _profiled("Fully Connected (NC, QP8, F32, QC8W) GEMM"), required=False)
    assert qp8.passed and "NEON KleidiAI kernels too" in qp8.message
    builtin = operator_check(fc, {**_profiled(), "nodes": [{"name": "FULLY_CONNECTED", "us": 3.0}]}, required=False)
    assert not builtin.passed and "XNNPACK did not run the layer" in builtin.message


def test_unavailable_evidence_fails_only_when_kernels_are_required() -> None:
    fc = make_cell(OPS["fully_connected"], RECIPES["fp32"])
    missing = {"available": False, "reason": "unavailable: libLiteRt.so lacks LiteRtStartProfiler"}
    relaxed = operator_check(fc, missing, required=False)
    assert relaxed.passed and relaxed.message == "not checked: unavailable: libLiteRt.so lacks LiteRtStartProfiler"
    strict = operator_check(fc, missing, required=True)
    assert not strict.passed and "--litert-require-sme2-kernels" in strict.message
    assert not operator_check(fc, None, required=True).passed


def test_sme2_kernel_findings_explain_the_profiler_witness_too() -> None:
    cell = make_cell(OPS["conv2d"], RECIPES["dynamic_int8"])
    findings = active_findings(cell, require_sme2_kernels=False)
    assert {f.attribute for f in findings} == {"sme2 kernel", OPERATOR_CHECK}
    assert {f.text for f in findings if f.attribute == OPERATOR_CHECK} == {
        f.text for f in findings if f.attribute == "sme2 kernel"}
    assert active_findings(cell, require_sme2_kernels=True) == ()
    check = operator_check(cell, _profiled("Convolution (NHWC, QD8, F32, QC8W) IGEMM"), required=False)
    assert not check.passed and NO_PACKED in check.message


# --- the emulated SME2 CPU: the profiler against the translation log ------------------------

PATHS = emulator.find()
needs_emulator = pytest.mark.skipif(PATHS is None, reason="run `pytest-litert emulator setup` first")


@pytest.fixture(scope="module")
def sme2_worker() -> Iterator[Any]:
    from pytest_litert.run.qemu.target import QemuTarget

    assert PATHS is not None
    target = QemuTarget(PATHS)
    yield target
    target.close()


@pytest.mark.qemu
@needs_emulator
def test_seed_fc_fp32_shows_pf32_on_qemu_sme2(shared_cache: Path) -> None:
    runner = Runner(Settings.parse({"ops": "fully_connected", "recipes": "fp32", "cache_dir": str(shared_cache),
                                    "target": "qemu-sme2"}))
    try:
        verdict = runner.evaluate_cell(runner.settings.cells()[0])
    finally:
        runner.close()
    checks = {check.name: check for check in verdict.checks}
    assert verdict.status == "pass", verdict.explain()
    assert checks[OPERATOR_CHECK].message == "ran Fully Connected (NC, PF32) GEMM"
    evidence = verdict.kernel_evidence()
    assert evidence["profile"]["operator_type"] == "PF32" and evidence["profile"]["cpu_sme2"] is True
    assert evidence["neon profile"]["main_operator"] == "Fully Connected (NC, F32) GEMM"
    assert "profiler (qemu-sme2): Static Reshape (NC)" in verdict.explain()


class WithoutProfileMode:
    """Fake: the emulated SME2 target behind a worker that has no "profile" mode (an older
    pytest-litert's worker, or a target plugin that does not profile)."""

    def __init__(self, target: Any) -> None:
        self.target, self.name = target, target.name

    def run(self, model: bytes, inputs: dict[str, np.ndarray], mode: str) -> RunResult:
        if mode == "profile":
            raise TargetError("ValueError: unknown run mode 'profile'")
        result: RunResult = self.target.run(model, inputs, mode)
        return result

    def close(self) -> None:
        pass


@pytest.mark.qemu
@needs_emulator
def test_require_sme2_kernels_fails_without_evidence(sme2_worker: Any) -> None:
    cell = make_cell(OPS["fully_connected"], RECIPES["static_int8"])
    artifact = build_artifact(cell, seed=0)
    for required, status in ((False, "pass"), (True, "fail")):
        verdict = evaluate_cell(cell, artifact, WithoutProfileMode(sme2_worker), require_sme2_kernels=required)
        assert verdict.status == status, verdict.explain()
        assert "unavailable: ValueError: unknown run mode 'profile'" in verdict.explain()


@pytest.mark.qemu
@needs_emulator
def test_the_two_witnesses_agree_on_every_seed_sme2_cell(sme2_worker: Any, shared_cache: Path) -> None:
    """Cell by cell: the profiler names a packed KleidiAI operator for the layer (SME2 CPU)
    exactly when the translation log shows a kai_*sme2* kernel in the XNNPACK run."""
    runner = Runner(Settings.parse({"cache_dir": str(shared_cache)}))
    seen: dict[str, tuple[str, list[str]]] = {}
    try:
        for cell in (c for c in select_cells() if c.sme2 and not c.not_produced):
            artifact = runner.artifact(cell)
            inputs = _inputs(artifact)
            try:
                kernels = list(sme2_worker.run(artifact.model, inputs, "xnnpack").facts["sme2_kernels"])
            except TargetError:  # the Interpreter refuses the model (a known finding): no kernel ran
                kernels = []
            profile = sme2_worker.run(artifact.model, inputs, "profile").facts
            names = [op["name"] for op in profile.get("operators", [])]
            seen[cell.id] = (kernel_types.main_operator(cell.op.op_code, names) or profile.get("reason", ""), kernels)
    finally:
        runner.close()
    disagree = {cell: found for cell, found in seen.items()
                if kernel_types.ran_sme2(found[0], cpu_has_sme2=True) != any(k.startswith("kai_") for k in found[1])}
    assert not disagree, disagree
    assert seen["fully_connected-fp32"][0] == "Fully Connected (NC, PF32) GEMM"

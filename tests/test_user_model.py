"""A model the user brings: `pytest_litert.check` and --litert-model on the seed's own
FC 100x640 -> 1280 models, produced by the seed document's script."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pytest_litert
from pytest_litert.convert.artifact import build_artifact
from pytest_litert.judge import numpy_reference
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.layer import main_layer
from pytest_litert.model.quantization import input_tensors
from pytest_litert.usermodel import ModelMismatchError

SEED_SCRIPT = Path(__file__).with_name("data") / "seed_script.py"
SEED_MODELS = ("fc_fp32", "fc_fp16", "fc_dynamic_int8", "fc_static_int8")


@pytest.fixture(scope="module")
def seed_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed's four .tflite files and fc.keras, made by the seed's own script."""
    directory = tmp_path_factory.mktemp("seed")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, str(SEED_SCRIPT)], cwd=directory, check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return directory


@pytest.mark.parametrize("name", SEED_MODELS)
def test_check_passes_the_seed_models(seed_models: Path, name: str) -> None:
    verdict = pytest_litert.check(seed_models / f"{name}.tflite", seed_models / "fc.keras")
    assert verdict.status == "pass", verdict.explain()
    assert verdict.cell_id == f"fully_connected-{name.removeprefix('fc_')}"
    assert {"structure", "delegation", "xnnpack vs keras", "reference vs keras", "numpy vs reference"} <= {
        check.name for check in verdict.checks}


def test_litert_model_option_runs_each_model(pytester: pytest.Pytester, seed_models: Path) -> None:
    models = [f"--litert-model={seed_models / f'{name}.tflite'}" for name in SEED_MODELS]
    result = pytester.runpytest(*models, f"--litert-reference={seed_models / 'fc.keras'}", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*fc_static_int8.tflite::check PASSED*"])


def test_missing_model_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--litert-model=nope.tflite", "--litert-reference=nope.keras")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--litert-model=nope.tflite: no such file*"])


def test_model_without_reference_is_a_usage_error(pytester: pytest.Pytester, seed_models: Path) -> None:
    result = pytester.runpytest(f"--litert-model={seed_models / 'fc_fp32.tflite'}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*give one --litert-reference (the saved Keras model) per --litert-model*"])


def test_junk_tflite_is_named(tmp_path: Path, seed_models: Path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelMismatchError, match=r"junk\.tflite: not a \.tflite model"):
        pytest_litert.check(junk, seed_models / "fc.keras")


def test_signature_mismatch_is_named(seed_models: Path) -> None:
    other = build_artifact(make_cell(OPS["fully_connected"], RECIPES["fp32"]), seed=0)
    with pytest.raises(ModelMismatchError, match=r"takes inputs of shape \[\(100, 640\)\] but the .tflite takes"):
        pytest_litert.check(other.model, seed_models / "fc.keras")


def test_nan_output_says_where(seed_models: Path) -> None:
    """A real model with one weight overwritten by NaN: the failure names the element."""
    model = (seed_models / "fc_fp32.tflite").read_bytes()
    first_weight = model.find(np.float32(_first_weight(seed_models)).tobytes())
    assert first_weight > 0
    broken = model[:first_weight] + np.float32(np.nan).tobytes() + model[first_weight + 4:]
    verdict = pytest_litert.check(broken, seed_models / "fc.keras")
    assert verdict.status == "fail"
    assert "non-finite outputs, first at index (0, 0)" in verdict.reason


def _first_weight(seed_models: Path) -> float:
    from pytest_litert.convert.keras_models import import_keras

    model = import_keras().models.load_model(seed_models / "fc.keras", compile=False)
    return float(model.layers[-1].get_weights()[0][0, 0])


def test_unmodelled_operator_is_reported_and_the_others_still_run() -> None:
    cell = make_cell(OPS["fully_connected"], RECIPES["fp32"])
    artifact = build_artifact(cell, seed=0)
    inspection = artifact.inspection
    tanh = dataclasses.replace(inspection, operators=tuple(
        dataclasses.replace(op, fused_activation="TANH") for op in inspection.operators))
    inputs = artifact.model_inputs[0]
    with pytest.raises(numpy_reference.Unmodelled, match="fused activation TANH is not modelled"):
        numpy_reference.evaluate(cell, tanh, main_layer(tanh, cell.op.op_code), inputs,
                                 input_tensors(tanh, list(inputs)))


def test_check_takes_one_array_a_list_a_tuple_or_a_dict(seed_models: Path) -> None:
    """The three ways TFLite, ONNX and Keras users pass inputs give the same verdict."""
    from pytest_litert.convert.keras_models import import_keras

    keras_model = import_keras().models.load_model(seed_models / "fc.keras", compile=False)
    x = np.random.default_rng(3).uniform(-1, 1, (100, 640)).astype(np.float32)
    name = keras_model.inputs[0].name
    model = seed_models / "fc_fp32.tflite"
    verdicts = [pytest_litert.check(model, keras_model, inputs=form) for form in (x, [x], (x,), {name: x})]
    assert {v.status for v in verdicts} == {"pass"}, verdicts[0].explain()
    assert all(v.checks == verdicts[0].checks for v in verdicts)


@pytest.mark.parametrize(("make_inputs", "problem"), [
    (lambda x: [x, x], "got a list of 2 array(s)"),
    (lambda x: x[:10], "has shape (10, 640)"),
    (lambda x: (x * 100).astype(np.int32), "has dtype int32"),
    (lambda x: {"nope": x}, "no input named 'nope'"),
    (lambda x: "x.npy", "got str"),
])
def test_check_rejects_inputs_naming_what_the_model_takes(seed_models: Path, make_inputs: Any, problem: str) -> None:
    x = np.zeros((100, 640), np.float32)
    with pytest.raises(ValueError, match="check\\(\\) inputs: ") as caught:
        pytest_litert.check(seed_models / "fc_fp32.tflite", seed_models / "fc.keras", inputs=make_inputs(x))
    message = str(caught.value)
    assert problem in message
    assert "float32 (100, 640)" in message and "a dict by input name" in message


def _standard_fp16(layer: Any, input_shape: tuple[int, ...]) -> tuple[bytes, Any]:
    """TensorFlow's documented float16 recipe (no accumulation hint), as a user writes it."""
    from pytest_litert.convert.keras_models import import_keras

    keras = import_keras()
    import tensorflow as tf

    inputs = keras.Input(shape=input_shape[1:], batch_size=input_shape[0])
    model = keras.Model(inputs, layer(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    return converter.convert(), model


@pytest.mark.parametrize(("make_layer", "input_shape"), [
    (lambda keras: keras.layers.Dense(48), (4, 96)),
    (lambda keras: keras.layers.Conv2D(24, 3, padding="same"), (1, 8, 8, 16)),
    (lambda keras: keras.layers.Conv2D(24, 3, strides=2, padding="valid"), (1, 9, 9, 16)),
    (lambda keras: keras.layers.Conv2D(24, 3, dilation_rate=2, padding="same"), (1, 9, 9, 16)),
    (lambda keras: keras.layers.Conv2DTranspose(24, 3, strides=2, padding="same"), (1, 6, 6, 16)),
], ids=["dense", "conv2d", "conv2d-strided", "conv2d-dilated", "conv2d-transpose"])
def test_tensorflow_standard_fp16_recipe_passes(make_layer: Any, input_shape: tuple[int, ...]) -> None:
    """It stores fp16 weights with the metadata fp16accfp32: the fp16_weights recipe, not a failure."""
    from pytest_litert.convert.keras_models import import_keras

    model_bytes, keras_model = _standard_fp16(make_layer(import_keras()), input_shape)
    verdict = pytest_litert.check(model_bytes, keras_model)
    assert verdict, verdict.explain()
    assert verdict.cell_id.endswith("-fp16_weights")

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


# --- a transformer's fully connected layer and a depthwise convolution, as users build them ---

def _user_model(layer: Any, input_shape: tuple[int | None, ...], recipe: str) -> tuple[bytes, Any]:
    """A one-layer Keras model (a None batch is Keras's default `Input(shape=...)`) converted
    with one of the matrix's recipes, calibrated on uniform [-1, 1] draws at batch 1."""
    from pytest_litert.convert.converter import convert
    from pytest_litert.convert.keras_models import import_keras
    from pytest_litert.convert.quiet import quiet

    keras = import_keras()
    inputs = keras.Input(shape=input_shape[1:], batch_size=input_shape[0], name="x")
    model = keras.Model(inputs, layer(inputs))
    rng = np.random.default_rng(5)
    dims = tuple(d or 1 for d in input_shape)
    calibration = [{"x": rng.uniform(-1, 1, dims).astype(np.float32)} for _ in range(8)]
    with quiet():
        return convert(model, recipe, calibration), model


def _inspect(model_bytes: bytes) -> Any:
    from pytest_litert.model.flatbuffer import inspect_model

    return inspect_model(model_bytes)


@pytest.mark.parametrize("recipe", ["fp32", "fp16", "dynamic_int8", "static_int8", "int4"])
@pytest.mark.parametrize("batch", [2, None], ids=["fixed-batch", "dynamic-batch"])
def test_check_judges_a_dense_layer_on_a_sequence(recipe: str, batch: int | None) -> None:
    """Dense on (batch, tokens, features): one FULLY_CONNECTED with keep_num_dims at a fixed
    batch; at a dynamic batch the converter wraps it in RESHAPEs whose shapes SHAPE, GATHER,
    REDUCE_PROD, PACK and CONCATENATION compute, all part of the layer (model/layer.py)."""
    from pytest_litert.convert.keras_models import import_keras

    model_bytes, keras_model = _user_model(import_keras().layers.Dense(48), (batch, 16, 64), recipe)
    inspection = _inspect(model_bytes)
    assert ("RESHAPE" in inspection.op_codes) == (batch is None)
    layer = main_layer(inspection, "FULLY_CONNECTED")
    assert layer is not None and layer.operators == frozenset(range(len(inspection.operators)))
    verdict = pytest_litert.check(model_bytes, keras_model)
    assert verdict, verdict.explain()
    assert verdict.cell_id == f"fully_connected_3d-{recipe}"
    numpy_check = next(c for c in verdict.checks if c.name == "numpy vs reference")
    assert "not modelled" not in numpy_check.message  # the RESHAPE wrap is modelled, not skipped


@pytest.mark.parametrize("recipe", ["fp32", "fp16_weights", "dynamic_int8", "static_int8", "int16x8"])
def test_check_judges_a_depthwise_convolution(recipe: str) -> None:
    """DepthwiseConv2D with a depth multiplier, strides and SAME padding: n = 32 x 4 output
    channels, per-channel scales on the filter's axis 3; outside the seed table, so no
    KleidiAI kernel is expected and none is asked for."""
    from pytest_litert.convert.keras_models import import_keras

    layer = import_keras().layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=4)
    model_bytes, keras_model = _user_model(layer, (1, 9, 9, 32), recipe)
    verdict = pytest_litert.check(model_bytes, keras_model)
    assert verdict, verdict.explain()
    assert verdict.cell_id == f"depthwise_conv2d-{recipe}"
    assert "sme2 kernel" not in {c.name for c in verdict.checks}
    if recipe in ("dynamic_int8", "static_int8", "int16x8"):
        weights = main_layer(_inspect(model_bytes), "DEPTHWISE_CONV_2D")
        assert weights is not None and weights.weights.quantized_dimension == 3
        assert len(weights.weights.scales) == 128


def test_check_names_a_depthwise_kernel_it_cannot_model() -> None:
    from pytest_litert.convert.keras_models import import_keras

    layer = import_keras().layers.DepthwiseConv2D((3, 5), padding="same")
    model_bytes, keras_model = _user_model(layer, (1, 8, 8, 128), "fp32")
    with pytest.raises(ModelMismatchError, match=r"square kernels.*kernel_size=\(3, 5\)"):
        pytest_litert.check(model_bytes, keras_model)


def test_an_operator_outside_the_layer_is_named() -> None:
    """The RESHAPE wrap is accepted as part of a Dense layer; a real second operation is not."""
    from pytest_litert.convert.keras_models import import_keras

    keras = import_keras()
    model_bytes, keras_model = _user_model(lambda x: keras.layers.Dense(48)(x) * 2.0, (None, 16, 64), "fp32")
    with pytest.raises(ModelMismatchError, match="MUL outside the layer"):
        pytest_litert.check(model_bytes, keras_model)

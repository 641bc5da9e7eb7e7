"""Whole models, op by op, on real architectures built from Keras (small instances; the full-size
MobileNetV2 and encoder block are the `slow` tests below and `tox -e whole-models`).

Every matrix operator of each conversion (fp32, fp16, dynamic int8, static int8) is judged on
the inputs the model gave it, against its Keras layers and from the file alone, with no false
failure; a fault planted in one operator is blamed on that operator; `pytest-litert check`,
`--litert-model` and `pytest-litert diff` show it op by op.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pytest_litert
from pytest_litert.cli import main
from pytest_litert.convert import architectures
from pytest_litert.faults.mutations import mutants
from pytest_litert.judge.model_verdict import ModelVerdict
from pytest_litert.model.cut import cut, static_shapes, unshare
from pytest_litert.model.flatbuffer import inspect_model
from pytest_litert.model.graph import MATRIX_OP_CODES, ModelGraph
from pytest_litert.run.targets import host_target
from pytest_litert.wholemodel import check_model

RECIPES = architectures.WHOLE_MODEL_RECIPES
SMALL: dict[str, Any] = {
    "blocks": architectures.mobile_blocks,
    "encoder": lambda: architectures.encoder_block(sequence=8, width=32, heads=2, hidden=64),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, dict[str, bytes], Path]]:
    """Per architecture: the Keras model, its four conversions, and where they are saved."""
    directory = tmp_path_factory.mktemp("whole")
    found = {}
    for name, build in SMALL.items():
        model = build()
        converted = architectures.convert_all(model)
        model.save(directory / f"{name}.keras")
        for recipe, data in converted.items():
            (directory / f"{name}_{recipe}.tflite").write_bytes(data)
        found[name] = (model, converted, directory)
    return found


def _matrix_ops(data: bytes) -> list[str]:
    graph = ModelGraph.of(inspect_model(data))
    return [f"op{position:03d}-{op.op_code}" for position, op in enumerate(graph.own_operators())
            if op.op_code in MATRIX_OP_CODES]


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("name", SMALL)
def test_every_matrix_operator_is_judged_against_its_keras_layers(models: dict[str, Any], name: str,
                                                                   recipe: str) -> None:
    model, converted, _ = models[name]
    verdict = check_model(converted[recipe], model)
    assert verdict.status == "pass", verdict.explain()
    assert [op.id for op in verdict.judged] == _matrix_ops(converted[recipe])
    assert verdict.counts()["not judged"] == 0 and not verdict.unmatched_layers
    for op in verdict.judged:
        assert op.verdict is not None
        names = {check.name for check in op.verdict.checks}
        if op.op_code == "BATCH_MATMUL":  # attention's two run-time operands: inside 'mha', file-only
            assert op.keras.startswith("unmatched:") and "'mha'" in op.keras, op.keras
            assert {"xnnpack vs file", "reference vs file"} <= names
        else:
            assert "by name" in op.keras, op.keras
            assert {"constants vs keras", "xnnpack vs keras", "reference vs keras", "numpy vs reference"} <= names
    assert {"xnnpack vs reference", "xnnpack vs keras", "reference vs keras"} == set(verdict.end_to_end)
    assert verdict.end_to_end["xnnpack vs keras"]["cosine"] > 0.99


def test_without_keras_every_matrix_operator_is_judged_from_the_file(models: dict[str, Any]) -> None:
    _, converted, _ = models["encoder"]  # the pytester test below judges the blocks without Keras too
    verdict = pytest_litert.check(converted["dynamic_int8"])  # no Keras model: file-only
    assert isinstance(verdict, ModelVerdict) and verdict.reference == "file"
    assert verdict.status == "pass", verdict.explain()
    assert [op.id for op in verdict.judged] == _matrix_ops(converted["dynamic_int8"])
    for op in verdict.judged:
        assert op.verdict is not None
        names = {check.name for check in op.verdict.checks}
        assert "xnnpack vs file" in names and not any(n.endswith("vs keras") for n in names), names
    assert "file-only" in verdict.summary()


@pytest.mark.parametrize(("name", "recipe", "position"), [("blocks", "static_int8", 3), ("encoder", "fp32", 5)])
def test_a_fault_in_one_operator_is_blamed_on_that_operator(models: dict[str, Any], name: str, recipe: str,
                                                            position: int) -> None:
    model, converted, _ = models[name]
    static = static_shapes(converted[recipe])
    graph = ModelGraph.of(inspect_model(static))
    own = list(enumerate(graph.own_operators()))
    place, target_op = [(i, op) for i, op in own if op.op_code in ("CONV_2D", "FULLY_CONNECTED")][position]
    mutant = mutants(unshare(static, graph, target_op.index), target_op.op_code, op_index=target_op.index,
                     kinds=("weight+4steps",))[0]
    verdict = check_model(mutant.model, model)
    blamed = [op.id for op in verdict.failures]
    assert blamed == [f"op{place:03d}-{target_op.op_code}"], verdict.explain()
    assert "constants vs keras" in verdict.reason
    assert graph.tensor_names(target_op.index)[1][:40] in verdict.failures[0].blame()


def test_a_cut_operator_computes_what_it_computed_in_the_model(models: dict[str, Any]) -> None:
    """Every operator of the static int8 encoder (QUANTIZE, DEQUANTIZE, LayerNorm pieces included),
    cut out and run alone on the reference kernels, reproduces its tensor bit for bit."""
    _, converted, _ = models["encoder"]
    static = static_shapes(converted["static_int8"])
    graph = ModelGraph.of(inspect_model(static))
    target = host_target()
    try:
        name, index = next(iter(graph.inspection.signature_inputs.items()))
        x = np.random.default_rng(0).integers(-128, 128, graph.tensor(index).shape).astype(np.int8)
        tensors = {int(k[1:]): v for k, v in target.run(static, {name: x}, "tensors").outputs.items()}
        for op in graph.own_operators():
            piece = cut(static, graph, op.index, {i: v.shape for i, v in tensors.items()})
            alone = target.run(piece.model, {n: tensors[t] for n, t in piece.inputs.items()}, "reference").output
            assert np.array_equal(alone, tensors[piece.output]), f"op{op.index} {op.op_code}"
    finally:
        target.close()


def test_check_prints_the_table_and_diff_compares_two_conversions_op_by_op(
        models: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, directory = models["blocks"]
    runs = []
    for recipe in ("fp32", "fp16"):
        runs.append(tmp_path / f"{recipe}.json")
        code = main(["check", str(directory / f"blocks_{recipe}.tflite"), str(directory / "blocks.keras"),
                     "--json", str(runs[-1])])
        assert code == 0
    shown = capsys.readouterr().out
    assert "op000-CONV_2D" in shown and "XNNPACK operator" in shown and "stem + stem_BN + stem_relu" in shown
    cells = json.loads(runs[0].read_text())["cells"]
    assert [c["cell"] for c in cells][:2] == ["op000-CONV_2D", "op001-CONV_2D"] and cells[-1]["cell"] == "model"
    assert cells[0]["matrix_cell"] == "conv2d-fp32" and cells[0]["numeric"]
    assert main(["diff", str(runs[0]), str(runs[1])]) == 0
    diff = capsys.readouterr().out
    assert "`op000-CONV_2D`" in diff and "fp16_hint" in diff


def test_litert_model_expands_a_whole_model_into_one_test_per_operator(pytester: pytest.Pytester,
                                                                      models: dict[str, Any]) -> None:
    _, converted, directory = models["blocks"]
    result = pytester.runpytest(f"--litert-model={directory / 'blocks_static_int8.tflite'}",
                                f"--litert-model={directory / 'blocks_fp32.tflite'}",
                                f"--litert-reference={directory / 'blocks.keras'}", "--litert-reference=none", "-v")
    count = len(_matrix_ops(converted["fp32"]))
    result.assert_outcomes(passed=2 * count)
    result.stdout.fnmatch_lines(["*blocks_static_int8.tflite::op000-CONV_2D PASSED*",
                                 "*blocks_fp32.tflite::op009-FULLY_CONNECTED PASSED*",
                                 "*LiteRT whole models*",
                                 f"*blocks_static_int8.tflite: pass, {count} of * judged against Keras*",
                                 f"*blocks_fp32.tflite: pass, {count} of * judged file-only*"])


def test_a_dynamic_batch_model_is_profiled_and_its_wrapped_layer_judged() -> None:
    """keras.Input without a batch size: the converter wraps a 3-D Dense in RESHAPEs and stores
    a dynamic batch, which LiteRT's C API profiler cannot allocate; the static copy can."""
    from pytest_litert.convert.converter import convert
    from pytest_litert.convert.keras_models import import_keras
    from pytest_litert.convert.quiet import quiet

    keras = import_keras()
    keras.utils.set_random_seed(1)
    x = keras.Input((8, 16))
    model = keras.Model(x, keras.layers.Dense(8)(keras.layers.Dense(32, activation="relu")(x)))
    with quiet():
        data = convert(model, "fp32", [])
    assert "RESHAPE" in inspect_model(data).op_codes  # the dynamic batch's wrap
    verdict = check_model(data, model)
    assert verdict.status == "pass", verdict.explain()
    assert verdict.profile.get("available"), verdict.profile.get("reason")
    assert [op.recipe for op in verdict.judged] == ["fp32", "fp32"]
    assert all("by name" in op.keras for op in verdict.judged)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("name", ["mobilenet_v2", "encoder"])
def test_full_size_architectures(name: str, recipe: str) -> None:
    """`tox -e whole-models`: keras.applications.MobileNetV2 (alpha 0.35, 32x32) and the encoder
    block at width 64, every recipe, with and without Keras: no false failure."""
    model = architectures.mobilenet_v2() if name == "mobilenet_v2" else architectures.encoder_block()
    data = architectures.convert_all(model, (recipe,))[recipe]
    for reference in (model, None):
        verdict = check_model(data, reference)
        assert verdict.status == "pass", verdict.explain()
        assert verdict.counts()["not judged"] == 0

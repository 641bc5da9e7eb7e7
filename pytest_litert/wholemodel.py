"""Judge a whole model op by op: `check_model(tflite, keras_model=None)`.

The model runs once on the reference kernels with every tensor kept (run/model_run.py). Each
operator of a kind the matrix knows is cut out with its constants (model/cut.py), read as a
matrix cell (model/opform.py, recipe inferred from the cut file), and judged exactly as a cell
(session.evaluate_cell) on the inputs the model gave it:

- file-only (no Keras model, or an operator no Keras layer matches): structure against the
  inferred recipe, delegation, XNNPACK and the reference kernels against the file's own
  numbers in float64 within the recipe's derived bound ("<lane> vs file"), LiteRT's reference
  kernels against NumPy modelling them ("numpy vs reference"), kernel evidence;
- with the Keras model, for each operator matched to its layers (convert/keras_match.py,
  convert/keras_side.py): the stored constants against the layers' weights ("constants vs
  keras") and every lane against the layers' own output on the same inputs ("<lane> vs keras").

Other operators are run alone on XNNPACK and the reference kernels for information. The whole
model's profiled run says where the time went and which operators ran packed KleidiAI types.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pytest_litert.judge.file_reference import file_output, file_weights
from pytest_litert.judge.model_verdict import INFO, NOT_JUDGED, ModelVerdict, OpReport, information
from pytest_litert.judge.op_times import attribute_times
from pytest_litert.judge.structure import infer_recipe
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import LayerShape, OpSpec
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import Arrays, CellArtifact, LayerWeights
from pytest_litert.model.cut import CutModel, Cutter, static_shapes
from pytest_litert.model.flatbuffer import ModelFormatError, ModelInspection, OperatorInfo, inspect_model
from pytest_litert.model.graph import MATRIX_OP_CODES, ModelGraph
from pytest_litert.model.layer import MainLayer, main_layer
from pytest_litert.model.opform import NotJudged, op_form
from pytest_litert.model.quantization import INTEGER_DTYPES, dequantize, dequantize_inputs, quantize
from pytest_litert.run.model_run import ModelRun, run_model, run_operator
from pytest_litert.run.targets import Target, host_target
from pytest_litert.session import evaluate_cell
from pytest_litert.wholemodel_keras import KerasMatches, OpToFind, end_to_end, keras_matches

DRAWS = 1  # whole-model input draws: each operator then sees one realistic activation tensor per draw


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One operator of the model, cut out and read; `why` says why a matrix operator is not judged."""

    op: OperatorInfo
    names: tuple[str, ...]
    position: int = -1  # among the model's own operators (the report's op id)
    cut: CutModel | None = None
    inspection: ModelInspection | None = None
    layer: MainLayer | None = None
    spec: OpSpec | None = None
    shape: LayerShape | None = None
    recipe: str = ""
    why: str = ""


def check_model(tflite: bytes | str | Path, keras_model: Any = None, *, inputs: Arrays | None = None,
                seed: int = 0, draws: int = DRAWS, target: Target | None = None,
                memo: dict[str, OpReport] | None = None) -> ModelVerdict:
    """Every operator of `tflite` judged on its own inputs (see the module docstring); `keras_model`
    (a Keras model or a saved .keras path) adds the Keras-side checks. `inputs`: float inputs by
    signature input name (put on an integer input's grid); by default `draws` seeded uniform
    [-1, 1] draws. `memo`: reports of operators judged before (fault injection checks one model
    many times, against one Keras model): an operator whose single-op model and inputs are the
    same bytes is not run again."""
    began = time.perf_counter()
    name = Path(tflite).name if isinstance(tflite, str | Path) else "model"
    raw = Path(tflite).read_bytes() if isinstance(tflite, str | Path) else bytes(tflite)
    model = static_shapes(_readable(raw, name))
    graph = ModelGraph.of(inspect_model(model))
    keras = _load(keras_model)
    feeds = [_given(graph.inspection, inputs)] if inputs is not None else model_draws(graph.inspection, seed, draws)
    owned = target is None
    target = target or host_target()
    try:
        run = run_model(model, feeds, target)
        shapes = {index: value.shape for index, value in run.tensors[0].items()}
        cutter = Cutter(model, graph)
        prepared = [prepare(cutter, op, shapes, position) for position, op in enumerate(graph.own_operators())]
        matches = keras_matches(keras, graph, _to_find(prepared)) if keras is not None else KerasMatches()
        profiles: dict[tuple[Any, ...], dict[str, Any]] = {}  # one profiled run per kind of other operator
        reports = [_memoized(memo, item, run, functools.partial(_report, item, run, matches, target, profiles))
                   for item in prepared]
    finally:
        if owned:
            target.close()
    return _verdict(name, graph, run, reports, matches, keras, feeds, time.perf_counter() - began)


def _readable(model: bytes, name: str) -> bytes:
    try:
        inspect_model(model)
    except ModelFormatError as error:
        raise ValueError(f"{name}: {error}") from error
    return model


def _load(keras_model: Any) -> Any:
    if isinstance(keras_model, str | Path):
        from pytest_litert.convert.keras_models import import_keras

        return import_keras().models.load_model(keras_model, compile=False)
    return keras_model


def model_draws(inspection: ModelInspection, seed: int, draws: int) -> list[Arrays]:
    """Seeded uniform [-1, 1] inputs by signature name, put on an integer input's grid."""
    rng = np.random.default_rng(seed)
    inputs = inspection.signature_inputs or {f"input_{i}": t for i, t in enumerate(inspection.inputs)}
    return [{name: quantize(inspection.tensors[t], rng.uniform(-1, 1, inspection.tensors[t].shape))
             for name, t in inputs.items()} for _ in range(draws)]


def _given(inspection: ModelInspection, inputs: Arrays) -> Arrays:
    names = inspection.signature_inputs
    unknown = sorted(set(inputs) ^ set(names))
    if unknown:
        raise ValueError(f"check_model() inputs: give one float array per signature input "
                         f"({', '.join(names)}); got {', '.join(inputs) or 'none'}")
    return {name: quantize(inspection.tensors[names[name]], np.asarray(value, np.float64))
            for name, value in inputs.items()}


def prepare(cutter: Cutter, op: OperatorInfo, shapes: dict[int, tuple[int, ...]], position: int = -1) -> Prepared:
    """Cut the operator out and, for a matrix operator, read its cell; never raises."""
    names = cutter.graph.tensor_names(op.index)
    try:
        piece = cutter.cut(op.index, shapes)
        inspection = inspect_model(piece.model)
    except Exception as error:  # a graph this surgery cannot lift out (subgraphs, custom ops)
        return Prepared(op, names, position, why=f"cannot be cut out alone: {type(error).__name__}: {error}")
    found = Prepared(op, names, position, piece, inspection)
    if op.op_code not in MATRIX_OP_CODES:
        return found
    layer = main_layer(inspection, op.op_code)
    try:
        extra = sorted(set(piece.inputs) - {"x", "y"})
        if layer is None or extra:
            raise NotJudged(f"run-time inputs the matrix's {op.op_code} does not have: {', '.join(extra)}")
        spec, shape = op_form(inspection, layer)
        if not spec.constant_weights and "y" not in piece.inputs:
            raise NotJudged("both operands are the same tensor")
    except NotJudged as error:
        return dataclasses.replace(found, layer=layer, why=str(error))
    return dataclasses.replace(found, layer=layer, spec=spec, shape=shape, recipe=infer_recipe(inspection, op.op_code))


def _to_find(prepared: list[Prepared]) -> list[OpToFind]:
    return [OpToFind(p.op.index, p.spec, p.shape, p.layer is not None and p.layer.bias is not None)
            for p in prepared if p.spec is not None and p.shape is not None]


def _memoized(memo: dict[str, OpReport] | None, item: Prepared, run: ModelRun,
              make: Callable[[], OpReport]) -> OpReport:
    if memo is None or item.cut is None:
        return make()
    digest = hashlib.sha256(item.cut.model)
    for tensors in run.tensors:
        for name, index in sorted(item.cut.inputs.items()):
            digest.update(name.encode() + np.ascontiguousarray(tensors[index]).tobytes())
    key = f"{item.op.index}:{digest.hexdigest()}"
    if key not in memo:
        memo[key] = make()
    return memo[key]


def _report(item: Prepared, run: ModelRun, matches: KerasMatches, target: Target,
            profiles: dict[tuple[Any, ...], dict[str, Any]]) -> OpReport:
    base = OpReport(item.op.index, item.op.op_code, item.names, INFO, reason=item.why, position=item.position)
    if item.cut is None or item.inspection is None:
        return dataclasses.replace(base, status=NOT_JUDGED if item.op.op_code in MATRIX_OP_CODES else INFO)
    inputs = [{name: tensors[t] for name, t in item.cut.inputs.items()} for tensors in run.tensors]
    if item.spec is None or item.shape is None or item.layer is None:
        return _inform(base, item, inputs[0], target, profiles)
    return _judge(base, item, inputs, matches, target)


def _inform(base: OpReport, item: Prepared, inputs: Arrays, target: Target,
            profiles: dict[tuple[Any, ...], dict[str, Any]]) -> OpReport:
    """An operator outside the matrix (or one it cannot model): XNNPACK vs reference, for information.
    Operators of one kind, dtypes, shapes and options run the same XNNPACK operator: profiled once."""
    assert item.cut is not None and item.inspection is not None
    kind = (item.op.op_code, item.op.options, tuple((t.dtype, t.shape) for t in item.inspection.tensors))
    found = run_operator(item.cut.model, inputs, target, profiles.get(kind))
    profiles.setdefault(kind, found.profile)
    output = item.inspection.tensors[item.inspection.outputs[0]]

    def widen(values: np.ndarray) -> np.ndarray:
        return dequantize(output, values) if output.dtype in INTEGER_DTYPES else values.astype(np.float64)

    metrics, problem = information(found.outputs, found.errors, widen)
    status = NOT_JUDGED if item.op.op_code in MATRIX_OP_CODES else INFO
    reason = "; ".join(part for part in (item.why, problem) if part)
    return dataclasses.replace(base, status=status, reason=reason, information=metrics,
                               operators=_operators(found.profile), model=item.cut.model)


def _judge(base: OpReport, item: Prepared, inputs: list[Arrays], matches: KerasMatches, target: Target) -> OpReport:
    """The cut operator as a matrix cell on the model's own inputs."""
    assert item.cut is not None and item.inspection is not None and item.layer is not None
    assert item.spec is not None and item.shape is not None
    floats = [dequantize_inputs(item.inspection, draw) for draw in inputs]
    output_shape = item.inspection.tensors[item.inspection.outputs[0]].shape
    chain = matches.chains.get(item.op.index)
    if chain is not None:
        weights, references = matches.side(chain, floats, output_shape)
        reference = "keras"
    else:
        weights = file_weights(item.spec, item.shape, item.inspection, item.layer)
        references = [file_output(item.spec, item.shape, item.layer, weights, draw) for draw in floats]
        reference = "file"
    cell = dataclasses.replace(make_cell(item.spec, RECIPES[item.recipe], item.shape), not_produced="")
    artifact = CellArtifact(item.cut.model, LayerWeights(weights.kernel, weights.bias), inputs, floats, references,
                            reference=reference)
    verdict = evaluate_cell(cell, artifact, target)
    evidence = verdict.kernel_evidence().get("profile", {})
    ran = tuple(str(op["name"]) for op in evidence.get("operators", []))
    return dataclasses.replace(base, status=str(verdict.status), verdict=verdict, recipe=item.recipe,
                               keras=matches.describe(item.op.index), operators=ran, cell=cell, model=item.cut.model)


def _operators(profile: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(op["name"]) for op in profile.get("operators") or []) if profile.get("available") else ()


def _verdict(name: str, graph: ModelGraph, run: ModelRun, reports: list[OpReport], matches: KerasMatches,
             keras: Any, inputs: list[Arrays], seconds: float) -> ModelVerdict:
    times = attribute_times(run.profile, {r.index: r.operators for r in reports},
                            {r.index: r.op_code for r in reports})
    reports = [dataclasses.replace(r, time_us=times.get(r.index)) for r in reports]
    return ModelVerdict(
        model=name, ops=tuple(reports), reference="keras" if keras is not None else "file", target=run.target,
        end_to_end=end_to_end(graph.inspection, run, keras, inputs), profile=run.profile,
        unmatched_layers=matches.unclaimed, notes=(*run.notes, *matches.notes), seconds=seconds)

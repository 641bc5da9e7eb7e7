"""Judge a model the user brings: a .tflite and the Keras model it was converted from.

`check(tflite, keras_model)` infers the cell (operator, recipe, shape) from the two
models, then runs exactly the matrix's checks and returns the same Verdict, so a team can
regression-test its own converted single-layer models after a converter upgrade. A whole
model (a Keras model of several layers, or no Keras model at all: file-only) is judged op by
op instead (wholemodel.py) and gives a ModelVerdict.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_litert.convert.artifact import INPUT_DRAWS
from pytest_litert.convert.keras_models import import_keras, keras_outputs
from pytest_litert.judge.structure import infer_recipe
from pytest_litert.judge.verdict import Verdict
from pytest_litert.matrix.cells import Cell, make_cell
from pytest_litert.matrix.ops import OPS, LayerShape
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import Arrays, CellArtifact, LayerWeights
from pytest_litert.model.flatbuffer import ModelFormatError, ModelInspection, inspect_model
from pytest_litert.model.layer import main_layer
from pytest_litert.model.quantization import dequantize_inputs, quantize_inputs
from pytest_litert.run.targets import Target, host_target
from pytest_litert.session import evaluate_cell

if TYPE_CHECKING:
    from pytest_litert.judge.model_verdict import ModelVerdict

SUPPORTED = ("FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")
GRAPH_IO = frozenset({"QUANTIZE", "DEQUANTIZE"})  # conversions at the graph's inputs and outputs


class ModelMismatchError(ValueError):
    """The .tflite and the Keras model do not describe the same single layer."""


Inputs = Arrays | np.ndarray | list[np.ndarray] | tuple[np.ndarray, ...]
ACCEPTED_FORMS = ("one array (a single-input model), a list or tuple with one array per model input "
                  "in the Keras model's input order, or a dict by input name")


def check(tflite: bytes | str | Path, keras_model: Any = None, inputs: Inputs | None = None,
          *, seed: int = 0, target: Target | None = None) -> Verdict | ModelVerdict:
    """Structure, delegation and numbers of `tflite` against `keras_model` (a Keras model or
    the path of a saved .keras file). `inputs`: float inputs, as ACCEPTED_FORMS says; by
    default seeded uniform [-1, 1] draws. Either way they are put on the model's input grid.
    Inputs of another count, shape or dtype raise ValueError naming what the model takes.

    A Keras model of one layer gives the single layer's Verdict; one of several layers, or
    none (file-only), judges the whole model op by op: a ModelVerdict (`check_model`)."""
    model_bytes = Path(tflite).read_bytes() if isinstance(tflite, (str, Path)) else bytes(tflite)
    try:
        inspection = inspect_model(model_bytes)
    except ModelFormatError as error:
        raise ModelMismatchError(f"{tflite if not isinstance(tflite, bytes) else 'the model'}: {error}") from error
    if isinstance(keras_model, (str, Path)):
        keras_model = import_keras().models.load_model(keras_model, compile=False)
    if keras_model is None or len(_layers(keras_model)) > 1:
        from pytest_litert.wholemodel import check_model

        if inputs is not None and not isinstance(inputs, dict):
            raise ValueError(f"check() inputs of a whole model: a dict by signature input name "
                             f"({', '.join(inspection.signature_inputs)})")
        return check_model(tflite if isinstance(tflite, str | Path) else model_bytes, keras_model, inputs=inputs,
                           seed=seed, target=target)
    cell, weights, keras_names = infer_cell(inspection, keras_model)
    names = signature_names(cell, inspection)
    artifact = _artifact(cell, model_bytes, inspection, keras_model, weights, (names, keras_names), inputs, seed)
    owned = target is None
    target = target or host_target()
    try:
        return evaluate_cell(cell, artifact, target)
    finally:
        if owned:
            target.close()


def infer_cell(inspection: ModelInspection, model: Any) -> tuple[Cell, LayerWeights, dict[str, str]]:
    op_code = _main_op_code(inspection)
    layers = _layers(model)
    if len(layers) != 1:
        raise ModelMismatchError(f"the Keras model must have one layer besides its inputs; it has "
                                 f"{[layer.__class__.__name__ for layer in layers]}")
    layer = layers[0]
    op_name, shape = _op_and_shape(layer, _input_shapes(model, inspection))
    op = OPS[op_name]
    if op.op_code != op_code:
        raise ModelMismatchError(f"the Keras layer {layer.__class__.__name__} becomes {op.op_code}, "
                                 f"but the .tflite holds {op_code}")
    cell = make_cell(op, RECIPES[infer_recipe(inspection, op_code)], shape)
    _check_signature(cell, inspection)
    values = layer.get_weights()
    weights = LayerWeights(np.asarray(values[0], np.float32) if values else None,
                           np.asarray(values[1], np.float32) if len(values) > 1 else None)
    names = dict(zip(op.input_shapes(shape), (t.name for t in model.inputs), strict=False))
    return cell, weights, names


def single_layer(inspection: ModelInspection) -> bool:
    """The file is one matrix layer (plus conversions at its inputs and outputs)."""
    try:
        _main_op_code(inspection)
    except ModelMismatchError:
        return False
    return True


def _layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if layer.__class__.__name__ != "InputLayer"]


def _main_op_code(inspection: ModelInspection) -> str:
    """The one operator of a single-layer model; the other operators must be part of its layer
    (model/layer.py: DEQUANTIZE of its constants, the RESHAPE wrap of a dynamic batch and its
    shape arithmetic) or convert the graph's inputs and outputs."""
    main = [code for code in inspection.op_codes if code in SUPPORTED]
    layer = main_layer(inspection, main[0]) if len(main) == 1 else None
    outside = [op.op_code for op in inspection.operators
               if layer is not None and op.index not in layer.operators and op.op_code not in GRAPH_IO]
    if layer is None or outside:
        extra = f" ({', '.join(sorted(set(outside)))} outside the layer)" if outside else ""
        raise ModelMismatchError(
            f"check() judges single-layer models of {', '.join(SUPPORTED)}; this model has "
            f"{', '.join(inspection.op_codes) or 'no operators'}{extra}. To judge it op by op as a whole "
            "model, pass the Keras model of all its layers, or none (pytest_litert.check_model)"
        )
    return main[0]


def _input_shapes(model: Any, inspection: ModelInspection) -> list[tuple[int, ...]]:
    """The Keras model's input shapes, a dynamic dimension (None) taken from the .tflite
    input of the same rank whose other dimensions match (the converter stores 1)."""
    stored = [tuple(inspection.tensors[i].shape) for i in inspection.inputs]
    shapes = []
    for tensor in model.inputs:
        dims = tuple(None if d is None else int(d) for d in tensor.shape)
        if None not in dims:
            shapes.append(tuple(int(d) for d in dims if d is not None))
            continue
        match = next((s for s in stored if len(s) == len(dims)
                      and all(d is None or d == have for d, have in zip(dims, s, strict=True))), None)
        if match is None:
            raise ModelMismatchError(f"the Keras input {tensor.name!r} {dims} matches no .tflite input {stored}")
        shapes.append(match)
    return shapes


def signature_names(cell: Cell, inspection: ModelInspection) -> dict[str, str]:
    """Canonical input ("x", "y") -> the .tflite signature's input name, matched by shape
    (names do not survive saving and reloading a Keras model)."""
    shapes = cell.op.input_shapes(cell.shape)
    free = dict(inspection.signature_inputs)
    names = {}
    for canonical, shape in shapes.items():
        match = next((n for n, i in free.items() if tuple(inspection.tensors[i].shape) == shape), None)
        if match is None:
            raise ModelMismatchError(f"the .tflite has no signature input of shape {shape} for {canonical!r}")
        names[canonical] = match
        del free[match]
    return names


def _op_and_shape(layer: Any, input_shapes: list[tuple[int, ...]]) -> tuple[str, LayerShape]:
    kind = layer.__class__.__name__
    config = layer.get_config()
    first = input_shapes[0]
    if kind == "Dense" and len(first) == 2:
        return "fully_connected", LayerShape(m=first[0], k=first[1], n=int(config["units"]))
    if kind == "Dense" and len(first) == 3:  # (batch, sequence, features): a transformer's FC
        return "fully_connected_3d", LayerShape(batch=first[0], m=first[1], k=first[2], n=int(config["units"]))
    if kind in ("Conv2D", "Conv2DTranspose", "DepthwiseConv2D"):
        return _convolution(kind, config, first)
    if len(input_shapes) == 2 and len(first) == 3:
        return "batch_matmul", LayerShape(batch=first[0], m=first[1], k=first[2], n=input_shapes[1][2])
    constants = [tuple(int(d) for d in weight.shape) for weight in layer.weights]
    if len(input_shapes) == 1 and len(first) == 3 and len(constants) == 1 and len(constants[0]) == 3:
        return "batch_matmul_const", LayerShape(batch=first[0], m=first[1], k=first[2], n=constants[0][2])
    raise ModelMismatchError(f"check() knows Dense (on 2-D or 3-D inputs), Conv2D, DepthwiseConv2D, "
                             f"Conv2DTranspose, a two-input matmul and a matmul with one 3-D constant; "
                             f"got {kind} on inputs {input_shapes}")


def _convolution(kind: str, config: dict[str, Any], first: tuple[int, ...]) -> tuple[str, LayerShape]:
    """Conv2D, DepthwiseConv2D (n = channels x depth multiplier) or Conv2DTranspose; the
    matrix's shapes have square kernels, strides and dilations."""
    pairs = {name: tuple(int(v) for v in config.get(name, (1, 1))) for name in ("kernel_size", "strides",
                                                                              "dilation_rate")}
    uneven = [f"{name}={value}" for name, value in pairs.items() if len(set(value)) > 1]
    if uneven:
        raise ModelMismatchError(f"check() models square kernels, strides and dilations; {kind} has "
                                 f"{', '.join(uneven)}")
    kernel, stride, dilation = (pairs[name][0] for name in ("kernel_size", "strides", "dilation_rate"))
    n = first[3] * int(config["depth_multiplier"]) if kind == "DepthwiseConv2D" else int(config["filters"])
    shape = LayerShape(batch=first[0], height=first[1], width=first[2], k=first[3], n=n, kernel=kernel,
                       stride=stride, dilation=dilation, padding=config["padding"])
    if kind == "Conv2DTranspose":
        return "transpose_conv", shape
    if kind == "DepthwiseConv2D":
        return "depthwise_conv2d", shape
    return ("conv2d_pointwise" if kernel == 1 and stride == 1 else "conv2d"), shape


def _check_signature(cell: Cell, inspection: ModelInspection) -> None:
    want = sorted(cell.op.input_shapes(cell.shape).values())
    have = sorted(tuple(inspection.tensors[i].shape) for i in inspection.inputs)
    if want != have:
        raise ModelMismatchError(f"the Keras model takes inputs of shape {want} but the .tflite takes {have}")


def _artifact(cell: Cell, model: bytes, inspection: ModelInspection, keras_model: Any, weights: LayerWeights,
              both_names: tuple[dict[str, str], dict[str, str]], inputs: Inputs | None,
              seed: int) -> CellArtifact:
    names, keras_names = both_names
    shapes = cell.op.input_shapes(cell.shape)
    if inputs is None:
        rng = np.random.default_rng(seed)
        draws = [{n: rng.uniform(-1, 1, s).astype(np.float32) for n, s in shapes.items()} for _ in range(INPUT_DRAWS)]
    else:
        draws = [_given_inputs(inputs, shapes, keras_names)]
    model_inputs = [quantize_inputs(inspection, draw, names) for draw in draws]
    float_inputs = [dequantize_inputs(inspection, draw, names) for draw in model_inputs]
    outputs = [_reference(keras_model, draw, keras_names) for draw in float_inputs]
    return dataclasses.replace(
        CellArtifact(model, weights, model_inputs, float_inputs, outputs), signature_names=names
    )


def _given_inputs(inputs: Inputs, shapes: dict[str, tuple[int, ...]], keras_names: dict[str, str]) -> Arrays:
    """The user's inputs keyed canonically ("x", "y"), or ValueError naming what is expected."""
    order = list(shapes)  # canonical names in the Keras model's input order
    expected = ", ".join(f"{keras_names.get(c, c)!r} float32 {shapes[c]}" for c in order)

    def refuse(problem: str) -> ValueError:
        return ValueError(f"check() inputs: {problem}; the model takes {len(order)} input(s): {expected}. "
                          f"Pass {ACCEPTED_FORMS}")

    if isinstance(inputs, dict):
        aliases = {alias: c for c in order for alias in (c, keras_names.get(c, c))}
        unknown = [str(key) for key in inputs if key not in aliases]
        if unknown:
            raise refuse(f"no input named {', '.join(map(repr, unknown))}")
        given = {aliases[key]: value for key, value in inputs.items()}
        missing = [keras_names.get(c, c) for c in order if c not in given]
        if missing:
            raise refuse(f"missing {', '.join(map(repr, missing))}")
    elif isinstance(inputs, list | tuple):
        if len(inputs) != len(order):
            raise refuse(f"got a {type(inputs).__name__} of {len(inputs)} array(s)")
        given = dict(zip(order, inputs, strict=True))
    elif isinstance(inputs, np.ndarray):
        if len(order) != 1:
            raise refuse("got one array")
        given = {order[0]: inputs}
    else:
        raise refuse(f"got {type(inputs).__name__}")
    arrays = {}
    for canonical in order:
        value = np.asarray(given[canonical])
        name = keras_names.get(canonical, canonical)
        if value.dtype.kind != "f":
            raise refuse(f"{name!r} has dtype {value.dtype} (float inputs are quantized onto the model's grid)")
        if value.shape != shapes[canonical]:
            raise refuse(f"{name!r} has shape {value.shape}")
        arrays[canonical] = value.astype(np.float32)
    return arrays


def _reference(model: Any, inputs: Arrays, names: dict[str, str]) -> np.ndarray:
    return keras_outputs(model, {names[name]: value for name, value in inputs.items()})

"""The pieces of whole-model judging that need no model: reading an operator as a matrix cell
(or saying why not), matching layer names, ordering profiler events, attributing time."""

from __future__ import annotations

import pytest

from pytest_litert.convert.keras_match import _named, einsum_split
from pytest_litert.judge.op_times import attribute_times
from pytest_litert.model.flatbuffer import ModelInspection, OperatorInfo, TensorInfo
from pytest_litert.model.layer import MainLayer
from pytest_litert.model.opform import NotJudged, op_form
from pytest_litert.report.baseline import WHOLE_MODEL, baseline_name
from pytest_litert.run.capi import DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT, summarize


def _tensor(index: int, shape: tuple[int, ...], constant: bool = False) -> TensorInfo:
    return TensorInfo(index, f"t{index}", "FLOAT32", shape, (), (), 0, constant)


def _form(op_code: str, data: tuple[int, ...], weights: tuple[int, ...], output: tuple[int, ...], *,
          constant: bool = True, **options: int | bool) -> str:
    tensors = (_tensor(0, data), _tensor(1, weights, constant), _tensor(2, output))
    operator = OperatorInfo(0, op_code, (0, 1), (2,), adjoint=bool(options.pop("adjoint", False)),
                            options=tuple(sorted(options.items())))
    inspection = ModelInspection((operator,), tensors, (0,), (2,), {}, 0, (b"", b"", b""))
    spec, shape = op_form(inspection, MainLayer(operator, tensors[0], tensors[1], None, tensors[2]))
    return f"{spec.name} {spec.describe(shape)}"


def test_operators_read_as_matrix_cells() -> None:
    assert _form("FULLY_CONNECTED", (8, 64), (32, 64), (8, 32)) == "fully_connected m=8 k=64 n=32"
    assert _form("FULLY_CONNECTED", (1, 16, 64), (32, 64), (1, 16, 32), keepNumDims=True) == (
        "fully_connected_3d batch=1 m=16 k=64 n=32")
    assert _form("BATCH_MATMUL", (1, 4, 16, 8), (1, 4, 8, 16), (1, 4, 16, 16), constant=False) == (
        "batch_matmul batch=4 m=16 k=8 n=16")  # attention's 4-D operands: the batch dimensions multiplied out
    assert _form("CONV_2D", (1, 8, 8, 16), (32, 1, 1, 16), (1, 8, 8, 32), padding=0, strideH=1, strideW=1).startswith(
        "conv2d_pointwise")  # SAME at 1x1 is pointwise too
    assert _form("DEPTHWISE_CONV_2D", (1, 16, 16, 48), (1, 3, 3, 48), (1, 8, 8, 48), padding=0, strideH=2,
                 strideW=2).startswith("depthwise_conv2d")


@pytest.mark.parametrize(("op_code", "data", "weights", "output", "options", "why"), [
    ("BATCH_MATMUL", (2, 8, 16), (2, 16, 8), (2, 8, 8), {"adjoint": True}, "adj_x / adj_y"),
    ("BATCH_MATMUL", (2, 8, 16), (1, 16, 8), (2, 8, 8), {}, "no broadcasting"),
    ("FULLY_CONNECTED", (1, 16, 64), (32, 64), (16, 32), {}, "without keep_num_dims"),
    ("CONV_2D", (1, 8, 8, 16), (32, 3, 1, 16), (1, 8, 8, 32), {"padding": 0, "strideH": 1, "strideW": 1},
     "square kernels"),
    ("CONV_2D", (1, 8, 8, 16), (32, 3, 3, 16), (1, 8, 8, 32), {"padding": 0, "strideH": 2, "strideW": 2},
     "gives (1, 4, 4, 32), the operator (1, 8, 8, 32)"),
    ("CONV_2D", (1, 8, 8, 16), (32, 3, 3, 8), (1, 8, 8, 32), {"padding": 0, "strideH": 1, "strideW": 1}, "grouped"),
])
def test_an_operator_the_matrix_cannot_model_says_why(op_code: str, data: tuple[int, ...], weights: tuple[int, ...],
                                                      output: tuple[int, ...], options: dict[str, int],
                                                      why: str) -> None:
    with pytest.raises(NotJudged, match=why.replace("(", r"\(").replace(")", r"\)")):
        _form(op_code, data, weights, output, constant=op_code != "BATCH_MATMUL", **options)


def test_layer_names_match_through_trace_suffixes_and_paths() -> None:
    names = ("mobilenetv2_0.35_32_1/block_1_expand_relu_1/Relu6;mobilenetv2_0.35_32_1/block_1_expand_1/convolution",)
    assert _named(("block_1_expand",), names)
    assert not _named(("block_1",), names) and not _named(("block_1_expand_relu_",), names)
    assert _named(("Conv_1",), ("m_1/Conv_1_1/convolution",)) and not _named(("Conv1",), ("m_1/Conv_1_1/convolution",))
    assert _named(("mha", "query"), ("encoder_1/mha_1/query_1/MatMul",))
    assert not _named(("mha2", "query"), ("encoder_1/mha_1/query_1/MatMul",))


def test_einsum_projections_flatten_to_a_matrix() -> None:
    assert einsum_split("abc,cde->abde", 3) == 1  # query/key/value: (features, heads, dim)
    assert einsum_split("abcd,cde->abe", 3) == 2  # attention output: (heads, dim, features)
    assert einsum_split("abc,dce->abde", 3) is None  # the reduced axis is not the kernel's first


def test_profiler_events_keep_the_order_they_ran_across_delegate_partitions() -> None:
    """An XNNPACK operator's index restarts in each partition: events match by position."""
    kind = DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT
    run = [("Fully Connected (NC, F32) GEMM", kind, 0, 5), ("Add (ND)", kind, 1, 1),
           ("Multiply (ND)", kind, 0, 2), ("Add (ND)", kind, 1, 3)]
    operators = summarize([run, run])["operators"]
    assert [(op["name"], op["us"]) for op in operators] == [
        ("Fully Connected (NC, F32) GEMM", 5.0), ("Add (ND)", 1.0), ("Multiply (ND)", 2.0), ("Add (ND)", 3.0)]


def test_time_is_attributed_by_name_in_execution_order() -> None:
    profile = {"available": True,
               "operators": [{"name": "FC", "us": 5.0}, {"name": "Add", "us": 1.0}, {"name": "FC", "us": 7.0}],
               "nodes": [{"name": "DELEGATE", "index": 9, "us": 13.0}, {"name": "SOFTMAX", "index": 3, "us": 2.0}]}
    times = attribute_times(profile, {0: ("FC",), 1: ("Add",), 2: ("FC",), 3: ()},
                            {0: "FULLY_CONNECTED", 1: "ADD", 2: "FULLY_CONNECTED", 3: "SOFTMAX"})
    assert times == {0: 5.0, 1: 1.0, 2: 7.0, 3: 2.0}  # SOFTMAX not delegated: its own builtin node


def test_a_whole_model_record_is_named_by_its_operator() -> None:
    assert baseline_name({"cell": "op012-CONV_2D", "op": "conv2d", "shape": {"k": 3}, "shape_set": WHOLE_MODEL}) == (
        "op012-CONV_2D")

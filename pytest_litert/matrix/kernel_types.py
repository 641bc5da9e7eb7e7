"""Which XNNPACK operator type shows that KleidiAI's packed kernels ran, per seed SME2 cell.

Pure data (and two lookups). LiteRT's profiler names each XNNPACK operator it ran, e.g.
`Fully Connected (NC, PF32) GEMM` (run/capi.py). The packed types are KleidiAI's:

- PF32, PF16, PQS8: XNNPACK has kernels for them only with SME or SME2
  (src/configs/gemm-config.c: init_pf32_gemm_config, init_pf16_gemm_config and
  init_pqs8_qc8w_gemm_config leave the config empty on any other CPU), so seeing one proves
  SME(2) ran;
- QP8: KleidiAI too, but init_qp8_f32_qc8w_gemm_config / init_qp8_f32_qc4w_gemm_config also
  take NEON i8mm and dot-product kernels, so QP8 alone is not proof of SME2 (on a CPU with
  SME2 XNNPACK picks the SME2 variant first).

Derived from XNNPACK's source (google/XNNPACK at 75db3c09, August 2026; LiteRT 2.3.0 builds
the XNNPACK TensorFlow a6146d14 pins), files named per row:
- src/xnnpack/operator-type-defs.inc: the operator names the profiler prints;
- src/subgraph.c, xnn_subgraph_optimize_packed_lhs: which node gets a packed input type
  (fully connected / batch matmul: fp32 in + fp32 or fp16 kernel -> PF32, fp16 -> PF16,
  qint8 in + per-channel qcint8 kernel -> PQS8, dynamic qdint8 in + qcint8/qcint4 kernel -> QP8;
  convolution / deconvolution: fp32 -> PF32, fp16 -> PF16, qint8 in + qcint8 or qint8 kernel
  -> PQS8, and nothing for dynamic quantization);
- src/subgraph/convolution-2d.c, xnn_define_convolution_2d: a 1x1, stride-1, unpadded
  convolution is defined as a fully connected node;
- src/operators/fully-connected-nc.c, convolution-nhwc.c, batch-matrix-multiply-nc.c,
  deconvolution-nhwc.c: the operator type each create function sets.
"""

from __future__ import annotations

import dataclasses

from pytest_litert.matrix.ops import LayerShape

SME_ONLY_TYPES = ("PF32", "PF16", "PQS8")  # gemm-config.c: SME / SME2 configs only
NEON_TOO_TYPES = ("QP8",)  # gemm-config.c: SME2, SME, NEON i8mm, NEON dot product
PACKED_TYPES = SME_ONLY_TYPES + NEON_TOO_TYPES
SVL_BYTES = (16, 32, 64, 128, 256)  # the streaming vector lengths an SME CPU may have; QEMU emulates each

# TFLite op code -> the XNNPACK operator kinds that compute it (src/xnnpack/operator-type-defs.inc).
MAIN_KINDS: dict[str, tuple[str, ...]] = {
    "FULLY_CONNECTED": ("Fully Connected",),
    "BATCH_MATMUL": ("Batch Matrix Multiply", "Fully Connected"),
    "CONV_2D": ("Convolution", "Fully Connected"),  # 1x1 stride 1: src/subgraph/convolution-2d.c
    "TRANSPOSE_CONV": ("Deconvolution",),
    "DEPTHWISE_CONV_2D": ("Convolution",),  # src/subgraph/depthwise-convolution-2d.c: a convolution_nhwc operator
}


@dataclasses.dataclass(frozen=True)
class OperatorName:
    """An XNNPACK operator as the profiler names it: `Kind (LAYOUT, TYPE, ...) [microkernel]`."""

    kind: str
    layout: str
    datatypes: tuple[str, ...]

    @classmethod
    def parse(cls, name: str) -> OperatorName | None:
        kind, opened, rest = name.partition(" (")
        inside, closed, _ = rest.partition(")")
        if not opened or not closed:
            return None
        parts = [part.strip() for part in inside.split(",")]
        return cls(kind.strip(), parts[0], tuple(parts[1:]))

    @property
    def packed_type(self) -> str:
        """PF32, PF16, PQS8 or QP8, else ''."""
        return next((t for t in self.datatypes if t in PACKED_TYPES), "")

    def __str__(self) -> str:
        return f"{self.kind} ({', '.join((self.layout, *self.datatypes))})"


@dataclasses.dataclass(frozen=True)
class Expected:
    """The main operator a seed SME2 cell runs on an SME2 CPU. `packed_type` '' says XNNPACK
    has no packed KleidiAI operator for this form (`why` says which source says so)."""

    operator: str
    packed_type: str
    source: str
    why: str = ""


_PACK = "src/subgraph.c xnn_subgraph_optimize_packed_lhs"
_FP16 = "fp16 arithmetic: the model's fp16 hint, honoured on aarch64"
_NO_QP8_CONV = "XNNPACK has no packed convolution for dynamically quantized input (no QP8 convolution type)"
FC, BMM, CONV, CONV_1X1, TCONV = "FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "CONV_2D 1x1", "TRANSPOSE_CONV"

# (form, recipe) -> the layer's operator on an SME2 CPU. A form is the op code, except that a 1x1,
# stride-1 CONV_2D is XNNPACK's fully connected (src/subgraph/convolution-2d.c, form_of below).
EXPECTED: dict[tuple[str, str], Expected] = {
    # src/operators/fully-connected-nc.c; _PACK; gemm-config.c init_pf32 / init_pf16 / init_pqs8_qc8w / init_qp8_*
    (FC, "fp32"): Expected("Fully Connected (NC, PF32)", "PF32", _PACK),
    (FC, "fp16"): Expected("Fully Connected (NC, PF16)", "PF16", f"{_PACK}; {_FP16}"),
    (FC, "fp16_weights"): Expected("Fully Connected (NC, PF32)", "PF32", f"{_PACK} (fp16 kernel)"),
    (FC, "dynamic_int8"): Expected("Fully Connected (NC, QP8, F32, QC8W)", "QP8", _PACK),
    (FC, "dynamic_int8_per_tensor"): Expected("Fully Connected (NC, QP8, F32, QC8W)", "QP8", _PACK),
    (FC, "static_int8"): Expected("Fully Connected (NC, PQS8, QC8W)", "PQS8", _PACK),
    (FC, "int4"): Expected("Fully Connected (NC, QP8, F32, QC4W)", "QP8", _PACK),
    # src/operators/batch-matrix-multiply-nc.c; _PACK (batch matmul shares the fully connected branch)
    (BMM, "fp32"): Expected("Batch Matrix Multiply (NC, PF32)", "PF32", _PACK),
    (BMM, "fp16"): Expected("Batch Matrix Multiply (NC, PF16)", "PF16", f"{_PACK}; {_FP16}"),
    (BMM, "dynamic_int8"): Expected("Batch Matrix Multiply (NC, QP8, F32, QC8W)", "QP8", _PACK),
    # src/subgraph/convolution-2d.c (1x1 -> fully connected), then src/operators/fully-connected-nc.c; _PACK
    (CONV_1X1, "fp32"): Expected("Fully Connected (NC, PF32)", "PF32", _PACK),
    (CONV_1X1, "fp16"): Expected("Fully Connected (NC, PF16)", "PF16", f"{_PACK}; {_FP16}"),
    (CONV_1X1, "fp16_weights"): Expected("Fully Connected (NC, PF32)", "PF32", _PACK),
    (CONV_1X1, "dynamic_int8"): Expected("Fully Connected (NC, QP8, F32, QC8W)", "QP8", _PACK),
    (CONV_1X1, "dynamic_int8_per_tensor"): Expected("Fully Connected (NC, QP8, F32, QC8W)", "QP8", _PACK),
    (CONV_1X1, "static_int8"): Expected("Fully Connected (NC, PQS8, QC8W)", "PQS8", _PACK),
    (CONV_1X1, "static_int8_per_tensor"): Expected(
        "Fully Connected (NC, QS8)", "", _PACK,
        "a fully connected node gets PQS8 only with per-channel (qcint8) weights; a per-tensor 1x1 filter is qint8"),
    # src/operators/convolution-nhwc.c; _PACK (convolution branch)
    (CONV, "fp32"): Expected("Convolution (NHWC, PF32)", "PF32", _PACK),
    (CONV, "fp16"): Expected("Convolution (NHWC, PF16)", "PF16", f"{_PACK}; {_FP16}"),
    (CONV, "fp16_weights"): Expected("Convolution (NHWC, PF32)", "PF32", _PACK),
    (CONV, "dynamic_int8"): Expected("Convolution (NHWC, QD8, F32, QC8W)", "", _PACK, _NO_QP8_CONV),
    (CONV, "dynamic_int8_per_tensor"): Expected("Convolution (NHWC, QD8, F32, QC8W)", "", _PACK, _NO_QP8_CONV),
    (CONV, "static_int8"): Expected("Convolution (NHWC, PQS8, QS8, QC8W)", "PQS8", _PACK),
    (CONV, "static_int8_per_tensor"): Expected("Convolution (NHWC, PQS8, QS8, QC8W)", "PQS8",
                                               f"{_PACK} (qint8 filter accepted)"),
    # src/operators/deconvolution-nhwc.c; _PACK (deconvolution shares the convolution branch)
    (TCONV, "static_int8"): Expected("Deconvolution (NHWC, PQS8, QS8, QC8W)", "PQS8", _PACK),
    (TCONV, "static_int8_per_tensor"): Expected("Deconvolution (NHWC, PQS8, QS8, QC8W)", "PQS8",
                                                f"{_PACK} (qint8 filter accepted)"),
}


def form_of(op_code: str, shape: LayerShape) -> str:
    """The op code, or CONV_1X1 where xnn_define_convolution_2d defines a fully connected node
    (a 1x1 kernel, stride 1 and so no padding, more than 2 channels in and out together)."""
    pointwise = shape.kernel == 1 and shape.stride == 1 and shape.k + shape.n > 2
    return CONV_1X1 if op_code == CONV and pointwise else op_code


def expected_for(op_code: str, recipe: str, shape: LayerShape) -> Expected | None:
    """The layer's operator on an SME2 CPU, where the table knows it."""
    return EXPECTED.get((form_of(op_code, shape), recipe))


def main_operator(op_code: str, operators: list[str]) -> str | None:
    """The first profiled XNNPACK operator that computes an `op_code` layer, if any ran."""
    kinds = MAIN_KINDS.get(op_code, ())
    for name in operators:
        parsed = OperatorName.parse(name)
        if parsed is not None and parsed.kind in kinds:
            return name
    return None


def ran_sme2(operator: str, *, cpu_has_sme2: bool) -> bool:
    """An operator of this name ran KleidiAI SME2 kernels: on a CPU with SME2, XNNPACK takes the
    SME2 variant of every packed type before SME and NEON (gemm-config.c). Without knowing the
    CPU, PF32, PF16 and PQS8 still prove SME or SME2; QP8 proves nothing."""
    parsed = OperatorName.parse(operator)
    return cpu_has_sme2 and parsed is not None and parsed.packed_type in PACKED_TYPES

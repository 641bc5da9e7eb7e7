"""XNNPACK's own dynamic quantization (qd8, and KleidiAI's qai8dxp packing) in NumPy.

The TFLite reference kernels quantize a dynamic layer's input as numpy_reference.py models
it (symmetric or asymmetric per row, scale computed in double). XNNPACK does not: its
`f32_qd8_convert` and KleidiAI's `kai_run_lhs_quant_pack_qai8dxp_f32` (the QP8 path on SME2)
share one recipe, google/XNNPACK src/xnnpack/quantization.h
`xnn_qd8_asymmetric_quantization_params` and src/x8-packq/x8-packq-scalar-f32qp8-u1.c, all in
float32:

    rmin = min(0, min x), rmax = max(0, max x)
    scale = 255 / (rmax - rmin)            (1 when rmin == rmax; "inv_scale" in the source)
    zp = -128 - rmin*scale if (-128 + rmin*scale) + (127 + rmax*scale) > 0 else 127 - rmax*scale,
         clamped to [-128, 127], rounded to nearest even (lrintf / rintf)
    q  = round(x * scale) + zp, clamped  (XNNPACK: ties to even; KleidiAI: roundf, ties away)
    x' = (q - zp) * (1 / scale)            (the GEMM's per-row input scale)

Granularity is the delegate's (LiteRT tflite/delegates/xnnpack/xnnpack_delegate.cc,
`num_nonbatch_dims`): one set of parameters per row for FULLY_CONNECTED and BATCH_MATMUL,
per image for CONV_2D and TRANSPOSE_CONV (3 non-batch dimensions), except that XNNPACK defines
a 1x1, stride-1 CONV_2D as a fully connected node (matrix/kernel_types.py form_of), whose rows
are pixels. Measured on x86 (XNNPACK qd8) and qemu-sme2 (KleidiAI QP8), LiteRT 2.3.0: every
delegated dynamic int8 and INT4 cell within 8e-8 of M of this model.
"""

from __future__ import annotations

import numpy as np

from pytest_litert.matrix import kernel_types
from pytest_litert.matrix.cells import Cell

_F32 = np.float32


def granularity(cell: Cell) -> tuple[int, ...] | None:
    """The axes one set of quantization parameters spans for the cell's input `x`, as
    XNNPACK's delegate defines the dynamically quantized tensor; None: XNNPACK does not take
    a dynamically quantized form of this operator (the builtin hybrid kernel runs it)."""
    form = kernel_types.form_of(cell.op.op_code, cell.shape)
    if form in (kernel_types.FC, kernel_types.BMM, kernel_types.CONV_1X1):
        return (-1,)
    if form in (kernel_types.CONV, kernel_types.TCONV):
        return (1, 2, 3)
    return None


def parameters(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per set of axes: the float32 scale 255/(rmax - rmin) as the source names it
    ("inv_scale"), the nudged zero point, and the GEMM's input step 1/scale (float64)."""
    x32 = np.asarray(x, _F32)
    low = np.minimum(np.min(x32, axis=axes, keepdims=True), _F32(0))
    high = np.maximum(np.max(x32, axis=axes, keepdims=True), _F32(0))
    empty = low == high
    span = np.where(empty, _F32(1), high - low).astype(_F32)
    scale = np.where(empty, _F32(1), _F32(255) / span).astype(_F32)
    from_min, from_max = (low * scale).astype(_F32), (high * scale).astype(_F32)
    errors = ((_F32(-128) + from_min).astype(_F32) + (_F32(127) + from_max).astype(_F32)).astype(_F32)
    zero = np.where(errors > 0, _F32(-128) - from_min, _F32(127) - from_max).astype(_F32)
    zero = np.rint(np.clip(zero, -128, 127)).astype(np.float64)
    return scale, zero, (_F32(1) / scale).astype(_F32).astype(np.float64)


def quantize(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """XNNPACK's qd8 quantization of `x` (float32 arithmetic as in the source above): the
    dequantized values x' = (q - zp) / scale in float64, and per input its step size where
    x * scale sits exactly on a .5 tie (XNNPACK and KleidiAI round those apart), else 0."""
    scale, zero, step = parameters(x, axes)
    scaled = (np.asarray(x, _F32) * scale).astype(_F32).astype(np.float64)
    q = np.clip(np.rint(np.clip(scaled, -128 - zero, 127 - zero)) + zero, -128, 127)
    tie = np.abs(scaled - np.floor(scaled)) == 0.5
    return (q - zero) * step, np.where(tie, np.broadcast_to(step, scaled.shape), 0.0)

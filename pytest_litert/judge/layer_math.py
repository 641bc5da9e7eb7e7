"""The layers in plain NumPy (float64), independent of TensorFlow and LiteRT.

The error bounds need sums over each output element's receptive field: |W|.|x|, sum |x|,
sum |W|, the number of terms. Every operator here is bilinear in (input, weights), so one
function `apply(op, shape, x, w)` evaluated on |x|, |w|, ones, ... gives all of them.
Weights are in Keras layout; `keras_kernel` turns the file's layout into it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np

from pytest_litert.matrix.ops import LayerShape, OpSpec, depth_multiplier
from pytest_litert.model.quantization import to_keras_layout


@functools.cache
def blas_is_right() -> bool:
    """Whether NumPy's BLAS computes float64 products right on this CPU, checked against a
    BLAS-free product on shapes with tails. Measured: NumPy 2.5.5's OpenBLAS on an SME CPU
    (QEMU -cpu max) returns float64 products off by ~10 while float32 ones are right
    (docs/findings.md); an oracle must not lean on the kernels of the machine under test."""
    rng = np.random.default_rng(0)
    for m, k, n in ((8, 64, 48), (3, 17, 5), (33, 130, 65)):
        a, b = rng.uniform(-1, 1, (m, k)), rng.uniform(-1, 1, (k, n))
        if not np.allclose(a @ b, np.einsum("ik,kn->in", a, b, optimize=False), rtol=1e-12, atol=1e-12):
            return False
    return True


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64 `a @ b` (batched), through BLAS only where BLAS was found right."""
    if blas_is_right():
        return np.asarray(np.matmul(a, b))
    return np.asarray(np.einsum("...mk,...kn->...mn", a, b, optimize=False))


def apply(op: OpSpec, shape: LayerShape, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The layer without bias: `w` in Keras layout (or the second input for BATCH_MATMUL)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    if op.matrix_product:
        return matmul(x, w)
    if op.op_code == "TRANSPOSE_CONV":
        return transpose_conv2d(x, w, shape.stride, shape.padding)
    if op.op_code == "DEPTHWISE_CONV_2D":
        return depthwise_conv2d(x, w, shape.stride, shape.dilation, shape.padding)
    return conv2d(x, w, shape.stride, shape.dilation, shape.padding)


def _same_padding(size: int, reach: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + reach - size, 0)
    return out, total // 2


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: int, dilation: int,
             padding: str) -> Iterator[tuple[int, int, np.ndarray]]:
    """Per kernel tap (i, j), the input elements it meets for every output position (zeros
    where SAME padding reaches outside the image): NHWC, TensorFlow's SAME/VALID rules."""
    batch, height, width, channels = x.shape
    kh, kw = kernel
    reach_h, reach_w = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    if padding == "same":
        out_h, top = _same_padding(height, reach_h, stride)
        out_w, left = _same_padding(width, reach_w, stride)
    else:
        out_h, top = (height - reach_h) // stride + 1, 0
        out_w, left = (width - reach_w) // stride + 1, 0
    padded = np.zeros((batch, height + 2 * reach_h, width + 2 * reach_w, channels))
    padded[:, reach_h : reach_h + height, reach_w : reach_w + width] = x
    for i in range(kh):
        for j in range(kw):
            r0 = reach_h - top + i * dilation
            c0 = reach_w - left + j * dilation
            yield i, j, padded[:, r0 : r0 + (out_h - 1) * stride + 1 : stride,
                               c0 : c0 + (out_w - 1) * stride + 1 : stride]


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, padding: str) -> np.ndarray:
    """NHWC input, HWIO kernel, TensorFlow's SAME/VALID padding rules."""
    out: np.ndarray | None = None
    for i, j, window in _windows(x, w.shape[:2], stride, dilation, padding):
        term = matmul(window, w[i, j])
        out = term if out is None else out + term
    assert out is not None
    return out


def depthwise_conv2d(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, padding: str) -> np.ndarray:
    """Keras DepthwiseConv2D: kernel (kh, kw, channels, multiplier); output channel
    c * multiplier + m reads input channel c only (TFLite's filter (1, kh, kw, c * m) order)."""
    kh, kw, channels, multiplier = w.shape
    out: np.ndarray | None = None
    for i, j, window in _windows(x, (kh, kw), stride, dilation, padding):
        term = window[..., :, None] * w[i, j]  # (batch, out_h, out_w, channels, multiplier)
        out = term if out is None else out + term
    assert out is not None
    return out.reshape(*out.shape[:3], channels * multiplier)


def transpose_conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Keras Conv2DTranspose: kernel (kh, kw, out_channels, in_channels)."""
    batch, height, width, _ = x.shape
    kh, kw, cout, _ = w.shape
    full = np.zeros((batch, (height - 1) * stride + kh, (width - 1) * stride + kw, cout))
    for i in range(kh):
        for j in range(kw):
            full[:, i : i + (height - 1) * stride + 1 : stride,
                 j : j + (width - 1) * stride + 1 : stride] += matmul(x, w[i, j].T)
    if padding == "same":
        out_h, out_w = height * stride, width * stride
        top, left = max(kh - stride, 0) // 2, max(kw - stride, 0) // 2
    else:
        out_h = (height - 1) * stride + max(kh, stride)
        out_w = (width - 1) * stride + max(kw, stride)
        top = left = 0
    out = np.zeros((batch, out_h, out_w, cout))
    crop = full[:, top : top + out_h, left : left + out_w]
    out[:, : crop.shape[1], : crop.shape[2]] = crop
    return out


def keras_kernel(op: OpSpec, shape: LayerShape, stored: np.ndarray) -> np.ndarray:
    """The file's weights (dequantized) in Keras layout: model/quantization.py's per-op
    transposition, and a depthwise filter (1, kh, kw, k * m) split into (kh, kw, k, m)."""
    if op.op_code == "DEPTHWISE_CONV_2D":
        return stored.reshape(shape.kernel, shape.kernel, shape.k, depth_multiplier(shape))
    return to_keras_layout(op.op_code, stored)

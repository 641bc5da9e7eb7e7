"""The layers in plain NumPy (float64), independent of TensorFlow and LiteRT.

The error bounds need sums over each output element's receptive field: |W|.|x|, sum |x|,
sum |W|, the number of terms. Every operator here is bilinear in (input, weights), so one
function `apply(op, shape, x, w)` evaluated on |x|, |w|, ones, ... gives all of them.
"""

from __future__ import annotations

import numpy as np

from pytest_litert.matrix.ops import LayerShape, OpSpec


def apply(op: OpSpec, shape: LayerShape, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The layer without bias: `w` in Keras layout (or the second input for BATCH_MATMUL)."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    if op.name == "fully_connected" or op.name.startswith("batch_matmul"):
        return np.asarray(np.matmul(x, w))
    if op.name == "transpose_conv":
        return transpose_conv2d(x, w, shape.stride, shape.padding)
    return conv2d(x, w, shape.stride, shape.dilation, shape.padding)


def _same_padding(size: int, reach: int, stride: int) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + reach - size, 0)
    return out, total // 2


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, dilation: int, padding: str) -> np.ndarray:
    """NHWC input, HWIO kernel, TensorFlow's SAME/VALID padding rules."""
    batch, height, width, _ = x.shape
    kh, kw, _, cout = w.shape
    reach_h, reach_w = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    if padding == "same":
        out_h, top = _same_padding(height, reach_h, stride)
        out_w, left = _same_padding(width, reach_w, stride)
    else:
        out_h, top = (height - reach_h) // stride + 1, 0
        out_w, left = (width - reach_w) // stride + 1, 0
    padded = np.zeros((batch, height + 2 * reach_h, width + 2 * reach_w, x.shape[3]))
    padded[:, reach_h : reach_h + height, reach_w : reach_w + width] = x
    out = np.zeros((batch, out_h, out_w, cout))
    for i in range(kh):
        for j in range(kw):
            r0 = reach_h - top + i * dilation
            c0 = reach_w - left + j * dilation
            window = padded[:, r0 : r0 + (out_h - 1) * stride + 1 : stride,
                            c0 : c0 + (out_w - 1) * stride + 1 : stride]
            out += window @ w[i, j]
    return out


def transpose_conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: str) -> np.ndarray:
    """Keras Conv2DTranspose: kernel (kh, kw, out_channels, in_channels)."""
    batch, height, width, _ = x.shape
    kh, kw, cout, _ = w.shape
    full = np.zeros((batch, (height - 1) * stride + kh, (width - 1) * stride + kw, cout))
    for i in range(kh):
        for j in range(kw):
            full[:, i : i + (height - 1) * stride + 1 : stride,
                 j : j + (width - 1) * stride + 1 : stride] += x @ w[i, j].T
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

"""How much arithmetic one inference of a layer is: FLOPs as 2 x multiply-accumulates.

Counted from the model's own tensors (model/layer.py), so a bundle or a user's model needs no
cell description: 2*M*K*N per matrix product, and the usual count for convolutions (every
output times its receptive field, one input channel deep for DEPTHWISE_CONV_2D; for
TRANSPOSE_CONV every input times the kernel it scatters).
"""

from __future__ import annotations

import math

from pytest_litert.model.layer import MainLayer


def layer_flops(layer: MainLayer) -> int:
    """FLOPs of one inference of the main layer (0 for an operator this does not count)."""
    outputs = math.prod(layer.output.shape)
    weights = math.prod(layer.weights.shape)
    op_code = layer.operator.op_code
    if op_code in ("FULLY_CONNECTED", "BATCH_MATMUL"):
        # data (..., M, K) and output (..., M, N): K = data elements per output row
        reduction = math.prod(layer.data.shape) // max(math.prod(layer.output.shape[:-1]), 1)
        return 2 * outputs * reduction
    if op_code == "CONV_2D":  # weights (out channels, kh, kw, in channels)
        return 2 * outputs * (weights // layer.weights.shape[0])
    if op_code == "DEPTHWISE_CONV_2D":  # weights (1, kh, kw, out channels): one input channel per output
        return 2 * outputs * (weights // layer.weights.shape[-1])
    if op_code == "TRANSPOSE_CONV":  # weights (out channels, kh, kw, in channels)
        return 2 * math.prod(layer.data.shape) * (weights // layer.weights.shape[-1])
    return 0

"""Element-wise error bounds per recipe, derived from the cell's own numbers.

Each bound is a sum of terms an implementation can actually incur (weight rounding,
activation quantization, output rounding, floating-point accumulation), evaluated with
the layer itself in float64 on |x|, |W| and ones (numpy_ops.apply), so it follows SAME
padding, strides and the real reduction length. The derivations are in
docs/tolerances.md; the `formula` text is quoted in failure messages.

u32 = 2^-24, u16 = 2^-11 (unit roundoffs); gamma(n, u) = n*u / (1 - n*u).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pytest_litert.judge.layer_math import apply
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.flatbuffer import TensorInfo

U32 = 2.0**-24
U16 = 2.0**-11
FP16_SUBNORMAL_HALF_STEP = 2.0**-25


def gamma(n: int, unit: float) -> float:
    """Higham's n*u/(1-n*u), defined only for n*u < 1 (float32: n < 2^24)."""
    if n * unit >= 1.0:
        raise ValueError(f"gamma({n}, {unit:g}) is undefined: n*u >= 1; use dot_error")
    return n * unit / (1.0 - n * unit)


def dot_error(n: np.ndarray | float, unit: float) -> np.ndarray:
    """Relative error factor of an n-term dot product in any evaluation order, for every n:
    |fl(x.y) - x.y| <= n*u*|x|.|y| (Jeannerod & Rump, SIAM J. Matrix Anal. Appl. 34, 2013;
    rounding to nearest, underflow accounted for apart). Unlike gamma it never divides by
    1-n*u, so it holds for fp16 reductions past 1/u16 = 2048 terms."""
    return np.asarray(n, np.float64) * unit


@dataclasses.dataclass(frozen=True)
class Bound:
    """Absolute error bound per output element, and the unit errors are reported in."""

    elementwise: np.ndarray
    unit: str
    unit_size: np.ndarray
    formula: str


@dataclasses.dataclass(frozen=True)
class LayerTerms:
    """Receptive-field sums for one input draw, all float64 with the output's shape."""

    magnitude: np.ndarray  # |W|.|x| + |b|
    sum_abs_x: np.ndarray  # sum of |x| over each element's receptive field
    sum_abs_w: np.ndarray  # sum of |W| over the terms that meet the input
    terms: np.ndarray  # number of products summed (K, fewer at padded edges)
    reduction: int  # K, the longest reduction

    @classmethod
    def of(cls, cell: Cell, inputs: dict[str, np.ndarray], kernel: np.ndarray | None,
           bias: np.ndarray | None) -> LayerTerms:
        x = np.abs(np.asarray(inputs["x"], np.float64))
        w = np.abs(np.asarray(kernel if kernel is not None else inputs["y"], np.float64))
        ones_x, ones_w = np.ones_like(x), np.ones_like(w)
        magnitude = apply(cell.op, cell.shape, x, w)
        if bias is not None:
            magnitude = magnitude + np.abs(bias)
        return cls(
            magnitude=magnitude,
            sum_abs_x=apply(cell.op, cell.shape, x, ones_w),
            sum_abs_w=apply(cell.op, cell.shape, ones_x, w),
            terms=apply(cell.op, cell.shape, ones_x, ones_w),
            reduction=cell.op.reduction_length(cell.shape),
        )


def float_bound(terms: LayerTerms, *, fp16_weights: bool, fp16_arithmetic: bool) -> Bound:
    """fp32 vs fp32: 2*gamma_{K+1}*M (both sides round). fp16 weights add u16*M plus a
    subnormal term; fp16 arithmetic (inputs, products and sums in fp16) adds
    (u16 + n*u16)*M and subnormal terms for inputs and partial sums, where n counts per
    output element only the products that meet the input (taps on SAME padding add exact
    zeros) plus the bias."""
    k1 = terms.reduction + 1
    m = terms.magnitude
    bound = 2.0 * gamma(k1, U32) * m * (1.0 + U16) ** 2
    formula = "2*gamma32(K+1)*M"
    unit = ("ulp32", 2.0**-23)
    if fp16_weights:
        bound = bound + U16 * m + FP16_SUBNORMAL_HALF_STEP * terms.sum_abs_x
        formula += " + u16*M + 2^-25*sum|x|"
        unit = ("ulp16", 2.0**-10)
    if fp16_arithmetic:
        rounding = terms.terms + 1.0  # products that can round, plus the bias
        bound = bound + (U16 + dot_error(rounding, U16)) * m * (1.0 + U16) ** 2
        bound = bound + FP16_SUBNORMAL_HALF_STEP * (terms.sum_abs_w + rounding)
        formula += f" + (u16 + n*u16)*M + 2^-25*(sum|W| + n), n<={int(rounding.max())}"
        unit = ("ulp16", 2.0**-10)
    unit_size = np.maximum(unit[1] * m, np.finfo(np.float32).tiny)
    return Bound(bound, unit[0], unit_size, f"{formula}, M=|W|.|x|+|b|, K={terms.reduction}")


def weight_scales(weights: TensorInfo, channels_last: int) -> np.ndarray:
    """Per-output-channel weight scale broadcastable over the output (channels last)."""
    scales = np.asarray(weights.scales, np.float64)
    if scales.size == 1:
        return np.full(channels_last, scales[0])
    return scales


def multiplier_precision(output: TensorInfo) -> float:
    """Relative error of the requantization multiplier: int8 kernels keep 31 bits (2^-22
    covers that and XNNPACK's fp32 requantization); TFLite's 16x8 kernels reduce it to 15
    bits ((M + 2^15) >> 16 in MultiplyByQuantizedMultiplier for int64 accumulators)."""
    return 2.0**-15 if output.dtype == "INT16" else 2.0**-22


def double_rounding(multiplier: np.ndarray | float) -> np.ndarray:
    """TFLite requantizes with MultiplyByQuantizedMultiplier: a rounding doubling high multiply,
    then a rounding right shift by -e where multiplier = f * 2^e, f in [0.5, 1). The first
    rounding is in units of 2^e output steps, so it adds up to 2^(e-1) steps when e < 0."""
    exponent = np.frexp(np.asarray(multiplier, np.float64))[1]
    return np.where(exponent < 0, 2.0 ** (exponent.astype(np.float64) - 1.0), 0.0)


def dynamic_bound(terms: LayerTerms, weights: TensorInfo, max_abs_x: float) -> Bound:
    """Weights rounded to their grid (|dW| <= s_w/2); activations quantized at run time to
    int8, symmetric or asymmetric, per row or per tensor: |dx| <= max|x|/127 covers all."""
    s_w = weight_scales(weights, terms.magnitude.shape[-1])
    dx = max_abs_x / 127.0
    bound = (
        terms.sum_abs_x * s_w / 2.0
        + terms.sum_abs_w * dx
        + terms.terms * s_w * dx / 2.0
        + 2.0 * gamma(terms.reduction + 1, U32) * (terms.magnitude + terms.terms * s_w * dx)
    )
    formula = (
        "sum|x|*s_w/2 + sum|W|*max|x|/127 + K*s_w*max|x|/254 + 2*gamma32(K+1)*M "
        f"(s_w per channel {s_w.min():.3g}..{s_w.max():.3g}, max|x|={max_abs_x:.3g}, K={terms.reduction})"
    )
    return Bound(bound, "bound", bound, formula)


def weight_only_bound(terms: LayerTerms, weights: TensorInfo) -> Bound:
    """Quantized weights dequantized to fp32 in front of a float layer (weight-only): weight
    rounding (|dW| <= s_w/2), the DEQUANTIZE's own fp32 rounding (u32 of each weight) and
    fp32 accumulation over the dequantized weights (|W'| <= |W| + s_w/2)."""
    s_w = weight_scales(weights, terms.magnitude.shape[-1])
    rounding = terms.sum_abs_x * s_w / 2.0
    bound = rounding + (2.0 * gamma(terms.reduction + 1, U32) + U32) * (terms.magnitude + rounding)
    formula = (
        "sum|x|*s_w/2 + (2*gamma32(K+1) + u32)*(M + sum|x|*s_w/2) "
        f"(s_w per channel {s_w.min():.3g}..{s_w.max():.3g}, K={terms.reduction})"
    )
    return Bound(bound, "bound", bound, formula)


def static_bound(
    terms: LayerTerms, weights: TensorInfo, inputs: TensorInfo, output: TensorInfo,
    reference: np.ndarray, *, weights_on_grid: bool,
) -> Bound:
    """Inputs lie on the model's input grid (see build.py), so only weight rounding
    (|dW| <= s_w/2), bias rounding (s_in*s_w/2), output rounding (s_out/2), the
    requantization multiplier (relative 2^-22) and saturation at the output range remain."""
    s_out, zp_out = output.scales[0], output.zero_points[0]
    info = np.iinfo(output.dtype.lower())
    low, high = (info.min - zp_out) * s_out, (info.max - zp_out) * s_out
    s_w = weight_scales(weights, terms.magnitude.shape[-1])
    weight_term = 0.0 if weights_on_grid else terms.sum_abs_x * s_w / 2.0
    precision = multiplier_precision(output)
    saturation = np.maximum(reference - high, 0.0) + np.maximum(low - reference, 0.0)
    bound = (
        s_out / 2.0
        + double_rounding(inputs.scales[0] * s_w / s_out) * s_out
        + weight_term
        + inputs.scales[0] * s_w / 2.0
        + np.abs(reference) * precision
        + 2.0 * gamma(terms.reduction + 1, U32) * terms.magnitude
        + saturation
    )
    formula = (
        f"s_out/2 + s_out*2^(e-1) + {'0' if weights_on_grid else 'sum|x|*s_w/2'} + s_in*s_w/2 "
        f"+ |y|*2^{int(np.log2(precision))} + 2*gamma32(K+1)*M + saturation "
        f"(s_out={s_out:.3g}, s_in={inputs.scales[0]:.3g}, K={terms.reduction})"
    )
    return Bound(bound, "step", np.full_like(bound, s_out), formula)

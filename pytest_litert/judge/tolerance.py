"""Element-wise error bounds per recipe, derived from the cell's own numbers.

Each bound is a sum of terms an implementation can actually incur (weight rounding,
activation quantization, output rounding, floating-point accumulation), evaluated with
the layer itself in float64 on |x|, |W| and ones (layer_math.apply), so it follows SAME
padding, strides and the real reduction length. docs/tolerances.md derives every term;
the code follows it term by term, and tests/test_bounds_by_hand.py recomputes it from the
document's formulas. The `formula` text is quoted in failure messages.

u32 = 2^-24, u16 = 2^-11 (unit roundoffs), eta = 2^-25 (half the float16 subnormal
spacing), tau = 2^-14 (the smallest normal float16: what flush-to-zero may lose per number);
gamma(n, u) = n*u / (1 - n*u).
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
# XNNPACK runs every operator with PTHREADPOOL_FLAG_DISABLE_DENORMALS; on aarch64 pthreadpool
# then sets FPCR.FZ16, so float16 arithmetic reads subnormal operands as 0 and flushes subnormal
# results to 0: each number or operation may lose up to the smallest normal float16.
FP16_SMALLEST_NORMAL = 2.0**-14
# Relative error of a kernel's requantization multiplier (docs/tolerances.md, static int8):
# int8 outputs: XNNPACK's float32 path rounds four times (s_in*s_w, /s_out, the int32 -> float
# conversion, the product), gamma(4, u32); TFLite's 31-bit fixed-point multiplier is within
# 2^-31 of it, far inside. int16 outputs: TFLite's 16x8 kernels reduce it to 15 bits,
# (M + 2^15) >> 16 (or 0x7FFF near 1): within 1/(2^15 - 1) of the real multiplier.
INT16_MULTIPLIER_ERROR = 1.0 / (2.0**15 - 1.0)


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


def requantization_error(output: TensorInfo) -> float:
    """rho: the relative error of the requantization multiplier any kernel may use."""
    return INT16_MULTIPLIER_ERROR if output.dtype == "INT16" else gamma(4, U32)


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

    magnitude: np.ndarray  # M = |W|.|x| + |b|
    sum_abs_x: np.ndarray  # sum of |x| over each element's receptive field
    sum_abs_w: np.ndarray  # sum of |W| over the terms that meet the input
    terms: np.ndarray  # T: number of products summed (K, fewer at padded edges)
    reduction: int  # K, the longest reduction
    bias: float = 1.0  # beta: 1 where the layer adds a bias, else 0

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
            bias=0.0 if bias is None else 1.0,
        )


def float_bound(terms: LayerTerms, *, fp16_weights: bool, fp16_arithmetic: bool,
                flush_to_zero: bool = False) -> Bound:
    """Keras within gamma(K+1)*M of the exact value. Float32 LiteRT likewise, over its own
    operands: M itself, or with float16 weights and bias (W' = fl16(W), whose rounding moves
    the result by u16*M + eta*(sum|x| + beta)) M' <= (1+u16)*M + eta*(sum|x| + beta). Float16
    arithmetic (which rounds the weights to float16 too) replaces LiteRT's float32 term with
    fp16_arithmetic_term; under `flush_to_zero` (aarch64) the operands it reads lose up to tau,
    not eta. docs/tolerances.md derives each term."""
    g = gamma(terms.reduction + 1, U32)
    m = terms.magnitude
    bound, formula, unit = g * m, "gamma32(K+1)*M", ("ulp32", 2.0**-23)
    lost, name = lost_per_fp16_number(fp16_arithmetic and flush_to_zero)
    rounded = lost * (terms.sum_abs_x + terms.bias)
    if fp16_weights or fp16_arithmetic:
        bound = bound + U16 * m + rounded
        formula += f" + u16*M + {name}*(sum|x| + beta)"
        unit = ("ulp16", 2.0**-10)
    if fp16_arithmetic:
        bound = bound + fp16_arithmetic_term(terms, flush_to_zero)
        formula += f" + {FP16_FORMULA[flush_to_zero]}, T'=T+beta<={int((terms.terms + terms.bias).max())}"
    elif fp16_weights:
        bound = bound + g * ((1.0 + U16) * m + rounded)
        formula += " + gamma32(K+1)*((1+u16)*M + eta*(sum|x| + beta))"
    else:
        bound = bound + g * m
        formula += " + gamma32(K+1)*M"
    unit_size = np.maximum(unit[1] * m, np.finfo(np.float32).tiny)
    return Bound(bound, unit[0], unit_size, f"{formula}, M=|W|.|x|+|b|, K={terms.reduction}")


def lost_per_fp16_number(flush_to_zero: bool) -> tuple[float, str]:
    """What a number rounded to (or read as) float16 may lose beyond u16 of it, and its name."""
    return (FP16_SMALLEST_NORMAL, "tau") if flush_to_zero else (FP16_SUBNORMAL_HALF_STEP, "eta")


FP16_FORMULA = {
    False: "(1+u16)*(u16 + (1+u16)*T'*u16)*M + 2*eta*(1 + T'*u16)*(sum|x| + sum|W| + T + beta)",
    True: "(1+u16)*(u16 + (1+u16)*T'*u16)*M + 2*tau*(1 + T'*u16)*(sum|x| + sum|W| + T + T' + beta) (flush-to-zero)",
}


def fp16_arithmetic_term(terms: LayerTerms, flush_to_zero: bool = False) -> np.ndarray:
    """What computing in float16 adds, beyond float16 weights: the input rounded to float16
    (|dx| <= u16*|x| + eta) and an inner product of T' = T + beta summands in float16 over the
    rounded operands (T'*u16*M'', Jeannerod-Rump; eta per product that underflows; additions
    with gradual underflow are exact), with M'' <= (1+u16)^2*M + subnormal terms, all collected
    in docs/tolerances.md to the two terms below. Under flush-to-zero every operand read loses
    up to tau instead of eta, and every product and addition may flush a result below tau: T'
    more operations in the count."""
    summands = terms.terms + terms.bias
    relative = (1.0 + U16) * (U16 + (1.0 + U16) * dot_error(summands, U16)) * terms.magnitude
    counts = terms.sum_abs_x + terms.sum_abs_w + terms.terms + terms.bias
    if flush_to_zero:
        counts = counts + summands
    return np.asarray(relative + 2.0 * lost_per_fp16_number(flush_to_zero)[0] * (1.0 + summands * U16) * counts)


def weight_scales(weights: TensorInfo, channels_last: int) -> np.ndarray:
    """Per-output-channel weight scale broadcastable over the output (channels last)."""
    scales = np.asarray(weights.scales, np.float64)
    if scales.size == 1:
        return np.full(channels_last, scales[0])
    return scales


def double_rounding(multiplier: np.ndarray | float) -> np.ndarray:
    """TFLite requantizes with MultiplyByQuantizedMultiplier: a rounding doubling high multiply,
    then a rounding right shift by -e where multiplier = f * 2^e, f in [0.5, 1). The first
    rounding is in units of 2^e output steps, so it adds up to 2^(e-1) steps when e < 0."""
    exponent = np.frexp(np.asarray(multiplier, np.float64))[1]
    return np.where(exponent < 0, 2.0 ** (exponent.astype(np.float64) - 1.0), 0.0)


def dynamic_bound(terms: LayerTerms, weights: TensorInfo, max_abs_x: float) -> Bound:
    """Weights rounded to their grid (|dW| <= s_w/2); activations quantized at run time to
    int8, symmetric or asymmetric, per row or per tensor: |dx| <= max|x|/127 covers all. The
    first-order terms A, then both float evaluations: gamma(K+1)*M (Keras) and gamma(K+1)*M'
    (LiteRT, M' <= M + A)."""
    s_w = weight_scales(weights, terms.magnitude.shape[-1])
    dx = max_abs_x / 127.0
    first = terms.sum_abs_x * s_w / 2.0 + terms.sum_abs_w * dx + terms.terms * s_w * dx / 2.0
    g = gamma(terms.reduction + 1, U32)
    bound = (1.0 + g) * first + 2.0 * g * terms.magnitude
    formula = (
        "(1+gamma32(K+1))*A + 2*gamma32(K+1)*M, A = sum|x|*s_w/2 + sum|W|*max|x|/127 + T*s_w*max|x|/254 "
        f"(s_w per channel {s_w.min():.3g}..{s_w.max():.3g}, max|x|={max_abs_x:.3g}, K={terms.reduction})"
    )
    return Bound(bound, "bound", bound, formula)


def weight_only_bound(terms: LayerTerms, weights: TensorInfo) -> Bound:
    """Quantized weights dequantized to fp32 in front of a float layer (weight-only): weight
    rounding R = sum|x|*s_w/2, the DEQUANTIZE's own fp32 rounding (u32 of each weight,
    |W'| <= |W| + s_w/2), LiteRT's fp32 accumulation over the dequantized weights
    (gamma(K+1)*(1+u32)*(M + R)) and Keras's own (gamma(K+1)*M)."""
    s_w = weight_scales(weights, terms.magnitude.shape[-1])
    rounding = terms.sum_abs_x * s_w / 2.0
    g = gamma(terms.reduction + 1, U32)
    bound = rounding + (U32 + g * (1.0 + U32)) * (terms.magnitude + rounding) + g * terms.magnitude
    formula = (
        "R + (u32 + gamma32(K+1)*(1+u32))*(M + R) + gamma32(K+1)*M, R = sum|x|*s_w/2 "
        f"(s_w per channel {s_w.min():.3g}..{s_w.max():.3g}, K={terms.reduction})"
    )
    return Bound(bound, "bound", bound, formula)


def static_bound(
    terms: LayerTerms, weights: TensorInfo, inputs: TensorInfo, output: TensorInfo,
    reference: np.ndarray, *, weights_on_grid: bool,
) -> Bound:
    """Inputs lie on the model's input grid (see build.py), so the file's exact value t differs
    from Keras's r by D = weight rounding (|dW| <= s_w/2) + bias rounding (s_in*s_w/2) +
    Keras's own float error gamma(K+1)*M; the kernel rounds t to a step (s_out/2, plus the
    first of TFLite's two roundings) with a multiplier within rho, |t| <= |r| + D; then
    saturation at the output range."""
    s_out, zp_out = output.scales[0], output.zero_points[0]
    info = np.iinfo(output.dtype.lower())
    low, high = (info.min - zp_out) * s_out, (info.max - zp_out) * s_out
    s_w = weight_scales(weights, terms.magnitude.shape[-1])
    s_in = inputs.scales[0]
    weight_term = 0.0 if weights_on_grid else terms.sum_abs_x * s_w / 2.0
    rho = requantization_error(output)
    saturation = np.maximum(reference - high, 0.0) + np.maximum(low - reference, 0.0)
    d = weight_term + terms.bias * s_in * s_w / 2.0 + gamma(terms.reduction + 1, U32) * terms.magnitude
    bound = s_out / 2.0 + double_rounding(s_in * s_w / s_out) * s_out + (1.0 + rho) * d + rho * np.abs(reference)
    bound = bound + saturation
    formula = (
        f"s_out/2 + s_out*2^(e-1) + (1+rho)*D + rho*|r| + saturation, D = "
        f"{'0' if weights_on_grid else 'sum|x|*s_w/2'} + beta*s_in*s_w/2 + gamma32(K+1)*M, rho={rho:.3g} "
        f"(s_out={s_out:.3g}, s_in={s_in:.3g}, K={terms.reduction})"
    )
    return Bound(bound, "step", np.full_like(bound, s_out), formula)


def file_bound(terms: LayerTerms, *, fp16_arithmetic: bool, runtime_operand: bool = False,
               own_activation_scale: bool = False, flush_to_zero: bool = False) -> Bound:
    """A lane against NumPy evaluating the file's own numbers in float64 (numpy_reference.py):
    the K+1 summands in any order plus at most two more float32 roundings of each product
    (the DEQUANTIZE's s*q; a hybrid kernel's s_x*s_w and its int32 -> float conversion):
    gamma(K+3)*M >= gamma(K+1)*M + gamma(2)*M. A lane computing in float16 adds
    fp16_arithmetic_term; a constant second operand is float16 in the file already, a run-time
    one (`runtime_operand`: a two-input BATCH_MATMUL's y) is rounded by the lane first, which
    adds u16*M + eta*(sum|x| + beta), as moving weights to float16 does in float_bound.
    `own_activation_scale`: a hybrid kernel whose activation scale the model does not compute
    the kernel's way (TFLite's optimized builds: float32, within gamma(2) of the exact scale;
    the model's within u32, so they differ by gamma(2) + u32 <= gamma(3) of it), which scales
    every product: gamma(K+3)*M + gamma(3)*(1 + gamma(K+3))*M <= gamma(K+6)*M.
    `flush_to_zero`: the float16 lane flushes subnormals (aarch64), tau where eta was."""
    m = terms.magnitude
    roundings = terms.reduction + (6 if own_activation_scale else 3)
    bound = gamma(roundings, U32) * m
    formula = (f"gamma32(K+{roundings - terms.reduction})*M, M=|W|.|x|+|b| of the file's own numbers, "
               f"K={terms.reduction}")
    unit = ("ulp32", 2.0**-23)
    lost, name = lost_per_fp16_number(flush_to_zero)
    if fp16_arithmetic and runtime_operand:
        bound = bound + U16 * m + lost * (terms.sum_abs_x + terms.bias)
        formula += f" + u16*M + {name}*(sum|x| + beta) (the run-time operand rounded to float16)"
    if fp16_arithmetic:
        bound = bound + fp16_arithmetic_term(terms, flush_to_zero)
        formula += f" + {FP16_FORMULA[flush_to_zero]}"
        unit = ("ulp16", 2.0**-10)
    return Bound(bound, unit[0], np.maximum(unit[1] * m, np.finfo(np.float32).tiny), formula)

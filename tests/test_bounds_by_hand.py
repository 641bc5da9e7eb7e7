"""Every bound of docs/tolerances.md, worked by hand on a small layer and compared with
judge/tolerance.py (and the NumPy, tie and constants allowances). The expected values are
written from the document's formulas with this module's own arithmetic, none copied from the
code under test: a term that drifts from the document (a factor 2, a (1+u16)^2 on pure
float32, a constant nobody derived) fails here.

The layer: one Dense row x = (1, -2), W = (0.5, 0.25)^T (k = 2, n = 1), b = 0.125, so per the
document's notation M = |W|.|x| + |b| = 1.125, sum|x| = 3, sum|W| = 0.75, T = K = 2, beta = 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_litert.judge import constants, tolerance
from pytest_litert.judge.ties import allowed, window
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import OPS, LayerShape
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.flatbuffer import TensorInfo

U = 2.0**-24  # float32 unit roundoff
H = 2.0**-11  # float16 unit roundoff
ETA = 2.0**-25  # half the float16 subnormal spacing
TAU = 2.0**-14  # the smallest normal float16: what flush-to-zero may lose per number or operation
M, SUM_X, SUM_W, T, K, BETA = 1.125, 3.0, 0.75, 2.0, 2, 1.0
X = {"x": np.array([[1.0, -2.0]])}
KERNEL, BIAS = np.array([[0.5], [0.25]]), np.array([0.125])


def g(n: int) -> float:
    """Higham's gamma_n for float32, as the document defines it."""
    return n * U / (1 - n * U)


def terms() -> tolerance.LayerTerms:
    cell = make_cell(OPS["fully_connected"], RECIPES["fp32"], LayerShape(m=1, k=2, n=1))
    return tolerance.LayerTerms.of(cell, X, KERNEL, BIAS)


def tensor(dtype: str, scales: tuple[float, ...], zero_points: tuple[int, ...] = (0,)) -> TensorInfo:
    return TensorInfo(0, "t", dtype, (1,), scales, zero_points, 0, True)


def value(bound: tolerance.Bound) -> float:
    return float(np.asarray(bound.elementwise).reshape(-1)[0])


def test_the_layer_sums_are_the_hand_worked_ones() -> None:
    found = terms()
    assert (float(found.magnitude[0, 0]), float(found.sum_abs_x[0, 0]), float(found.sum_abs_w[0, 0]),
            float(found.terms[0, 0]), found.reduction, found.bias) == (M, SUM_X, SUM_W, T, K, BETA)


def test_fp32_is_both_sides_float32_error_and_nothing_else() -> None:
    expected = g(K + 1) * M + g(K + 1) * M  # Keras's, then LiteRT's: no (1+u16)^2 on pure float32
    assert value(tolerance.float_bound(terms(), fp16_weights=False, fp16_arithmetic=False)) == pytest.approx(
        expected, rel=1e-12)


def test_fp16_weights() -> None:
    rounding = H * M + ETA * (SUM_X + BETA)  # moving W and b to float16
    litert = g(K + 1) * ((1 + H) * M + ETA * (SUM_X + BETA))  # float32 over the rounded operands
    expected = g(K + 1) * M + rounding + litert
    assert value(tolerance.float_bound(terms(), fp16_weights=True, fp16_arithmetic=False)) == pytest.approx(
        expected, rel=1e-12)


def test_fp16_arithmetic() -> None:
    summands = T + BETA  # T' of Jeannerod-Rump: the products and the bias
    fp16 = (1 + H) * (H + (1 + H) * summands * H) * M + 2 * ETA * (1 + summands * H) * (SUM_X + SUM_W + T + BETA)
    expected = g(K + 1) * M + H * M + ETA * (SUM_X + BETA) + fp16
    assert value(tolerance.float_bound(terms(), fp16_weights=True, fp16_arithmetic=True)) == pytest.approx(
        expected, rel=1e-12)


def test_fp16_arithmetic_flushing_subnormals() -> None:
    """aarch64 (XNNPACK sets FPCR.FZ16): tau where eta was, and T' more operations that may
    flush (the additions, no longer exact)."""
    summands = T + BETA
    fp16 = (1 + H) * (H + (1 + H) * summands * H) * M + 2 * TAU * (1 + summands * H) * (
        SUM_X + SUM_W + T + summands + BETA)
    expected = g(K + 1) * M + H * M + TAU * (SUM_X + BETA) + fp16
    found = tolerance.float_bound(terms(), fp16_weights=True, fp16_arithmetic=True, flush_to_zero=True)
    assert value(found) == pytest.approx(expected, rel=1e-12)
    assert value(tolerance.file_bound(terms(), fp16_arithmetic=True, flush_to_zero=True)) == pytest.approx(
        g(K + 3) * M + fp16, rel=1e-12)


def test_a_flushed_subnormal_bias_is_inside_the_flush_bound_and_outside_the_gradual_one() -> None:
    """The finding (MobileNetV2 block 11 on aarch64, docs/findings.md): a depthwise channel with
    an all-zero input outputs its bias, 4.77e-05, a float16 subnormal that the lane gives as 0.
    The gradual-underflow bound cannot allow that; the flush-to-zero one must, and by no more
    than the derivation says."""
    cell = make_cell(OPS["fully_connected"], RECIPES["fp16"], LayerShape(m=1, k=9, n=1))
    bias = np.array([4.77e-05])
    zero_input = tolerance.LayerTerms.of(cell, {"x": np.zeros((1, 9))}, np.full((9, 1), 0.3), bias)
    gradual = value(tolerance.float_bound(zero_input, fp16_weights=True, fp16_arithmetic=True))
    flush = value(tolerance.float_bound(zero_input, fp16_weights=True, fp16_arithmetic=True, flush_to_zero=True))
    assert gradual < 4.77e-05 < flush
    # M = 4.77e-05, sum|x| = 0, sum|W| = 2.7, T = 9 (no tap on padding), beta = 1, T' = 10:
    m, sum_w, t, summands = 4.77e-05, 2.7, 9.0, 10.0
    by_hand = (g(10) * m + H * m + TAU * 1.0 + (1 + H) * (H + (1 + H) * summands * H) * m
               + 2 * TAU * (1 + summands * H) * (sum_w + t + summands + 1.0))
    assert flush == pytest.approx(by_hand, rel=1e-12)


def test_dynamic_int8() -> None:
    s_w, max_x = 0.01, 2.0
    delta = max_x / 127
    first = SUM_X * s_w / 2 + SUM_W * delta + T * s_w * delta / 2
    expected = (1 + g(K + 1)) * first + 2 * g(K + 1) * M
    found = tolerance.dynamic_bound(terms(), tensor("INT8", (s_w,)), max_x)
    assert value(found) == pytest.approx(expected, rel=1e-12)


def test_int4_weight_only() -> None:
    s_w = 0.1
    rounding = SUM_X * s_w / 2
    expected = rounding + (U + g(K + 1) * (1 + U)) * (M + rounding) + g(K + 1) * M
    assert value(tolerance.weight_only_bound(terms(), tensor("INT4", (s_w,)))) == pytest.approx(expected, rel=1e-12)


def test_static_int8_keras_error_counted_once() -> None:
    s_in, s_w, s_out, r = 0.02, 0.004, 0.05, 0.9
    multiplier = s_in * s_w / s_out  # 0.0016 = 0.8192 * 2^-9: e = -9
    rho = g(4)  # four float32 roundings in XNNPACK's requantization
    d = SUM_X * s_w / 2 + BETA * s_in * s_w / 2 + g(K + 1) * M
    expected = s_out / 2 + s_out * 2.0**-10 + (1 + rho) * d + rho * abs(r)
    assert np.frexp(multiplier)[1] == -9
    found = tolerance.static_bound(terms(), tensor("INT8", (s_w,)), tensor("INT8", (s_in,), (-3,)),
                                   tensor("INT8", (s_out,), (5,)), np.array([[r]]), weights_on_grid=False)
    assert value(found) == pytest.approx(expected, rel=1e-12)


def test_static_int16_multiplier_and_saturation() -> None:
    s_in, s_w, s_out = 2.0**-12, 0.004, 2.0**-13  # multiplier 0.008 = 0.512 * 2^-6: e = -6
    r = 5.0  # beyond the int16 range (32767 * 2^-13 ~ 3.9999): the bound grows by the overshoot
    rho = 1 / (2**15 - 1)  # TFLite's 15-bit reduced multiplier
    high = 32767 * s_out
    d = 0.0 + BETA * s_in * s_w / 2 + g(K + 1) * M  # two runtime inputs on their grid: no weight term
    e = int(np.frexp(s_in * s_w / s_out)[1])
    expected = s_out / 2 + s_out * 2.0 ** (e - 1) + (1 + rho) * d + rho * r + (r - high)
    found = tolerance.static_bound(terms(), tensor("INT16", (s_w,)), tensor("INT16", (s_in,)),
                                   tensor("INT16", (s_out,)), np.array([[r]]), weights_on_grid=True)
    assert value(found) == pytest.approx(expected, rel=1e-12)


def test_numpy_against_a_lane() -> None:
    expected = g(K + 3) * M  # K+1 summands and two more roundings of each product
    assert value(tolerance.file_bound(terms(), fp16_arithmetic=False)) == pytest.approx(expected, rel=1e-12)


def test_numpy_against_a_hybrid_kernel_with_its_own_activation_scale() -> None:
    """TFLite's optimized hybrid kernels compute the activation scale in float32 (within gamma(2)
    of the exact one; the model's within u), and it multiplies every product: three more
    roundings, gamma(K+6)*M (found by the thorough profile at depthwise_conv2d-dynamic_int8,
    k = 1: the builtin kernel's scale one float32 step below the model's, 1.06 of gamma(K+3)*M)."""
    expected = g(K + 6) * M
    assert value(tolerance.file_bound(terms(), fp16_arithmetic=False, own_activation_scale=True)) == pytest.approx(
        expected, rel=1e-12)
    assert g(3) + g(K + 3) + g(3) * g(K + 3) <= g(K + 6)  # the document's collection of the terms


def test_numpy_against_a_float16_lane() -> None:
    """A float16 lane: the fp16-arithmetic terms on top; with a run-time second operand (a
    two-input BATCH_MATMUL's y, float32 in the file) also its rounding to float16, u16*M +
    eta*(sum|x| + beta), as for weights moved to float16 (found by the thorough profile at
    batch_matmul-fp16, k = 1: 1.06 of the bound without it)."""
    summands = T + BETA
    fp16 = (1 + H) * (H + (1 + H) * summands * H) * M + 2 * ETA * (1 + summands * H) * (SUM_X + SUM_W + T + BETA)
    constant = g(K + 3) * M + fp16
    assert value(tolerance.file_bound(terms(), fp16_arithmetic=True)) == pytest.approx(constant, rel=1e-12)
    runtime = constant + H * M + ETA * (SUM_X + BETA)
    assert value(tolerance.file_bound(terms(), fp16_arithmetic=True, runtime_operand=True)) == pytest.approx(
        runtime, rel=1e-12)


def test_tie_window_and_the_steps_it_allows() -> None:
    """t = 10.5 - 2^-12 (a near tie), multiplier 0.0016 (e = -9): window = |t|*(gamma(4, u32) +
    2^-50) + 2^-10, which reaches the tie, so 10 and 11 are both correct; t = 10.3 allows 10 only."""
    exact = np.array([10.5 - 2.0**-12, 10.3])
    found = window(exact, np.full(2, 0.0016), g(4))
    assert found == pytest.approx(np.abs(exact) * (g(4) + 2.0**-50) + 2.0**-10, rel=1e-12)
    low, high = allowed(exact, found, 3, (-128, 127))
    assert (low.tolist(), high.tolist()) == ([13, 13], [14, 13])


@pytest.mark.parametrize(("dtype", "scales", "w", "expected"), [
    ("FLOAT32", (), 0.75, 2 * g(5) * 0.75),
    ("FLOAT16", (), 0.75, max(H * (1 + 2 * g(5)) * 0.75, ETA) + 2 * g(5) * 0.75),
    ("FLOAT16", (), 1e-6, max(H * (1 + 2 * g(5)) * 1e-6, ETA) + 2 * g(5) * 1e-6),
    ("INT8", (0.01,), 0.75, 0.005 + g(2) * ((1 + 2 * g(5)) * 0.75 + 0.01) + 2 * g(5) * 0.75),
])
def test_constants_allowance(dtype: str, scales: tuple[float, ...], w: float, expected: float) -> None:
    half = np.array([scales[0] / 2 if scales else 0.0])
    found = constants._allowance(tensor(dtype, scales), half, np.array([w]))
    assert float(found[0]) == pytest.approx(expected, rel=1e-12)


def test_tflite_rounding_window() -> None:
    """An input within gamma(8)*(|x/scale| + |value|) of a .5 tie may round either way in
    another build of TFLite's quantization: 10.5 - 1e-5 with |x/scale| = 200 (window
    gamma(8)*210.5 ~ 1.0e-4) flips, 10.5 - 2e-4 and 10.4 do not."""
    from pytest_litert.judge.numpy_reference import _flips

    value = np.array([10.5 - 1e-5, 10.5 - 2e-4, 10.4])
    found = _flips(value, 200 + np.abs(value), np.array(0.25))
    assert g(8) * 210.5 == pytest.approx(1.0035e-4, rel=1e-3)
    assert found.tolist() == [0.25, 0.0, 0.0]

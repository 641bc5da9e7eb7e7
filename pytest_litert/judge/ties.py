"""Rounding ties of integer outputs: which step a correct kernel may give, per element.

Every integer kernel (TFLite's reference and optimized kernels, XNNPACK, KleidiAI) computes
the same exact int32 accumulator and rounds the same real number t = acc * s_in*s_w/s_out
to a step, each through its own requantization: within rho*|t| (its multiplier's relative
error, tolerance.requantization_error) plus, for TFLite's two-step fixed-point multiply, the
first rounding's 2^(e-1) steps (tolerance.double_rounding). So a correct kernel gives
round(v) for some v within `window` of t, ties rounded either way: an integer n with
|n - t| <= 1/2 + window. Where that admits one integer only, every correct kernel agrees;
elsewhere (t within the window of a .5 tie) two do. docs/tolerances.md: a requantization
bias moves elements outside this set, which no bound in units of steps can see.
"""

from __future__ import annotations

import numpy as np

from pytest_litert.judge.tolerance import double_rounding

NUMPY_ERROR = 2.0**-50  # t as NumPy computes it: three float64 roundings (s_in*s_w, /s_out, *acc), 3*2^-53 < 2^-50


def window(exact: np.ndarray, multiplier: np.ndarray, rho: float) -> np.ndarray:
    """How far (in output steps) a correct kernel's unrounded value may lie from t."""
    size = np.abs(exact)
    return np.asarray(size * (rho + NUMPY_ERROR) + double_rounding(multiplier))


def allowed(exact: np.ndarray, slack: np.ndarray, zero_point: int, limits: tuple[float, float]) -> tuple[np.ndarray,
                                                                                                       np.ndarray]:
    """(lowest, highest) output integer a correct kernel may give: |n - t| <= 1/2 + slack,
    shifted by the zero point and clamped to the output's range and fused activation."""
    low = np.ceil(exact - slack - 0.5) + zero_point
    high = np.floor(exact + slack + 0.5) + zero_point
    return (np.clip(low, *limits).astype(np.int64), np.clip(high, *limits).astype(np.int64))

"""Each recipe family's bound tested at its edge: a test double of the target moves one output
element of one lane to just inside (about 0.9x) and just outside (about 1.1x) of its bound at
that element, and the lane's check must pass, then fail. The bound is computed here from
docs/tolerances.md's formulas on the real cell (a Dense layer, the `ci` shape, seed 0), not
taken from judge/tolerance.py, so the edge is the document's.

On aarch64 XNNPACK computes float16 with flush-to-zero, and the fp16-arithmetic bound says so;
the double can also claim to be an aarch64 machine (its facts say so), which puts that bound at
its edge on any host.

Integer outputs move in whole steps: of all elements, the one whose last step inside the bound
and first step outside come closest to 0.9 and 1.1 of it (a bound of two steps cannot do better
than about 0.75 and 1.25; the test records what it reached).
"""

from __future__ import annotations

import dataclasses
import platform
from typing import Any

import numpy as np
import pytest

from pytest_litert.judge.checks import Check
from pytest_litert.matrix.cells import Cell, make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.run.targets import RunResult, Target
from pytest_litert.session import Runner, Settings, evaluate_cell

U, H, ETA, TAU = 2.0**-24, 2.0**-11, 2.0**-25, 2.0**-14
HOST = platform.machine()


def g(n: int) -> float:
    return n * U / (1 - n * U)


@pytest.fixture(scope="module")
def runner() -> Runner:
    made = Runner(Settings.from_strings(None, None, 0, None, "inprocess"))
    yield made  # type: ignore[misc]
    made.close()


class EdgeTarget:
    """TEST DOUBLE: the real target, except that on the first input draw the lane in `mode`
    returns one element replaced (flat index `at`, raw value `value`), and every run's facts name
    `machine` as the CPU (the real one by default)."""

    def __init__(self, real: Target, mode: str, inputs: dict[str, np.ndarray], at: int, value: Any,
                 machine: str = HOST) -> None:
        self.real, self.mode, self.inputs, self.at, self.value = real, mode, inputs, at, value
        self.name, self.machine = real.name, machine

    def run(self, model: bytes, inputs: dict[str, np.ndarray], mode: str) -> RunResult:
        result = self.real.run(model, inputs, mode)
        if self.machine != HOST and "machine" in result.facts:
            result = RunResult(result.outputs, {**result.facts, "machine": self.machine})
        if mode != self.mode or any(not np.array_equal(inputs[k], v) for k, v in self.inputs.items()):
            return result
        output = np.array(result.output, copy=True)
        output.reshape(-1)[self.at] = self.value
        return RunResult({next(iter(result.outputs)): output}, result.facts)

    def close(self) -> None:
        pass


def _sums(artifact: CellArtifact) -> dict[str, Any]:
    """The document's per-element sums for a Dense layer, by hand: M, sum|x|, sum|W|, T, K."""
    x = np.abs(artifact.float_inputs[0]["x"].astype(np.float64))
    w = np.abs(np.asarray(artifact.weights.kernel, np.float64))
    b = np.abs(np.asarray(artifact.weights.bias, np.float64))
    k = w.shape[0]
    return {"M": x @ w + b, "sum_x": x.sum(-1, keepdims=True) + 0 * b, "sum_w": w.sum(0) + 0 * x[:, :1],
            "T": float(k), "K": k, "beta": 1.0, "max_x": float(x.max())}


def _doc_bound(cell: Cell, artifact: CellArtifact, lane: str, machine: str = HOST) -> np.ndarray:
    """docs/tolerances.md's bound for `lane` against Keras, per element of draw 0, on `machine`."""
    s = _sums(artifact)
    m, k, beta = s["M"], s["K"], s["beta"]
    layer = artifact.layer(cell.op)
    assert layer is not None
    recipe = cell.recipe.name
    if recipe == "fp32":
        return 2 * g(k + 1) * m
    weights_16 = g(k + 1) * m + H * m + ETA * (s["sum_x"] + beta)
    arm = machine in ("aarch64", "arm64")
    if lane == "fp16" or (recipe == "fp16" and arm):  # float16 arithmetic
        t1 = s["T"] + beta
        if arm:  # flush-to-zero: tau where eta was, and the T' additions that may flush
            return (g(k + 1) * m + H * m + TAU * (s["sum_x"] + beta) + (1 + H) * (H + (1 + H) * t1 * H) * m
                    + 2 * TAU * (1 + t1 * H) * (s["sum_x"] + s["sum_w"] + s["T"] + t1 + beta))
        return weights_16 + (1 + H) * (H + (1 + H) * t1 * H) * m + 2 * ETA * (1 + t1 * H) * (
            s["sum_x"] + s["sum_w"] + s["T"] + beta)
    if recipe in ("fp16", "fp16_weights"):
        return weights_16 + g(k + 1) * ((1 + H) * m + ETA * (s["sum_x"] + beta))
    s_w = np.asarray(layer.weights.scales, np.float64)
    if recipe == "int4_weight_only":
        r = s["sum_x"] * s_w / 2
        return r + (U + g(k + 1) * (1 + U)) * (m + r) + g(k + 1) * m
    if recipe in ("dynamic_int8", "dynamic_int8_per_tensor", "int4"):
        delta = s["max_x"] / 127
        first = s["sum_x"] * s_w / 2 + s["sum_w"] * delta + s["T"] * s_w * delta / 2
        return (1 + g(k + 1)) * first + 2 * g(k + 1) * m
    out = artifact.inspection.tensors[artifact.inspection.outputs[0]]
    s_in, s_out = layer.data.scales[0], out.scales[0]
    rho = 1 / (2**15 - 1) if out.dtype == "INT16" else g(4)
    e = np.frexp(s_in * s_w / s_out)[1]
    reference = artifact.reference_outputs[0].astype(np.float64)
    info = np.iinfo(out.dtype.lower())
    high, low = (info.max - out.zero_points[0]) * s_out, (info.min - out.zero_points[0]) * s_out
    d = s["sum_x"] * s_w / 2 + beta * s_in * s_w / 2 + g(k + 1) * m
    saturation = np.maximum(reference - high, 0) + np.maximum(low - reference, 0)
    return (s_out / 2 + np.where(e < 0, s_out * 2.0 ** (e - 1.0), 0) + (1 + rho) * d + rho * np.abs(reference)
            + saturation)


def _float_edge(reference: np.ndarray, bound: np.ndarray, factor: float) -> tuple[int, float, float]:
    """Flat index, float32 value and its achieved fraction of the bound, `factor` bounds off."""
    spacing = np.abs(reference) * 2.0**-23 + np.finfo(np.float32).tiny
    at = int(np.argmax((bound / spacing).reshape(-1)))
    r, b = float(reference.reshape(-1)[at]), float(bound.reshape(-1)[at])
    value = float(np.float32(r + factor * b))
    return at, value, abs(value - r) / b


def _integer_edge(reference: np.ndarray, bound: np.ndarray, scale: float, zero: int,
                  dtype: str) -> tuple[int, int, int, float, float]:
    """Flat index and the integers just inside and just outside the bound there."""
    info = np.iinfo(dtype.lower())
    best: tuple[float, int, int, int, float, float] | None = None
    for at, (r, b) in enumerate(zip(reference.reshape(-1), bound.reshape(-1), strict=True)):
        centre = round(r / scale) + zero
        q = np.arange(info.min, info.max + 1) if info.bits == 8 else np.arange(-2000, 2000) + centre
        ratio = np.abs((q - zero) * scale - r) / b
        for side in (1, -1):
            inside = q[(ratio < 1) & (side * (q - centre) > 0)]
            if inside.size == 0:
                continue
            q_in = int(inside.max() if side > 0 else inside.min())
            q_out = q_in + side
            r_in, r_out = abs((q_in - zero) * scale - r) / b, abs((q_out - zero) * scale - r) / b
            if 1 < r_out and info.min <= q_out <= info.max:
                score = abs(r_in - 0.9) + abs(r_out - 1.1)
                if best is None or score < best[0]:
                    best = (score, at, q_in, q_out, r_in, r_out)
    assert best is not None, "no element has a step just inside and just outside its bound"
    return best[1], best[2], best[3], best[4], best[5]


def _check(runner: Runner, cell: Cell, artifact: CellArtifact, mode: str, at: int, value: Any,
           machine: str = HOST) -> Check:
    target = EdgeTarget(runner.target(), mode, artifact.model_inputs[0], at, value, machine)
    verdict = evaluate_cell(cell, artifact, target)
    return next(c for c in verdict.checks if c.name == f"{mode} vs keras")


FAMILIES = [("fp32", "xnnpack"), ("fp16_weights", "xnnpack"), ("fp16", "xnnpack"), ("fp16", "fp16"),
            ("dynamic_int8", "xnnpack"), ("dynamic_int8_per_tensor", "xnnpack"), ("int4", "xnnpack"),
            ("int4_weight_only", "xnnpack"), ("static_int8", "xnnpack"), ("static_int8_per_tensor", "xnnpack"),
            ("int16x8", "xnnpack")]


# The float16-arithmetic lanes once more as an aarch64 machine (flush-to-zero), unless this is one.
EDGES = [(r, m, HOST) for r, m in FAMILIES] + (
    [] if HOST in ("aarch64", "arm64") else [("fp16", "xnnpack", "aarch64"), ("fp16", "fp16", "aarch64")])


@pytest.mark.parametrize(("recipe", "mode", "machine"), EDGES, ids=[f"{r}-{m}-{c}" for r, m, c in EDGES])
def test_one_element_just_inside_passes_and_just_outside_fails(runner: Runner, recipe: str, mode: str,
                                                               machine: str) -> None:
    cell = make_cell(OPS["fully_connected"], RECIPES[recipe])
    built = runner.build(cell)
    assert isinstance(built, CellArtifact), built
    bound = _doc_bound(cell, built, mode, machine)
    reference = built.reference_outputs[0].astype(np.float64)
    out = built.inspection.tensors[built.inspection.outputs[0]]
    if out.dtype in ("INT8", "INT16"):
        at, q_in, q_out, f_in, f_out = _integer_edge(reference, bound, out.scales[0], out.zero_points[0], out.dtype)
        assert 0.5 < f_in < 1 < f_out < 1.5, (f_in, f_out)
        inside, outside = _check(runner, cell, built, mode, at, q_in), _check(runner, cell, built, mode, at, q_out)
    else:
        at, v_in, f_in = _float_edge(reference, bound, 0.9)
        _, v_out, f_out = _float_edge(reference, bound, 1.1)
        assert 0.85 < f_in < 0.95 and 1.05 < f_out < 1.15, (f_in, f_out)
        inside = _check(runner, cell, built, mode, at, v_in, machine)
        outside = _check(runner, cell, built, mode, at, v_out, machine)
    assert inside.passed and (inside.worst or 0.0) >= f_in * (1 - 1e-6), (f_in, inside.message)
    assert not outside.passed and outside.worst == pytest.approx(f_out, rel=1e-6), (f_out, outside.message)


def test_the_edge_target_changes_only_the_first_draw_of_its_lane(runner: Runner) -> None:
    cell = make_cell(OPS["fully_connected"], RECIPES["fp32"])
    built = runner.build(cell)
    assert isinstance(built, CellArtifact)
    target = EdgeTarget(runner.target(), "xnnpack", built.model_inputs[0], 3, 123.0)
    first = target.run(built.model, built.model_inputs[0], "xnnpack").output
    assert first.reshape(-1)[3] == 123.0
    assert target.run(built.model, built.model_inputs[0], "reference").output.reshape(-1)[3] != 123.0
    assert target.run(built.model, built.model_inputs[1], "xnnpack").output.reshape(-1)[3] != 123.0
    assert dataclasses.is_dataclass(cell)


@pytest.mark.parametrize("recipe", ["fp32", "fp16_weights"])
def test_the_numpy_bound_at_its_edge(runner: Runner, recipe: str) -> None:
    """The tight oracle: a lane against NumPy on the file's own numbers, gamma(K+3)*M (the file
    holds the Keras weights, rounded to float16 for fp16_weights)."""
    cell = make_cell(OPS["fully_connected"], RECIPES[recipe])
    built = runner.build(cell)
    assert isinstance(built, CellArtifact)
    store = np.float16 if recipe == "fp16_weights" else np.float32
    w = np.asarray(built.weights.kernel).astype(store).astype(np.float64)
    b = np.asarray(built.weights.bias).astype(store).astype(np.float64)
    x = built.model_inputs[0]["x"].astype(np.float64)
    exact, k = x @ w + b, w.shape[0]
    bound = g(k + 3) * (np.abs(x) @ np.abs(w) + np.abs(b))
    checks = []
    for factor in (0.9, 1.1):
        at, value, achieved = _float_edge(exact, bound, factor)
        assert abs(achieved - factor) < 0.05, achieved
        verdict = evaluate_cell(cell, built, EdgeTarget(runner.target(), "xnnpack", built.model_inputs[0], at, value))
        checks.append(next(c for c in verdict.checks if c.name == "xnnpack vs numpy"))
    assert checks[0].passed and not checks[1].passed, [c.message for c in checks]

"""Run a whole model on a target: every tensor it computes, its outputs per lane, its profile.

- tensors: one run per input draw on LiteRT's reference kernels with every tensor preserved
  (worker mode "tensors"); each operator is then judged on the inputs the model gave it. Where
  a reference kernel brings the worker down (LiteRT 2.3.0 aborts in an int8 SOFTMAX's Prepare)
  the optimized builtin kernels stand in (mode "tensors-builtin"), and the run says so.
- outputs: the whole model on XNNPACK and on the reference kernels, for the end-to-end metrics.
- profile: one profiled run (LiteRT's profiler: the XNNPACK operators that ran, each with its
  time), for where SME2 ran.
`run_operator` does the same for one cut operator that is not judged (ADD, SOFTMAX, ...):
XNNPACK and the reference kernels on its inputs, and its profile. Nothing here judges.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pytest_litert.run.lanes import UNAVAILABLE
from pytest_litert.run.targets import Target, TargetCrash, TargetError

LANES = ("xnnpack", "reference")
Tensors = dict[int, np.ndarray]


@dataclasses.dataclass(frozen=True)
class ModelRun:
    """Per draw every tensor (by index) and each lane's outputs (by signature name); per lane
    the error that stopped it; the profiled run's facts."""

    target: str
    tensors: list[Tensors]
    kernels: str  # which kernels computed `tensors`: "reference", or "builtin" where they crashed
    outputs: list[dict[str, dict[str, np.ndarray]]]
    errors: dict[str, str]
    profile: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class OperatorRun:
    """One cut operator that is not judged: each lane's output on the first draw (or its error),
    and its profiled run."""

    outputs: dict[str, np.ndarray]
    errors: dict[str, str]
    profile: dict[str, Any]


def run_model(model: bytes, draws: list[dict[str, np.ndarray]], target: Target) -> ModelRun:
    """`model` with static shapes (model/cut.py static_shapes); `draws` by signature input name.
    Raises TargetError / TargetCrash when not even the builtin kernels can run it."""
    tensors, kernels, notes = _tensors(model, draws, target)
    outputs: list[dict[str, dict[str, np.ndarray]]] = [{} for _ in draws]
    errors: dict[str, str] = {}
    for lane in LANES:
        for per_draw, draw in zip(outputs, draws, strict=True):
            try:
                per_draw[lane] = target.run(model, draw, lane).outputs
            except (TargetError, TargetCrash) as error:
                errors[lane] = _first_line(error)
                break
    return ModelRun(target.name, tensors, kernels, outputs, errors, profile_of(model, draws[0], target), notes)


def _tensors(model: bytes, draws: list[dict[str, np.ndarray]], target: Target) -> tuple[list[Tensors], str, tuple[
        str, ...]]:
    try:
        return [_by_index(target.run(model, draw, "tensors").outputs) for draw in draws], "reference", ()
    except (TargetError, TargetCrash) as error:
        note = (f"the reference kernels could not run the whole model ({_first_line(error)}); the operators' "
                "inputs come from LiteRT's optimized builtin kernels (no XNNPACK)")
    return [_by_index(target.run(model, draw, "tensors-builtin").outputs) for draw in draws], "builtin", (note,)


def _by_index(arrays: dict[str, np.ndarray]) -> Tensors:
    return {int(name[1:]): value for name, value in arrays.items()}


def run_operator(model: bytes, inputs: dict[str, np.ndarray], target: Target,
                 profile: dict[str, Any] | None = None) -> OperatorRun:
    """A cut operator on XNNPACK and the reference kernels, and profiled (unless the profile of
    an operator of the same kind, dtypes and shapes is given); never raises."""
    outputs: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    for lane in LANES:
        try:
            outputs[lane] = target.run(model, inputs, lane).output
        except (TargetError, TargetCrash) as error:
            errors[lane] = _first_line(error)
    return OperatorRun(outputs, errors, profile if profile is not None else profile_of(model, inputs, target))


def profile_of(model: bytes, inputs: dict[str, np.ndarray], target: Target) -> dict[str, Any]:
    """The profiled run's facts, or `available` False with the reason; never raises."""
    try:
        return dict(target.run(model, inputs, "profile").facts)
    except (TargetError, TargetCrash) as error:
        return {"available": False, "reason": f"{UNAVAILABLE}{_first_line(error)}"}
    except ValueError as error:  # a target of another plugin without the "profile" mode
        return {"available": False, "reason": f"{UNAVAILABLE}{error}"}


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]

"""Run a converted cell on its targets: every lane on every input draw, outputs and run facts.

A lane is (name, target, mode): XNNPACK and the reference kernels on the selected target,
real fp16 arithmetic (CompiledModel FORCE_FP16) for fp16 cells, and on an SME2 target the
same CPU with SME off (the NEON A/B lane; beside host-nosme, whose lanes are NEON, the A/B
lane "sme2" is the plain host). A LiteRT error in one lane ends that lane only; a crash of
the target ends the run. Once per cell (first input draw), each target also runs the model
under LiteRT's profiler (worker mode "profile"): its facts, under "profile" (and "neon
profile"), name the XNNPACK operators that ran. Nothing here judges: judge/ takes the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Any

import numpy as np

from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.run.nosme.target import HOST_NOSME
from pytest_litert.run.targets import Target, TargetCrash, TargetError

# facts key -> the lane whose target it profiles ("sme2": the A/B lane beside a target that hides SME2)
PROFILES = {"profile": "xnnpack", "neon profile": "neon", "sme2 profile": "sme2"}
UNAVAILABLE = "unavailable: "


@dataclasses.dataclass(frozen=True)
class Lane:
    name: str
    target: Target
    mode: str


@dataclasses.dataclass(frozen=True)
class CellRun:
    """Per input draw, each lane's raw output; per lane, the first run's facts or its error;
    per target, the profiled run's facts (PROFILES keys, not lanes: they have no output).

    `crash` is set when the target died (signal, hang): then nothing after it ran."""

    target: str
    lanes: tuple[str, ...]
    modes: dict[str, str]
    outputs: list[dict[str, np.ndarray]]
    facts: dict[str, dict[str, Any]]
    errors: dict[str, str]
    crash: str = ""

    def digests(self) -> dict[str, list[str]]:
        """Per lane, a sha256 of each draw's raw output (dtype, shape, bytes): two targets
        that ran the same machine code give the same digests (report/agreement.py)."""
        found: dict[str, list[str]] = {}
        for raw in self.outputs:
            for lane, output in raw.items():
                material = f"{output.dtype.str}{output.shape}".encode() + np.ascontiguousarray(output).tobytes()
                found.setdefault(lane, []).append(hashlib.sha256(material).hexdigest()[:16])
        return found


def lanes_of(cell: Cell, target: Target, comparison: Target | None) -> list[Lane]:
    lanes = [Lane(mode, target, mode) for mode in ("xnnpack", "reference")]
    if cell.recipe.name == "fp16":
        lanes.append(Lane("fp16", target, "fp16"))
    if comparison is not None:  # the A/B lane, named for what it runs: SME2 beside host-nosme, else NEON
        lanes.append(Lane("sme2" if target.name == HOST_NOSME else "neon", comparison, "xnnpack"))
    return lanes


def run_cell(cell: Cell, artifact: CellArtifact, target: Target, comparison: Target | None = None) -> CellRun:
    """Every lane on every draw of `artifact`."""
    lanes = lanes_of(cell, target, comparison)
    outputs: list[dict[str, np.ndarray]] = []
    facts: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    run = CellRun(target.name, tuple(lane.name for lane in lanes), {lane.name: lane.mode for lane in lanes},
                  outputs, facts, errors)
    for model_in in artifact.model_inputs:
        raw: dict[str, np.ndarray] = {}
        for lane in lanes:
            if lane.name in errors:
                continue  # this lane already failed to run
            try:
                result = lane.target.run(artifact.model, artifact.signature_inputs(model_in), lane.mode)
            except TargetCrash as error:
                return dataclasses.replace(run, crash=f"{type(error).__name__}: {error}")
            except TargetError as error:
                errors[lane.name] = str(error)
                continue
            raw[lane.name] = result.output
            facts.setdefault(lane.name, result.facts)
        outputs.append(raw)
    if artifact.model_inputs:
        facts.update(profiles(lanes, artifact.model, artifact.signature_inputs(artifact.model_inputs[0])))
    return run


def profiles(lanes: list[Lane], model: bytes, inputs: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """The profiled run on each lane's target that PROFILES names. Never raises: a target that
    cannot profile (a LiteRT error, an older worker, a crash) gives evidence "unavailable"."""
    found: dict[str, dict[str, Any]] = {}
    by_name = {lane.name: lane for lane in lanes}
    for key, lane_name in PROFILES.items():
        lane = by_name.get(lane_name)
        if lane is None:
            continue
        began = time.perf_counter()
        try:
            found[key] = {**lane.target.run(model, inputs, "profile").facts,
                          "request_seconds": time.perf_counter() - began}  # the profiling's cost to this run
        except TargetCrash as error:  # the target restarts its worker for the next run
            found[key] = {"available": False, "reason": f"{UNAVAILABLE}the profiled run crashed the worker: "
                          f"{_first_line(error)}"}
        except Exception as error:  # TargetError, or a target of another plugin that has no "profile" mode
            found[key] = {"available": False, "reason": f"{UNAVAILABLE}{_first_line(error)}"}
    return found


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]

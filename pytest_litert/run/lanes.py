"""Run a converted cell on its targets: every lane on every input draw, outputs and run facts.

A lane is (name, target, mode): XNNPACK and the reference kernels on the selected target,
real fp16 arithmetic (CompiledModel FORCE_FP16) for fp16 cells, and on the emulated SME2 CPU
the same CPU with SME off (the NEON A/B lane). A LiteRT error in one lane ends that lane
only; a crash of the target ends the run. Nothing here judges: judge/ takes the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np

from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.run.targets import Target, TargetCrash, TargetError


@dataclasses.dataclass(frozen=True)
class Lane:
    name: str
    target: Target
    mode: str


@dataclasses.dataclass(frozen=True)
class CellRun:
    """Per input draw, each lane's raw output; per lane, the first run's facts or its error.

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
    if comparison is not None:
        lanes.append(Lane("neon", comparison, "xnnpack"))
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
    return run

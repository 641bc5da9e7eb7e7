"""Kernel-fault injection: a faulty optimized kernel (faults/kernels.py FaultyKernelTarget, a
test double of the target) on every produced cell at seed 0, judged by the unchanged oracles.
Asserted, by construction (docs/tolerances.md, "Would it catch a buggy kernel?"):

- every fault that changes an output is detected: an integer output moved by a step where no
  rounding tie allows it leaves the tie analysis (`<lane> vs numpy`, `xnnpack~reference`); a
  float output moved by more than gamma(K+3)*M (+ one activation step per input on a tie, for
  dynamic recipes) leaves the NumPy bound, and each float fault here moves its largest element
  by far more (1% of |y| against ~(K+3)*6e-8 of M; bf16 / fp16 rounding against float32);
- the tight oracles are what catches the faults the Keras bounds cannot see: a 1% scale on a
  dynamic int8 cell, a one-step requantization bias on a static int8 one.
A fault that changes nothing (no output saturates, so `no-saturation` has nothing to wrap) is
not counted. One fault is undetectable by construction where a host's optimized lane computes
in float16 (aarch64 honours the fp16 hint; not this x86 host): a 1% scale, inside float16's own
worst-case rounding T'*2^-11 of M once T' > 20 summands.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest

from pytest_litert.faults.inject import inject_kernels
from pytest_litert.faults.kernel_run import KernelOutcome
from pytest_litert.faults.kernels import KERNEL_FAULTS, FaultContext, FaultyKernelTarget
from pytest_litert.jobs import default_jobs
from pytest_litert.matrix.cells import make_cell
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.session import Runner, Settings


@pytest.fixture(scope="module")
def outcomes() -> tuple[list[KernelOutcome], list[str]]:
    return inject_kernels(Settings.from_strings(None, None, 0, None, "inprocess"), jobs=default_jobs())


def test_the_correct_kernels_pass_everywhere(outcomes: tuple[list[KernelOutcome], list[str]]) -> None:
    assert outcomes[1] == []


def _inside_float16_rounding(outcome: KernelOutcome) -> bool:
    """A 1% scale where every optimized lane of the cell computes in float16 (module docstring)."""
    return (outcome.fault.endswith("scale*1.01") and outcome.cell.recipe.name == "fp16"
            and platform.machine() in ("aarch64", "arm64"))


@pytest.mark.parametrize("fault", KERNEL_FAULTS)
def test_every_fault_that_changes_an_output_is_detected(outcomes: tuple[list[KernelOutcome], list[str]],
                                                        fault: str) -> None:
    counted = [o for o in outcomes[0] if o.fault == fault and o.counted and not _inside_float16_rounding(o)]
    assert counted, f"{fault} changed no output anywhere"
    assert [f"{o.cell.id}: {o.note}" for o in counted if not o.detected] == []


def _caught(outcomes: list[KernelOutcome], cell_id: str, fault: str) -> tuple[str, ...]:
    return next(o.caught_by for o in outcomes if o.cell.id == cell_id and o.fault == fault)


def test_a_one_percent_scale_on_a_dynamic_cell_is_the_numpy_oracles(
        outcomes: tuple[list[KernelOutcome], list[str]]) -> None:
    for cell_id in ("fully_connected-dynamic_int8", "fully_connected-int4"):
        caught = _caught(outcomes[0], cell_id, "channel-scale*1.01")
        assert "xnnpack vs numpy" in caught and "xnnpack vs keras" not in caught, caught


def test_a_rounding_bias_on_a_static_cell_is_the_tie_analysis(
        outcomes: tuple[list[KernelOutcome], list[str]]) -> None:
    caught = _caught(outcomes[0], "fully_connected-static_int8", "round-up-half")
    assert {"xnnpack vs numpy", "xnnpack~reference"} <= set(caught) and "xnnpack vs keras" not in caught, caught


def test_the_double_perturbs_only_the_optimized_lanes() -> None:
    runner = Runner(Settings.from_strings(None, None, 0, None, "inprocess"))
    cell = make_cell(OPS["fully_connected"], RECIPES["static_int8"])
    built = runner.build(cell)
    assert isinstance(built, CellArtifact)
    layer = built.layer(cell.op)
    assert layer is not None
    faulty = FaultyKernelTarget(runner.target(), "round-up-all", FaultContext(cell, built.inspection, layer))
    inputs = built.model_inputs[0]
    real = runner.target().run(built.model, inputs, "xnnpack").output
    assert np.array_equal(faulty.run(built.model, inputs, "reference").output,
                          runner.target().run(built.model, inputs, "reference").output)
    moved = faulty.run(built.model, inputs, "xnnpack").output.astype(np.int64) - real
    assert set(np.unique(moved)) <= {0, 1} and moved.sum() > 0 and faulty.changed == [True]


def test_the_command_prints_the_kernel_table(capsys: pytest.CaptureFixture[str]) -> None:
    """`pytest-litert faults --kernels --no-mutants`: the kernel table alone (the file mutants'
    comes first without --no-mutants, tests/test_fault_injection.py)."""
    from pytest_litert.cli import main

    assert main(["faults", "--kernels", "--no-mutants", "--target", "inprocess"]) == 0
    out = capsys.readouterr().out
    assert "Kernel-fault injection, seed 0, target inprocess" in out
    assert "| kernel fault | fp32 |" in out and "| `round-up-half` |" in out and "Missed (0):" in out

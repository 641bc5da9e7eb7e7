"""SME2 kernel coverage: which kernels each cell executes on the emulated CPU, SME on and off.

Runs each cell once in XNNPACK mode on `qemu-sme2` (kernel capture on) and on `qemu-nosme`
and tabulates the kernel families seen (kernels.classify), so a reader sees at a glance
whether KleidiAI SME2 micro-kernels were taken and what replaces them without SME. Next to
them, the second witness: the XNNPACK operator LiteRT's profiler names for the layer (worker
mode "profile"), e.g. `Fully Connected (NC, PF32) GEMM` with SME2 and `(NC, F32)` without.
"""

from __future__ import annotations

from pytest_litert.judge.checks import evidence, evidence_text
from pytest_litert.judge.verdict import Verdict
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.run.qemu import emulator, kernels
from pytest_litert.run.qemu.target import QemuTarget
from pytest_litert.run.targets import TargetCrash, TargetError
from pytest_litert.session import Runner, Settings, TargetUnavailable

_COLUMNS = ("cell", "seed SME2", "kernels with SME2 (-cpu max)", "kernels without SME (sme=off)",
            "operator with SME2 (profiler)", "operator without SME (profiler)")


_COMPUTE = ("matmul", "gemm", "conv")


def compute_kernels(names: list[str]) -> list[str]:
    """The GEMM/convolution micro-kernels, without packing routines and size queries."""
    return sorted({
        name for name in names
        if any(word in name for word in _COMPUTE) and "pack" not in name
        and not name.startswith(("kai_get_", "kai_kernel_")) and "_get_" not in name
    })


def _kernel_list(names: list[str]) -> str:
    return ", ".join(compute_kernels(names)) or "none"


def rows(settings: Settings, *, all_cells: bool) -> list[tuple[str, ...]]:
    """One row per cell: id, seed flag, SME2-lane kernels, NEON-lane kernels, then the layer's
    XNNPACK operator on each lane as the profiler names it."""
    paths = emulator.find()
    if paths is None:
        raise TargetUnavailable(f"the emulated target is not set up: {emulator.SETUP_HINT}")
    runner = Runner(settings)
    lanes = {"sme2": QemuTarget(paths, sme=True), "neon": QemuTarget(paths, sme=False)}
    table: list[tuple[str, ...]] = []
    try:
        for cell in settings.cells():
            if not (cell.sme2 or all_cells) or cell.not_produced:
                continue
            artifact = runner.build(cell)
            if isinstance(artifact, Verdict):
                table.append((cell.id, "yes" if cell.sme2 else "no", f"not built: {artifact.reason}", "", "", ""))
                continue
            seen = [_seen(cell, artifact, lane) for lane in lanes.values()]
            table.append((cell.id, "yes" if cell.sme2 else "no", *(k for k, _ in seen), *(o for _, o in seen)))
    finally:
        runner.close()
        for lane in lanes.values():
            lane.close()
    return table


def _seen(cell: Cell, artifact: CellArtifact, lane: QemuTarget) -> tuple[str, str]:
    """The compute kernels of an XNNPACK run and the profiled layer operator, on one lane."""
    inputs = artifact.signature_inputs(artifact.model_inputs[0])
    found: list[str] = []
    for mode in ("xnnpack", "profile"):
        try:
            facts = lane.run(artifact.model, inputs, mode).facts
        except (TargetCrash, TargetError) as error:  # a crash is a coverage fact too
            found.append(f"{type(error).__name__}: {str(error).splitlines()[0]}")
            continue
        if mode == "xnnpack":
            found.append(_kernel_list(list(facts.get("kernels") or [])))
            continue
        summary = evidence(cell.op.op_code, facts)
        found.append(str(summary.get("main_operator") or evidence_text(summary)))
    return found[0], found[1]


def render(table: list[tuple[str, ...]], *, markdown: bool) -> str:
    """The table as markdown or as text, one cell per block."""
    if not markdown:
        return "".join(f"{row[0]} (seed SME2: {row[1]})\n  SME2: {row[2]}\n  NEON: {row[3]}\n"
                       f"  profiler, SME2: {row[4]}\n  profiler, NEON: {row[5]}\n" for row in table)
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(f"`{c}`" if i >= 2 and c not in ("none", "") else c for i, c in enumerate(row))
              + " |" for row in table]
    return "\n".join(lines) + "\n"


def without_sme2_kernel(table: list[tuple[str, ...]]) -> list[str]:
    """Seed SME2 cells in whose SME2 lane no SME2 kernel ran."""
    return [row[0] for row in table if row[1] == "yes" and not any(
        kernels.is_sme2_kernel(name) for name in row[2].split(", "))]

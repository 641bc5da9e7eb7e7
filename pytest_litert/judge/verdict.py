"""Judge one cell from what ran: the Verdict that tests, the command line and reports share.

Judging takes the model (its inspection and main layer), the Keras reference and the outputs
and facts run/lanes.py produced; it never starts a target.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pytest_litert.judge import file_checks, tolerance
from pytest_litert.judge.checks import (
    KERNEL_CHECK,
    NO_PACKED,
    OPERATOR_CHECK,
    Check,
    ab_check,
    delegation_check,
    diagnose,
    evidence,
    evidence_text,
    kernel_check,
    numeric_check,
    operator_check,
)
from pytest_litert.judge.constants import constants_check
from pytest_litert.judge.status import Status
from pytest_litert.judge.structure import Mismatch, explain_mismatches, structural_mismatches
from pytest_litert.matrix.cells import Cell, Finding
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.model.flatbuffer import ModelInspection
from pytest_litert.model.layer import MainLayer, delegate_covers
from pytest_litert.model.quantization import dequantize_output
from pytest_litert.run.lanes import PROFILES, CellRun

__all__ = ["EVIDENCE", "REFERENCES", "Status", "Verdict", "failed", "is_reference_check", "judge", "skipped",
           "unproduced"]
EVIDENCE = "kernel_evidence"  # the facts key of the profiled runs in short (judge/checks.py evidence)
REFERENCES = ("keras", "file")  # what a lane's output is judged against (model/artifact.py CellArtifact.reference)


def is_reference_check(name: str) -> bool:
    """A lane judged against the float reference within the derived bound ("xnnpack vs keras",
    or "xnnpack vs file" for an operator of a whole model judged without its Keras model)."""
    return any(name.endswith(f" vs {reference}") for reference in REFERENCES) and not name.startswith("constants")


@dataclasses.dataclass(frozen=True)
class Verdict:
    cell_id: str
    status: Status
    checks: tuple[Check, ...]
    reason: str = ""
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __bool__(self) -> bool:
        """True only for a pass, so `assert check(...)` fails on a failure, and also on a
        known finding or a cell not judged: accepting a finding is a decision the caller
        writes down (`assert verdict.status in ("pass", "finding")`)."""
        return self.status == Status.PASS

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    @property
    def worst(self) -> float | None:
        """Largest error as a fraction of its bound over all numeric checks."""
        check = self.worst_check()
        return check.worst if check is not None else None

    def worst_check(self) -> Check | None:
        numeric = [c for c in self.checks if c.worst is not None and is_reference_check(c.name)]
        return max(numeric, key=lambda c: c.worst or 0.0) if numeric else None

    def explain(self) -> str:
        lines = [f"{self.cell_id}: {self.status}" + (f" - {self.reason}" if self.reason else "")]
        for c in self.checks:
            lines.append(f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.message}")
            if c.metrics:
                lines.append("        " + ", ".join(f"{k} {v:.3g}" for k, v in c.metrics.items()))
        for key, found in self.kernel_evidence().items():
            where = self.facts.get("target") if key == "profile" else key.replace(" profile", " lane")
            lines.append(f"  profiler ({where}): {evidence_text(found)}")
        return "\n".join(lines)

    def kernel_evidence(self) -> dict[str, dict[str, Any]]:
        """Per profiled target (facts "profile", "neon profile"): the XNNPACK operators that ran,
        with their time and the layer's operator type (judge/checks.py evidence)."""
        found: dict[str, dict[str, Any]] = self.facts.get(EVIDENCE, {})
        return found


def failed(cell: Cell, reason: str) -> Verdict:
    """A cell that could not be judged at all (conversion error, crash)."""
    return Verdict(cell.id, Status.FAIL, (Check("build", False, reason),), reason)


def skipped(cell: Cell, reason: str) -> Verdict:
    return Verdict(cell.id, Status.SKIPPED, (), reason)


def active_findings(cell: Cell, *, require_sme2_kernels: bool) -> tuple[Finding, ...]:
    """The cell's findings that hold at its shape. A missing SME2 kernel is one fact with two
    witnesses: each "sme2 kernel" finding also explains the profiler's "sme2 operator" failure.
    Under `require_sme2_kernels` both are failures even where matrix/cells.py records them."""
    found = tuple(f for f in cell.findings if f.applies(cell.shape))
    found += tuple(dataclasses.replace(f, attribute=OPERATOR_CHECK, observed=NO_PACKED)
                   for f in found if f.attribute == KERNEL_CHECK)
    if require_sme2_kernels:
        return tuple(f for f in found if f.attribute not in (KERNEL_CHECK, OPERATOR_CHECK))
    return found


def unproduced(cell: Cell, inspection: ModelInspection, layer: MainLayer | None) -> Verdict | None:
    """The verdict of a cell this toolchain does not produce (judged on structure alone,
    without running it); None for every other cell."""
    if not cell.not_produced:
        return None
    found = structural_mismatches(cell, inspection, layer)
    if found:
        structure = _structure_check(cell, found)
        # One sentence; the structure check beside it says what the file holds instead.
        reason = f"not produced by this toolchain: {cell.not_produced}"
        return Verdict(cell.id, Status.NOT_PRODUCED, (structure,), reason)
    check = Check("structure", False, "the toolchain now produces this cell; update matrix/cells.py")
    return Verdict(cell.id, Status.FAIL, (check,), check.message)


def judge(cell: Cell, artifact: CellArtifact, inspection: ModelInspection, layer: MainLayer | None,
          run: CellRun, *, require_sme2_kernels: bool = False, strict_findings: bool = False) -> Verdict:
    """Every check of a produced cell from its run; known findings turn their failures into
    an expected failure, anything beyond them still fails. A finding whose check ran and
    passed no longer reproduces: `strict_findings` fails the cell for it (naming the entry to
    remove), else a passing "findings" check reports it (an upgrade survey, a user's model)."""
    findings = active_findings(cell, require_sme2_kernels=require_sme2_kernels)
    found = structural_mismatches(cell, inspection, layer)
    structure = _structure_check(cell, found)
    explained = {f for f in findings for m in found if m.attribute == f.attribute and m.observed == f.observed}
    if all(any(m.attribute == f.attribute and m.observed == f.observed for f in explained) for m in found):
        structure = dataclasses.replace(structure, passed=True)
    if run.crash:
        crash = Check("run", False, run.crash)
        return Verdict(cell.id, Status.FAIL, (structure, crash), crash.message)
    constants = (constants_check(cell, inspection, layer, artifact.weights.kernel, artifact.weights.bias)
                 if artifact.reference == "keras" else None)  # the file against itself says nothing
    checks = [structure, *([constants] if constants is not None else [])]
    for check in _run_checks(cell, artifact, inspection, layer, run, require_sme2_kernels):
        finding = next((f for f in findings if _explains(f, check, artifact.reference)), None)
        if finding is not None:
            explained.add(finding)
        checks.append(check if finding is None else dataclasses.replace(
            check, passed=True, message=f"known finding: {check.message}"))
    stale = _stale(findings, explained, checks, run)
    if stale:
        checks.append(_stale_check(cell, stale, strict_findings))
    facts = {"target": run.target, **run.facts, "output_digests": run.digests(),
             EVIDENCE: {key: evidence(cell.op.op_code, run.facts[key]) for key in PROFILES if key in run.facts}}
    bad = [c for c in checks if not c.passed]
    if bad:
        reason = "; ".join(f"{c.name}: {c.message}" for c in bad)
        diagnosis = diagnose({c.name for c in bad})
        return Verdict(cell.id, Status.FAIL, tuple(checks),
                       f"{reason}\ndiagnosis: {diagnosis}" if diagnosis else reason, facts)
    if explained:
        return Verdict(cell.id, Status.FINDING, tuple(checks), "; ".join(sorted({f.text for f in explained})), facts)
    return Verdict(cell.id, Status.PASS, tuple(checks), "", facts)


STALE_CHECK = "findings"
_STRUCTURAL = ("op_codes", "activation_dtype", "weight_dtype", "weight_granularity", "weight quantized_dimension")
_UNCHECKED = ("not checked", "not modelled", "not compared")


def _stale(findings: tuple[Finding, ...], explained: set[Finding], checks: list[Check], run: CellRun) -> list[Finding]:
    """Findings that apply here, whose question was asked and answered without them: a
    structural one (the structure check always runs), one about a check that ran to a real
    answer, one about a lane's run error where the lane ran. Not those that `varies`."""
    ran = {c.name for c in checks if c.passed and not c.message.startswith(_UNCHECKED)}
    lanes_ran = {f"{lane} run" for lane in run.lanes if lane not in run.errors and run.outputs}

    def asked(finding: Finding) -> bool:
        attribute = finding.attribute
        structural = attribute in _STRUCTURAL or attribute.startswith(("input ", "output ", "metadata "))
        return structural or attribute in lanes_ran or any(
            name == attribute or name == attribute.replace(" vs keras", " vs file") for name in ran)

    return [f for f in dict.fromkeys(findings) if f not in explained and not f.varies and asked(f)]


def _stale_check(cell: Cell, stale: list[Finding], strict: bool) -> Check:
    entries = "; ".join(f"{f.attribute} ({f.observed or 'any failure'}): {f.text[:80]}" for f in stale)
    where = f"_FINDINGS[({cell.op.name!r}, {cell.recipe.name!r})] in pytest_litert/matrix/cells.py"
    if strict:
        return Check(STALE_CHECK, False, f"{len(stale)} known finding(s) no longer reproduce; remove them from "
                     f"{where} (or run with --litert-findings=report to survey): {entries}")
    return Check(STALE_CHECK, True, f"reported, not failed: {len(stale)} known finding(s) no longer reproduce "
                 f"({where}): {entries}")


def _explains(finding: Finding, check: Check, reference: str = "keras") -> bool:
    """A failed check is the known finding if name, message and size all match (a finding about
    "<lane> vs keras" holds for "<lane> vs file" too: the same lane, another float reference)."""
    attribute = finding.attribute.replace(" vs keras", f" vs {reference}")
    if check.passed or attribute != check.name or finding.observed not in check.message:
        return False
    return finding.max_units is None or (check.units is not None and check.units <= finding.max_units)


def _structure_check(cell: Cell, found: list[Mismatch]) -> Check:
    if not found:
        return Check("structure", True, "as promised")
    text = explain_mismatches(cell, found, cell.op.weight_count(cell.shape))
    return Check("structure", False, f"the converter produced something else: {text}")


def _run_checks(cell: Cell, artifact: CellArtifact, inspection: ModelInspection, layer: MainLayer | None,
                run: CellRun, require_sme2_kernels: bool = False) -> list[Check]:
    """Per lane its worst draw against Keras (or its LiteRT error); the agreement checks."""
    per_lane: dict[str, list[Check]] = {lane: [] for lane in run.lanes}
    agreement: list[Check] = []
    for raw, model_in, float_in, reference in zip(
        run.outputs, artifact.model_inputs, artifact.float_inputs, artifact.reference_outputs, strict=False
    ):
        bounds: dict[tuple[bool, bool], tolerance.Bound] = {}  # a draw's lanes of one arithmetic share it
        for lane, output in raw.items():
            fp16, flush = file_checks.fp16_lane(inspection, run.modes[lane], run.facts.get(lane, {}))
            if (fp16, flush) not in bounds:
                bounds[fp16, flush] = _bound(cell, inspection, layer, artifact, float_in, reference, fp16, flush)
            bound = bounds[fp16, flush]
            observed = dequantize_output(inspection, output)
            per_lane[lane].append(numeric_check(f"{lane} vs {artifact.reference}", observed, reference, bound))
        agreement += file_checks.draw_checks(cell, inspection, layer, raw, model_in, artifact.signature_names,
                                             run.modes, run.facts)
        sme2, neon = ("sme2", "xnnpack") if "sme2" in raw else ("xnnpack", "neon")  # host-nosme: main lanes NEON
        if sme2 in raw and neon in raw:
            agreement.append(ab_check(raw[sme2], raw[neon], against_keras=(per_lane[sme2][-1], per_lane[neon][-1])))
    for lane, error in run.errors.items():
        per_lane[lane].append(Check(f"{lane} run", False, f"LiteRT error: {error}"))
    checks = []
    if "xnnpack" in run.facts:  # else the failed "xnnpack run" check says why
        checks.append(_delegation(cell, layer, run.facts["xnnpack"]))
    if cell.sme2 and run.target.startswith("qemu-sme2") and "sme2_kernels" in run.facts.get("xnnpack", {}):
        checks.append(kernel_check(run.facts["xnnpack"]))
    if cell.sme2 and _has_sme2(run):
        checks.append(operator_check(cell, run.facts.get("profile"), required=require_sme2_kernels))
    checks += [_worst_of(lane_checks) for lane_checks in per_lane.values() if lane_checks]
    for name in dict.fromkeys(c.name for c in agreement):  # one check per name, in order
        checks.append(_worst_of([c for c in agreement if c.name == name]))
    return checks


def _has_sme2(run: CellRun) -> bool:
    """The target's CPU reports SME2: the profiled run's own reading, else the emulated CPU's."""
    seen = run.facts.get("profile", {}).get("cpu_sme2")
    if seen is not None:
        return bool(seen)
    hwcap2 = run.facts.get("xnnpack", {}).get("hwcap2")
    return run.target.startswith("qemu-sme2") or (isinstance(hwcap2, int) and bool(hwcap2 >> 37 & 1))


def _delegation(cell: Cell, layer: MainLayer | None, facts: dict[str, Any]) -> Check:
    """Delegated means a DELEGATE node computes the main operator's output tensor, read from
    the delegate nodes' outputs; a delegate that took only other nodes does not count."""
    some = bool(facts.get("delegated"))
    covers = delegate_covers(layer, facts)
    if covers is None:  # a target that reports no node outputs
        return delegation_check(cell, some)
    return delegation_check(cell, covers, other_nodes=some and not covers)


def _worst_of(checks: list[Check]) -> Check:
    """One check per mode: the first failure, else the draw with the largest error (without a
    bound, as sme2~neon has none: the largest difference)."""
    failures = [c for c in checks if not c.passed]
    if failures:
        return failures[0]
    return max(checks, key=lambda c: c.worst if c.worst is not None else c.units or 0.0)


def _bound(cell: Cell, inspection: ModelInspection, layer: MainLayer | None, artifact: CellArtifact,
           float_in: dict[str, np.ndarray], reference: np.ndarray, fp16_arithmetic: bool,
           flush_to_zero: bool) -> tolerance.Bound:
    terms = tolerance.LayerTerms.of(cell, float_in, artifact.weights.kernel, artifact.weights.bias)
    assert layer is not None
    weights = layer.weights
    # Judge the model that exists (a recipe that did not apply is the structure check's
    # failure): integer graph inputs -> static bound, quantized weights -> dynamic bound.
    if layer.data.dtype in ("INT8", "INT16"):
        return tolerance.static_bound(
            terms, weights, layer.data, inspection.tensors[inspection.outputs[0]],
            reference.astype(np.float64), weights_on_grid=not cell.op.constant_weights,
        )
    if weights.scales and "weights" in layer.behind_dequantize:
        return tolerance.weight_only_bound(terms, weights)
    if weights.scales:
        return tolerance.dynamic_bound(terms, weights, float(np.abs(float_in["x"]).max()))
    return tolerance.float_bound(
        terms, fp16_weights=weights.dtype == "FLOAT16", fp16_arithmetic=fp16_arithmetic, flush_to_zero=flush_to_zero
    )

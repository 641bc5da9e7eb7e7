"""Run one cell end to end and return its Verdict: the object tests, the CLI and reports share."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pytest_litert.build.artifact import CellArtifact, input_tensors
from pytest_litert.judge import numpy_reference, oracle, tolerance
from pytest_litert.judge.oracle import Check
from pytest_litert.model.flatbuffer import ModelInspection, TensorInfo
from pytest_litert.run.targets import Target, TargetCrash, TargetError
from pytest_litert.spec.cells import Cell, Finding

PASS, FAIL, FINDING, NOT_PRODUCED = "pass", "fail", "finding", "not produced"


@dataclasses.dataclass(frozen=True)
class Verdict:
    cell_id: str
    status: str
    checks: tuple[Check, ...]
    reason: str = ""
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

    @property
    def worst(self) -> float | None:
        """Largest error as a fraction of its bound over all numeric checks."""
        check = self.worst_check()
        return check.worst if check is not None else None

    def worst_check(self) -> Check | None:
        numeric = [c for c in self.checks if c.worst is not None and c.name.endswith("vs keras")]
        return max(numeric, key=lambda c: c.worst or 0.0) if numeric else None

    def explain(self) -> str:
        lines = [f"{self.cell_id}: {self.status}" + (f" - {self.reason}" if self.reason else "")]
        for c in self.checks:
            lines.append(f"  [{'ok' if c.passed else 'FAIL'}] {c.name}: {c.message}")
            if c.metrics:
                lines.append("        " + ", ".join(f"{k} {v:.3g}" for k, v in c.metrics.items()))
        return "\n".join(lines)


def failed(cell: Cell, reason: str) -> Verdict:
    """A cell that could not be judged at all (conversion error, crash)."""
    return Verdict(cell.id, FAIL, (Check("build", False, reason),), reason)


def evaluate_cell(cell: Cell, artifact: CellArtifact, target: Target, comparison: Target | None = None,
                  *, require_sme2_kernels: bool = False) -> Verdict:
    """Judge one converted cell on `target`; `comparison` (the same emulated CPU with SME
    off) adds the A/B lane. Under `require_sme2_kernels` a missing SME2 kernel is a failure
    even where matrix.py records it as a known finding."""
    inspection = artifact.inspect()
    findings = tuple(f for f in cell.findings if f.applies(cell.shape)
                     and not (require_sme2_kernels and f.attribute == "sme2 kernel"))
    found = oracle.structural_mismatches(cell, inspection)
    structure = _structure_check(cell, found)
    if cell.not_produced:
        if found:
            return Verdict(cell.id, NOT_PRODUCED, (structure,),
                           f"not produced by this toolchain: {cell.not_produced} ({structure.message})")
        check = Check("structure", False, "the toolchain now produces this cell; update matrix.py")
        return Verdict(cell.id, FAIL, (check,), check.message)
    explained = {f for f in findings for m in found
                 if m.attribute == f.attribute and m.observed == f.observed}
    if all(any(m.attribute == f.attribute and m.observed == f.observed for f in explained) for m in found):
        structure = dataclasses.replace(structure, passed=True)
    try:
        run_checks, facts = _run_checks(cell, artifact, inspection, target, comparison)
    except TargetCrash as error:
        crash = Check("run", False, f"{type(error).__name__}: {error}")
        return Verdict(cell.id, FAIL, (structure, crash), crash.message)
    constants = oracle.constants_check(cell, inspection, artifact.weights.kernel, artifact.weights.bias)
    checks = [structure, *([constants] if constants is not None else [])]
    for check in run_checks:
        finding = next((f for f in findings if _explains(f, check)), None)
        if finding is not None:
            explained.add(finding)
        checks.append(check if finding is None else dataclasses.replace(
            check, passed=True, message=f"known finding: {check.message}"))
    bad = [c for c in checks if not c.passed]
    if bad:
        reason = "; ".join(f"{c.name}: {c.message}" for c in bad)
        diagnosis = oracle.diagnose({c.name for c in bad})
        return Verdict(cell.id, FAIL, tuple(checks), f"{reason}\ndiagnosis: {diagnosis}" if diagnosis else reason,
                       facts)
    if explained:
        reason = "; ".join(sorted({f.text for f in explained}))
        return Verdict(cell.id, FINDING, tuple(checks), reason, facts)
    return Verdict(cell.id, PASS, tuple(checks), "", facts)


def _explains(finding: Finding, check: Check) -> bool:
    """A failed check is the known finding if name, message and size all match."""
    if check.passed or finding.attribute != check.name or finding.observed not in check.message:
        return False
    return finding.max_units is None or (check.units is not None and check.units <= finding.max_units)


def _structure_check(cell: Cell, found: list[oracle.Mismatch]) -> Check:
    if not found:
        return Check("structure", True, "as promised")
    text = oracle.explain_mismatches(cell, found, cell.op.weight_count(cell.shape))
    return Check("structure", False, f"the converter produced something else: {text}")


def _run_checks(cell: Cell, artifact: CellArtifact, inspection: ModelInspection,
                target: Target, comparison: Target | None) -> tuple[list[Check], dict[str, Any]]:
    """Every mode on every draw; a LiteRT error in one mode fails that mode only."""
    facts: dict[str, Any] = {"target": target.name}
    lanes: list[tuple[str, Target, str]] = [(mode, target, mode) for mode in ("xnnpack", "reference")]
    if cell.recipe.name == "fp16":
        lanes.append(("fp16", target, "fp16"))
    if comparison is not None:
        lanes.append(("neon", comparison, "xnnpack"))
    per_lane: dict[str, list[Check]] = {lane: [] for lane, _, _ in lanes}
    agreement: list[Check] = []
    for model_in, float_in, reference in zip(
        artifact.model_inputs, artifact.float_inputs, artifact.reference_outputs, strict=True
    ):
        raw: dict[str, np.ndarray] = {}
        for lane, lane_target, mode in lanes:
            if per_lane[lane] and per_lane[lane][-1].name == f"{lane} run":
                continue  # this lane already failed to run
            try:
                result = lane_target.run(artifact.model, artifact.signature_inputs(model_in), mode)
            except TargetError as error:
                per_lane[lane].append(Check(f"{lane} run", False, f"LiteRT error: {error}"))
                continue
            raw[lane] = result.output
            facts.setdefault(lane, result.facts)
            bound = _bound(cell, inspection, artifact, float_in, reference, _fp16_arithmetic(
                inspection, mode, result.facts))
            observed = _dequantize_output(inspection, result.output)
            per_lane[lane].append(oracle.numeric_check(f"{lane} vs keras", observed, reference, bound))
        if "reference" in raw:
            agreement.append(_numpy_check(cell, inspection, model_in, raw["reference"], artifact.signature_names))
        if cell.recipe.quantized_io and "xnnpack" in raw and "reference" in raw:
            agreement.append(oracle.integer_agreement_check("xnnpack~reference", raw["xnnpack"], raw["reference"]))
        if "neon" in raw and "xnnpack" in raw:
            agreement.append(oracle.ab_check(raw["xnnpack"], raw["neon"]))
    checks = []
    if "xnnpack" in facts:  # else the failed "xnnpack run" check says why
        checks.append(oracle.delegation_check(cell, bool(facts["xnnpack"].get("delegated"))))
    if cell.sme2 and target.name.startswith("qemu-sme2") and "sme2_kernels" in facts.get("xnnpack", {}):
        checks.append(oracle.kernel_check(facts["xnnpack"]))
    checks += [_worst_of(lane_checks) for lane_checks in per_lane.values() if lane_checks]
    for name in ("numpy vs reference", "xnnpack~reference", "sme2~neon"):
        same = [c for c in agreement if c.name == name]
        if same:
            checks.append(_worst_of(same))
    return checks, facts


def _numpy_check(cell: Cell, inspection: ModelInspection, model_in: dict[str, np.ndarray],
                 reference: np.ndarray, signature_names: dict[str, str]) -> Check:
    """LiteRT's reference kernels against the NumPy evaluation of the same file."""
    try:
        index = input_tensors(inspection, list(model_in), signature_names)
        expected = numpy_reference.evaluate(cell, inspection, model_in, index)
    except numpy_reference.Unmodelled as error:
        return Check("numpy vs reference", True, f"not modelled: {error}")
    if expected.quantized is not None:
        output = inspection.tensors[inspection.outputs[0]]
        centred = np.abs(expected.quantized - output.zero_points[0])
        slack = int(np.ceil(float(centred.max(initial=0)) * tolerance.multiplier_precision(output) * 1.0))
        return oracle.integer_agreement_check("numpy vs reference", reference, expected.quantized, 1 + slack)
    assert expected.bound is not None
    return oracle.numeric_check("numpy vs reference", reference, expected.value, expected.bound)


def _fp16_arithmetic(inspection: ModelInspection, mode: str, facts: dict[str, Any]) -> bool:
    """CompiledModel FORCE_FP16 always computes in fp16; on aarch64 the Interpreter's
    XNNPACK also honours the model's fp16 hint (measured under QEMU), on x86 it does not."""
    hinted = "reduced_precision_support" in inspection.metadata
    return mode == "fp16" or (mode == "xnnpack" and hinted and facts.get("machine") in ("aarch64", "arm64"))


def _worst_of(checks: list[Check]) -> Check:
    """One check per mode: the first failure, else the draw with the largest error."""
    failures = [c for c in checks if not c.passed]
    if failures:
        return failures[0]
    return max(checks, key=lambda c: c.worst if c.worst is not None else 0.0)


def _dequantize_output(inspection: ModelInspection, output: np.ndarray) -> np.ndarray:
    tensor = inspection.tensors[inspection.outputs[0]]
    if tensor.dtype in ("INT8", "INT16"):
        return (output.astype(np.float64) - tensor.zero_points[0]) * tensor.scales[0]
    return output.astype(np.float64)


def _bound(cell: Cell, inspection: ModelInspection, artifact: CellArtifact,
           float_in: dict[str, np.ndarray], reference: np.ndarray, fp16_arithmetic: bool) -> tolerance.Bound:
    terms = tolerance.LayerTerms.of(cell, float_in, artifact.weights.kernel, artifact.weights.bias)
    op = oracle.main_operator(cell, inspection)
    assert op is not None
    weights: TensorInfo = oracle.weight_tensor(inspection, op)
    # Judge the model that exists (a recipe that did not apply is the structure check's
    # failure): integer graph inputs -> static bound, quantized weights -> dynamic bound.
    data = inspection.tensors[oracle.data_input(cell, op)]
    if data.dtype in ("INT8", "INT16"):
        return tolerance.static_bound(
            terms, weights, data, inspection.tensors[inspection.outputs[0]],
            reference.astype(np.float64), weights_on_grid=not cell.op.constant_weights,
        )
    if weights.scales:
        return tolerance.dynamic_bound(terms, weights, float(np.abs(float_in["x"]).max()))
    return tolerance.float_bound(
        terms, fp16_weights=weights.dtype == "FLOAT16", fp16_arithmetic=fp16_arithmetic
    )

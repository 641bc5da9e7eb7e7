"""The named questions asked of a cell (`Check`) and the comparisons that answer them.

Element-wise comparison against a bound, integer agreement of two quantized outputs, the
SME2 kernel proof (two witnesses: the emulator's translation log and LiteRT's profiler), the
SME/NEON A/B, delegation, and the pairwise diagnosis of failures.
Nothing here runs a model: the outputs arrive from run/.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pytest_litert.judge.tolerance import Bound
from pytest_litert.matrix import kernel_types
from pytest_litert.matrix.cells import Cell, not_delegated_reason

KERNEL_CHECK = "sme2 kernel"  # the translation log's witness (qemu-sme2)
OPERATOR_CHECK = "sme2 operator"  # the profiler's witness (any target with SME2)
NO_PACKED = "no packed KleidiAI operator ran"


@dataclasses.dataclass(frozen=True)
class Check:
    """One question asked of a cell. `worst` is the largest error as a fraction of its
    bound; `units` the same error in the bound's natural unit (steps, ULPs)."""

    name: str
    passed: bool
    message: str
    worst: float | None = None
    units: float | None = None
    unit: str = ""
    max_abs: float | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)



def delegation_check(cell: Cell, delegated: bool, *, other_nodes: bool = False) -> Check:
    """`delegated`: a DELEGATE node computes the main operator's output; `other_nodes`: the
    delegate took other nodes only (e.g. the DEQUANTIZE of fp16 weights), which does not count."""
    expected = cell.expected.xnnpack
    if delegated == expected:
        how = "XNNPACK took the op" if delegated else f"not delegated, as expected: {not_delegated_reason(cell)}"
        return Check("delegation", True, how)
    if expected:
        detail = ("a DELEGATE node took other nodes, but the operator's output is computed by the builtin kernel"
                  if other_nodes else "no DELEGATE node")
        return Check("delegation", False, f"XNNPACK was expected to take the op but did not ({detail})")
    return Check("delegation", True, f"XNNPACK now takes the op (earlier: {not_delegated_reason(cell)})")


def numeric_check(name: str, observed: np.ndarray, reference: np.ndarray, bound: Bound) -> Check:
    """Element-wise |observed - reference| <= bound; the message quotes the bound."""
    observed = np.asarray(observed, np.float64)
    if observed.shape != reference.shape:
        return Check(name, False, f"output shape {observed.shape} != reference {reference.shape}")
    bad = ~np.isfinite(observed)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        return Check(name, False, f"{int(bad.sum())} non-finite outputs, first at index {where}: {observed[where]}")
    error = np.abs(observed - reference)
    ratio = error / np.maximum(bound.elementwise, np.finfo(np.float64).tiny)
    worst_at = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
    worst = float(ratio[worst_at])
    unit_size = np.broadcast_to(bound.unit_size, error.shape)
    in_units = np.divide(error, unit_size, out=np.where(error > 0, np.inf, 0.0), where=unit_size > 0)
    units = float(np.max(in_units))  # an exact zero output has a zero unit (dynamic bound on zero inputs)
    passed = worst <= 1.0
    metrics = aggregate_metrics(observed, reference)
    message = (
        f"max error {float(error.max()):.3g} = {units:.3g} {bound.unit}; worst element "
        f"{tuple(int(i) for i in worst_at)}: error {float(error[worst_at]):.3g} is {worst:.2f} of its "
        f"bound {float(bound.elementwise[worst_at]):.3g} [{bound.formula}]"
    )
    return Check(name, passed, message, worst, units, bound.unit, float(error.max()), metrics)


def aggregate_metrics(observed: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """The quantization debugger's summary numbers; reported, the bound decides."""
    o, r = observed.astype(np.float64).ravel(), reference.astype(np.float64).ravel()
    error = o - r
    norms = float(np.linalg.norm(o) * np.linalg.norm(r))
    noise = float(np.sum(error**2))
    return {
        "max_abs": float(np.max(np.abs(error))) if error.size else 0.0,
        "mean_abs": float(np.mean(np.abs(error))) if error.size else 0.0,
        "rmse": float(np.sqrt(np.mean(error**2))) if error.size else 0.0,
        "cosine": float(np.dot(o, r) / norms) if norms > 0 else 1.0,
        "snr_db": float(10 * np.log10(np.sum(r**2) / noise)) if noise > 0 else float("inf"),
    }


def integer_agreement_check(name: str, a: np.ndarray, b: np.ndarray, max_steps: int = 1) -> Check:
    """Two integer outputs of the same quantized model: both requantize the same exact int32
    accumulator, each to within half a step, so they differ by at most one step."""
    diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
    worst = int(diff.max()) if diff.size else 0
    differing = int((diff > 0).sum())
    message = f"{worst} step(s) apart at most ({differing} of {diff.size} elements differ; bound {max_steps})"
    return Check(name, worst <= max_steps, message, worst / max_steps, float(worst), "step", None)


def tie_check(name: str, observed: np.ndarray, modelled: np.ndarray, allowed: tuple[np.ndarray, np.ndarray]) -> Check:
    """An integer lane against NumPy's rounding of the same exact accumulator: a correct kernel
    may give another step only where the exact value is within its requantization error of a
    rounding tie (judge/ties.py), so the share of elements that differ and their signed mean
    are bounded by the share of such elements; a rounding bias breaks that, within any bound."""
    low, high = allowed
    if observed.shape != modelled.shape:
        return Check(name, False, f"output shape {observed.shape} != NumPy {modelled.shape}")
    got = observed.astype(np.int64)
    outside = (got < low) | (got > high)
    diff = got - modelled
    units = float(np.abs(diff).max(initial=0))
    message = _tie_summary(diff, high > low) + _outside(got, low, high, outside)
    beyond = np.maximum(low - got, got - high)
    worst = 1.0 + float(beyond.max()) if outside.any() else _share(diff != 0, high > low)
    return Check(name, not outside.any(), message, worst, units, "step")


def tie_agreement_check(name: str, a: np.ndarray, b: np.ndarray, allowed: tuple[np.ndarray, np.ndarray]) -> Check:
    """Two integer lanes: they may differ only where the tie analysis admits more than one
    step, by at most its width (the statistical check of issue 25 made exact per element)."""
    low, high = allowed
    diff = a.astype(np.int64) - b.astype(np.int64)
    width = high - low
    outside = np.abs(diff) > width
    beyond = np.abs(diff) - width
    message = _tie_summary(diff, width > 0) + (
        f"; {int(outside.sum())} differ where no rounding tie allows it, first at "
        f"{tuple(int(i) for i in np.argwhere(outside)[0])}" if outside.any() else "")
    worst = 1.0 + float(beyond.max()) if outside.any() else _share(diff != 0, width > 0)
    return Check(name, not outside.any(), message, worst, float(np.abs(diff).max(initial=0)), "step")


def _share(differ: np.ndarray, at_ties: np.ndarray) -> float:
    """Differing elements as a fraction of those a rounding tie allows (0 when none differ)."""
    return float(differ.sum()) / max(float(at_ties.sum()), 1.0)


def _tie_summary(diff: np.ndarray, at_ties: np.ndarray) -> str:
    size = max(diff.size, 1)
    return (f"{int((diff != 0).sum())} of {diff.size} elements differ (share {(diff != 0).sum() / size:.3g}, "
            f"signed mean {float(diff.sum()) / size:+.3g} steps, at most {int(np.abs(diff).max(initial=0))}); "
            f"rounding ties allow {int(at_ties.sum())} (share {at_ties.sum() / size:.3g})")


def _outside(got: np.ndarray, low: np.ndarray, high: np.ndarray, outside: np.ndarray) -> str:
    if not outside.any():
        return ""
    at = tuple(int(i) for i in np.argwhere(outside)[0])
    return (f"; {int(outside.sum())} outside what any correct rounding gives, first at {at}: {int(got[at])}, "
            f"allowed {int(low[at])}..{int(high[at])}")


def kernel_check(facts: dict[str, Any]) -> Check:
    """Proof of the kernel path on an emulated SME2 CPU: an SME2 kernel among the functions
    the run executed (QEMU translation log mapped to the library's symbols)."""
    found = list(facts.get("sme2_kernels") or [])
    if found:
        return Check(KERNEL_CHECK, True, "ran " + ", ".join(found[:4]) + (" ..." if len(found) > 4 else ""))
    ran = list(facts.get("kernels") or [])
    return Check(KERNEL_CHECK, False, "no SME2 kernel ran; kernels executed: " + (", ".join(ran[:6]) or "none"))


def evidence(op_code: str, profile: dict[str, Any] | None) -> dict[str, Any]:
    """The profiled run's facts in short: the XNNPACK operators (name, microseconds), the one
    that computed the layer and its packed type; or `reason` "unavailable: ..."."""
    if not profile or not profile.get("available"):
        reason = (profile or {}).get("reason") or "unavailable: the target reported no profiled run"
        return {"available": False, "reason": str(reason), "cpu_sme2": (profile or {}).get("cpu_sme2")}
    operators = [{"name": str(op["name"]), "us": op.get("us")} for op in profile.get("operators", [])]
    main = kernel_types.main_operator(op_code, [op["name"] for op in operators])
    parsed = kernel_types.OperatorName.parse(main) if main is not None else None
    return {"available": True, "operators": operators,
            "builtin_nodes": [{"name": str(node["name"]), "us": node.get("us")} for node in profile.get("nodes", [])],
            "main_operator": main, "operator_type": parsed.packed_type if parsed is not None else "",
            "cpu_sme2": profile.get("cpu_sme2")}


def evidence_text(found: dict[str, Any]) -> str:
    """One line: the operators with their time, or why there are none."""
    if not found.get("available"):
        return str(found.get("reason"))
    ran = [f"{op['name']} {op['us']:g} us" for op in found["operators"]]
    ran += [f"builtin {node['name']} {node['us']:g} us" for node in found["builtin_nodes"]]
    return "; ".join(ran) or "no operator events"


def operator_check(cell: Cell, profile: dict[str, Any] | None, *, required: bool) -> Check:
    """The profiler's witness on an SME2 CPU: the layer's XNNPACK operator has the packed
    KleidiAI type matrix/kernel_types.py derives for the cell. Unavailable evidence fails only
    under --litert-require-sme2-kernels."""
    found = evidence(cell.op.op_code, profile)
    if not found["available"]:
        if required:
            return Check(OPERATOR_CHECK, False, f"{found['reason']} (--litert-require-sme2-kernels needs evidence)")
        return Check(OPERATOR_CHECK, True, f"not checked: {found['reason']}")
    main, packed = found["main_operator"], found["operator_type"]
    expected = kernel_types.expected_for(cell.op.op_code, cell.recipe.name, cell.shape)
    if main is None:
        return Check(OPERATOR_CHECK, False, f"{NO_PACKED}: XNNPACK did not run the layer (profiled: "
                     f"{evidence_text(found)})")
    if packed and (expected is None or packed == expected.packed_type):
        note = "" if packed in kernel_types.SME_ONLY_TYPES else " (QP8 has NEON KleidiAI kernels too)"
        return Check(OPERATOR_CHECK, True, f"ran {main}{note}")
    if expected is not None and packed:
        return Check(OPERATOR_CHECK, False, f"ran {main}, not the expected {expected.operator}")
    why = expected.why or f"expected {expected.operator}" if expected is not None else "no packed type"
    return Check(OPERATOR_CHECK, False, f"{NO_PACKED}: the layer ran {main} ({why})")


def ab_check(sme2: np.ndarray, neon: np.ndarray, *, against_keras: tuple[Check, Check] | None = None) -> Check:
    """The same model on the same CPU with SME2 on and off. Informational: each lane is judged
    against Keras on its own; this says how far apart they are and, where they differ (fp16
    accumulates differently), each lane's error against Keras as a fraction of the same bound,
    side by side: how a kernel accumulates is part of what SME2 changes."""
    if sme2.shape != neon.shape:
        return Check("sme2~neon", False, f"output shapes differ: {sme2.shape} vs {neon.shape}")
    if np.array_equal(sme2, neon):
        return Check("sme2~neon", True, "bitwise equal", None, 0.0, "step" if sme2.dtype.kind == "i" else "abs")
    diff = np.abs(sme2.astype(np.float64) - neon.astype(np.float64))
    unit = "step" if sme2.dtype.kind == "i" else "abs"
    message = f"differ by up to {float(diff.max()):.3g} ({unit}) on {int((diff > 0).sum())} of {diff.size} elements"
    if against_keras is not None and all(c.worst is not None for c in against_keras):
        on, off = (c.worst or 0.0 for c in against_keras)
        message += f"; against Keras, as a fraction of the same bound: sme2 {on:.3g}, neon {off:.3g}"
    return Check("sme2~neon", True, message, None, float(diff.max()), unit)


def diagnose(failed: set[str]) -> str:
    """Which pair of references disagrees, in words: a converter change or a kernel bug."""
    if "constants vs keras" in failed:
        return ("the .tflite's stored weights or bias differ from the Keras layer beyond rounding: the file "
                "(converter, quantizer or an edit) changed the numbers")
    if "numpy vs reference" in failed:
        return ("LiteRT's reference kernels disagree with NumPy evaluating the same .tflite: a reference-kernel "
                "bug, or semantics the NumPy model lacks")
    if "reference vs keras" in failed:
        return ("LiteRT computes the .tflite as NumPy does, but the file's numbers no longer match the Keras "
                "model: a converter or quantization change")
    optimized = {"xnnpack vs keras", "xnnpack~reference", "fp16 vs keras", "neon vs keras", "sme2 vs keras"} & failed
    optimized |= {name for name in failed if name.endswith(" vs numpy")}
    if optimized:
        return (f"the reference kernels match Keras but {', '.join(sorted(optimized))} does not: a bug in the "
                "optimized path (XNNPACK / KleidiAI) on this file")
    return ""

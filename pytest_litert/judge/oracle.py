"""Judge a converted cell: structure, delegation and numbers, each as a named Check.

Nothing here imports TensorFlow: the Keras reference arrives as cached arrays.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pytest_litert.judge import numpy_reference, tolerance
from pytest_litert.judge.tolerance import Bound
from pytest_litert.model.flatbuffer import ModelInspection, OperatorInfo, TensorInfo
from pytest_litert.spec.cells import Cell, not_delegated_reason


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


@dataclasses.dataclass(frozen=True)
class Mismatch:
    attribute: str
    expected: str
    observed: str

    def __str__(self) -> str:
        return f"{self.attribute} is {self.observed} (expected {self.expected})"


def main_operator(cell: Cell, inspection: ModelInspection) -> OperatorInfo | None:
    return inspection.find_op(cell.expected.op_code)


def data_input(cell: Cell, op: OperatorInfo) -> int:
    """TRANSPOSE_CONV takes (output_shape, weights, input, bias); the others (input, weights, ...)."""
    return op.inputs[2] if cell.op.op_code == "TRANSPOSE_CONV" else op.inputs[0]


def weight_tensor(inspection: ModelInspection, op: OperatorInfo) -> TensorInfo:
    return inspection.source_tensor(op.inputs[1])


def structural_mismatches(cell: Cell, inspection: ModelInspection) -> list[Mismatch]:
    """Everything about the model that differs from what the cell promises."""
    want = cell.expected
    op = main_operator(cell, inspection)
    if op is None:
        return [Mismatch("op_codes", want.op_code, ",".join(inspection.op_codes) or "none")]
    found: list[Mismatch] = []
    for kind, indices in (("input", inspection.inputs), ("output", inspection.outputs)):
        for index in indices:
            tensor = inspection.tensors[index]
            if tensor.dtype != want.io_dtype:
                found.append(Mismatch(f"{kind} {tensor.name} dtype", want.io_dtype, tensor.dtype))
    activation = inspection.tensors[data_input(cell, op)]
    if activation.dtype != want.activation_dtype:
        found.append(Mismatch("activation_dtype", want.activation_dtype, activation.dtype))
    weights = weight_tensor(inspection, op)
    if weights.dtype != want.weight_dtype:
        found.append(Mismatch("weight_dtype", want.weight_dtype, weights.dtype))
    if weights.granularity != want.weight_granularity:
        found.append(Mismatch("weight_granularity", want.weight_granularity, weights.granularity))
    elif weights.granularity == "per-channel" and weights.quantized_dimension != 0:
        found.append(Mismatch("weight quantized_dimension", "0", str(weights.quantized_dimension)))
    for key in want.metadata_keys:
        if key not in inspection.metadata:
            found.append(Mismatch(f"metadata {key!r}", "present", "absent"))
    return found


def explain_mismatches(cell: Cell, found: list[Mismatch], weight_count: int) -> str:
    text = "; ".join(map(str, found))
    if any(m.attribute == "weight_dtype" and m.observed == "FLOAT32" for m in found):
        text += (
            f". The {cell.recipe.name} recipe did not apply: the converter left the "
            f"{weight_count}-element weights FLOAT32"
        )
        if cell.recipe.name == "dynamic_int8" and weight_count < 1024:
            text += " (dynamic-range quantization skips constants under 1024 elements)"
    return text


def delegation_check(cell: Cell, delegated: bool) -> Check:
    expected = cell.expected.xnnpack
    if delegated == expected:
        how = "XNNPACK took the op" if delegated else f"not delegated, as expected: {not_delegated_reason(cell)}"
        return Check("delegation", True, how)
    if expected:
        return Check("delegation", False, "XNNPACK was expected to take the op (DELEGATE node) but did not")
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
    units = float(np.max(error / bound.unit_size))
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


def kernel_check(facts: dict[str, Any]) -> Check:
    """Proof of the kernel path on an emulated SME2 CPU: an SME2 kernel among the functions
    the run executed (QEMU translation log mapped to the library's symbols)."""
    found = list(facts.get("sme2_kernels") or [])
    if found:
        return Check("sme2 kernel", True, "ran " + ", ".join(found[:4]) + (" ..." if len(found) > 4 else ""))
    ran = list(facts.get("kernels") or [])
    return Check("sme2 kernel", False, "no SME2 kernel ran; kernels executed: " + (", ".join(ran[:6]) or "none"))


def ab_check(sme2: np.ndarray, neon: np.ndarray) -> Check:
    """The same model on the same emulated CPU with SME on and off. Informational: each lane
    is judged against Keras on its own; this says how far apart they are."""
    if sme2.shape != neon.shape:
        return Check("sme2~neon", False, f"output shapes differ: {sme2.shape} vs {neon.shape}")
    if np.array_equal(sme2, neon):
        return Check("sme2~neon", True, "bitwise equal", None, 0.0, "step" if sme2.dtype.kind == "i" else "abs")
    diff = np.abs(sme2.astype(np.float64) - neon.astype(np.float64))
    unit = "step" if sme2.dtype.kind == "i" else "abs"
    return Check("sme2~neon", True, f"differ by up to {float(diff.max()):.3g} ({unit}) on "
                 f"{int((diff > 0).sum())} of {diff.size} elements", None, float(diff.max()), unit)


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
    optimized = {"xnnpack vs keras", "xnnpack~reference", "fp16 vs keras", "neon vs keras"} & failed
    if optimized:
        return (f"the reference kernels match Keras but {', '.join(sorted(optimized))} does not: a bug in the "
                "optimized path (XNNPACK / KleidiAI) on this file")
    return ""


def constants_check(cell: Cell, inspection: ModelInspection, kernel: np.ndarray | None,
                    bias: np.ndarray | None) -> Check | None:
    """The file's stored weights and bias against the Keras layer's, element by element,
    within what rounding to their format allows: half a quantization step (plus the
    float32 rounding of the scale product), u16*|w| for float16, nothing for float32.
    Deterministic and input-free: a changed weight, scale or bias cannot hide here."""
    op = main_operator(cell, inspection)
    if kernel is None or op is None:
        return None
    pairs = [("weights", inspection.source_tensor(op.inputs[1]), kernel)]
    stored_bias = numpy_reference.bias_tensor(cell, inspection, op)
    if stored_bias is not None and bias is not None:
        pairs.append(("bias", stored_bias, bias))
    worst, where = 0.0, "as stored"
    for name, tensor, expected in pairs:
        stored = _keras_layout(cell, name, numpy_reference.dequantize(inspection, tensor))
        if stored.shape != expected.shape:
            return Check("constants vs keras", False, f"{name} shape {stored.shape} != Keras {expected.shape}")
        reference = np.abs(expected.astype(np.float64))
        allowed = _keras_layout(cell, name, _quantization_allowance(tensor, inspection)) + 4 * tolerance.U32 * reference
        if tensor.dtype == "FLOAT16":
            allowed = np.maximum(tolerance.U16 * reference, tolerance.FP16_SUBNORMAL_HALF_STEP)
        error = np.abs(stored - expected)
        ratio = np.divide(error, allowed, out=np.where(error > 0, np.inf, 0.0), where=allowed > 0)
        index = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if float(ratio[index]) >= worst:
            worst = float(ratio[index])
            where = (f"{name}{tuple(int(i) for i in index)}: stored {float(stored[index]):.6g} vs Keras "
                     f"{float(expected[index]):.6g}, allowance {float(allowed[index]):.3g} ({tensor.dtype})")
    message = f"largest difference is {worst:.2f} of its rounding allowance, at {where}"
    return Check("constants vs keras", worst <= 1.0, message)


def _quantization_allowance(tensor: TensorInfo, inspection: ModelInspection) -> np.ndarray:
    """Half a quantization step per element, in the file's layout (zero for floats)."""
    shape = inspection.constant_values(tensor).shape
    if not tensor.scales:
        return np.zeros(shape)
    scales = np.asarray(tensor.scales, np.float64)
    if scales.size > 1:
        axes = [1] * len(shape)
        axes[tensor.quantized_dimension] = -1
        scales = scales.reshape(axes)
    return np.broadcast_to(scales / 2.0, shape).astype(np.float64)


def _keras_layout(cell: Cell, name: str, values: np.ndarray) -> np.ndarray:
    return values if name == "bias" else numpy_reference.to_keras_layout(cell.op.op_code, values)

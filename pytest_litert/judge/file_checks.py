"""Every lane against NumPy evaluating the same file: the tight oracles of a kernel bug.

The bounds against Keras must cover what the file does not say (weight rounding, the run-time
quantization of activations), so they are wide. Against the file's own numbers a lane owes
only its arithmetic: the reference kernels TFLite's semantics ("numpy vs reference"), each
optimized lane (XNNPACK, real fp16, the NEON or SME2 A/B lane) XNNPACK's own dynamic
quantization where XNNPACK took the layer ("<lane> vs numpy"), and two integer lanes may
differ only at rounding ties ("xnnpack~reference"). docs/tolerances.md derives each bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_litert.judge import numpy_reference
from pytest_litert.judge.checks import Check, integer_agreement_check, numeric_check, tie_agreement_check, tie_check
from pytest_litert.judge.structure import metadata_text
from pytest_litert.matrix.cells import Cell
from pytest_litert.matrix.recipes import FP16_ACCUMULATION, FP16_HINT
from pytest_litert.model.flatbuffer import ModelInspection
from pytest_litert.model.layer import MainLayer, delegate_covers
from pytest_litert.model.quantization import dequantize_output, input_tensors

REFERENCE_LANE = "reference"
NUMPY_CHECK = "numpy vs reference"
AGREEMENT_CHECK = "xnnpack~reference"


def fp16_arithmetic(inspection: ModelInspection, mode: str, facts: dict[str, Any]) -> bool:
    """CompiledModel FORCE_FP16 always computes in fp16; on aarch64 the Interpreter's
    XNNPACK also honours the model's fp16 hint (measured under QEMU), on x86 it does not."""
    hinted = metadata_text(inspection.metadata.get(FP16_HINT, b"")) == FP16_ACCUMULATION
    return mode == "fp16" or (mode == "xnnpack" and hinted and facts.get("machine") in ("aarch64", "arm64"))


def flushes_subnormals(facts: dict[str, Any]) -> bool:
    """XNNPACK runs every operator with PTHREADPOOL_FLAG_DISABLE_DENORMALS, which on aarch64
    sets FPCR.FZ16: float16 arithmetic reads and writes subnormals as 0. (On x86 the F16C
    kernels compute in float32 and convert exactly; AVX512-FP16 would flush, and says so.)"""
    return facts.get("machine") in ("aarch64", "arm64") or bool(facts.get("avx512fp16"))


def fp16_lane(inspection: ModelInspection, mode: str, facts: dict[str, Any]) -> tuple[bool, bool]:
    """One lane's float16 arithmetic: (computes in float16, flushes subnormals doing it)."""
    fp16 = fp16_arithmetic(inspection, mode, facts)
    return fp16, fp16 and flushes_subnormals(facts)


def lane_kernels(layer: MainLayer | None, mode: str, facts: dict[str, Any]) -> str:
    """"xnnpack" where the lane's XNNPACK computed the layer, else "reference" (the builtin
    kernels, reference or optimized, share TFLite's semantics)."""
    if mode == REFERENCE_LANE:
        return "reference"
    covers = delegate_covers(layer, facts)
    delegated = bool(facts.get("delegated")) if covers is None else covers
    return "xnnpack" if delegated or mode == "fp16" else "reference"


def draw_checks(cell: Cell, inspection: ModelInspection, layer: MainLayer | None, raw: dict[str, np.ndarray],
                model_in: dict[str, np.ndarray], signature_names: dict[str, str], modes: dict[str, str],
                facts: dict[str, dict[str, Any]]) -> list[Check]:
    """One input draw: each lane against its NumPy model, and the integer lanes' agreement."""
    models: dict[tuple[str, bool, bool], numpy_reference.NumpyOutput | str] = {}
    checks = []
    for lane, output in raw.items():
        lane_facts = facts.get(lane, {})
        key = (lane_kernels(layer, modes[lane], lane_facts), *fp16_lane(inspection, modes[lane], lane_facts))
        if key not in models:
            models[key] = _evaluate(cell, inspection, layer, model_in, signature_names, key)
        name = NUMPY_CHECK if lane == REFERENCE_LANE else f"{lane} vs numpy"
        checks.append(_against(name, inspection, output, models[key]))
    if cell.recipe.quantized_io and "xnnpack" in raw and REFERENCE_LANE in raw:
        model = models.get(("reference", False, False))
        if isinstance(model, numpy_reference.NumpyOutput) and model.allowed is not None:
            checks.append(tie_agreement_check(AGREEMENT_CHECK, raw["xnnpack"], raw[REFERENCE_LANE], model.allowed))
        else:
            checks.append(integer_agreement_check(AGREEMENT_CHECK, raw["xnnpack"], raw[REFERENCE_LANE]))
    return checks


def _evaluate(cell: Cell, inspection: ModelInspection, layer: MainLayer | None, model_in: dict[str, np.ndarray],
              signature_names: dict[str, str], key: tuple[str, bool, bool]) -> numpy_reference.NumpyOutput | str:
    """The NumPy model for (kernels, fp16 arithmetic, flush-to-zero), or why there is none."""
    try:
        index = input_tensors(inspection, list(model_in), signature_names)
        return numpy_reference.evaluate(cell, inspection, layer, model_in, index, kernels=key[0],
                                        fp16_arithmetic=key[1], flush_to_zero=key[2])
    except numpy_reference.Unmodelled as error:
        return str(error)


def _against(name: str, inspection: ModelInspection, output: np.ndarray,
             model: numpy_reference.NumpyOutput | str) -> Check:
    if isinstance(model, str):
        return Check(name, True, f"not modelled: {model}")
    if model.quantized is not None and model.allowed is not None:
        return tie_check(name, output, model.quantized, model.allowed)
    assert model.bound is not None
    return numeric_check(name, dequantize_output(inspection, output), model.value, model.bound)

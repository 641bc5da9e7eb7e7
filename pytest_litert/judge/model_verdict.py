"""The verdict on a whole model: one cell verdict per matrix operator, the rest as information.

Each operator of a kind the matrix knows is judged as a cell on the inputs the model gave it
(OpReport.verdict); the model fails when one of them fails, and the failing operator is named
(index, op code, tensor names). Operators outside the matrix (ADD, MEAN, SOFTMAX, the pieces
of LayerNorm or GELU ...) carry XNNPACK vs reference-kernel differences as information, never
a verdict. End-to-end metrics and where SME2 ran (the packed KleidiAI operator types from
LiteRT's profiler) complete the picture; judging stays per operator.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pytest_litert.judge.checks import KERNEL_CHECK, aggregate_metrics
from pytest_litert.judge.status import Status
from pytest_litert.judge.verdict import Verdict
from pytest_litert.matrix.cells import Cell
from pytest_litert.matrix.kernel_types import SME_ONLY_TYPES, OperatorName

NOT_JUDGED = "not judged"  # a matrix operator the matrix cannot model (the reason says why)
INFO = "info"  # an operator outside the matrix: information only


@dataclasses.dataclass(frozen=True)
class OpReport:
    """One operator of the model. `status`: a Status for judged operators, else NOT_JUDGED / INFO."""

    index: int  # in the file's operator list
    op_code: str
    tensors: tuple[str, ...]
    status: str
    verdict: Verdict | None = None
    recipe: str = ""
    reason: str = ""
    keras: str = ""  # the Keras layers it computes and how they were found, or "unmatched: why"
    operators: tuple[str, ...] = ()  # the XNNPACK operators that ran it (its profiled single-op model)
    time_us: float | None = None  # its share of the whole model's profiled run
    information: dict[str, float] = dataclasses.field(default_factory=dict)
    position: int = -1  # among the operators that compute something (constant DEQUANTIZEs left out)
    cell: Cell | None = None  # the matrix cell it was judged as
    model: bytes = dataclasses.field(default=b"", repr=False)  # its single-operator model (model/cut.py)

    @property
    def id(self) -> str:
        """`op012-CONV_2D`: the test id and the record key of this operator, by its position among
        the operators that compute something, so two conversions of one model line up even where
        one holds DEQUANTIZEs for fp16 constants (the file's own index is in `blame`)."""
        return op_id(self.position if self.position >= 0 else self.index, self.op_code)

    @property
    def judged(self) -> bool:
        return self.verdict is not None

    @property
    def packed_type(self) -> str:
        """The packed KleidiAI type of the first XNNPACK operator that has one, else ''."""
        parsed = (OperatorName.parse(name) for name in self.operators)
        return next((p.packed_type for p in parsed if p is not None and p.packed_type), "")

    @property
    def worst(self) -> float | None:
        return self.verdict.worst if self.verdict is not None else None

    def blame(self) -> str:
        """Where a failure is: index, op code and the tensors it reads and writes."""
        names = ", ".join(repr(name[:60]) for name in self.tensors)
        return f"{self.id} (operator {self.index} of the file; tensors {names})"


def op_id(position: int, op_code: str) -> str:
    return f"op{position:03d}-{op_code}"


@dataclasses.dataclass(frozen=True)
class ModelVerdict:
    """Every operator's report; the model-level facts beside them."""

    model: str
    ops: tuple[OpReport, ...]
    reference: str  # "keras" or "file" (file-only: no Keras model given)
    target: str
    end_to_end: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)
    profile: dict[str, Any] = dataclasses.field(default_factory=dict)
    unmatched_layers: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def status(self) -> Status:
        statuses = {op.status for op in self.judged}
        if Status.FAIL in statuses:
            return Status.FAIL
        return Status.FINDING if Status.FINDING in statuses else Status.PASS

    def __bool__(self) -> bool:
        """True only when every judged operator passed, as a cell Verdict."""
        return self.status == Status.PASS

    @property
    def judged(self) -> list[OpReport]:
        return [op for op in self.ops if op.judged]

    @property
    def failures(self) -> list[OpReport]:
        return [op for op in self.judged if op.status == Status.FAIL]

    @property
    def reason(self) -> str:
        return "; ".join(f"{op.blame()}: {op.verdict.reason.splitlines()[0]}" for op in self.failures
                         if op.verdict is not None)

    def counts(self) -> dict[str, int]:
        """Operators judged / passed / findings / failed, matrix operators not judged, others."""
        judged = self.judged
        return {"operators": len(self.ops), "judged": len(judged),
                "passed": sum(op.status == Status.PASS for op in judged),
                "findings": sum(op.status == Status.FINDING for op in judged),
                "failed": sum(op.status == Status.FAIL for op in judged),
                "not judged": sum(op.status == NOT_JUDGED for op in self.ops),
                "information": sum(op.status == INFO for op in self.ops)}

    def kernel_summary(self) -> str:
        """"38 of 52 operators ran packed KleidiAI types, 91% of the time"."""
        ran = [op for op in self.ops if op.operators]
        packed = [op for op in ran if op.packed_type]
        if not self.profile.get("available"):
            share = f"whole-model profile {self.profile.get('reason') or 'unavailable'}"
        else:
            share = f"{packed_time_share(self.profile):.0%} of the profiled time"
        types = sorted({op.packed_type for op in packed})
        text = (f"{len(packed)} of {len(self.ops)} operators ran packed KleidiAI types"
                f"{' (' + ', '.join(types) + ')' if types else ''}, {share}")
        logged = [c for op in self.judged if op.verdict is not None
                  for c in op.verdict.checks if c.name == KERNEL_CHECK]
        if logged:  # qemu-sme2: the translation log's witness, on the seed table's SME2 operators
            text += (f"; translation log: an SME2 kernel ran in {sum(c.passed for c in logged)} of {len(logged)} "
                     "seed-table SME2 operators")
        return text

    def summary(self) -> str:
        found = self.counts()
        keras = "against Keras" if self.reference == "keras" else "file-only (no Keras model)"
        return (f"{self.model}: {self.status}, {found['judged']} of {found['operators']} operators judged "
                f"{keras} on {self.target}: {found['passed']} passed, {found['findings']} findings, "
                f"{found['failed']} failed, {found['not judged']} not judged; {self.kernel_summary()}")

    def explain(self) -> str:
        lines = [self.summary(), *(f"  note: {note}" for note in self.notes)]
        lines += [f"  FAIL {op.blame()}\n" + "\n".join(f"    {line}" for line in op.verdict.explain().splitlines())
                  for op in self.failures if op.verdict is not None]
        lines += [f"  not judged {op.id}: {op.reason}" for op in self.ops if op.status == NOT_JUDGED]
        lines += [f"  Keras layer not matched to any operator: {name}" for name in self.unmatched_layers]
        lines += [f"  end to end {pair}: " + ", ".join(f"{k} {v:.3g}" for k, v in metrics.items())
                  for pair, metrics in self.end_to_end.items()]
        return "\n".join(lines)


def packed_time_share(profile: dict[str, Any]) -> float:
    """The share of the profiled run's time spent in XNNPACK operators of a packed KleidiAI type."""
    total, packed = profiled_times(profile)
    return packed / total if total > 0 else 0.0


def profiled_times(profile: dict[str, Any]) -> tuple[float, float]:
    """(total, packed) microseconds: XNNPACK operators plus builtin nodes outside the delegate."""
    operators = profile.get("operators") or []
    nodes = [node for node in profile.get("nodes") or [] if "DELEGATE" not in str(node.get("name", "")).upper()]
    packed = sum(float(op.get("us") or 0) for op in operators if _packed(str(op["name"])))
    total = sum(float(op.get("us") or 0) for op in operators) + sum(float(n.get("us") or 0) for n in nodes)
    return total, packed


def _packed(name: str) -> bool:
    parsed = OperatorName.parse(name)
    return parsed is not None and bool(parsed.packed_type)


def proves_sme(types: set[str]) -> bool:
    """PF32, PF16 and PQS8 exist only with SME / SME2 (matrix/kernel_types.py); QP8 alone does not."""
    return bool(types & set(SME_ONLY_TYPES))


def information(outputs: dict[str, np.ndarray], errors: dict[str, str], dequantize: Any) -> tuple[
        dict[str, float], str]:
    """XNNPACK against the reference kernels on one operator that is not judged: the metrics of
    the float outputs, and the largest difference in output steps for integer outputs."""
    if "xnnpack" not in outputs or "reference" not in outputs:
        return {}, "; ".join(f"{lane}: {error}" for lane, error in errors.items()) or "no output"
    xnnpack, reference = outputs["xnnpack"], outputs["reference"]
    if xnnpack.shape != reference.shape:
        return {}, f"output shapes differ: {xnnpack.shape} vs {reference.shape}"
    metrics = aggregate_metrics(dequantize(xnnpack), dequantize(reference))
    if xnnpack.dtype.kind == "i":
        metrics["max_steps"] = float(np.max(np.abs(xnnpack.astype(np.int64) - reference.astype(np.int64)), initial=0))
    return metrics, ""

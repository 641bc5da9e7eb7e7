"""Localization: plant a fault in one operator of a whole model, see which operator is blamed.

Each judged operator of a correctly converted model gets, in turn, a fault in its own stored
numbers (faults/mutations.py: a weight moved 4 steps, one channel's weight scale x1.10, a bias
element +10% of max|b|), after being given its own copy of any constant it shared (the
converter stores one zero bias for every layer of a width), and the whole model is judged
again. A fault is localized when exactly its operator fails; operators downstream see changed
inputs, but are judged on those inputs, so they pass. Without the Keras model no such fault
can show: the file is its own reference (wholemodel.py says so); the table is made with it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pytest_litert.faults.mutations import mutants
from pytest_litert.judge.model_verdict import ModelVerdict, OpReport
from pytest_litert.model.cut import static_shapes, unshare
from pytest_litert.model.flatbuffer import inspect_model
from pytest_litert.model.graph import ModelGraph
from pytest_litert.run.targets import Target, host_target
from pytest_litert.wholemodel import check_model

LOCALIZATION_KINDS = ("weight+4steps", "scale*1.10", "bias")  # a stored weight, a scale, a bias


@dataclasses.dataclass(frozen=True)
class Planted:
    """One fault planted in one operator, and the operators the verdict blamed."""

    op: str
    kind: str
    description: str
    blamed: tuple[str, ...]

    @property
    def outcome(self) -> str:
        if self.blamed == (self.op,):
            return "blamed on its operator"
        if self.op in self.blamed:
            return f"blamed, with {len(self.blamed) - 1} other operator(s)"
        return "missed" if not self.blamed else "blamed on another operator"


def localize(model: bytes, keras_model: Any, *, kinds: tuple[str, ...] = LOCALIZATION_KINDS, every: int = 1,
             seed: int = 0, target: Target | None = None) -> tuple[ModelVerdict, list[Planted]]:
    """The unmutated verdict, then every `every`-th judged operator mutated with each kind."""
    static = static_shapes(model)
    graph = ModelGraph.of(inspect_model(static))
    memo: dict[str, OpReport] = {}
    owned = target is None
    target = target or host_target()
    try:
        clean = check_model(static, keras_model, seed=seed, target=target, memo=memo)
        planted = []
        for op in clean.judged[::max(every, 1)]:
            base = unshare(static, graph, op.index)
            for mutant in mutants(base, op.op_code, op_index=op.index, kinds=kinds):
                verdict = check_model(mutant.model, keras_model, seed=seed, target=target, memo=memo)
                planted.append(Planted(op.id, mutant.kind, mutant.description, tuple(r.id for r in verdict.failures)))
    finally:
        if owned:
            target.close()
    return clean, planted


def render(name: str, clean: ModelVerdict, planted: list[Planted], seconds: float | None = None) -> str:
    """Markdown: the unmutated verdict in a line, a row per planted fault, the tally."""
    lines = [f"{name}: unmutated {clean.status} ({len(clean.failures)} failed of {len(clean.judged)} judged)", "",
             "| operator | fault | blamed | outcome |", "|---|---|---|---|"]
    lines += [f"| `{p.op}` | {p.kind} | {', '.join(f'`{b}`' for b in p.blamed) or '-'} | {p.outcome} |"
              for p in planted]
    exact = sum(p.outcome == "blamed on its operator" for p in planted)
    took = f" ({seconds:.0f} s)" if seconds is not None else ""
    lines += ["", f"{exact} of {len(planted)} faults blamed on exactly their operator{took}"]
    return "\n".join(lines) + "\n"


def run(model_path: str, reference: str, *, every: int = 1, seed: int = 0, target: Target | None = None) -> str:
    """`pytest-litert faults --model M.tflite --reference M.keras`: the localization table."""
    from pathlib import Path

    from pytest_litert.convert.keras_models import import_keras

    began = time.perf_counter()
    keras_model = import_keras().models.load_model(reference, compile=False)
    clean, planted = localize(Path(model_path).read_bytes(), keras_model, every=every, seed=seed, target=target)
    return render(Path(model_path).name, clean, planted, time.perf_counter() - began)

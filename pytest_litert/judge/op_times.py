"""Which part of a whole model's profiled run each operator took.

LiteRT's profiler names XNNPACK's operators in the order they ran, not the TFLite operators
they came from, and a delegate partition may run operators of later TFLite indices before
earlier ones (independent branches are merged into one partition). Each operator's own
single-op model, profiled alone, names the XNNPACK operators that compute it; each name takes
the first operator of that name in the whole model's run not yet taken, operators in TFLite
order. Operators of the same name can trade places, so a share is an attribution, not a
measurement of that one operator. An operator that did not reach XNNPACK is a builtin node
of its own index in the profile.
"""

from __future__ import annotations

from typing import Any


def attribute_times(profile: dict[str, Any], per_op: dict[int, tuple[str, ...]],
                    op_codes: dict[int, str]) -> dict[int, float]:
    """op index -> microseconds in the whole model's profiled run (absent: not found)."""
    if not profile.get("available"):
        return {}
    whole = [(str(op["name"]), float(op.get("us") or 0.0)) for op in profile.get("operators") or []]
    builtin = {int(node.get("index", -1)): (str(node["name"]), float(node.get("us") or 0.0))
               for node in profile.get("nodes") or [] if "DELEGATE" not in str(node["name"]).upper()}
    queues: dict[str, list[float]] = {}
    for name, micros in whole:
        queues.setdefault(name, []).append(micros)
    found: dict[int, float] = {}
    for index in sorted(op_codes):
        node = builtin.get(index)
        if node is not None and node[0] == op_codes[index]:
            found[index] = node[1]
            continue
        for name in per_op.get(index, ()):
            if queues.get(name):
                found[index] = found.get(index, 0.0) + queues[name].pop(0)
    return found

"""Which part of a whole model's profiled run each operator took.

LiteRT's profiler names XNNPACK's operators in the order they ran, not the TFLite operators
they came from. Each operator's own single-op model, profiled alone, names the XNNPACK
operators that compute it; those names are found, in order, in the whole model's list (a
short look-ahead skips what XNNPACK adds between operators, such as a reshape after a mean).
An operator that did not reach XNNPACK is a builtin node of its own index in the profile.
"""

from __future__ import annotations

from typing import Any

LOOK_AHEAD = 4


def attribute_times(profile: dict[str, Any], per_op: dict[int, tuple[str, ...]],
                    op_codes: dict[int, str]) -> dict[int, float]:
    """op index -> microseconds in the whole model's profiled run (absent: not found)."""
    if not profile.get("available"):
        return {}
    whole = [(str(op["name"]), float(op.get("us") or 0.0)) for op in profile.get("operators") or []]
    builtin = {int(node.get("index", -1)): (str(node["name"]), float(node.get("us") or 0.0))
               for node in profile.get("nodes") or [] if "DELEGATE" not in str(node["name"]).upper()}
    found: dict[int, float] = {}
    position = 0
    for index in sorted(op_codes):
        node = builtin.get(index)
        if node is not None and node[0] == op_codes[index]:
            found[index] = node[1]
            continue
        for name in per_op.get(index, ()):
            hit = next((j for j in range(position, min(position + LOOK_AHEAD, len(whole))) if whole[j][0] == name),
                       None)
            if hit is None:
                continue
            found[index] = found.get(index, 0.0) + whole[hit][1]
            position = hit + 1
    return found

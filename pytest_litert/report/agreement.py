"""Do two recorded runs of the same bundle agree? Same status per cell, bitwise-equal outputs.

Used to show that the emulated SME2 Linux (`emulator run`, the default host target inside the
guest) and the `qemu-sme2` target driven from x86 judge a bundle alike: both run the same
aarch64 LiteRT on the same emulated CPU, so integer and fp32 outputs must match bit for bit
(the records' `facts.output_digests`, per lane and input draw).

One difference is expected and named: the kernel proof (check "sme2 kernel") exists only on
the qemu-sme2 target, which logs the code QEMU translates. A cell whose only difference is a
known finding of that check (xfail there, pass where no proof can be made) agrees.
"""

from __future__ import annotations

import dataclasses
from typing import Any

KERNEL_PROOF = "sme2 kernel"
TARGET_LANES = ("neon",)  # lanes only the qemu-sme2 target runs (the SME-off A/B lane)


@dataclasses.dataclass(frozen=True)
class CellAgreement:
    cell: str
    status_a: str
    status_b: str
    lanes: tuple[str, ...]  # lanes both runs have, compared bitwise
    problems: tuple[str, ...]
    note: str = ""

    @property
    def agrees(self) -> bool:
        return not self.problems


def compare_runs(run_a: dict[str, Any], run_b: dict[str, Any]) -> list[CellAgreement]:
    """Per cell of either run (records keyed by cell id and shape), whether the two agree."""
    cells_a, cells_b = _by_key(run_a), _by_key(run_b)
    rows = []
    for key in sorted(cells_a.keys() | cells_b.keys()):
        if key not in cells_a or key not in cells_b:
            which = "first" if key in cells_a else "second"
            rows.append(CellAgreement(key, "-", "-", (), (f"only in the {which} run",)))
            continue
        rows.append(compare_cells(key, cells_a[key], cells_b[key]))
    return rows


def compare_cells(key: str, a: dict[str, Any], b: dict[str, Any]) -> CellAgreement:
    problems: list[str] = []
    note = ""
    if a["status"] != b["status"]:
        if _only_kernel_proof_differs(a, b):
            note = f"{a['status']} vs {b['status']}: only the kernel proof differs (made on the qemu-sme2 target only)"
        else:
            problems.append(f"status {a['status']} vs {b['status']}")
    digests_a = a.get("facts", {}).get("output_digests", {})
    digests_b = b.get("facts", {}).get("output_digests", {})
    lanes = tuple(sorted(digests_a.keys() & digests_b.keys()))
    one_sided = sorted((digests_a.keys() ^ digests_b.keys()) - set(TARGET_LANES))
    if one_sided:
        problems.append(f"lanes run by one target only: {', '.join(one_sided)}")
    if a["status"] in ("pass", "finding", "fail") and not lanes and not problems:
        problems.append("no lane whose outputs both runs recorded")
    for lane in lanes:
        if digests_a[lane] != digests_b[lane]:
            differing = sum(x != y for x, y in zip(digests_a[lane], digests_b[lane], strict=False))
            problems.append(f"{lane} outputs differ bitwise ({differing} of {len(digests_a[lane])} draws)")
    return CellAgreement(key, a["status"], b["status"], lanes, tuple(problems), note)


def _only_kernel_proof_differs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """One run has a kernel-proof check (passed as a known finding) the other lacks, and the
    remaining checks have the same outcomes."""
    checks_a = {c["name"]: c for c in a.get("checks", [])}
    checks_b = {c["name"]: c for c in b.get("checks", [])}
    if (KERNEL_PROOF in checks_a) == (KERNEL_PROOF in checks_b):
        return False
    proof = checks_a.get(KERNEL_PROOF) or checks_b[KERNEL_PROOF]
    if not str(proof.get("message", "")).startswith("known finding"):
        return False
    rest = (checks_a.keys() | checks_b.keys()) - {KERNEL_PROOF}
    return all(_outcome(checks_a.get(n)) == _outcome(checks_b.get(n)) for n in rest
               if n in checks_a and n in checks_b)


def _outcome(check: dict[str, Any] | None) -> tuple[bool, bool] | None:
    if check is None:
        return None
    return bool(check.get("passed")), str(check.get("message", "")).startswith("known finding")


def _by_key(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{r['cell']} {_shape(r)}": r for r in run.get("cells", [])}


def _shape(record: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(record.get("shape", {}).items()))


def render(rows: list[CellAgreement], name_a: str, name_b: str) -> str:
    lines = [f"| cell | {name_a} | {name_b} | lanes compared bitwise | agreement |", "|---|---|---|---|---|"]
    for row in rows:
        verdict = "agree" if row.agrees else "DIFFER: " + "; ".join(row.problems)
        if row.note:
            verdict += f" ({row.note})"
        lanes = ", ".join(row.lanes)
        lines.append(f"| {row.cell.split()[0]} | {row.status_a} | {row.status_b} | {lanes} | {verdict} |")
    return "\n".join(lines) + "\n"

"""The seed's SME2 cells on an SME2 target (`pytest -m sme2`): skipped where the target has
no SME2, with the reason and the flag that changes it (--litert-target=qemu-sme2)."""

from __future__ import annotations

from pytest_litert import Verdict, assert_verdict


def test_sme2_cell(litert_sme2_verdict: Verdict) -> None:
    """Everything test_cell checks, on SME2; on the emulated target also that an SME2
    kernel ran and that the same CPU with SME off agrees (the NEON A/B lane)."""
    assert_verdict(litert_sme2_verdict)

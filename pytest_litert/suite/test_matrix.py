"""The operator x recipe matrix: one test per selected cell (ids `<op>-<recipe>`)."""

from __future__ import annotations

from pytest_litert import Verdict, assert_verdict


def test_cell(litert_verdict: Verdict) -> None:
    """Structure as the seed table promises, XNNPACK taken where expected, outputs within
    the derived bound of the Keras model (XNNPACK, reference kernels, fp16 arithmetic)."""
    assert_verdict(litert_verdict)

"""Your own converted model: `pytest --litert-model=m.tflite --litert-reference=m.keras`.

The plugin adds this file to the run when --litert-model is given; one test per model.
"""

from __future__ import annotations

from pytest_litert import Verdict, assert_verdict


def test_user_model(litert_user_verdict: Verdict) -> None:
    """The same structure, delegation and numeric checks as the matrix, cell inferred."""
    assert_verdict(litert_user_verdict)

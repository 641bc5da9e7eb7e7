"""pytest-litert: the KleidiAI/XNNPACK operator x quantization matrix for LiteRT, as a pytest plugin.

`pytest_litert.check(tflite, keras_model)` judges a model you bring and returns a Verdict.
"""

from __future__ import annotations

from pytest_litert.usermodel import check

__version__ = "0.1.0"
__all__ = ["check"]

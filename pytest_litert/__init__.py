"""pytest-litert: the KleidiAI/XNNPACK operator x quantization matrix for LiteRT, as a pytest plugin."""

from __future__ import annotations

__version__ = "0.1.0"

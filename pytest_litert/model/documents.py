"""The project's versioned JSON files (the bundle index, a saved bench run), read with their
kind and format checked, so every reader refuses a wrong file with the same care."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class DocumentError(ValueError):
    """Not the expected document; the message names the file, what is wrong and the fix."""


def read_document(path: Path, kind: str, version: int, *, fix: str) -> dict[str, Any]:
    """The JSON object in `path`, whose "kind" and "format" are `kind` and `version`; `fix` ends
    every refusal (how to make a good one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file; {fix}") from None
    except (OSError, ValueError) as error:
        raise DocumentError(f"{path}: unreadable ({error}); {fix}") from None
    found = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(data, dict) or found != kind:
        raise DocumentError(f"{path}: not a {kind} (kind {found!r}); {fix}")
    if data.get("format") != version:
        raise DocumentError(f"{path}: {kind} format {data.get('format')!r}, this pytest-litert reads format "
                            f"{version}; {fix} (or install the pytest-litert that made it)")
    return data

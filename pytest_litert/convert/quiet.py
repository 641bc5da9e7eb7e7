"""Keep what TensorFlow prints during one conversion, and show it only when asked or when the
conversion fails: C++ logging on file descriptors 1 and 2 ("fully_quantize: 0, ..."), Python
warnings (the calibrator's own tf.lite.Interpreter deprecation), Keras' "Saved artifact at".
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator


class Captured:
    """The text one conversion printed, filled in when the `quiet()` block ends."""

    def __init__(self) -> None:
        self.text = ""

    def tail(self, lines: int = 20) -> str:
        kept = [line for line in self.text.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])


@contextlib.contextmanager
def quiet(*, echo: bool = False) -> Iterator[Captured]:
    """Capture fds 1 and 2, sys.stdout/stderr and warnings for the block; `echo` writes it all
    to stderr afterwards (pytest -v, `pytest-litert ... -v`)."""
    captured = Captured()
    python_side = io.StringIO()
    caught: list[warnings.WarningMessage] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.flush()
        saved = [os.dup(fd) for fd in (1, 2)]
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            with (warnings.catch_warnings(record=True) as recorded, contextlib.redirect_stdout(python_side),
                  contextlib.redirect_stderr(python_side)):
                warnings.simplefilter("always")
                try:
                    yield captured
                finally:
                    caught.extend(recorded)
        finally:
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            native = sink.read().decode(errors="replace")
            shown = [f"{w.category.__name__}: {w.message}" for w in caught]
            captured.text = "\n".join(part for part in (native, python_side.getvalue(), *shown) if part)
            if echo and captured.text:
                print(captured.text, file=sys.stderr)

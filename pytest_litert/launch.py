"""The `pytest-litert` command and `python -m pytest_litert`: for a command that judges on this
machine, start LiteRT's worker first, then import the command line (~200 ms), which the worker's
start-up (~80 ms) then overlaps instead of following (run/host_worker.py)."""

from __future__ import annotations

import sys

_JUDGING_COMMANDS = ("matrix", "check")


def main() -> int:
    words = sys.argv[1:]
    if words and words[0] in _JUDGING_COMMANDS and _target(words) == "host":
        from pytest_litert.run import host_worker

        host_worker.start_ahead()
    from pytest_litert.cli import main as cli_main

    return cli_main()


def _target(words: list[str]) -> str:
    """The --target the words give (the default: host)."""
    for index, word in enumerate(words):
        if word.startswith("--target="):
            return word.partition("=")[2]
        if word == "--target" and index + 1 < len(words):
            return words[index + 1]
    return "host"

"""Reading the README and docs/ for the docs tests: code blocks, inline code, command lines, and the
options the plugin registers (through its own pytest_addoption, on a recording parser)."""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")


def markdown_files() -> list[Path]:
    """The README and every page under docs/, the ones other engineers write included."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO)}:{line}"


@dataclasses.dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    info: str
    body: str

    @property
    def language(self) -> str:
        return self.info.split()[0].strip("{}.") if self.info.split() else ""


def blocks(path: Path) -> list[Block]:
    """Fenced code blocks, with their info string and the line they open on."""
    found: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, start, body = opening["fence"], i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        found.append(Block(path, start + 1, opening["info"].strip(), "\n".join(body) + "\n"))
        i += 1
    return found


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    inside, result = None, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        opening = FENCE.match(line)
        if inside is None and opening is not None:
            inside = opening["fence"]
        elif inside is not None and line.strip().startswith(inside):
            inside = None
        elif inside is None:
            result.append((number, line))
    return result


def inline_code(path: Path) -> Iterator[tuple[int, str]]:
    """Inline code spans of the prose and tables (`...` and ``...``)."""
    for number, line in prose(path):
        for match in re.finditer(r"(`+)(.+?)\1", line):
            yield number, match[2].strip()


@dataclasses.dataclass(frozen=True)
class Command:
    """One command of a shell line: the program's name (path and `python -m` dropped) and its words."""

    path: Path
    line: int
    program: str
    words: tuple[str, ...]
    inline: bool = False  # a mention in prose (`pytest-litert check`), not a whole command line

    @property
    def text(self) -> str:
        return " ".join((self.program, *self.words))


def _split_commands(words: list[str]) -> Iterator[list[str]]:
    current: list[str] = []
    for word in words:
        if word in {"&&", "||", ";", "|"}:
            if current:
                yield current
            current = []
        else:
            current.append(word)
    if current:
        yield current


def _command(path: Path, line: int, words: list[str], inline: bool) -> Command | None:
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]  # FOO=bar cmd
    if not words:
        return None
    program, rest = words[0].rsplit("/", 1)[-1], words[1:]
    if re.fullmatch(r"python[0-9.]*", program) and rest[:1] == ["-m"] and len(rest) > 1:
        program, rest = rest[1], rest[2:]  # python -m pytest ..., python -m pytest_litert.cli ...
    if program == "pytest_litert.cli":
        program = "pytest-litert"
    return Command(path, line, program, tuple(rest), inline)


def shell_line_commands(path: Path, line: int, text: str, *, inline: bool = False) -> list[Command]:
    """The commands of one shell line; `emulator run -- CMD` yields the guest's command too. Inline
    code is a synopsis: `[--force]` and `...` are notation, `<cmd>` a placeholder (skipped)."""
    if inline:
        if "<" in text or "{" in text:
            return []
        text = text.replace("[", " ").replace("]", " ")
    try:
        words = shlex.split(text, comments=True)
    except ValueError:
        return []
    words = [word for word in words if word not in {"...", "…"}]
    if inline:
        words = [word for word in words if "*" not in word and not word.endswith("...")]  # `--litert-*`
        if len(words) < 2:
            return []  # the program's name, in a sentence
    commands = []
    for part in _split_commands(words):
        command = _command(path, line, part, inline)
        if command is None:
            continue
        commands.append(command)
        if command.program == "pytest-litert" and "--" in command.words:
            cut = command.words.index("--")
            commands += shell_line_commands(path, line, shlex.join(command.words[cut + 1:]), inline=inline)
    return commands


def shell_commands(path: Path) -> Iterator[Command]:
    """Every command of every shell block (continuation lines joined) and of every inline code span
    that starts with `pytest` or `pytest-litert`."""
    for block in blocks(path):
        if block.language not in SHELL_LANGUAGES:
            continue
        logical, first = "", 0
        for offset, raw in enumerate(block.body.splitlines(), 1):
            if not logical:
                first = block.line + offset
            if raw.rstrip().endswith("\\"):
                logical += raw.rstrip()[:-1] + " "
                continue
            yield from shell_line_commands(path, first, logical + raw)
            logical = ""
    for number, span in inline_code(path):
        if re.match(r"(pytest|pytest-litert|tox)( |$)", span):
            yield from shell_line_commands(path, number, span, inline=True)


class _RecordingGroup:
    def __init__(self, options: dict[str, dict[str, Any]]) -> None:
        self.options = options

    def addoption(self, *names: str, **attrs: Any) -> None:
        for name in names:
            self.options[name] = attrs


class RecordingParser:
    """Stands in for pytest's parser: records what the plugin registers (flags and ini keys)."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}
        self.ini: dict[str, str] = {}

    def getgroup(self, name: str, description: str = "") -> _RecordingGroup:
        return _RecordingGroup(self.options)

    def addoption(self, *names: str, **attrs: Any) -> None:
        _RecordingGroup(self.options).addoption(*names, **attrs)

    def addini(self, name: str, help: str, *args: Any, **kwargs: Any) -> None:
        self.ini[name] = help


def registered_options() -> RecordingParser:
    """Every flag and ini key the plugin's pytest_addoption registers."""
    from pytest_litert.plugin import options

    parser = RecordingParser()
    options.pytest_addoption(parser)  # type: ignore[arg-type]  # duck-typed: records what it is given
    return parser


def cli_options() -> dict[str, set[str]]:
    """Per `pytest-litert` command (`emulator` once), its option strings, from the real parser."""
    import argparse

    from pytest_litert.cli import build_parser

    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: {s for action in sub._actions for s in action.option_strings} - {"-h", "--help"}
            for name, sub in commands.choices.items()}

"""The README's and the docs' examples run: the Python blocks through pytest-markdown-docs, the
test modules among them as tests on one cell, and every `pytest-litert ...`, `pytest ...` and
`tox -e ...` line through the real parsers, so a renamed option breaks this test, not a reader's
terminal. A block that cannot run is marked ```python notest``` with a sentence saying why."""

from __future__ import annotations

import configparser
import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from docs_text import (
    REPO,
    Command,
    blocks,
    cli_options,
    markdown_files,
    prose,
    registered_options,
    shell_commands,
    where,
)

from pytest_litert.cli import build_parser

# Test modules that need a model file or seconds of timing: what they exercise has its own tests.
NOT_RUN_AS_TESTS = {"litert_bench": "tests/test_bench_fixture.py"}


def _commands() -> list[Command]:
    return [command for path in markdown_files() for command in shell_commands(path)]


def test_every_python_example_runs(pytester: pytest.Pytester) -> None:
    """pytest-markdown-docs runs every ```python block of the README and docs/ as it stands (in a
    temporary directory: the examples write their model files there)."""
    pytest.importorskip("pytest_markdown_docs", reason="the docs' examples run with pytest-markdown-docs (test extra)")
    result = pytester.runpytest_inprocess("--markdown-docs", "-p", "no:cacheprovider", "-q",
                                          *map(str, markdown_files()))
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == outcomes.get("errors", 0) == 0, result.stdout.str()
    assert outcomes.get("passed", 0) >= 3, result.stdout.str()


def _test_modules() -> list[pytest.ParameterSet]:
    found = []
    for path in markdown_files():
        for block in blocks(path):
            if block.language in {"python", "py"} and re.search(r"^def test_\w+\(\s*litert_", block.body, re.M):
                marks = [pytest.mark.skip(reason=f"needs a model file and seconds of timing; {covered}")
                         for fixture, covered in NOT_RUN_AS_TESTS.items() if f"({fixture}" in block.body]
                found.append(pytest.param(block.body, id=where(path, block.line), marks=marks))
    return found


@pytest.mark.parametrize("module", _test_modules())
def test_documented_test_modules_pass(pytester: pytest.Pytester, shared_cache: Path, module: str) -> None:
    """A documented test file, run as one on the FC fp32 cell: its tests pass."""
    pytester.makepyfile(test_documented=module)
    result = pytester.runpytest("--litert-ops=fully_connected", "--litert-recipes=fp32",
                                f"--litert-cache-dir={shared_cache}", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1 and not outcomes.get("failed") and not outcomes.get("errors"), \
        result.stdout.str()


def test_the_docs_show_commands() -> None:
    """The extraction below finds what it must check (so an empty list cannot pass silently)."""
    programs = {command.program for command in _commands()}
    assert {"pytest", "pytest-litert", "tox"} <= programs


@pytest.mark.parametrize("command", [c for c in _commands() if c.program == "pytest-litert"],
                         ids=lambda c: f"{where(c.path, c.line)} {c.text}"[:120])
def test_pytest_litert_command_lines_parse(command: Command) -> None:
    """A command line parses whole; a mention in a sentence (`pytest-litert matrix --json`) names a
    command and options it has."""
    words = list(command.words)
    cut = words.index("--") if "--" in words else len(words)  # emulator run [options] -- CMD
    options = cli_options()
    assert words[0] in options, f"{where(command.path, command.line)}: no command `pytest-litert {words[0]}`"
    unknown = [w.split("=", 1)[0] for w in words[1:cut] if w.startswith("-")  # exact: no abbreviations
               and w.split("=", 1)[0] not in options[words[0]] | {"-h", "--help"}]
    assert not unknown, f"{where(command.path, command.line)}: `pytest-litert {words[0]}` has no {unknown}"
    if command.inline:
        return
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(words[:cut])
        except SystemExit as exit_:
            if exit_.code != 0:  # --help exits 0
                pytest.fail(f"{where(command.path, command.line)}: `{command.text}` does not parse: "
                            f"{stderr.getvalue().strip().splitlines()[-1]}")


@pytest.fixture(scope="module")
def pytest_options() -> set[str]:
    """Every option pytest knows here (its own, the plugins' and this plugin's): `pytest --help`."""
    shown = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", shown))


def test_pytest_command_lines_use_registered_options(pytest_options: set[str]) -> None:
    litert = set(registered_options().options)
    bad = []
    for command in (c for c in _commands() if c.program == "pytest"):
        for word in command.words:
            name = word.split("=", 1)[0]
            if name.startswith("--litert-") and name not in litert:
                bad.append(f"{where(command.path, command.line)}: {name} is not an option of the plugin")
            elif name.startswith("-") and not name.startswith("--litert-") and name not in pytest_options:
                bad.append(f"{where(command.path, command.line)}: {name} is not an option of pytest here")
    assert not bad, "\n".join(bad)


def test_every_litert_flag_named_anywhere_exists() -> None:
    """In prose and tables too: a renamed --litert-* option leaves no stale mention behind."""
    litert = set(registered_options().options)
    bad = []
    for path in markdown_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            bad += [f"{where(path, number)}: {name}" for name in re.findall(r"--litert-[a-z0-9-]*[a-z0-9]", line)
                    if name not in litert]
    assert not bad, "not options of the plugin:\n" + "\n".join(bad)


def _tox_envs() -> set[str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(REPO / "tox.ini")
    envs = set()
    for section in parser.sections():
        if section.startswith("testenv:"):
            name = section.removeprefix("testenv:")
            braces = re.fullmatch(r"\{(.*)\}", name)
            envs |= set(braces[1].split(",")) if braces else {name}
    return envs


def test_tox_environments_named_exist() -> None:
    envs, bad = _tox_envs(), []
    for command in (c for c in _commands() if c.program == "tox"):
        words = list(command.words)
        if "-e" in words and words.index("-e") + 1 < len(words):
            names = words[words.index("-e") + 1].split(",")
            bad += [f"{where(command.path, command.line)}: tox -e {name}" for name in names
                    if name not in envs and not re.fullmatch(r"py3\d+", name)]
    assert not bad, "no such tox environment:\n" + "\n".join(bad)


def test_scripts_named_exist() -> None:
    """`python scripts/x.py`, `benchmarks/x.py`, `tests/x.py` in the docs: the file is there."""
    bad = []
    for path in markdown_files():
        for number, line in prose(path) + [(b.line, b.body) for b in blocks(path)]:
            bad += [f"{where(path, number)}: {name}"
                    for name in re.findall(r"\b((?:scripts|benchmarks|tests)/[\w/]+\.(?:py|sh))\b", line)
                    if not (REPO / name).exists()]
    assert not bad, "no such file:\n" + "\n".join(bad)

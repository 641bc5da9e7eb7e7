"""The plugin in other people's test suites: it leaves their hypothesis settings, report
header and imports alone; its hooks extend it; the converter's noise stays out of the way."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_litert.cli import main
from pytest_litert.settings import TARGETS

HOOKS_PAGE = Path(__file__).parent.parent / "docs" / "guide" / "your-tests.md"  # the documented conftest.py

UNRELATED_TESTS = """
import os
import sys

from hypothesis import given, settings, strategies as st

SEEN = []


@given(st.integers())
def test_integers(n):
    SEEN.append(n)


def test_hypothesis_settings_as_hypothesis_chose_them():
    assert len(SEEN) == settings().max_examples == 100  # a litert profile would have run 5 or 8
    with open(os.environ["SETTINGS_OUT"], "a") as out:
        out.write(repr(settings()) + "\\n")


def test_nothing_heavy_was_imported():
    assert not {"numpy", "ai_edge_litert", "flatbuffers", "tensorflow"} & set(sys.modules)
"""


@pytest.mark.parametrize("ci", ["", "true"])
def test_an_unrelated_project_keeps_its_hypothesis_settings_and_header(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_theirs=UNRELATED_TESTS)
    out = pytester.path / "settings.txt"
    monkeypatch.setenv("SETTINGS_OUT", str(out))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert "litert:" not in result.stdout.str()
    without = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:litert")
    without.assert_outcomes(passed=3)
    with_plugin, without_plugin = out.read_text().splitlines()
    assert with_plugin == without_plugin  # the same settings as with the plugin disabled
    assert "--litert-target" in pytester.runpytest_subprocess("--help").stdout.str()  # and it is installed


def test_an_unrelated_session_leaves_no_litert_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_theirs="def test_one():\n    assert True\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)  # with the cache provider on
    assert not [path for path in pytester.path.rglob("*") if "litert" in path.name]


def _readme_hook_example() -> str:
    section = HOOKS_PAGE.read_text().split("## Extension hooks", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_hook_example_adds_a_target_and_reshapes_cells(
        pytester: pytest.Pytester, shared_cache: Path) -> None:
    pytester.makeconftest(_readme_hook_example())
    pytester.makepyfile(test_mine="""
        from pytest_litert import assert_verdict

        def test_cell(litert_verdict):
            assert_verdict(litert_verdict)
    """)
    report = pytester.path / "run.json"
    result = pytester.runpytest("--litert-target=my-board", "--litert-ops=fully_connected",
                                "--litert-recipes=fp32", f"--litert-cache-dir={shared_cache}",
                                f"--litert-report-json={report}")
    result.assert_outcomes(passed=1)
    [record] = json.loads(report.read_text())["cells"]
    assert record["target"] == "my-board"
    assert record["shape"]["m"] == 100


def test_an_unknown_target_names_the_ones_hooks_added(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(_readme_hook_example())
    result = pytester.runpytest("--litert-target=my-phone")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*unknown target 'my-phone'; valid: {', '.join(TARGETS)}, my-board*"])


def test_export_prints_one_line_per_file_and_nothing_from_tensorflow(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["export", str(out), "--ops=fully_connected", "--recipes=fp32,static_int8", "--cache-dir=none",
            "--no-seed-models"]
    assert main(args) == 0
    printed = capfd.readouterr()
    lines = printed.out.splitlines()
    assert [re.sub(r"\(\d+ bytes\) [\d.]+ s", "(N bytes) T s", line) for line in lines[:-1]] == [
        "[1/2] fully_connected-fp32.tflite (N bytes) T s",
        "[2/2] fully_connected-static_int8.tflite (N bytes) T s",
    ]
    assert lines[-1].startswith(f"wrote 2 models, bundle.json and manifest.json to {out}")
    assert printed.err == ""


def test_a_failed_conversion_shows_what_the_converter_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_litert.convert import converter
    from pytest_litert.session import Runner, Settings

    def int8_without_calibration(tf: Any, conv: Any, calibration: object) -> None:
        """A recipe the real converter refuses (full integer ops, no representative dataset)."""
        print("the recipe's own words")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

    monkeypatch.setitem(converter._RECIPES, "fp32", int8_without_calibration)
    runner = Runner(Settings.from_strings("fully_connected", "fp32", 0, "none", "inprocess"))
    verdict = runner.evaluate_cell(runner.settings.cells()[0])
    assert verdict.status == "fail"
    assert "what the converter printed" in verdict.reason and "the recipe's own words" in verdict.reason


PROPERTY_TEST = """
from hypothesis import given, strategies as st

from pytest_litert.plugin.profiles import property_settings

SEEN = []


@property_settings()
@given(st.integers())
def test_drawn(n):
    SEEN.append(n)


def test_count():
    print(f"examples: {len(SEEN)}")
"""


@pytest.mark.parametrize(("ci", "args", "examples"), [
    ("", [], 5),  # litert-dev
    ("true", [], 8),  # litert-ci, although hypothesis loads its own "ci" profile (100) under CI
    ("true", ["--hypothesis-profile=litert-thorough"], 200),  # named: followed
])
def test_the_plugins_own_property_tests_take_its_profiles(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, args: list[str], examples: int) -> None:
    if ci:
        monkeypatch.setenv("CI", ci)
    else:
        monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_property=PROPERTY_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", *args)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*examples: {examples}*"])

"""The property suite: strategies obey hypothesis's API style, the litert-ci profile is
deterministic, and a broken runner makes a property fail, shrink, and leave a repro bundle
that reproduces the failure in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.strategies import dimensions, input_arrays, layer_shapes

BROKEN_TARGET = '''
"""Test double: the host target with XNNPACK's output corrupted (a bug we cannot cause)."""
import numpy as np
from pytest_litert.run.targets import RunResult, host_target


class BrokenTarget:
    name = "broken"

    def __init__(self):
        self.inner = host_target()

    def run(self, model, inputs, mode):
        result = self.inner.run(model, inputs, mode)
        if mode != "xnnpack":
            return result
        output = result.output.copy()
        output.flat[0] = output.flat[0] + 1 if output.dtype.kind == "f" else output.flat[0] ^ 64
        return RunResult({"output": output}, result.facts)

    def close(self):
        self.inner.close()


def factory():
    return BrokenTarget()
'''

RECORDING_PROPERTY = '''
import json
from hypothesis import given, strategies as st
from pytest_litert.matrix.strategies import layer_shapes


@given(data=st.data())
def test_shapes(litert_cell, data):
    shape = data.draw(layer_shapes(litert_cell.op))
    with open("drawn.jsonl", "a") as log:
        log.write(json.dumps(shape.as_dict()) + "\\n")
'''


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (lambda: dimensions(min_value=0), "min_value=0 must be at least 1"),
        (lambda: dimensions(min_value=9, max_value=3), "min_value=9 is greater than max_value=3"),
        (lambda: layer_shapes("dense"), "unknown op 'dense'"),
        (lambda: layer_shapes("fully_connected", min_weights=4096, max_weights=1024), "greater than"),
        (lambda: input_arrays({"x": (2, 3)}, style="gaussian"), "style='gaussian'"),
    ],
)
def test_bad_bounds_raise_invalid_argument(strategy: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        strategy()  # type: ignore[operator]


@pytest.mark.parametrize("op", list(OPS))
@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data())
def test_drawn_shapes_are_valid_and_big_enough(op: str, data: st.DataObject) -> None:
    spec = OPS[op]
    shape = data.draw(layer_shapes(op))
    spec.validate(shape)
    if spec.constant_weights:
        assert 1024 <= spec.weight_count(shape) <= 32768


def test_litert_ci_profile_is_deterministic(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_recording=RECORDING_PROPERTY)
    args = ["--hypothesis-profile=litert-ci", "--litert-ops=conv2d,transpose_conv", "--litert-recipes=fp32",
            "-p", "no:cacheprovider"]
    pytester.runpytest(*args).assert_outcomes(passed=2)
    first = (pytester.path / "drawn.jsonl").read_text()
    (pytester.path / "drawn.jsonl").unlink()
    pytester.runpytest(*args).assert_outcomes(passed=2)
    assert (pytester.path / "drawn.jsonl").read_text() == first
    assert len(first.splitlines()) == 16  # 8 examples per cell under litert-ci


def test_broken_runner_fails_shrinks_and_leaves_a_repro_bundle(pytester: pytest.Pytester, tmp_path: Path,
                                                               shared_cache: Path) -> None:
    pytester.makepyfile(broken_target=BROKEN_TARGET)
    pytester.makepyfile(test_property='''
        from hypothesis import given, settings, strategies as st
        from pytest_litert.suite.test_properties import _property

        @settings(max_examples=10, derandomize=True, database=None, deadline=None)
        @given(data=st.data())
        def test_prop(litert_cell, litert_properties, data):
            _property(litert_cell, litert_properties, data)
    ''')
    pytester.syspathinsert()
    artifacts = tmp_path / "artifacts"
    result = pytester.runpytest("--litert-ops=fully_connected", "--litert-recipes=fp32",
                                "--litert-target=broken_target:factory", f"--litert-artifacts-dir={artifacts}",
                                f"--litert-cache-dir={shared_cache}", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*xnnpack vs keras*", f"*repro bundle: {artifacts / 'fully_connected-fp32'}*"])
    bundle = artifacts / "fully_connected-fp32"
    shape = json.loads((bundle / "cell.json").read_text())["shape"]
    assert shape["m"] == 1 and shape["k"] <= 2, shape  # shrunk to the smallest layer
    env = {**os.environ, "PYTHONPATH": str(pytester.path)}
    rerun = subprocess.run([sys.executable, str(bundle / "repro.py")], capture_output=True, text=True, env=env,
                           check=False)
    assert rerun.returncode == 1, rerun.stdout + rerun.stderr
    assert "[FAIL] xnnpack vs keras" in rerun.stdout

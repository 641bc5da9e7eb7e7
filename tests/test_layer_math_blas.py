"""The NumPy references do not lean on the BLAS of the machine under test.

Measured: in the emulated SME2 Linux (QEMU -cpu max, NumPy 2.5.5 for Python 3.13), OpenBLAS's
float64 products are wrong (off by ~10 on an 8x64x64 product) while float32 ones are right;
with SME off they are right. judge/layer_math.py checks BLAS against a BLAS-free product once
and computes without BLAS where it fails."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pytest_litert.judge import layer_math
from pytest_litert.matrix.ops import OPS
from pytest_litert.run.qemu import emulator

PROBE = """
import numpy as np
from pytest_litert.judge import layer_math
from pytest_litert.matrix.ops import OPS
rng = np.random.default_rng(1)
x, w = rng.uniform(-1, 1, (8, 64)), rng.uniform(-1, 1, (64, 48))
exact = np.einsum("mk,kn->mn", x, w, optimize=False)
op = OPS["fully_connected"]
error = float(np.abs(layer_math.apply(op, op.default_shape, x, w) - exact).max())
print(layer_math.blas_is_right(), error, float(np.abs(x @ w - exact).max()))
"""


def test_without_blas_the_products_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    """The BLAS-free path (forced here: a stand-in for a broken BLAS) gives BLAS's numbers."""
    rng = np.random.default_rng(0)
    x, w = rng.uniform(-1, 1, (2, 7, 9, 5)), rng.uniform(-1, 1, (3, 3, 5, 6))
    op = OPS["conv2d"]
    shape = op.default_shape
    with_blas = layer_math.apply(op, shape, x, w)
    monkeypatch.setattr(layer_math, "blas_is_right", lambda: False)
    assert np.allclose(layer_math.apply(op, shape, x, w), with_blas, rtol=1e-13, atol=1e-13)
    assert layer_math.matmul(x[0], w[0, 0]).shape == (7, 9, 6)


def test_this_hosts_blas_passes_the_check() -> None:
    assert layer_math.blas_is_right()


@pytest.mark.skipif(emulator.find() is None, reason="emulator not set up: run `pytest-litert emulator setup`")
@pytest.mark.parametrize("cpu", ["max", "max,sme=off"])
def test_in_the_emulated_sme2_linux_the_reference_is_right(cpu: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest_litert", "emulator", "run", "--cpu", cpu, "--",
                           "python", "-c", PROBE], capture_output=True, text=True, timeout=300, check=True)
    right, error, raw = done.stdout.split()[-3:]
    assert float(error) < 1e-12  # whatever the guest's BLAS does
    print(f"-cpu {cpu}: BLAS right: {right}, raw BLAS float64 error {float(raw):.3g}")
    if right == "False":
        assert float(raw) > 1e-9  # the check found a real fault, not a rounding difference

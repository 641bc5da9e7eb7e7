"""float16 on aarch64 flushes subnormals (XNNPACK runs every operator with pthreadpool's
DISABLE_DENORMALS flag, which sets FPCR.FZ16), and the bounds say so (docs/tolerances.md,
flush-to-zero). Real converter, real runtime: the x86 host and the emulated SME2 CPU.

The model: a 3x3 SAME depthwise convolution in fp16 (the fp16 hint, float16 arithmetic on
aarch64) fed zeros, so every output is its channel's bias; channel 0's bias, 4.77e-05, is a
float16 subnormal (below 2^-14), as in MobileNetV2's block 11 where this was found.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pytest_litert.matrix.ops import OPS, LayerShape
from pytest_litert.model.artifact import LayerWeights
from pytest_litert.run.qemu import emulator

PATHS = emulator.find()
SUBNORMAL_BIAS, NORMAL_BIAS = 4.77e-05, 0.25
SHAPE = LayerShape(m=1, k=2, n=2, height=4, width=4, kernel=3, padding="same")


@pytest.fixture(scope="module")
def depthwise_fp16() -> tuple[bytes, Any, dict[str, np.ndarray]]:
    from pytest_litert.convert import converter, keras_models

    op = OPS["depthwise_conv2d"]
    rng = np.random.default_rng(3)
    drawn = keras_models.random_weights(op, SHAPE, rng)
    weights = LayerWeights(kernel=drawn.kernel, bias=np.array([SUBNORMAL_BIAS, NORMAL_BIAS]))
    model = keras_models.build_model(op, SHAPE, weights)
    zeros = {name: np.zeros_like(value) for name, value in keras_models.random_inputs(op, SHAPE, rng).items()}
    return converter.convert(model, "fp16", [keras_models.random_inputs(op, SHAPE, rng)]), model, zeros


def test_x86_keeps_the_subnormal_bias(depthwise_fp16: tuple[bytes, Any, dict[str, np.ndarray]]) -> None:
    from pytest_litert.run.targets import InProcessTarget

    model, _, zeros = depthwise_fp16
    output = InProcessTarget().run(model, zeros, "fp16").output
    assert np.all(output[..., 0] == np.float32(np.float16(SUBNORMAL_BIAS)))
    assert np.all(output[..., 1] == NORMAL_BIAS)


@pytest.mark.qemu
@pytest.mark.skipif(PATHS is None, reason="emulator not set up: run `pytest-litert emulator setup` to enable")
def test_aarch64_flushes_it_and_the_verdict_allows_exactly_that(
        depthwise_fp16: tuple[bytes, Any, dict[str, np.ndarray]]) -> None:
    import pytest_litert
    from pytest_litert.run.qemu.target import QemuTarget

    model, keras_model, zeros = depthwise_fp16
    assert PATHS is not None
    target = QemuTarget(PATHS)
    try:
        output = target.run(model, zeros, "xnnpack").output
        assert np.all(output[..., 0] == 0.0), "XNNPACK's float16 on aarch64 no longer flushes: see docs/findings.md"
        assert np.all(output[..., 1] == NORMAL_BIAS)
        verdict = pytest_litert.check(model, keras_model, inputs=zeros, target=target)
    finally:
        target.close()
    assert isinstance(verdict, pytest_litert.Verdict) and verdict, verdict.explain()
    flushed = [c for c in verdict.checks if c.name == "xnnpack vs keras"]
    assert flushed and flushed[0].worst is not None and 0.0 < flushed[0].worst < 1.0, verdict.explain()

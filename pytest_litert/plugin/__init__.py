"""pytest hooks of pytest-litert (entry point `pytest11`); fixtures in fixtures.py.

Inert unless asked: installed into an environment, it registers its options and markers and
nothing else. No hypothesis profile is loaded (profiles.py), the report lines appear only
when litert tests are collected or a litert option is given, and numpy, LiteRT, TensorFlow
and the SME2 probe load on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_litert.matrix.cells import Cell
from pytest_litert.plugin import hookspecs, options, profiles, state, usermodels
from pytest_litert.plugin.bench import BenchSection, litert_bench
from pytest_litert.plugin.fixtures import (
    assert_verdict,
    litert_model,
    litert_properties,
    litert_runner,
    litert_sme2_verdict,
    litert_svl,
    litert_verdict,
)
from pytest_litert.plugin.options import pytest_addoption
from pytest_litert.plugin.recording import RunRecorder
from pytest_litert.plugin.summary import LABEL_PROPERTY, MatrixSummary
from pytest_litert.settings import Settings

__all__ = [
    "assert_verdict", "litert_bench", "litert_model", "litert_properties", "litert_runner", "litert_sme2_verdict",
    "litert_svl", "litert_verdict", "pytest_addoption",
]
_MARKERS = (
    "litert: a cell of the operator x quantization matrix (added by pytest-litert)",
    "sme2: a cell the seed table lists as KleidiAI SME2-accelerated; skipped where the target has no SME2 "
    "(--litert-target=qemu-sme2 emulates it; --litert-require-sme2 fails instead)",
    "qemu: needs the emulated target (`pytest-litert emulator setup`); skipped without it",
)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """tryfirst: a --hypothesis-profile=litert-* must be registered before hypothesis loads it."""
    for marker in _MARKERS:
        config.addinivalue_line("markers", marker)
    if str(config.getoption("hypothesis_profile", None) or "").startswith("litert-"):
        profiles.register()
    factories: dict[str, Any] = {}
    for added in config.hook.pytest_litert_add_targets():
        factories.update(added)
    config.stash[state.targets_key] = factories
    settings = options.parse_settings(config, tuple(factories))
    config.stash[state.settings_key] = settings
    config.stash[state.user_models_key] = options.user_models(config)
    config.args.extend(str(model) for model, _ in config.stash[state.user_models_key])
    config.pluginmanager.register(MatrixSummary(settings), "litert-matrix-summary")
    config.pluginmanager.register(BenchSection(), "litert-bench-section")
    if config.stash[state.user_models_key]:
        config.pluginmanager.register(usermodels.ModelSummaries(), "litert-model-summaries")
    config.stash[state.recorder_key] = RunRecorder(options.recording_options(config, settings))
    config.pluginmanager.register(config.stash[state.recorder_key], "litert-recorder")


def pytest_unconfigure(config: pytest.Config) -> None:
    state.close(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The header lines, where a litert option is given or the shipped suite is named."""
    asked = options.given(config) or any("pytest_litert" in str(arg) for arg in config.args)
    return _header(config) if asked else []


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """The same lines once litert tests are collected, if the header did not show them."""
    if state.header_key in config.stash or not any(item.get_closest_marker("litert") for item in items):
        return []
    return _header(config)


def _header(config: pytest.Config) -> list[str]:
    """The toolchain, the seed that reproduces the run, and the target's SME2 status."""
    from pytest_litert import toolchain

    config.stash[state.header_key] = True
    settings = config.stash[state.settings_key]
    lines = [
        f"litert: {toolchain.describe()}",
        f"litert: seed {settings.seed}, target {settings.target}, cache {settings.cache_dir or 'off'}"
        f" (reproduce with --litert-seed={settings.seed})",
        f"litert: {state.runner(config).sme2_status.describe()}",
    ]
    if settings.bundle is not None:
        from pytest_litert.model.bundle import bundle_line

        lines.append(f"litert: {bundle_line(settings.bundle)}")
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    settings = metafunc.config.stash[state.settings_key]
    for name, only_sme2 in (("litert_cell", False), ("litert_sme2_cell", True)):
        if name in metafunc.fixturenames:
            cells = [cell for cell in settings.cells() if cell.sme2 or not only_sme2]
            metafunc.config.hook.pytest_litert_modify_cells(config=metafunc.config, cells=cells)
            metafunc.parametrize(name, cells, ids=[c.id for c in cells], scope="session")
    for name, only_sme2 in (("litert_example", False), ("litert_sme2_example", True)):
        if name in metafunc.fixturenames:
            _parametrize_examples(metafunc, name, settings, only_sme2=only_sme2)
    if "litert_svl" in metafunc.fixturenames and settings.svls != (None,):
        metafunc.parametrize("litert_svl", settings.svls, ids=[f"svl{v}" for v in settings.svls], scope="session")


def _parametrize_examples(metafunc: pytest.Metafunc, name: str, settings: Settings, *, only_sme2: bool) -> None:
    """The bundle's stored property examples; without a bundle, one skipped placeholder."""
    if settings.bundle is None:
        reason = ("stored property examples run with --litert-bundle=DIR "
                  "(`pytest-litert export DIR --property-examples N`)")
        metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-bundle")])
        return
    from pytest_litert.model.bundle import open_bundle

    examples = [example for bundled in open_bundle(settings.bundle).select(settings.ops, settings.recipes)
                for example in bundled.examples if bundled.cell.sme2 or not only_sme2]
    if not examples:  # an empty parameter set would hand pytest's NOTSET to the hooks below
        reason = (f"the bundle {settings.bundle} holds no property examples for these cells "
                  "(export with --property-examples N to add some)")
        metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-examples")])
        return
    metafunc.parametrize(name, examples, ids=[e.id for e in examples], scope="session")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A --litert-model file becomes its own test (plugin/usermodels.py)."""
    return usermodels.collect_model(file_path, parent) if file_path.suffix == ".tflite" else None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """sme2 cells need SME2 on the target: skip naming what is missing, or fail when required."""
    if item.get_closest_marker("sme2") is None:
        return
    runner = state.runner(item.config)
    status = runner.sme2_status
    if status.available:
        return
    if runner.settings.require_sme2:
        pytest.fail(f"SME2 required by --litert-require-sme2, but {status.reason}", pytrace=False)
    pytest.skip(f"no SME2: {status.reason}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        cell = params.get("litert_cell", params.get("litert_sme2_cell"))
        example = params.get("litert_example", params.get("litert_sme2_example"))
        cell = getattr(example, "cell", cell)  # a placeholder (None) has no cell
        if isinstance(cell, Cell):
            item.add_marker(pytest.mark.litert)
            if "litert_sme2_cell" in params or "litert_sme2_example" in params:
                item.add_marker(pytest.mark.sme2)
            item.user_properties.append((LABEL_PROPERTY, cell.label))

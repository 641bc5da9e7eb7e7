"""The plugin's options: one group `litert`, flags `--litert-<thing>`, ini keys `litert_<thing>`;
the flag wins over the ini key and a bad value is a UsageError naming the flag."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from pytest_litert.plugin.recording import RecordingOptions, parse_tolerance
from pytest_litert.settings import TARGETS, SettingError, Settings

_OPTIONS = (
    ("artifacts-dir", "where failing property examples are written as repro bundles "
                      "(default: the pytest cache, .pytest_cache/d/litert-artifacts)"),
    ("ops", "comma list of operators to test (default: all)"),
    ("recipes", "comma list of recipes to test (default: all)"),
    ("shapes", "comma list of shape sets: ci (default: each operator's small shape), seed (the seed's "
               "100x640->1280 scale), tiles (M, K, N around the SME2 tile edges), or all; ids outside ci "
               "gain the set's name"),
    ("seed", "seed for weights, calibration and inputs (default: 0)"),
    ("cache-dir", "directory of converted models; 'none' disables it (default: ~/.cache/pytest-litert/cells)"),
    ("target", f"where LiteRT runs: {', '.join(TARGETS)} (default: host, a crash-isolated worker; "
               "host-nosme: the same Linux aarch64 machine with SME hidden from LiteRT, built with its C compiler; "
               "qemu-* need `pytest-litert emulator setup`)"),
    ("svl", "qemu-sme2 only: comma list of SME streaming vector lengths in bytes to sweep (16,32,64,128,256)"),
    ("draws", "judge only the first N of each cell's 3 seeded input draws (default: all; 1 keeps seed-size "
              "cells on an emulated target affordable)"),
    ("bundle", "judge the cells (and stored property examples) of a bundle made by `pytest-litert export DIR`, "
               "without TensorFlow"),
    ("findings", "strict (default): a known finding (matrix/cells.py) that no longer reproduces fails its cell, "
                 "naming the entry to remove; report: the cell passes and says so (an upgrade survey)"),
)
_FLAGS = (
    ("require-sme2", "fail, instead of skip, sme2 tests when the target has no SME2 (CI gating)"),
    ("require-sme2-kernels", "fail sme2 cells where no SME2 kernel ran, even where that is a known finding"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("litert", "LiteRT operator x quantization matrix")
    for name, help_text in _OPTIONS:
        flag, key = f"--litert-{name}", f"litert_{name.replace('-', '_')}"
        group.addoption(flag, dest=key, default=None, metavar=name.upper().replace("-", "_"), help=help_text)
        parser.addini(key, help_text, default=None)
    group.addoption("--litert-baseline", dest="litert_baseline", default=None, metavar="DIR",
                    help="compare every cell with its record in DIR (missing: written, and the test fails)")
    parser.addini("litert_baseline", "baseline directory (see --litert-baseline)", default=None)
    group.addoption("--litert-baseline-update", dest="litert_baseline_update", action="store_true", default=False,
                    help="rewrite the baselines from this run; each rewritten cell fails once")
    parser.addini("litert_baseline_tolerance", "how much a check's worst error may grow, as a fraction of its "
                  "bound, before a baseline comparison fails (default 0.1)", default="0.1")
    group.addoption("--litert-report-json", dest="litert_report_json", default=None, metavar="PATH",
                    help="write one JSON record per cell (verdict, errors, bounds, kernel facts, toolchain)")
    group.addoption("--litert-html", dest="litert_html", default=None, metavar="PATH",
                    help="write the run as one self-contained HTML page (the matrix grid; a cell's checks on click)")
    group.addoption("--litert-model", dest="litert_model", action="append", default=[], metavar="PATH",
                    help="a .tflite of your own to judge (repeatable; a whole model: one test per matrix "
                    "operator); needs --litert-reference")
    group.addoption("--litert-reference", dest="litert_reference", action="append", default=[],
                    metavar="PATH", help="the saved Keras model (.keras) each --litert-model came from, or 'none' "
                    "to judge a whole model from its file alone")
    for name, help_text in _FLAGS:
        flag, key = f"--litert-{name}", f"litert_{name.replace('-', '_')}"
        group.addoption(flag, dest=key, action="store_true", default=None, help=help_text)
        parser.addini(key, help_text, type="bool", default=False)


def _option(config: pytest.Config, key: str) -> str | bool | None:
    """The flag wins over the ini key."""
    value = config.getoption(key)
    if value is None:
        value = config.getini(key)
    return value if value not in (None, "") else None


def parse_settings(config: pytest.Config, extra_targets: tuple[str, ...]) -> Settings:
    """The run's Settings; `extra_targets` are the names other plugins add (hookspecs.py)."""
    names = [name.replace("-", "_") for name, _ in (*_OPTIONS, *_FLAGS)]
    try:
        raw: dict[str, str | bool | None] = {name: _option(config, f"litert_{name}") for name in names}
        raw["verbose"] = int(config.getoption("verbose", 0) or 0) > 0
        return Settings.parse(raw, extra_targets=extra_targets)
    except SettingError as error:
        raise pytest.UsageError(f"pytest-litert: --litert-{error.key.replace('_', '-')}: {error}") from None


def given(config: pytest.Config) -> bool:
    """Whether the user gave any litert option or ini key (the plugin is then in play)."""
    names = [name.replace("-", "_") for name, _ in (*_OPTIONS, *_FLAGS)]
    return (any(_option(config, f"litert_{name}") for name in names)
            or bool(config.getoption("litert_model")) or bool(config.getoption("litert_report_json"))
            or bool(config.getoption("litert_html"))
            or bool(config.getoption("litert_baseline") or config.getini("litert_baseline")))


def recording_options(config: pytest.Config, settings: Settings) -> RecordingOptions:
    directory = config.getoption("litert_baseline") or config.getini("litert_baseline")
    report = config.getoption("litert_report_json")
    try:
        tolerance = parse_tolerance(config.getini("litert_baseline_tolerance"))
    except ValueError as error:
        raise pytest.UsageError(f"pytest-litert: {error}") from None
    update = bool(config.getoption("litert_baseline_update"))
    bundle = None
    if settings.bundle is not None:
        from pytest_litert.model.bundle import open_bundle

        bundle = {"path": str(settings.bundle), "toolchain": open_bundle(settings.bundle).toolchain}
    page = config.getoption("litert_html")
    return RecordingOptions(Path(str(directory)) if directory else None, update, tolerance,
                            Path(report) if report else None, settings.seed, bundle, Path(page) if page else None)


def artifacts_dir(config: pytest.Config) -> Path:
    given = _option(config, "litert_artifacts_dir")
    if given:
        return Path(str(given))
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("litert-artifacts"))
    return Path(tempfile.mkdtemp(prefix="litert-artifacts-"))


NO_REFERENCE = "none"  # --litert-reference=none: a whole model judged from its file alone


def user_models(config: pytest.Config) -> list[tuple[Path, Path | None]]:
    """Pairs of (--litert-model, --litert-reference or None); one reference may serve every model."""
    models = [Path(p) for p in config.getoption("litert_model")]
    references = [None if p == NO_REFERENCE else Path(p) for p in config.getoption("litert_reference")]
    if not models and not references:
        return []
    if len(references) == 1:
        references *= len(models)
    if not models or len(references) != len(models):
        raise pytest.UsageError(
            f"pytest-litert: {len(models)} --litert-model and {len(references)} --litert-reference given; "
            "give one --litert-reference (the saved Keras model) per --litert-model, or one for all"
        )
    for flag, path in [*(("--litert-model", m) for m in models), *(("--litert-reference", r) for r in references)]:
        if path is not None and not path.is_file():
            raise pytest.UsageError(f"pytest-litert: {flag}={path}: no such file")
    return list(zip(models, references, strict=True))

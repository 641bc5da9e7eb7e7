"""pytest hooks and thin fixtures; the work happens in session.py and below."""

from __future__ import annotations

import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pytest_litert import toolchain
from pytest_litert.judge.verdict import Status, Verdict
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.model.flatbuffer import ModelInspection
from pytest_litert.plugin.profiles import load_default_profile
from pytest_litert.plugin.properties import PropertyHarness
from pytest_litert.plugin.recording import RecordingOptions, RunRecorder, parse_tolerance
from pytest_litert.report.table import CellSummary, counts, render_table
from pytest_litert.session import TARGETS, Runner, Settings, TargetUnavailable
from pytest_litert.usermodel import ModelMismatchError, check

settings_key = pytest.StashKey[Settings]()
recorder_key = pytest.StashKey[RunRecorder]()
artifacts_key = pytest.StashKey[Path]()
user_models_key = pytest.StashKey[list[tuple[Path, Path]]]()
runner_key = pytest.StashKey[Runner]()
_SUMMARY_PROPERTY = "litert_summary"
_LABEL_PROPERTY = "litert_cell"

_OPTIONS = (
    ("artifacts-dir", "where failing property examples are written as repro bundles "
                      "(default: the pytest cache, .pytest_cache/d/litert-artifacts)"),
    ("ops", "comma list of operators to test (default: all)"),
    ("recipes", "comma list of recipes to test (default: all)"),
    ("seed", "seed for weights, calibration and inputs (default: 0)"),
    ("cache-dir", "directory of converted models; 'none' disables it (default: ~/.cache/pytest-litert/cells)"),
    ("target", f"where LiteRT runs: {', '.join(TARGETS)} (default: host, a crash-isolated worker; "
               "qemu-* need `pytest-litert emulator setup`)"),
    ("svl", "qemu-sme2 only: comma list of SME streaming vector lengths in bytes to sweep (16,32,64,128,256)"),
)
_USER_MODEL_TEST = Path(__file__).parent.parent / "suite" / "test_user_model.py"
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
    group.addoption("--litert-model", dest="litert_model", action="append", default=[], metavar="PATH",
                    help="a .tflite of your own to judge (repeatable); needs --litert-reference")
    group.addoption("--litert-reference", dest="litert_reference", action="append", default=[],
                    metavar="PATH", help="the saved Keras model (.keras) each --litert-model came from")
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


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "litert: a cell of the operator x quantization matrix (added by pytest-litert)"
    )
    config.addinivalue_line(
        "markers",
        "sme2: a cell the seed table lists as KleidiAI SME2-accelerated; skipped where the target has "
        "no SME2 (--litert-target=qemu-sme2 emulates it; --litert-require-sme2 fails instead)",
    )
    config.addinivalue_line(
        "markers", "qemu: needs the emulated target (`pytest-litert emulator setup`); skipped without it"
    )
    names = [name.replace("-", "_") for name, _ in (*_OPTIONS, *_FLAGS)]
    try:
        settings = Settings.parse({name: _option(config, f"litert_{name}") for name in names})
    except ValueError as error:
        flags = ", ".join(f"--litert-{name}" for name, _ in _OPTIONS)
        raise pytest.UsageError(f"pytest-litert: {error} (options: {flags})") from None
    config.stash[settings_key] = settings
    config.stash[runner_key] = Runner(settings)
    config.stash[artifacts_key] = _artifacts_dir(config)
    if config.getoption("hypothesis_profile", None) is None:
        load_default_profile()
    config.stash[user_models_key] = _user_models(config)
    if config.stash[user_models_key]:
        config.args.append(str(_USER_MODEL_TEST))
    config.pluginmanager.register(MatrixSummary(settings), "litert-matrix-summary")
    config.stash[recorder_key] = RunRecorder(_recording_options(config, settings))
    config.pluginmanager.register(config.stash[recorder_key], "litert-recorder")


def _recording_options(config: pytest.Config, settings: Settings) -> RecordingOptions:
    directory = config.getoption("litert_baseline") or config.getini("litert_baseline")
    report = config.getoption("litert_report_json")
    try:
        tolerance = parse_tolerance(config.getini("litert_baseline_tolerance"))
    except ValueError as error:
        raise pytest.UsageError(f"pytest-litert: {error}") from None
    update = bool(config.getoption("litert_baseline_update"))
    return RecordingOptions(Path(str(directory)) if directory else None, update, tolerance,
                            Path(report) if report else None, settings.seed)


def _artifacts_dir(config: pytest.Config) -> Path:
    given = _option(config, "litert_artifacts_dir")
    if given:
        return Path(str(given))
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("litert-artifacts"))
    return Path(tempfile.mkdtemp(prefix="litert-artifacts-"))


def _user_models(config: pytest.Config) -> list[tuple[Path, Path]]:
    """Pairs of (--litert-model, --litert-reference); one reference may serve every model."""
    models = [Path(p) for p in config.getoption("litert_model")]
    references = [Path(p) for p in config.getoption("litert_reference")]
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
        if not path.is_file():
            raise pytest.UsageError(f"pytest-litert: {flag}={path}: no such file")
    return list(zip(models, references, strict=True))


def pytest_unconfigure(config: pytest.Config) -> None:
    runner = config.stash.get(runner_key, None)
    if runner is not None:
        runner.close()


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[settings_key]
    return [
        f"litert: {toolchain.describe()}",
        f"litert: seed {settings.seed}, target {settings.target}, cache {settings.cache_dir or 'off'}"
        f" (reproduce with --litert-seed={settings.seed})",
        f"litert: {config.stash[runner_key].sme2_status.describe()}",
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    settings = metafunc.config.stash[settings_key]
    if "litert_cell" in metafunc.fixturenames:
        cells = settings.cells()
        metafunc.parametrize("litert_cell", cells, ids=[c.id for c in cells], scope="session")
    if "litert_user_model" in metafunc.fixturenames:
        pairs = metafunc.config.stash[user_models_key]
        metafunc.parametrize("litert_user_model", pairs, ids=[m.name for m, _ in pairs], scope="session")
    if "litert_sme2_cell" in metafunc.fixturenames:
        cells = [cell for cell in settings.cells() if cell.sme2]
        metafunc.parametrize("litert_sme2_cell", cells, ids=[c.id for c in cells], scope="session")
    if "litert_svl" in metafunc.fixturenames and settings.svls != (None,):
        metafunc.parametrize("litert_svl", settings.svls, ids=[f"svl{v}" for v in settings.svls], scope="session")


@pytest.fixture(scope="session")
def litert_svl() -> int | None:
    """The streaming vector length under test (parametrized by --litert-svl), else None."""
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """sme2 cells need SME2 on the target: skip naming what is missing, or fail when required."""
    if item.get_closest_marker("sme2") is None:
        return
    runner = item.config.stash[runner_key]
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
        if isinstance(cell, Cell):
            item.add_marker(pytest.mark.litert)
            if "litert_sme2_cell" in params:
                item.add_marker(pytest.mark.sme2)
            item.user_properties.append((_LABEL_PROPERTY, cell.label))


@pytest.fixture(scope="session")
def litert_runner(pytestconfig: pytest.Config) -> Runner:
    """Converts through the cache and runs cells on the selected target."""
    return pytestconfig.stash[runner_key]


@dataclasses.dataclass(frozen=True)
class LitertModel:
    """A converted cell: its .tflite bytes, what they contain, and the Keras reference."""

    cell: Cell
    artifact: CellArtifact

    @property
    def tflite(self) -> bytes:
        return self.artifact.model

    @property
    def inspection(self) -> ModelInspection:
        return self.artifact.inspection


@pytest.fixture(scope="session")
def litert_model(litert_cell: Cell, litert_runner: Runner) -> LitertModel:
    return _convert(litert_cell, litert_runner)


def _convert(cell: Cell, runner: Runner) -> LitertModel:
    built = runner.build(cell)
    if isinstance(built, Verdict):
        assert_verdict(built)  # skips (missing dependency) or fails (conversion error)
        raise AssertionError(f"unreachable: {built.status}")
    return LitertModel(cell, built)


@pytest.fixture
def litert_verdict(request: pytest.FixtureRequest, litert_model: LitertModel, litert_runner: Runner,
                   litert_svl: int | None) -> Verdict:
    """The judged cell; recorded for the summary table (also across xdist workers)."""
    return _judge(request, litert_model, litert_runner, litert_svl)


@pytest.fixture
def litert_sme2_verdict(request: pytest.FixtureRequest, litert_sme2_cell: Cell, litert_runner: Runner,
                        litert_svl: int | None) -> Verdict:
    """A seed SME2 cell judged on a target with SME2 (the test skips before this without it);
    on the emulated target the verdict includes the kernel proof and the NEON A/B lane."""
    return _judge(request, _convert(litert_sme2_cell, litert_runner), litert_runner, litert_svl)


def _judge(request: pytest.FixtureRequest, model: LitertModel, runner: Runner, svl: int | None) -> Verdict:
    try:
        verdict = runner.evaluate(model.cell, model.artifact, svl)
    except TargetUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    summary = CellSummary.of(verdict)
    request.node.user_properties.append((_SUMMARY_PROPERTY, json.dumps(summary.as_dict())))
    request.config.stash[recorder_key].judge(request.node, model.cell, model.artifact, verdict)
    return verdict


@pytest.fixture(scope="session")
def litert_properties(pytestconfig: pytest.Config, litert_runner: Runner) -> PropertyHarness:
    """Judges hypothesis-drawn (shape, weights, inputs) examples; writes repro bundles."""
    return PropertyHarness(litert_runner, pytestconfig.stash[artifacts_key])


@pytest.fixture
def litert_user_verdict(request: pytest.FixtureRequest, litert_user_model: tuple[Path, Path],
                        litert_runner: Runner) -> Verdict:
    """A --litert-model judged against its --litert-reference with the matrix's checks."""
    tflite, reference = litert_user_model
    try:
        verdict = check(tflite, reference, seed=litert_runner.settings.seed,
                        target=litert_runner.target(litert_runner.settings.svls[0]))
    except (ModelMismatchError, ValueError) as error:
        pytest.fail(f"{tflite}: {error}", pytrace=False)
    request.node.user_properties.append(("litert_user_model", str(tflite)))
    return verdict


def assert_verdict(verdict: Verdict) -> None:
    """Map a verdict onto pytest outcomes: fail, skip (not produced), xfail (finding)."""
    if verdict.status == Status.FAIL:
        pytest.fail(verdict.explain(), pytrace=False)
    if verdict.status in {Status.NOT_PRODUCED, Status.SKIPPED}:
        pytest.skip(verdict.reason)
    if verdict.status == Status.FINDING:
        pytest.xfail(f"known finding: {verdict.reason}")


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    """In -v, follow the outcome with the cell's seed-table row."""
    label = next((str(v) for n, v in getattr(report, "user_properties", ()) if n == _LABEL_PROPERTY), None)
    if label is None or report.when != "call":
        return None
    if hasattr(report, "wasxfail"):
        return "xfailed", "x", (f"XFAIL ({label})", {"yellow": True})
    if report.passed:
        return "passed", ".", (f"PASSED ({label})", {"green": True})
    if report.skipped:
        return "skipped", "s", (f"SKIPPED ({label})", {"yellow": True})
    return "failed", "F", (f"FAILED ({label})", {"red": True})


class MatrixSummary:
    """Collects cell summaries from test reports (also those sent back by xdist workers)
    and prints the op x recipe table at the end of the session."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.summaries: dict[str, CellSummary] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == _SUMMARY_PROPERTY and report.when == "call":
                summary = CellSummary(**json.loads(str(value)))
                self.summaries[summary.cell_id] = summary

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.summaries:
            return
        summaries = list(self.summaries.values())
        terminalreporter.section("LiteRT operator x recipe matrix")
        terminalreporter.write_line(
            f"{toolchain.describe()}; seed {self.settings.seed}; target {self.settings.target}"
        )
        terminalreporter.write_line(render_table(summaries, self.settings.ops, self.settings.recipes))
        terminalreporter.write_line(", ".join(f"{n} {s}" for s, n in sorted(counts(summaries).items())))

"""`pytest-litert bench --sme2-ab`: the A/B machinery on the real LiteRT (both sides timed in
turn, round by round, judged by --compare's rank test), its output and saved run, and its
refusals: on x86 ("not an SME2 machine"), under emulation, and with options it cannot honour.

This machine has no SME2, so the two sides here are test doubles (bench_doubles.py): the real
LiteRT in this process, once as it is and once slowed on purpose."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest
from bench_doubles import SlowedInProcessTarget

from pytest_litert.bench import ab
from pytest_litert.bench.timing import BenchRefused, Budget, TimingTarget
from pytest_litert.cli import main
from pytest_litert.run.host_worker import WORKER_PREFIX_ENV
from pytest_litert.run.targets import InProcessTarget
from pytest_litert.session import Runner, Settings

SEED_FC = ["--ops=fully_connected", "--recipes=fp32", "--shapes=seed"]
QUICK = Budget(rounds=3, max_seconds=0.3, apis=("interpreter",))
on_x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the x86 refusal")


def _runner(shared_cache: Path) -> Runner:
    return Runner(Settings.from_strings("fully_connected", "fp32", None, str(shared_cache), shapes="seed"))


def _pair(neon: TimingTarget) -> ab.Pair:
    return lambda: {"sme2": InProcessTarget(), "neon": neon}


def test_a_slower_side_is_a_real_gain_and_the_run_saves(shared_cache: Path, tmp_path: Path) -> None:
    runner = _runner(shared_cache)
    lines: list[str] = []
    run = ab.sme2_ab(runner, runner.settings.cells(), QUICK, 0.10, pair=_pair(SlowedInProcessTarget()),
                     progress=lines.append)
    assert len(lines) == 3 and lines[0].startswith("[1/3] round 1/3 fully_connected-fp32-seed: sme2 interpreter")
    (result,) = run.results
    assert (result.cell_id, result.api, result.verdict) == ("fully_connected-fp32-seed", "interpreter", "faster")
    assert result.speedup > 1.5 and result.p_faster == pytest.approx(1 / 20)  # 3 + 3 rounds, all apart
    text = ab.render(run)
    assert "host (SME2) against host-nosme (SME hidden from getauxval), 3 interleaved rounds" in text
    row = next(line for line in text.splitlines() if line.startswith("fully_connected-fp32-seed"))
    assert row.endswith("SME2 faster") and f"{result.speedup:.2f}x" in row
    assert text.endswith("1 compared: 1 SME2 faster, 0 SME2 slower, 0 no gain (0 of them beyond the threshold but "
                         "within noise)\n")
    ab.save(run, tmp_path / "ab.json")
    saved = json.loads((tmp_path / "ab.json").read_text())
    assert saved["kind"] == "pytest-litert bench sme2-ab" and saved["sides"] == {"sme2": "host", "neon": "host-nosme"}
    assert len(saved["sme2"][0]["apis"]["interpreter"]["round_medians_ms"]) == 3
    assert saved["results"][0]["verdict"] == "faster"


def test_the_same_runtime_on_both_sides_is_no_gain(shared_cache: Path) -> None:
    runner = _runner(shared_cache)
    run = ab.sme2_ab(runner, runner.settings.cells(), QUICK, 0.25, pair=_pair(InProcessTarget()),
                     progress=lambda _: None)
    (result,) = run.results
    assert result.verdict in ("same", "noise")  # "no gain" is a result: 25% covers this machine's noise
    assert "no gain" in ab.render(run).splitlines()[-1]


@on_x86
def test_x86_is_not_an_sme2_machine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--sme2-ab", *SEED_FC]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pytest-litert bench: error: --sme2-ab: not an SME2 machine: the CPU does not report "
                          "SME2 (Linux x86_64 CPU) and the installed LiteRT has no KleidiAI SME2 kernels")
    assert err.count("\n") == 1


def test_emulation_is_refused_as_bench_refuses_it(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--sme2-ab", "--target=qemu-sme2", *SEED_FC]) == 2
    assert "timings under QEMU mean nothing" in capsys.readouterr().err
    monkeypatch.setenv(WORKER_PREFIX_ENV, '["qemu-aarch64", "-cpu", "max"]')  # what `emulator run` sets
    with pytest.raises(BenchRefused, match="timings under QEMU mean nothing"):
        ab.refuse_unless_sme2_machine(Runner(Settings.from_strings("fully_connected", "fp32", None, "none")))


@pytest.mark.parametrize("extra", [["--compare=old.json"], ["--sweep"], ["--anchor"]])
def test_options_it_cannot_honour_are_refused(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--sme2-ab", *SEED_FC, *extra]) == 2
    assert "--sme2-ab compares this machine with itself: drop --compare, --sweep, --plot and --anchor" in (
        capsys.readouterr().err)

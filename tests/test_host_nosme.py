"""The host-nosme target where it cannot run (x86, macOS) and what it is made of: the interposer
built by this machine's real C compiler, cached by source hash, proven by a preloaded child;
the errors that name the fix; the A/B lane's name and the side-by-side sme2~neon check.
Its real use, on an SME2 CPU, is tests/test_host_nosme_emulated.py."""

from __future__ import annotations

import platform
import shutil
from pathlib import Path

import numpy as np
import pytest

from pytest_litert.judge.checks import Check, ab_check
from pytest_litert.run import nosme, sme2
from pytest_litert.run.lanes import lanes_of
from pytest_litert.run.nosme import build
from pytest_litert.run.targets import InProcessTarget
from pytest_litert.session import TARGETS, Runner, Settings, TargetUnavailable, make_target

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler (cc) on this machine")
on_x86 = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the x86 refusal")


@needs_cc
def test_the_machine_compiler_builds_it_once_and_a_preloaded_child_proves_it(tmp_path: Path) -> None:
    first = build.interposer(tmp_path)
    assert first.compiler == ("cc",) and first.path.name == "libhide_sme.so"
    assert first.path.parent.name.endswith("-" + platform.machine())  # the guest shares this cache: keyed by CPU
    assert [p.name for p in first.path.parent.iterdir()] == ["libhide_sme.so"]  # no half-written build left
    again = build.interposer(tmp_path)
    assert again.path == first.path and again.compiler == ()  # from the cache
    seen = build.probe(first.path)
    assert seen["loaded"] is True
    assert not int(seen["hwcap2"]) & build.HWCAP2_SME_BITS and not int(seen["hwcap"]) & build.HWCAP_SME_BITS
    assert first.environment({"LD_PRELOAD": "/other.so"})["LD_PRELOAD"] == f"{first.path}:/other.so"


@needs_cc
def test_a_new_source_is_a_new_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    changed = tmp_path / "hide_sme.c"
    changed.write_text(build.SOURCE.read_text() + "\n/* changed */\n")
    original = build.library_path(tmp_path, "x86_64")
    monkeypatch.setattr(build, "SOURCE", changed)
    assert build.library_path(tmp_path, "x86_64") != original


def test_a_failed_build_leaves_nothing_and_says_why(tmp_path: Path) -> None:
    destination = tmp_path / "lib" / "libhide_sme.so"
    with pytest.raises(build.NosmeUnavailable, match=r"`false -shared .*` failed \(exit 1\)"):
        build.compile_library(["false"], destination)
    assert list(destination.parent.iterdir()) == []


def test_no_compiler_names_the_package_to_install() -> None:
    with pytest.raises(build.NosmeUnavailable) as missing:
        build.find_compiler(env={"CC": "no-such-cc"})
    assert "no-such-cc: not found" in str(missing.value) and "sudo apt install gcc" in str(missing.value)
    assert "xcode-select --install" in build.install_hint("Darwin")


@needs_cc
def test_a_compiler_for_another_cpu_is_not_this_machine_s() -> None:
    other = "aarch64" if platform.machine() != "aarch64" else "x86_64"
    with pytest.raises(build.NosmeUnavailable, match=f"no C compiler for {other}.*cc: builds for "):
        build.find_compiler(other, env={})


def test_refusals_are_one_line_each() -> None:
    mac = nosme.unsupported_reason("Darwin", "arm64")
    assert mac is not None and "sysctlbyname" in mac and "\n" not in mac
    x86 = nosme.unsupported_reason("Linux", "x86_64")
    assert x86 is not None and "there is no SME to hide" in x86
    assert nosme.unsupported_reason("Linux", "aarch64") is None


@on_x86
def test_on_x86_the_target_refuses_and_the_host_keeps_no_comparison_lane() -> None:
    assert "host-nosme" in TARGETS
    with pytest.raises(TargetUnavailable, match="--litert-target=host-nosme: this is an x86_64 machine: there is "
                       "no SME to hide"):
        make_target("host-nosme")
    runner = Runner(Settings.from_strings("fully_connected", "fp32", None, "none", "host-nosme"))
    status = runner.sme2_status
    assert not status.available and "no SME to hide" in status.describe()
    host = Runner(Settings.from_strings("fully_connected", "fp32", None, "none", "host"))
    assert host.comparison_target() is None and host.comparison_missing == ""


def test_status_on_an_sme2_host_without_a_compiler_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nosme.target, "unsupported_reason", lambda *_: None)  # as on Linux aarch64
    monkeypatch.setattr(nosme.target, "_proven", {})
    monkeypatch.setenv("CC", "no-such-cc")
    host = sme2.Sme2Status("host", True, True, True, "getauxval(AT_HWCAP2) bit 37")
    status = nosme.nosme_status(host, Path("/nonexistent-cache"))
    assert not status.available and "no C compiler" in status.reason and "apt install gcc" in status.reason


def test_the_comparison_lane_is_named_for_what_it_runs() -> None:
    from pytest_litert.matrix.cells import select_cells

    cell = select_cells("fully_connected", "fp32")[0]

    class Hidden(InProcessTarget):
        name = "host-nosme"

    assert [lane.name for lane in lanes_of(cell, InProcessTarget(), InProcessTarget())][-1] == "neon"
    assert [lane.name for lane in lanes_of(cell, Hidden(), InProcessTarget())][-1] == "sme2"


def test_sme2_neon_puts_both_lanes_against_keras_side_by_side() -> None:
    sme2_out, neon_out = np.array([1.0, 2.0], np.float32), np.array([1.0, 2.5], np.float32)
    against = (Check("sme2 vs keras", True, "", worst=0.0085), Check("neon vs keras", True, "", worst=0.0302))
    differ = ab_check(sme2_out, neon_out, against_keras=against)
    assert differ.passed and differ.message == ("differ by up to 0.5 (abs) on 1 of 2 elements; against Keras, as "
                                                "a fraction of the same bound: sme2 0.0085, neon 0.0302")
    assert ab_check(sme2_out, sme2_out.copy(), against_keras=against).message == "bitwise equal"

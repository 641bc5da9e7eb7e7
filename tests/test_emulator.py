"""Emulator setup helpers that need no network: mirror discovery, version picking, find()."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_litert.run.qemu import emulator

FAKE_MADISON = """\
 qemu-user | 1:11.1.3+ds-1~bpo13+1 | http://mirror.invalid/debian trixie-backports/main amd64 Packages
 qemu-user | 1:10.0.13+ds-0+deb13u1 | http://mirror.invalid/debian trixie/main amd64 Packages
"""


def test_mirror_from_deb822_sources_skips_security(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.mirror.invalid/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\n# URIs: http://commented.invalid/debian\nURIs: http://mirror.invalid/debian/\n"
    )
    assert emulator.debian_mirror(apt_dir=tmp_path) == "http://mirror.invalid/debian"


def test_mirror_from_one_line_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://mirror.invalid/debian bookworm main\n")
    assert emulator.debian_mirror(apt_dir=tmp_path) == "http://mirror.invalid/debian"


def test_mirror_override_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(emulator.MIRROR_ENV, raising=False)
    assert emulator.debian_mirror("http://given.invalid/", apt_dir=tmp_path) == "http://given.invalid"
    with pytest.raises(emulator.EmulatorSetupError, match="--mirror"):
        emulator.debian_mirror(apt_dir=tmp_path)


def test_madison_and_versions() -> None:
    offers = emulator.parse_madison(FAKE_MADISON)
    assert offers == {"trixie-backports": ["1:11.1.3+ds-1~bpo13+1"], "trixie": ["1:10.0.13+ds-0+deb13u1"]}
    assert emulator.upstream_version("1:11.1.3+ds-1~bpo13+1") == (11, 1)
    assert emulator.upstream_version("1:10.0.13+ds-0+deb13u1") < emulator.MIN_QEMU


def test_find_is_none_until_every_step_is_done(tmp_path: Path) -> None:
    assert emulator.find(tmp_path) is None
    paths = emulator.EmulatorPaths.under(tmp_path)
    for path in (paths.qemu, paths.python, paths.library, tmp_path / "verified"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("fake")
    assert emulator.find(tmp_path) == paths

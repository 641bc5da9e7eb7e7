"""Per-session state of the plugin, in the config's stash; the Runner is made on first use, so a
session without litert tests never imports numpy or LiteRT nor probes the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_litert.plugin.recording import RunRecorder
from pytest_litert.settings import Settings

if TYPE_CHECKING:
    from pytest_litert.session import Runner, TargetFactory

settings_key = pytest.StashKey[Settings]()
recorder_key = pytest.StashKey[RunRecorder]()
user_models_key = pytest.StashKey[list[tuple[Path, Path | None]]]()
targets_key = pytest.StashKey[dict[str, "TargetFactory"]]()
runner_key = pytest.StashKey["Runner"]()
header_key = pytest.StashKey[bool]()  # the litert report lines were shown


def runner(config: pytest.Config) -> Runner:
    """The session's Runner (converts through the cache, starts targets lazily)."""
    if runner_key not in config.stash:
        from pytest_litert.session import Runner

        config.stash[runner_key] = Runner(config.stash[settings_key], config.stash[targets_key])
    return config.stash[runner_key]


def close(config: pytest.Config) -> None:
    made = config.stash.get(runner_key, None)
    if made is not None:
        made.close()

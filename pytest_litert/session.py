"""Settings and shared state of one run, used by both the pytest plugin and the CLI."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
from collections.abc import Mapping
from pathlib import Path

from pytest_litert.convert.artifact import build_artifact
from pytest_litert.convert.cache import ConversionCache
from pytest_litert.convert.converter import ConversionError, MissingDependencyError
from pytest_litert.judge import verdict as judging
from pytest_litert.judge.verdict import Verdict, failed, skipped
from pytest_litert.matrix.cells import Cell, select_cells
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.run import sme2
from pytest_litert.run.lanes import run_cell
from pytest_litert.run.qemu import emulator
from pytest_litert.run.qemu.target import SVL_BYTES, QemuTarget
from pytest_litert.run.targets import InProcessTarget, Target, host_target

TARGETS = ("host", "inprocess", "qemu-sme2", "qemu-nosme")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-litert" / "cells"


def _flag(value: str | bool | None) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _svls(value: str | None, target: str) -> tuple[int | None, ...]:
    if not value:
        return (None,)
    try:
        svls = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"svl must be a comma list of byte counts, got {value!r}") from None
    bad = [v for v in svls if v not in SVL_BYTES]
    if bad:
        raise ValueError(f"svl {bad[0]} is not a streaming vector length; valid: {SVL_BYTES}")
    if target != "qemu-sme2":
        raise ValueError("svl sets QEMU's SME vector length: it needs target qemu-sme2")
    return svls


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a run covers; `parse` raises ValueError naming the bad value."""

    ops: tuple[str, ...]
    recipes: tuple[str, ...]
    seed: int
    cache_dir: Path | None
    target: str = "host"
    svls: tuple[int | None, ...] = (None,)
    require_sme2: bool = False
    require_sme2_kernels: bool = False

    @classmethod
    def parse(cls, raw: Mapping[str, str | bool | None]) -> Settings:
        """From option strings keyed ops, recipes, seed, cache_dir, target, svl, require_sme2..."""
        cells = select_cells(_text(raw, "ops"), _text(raw, "recipes"))  # validates both lists
        seed = _text(raw, "seed")
        try:
            seed_value = int(seed) if seed else 0
        except ValueError:
            raise ValueError(f"seed must be an integer, got {seed!r}") from None
        target = _text(raw, "target") or "host"
        if target not in TARGETS and not _is_factory(target):
            raise ValueError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}, or module:factory "
                             "(a callable returning a Target, e.g. for a phone over adb)")
        cache_dir = _text(raw, "cache_dir")
        directory = None if cache_dir in ("none", "off") else Path(cache_dir) if cache_dir else default_cache_dir()
        return cls(
            ops=tuple(dict.fromkeys(c.op.name for c in cells)),
            recipes=tuple(dict.fromkeys(c.recipe.name for c in cells)),
            seed=seed_value,
            cache_dir=directory,
            target=target,
            svls=_svls(_text(raw, "svl"), target),
            require_sme2=_flag(raw.get("require_sme2")),
            require_sme2_kernels=_flag(raw.get("require_sme2_kernels")),
        )

    @classmethod
    def from_strings(cls, ops: str | None, recipes: str | None, seed: str | int | None,
                     cache_dir: str | None, target: str | None = None) -> Settings:
        return cls.parse({"ops": ops, "recipes": recipes, "seed": None if seed is None else str(seed),
                          "cache_dir": cache_dir, "target": target})

    def cells(self) -> list[Cell]:
        return select_cells(self.ops, self.recipes)

    @property
    def emulated(self) -> bool:
        return self.target.startswith("qemu-")


def _text(raw: Mapping[str, str | bool | None], key: str) -> str | None:
    value = raw.get(key)
    return None if value in (None, "") else str(value)


class Runner:
    """Converts (through the cache) and evaluates cells on targets started lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ConversionCache(settings.cache_dir)
        self._targets: dict[tuple[str, int | None], Target] = {}

    def target(self, svl: int | None = None, name: str | None = None) -> Target:
        """The target for this run (one per SVL), or another by name (the NEON A/B lane)."""
        key = (name or self.settings.target, svl)
        if key not in self._targets:
            self._targets[key] = make_target(key[0], svl)
        return self._targets[key]

    def comparison_target(self) -> Target | None:
        """On the emulated SME2 target, the same CPU with SME off, for an A/B comparison."""
        if self.settings.target != "qemu-sme2":
            return None
        return self.target(None, "qemu-nosme")

    @functools.cached_property
    def sme2_status(self) -> sme2.Sme2Status:
        """SME2 on the selected target (probing the emulated guest costs ~1 s, once)."""
        if not self.settings.emulated:
            return sme2.host_status()
        paths = emulator.find()
        if paths is None:
            return sme2.Sme2Status(self.settings.target, False, False, False, "emulator",
                                   f"the emulated target is not set up: {emulator.SETUP_HINT}")
        probe = QemuTarget(paths, sme=self.settings.target == "qemu-sme2", capture_kernels=False)
        try:
            return probe.sme2_status()
        finally:
            probe.close()

    def artifact(self, cell: Cell) -> CellArtifact:
        """Raises convert.ConversionError / MissingDependencyError; callers use `build`."""
        return self.cache.get(cell, self.settings.seed, build_artifact)

    def build(self, cell: Cell) -> CellArtifact | Verdict:
        """The converted cell, or the verdict that says why there is none: skipped (an optional
        dependency is missing) or failed (the converter refused, in its own words). The one
        place conversion errors become outcomes, for the plugin, the CLI and fault injection."""
        try:
            return self.artifact(cell)
        except MissingDependencyError as error:
            return skipped(cell, str(error))
        except ConversionError as error:
            return failed(cell, f"conversion failed: {error}")

    def evaluate(self, cell: Cell, artifact: CellArtifact, svl: int | None = None) -> Verdict:
        return evaluate_cell(cell, artifact, self.target(svl), self.comparison_target(),
                             require_sme2_kernels=self.settings.require_sme2_kernels)

    def evaluate_cell(self, cell: Cell, svl: int | None = None) -> Verdict:
        """Build and judge; a conversion error becomes a failed verdict, not an exception."""
        built = self.build(cell)
        return built if isinstance(built, Verdict) else self.evaluate(cell, built, svl)

    def close(self) -> None:
        for target in self._targets.values():
            target.close()
        self._targets.clear()


def evaluate_cell(cell: Cell, artifact: CellArtifact, target: Target, comparison: Target | None = None,
                  *, require_sme2_kernels: bool = False) -> Verdict:
    """Run, then judge: the main layer is found once, the lanes run on `target` (plus the
    SME-off `comparison` for the A/B lane), and judging takes their outputs and facts."""
    layer = artifact.layer(cell.op)
    verdict = judging.unproduced(cell, artifact.inspection, layer)
    if verdict is not None:
        return verdict
    run = run_cell(cell, artifact, target, comparison)
    return judging.judge(cell, artifact, artifact.inspection, layer, run, require_sme2_kernels=require_sme2_kernels)


class TargetUnavailable(RuntimeError):
    """The selected target cannot be started here; the message says how to fix that."""


def _is_factory(spec: str) -> bool:
    module, _, attribute = spec.partition(":")
    return bool(module and attribute) and all(part.isidentifier() for part in [*module.split("."), attribute])


def make_target(name: str, svl: int | None = None) -> Target:
    """A target by name, or `module:factory` for targets this package does not ship."""
    if _is_factory(name):
        module, _, attribute = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise TargetUnavailable(f"--litert-target={name}: cannot load it ({error})") from error
        target: Target = factory()
        return target
    if name == "inprocess":
        return InProcessTarget()
    if name == "host":
        return host_target()
    paths = emulator.find()
    if paths is None:
        raise TargetUnavailable(f"--litert-target={name}: the emulated target is not set up: {emulator.SETUP_HINT}")
    return QemuTarget(paths, sme=name == "qemu-sme2", svl=svl, capture_kernels=name == "qemu-sme2")

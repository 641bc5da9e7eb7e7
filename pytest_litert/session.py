"""The shared state of one run (used by the pytest plugin and the CLI): build, run, then judge."""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable, Mapping

from pytest_litert.convert.artifact import build_artifact
from pytest_litert.convert.cache import ConversionCache
from pytest_litert.convert.converter import ConversionError, MissingDependencyError
from pytest_litert.judge import verdict as judging
from pytest_litert.judge.checks import Check
from pytest_litert.judge.verdict import Status, Verdict, failed, skipped
from pytest_litert.matrix.cells import Cell
from pytest_litert.model.artifact import CellArtifact
from pytest_litert.model.bundle import BundleError, open_bundle
from pytest_litert.run import nosme, sme2
from pytest_litert.run.lanes import run_cell
from pytest_litert.run.qemu import emulator
from pytest_litert.run.qemu.target import QemuTarget
from pytest_litert.run.targets import InProcessTarget, Target, host_target
from pytest_litert.settings import TARGETS, Settings, default_cache_dir, is_factory

__all__ = ["TARGETS", "Runner", "Settings", "TargetUnavailable", "default_cache_dir", "evaluate_cell", "make_target"]

TargetFactory = Callable[[int | None], Target]


class Runner:
    """Converts (through the cache) and evaluates cells on targets started lazily."""

    def __init__(self, settings: Settings, target_factories: Mapping[str, TargetFactory] | None = None) -> None:
        """`target_factories`: targets other plugins add by name (plugin/hookspecs.py)."""
        self.settings = settings
        self.cache = ConversionCache(settings.cache_dir)
        self.target_factories = dict(target_factories or {})
        self._targets: dict[tuple[str, int | None], Target] = {}
        self.comparison_missing = ""  # why an SME2 host runs without its NEON lane (no compiler, say)

    def target(self, svl: int | None = None, name: str | None = None) -> Target:
        """The target for this run (one per SVL), or another by name (the NEON A/B lane)."""
        key = (name or self.settings.target, svl)
        if key not in self._targets:
            factory = self.target_factories.get(key[0])
            self._targets[key] = factory(svl) if factory is not None else make_target(key[0], svl)
        return self._targets[key]

    def comparison_target(self) -> Target | None:
        """The A/B lane's target, the same machine with SME2 the other way: qemu-nosme beside
        qemu-sme2, host-nosme beside an SME2 Linux host, the plain host beside host-nosme."""
        name = {"qemu-sme2": "qemu-nosme", nosme.HOST_NOSME: "host"}.get(self.settings.target)
        if name is not None:
            return self.target(None, name)
        if self.settings.target != "host" or self.comparison_missing or not self._can_hide_sme2():
            return None
        try:
            return self.target(None, nosme.HOST_NOSME)
        except TargetUnavailable as error:
            self.comparison_missing = str(error)
            return None

    def _can_hide_sme2(self) -> bool:
        return nosme.unsupported_reason() is None and self.sme2_status.available

    @functools.cached_property
    def sme2_status(self) -> sme2.Sme2Status:
        """SME2 on the selected target (probing the emulated guest costs ~1 s, once)."""
        if self.settings.target == nosme.HOST_NOSME:
            return nosme.nosme_status(sme2.host_status())
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
        """Raises convert.ConversionError / MissingDependencyError / BundleError; callers use `build`."""
        if self.settings.bundle is not None:
            found = open_bundle(self.settings.bundle).artifact(cell)
        else:
            build = functools.partial(build_artifact, echo=self.settings.verbose)
            found = self.cache.get(cell, self.settings.seed, build)
        return found.first_draws(self.settings.draws)

    def build(self, cell: Cell) -> CellArtifact | Verdict:
        """The converted cell, or the verdict that says why there is none: skipped (an optional
        dependency is missing), failed (no TensorFlow; a damaged bundle; the converter refused,
        in its own words). The one
        place conversion errors become outcomes, for the plugin, the CLI and fault injection."""
        try:
            if self.settings.bundle is not None:
                outcome = open_bundle(self.settings.bundle).entry_of(cell).outcome
                if outcome.get("status") == "skipped":
                    return skipped(cell, f"when the bundle was made: {outcome['reason']}")
                if outcome.get("status") == Status.NOT_PRODUCED:  # export writes no model for it
                    return Verdict(cell.id, Status.NOT_PRODUCED, (), str(outcome["reason"]).splitlines()[0])
            return self.artifact(cell)
        except BundleError as error:
            return failed(cell, f"bundle: {error}")
        except MissingDependencyError as error:
            return failed(cell, str(error)) if error.extra == "convert" else skipped(cell, str(error))
        except ConversionError as error:
            return failed(cell, f"conversion failed: {error}")

    def evaluate(self, cell: Cell, artifact: CellArtifact, svl: int | None = None) -> Verdict:
        verdict = evaluate_cell(cell, artifact, self.target(svl), self.comparison_target(),
                                require_sme2_kernels=self.settings.require_sme2_kernels,
                                strict_findings=self.settings.findings == "strict")
        if not self.comparison_missing or verdict.status in (judging.Status.SKIPPED, judging.Status.NOT_PRODUCED):
            return verdict
        note = Check("sme2~neon", True, f"not compared: this SME2 host has no NEON lane ({self.comparison_missing})")
        return dataclasses.replace(verdict, checks=(*verdict.checks, note))

    def evaluate_cell(self, cell: Cell, svl: int | None = None) -> Verdict:
        """Build and judge; a conversion error becomes a failed verdict, not an exception."""
        built = self.build(cell)
        return built if isinstance(built, Verdict) else self.evaluate(cell, built, svl)

    def converts(self, cell: Cell) -> bool:
        """Whether `build(cell)` would run the converter (no bundle, not in the cache)."""
        return self.settings.bundle is None and not self.cache.holds(cell, self.settings.seed)

    def close(self) -> None:
        for target in self._targets.values():
            target.close()
        self._targets.clear()


def evaluate_cell(cell: Cell, artifact: CellArtifact, target: Target, comparison: Target | None = None,
                  *, require_sme2_kernels: bool = False, strict_findings: bool = False) -> Verdict:
    """Run, then judge: the main layer is found once, the lanes run on `target` (plus the
    SME-off `comparison` for the A/B lane), and judging takes their outputs and facts.
    `strict_findings`: a matrix cell's known finding that no longer reproduces fails it."""
    layer = artifact.layer(cell.op)
    verdict = judging.unproduced(cell, artifact.inspection, layer)
    if verdict is not None:
        return verdict
    run = run_cell(cell, artifact, target, comparison)
    return judging.judge(cell, artifact, artifact.inspection, layer, run, require_sme2_kernels=require_sme2_kernels,
                         strict_findings=strict_findings)


class TargetUnavailable(RuntimeError):
    """The selected target cannot be started here; the message says how to fix that."""


def make_target(name: str, svl: int | None = None) -> Target:
    """A target by name, or `module:factory` for targets this package does not ship."""
    if is_factory(name):
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
    if name == nosme.HOST_NOSME:
        try:
            return nosme.host_nosme_target()
        except nosme.NosmeUnavailable as error:
            raise TargetUnavailable(f"--litert-target={name}: {error}") from error
    paths = emulator.find()
    if paths is None:
        raise TargetUnavailable(f"--litert-target={name}: the emulated target is not set up: {emulator.SETUP_HINT}")
    return QemuTarget(paths, sme=name == "qemu-sme2", svl=svl, capture_kernels=name == "qemu-sme2")

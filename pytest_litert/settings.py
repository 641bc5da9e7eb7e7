"""What a run covers: the options of the plugin and the command line, parsed and checked.

Light on purpose (no numpy, LiteRT or TensorFlow): pytest parses these in every session the
plugin is installed in, litert tests or not.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pytest_litert.matrix.cells import Cell, parse_names, select_cells
from pytest_litert.matrix.kernel_types import SVL_BYTES
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.shapes import DEFAULT_SET, SHAPE_SETS
from pytest_litert.model.bundle import BundleError, open_bundle

TARGETS = ("host", "host-nosme", "inprocess", "qemu-sme2", "qemu-nosme")


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
    draws: int | None = None  # judge only the first N input draws of each cell (None: all)
    verbose: bool = False  # show what TensorFlow prints while converting (pytest -v, CLI -v)
    bundle: Path | None = None  # judge this exported bundle's cells instead of converting
    shape_sets: tuple[str, ...] | None = None  # None: the default set (with a bundle, every set it holds)
    findings: str = "strict"  # a known finding that no longer reproduces: "strict" fails it, "report" says so

    @classmethod
    def parse(cls, raw: Mapping[str, str | bool | None], *, extra_targets: tuple[str, ...] = ()) -> Settings:
        """From option strings keyed ops, recipes, seed, cache_dir, target, svl, require_sme2..."""
        shapes = _text(raw, "shapes")
        for key, valid, what in _NAMED:
            _checked(key, parse_names, _text(raw, key), valid, what)
        cells = select_cells(_text(raw, "ops"), _text(raw, "recipes"), shapes or DEFAULT_SET)
        seed = _text(raw, "seed")
        try:
            seed_value = int(seed) if seed else 0
        except ValueError:
            raise SettingError("seed", f"seed must be an integer, got {seed!r}") from None
        target = _text(raw, "target") or "host"
        if target not in (*TARGETS, *extra_targets) and not is_factory(target):
            raise SettingError("target", f"unknown target {target!r}; valid: {', '.join((*TARGETS, *extra_targets))}, "
                               "or module:factory (a callable returning a Target, e.g. for a phone over adb)")
        bundle = _checked("bundle", _bundle, _text(raw, "bundle"))
        if bundle is not None and not seed:
            seed_value = open_bundle(bundle).seed
        cache_dir = _text(raw, "cache_dir")
        directory = None if cache_dir in ("none", "off") else Path(cache_dir) if cache_dir else default_cache_dir()
        return cls(
            ops=tuple(dict.fromkeys(c.op.name for c in cells)),
            recipes=tuple(dict.fromkeys(c.recipe.name for c in cells)),
            seed=seed_value,
            cache_dir=directory,
            target=target,
            svls=_checked("svl", _svls, _text(raw, "svl"), target),
            require_sme2=_flag(raw.get("require_sme2")),
            require_sme2_kernels=_flag(raw.get("require_sme2_kernels")),
            draws=_checked("draws", _draws, _text(raw, "draws")),
            verbose=_flag(raw.get("verbose")),
            bundle=bundle,
            shape_sets=None if shapes is None else tuple(dict.fromkeys(c.shape_set for c in cells)),
            findings=_checked("findings", _findings, _text(raw, "findings")),
        )

    @classmethod
    def from_strings(cls, ops: str | None, recipes: str | None, seed: str | int | None,
                     cache_dir: str | None, target: str | None = None, *, verbose: bool = False,
                     bundle: str | None = None, shapes: str | None = None) -> Settings:
        return cls.parse({"ops": ops, "recipes": recipes, "seed": None if seed is None else str(seed),
                          "cache_dir": cache_dir, "target": target, "verbose": verbose, "bundle": bundle,
                          "shapes": shapes})

    def cells(self) -> list[Cell]:
        """The selected cells; with a bundle, the bundle's cells among them."""
        if self.bundle is not None:
            return [bundled.cell for bundled in open_bundle(self.bundle).select(self.ops, self.recipes,
                                                                                  self.shape_sets)]
        return select_cells(self.ops, self.recipes, self.shape_sets or DEFAULT_SET)

    @property
    def selected_shape_sets(self) -> tuple[str, ...]:
        """The shape sets the cells come from, in order (the first is the property tests')."""
        return tuple(dict.fromkeys(cell.shape_set for cell in self.cells())) or (DEFAULT_SET,)

    @property
    def emulated(self) -> bool:
        return self.target.startswith("qemu-")


_NAMED = (("ops", OPS, "op"), ("recipes", RECIPES, "recipe"), ("shapes", SHAPE_SETS, "shape set"))


class SettingError(ValueError):
    """A bad setting; `key` names it (`ops`, `seed`, ...), so each front end names its own flag."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _checked(key: str, parse: Callable[..., Any], *args: Any) -> Any:
    """`parse(*args)`, its ValueError tagged with the setting it is about."""
    try:
        return parse(*args)
    except SettingError:
        raise
    except ValueError as error:
        raise SettingError(key, str(error)) from None


def _draws(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"draws must be a positive count, got {value!r}")
    return int(value)


def _bundle(value: str | None) -> Path | None:
    """The bundle's directory, its index read and checked (json only); ValueError otherwise."""
    if value is None:
        return None
    directory = Path(value).resolve()
    try:
        open_bundle(directory)
    except BundleError as error:
        raise ValueError(str(error)) from None
    return directory


FINDINGS_MODES = ("strict", "report")


def _findings(value: str | None) -> str:
    if value is None:
        return "strict"
    if value not in FINDINGS_MODES:
        raise ValueError(f"findings must be one of {', '.join(FINDINGS_MODES)}, got {value!r}")
    return value


def _text(raw: Mapping[str, str | bool | None], key: str) -> str | None:
    value = raw.get(key)
    return None if value in (None, "") else str(value)


def is_factory(spec: str) -> bool:
    """`module:factory`: a callable returning a Target, for targets this package does not ship."""
    module, _, attribute = spec.partition(":")
    return bool(module and attribute) and all(part.isidentifier() for part in [*module.split("."), attribute])

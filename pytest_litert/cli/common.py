"""What every command shares: the refusal, the cell selection, --jobs, the overwrite guard."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from pytest_litert.convert.keras_models import TENSORFLOW_HINT
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.shapes import SHAPE_SETS
from pytest_litert.session import Settings


class Refused(Exception):
    """A command that cannot run as asked: printed as `pytest-litert <command>: error: ...`, exit 2."""


def add_selection(parser: argparse.ArgumentParser, shapes_default: str = "ci") -> None:
    parser.add_argument("--ops", help=f"comma list of operators (default all: {','.join(OPS)})")
    parser.add_argument("--recipes", help=f"comma list of recipes (default all: {','.join(RECIPES)})")
    parser.add_argument("--shapes",
                        help=f"comma list of shape sets (default {shapes_default}; {','.join(SHAPE_SETS)}, or all)")
    parser.add_argument("--seed", default=None,
                        help="seed for weights, calibration and inputs (default 0; with --bundle, the bundle's)")
    parser.add_argument("--cache-dir", help="conversion cache ('none' disables; default ~/.cache/pytest-litert/cells)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show what TensorFlow prints while converting (kept back otherwise, unless it fails)")


def add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", "-j", default="auto", metavar="N",
                        help="worker processes converting and judging cells (default auto: one per core; 1 = serial)")


def refuse_existing(*paths: Path | None, force: bool) -> None:
    """Nothing a user wrote is overwritten without --force."""
    for path in paths:
        if path is not None and path.exists() and not force:
            raise Refused(f"{path} exists; pass --force to overwrite it")


def refuse_without_matplotlib(plot: Path | None) -> None:
    """A --plot asked for where the `plot` extra is not installed: refused before any work."""
    if plot is not None and importlib.util.find_spec("matplotlib") is None:
        from pytest_litert.bench.plot import PLOT_HINT

        raise Refused(PLOT_HINT)


def settings_of(args: argparse.Namespace) -> Settings:
    """The selection options as Settings; refused without TensorFlow unless a bundle is judged."""
    bundle = getattr(args, "bundle", None)
    settings = Settings.from_strings(args.ops, args.recipes, args.seed, args.cache_dir, getattr(args, "target", None),
                                     verbose=args.verbose, bundle=None if bundle is None else str(bundle),
                                     shapes=args.shapes)
    if settings.bundle is None and importlib.util.find_spec("tensorflow") is None:
        hint = "pass --bundle DIR to judge an exported bundle" if hasattr(args, "bundle") else ""
        raise Refused(f"{TENSORFLOW_HINT}{'; or ' + hint if hint else ''}")
    return settings

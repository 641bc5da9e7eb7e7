"""The `pytest-litert` command line: argument parsing only; each command's work lives in its stage."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pytest_litert import jobs
from pytest_litert.bench.plot import PlotError
from pytest_litert.bench.timing import BenchRefused
from pytest_litert.cli import bench as cli_bench
from pytest_litert.cli import faults as cli_faults
from pytest_litert.cli.common import Refused, add_jobs, add_selection, refuse_existing, settings_of
from pytest_litert.report import coverage, export, matrix_run, rundiff
from pytest_litert.run.qemu import emulator, guest_shell
from pytest_litert.session import TARGETS, TargetUnavailable
from pytest_litert.settings import SettingError

DESCRIPTION = """\
Checks that LiteRT models converted from Keras are right and fast: every operator x quantization
recipe of the KleidiAI SME2 table, judged against Keras within derived bounds, with the kernels
that ran and their speed.

common tasks:
  pytest-litert matrix                              judge every cell on this machine, print the table
  pytest-litert check MODEL.tflite [MODEL.keras]    judge your own converted model (a whole one: op by op)
  pytest-litert export DIR                          models and a bundle for a phone or an Arm board
  pytest-litert bench [--compare OLD.json]          time every cell; gate an upgrade on speed
  pytest-litert doctor                              what this machine and LiteRT build can prove about SME2
  pytest-litert report RUN.json --html OUT.html     the matrix as one HTML page
  pytest-litert diff OLD.json NEW.json              what changed between two recorded runs
  pytest-litert merge SHARD.json ... --json ALL.json  join a sharded nightly's runs into one
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pytest-litert", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="write the bundle: per cell the model, its inputs, the Keras "
                                    "outputs and weights (judged elsewhere with --litert-bundle), plus manifest.json")
    exporting.add_argument("directory", type=Path)
    exporting.add_argument("--force", action="store_true", help="overwrite files that already exist")
    exporting.add_argument("--property-examples", type=int, default=0, metavar="N",
                           help="also store N hypothesis-drawn examples per cell (shape, weights, inputs, reference)")
    exporting.add_argument("--no-seed-models", action="store_true",
                           help="skip the seed's FC 100x640->1280 models (fc_fp32.tflite, ...)")
    add_jobs(exporting)
    add_selection(exporting)
    matrix = commands.add_parser("matrix", help="convert, run and judge every cell; print the table")
    matrix.add_argument("--target", default="host", choices=TARGETS, help="where LiteRT runs")
    matrix.add_argument("--json", type=Path, help="also write one record per cell to this file (docs/records.md)")
    matrix.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    matrix.add_argument("--bundle", type=Path, help="judge this exported bundle's cells (no TensorFlow needed)")
    add_jobs(matrix)
    add_selection(matrix)
    covering = commands.add_parser(
        "coverage", help="SME2 kernel coverage: the kernels each cell executes on the emulated CPU, SME2 on and off")
    covering.add_argument("--all-cells", action="store_true", help="every cell, not only the seed table's SME2 cells")
    covering.add_argument("--markdown", action="store_true", help="print a markdown table")
    add_selection(covering)
    emulating = commands.add_parser(
        "emulator", help="the emulated SME2 target (QEMU user mode): setup, status, or run -- CMD inside it",
        usage="pytest-litert emulator {setup,status,run} [--cache-dir DIR] [--mirror URI] [--cpu CPU] [-- CMD ...]",
        description="setup: prepare QEMU, the arm64 rootfs and the aarch64 wheels. status: is it ready. "
                    "run -- CMD ...: run CMD (python, pytest, pytest-litert or a rootfs program) in the emulated "
                    "SME2 Linux, with this pytest-litert installed in the guest's Python (no TensorFlow) and the "
                    "current directory visible; exits with CMD's exit code.")
    emulating.add_argument("action", choices=("setup", "status", "run"))
    emulating.add_argument("--cpu", default="max", help="run: QEMU's -cpu (default max: SME2; 'max,sme=off' "
                           "for NEON only; 'max,sme-default-vector-length=32' for another SVL)")
    emulating.add_argument("--cache-dir", type=Path, default=None,
                           help=f"where to keep it (default: {emulator.default_cache_dir()}; ${emulator.CACHE_ENV})")
    emulating.add_argument("--mirror", default=None,
                           help=f"Debian mirror URI (default: from /etc/apt; ${emulator.MIRROR_ENV})")
    diffing = commands.add_parser("diff", help="compare two recorded runs per cell (structure, size, error)")
    diffing.add_argument("run_a", type=Path, help="the earlier run (JSON)")
    diffing.add_argument("run_b", type=Path, help="the later run (JSON)")
    diffing.add_argument("--out", type=Path, help="write the report here instead of stdout")
    diffing.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    diffing.add_argument("--threshold", type=float, default=rundiff.DIFF_THRESHOLD,
                         help="smallest change of a check's worst error, as a fraction of its bound, that counts "
                         f"(default {rundiff.DIFF_THRESHOLD})")
    diffing.add_argument("--fail-on-change", action="store_true", help="exit 1 when any cell changed")
    cli_faults.add_parser(commands)
    cli_bench.add_parser(commands)
    _add_doctor(commands)
    _add_check_and_report(commands)
    return parser


def _add_check_and_report(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    checking = commands.add_parser(
        "check", help="judge your own converted model, a single layer or a whole model op by op (exit 1 if it fails)",
        description="A single layer: infers the operator and recipe from the two files, runs the matrix's checks "
                    "and prints each one. A whole model (or no REFERENCE): judges every matrix operator on its own "
                    "inputs and prints a per-op table. Exit 0 on pass or a known finding, 1 on a failure, 2 on "
                    "unusable input.")
    checking.add_argument("model", type=Path, help="the .tflite file")
    checking.add_argument("reference", type=Path, nargs="?", default=None,
                          help="the Keras model it was converted from (.keras); without it a whole model is judged "
                          "from its file alone")
    checking.add_argument("--target", default="host", choices=TARGETS, help="where LiteRT runs (default host)")
    checking.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    checking.add_argument("--json", type=Path, metavar="PATH", help="also write the verdict to this file")
    checking.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    reporting = commands.add_parser(
        "report", help="one self-contained HTML page from recorded runs and bench runs (docs/report.md)",
        description="RUN files: `pytest-litert matrix --json` or `--litert-report-json` output (two of them "
                    "add the diff of the first against the last) and `pytest-litert bench --json` runs.")
    reporting.add_argument("runs", type=Path, nargs="+", metavar="RUN")
    reporting.add_argument("--html", type=Path, required=True, metavar="OUT", help="the page to write")
    reporting.add_argument("--force", action="store_true", help="overwrite an existing OUT")
    merging = commands.add_parser("merge", help="join shard run documents (--litert-report-json) into one run")
    merging.add_argument("shards", type=Path, nargs="+", metavar="SHARD")
    merging.add_argument("--json", type=Path, required=True, metavar="OUT", help="the merged run to write")
    merging.add_argument("--force", action="store_true", help="overwrite an existing OUT")


def _add_doctor(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctoring = commands.add_parser(
        "doctor", help="what this machine and a LiteRT build can prove: CPU SME2, SME2 kernels, profiler API, "
        "interposer, emulator, targets (docs/doctor.md)")
    doctoring.add_argument("--library", type=Path, metavar="PATH", help="inspect another build: a .so or .dylib, "
                           "or a directory or unpacked wheel holding it (default: the installed ai-edge-litert)")
    doctoring.add_argument("--json", type=Path, metavar="PATH", help="also write the facts to this file")
    doctoring.add_argument("--force", action="store_true", help="overwrite an existing --json file")


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    # `emulator run [options] -- CMD ...`: everything after the first -- is the guest's command.
    cut = words.index("--") if "--" in words else len(words)
    args = build_parser().parse_args(words[:cut])
    args.guest_command = words[cut + 1:]
    try:
        return _COMMANDS[args.command](args)
    except SettingError as error:
        print(f"pytest-litert {args.command}: error: --{error.key.replace('_', '-')}: {error}", file=sys.stderr)
        return 2
    except (Refused, ValueError, TargetUnavailable, export.ExportRefused, emulator.EmulatorSetupError,
            guest_shell.GuestCommandError, BenchRefused, PlotError) as error:
        print(f"pytest-litert {args.command}: error: {error}", file=sys.stderr)
        return 2


def _export(args: argparse.Namespace) -> int:
    if args.property_examples < 0:
        raise Refused(f"--property-examples must be 0 or more, got {args.property_examples}")
    export.export(settings_of(args), args.directory, force=args.force, seed_models=not args.no_seed_models,
                  property_examples=args.property_examples, jobs=jobs.parse_jobs(args.jobs))
    return 0


def _matrix(args: argparse.Namespace) -> int:
    refuse_existing(args.json, force=args.force)
    document, failures = matrix_run.run(settings_of(args), jobs.parse_jobs(args.jobs))
    if args.json is not None:
        args.json.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return 1 if failures else 0


def _coverage(args: argparse.Namespace) -> int:
    table = coverage.rows(settings_of(args), all_cells=args.all_cells)
    print(coverage.render(table, markdown=args.markdown), end="")
    missing = coverage.without_sme2_kernel(table)
    if missing:
        print(f"seed SME2 cells without an SME2 kernel: {', '.join(missing)}", file=sys.stderr)
    return 0


def _emulator(args: argparse.Namespace) -> int:
    command = args.guest_command
    if args.action == "run":
        return guest_shell.run(command, cpu=args.cpu, cache_dir=args.cache_dir)
    if command:
        raise Refused(f"emulator {args.action} takes no command (did you mean: emulator run -- {' '.join(command)})")
    if args.action == "status":
        found = emulator.find(args.cache_dir)
        print(f"emulator ready: {found.cache_dir}" if found else f"emulator not set up: {emulator.SETUP_HINT}")
        return 0 if found else 1
    emulator.setup(args.cache_dir, mirror=args.mirror)
    return 0


def _diff(args: argparse.Namespace) -> int:
    refuse_existing(args.out, force=args.force)
    report, changed = rundiff.diff_files(args.run_a, args.run_b, threshold=args.threshold)
    if args.out is not None:
        args.out.write_text(report, encoding="utf-8")
    else:
        print(report, end="")
    return 1 if args.fail_on_change and changed else 0


def _doctor(args: argparse.Namespace) -> int:
    from pytest_litert.run import doctor

    print(doctor.run(args.library, args.json, force=args.force), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    from pytest_litert import usercheck

    refuse_existing(args.json, force=args.force)
    for path in (args.model, args.reference):
        if path is not None and not path.exists():
            raise Refused(f"{path}: no such file")
    return usercheck.run(args.model, args.reference, seed=args.seed, target=args.target, json_path=args.json)


def _report(args: argparse.Namespace) -> int:
    from pytest_litert.report import html

    refuse_existing(args.html, force=args.force)
    print(html.write_report(args.runs, args.html))
    return 0


def _merge(args: argparse.Namespace) -> int:
    from pytest_litert.report import merge

    refuse_existing(args.json, force=args.force)
    print(merge.merge_files(args.shards, args.json))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "export": _export, "matrix": _matrix, "coverage": _coverage, "emulator": _emulator, "diff": _diff,
    "faults": cli_faults.run, "bench": cli_bench.run, "doctor": _doctor, "check": _check, "report": _report,
    "merge": _merge,
}

if __name__ == "__main__":
    sys.exit(main())

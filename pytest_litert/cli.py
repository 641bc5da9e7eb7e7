"""The `pytest-litert` command line: argument parsing only; each command's work lives in its stage."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path

from pytest_litert import jobs
from pytest_litert.bench import ab as bench_ab
from pytest_litert.bench import compare as bench_compare
from pytest_litert.bench import document as bench_document
from pytest_litert.bench import job as bench_job
from pytest_litert.bench import plot as bench_plot
from pytest_litert.bench import table as bench_table
from pytest_litert.bench.sweep import SEED_RECIPES, sweep_cells
from pytest_litert.bench.timing import BenchRefused, Budget
from pytest_litert.convert.keras_models import TENSORFLOW_HINT
from pytest_litert.faults import inject
from pytest_litert.matrix.ops import OPS
from pytest_litert.matrix.recipes import RECIPES
from pytest_litert.matrix.shapes import SHAPE_SETS
from pytest_litert.report import coverage, export, matrix_run, rundiff
from pytest_litert.run.qemu import emulator, guest_shell
from pytest_litert.run.worker import TIMING_APIS, TIMING_DEFAULTS
from pytest_litert.session import TARGETS, Runner, Settings, TargetUnavailable
from pytest_litert.settings import SettingError

# What `bench` times by default: the seed's sizes. The `ci` shapes run in 2-20 us, where worker
# processes differ by up to 40% here; the seed's (0.8-3.5 ms) by about 10% (README).
BENCH_SHAPES = "seed"


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


class _Refused(Exception):
    """A command that cannot run as asked: printed as `pytest-litert <command>: error: ...`, exit 2."""


def _add_selection(parser: argparse.ArgumentParser, shapes_default: str = "ci") -> None:
    parser.add_argument("--ops", help=f"comma list of operators (default all: {','.join(OPS)})")
    parser.add_argument("--recipes", help=f"comma list of recipes (default all: {','.join(RECIPES)})")
    parser.add_argument("--shapes",
                        help=f"comma list of shape sets (default {shapes_default}; {','.join(SHAPE_SETS)}, or all)")
    parser.add_argument("--seed", default=None,
                        help="seed for weights, calibration and inputs (default 0; with --bundle, the bundle's)")
    parser.add_argument("--cache-dir", help="conversion cache ('none' disables; default ~/.cache/pytest-litert/cells)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show what TensorFlow prints while converting (kept back otherwise, unless it fails)")


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", "-j", default="auto", metavar="N",
                        help="worker processes converting and judging cells (default auto: one per core; 1 = serial)")


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
    _add_jobs(exporting)
    _add_selection(exporting)
    matrix = commands.add_parser("matrix", help="convert, run and judge every cell; print the table")
    matrix.add_argument("--target", default="host", choices=TARGETS, help="where LiteRT runs")
    matrix.add_argument("--json", type=Path, help="also write one record per cell to this file (docs/records.md)")
    matrix.add_argument("--bundle", type=Path, help="judge this exported bundle's cells (no TensorFlow needed)")
    _add_jobs(matrix)
    _add_selection(matrix)
    covering = commands.add_parser(
        "coverage", help="SME2 kernel coverage: the kernels each cell executes on the emulated CPU, SME2 on and off")
    covering.add_argument("--all-cells", action="store_true", help="every cell, not only the seed table's SME2 cells")
    covering.add_argument("--markdown", action="store_true", help="print a markdown table")
    _add_selection(covering)
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
    diffing.add_argument("--threshold", type=float, default=rundiff.DIFF_THRESHOLD,
                         help="smallest change of a check's worst error, as a fraction of its bound, that counts "
                         f"(default {rundiff.DIFF_THRESHOLD})")
    diffing.add_argument("--fail-on-change", action="store_true", help="exit 1 when any cell changed")
    faults = commands.add_parser("faults", help="fault injection: mutate every cell's model, count what the "
                                 "oracles catch (--seeds N: the false-positive sweep)")
    faults.add_argument("--seed", type=int, default=0, help="matrix seed for the fault-injection table")
    faults.add_argument("--kernels", action="store_true",
                        help="also inject kernel faults (a faulty optimized lane, the model unchanged): their table")
    faults.add_argument("--seeds", type=int, default=0, help="run the false-positive sweep over N seeds instead")
    faults.add_argument("--first-seed", type=int, default=0, help="first seed of the sweep")
    faults.add_argument("--cache-dir", default=None, help="conversion cache (default: the plugin's; 'none' = off)")
    faults.add_argument("--target", default="inprocess", choices=("inprocess", "host", "qemu-sme2", "qemu-nosme"),
                        help="where LiteRT runs (qemu-*: the emulated CPU; slow, best with --no-mutants)")
    faults.add_argument("--no-mutants", action="store_true",
                        help="with --kernels: the kernel-fault table alone, without the file mutants'")
    faults.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    faults.add_argument("--model", type=Path, help="a whole model: plant a fault in each judged operator in turn and "
                        "report which operator was blamed (needs --reference)")
    faults.add_argument("--reference", type=Path, help="with --model: the Keras model it was converted from")
    faults.add_argument("--every", type=int, default=1, metavar="N", help="with --model: every N-th judged operator")
    _add_jobs(faults)
    _add_bench(commands)
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


def _add_bench(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    benching = commands.add_parser(
        "bench", help="time every cell through the Interpreter and CompiledModel (XNNPACK), against the "
        "machine's fp32 sgemm reference; --compare a saved run; --sweep sizes")
    benching.add_argument("--target", default="host",
                          help="where LiteRT runs (default host; QEMU targets are refused: their timings mean nothing)")
    benching.add_argument("--bundle", type=Path, help="time this exported bundle's models (no TensorFlow needed)")
    benching.add_argument("--threads", type=int, default=1, help="LiteRT and sgemm threads (default 1, as the seed)")
    benching.add_argument("--apis", default=",".join(TIMING_APIS), help="comma list (default interpreter,compiled)")
    benching.add_argument("--rounds", type=int, default=Budget.rounds,
                          help="time every cell this many times, each round in a fresh worker (default %(default)s)")
    benching.add_argument("--max-time", type=float, default=TIMING_DEFAULTS["max_seconds"], metavar="SECONDS",
                          help="time cap per cell and API (default %(default)s)")
    benching.add_argument("--precision", type=float, default=TIMING_DEFAULTS["precision"], metavar="FRACTION",
                          help="stop once the median's 95%% interval is within +-FRACTION of it (default %(default)s)")
    benching.add_argument("--json", type=Path, help="save the run (machine, sgemm reference, every statistic and sample)")
    benching.add_argument("--force", action="store_true", help="overwrite an existing --json / --plot file")
    benching.add_argument("--compare", type=Path, metavar="OLD.json", help="compare with a saved run")
    benching.add_argument("--fail-on", metavar="median:N%%",
                          help="with --compare: exit 1 when a cell's median is N%% slower beyond both runs' noise")
    benching.add_argument("--sweep", nargs="?", const="all", metavar="AXES",
                          help="time sizes instead of shape sets: axes m,k,n (matrix products), hw (images); "
                          "default ops fully_connected, recipes the seed's four")
    benching.add_argument("--plot", type=Path, metavar="PNG", help="with --sweep: draw it (the plot extra)")
    benching.add_argument("--anchor", action="store_true",
                          help="also run LiteRT's own benchmark (ai_edge_litert/tools/benchmark_litert_model.py) on "
                          "each model, in the same worker: its median beside CompiledModel's")
    benching.add_argument("--no-sgemm", action="store_true", help="skip the NumPy fp32 sgemm (reference)")
    benching.add_argument("--markdown", action="store_true", help="print the table as markdown")
    benching.add_argument("--sme2-ab", action="store_true",
                          help="what SME2 buys: time every cell with SME2 (host) and without it (host-nosme, SME "
                          "hidden from getauxval) on this Linux aarch64 machine, interleaved round by round; the "
                          "speedup per cell, judged by --compare's rank test")
    _add_selection(benching, shapes_default=BENCH_SHAPES)


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
    except (_Refused, ValueError, TargetUnavailable, export.ExportRefused, emulator.EmulatorSetupError,
            guest_shell.GuestCommandError, BenchRefused, bench_plot.PlotError) as error:
        print(f"pytest-litert {args.command}: error: {error}", file=sys.stderr)
        return 2


def _settings(args: argparse.Namespace) -> Settings:
    bundle = getattr(args, "bundle", None)
    settings = Settings.from_strings(args.ops, args.recipes, args.seed, args.cache_dir, getattr(args, "target", None),
                                     verbose=args.verbose, bundle=None if bundle is None else str(bundle),
                                     shapes=args.shapes)
    if settings.bundle is None and importlib.util.find_spec("tensorflow") is None:
        hint = "pass --bundle DIR to judge an exported bundle" if hasattr(args, "bundle") else ""
        raise _Refused(f"{TENSORFLOW_HINT}{'; or ' + hint if hint else ''}")
    return settings


def _export(args: argparse.Namespace) -> int:
    if args.property_examples < 0:
        raise _Refused(f"--property-examples must be 0 or more, got {args.property_examples}")
    export.export(_settings(args), args.directory, force=args.force, seed_models=not args.no_seed_models,
                  property_examples=args.property_examples, jobs=jobs.parse_jobs(args.jobs))
    return 0


def _matrix(args: argparse.Namespace) -> int:
    document, failures = matrix_run.run(_settings(args), jobs.parse_jobs(args.jobs))
    if args.json is not None:
        args.json.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return 1 if failures else 0


def _coverage(args: argparse.Namespace) -> int:
    table = coverage.rows(_settings(args), all_cells=args.all_cells)
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
        raise _Refused(f"emulator {args.action} takes no command (did you mean: emulator run -- {' '.join(command)})")
    if args.action == "status":
        found = emulator.find(args.cache_dir)
        print(f"emulator ready: {found.cache_dir}" if found else f"emulator not set up: {emulator.SETUP_HINT}")
        return 0 if found else 1
    emulator.setup(args.cache_dir, mirror=args.mirror)
    return 0


def _diff(args: argparse.Namespace) -> int:
    report, changed = rundiff.diff_files(args.run_a, args.run_b, threshold=args.threshold)
    if args.out is not None:
        args.out.write_text(report, encoding="utf-8")
    else:
        print(report, end="")
    return 1 if args.fail_on_change and changed else 0


def _faults(args: argparse.Namespace) -> int:
    if (args.model is None) != (args.reference is None):
        raise _Refused("--model and --reference go together: the whole model and the Keras model it came from")
    if args.model is not None:
        from pytest_litert.faults import whole_model

        text = whole_model.run(str(args.model), str(args.reference), every=args.every, seed=args.seed)
    else:
        text = inject.run(seed=args.seed, seeds=args.seeds, first_seed=args.first_seed, cache_dir=args.cache_dir,
                          target=args.target, jobs=jobs.parse_jobs(args.jobs), kernels=args.kernels,
                          mutants=not args.no_mutants)
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)
    return 0


def _bench_inputs(args: argparse.Namespace) -> tuple[Budget, float | None, bench_document.BenchRun | None]:
    """The budget, the --fail-on threshold and the --compare run, all checked before any timing."""
    if args.threads < 1 or args.rounds < 1:
        raise _Refused(f"--threads and --rounds must be 1 or more, got {args.threads} and {args.rounds}")
    if args.max_time <= 0 or not 0 < args.precision < 1:
        raise _Refused("--max-time must be above 0 and --precision between 0 and 1 (e.g. 0.02)")
    apis = tuple(name.strip() for name in args.apis.split(",") if name.strip())
    if not apis or any(api not in TIMING_APIS for api in apis):
        raise _Refused(f"--apis must be a comma list of {', '.join(TIMING_APIS)}, got {args.apis!r}")
    if args.fail_on and args.compare is None:
        raise _Refused("--fail-on decides against an earlier run: pass --compare OLD.json too")
    if args.sme2_ab and (args.compare or args.sweep or args.plot or args.anchor):
        raise _Refused("--sme2-ab compares this machine with itself: drop --compare, --sweep, --plot and --anchor")
    if args.sweep is not None and args.bundle is not None:
        raise _Refused("--sweep converts its own sizes: it needs TensorFlow, not --bundle")
    if args.plot is not None and args.sweep is None:
        raise _Refused("--plot draws a sweep: pass --sweep too")
    if args.plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise _Refused(bench_plot.PLOT_HINT)
    for path in (args.json, args.plot):
        if path is not None and path.exists() and not args.force:
            raise _Refused(f"{path} exists; pass --force to overwrite it")
    threshold = bench_compare.parse_fail_on(args.fail_on) if args.fail_on else None
    old = bench_document.load(args.compare) if args.compare is not None else None
    budget = Budget(threads=args.threads, rounds=args.rounds, max_seconds=args.max_time, precision=args.precision,
                    apis=apis, anchor=args.anchor)
    return budget, threshold, old


def _bench(args: argparse.Namespace) -> int:
    budget, threshold, old = _bench_inputs(args)
    reported = threshold or bench_compare.DEFAULT_THRESHOLD  # without --fail-on: reported, never failing
    if args.shapes is None and args.bundle is None:
        args.shapes = BENCH_SHAPES
    settings = _settings(args)
    cells = settings.cells() if args.sweep is None else sweep_cells(
        settings.ops if args.ops else ("fully_connected",), settings.recipes if args.recipes else SEED_RECIPES,
        None if args.sweep == "all" else args.sweep)
    runner = Runner(settings)
    if args.sme2_ab:
        return bench_ab.command(runner, cells, budget, reported, json_path=args.json, markdown=args.markdown)
    changes: list[bench_compare.Change] = []
    unmatched: list[str] = []
    try:
        run = bench_job.bench(runner, cells, budget, with_sgemm=not args.no_sgemm)
        if old is not None:
            run, changes, unmatched = bench_job.compare_confirmed(old, run, runner, cells, budget, reported)
    finally:
        runner.close()
    print(bench_table.render(run, markdown=args.markdown), end="")
    if args.json is not None:
        bench_document.save(run, args.json)
    if args.plot is not None:
        bench_plot.save_png(run, args.plot)
        print(f"drew {args.plot}")
    if old is not None:
        print(f"compared with {args.compare}:")
        print("\n".join(bench_compare.context_lines(old, run)))
        print(bench_compare.render(changes, unmatched, reported), end="")
    failed = [cell.cell_id for cell in run.cells if cell.status == "failed"]
    if failed:
        print(f"not timed (LiteRT failed): {', '.join(failed)}", file=sys.stderr)
    slower = threshold is not None and any(change.verdict == "slower" for change in changes)
    return 1 if failed or slower else 0


def _doctor(args: argparse.Namespace) -> int:
    from pytest_litert.run import doctor

    print(doctor.run(args.library, args.json, force=args.force), end="")
    return 0


def _refuse_existing(path: Path | None, force: bool) -> None:
    if path is not None and path.exists() and not force:
        raise _Refused(f"{path} exists; pass --force to overwrite it")


def _check(args: argparse.Namespace) -> int:
    from pytest_litert import usercheck

    _refuse_existing(args.json, args.force)
    for path in (args.model, args.reference):
        if path is not None and not path.exists():
            raise _Refused(f"{path}: no such file")
    return usercheck.run(args.model, args.reference, seed=args.seed, target=args.target, json_path=args.json)


def _report(args: argparse.Namespace) -> int:
    from pytest_litert.report import html

    _refuse_existing(args.html, args.force)
    print(html.write_report(args.runs, args.html))
    return 0


def _merge(args: argparse.Namespace) -> int:
    from pytest_litert.report import merge

    _refuse_existing(args.json, args.force)
    print(merge.merge_files(args.shards, args.json))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "export": _export, "matrix": _matrix, "coverage": _coverage, "emulator": _emulator, "diff": _diff,
    "faults": _faults, "bench": _bench, "doctor": _doctor, "check": _check, "report": _report,
    "merge": _merge,
}

if __name__ == "__main__":
    sys.exit(main())

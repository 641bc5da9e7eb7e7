"""`pytest-litert bench`: time every cell, compare with a saved run, sweep sizes, the SME2 A/B.

Serial by design (no --jobs): timings taken while other workers convert or judge would measure
the neighbours as much as the kernel.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_litert.bench import ab as bench_ab
from pytest_litert.bench import compare as bench_compare
from pytest_litert.bench import document as bench_document
from pytest_litert.bench import job as bench_job
from pytest_litert.bench import plot as bench_plot
from pytest_litert.bench import table as bench_table
from pytest_litert.bench.sweep import SEED_RECIPES, sweep_cells
from pytest_litert.bench.timing import Budget
from pytest_litert.cli.common import Refused, add_selection, refuse_existing, refuse_without_matplotlib, settings_of
from pytest_litert.run.worker import TIMING_APIS, TIMING_DEFAULTS
from pytest_litert.session import Runner

# What `bench` times by default: the seed's sizes. The `ci` shapes run in 2-20 us, where worker
# processes differ by up to 40% here; the seed's (0.8-3.5 ms) by about 10% (README).
BENCH_SHAPES = "seed"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    benching.add_argument("--json", type=Path,
                          help="save the run (machine, sgemm reference, every statistic and sample)")
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
    add_selection(benching, shapes_default=BENCH_SHAPES)


def _inputs(args: argparse.Namespace) -> tuple[Budget, float | None, bench_document.BenchRun | None]:
    """The budget, the --fail-on threshold and the --compare run, all checked before any timing."""
    if args.threads < 1 or args.rounds < 1:
        raise Refused(f"--threads and --rounds must be 1 or more, got {args.threads} and {args.rounds}")
    if args.max_time <= 0 or not 0 < args.precision < 1:
        raise Refused("--max-time must be above 0 and --precision between 0 and 1 (e.g. 0.02)")
    apis = tuple(name.strip() for name in args.apis.split(",") if name.strip())
    if not apis or any(api not in TIMING_APIS for api in apis):
        raise Refused(f"--apis must be a comma list of {', '.join(TIMING_APIS)}, got {args.apis!r}")
    if args.fail_on and args.compare is None:
        raise Refused("--fail-on decides against an earlier run: pass --compare OLD.json too")
    if args.sme2_ab and (args.compare or args.sweep or args.plot or args.anchor):
        raise Refused("--sme2-ab compares this machine with itself: drop --compare, --sweep, --plot and --anchor")
    if args.sweep is not None and args.bundle is not None:
        raise Refused("--sweep converts its own sizes: it needs TensorFlow, not --bundle")
    if args.plot is not None and args.sweep is None:
        raise Refused("--plot draws a sweep: pass --sweep too")
    refuse_without_matplotlib(args.plot)
    refuse_existing(args.json, args.plot, force=args.force)
    threshold = bench_compare.parse_fail_on(args.fail_on) if args.fail_on else None
    old = bench_document.load(args.compare) if args.compare is not None else None
    budget = Budget(threads=args.threads, rounds=args.rounds, max_seconds=args.max_time, precision=args.precision,
                    apis=apis, anchor=args.anchor)
    return budget, threshold, old


def run(args: argparse.Namespace) -> int:
    budget, threshold, old = _inputs(args)
    reported = threshold or bench_compare.DEFAULT_THRESHOLD  # without --fail-on: reported, never failing
    if args.shapes is None and args.bundle is None:
        args.shapes = BENCH_SHAPES
    settings = settings_of(args)
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

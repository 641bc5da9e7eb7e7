"""`pytest-litert faults`: would the oracles catch a corrupted model or a buggy kernel, and only those?"""

from __future__ import annotations

import argparse
from pathlib import Path

from pytest_litert import jobs
from pytest_litert.cli.common import Refused, add_jobs, refuse_existing, refuse_without_matplotlib
from pytest_litert.faults import inject


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    faults.add_argument("--json", type=Path, metavar="PATH",
                        help="with --seeds: save the sweep (counts, failures, each check's worst fraction per verdict)")
    faults.add_argument("--plot", type=Path, metavar="PNG",
                        help="with --seeds: draw each bound's worst-fraction distribution per recipe (the plot extra)")
    faults.add_argument("--from", dest="saved", type=Path, nargs="+", metavar="SWEEP.json",
                        help="instead of --seeds: join saved sweeps of consecutive seed ranges (a sharded nightly's) "
                        "into one report, --json and --plot")
    faults.add_argument("--force", action="store_true", help="overwrite an existing --out, --json or --plot file")
    faults.add_argument("--model", type=Path, help="a whole model: plant a fault in each judged operator in turn and "
                        "report which operator was blamed (needs --reference)")
    faults.add_argument("--reference", type=Path, help="with --model: the Keras model it was converted from")
    faults.add_argument("--every", type=int, default=1, metavar="N", help="with --model: every N-th judged operator")
    add_jobs(faults)


def run(args: argparse.Namespace) -> int:
    if (args.model is None) != (args.reference is None):
        raise Refused("--model and --reference go together: the whole model and the Keras model it came from")
    if args.saved and args.seeds:
        raise Refused("--from joins saved sweeps instead of running one: drop --seeds")
    if (args.json or args.plot) and not (args.seeds or args.saved):
        raise Refused("--json and --plot save the false-positive sweep: pass --seeds N (or --from SWEEP.json) too")
    refuse_without_matplotlib(args.plot)
    refuse_existing(args.out, args.json, args.plot, force=args.force)
    if args.model is not None:
        from pytest_litert.faults import whole_model

        text = whole_model.run(str(args.model), str(args.reference), every=args.every, seed=args.seed)
    elif args.seeds or args.saved:
        missing = [str(path) for path in args.saved or [] if not path.is_file()]
        if missing:
            raise Refused(f"--from: no such file: {', '.join(missing)}")
        result = (inject.SweepResult.join([inject.SweepResult.load(path) for path in args.saved]) if args.saved else
                  inject.sweep_command(args.first_seed, args.seeds, cache_dir=args.cache_dir, target=args.target,
                                       jobs=jobs.parse_jobs(args.jobs)))
        text = result.text()
        if args.json is not None:
            result.save(args.json)
        if args.plot is not None:
            from pytest_litert.faults import sweep_plot

            sweep_plot.save_png(result, args.plot)
            text += f"drew {args.plot}\n"
    else:
        text = inject.run(seed=args.seed, cache_dir=args.cache_dir, target=args.target,
                          jobs=jobs.parse_jobs(args.jobs), kernels=args.kernels, mutants=not args.no_mutants)
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)
    return 0

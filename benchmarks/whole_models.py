"""The figures of docs/how/whole-models.md: real architectures judged op by op (`tox -e whole-models`).

Per architecture (keras.applications.MobileNetV2 at alpha 0.35 on 32x32, the transformer encoder
block at width 64) and recipe (fp32, fp16, dynamic int8, static int8): operators judged / passed /
findings / failed / not judged against Keras and from the file alone on the host, the operators
on packed KleidiAI types and their share of the profiled time on qemu-sme2, the time each took;
then the localization table (a fault planted in every N-th judged operator in turn).

    python benchmarks/whole_models.py [--qemu] [--every 4] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_litert import toolchain
from pytest_litert.convert import architectures
from pytest_litert.faults import whole_model
from pytest_litert.judge.checks import KERNEL_CHECK
from pytest_litert.judge.model_verdict import ModelVerdict, packed_time_share
from pytest_litert.session import make_target
from pytest_litert.wholemodel import check_model

ARCHITECTURES: dict[str, Callable[[], Any]] = {"MobileNetV2 (alpha 0.35, 32x32)": architectures.mobilenet_v2,
                 "encoder block (width 64, 4 heads, sequence 16)": architectures.encoder_block}
LOCALIZED = ("static_int8", "fp32")


def timed(model: bytes, keras_model: Any, target: str) -> tuple[ModelVerdict, float]:
    where = make_target(target)
    began = time.perf_counter()
    try:
        return check_model(model, keras_model, target=where), time.perf_counter() - began
    finally:
        where.close()


def kernels(verdict: ModelVerdict) -> tuple[str, str]:
    """Operators on packed KleidiAI types with their share of the profiled time; the translation
    log's SME2 kernels on the seed table's SME2 operators."""
    packed = [op for op in verdict.ops if op.packed_type]
    types = ", ".join(sorted({op.packed_type for op in packed}))
    share = f"{packed_time_share(verdict.profile):.0%}" if verdict.profile.get("available") else "no profile"
    logged = [c for op in verdict.judged if op.verdict is not None for c in op.verdict.checks if c.name == KERNEL_CHECK]
    return (f"{len(packed)} of {len(verdict.ops)} ({types or '-'}), {share}",
            f"{sum(c.passed for c in logged)} of {len(logged)}")


def row(name: str, recipe: str, keras: tuple[ModelVerdict, float], alone: tuple[ModelVerdict, float],
        sme2: tuple[ModelVerdict, float] | None) -> str:
    found = keras[0].counts()
    packed, logged = kernels(sme2[0]) if sme2 else ("-", "-")
    emulated = f"{sme2[0].status}, {sme2[1]:.0f} s" if sme2 else "not run (--qemu)"
    return (f"| {name} | {recipe} | {found['operators']} | {found['judged']} | {found['passed']} | {found['findings']} "
            f"| {found['failed']} | {found['not judged']} | {keras[0].status}, {keras[1]:.1f} s "
            f"| {alone[0].status}, {alone[1]:.1f} s | {emulated} | {packed} | {logged} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qemu", action="store_true", help="also judge every conversion on qemu-sme2")
    parser.add_argument("--every", type=int, default=4,
                        help="plant faults in every N-th judged operator of a model with more than 16 of them")
    parser.add_argument("--out", type=Path, help="write the markdown here too")
    args = parser.parse_args()
    lines = [f"{toolchain.describe()}; {datetime.date.today().isoformat()}", "",
             "| architecture | recipe | operators | judged | passed | findings | failed | not judged "
             "| host, Keras | host, file-only | qemu-sme2, Keras | packed KleidiAI types (operators, time) "
             "| SME2 kernel in the translation log |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    localization: list[str] = []
    failures: list[str] = []
    for name, build in ARCHITECTURES.items():
        model = build()
        converted = architectures.convert_all(model)
        for recipe, data in converted.items():
            sme2 = timed(data, model, "qemu-sme2") if args.qemu else None
            lines.append(row(name, recipe, timed(data, model, "host"), timed(data, None, "host"), sme2))
            print(lines[-1], file=sys.stderr)
            failures += [f"{name}, {recipe}, qemu-sme2: {op.blame()}: {op.verdict.reason.splitlines()[0]}"
                         for op in (sme2[0].failures if sme2 else []) if op.verdict is not None]
        for recipe in LOCALIZED:
            began = time.perf_counter()
            judged = len(timed(converted[recipe], None, "host")[0].judged)
            every = args.every if judged > 16 else 1
            clean, planted = whole_model.localize(converted[recipe], model, every=every)
            localization += ["", f"### {name}, {recipe}" + (f", every {every}th judged operator" if every > 1 else ""),
                             "",
                             whole_model.render(recipe, clean, planted, time.perf_counter() - began)]
    text = "\n".join([*lines, "", *(f"- {line}" for line in failures), "", "## Localization", *localization]) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
from pathlib import Path
from typing import Any

from pytest_litert import toolchain
from pytest_litert.convert import architectures
from pytest_litert.faults import whole_model
from pytest_litert.judge.model_verdict import ModelVerdict
from pytest_litert.session import make_target
from pytest_litert.wholemodel import check_model

ARCHITECTURES = {"MobileNetV2 (alpha 0.35, 32x32)": architectures.mobilenet_v2,
                 "encoder block (width 64, 4 heads, sequence 16)": architectures.encoder_block}
LOCALIZED = ("static_int8", "fp32")


def timed(model: bytes, keras_model: Any, target: str) -> tuple[ModelVerdict, float]:
    where = make_target(target)
    began = time.perf_counter()
    try:
        return check_model(model, keras_model, target=where), time.perf_counter() - began
    finally:
        where.close()


def row(name: str, recipe: str, keras: tuple[ModelVerdict, float], alone: tuple[ModelVerdict, float],
        sme2: tuple[ModelVerdict, float] | None) -> str:
    found = keras[0].counts()
    kernels = f"{sme2[0].kernel_summary()}; {sme2[0].status} ({sme2[1]:.0f} s)" if sme2 else "not run (--qemu)"
    return (f"| {name} | {recipe} | {found['operators']} | {found['judged']} | {found['passed']} | {found['findings']} "
            f"| {found['failed']} | {found['not judged']} | {keras[1]:.1f} s | {alone[0].status} ({alone[1]:.1f} s) "
            f"| {kernels} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qemu", action="store_true", help="also judge every conversion on qemu-sme2")
    parser.add_argument("--every", type=int, default=4,
                        help="plant faults in every N-th judged operator of a model with more than 16 of them")
    parser.add_argument("--out", type=Path, help="write the markdown here too")
    args = parser.parse_args()
    lines = [f"{toolchain.describe()}; {datetime.date.today().isoformat()}", "",
             "| architecture | recipe | operators | judged | passed | findings | failed | not judged "
             "| time (Keras, host) | file-only (host) | qemu-sme2: packed KleidiAI types |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    localization: list[str] = []
    for name, build in ARCHITECTURES.items():
        model = build()
        converted = architectures.convert_all(model)
        for recipe, data in converted.items():
            sme2 = timed(data, model, "qemu-sme2") if args.qemu else None
            lines.append(row(name, recipe, timed(data, model, "host"), timed(data, None, "host"), sme2))
            print(lines[-1], file=sys.stderr)
            if sme2 is not None and sme2[0].failures:
                lines.append(f"|  | qemu-sme2 failures: {sme2[0].reason[:300]} |")
        for recipe in LOCALIZED:
            began = time.perf_counter()
            judged = len(timed(converted[recipe], None, "host")[0].judged)
            every = args.every if judged > 16 else 1
            clean, planted = whole_model.localize(converted[recipe], model, every=every)
            localization += ["", f"### {name}, {recipe}" + (f", every {every}th judged operator" if every > 1 else ""),
                             "",
                             whole_model.render(recipe, clean, planted, time.perf_counter() - began)]
    text = "\n".join([*lines, "", "## Localization", *localization]) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

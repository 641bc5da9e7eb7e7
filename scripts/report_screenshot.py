"""Regenerate docs/report.png: the HTML report of `pytest-litert matrix --shapes=all`, rendered
by headless Chromium with one cell's details open.

Usage: python scripts/report_screenshot.py [--out docs/report.png] [--cell CELL]
Needs Debian's chromium (`apt-get install chromium`) and TensorFlow (the matrix converts).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    parser.add_argument("--cell", default="fully_connected-static_int8")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("needs Debian's chromium: apt-get install chromium")
    with tempfile.TemporaryDirectory() as work:
        run, page = Path(work) / "all.json", Path(work) / "report.html"
        cli = [sys.executable, "-m", "pytest_litert"]
        # A failing cell is what the report is for: only a run that wrote no records stops here.
        subprocess.run([*cli, "matrix", "--shapes=all", "--json", str(run)], check=False, stdout=subprocess.DEVNULL)
        if not run.is_file():
            sys.exit("pytest-litert matrix wrote no run document")
        subprocess.run([*cli, "report", str(run), "--html", str(page)], check=True)
        subprocess.run([browser, *FLAGS, f"--user-data-dir={work}/profile", "--window-size=1400,1000",
                        f"--screenshot={args.out.resolve()}", f"file://{page}#{args.cell}"],
                       check=True, capture_output=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

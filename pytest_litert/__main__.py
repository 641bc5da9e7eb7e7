"""`python -m pytest_litert`: the command line (also inside the emulated guest)."""

import sys

from pytest_litert.cli import main

sys.exit(main())

"""`python -m pytest_litert`: the command line (also inside the emulated guest)."""

import sys

from pytest_litert.launch import main

sys.exit(main())

"""`python -m pytest_litert.cli`: the command line (as `python -m pytest_litert`)."""

import sys

from pytest_litert.cli import main

sys.exit(main())

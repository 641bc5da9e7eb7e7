"""A cell's outcome, in its own light module: the pytest side maps it onto pass / fail /
skip / xfail in every session, and must not import numpy for that."""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    """A cell's outcome; the values are what reports and records say."""

    PASS = "pass"
    FAIL = "fail"
    FINDING = "finding"  # a known departure of this toolchain (xfail)
    NOT_PRODUCED = "not produced"  # the toolchain cannot produce this cell
    SKIPPED = "skipped"  # not judged here (an optional dependency is missing)

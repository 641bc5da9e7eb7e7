"""Hypothesis profiles for the property-based matrix, registered when the plugin loads.

litert-dev: a quick look (5 examples per cell). litert-ci: deterministic (derandomized, no
example database), 8 examples per cell, the default when CI is set. litert-thorough: the
nightly run, 200 examples per cell. Select one with --hypothesis-profile; without that
flag the plugin loads litert-ci under CI and litert-dev otherwise.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
          HealthCheck.differing_executors]

settings.register_profile("litert-dev", max_examples=5, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("litert-ci", max_examples=8, deadline=None, derandomize=True, database=None,
                          print_blob=True, suppress_health_check=_QUIET)
settings.register_profile("litert-thorough", max_examples=200, deadline=None, suppress_health_check=_QUIET)


def load_default_profile() -> None:
    settings.load_profile("litert-ci" if os.environ.get("CI") else "litert-dev")

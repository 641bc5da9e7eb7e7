"""Hypothesis profiles of the property-based matrix, applied to its own tests only.

litert-dev: a quick look (5 examples per cell). litert-ci: deterministic (derandomized, no
example database), 8 examples per cell, the default when CI is set. litert-thorough: the
nightly run, 200 examples per cell. Nothing is loaded globally: the plugin's property tests
take their profile per test (`settings(parent=...)`), so another project's hypothesis tests
in the same environment keep their own settings. Name a profile with --hypothesis-profile
(ours or yours) and the property tests follow it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hypothesis import settings

PROFILES = ("litert-dev", "litert-ci", "litert-thorough")


def register() -> None:
    """Register the profiles (idempotent); imports hypothesis, so only when they are needed."""
    from hypothesis import HealthCheck, settings

    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
             HealthCheck.differing_executors]
    settings.register_profile("litert-dev", max_examples=5, deadline=None, suppress_health_check=quiet)
    settings.register_profile("litert-ci", max_examples=8, deadline=None, derandomize=True, database=None,
                              print_blob=True, suppress_health_check=quiet)
    settings.register_profile("litert-thorough", max_examples=200, deadline=None, suppress_health_check=quiet)


def default_profile() -> str:
    return "litert-ci" if os.environ.get("CI") else "litert-dev"


def property_settings() -> settings:
    """The settings of the plugin's own property tests: the profile the user made current
    (--hypothesis-profile, or a load_profile of their own), else litert-ci / litert-dev.
    Hypothesis's own "default" and "ci" profiles (the latter loaded automatically when CI is
    set) count as no choice: the plugin's profiles are sized for a matrix of conversions."""
    from hypothesis import settings

    register()
    current_name = getattr(settings, "get_current_profile_name", None)  # hypothesis >= 6.115 or so
    current = current_name() if current_name else (getattr(settings, "_current_profile", None) or "default")
    chosen = current not in ("default", "ci")  # hypothesis loads its own "ci" profile by itself when CI is set
    return settings(parent=settings.get_profile(current if chosen else default_profile()))

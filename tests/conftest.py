"""Shared fixtures for the plugin's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One conversion cache for all inner pytester runs, so each cell converts once."""
    return tmp_path_factory.mktemp("litert-cache")


@pytest.fixture
def matrix_test(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory holding a test file that runs the shipped matrix test."""
    pytester.makepyfile(
        test_user_matrix="""
        from pytest_litert.plugin import assert_verdict

        def test_cell(litert_verdict):
            assert_verdict(litert_verdict)
        """
    )
    return pytester

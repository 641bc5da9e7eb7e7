"""Shared fixtures for the plugin's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _tensorflow_outside_pytester(request: pytest.FixtureRequest) -> None:
    """In-process pytester runs restore sys.modules afterwards; TensorFlow imported inside one
    would be dropped and re-imported by the next, which aborts the process. Import it first."""
    if "pytester" in request.fixturenames or "matrix_test" in request.fixturenames:
        from pytest_litert.convert.keras_models import MissingDependencyError, import_keras

        try:
            import_keras()  # also imports TensorFlow
        except MissingDependencyError:
            pass  # the runtime-only venv: nothing converts there


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One conversion cache for all inner pytester runs, so each cell converts once."""
    return tmp_path_factory.mktemp("litert-cache")


@pytest.fixture
def matrix_test(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory holding a test file like the shipped matrix and SME2 tests."""
    pytester.makepyfile(
        test_user_matrix="""
        from pytest_litert import assert_verdict

        def test_cell(litert_verdict):
            assert_verdict(litert_verdict)

        def test_sme2_cell(litert_sme2_verdict):
            assert_verdict(litert_sme2_verdict)
        """
    )
    return pytester

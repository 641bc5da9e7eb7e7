"""Tests shipped with the plugin: `pytest --pyargs pytest_litert.suite` runs the matrix."""

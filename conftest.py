"""Repository-level test configuration.

pytester (for the plugin's own tests) is enabled with `-p pytester` in pyproject's addopts,
not `pytest_plugins` here: the plugin adds its own test files to a run (--litert-model),
and a `pytest_plugins` in this conftest would then be a non-root conftest error. The
plugin itself loads through its pytest11 entry point, never from here ("Plugin already
registered").
"""

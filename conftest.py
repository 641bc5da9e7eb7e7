"""Repository-level test configuration: pytester for the plugin's own tests.

The plugin itself is loaded through its pytest11 entry point (installed package), so it
must not be listed here too ("Plugin already registered").
"""

pytest_plugins = ["pytester"]

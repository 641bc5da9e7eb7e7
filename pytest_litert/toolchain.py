"""Versions of the toolchain, read from package metadata so TensorFlow is not imported."""

from __future__ import annotations

import functools
from importlib import metadata

_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow-cpu", "tensorflow"),
    "keras": ("keras",),
    "ai-edge-litert": ("ai-edge-litert", "ai-edge-litert-nightly"),
    "ai-edge-quantizer": ("ai-edge-quantizer", "ai-edge-quantizer-nightly"),
    "numpy": ("numpy",),
}


@functools.cache
def versions() -> dict[str, str]:
    """Installed version of each toolchain component, 'missing' when absent."""
    found = {}
    for label, names in _DISTRIBUTIONS.items():
        found[label] = "missing"
        for name in names:
            try:
                found[label] = metadata.version(name)
                break
            except metadata.PackageNotFoundError:
                continue
    return found


def describe() -> str:
    v = versions()
    return (
        f"TensorFlow {v['tensorflow']}, Keras {v['keras']}, ai-edge-litert {v['ai-edge-litert']}, "
        f"ai-edge-quantizer {v['ai-edge-quantizer']}"
    )


def runtime_requirements() -> list[str]:
    """pytest-litert's runtime-only requirements (no extras: no TensorFlow), with LiteRT pinned
    to the installed version: what the emulated guest gets (run/qemu/emulator.py)."""
    wanted = []
    for requirement in metadata.requires("pytest-litert") or []:
        name = requirement.split(";")[0].strip()
        if "extra ==" in requirement:
            continue
        if name.startswith("ai-edge-litert") and versions()["ai-edge-litert"] != "missing":
            name = f"ai-edge-litert=={versions()['ai-edge-litert']}"
        wanted.append(name)
    return wanted

"""SME2 off on the same machine: an LD_PRELOAD library that hides SME from getauxval.

XNNPACK has no switch for KleidiAI's SME2 kernels, but it asks getauxval(AT_HWCAP2) whether
the CPU has SME2. `hide_sme.c`, preloaded into the worker, answers without the SME bits, so
the same Linux aarch64 machine runs LiteRT once with SME2 (`host`) and once without
(`host-nosme`): the A/B lane of `pytest -m sme2` and `pytest-litert bench --sme2-ab`.
build.py compiles it with the machine's own C compiler on first use; target.py is the target.
"""

from __future__ import annotations

from pytest_litert.run.nosme.build import (
    HWCAP2_SME_BITS,
    HWCAP_SME_BITS,
    Interposer,
    NosmeUnavailable,
    find_compiler,
    interposer,
)
from pytest_litert.run.nosme.target import (
    HOST_NOSME,
    host_nosme_target,
    nosme_status,
    proven_interposer,
    unsupported_reason,
)

__all__ = [
    "HOST_NOSME", "HWCAP2_SME_BITS", "HWCAP_SME_BITS", "Interposer", "NosmeUnavailable", "find_compiler",
    "host_nosme_target", "interposer", "nosme_status", "proven_interposer", "unsupported_reason",
]

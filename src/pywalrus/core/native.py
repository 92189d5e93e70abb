"""The optional C accelerator for batch hashing, or None when it is absent or disabled.

`pywalrus._native` is built at install time when a C compiler is available; every function
that uses it has a pure-Python path giving the same bytes. Set `PYWALRUS_NO_NATIVE=1` to force
the pure-Python path (the tests run both). On x86-64 CPUs with AVX2 it hashes four records at
once (`native.simd == 1`); `PYWALRUS_NO_SIMD=1` keeps it to the scalar BLAKE2b.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("PYWALRUS_NO_NATIVE"):
        return None
    try:
        return importlib.import_module("pywalrus._native")
    except ImportError:
        return None


native = _load()

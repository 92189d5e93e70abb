"""The optional C accelerator for batch hashing, or None when it is absent or disabled.

`pywalrus._native` is built at install time when a C compiler is available; every function
that uses it has a pure-Python path giving the same bytes. Set `PYWALRUS_NO_NATIVE=1` to force
the pure-Python path (the tests run both).
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

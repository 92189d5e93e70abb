"""`pywalrus.__all__` is the public interface: every name in it resolves, and it holds the whole
exception tree and the SDK's entry points (as httpx's test of its exported members)."""

from __future__ import annotations

import subprocess
import sys

import pywalrus
from pywalrus.core import errors

SDK = {
    "BlobId",
    "ClientConfig",
    "ConsistencyCheck",
    "StoreOptions",
    "SyncWalrusClient",
    "Wallet",
    "WalrusClient",
}
"""The entry points besides the errors; removing one breaks users."""


def test_all_is_the_error_tree_and_the_sdk() -> None:
    tree = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }
    assert len(pywalrus.__all__) == len(set(pywalrus.__all__))
    assert pywalrus.__all__ == sorted(pywalrus.__all__)
    assert set(pywalrus.__all__) == tree | SDK


def test_every_exported_name_resolves_to_its_definition() -> None:
    for name in pywalrus.__all__:
        value = getattr(pywalrus, name)
        assert value.__name__ == name
        assert value.__module__.startswith("pywalrus.")
        assert getattr(sys.modules[value.__module__], name) is value
    assert set(pywalrus.__all__) <= set(dir(pywalrus))


def test_public_names_outside_all_are_only_modules_and_the_version() -> None:
    public = {n for n in vars(pywalrus) if not n.startswith("_")}
    extra = {
        n for n in public - set(pywalrus.__all__) if not isinstance(getattr(pywalrus, n), type(sys))
    }
    assert extra <= {"annotations", "importlib", "Any", "TYPE_CHECKING"}


def test_importing_pywalrus_loads_no_network_or_numeric_code() -> None:
    code = "import sys, pywalrus; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert not loaded & {"aiohttp", "numpy", "pywalrus.client", "pywalrus.chain"}

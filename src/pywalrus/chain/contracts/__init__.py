"""The contracts: deterministic state transitions called by name from transactions.

Each entry function takes the transaction context and named JSON arguments whose types are
checked against its annotations before it runs; it returns a dict of values later calls of the
same transaction may refer to.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin, get_type_hints

from pywalrus.chain.context import TxContext
from pywalrus.core.errors import Abort
from pywalrus.core.types import U64_MAX

EntryFunction = Callable[..., dict[str, Any] | None]


@dataclass(frozen=True)
class Entry:
    """A registered entry function and what its arguments must be."""

    func: EntryFunction
    """The contract function."""
    types: dict[str, tuple[type, ...]]
    """Allowed JSON types per argument (None allowed where the annotation says so)."""
    optional: frozenset[str]
    """Arguments with a default."""


REGISTRY: dict[str, Entry] = {}
_JSON_TYPES = (int, str, bool, list, dict)


def _allowed(annotation: Any) -> tuple[type, ...]:
    """The JSON types an annotation admits: `int`, `str | None`, `dict[str, Any]`, …"""
    if isinstance(annotation, types.UnionType) or get_origin(annotation) is Union:
        return tuple(t for arg in get_args(annotation) for t in _allowed(arg))
    if annotation is type(None):
        return (type(None),)
    origin = get_origin(annotation) or annotation
    return (origin,) if origin in _JSON_TYPES else (object,)


def entry(name: str) -> Callable[[EntryFunction], EntryFunction]:
    """Register a contract entry function under `module::function`."""

    def register(func: EntryFunction) -> EntryFunction:
        hints = get_type_hints(func)
        parameters = list(inspect.signature(func).parameters.values())[1:]
        REGISTRY[name] = Entry(
            func,
            {p.name: _allowed(hints[p.name]) for p in parameters},
            frozenset(p.name for p in parameters if p.default is not inspect.Parameter.empty),
        )
        return func

    return register


def _check(name: str, value: Any, allowed: tuple[type, ...]) -> None:
    if object in allowed:
        return
    # bool is an int in Python but not in JSON schemas: only accept it where bool is meant.
    if isinstance(value, bool) and bool not in allowed:
        raise Abort("EBadArgument", f"argument {name!r} must not be a boolean")
    if not isinstance(value, allowed):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
        raise Abort("EBadArgument", f"argument {name!r} must be {names}")
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= U64_MAX:
        raise Abort("EBadArgument", f"argument {name!r} must be a u64 (0 to 2^64 - 1)")


def call(ctx: TxContext, function: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one entry function with checked arguments."""
    registered = REGISTRY.get(function)
    if registered is None:
        raise Abort("EUnknownFunction", f"unknown function {function!r}")
    unknown = set(args) - set(registered.types)
    if unknown:
        raise Abort("EBadArgument", f"unknown argument(s) {sorted(unknown)} for {function}")
    missing = set(registered.types) - set(args) - registered.optional
    if missing:
        raise Abort("EBadArgument", f"missing argument(s) {sorted(missing)} for {function}")
    for key, value in args.items():
        _check(key, value, registered.types[key])
    return registered.func(ctx, **args) or {}


def load_all() -> None:
    """Import every contract module so that its entry functions register."""
    from pywalrus.chain.contracts import (  # noqa: F401
        coin,
        genesis,
        governance,
        pure,
        staking,
        system,
    )

"""The contracts: deterministic state transitions called by name from transactions.

Each entry function takes the transaction context and named JSON arguments whose types are
checked against its annotations before it runs; it returns a dict of values later calls of the
same transaction may refer to.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

from pywalrus.chain.context import TxContext
from pywalrus.chain.objects import Abort

EntryFunction = Callable[..., dict[str, Any] | None]
REGISTRY: dict[str, tuple[EntryFunction, dict[str, Any]]] = {}


def entry(name: str) -> Callable[[EntryFunction], EntryFunction]:
    """Register a contract entry function under `module::function`."""

    def register(func: EntryFunction) -> EntryFunction:
        hints = get_type_hints(func)
        params = {p: hints[p] for p in list(inspect.signature(func).parameters)[1:] if p in hints}
        REGISTRY[name] = (func, params)
        return func

    return register


def _check(name: str, value: Any, expected: Any) -> None:
    origin = getattr(expected, "__origin__", None)
    kind = origin or expected
    if kind is Any:
        return
    if isinstance(expected, type) and expected is int and isinstance(value, bool):
        raise Abort("EBadArgument", f"argument {name!r} must be an integer")
    if kind in (int, str, bool, list, dict) and not isinstance(value, kind):
        raise Abort("EBadArgument", f"argument {name!r} must be of type {kind.__name__}")
    if kind is int and value < 0:
        raise Abort("EBadArgument", f"argument {name!r} must not be negative")


def call(ctx: TxContext, function: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one entry function with checked arguments."""
    if function not in REGISTRY:
        raise Abort("EUnknownFunction", f"unknown function {function!r}")
    func, params = REGISTRY[function]
    defaults = {
        p.name
        for p in inspect.signature(func).parameters.values()
        if p.default is not inspect.Parameter.empty
    }
    unknown = set(args) - set(params)
    if unknown:
        raise Abort("EBadArgument", f"unknown argument(s) {sorted(unknown)} for {function}")
    missing = set(params) - set(args) - defaults
    if missing:
        raise Abort("EBadArgument", f"missing argument(s) {sorted(missing)} for {function}")
    for key, value in args.items():
        if value is not None or key not in defaults:
            _check(key, value, params[key])
    return func(ctx, **args) or {}


def load_all() -> None:
    """Import every contract module so that its entry functions register."""
    from pywalrus.chain.contracts import coin, genesis, governance, staking, system  # noqa: F401

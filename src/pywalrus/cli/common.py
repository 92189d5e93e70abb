"""Global options and helpers shared by every `walrus` verb.

The global options (`--config`, `--context`, `--wallet`, `--gas-budget`, `--json`) are
accepted before the verb (on the group) and after it (on each verb), as upstream's `global =
true` flags are; all land in the root context object. This module imports no SDK at import
time: `walrus --help` and offline verbs must start fast, so the SDK, aiohttp and the chain are
imported only inside the verbs that use them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pywalrus.cli.output import fail, usage

if TYPE_CHECKING:
    from pywalrus.chain.client import ChainClient
    from pywalrus.client.client import Progress, WalrusClient
    from pywalrus.client.config import ClientConfig

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@dataclass
class Globals:
    """The global options as given (before or after the verb)."""

    json: bool = False
    config: Path | None = None
    context: str | None = None
    wallet: Path | None = None
    gas_budget: int | None = None


def globals_of(ctx: click.Context) -> Globals:
    root = ctx.find_root()
    if not isinstance(root.obj, Globals):
        root.obj = Globals()
    return root.obj


def _store(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value is not None and value is not False:
            setattr(globals_of(ctx), key, value)
        return value

    return callback


def _global(*decls: str, key: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*decls, expose_value=False, callback=_store(key), is_eager=True, **kwargs)


def global_options(func: F) -> F:
    """Upstream's global flags, valid before or after the verb."""
    for option in reversed(
        [
            _global(
                "--config",
                key="config",
                type=click.Path(path_type=Path, dir_okay=False),
                help="Client configuration file (default: $WALRUS_CONFIG, then "
                "client_config.yaml or .yml in ./, $XDG_CONFIG_HOME/walrus/, "
                "~/.config/walrus/, ~/.walrus/).",
            ),
            _global(
                "--context",
                key="context",
                help="The context of a multi-context configuration (default: its default_context).",
            ),
            _global(
                "--wallet",
                key="wallet",
                type=click.Path(path_type=Path, dir_okay=False),
                help="The wallet (keystore) to use instead of the configuration's.",
            ),
            _global(
                "--gas-budget",
                key="gas_budget",
                type=click.IntRange(min=0),
                help="The most gas (MIST) a transaction may cost (default: its exact fee).",
            ),
            _global("--json", key="json", is_flag=True, default=None, help="Write output as JSON."),
        ]
    ):
        func = option(func)
    return func


def json_mode(ctx: click.Context) -> bool:
    return globals_of(ctx).json


def one_line(text: str) -> str:
    return " ".join(str(text).split())


@contextmanager
def cli_errors() -> Iterator[None]:
    """Report pywalrus errors as one line a user can act on."""
    from pywalrus.core.errors import ChainError, InsufficientGas, WalrusError

    try:
        yield
    except ChainError as exc:
        raise fail(chain_message(exc.reason, one_line(str(exc)))) from None
    except InsufficientGas as exc:
        raise fail(f"{one_line(str(exc))}; {GAS_HINT}") from None
    except WalrusError as exc:
        raise fail(one_line(str(exc))) from None


GAS_HINT = (
    "gas is not WAL: `walrus wallet balance` shows both, and on a local network "
    "`walrus get-wal --gas 1000000000` asks the faucet for gas"
)


def chain_message(reason: str | None, message: str) -> str:
    """A rejected transaction in words: its abort reason, and what to do when gas is short."""
    if reason == "EInsufficientGas":
        return f"not enough gas (SUI) for the transaction fee ({message}); {GAS_HINT}"
    if reason == "EGasBudget":
        return f"the transaction costs more gas than --gas-budget allows ({message})"
    return ("transaction rejected: " if reason else "") + message


def load_config(ctx: click.Context) -> ClientConfig:
    """The client configuration the global options name (or found in the usual places)."""
    from pywalrus.client.config import ClientConfig, find_config

    options = globals_of(ctx)
    with cli_errors():
        config = ClientConfig.load(find_config(options.config), options.context)
        if options.wallet is not None:
            config = config.with_wallet(options.wallet)
        return config


def chain_client(ctx: click.Context, config: ClientConfig) -> ChainClient:
    from pywalrus.chain.client import ChainClient

    return ChainClient(config.chain_url, gas_budget=globals_of(ctx).gas_budget)


def walrus_client(
    ctx: click.Context, config: ClientConfig, progress: Progress | None = None
) -> WalrusClient:
    from pywalrus.client.client import WalrusClient

    client = WalrusClient(config, progress=progress)
    client.chain.gas_budget = globals_of(ctx).gas_budget
    return client


def run(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async operation, reporting errors as one line.

    The result is passed out through a box, not as the main task's result: asyncio's runner
    formats its main task (result included, through `repr`) when it restores the SIGINT
    handler, which for a task holding a whole blob cost seconds and a string four times the
    blob's size.
    """
    import asyncio

    box: list[T] = []

    async def main() -> None:
        box.append(await coroutine())

    with cli_errors():
        asyncio.run(main())
    return box[0]


MMAP_THRESHOLD = 256 * 1024
"""Buffers from this size on get pages of their own, handed back to the system when freed."""


def fix_mmap_threshold() -> None:
    """Keep glibc from raising its mmap threshold (it does after each large free, up to
    32 MiB), for the rest of this process.

    A read allocates and frees many sliver-sized buffers; with the threshold raised they land
    in the heap, whose freed pages a process rarely returns: fixed, a 64 MiB read peaked at
    215 MB of RSS instead of 260 MB, for about 0.05 s. Not for stores: there the encoder's
    large temporaries then cost fresh page faults each (0.3 s more for 64 MiB, for 45 MB
    less). No-op where the C library is not glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(-3, MMAP_THRESHOLD)  # -3: M_MMAP_THRESHOLD


def read_file(path: Path, max_size: int | None = None) -> bytes:
    """A file's bytes, or a one-line error naming why it cannot be read."""
    check_readable(path, max_size)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"file '{path}' cannot be read: {exc.strerror}") from None


def check_readable(path: Path, max_size: int | None = None) -> int:
    """The size of a readable file (within `max_size`), or a one-line error saying why not."""
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise fail(f"'{path}' is a directory, not a file")
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise fail(f"file '{path}' does not exist") from None
    except PermissionError:
        raise fail(f"file '{path}' cannot be read: permission denied") from None
    except OSError as exc:
        raise fail(f"file '{path}' cannot be read: {exc.strerror}") from None
    if max_size is not None and size > max_size:
        raise fail(
            f"file '{path}' has {size:,} bytes, more than the maximum blob size of "
            f"{max_size:,} bytes"
        )
    return size


def exactly_one(**given: bool) -> None:
    """A usage error unless exactly one of the named arguments was given."""
    if sum(given.values()) != 1:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in given)
        raise usage(f"give exactly one of {names}")


def at_most_one(**given: bool) -> None:
    if sum(given.values()) > 1:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in given if given[k])
        raise usage(f"{names} cannot be used together")


def will_ask(yes: bool, json: bool) -> bool:
    """Whether a confirmation is asked: on a terminal, unless `--yes` or JSON mode."""
    return not yes and not json and sys.stdin.isatty()


def confirm(question: str, yes: bool, json: bool) -> bool:
    """Ask on a terminal as upstream does (`[y/N]`); `--yes`, JSON mode or a pipe proceed."""
    if not will_ask(yes, json):
        return True
    click.echo(f"{question} [y/N]")
    answer = sys.stdin.readline()
    return answer.strip().lower().startswith("y")

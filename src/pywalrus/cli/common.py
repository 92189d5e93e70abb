"""Global options and helpers shared by every `walrus` verb.

`--json` and `--config FILE` are accepted before the verb (on the group) and after it (on each
verb), as upstream's global flags are; both land in the root context object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pywalrus.cli.output import fail
from pywalrus.core.errors import WalrusError

if TYPE_CHECKING:
    from pywalrus.client.config import ClientConfig

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _store(key: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value:
            ctx.find_root().ensure_object(dict)[key] = value
        return value

    return callback


def global_options(func: F) -> F:
    """`--json` and `--config FILE`, valid before or after the verb."""
    func = click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        callback=_store("json"),
        is_eager=True,
        help="Print machine-readable JSON.",
    )(func)
    return click.option(
        "--config",
        "client_config",
        type=click.Path(path_type=Path, dir_okay=False),
        expose_value=False,
        callback=_store("config"),
        is_eager=True,
        help="Client configuration (default: $WALRUS_CONFIG, ./client_config.yaml, "
        "~/.config/walrus/client_config.yaml, ~/.walrus/client_config.yaml).",
    )(func)


def json_mode(ctx: click.Context) -> bool:
    return bool(ctx.find_root().ensure_object(dict).get("json"))


def config_path(ctx: click.Context) -> Path | None:
    value = ctx.find_root().ensure_object(dict).get("config")
    return value if isinstance(value, Path) else None


def one_line(text: str) -> str:
    return " ".join(str(text).split())


@contextmanager
def cli_errors() -> Iterator[None]:
    """Report pywalrus errors as one line; a rejected transaction shows its abort reason."""
    from pywalrus.chain.client import ChainError

    try:
        yield
    except ChainError as exc:
        prefix = "transaction rejected: " if exc.reason else ""
        raise fail(prefix + one_line(str(exc))) from None
    except WalrusError as exc:
        raise fail(one_line(str(exc))) from None


def load_config(ctx: click.Context) -> ClientConfig:
    """The client configuration from `--config` or the usual places."""
    from pywalrus.client.config import ClientConfig, find_config

    with cli_errors():
        return ClientConfig.load(find_config(config_path(ctx)))


def run(coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async operation, reporting errors as one line.

    The result is passed out through a box, not as the main task's result: asyncio's runner
    formats its main task (result included, through `repr`) when it restores the SIGINT
    handler, which for a task holding a whole blob cost seconds and a string four times the
    blob's size.
    """
    box: list[T] = []

    async def main() -> None:
        box.append(await coroutine())

    with cli_errors():
        asyncio.run(main())
    return box[0]


def read_file(path: Path, max_size: int | None = None) -> bytes:
    """A file's bytes, or a one-line error naming why it cannot be read."""
    try:
        size = path.stat().st_size
        if max_size is not None and size > max_size:
            raise fail(
                f"file '{path}' has {size} bytes, more than the maximum blob size of "
                f"{max_size} bytes"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise fail(f"file '{path}' does not exist") from None
    except IsADirectoryError:
        raise fail(f"'{path}' is a directory, not a file") from None
    except PermissionError:
        raise fail(f"file '{path}' cannot be read: permission denied") from None
    except OSError as exc:
        raise fail(f"file '{path}' cannot be read: {exc.strerror}") from None

"""Parameter types and parsing rules that make `walrus` take upstream's command lines.

Upstream's clap arguments differ from click's defaults in two ways handled here:

- `num_args = 1..`: one flag followed by several values (`--object-ids A B C`). Click takes
  one value per flag, so `WalrusCommand` rewrites such runs into repeated flags first.
- `allow_hyphen_values`: a blob ID may start with `-` (one in 64 does). Click already takes
  an option's value as given; a positional blob ID that starts with `-` is moved behind a `--`
  so that it is not read as an option.

Values are parsed into protocol types with upstream's messages; usage errors exit with 2.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pywalrus.core.types import BlobId

F = TypeVar("F", bound=Callable[..., Any])

BLOB_ID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""43 URL-safe base64 characters: the text of a blob ID."""


def _value_options(command: click.Command) -> dict[str, click.Option]:
    """Every spelling of the options of `command` that take values."""
    out = {}
    for param in command.params:
        if isinstance(param, click.Option) and not param.is_flag and not param.count:
            for name in (*param.opts, *param.secondary_opts):
                out[name] = param
    return out


def _known_options(command: click.Command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


class WalrusCommand(click.Command):
    """A verb taking upstream's argument forms (see the module docstring).

    `variadic` names options that, as upstream's `num_args = 1..`, take every following value
    up to the next option; `hyphen_positionals` says that positional values may start with `-`
    (blob IDs).
    """

    def __init__(
        self,
        *args: Any,
        variadic: Sequence[str] = (),
        hyphen_positionals: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.variadic = tuple(variadic)
        self.hyphen_positionals = hyphen_positionals

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self.normalise(args))

    def normalise(self, args: list[str]) -> list[str]:
        """`args` with variadic runs spelled as repeated flags and hyphenated positional blob
        IDs behind a `--`."""
        known = _known_options(self)
        takes_value = _value_options(self)
        out: list[str] = []
        trailing: list[str] = []
        index = 0
        while index < len(args):
            word = args[index]
            index += 1
            if word == "--":
                trailing += args[index:]
                break
            flag = word.split("=", 1)[0]
            if flag in takes_value:
                option = takes_value[flag]
                if "=" in word:
                    out.append(word)
                    continue
                out.append(word)
                count = max(1, option.nargs)
                out += args[index : index + count]
                index += count
                if flag in self.variadic:
                    while index < len(args) and not self._starts_option(args[index], known):
                        out += [flag, args[index]]
                        index += 1
                continue
            if (
                self.hyphen_positionals
                and word.startswith("-")
                and word not in known
                and BLOB_ID_SHAPE.match(word)
            ):
                trailing.append(word)
                continue
            out.append(word)
        return [*out, "--", *trailing] if trailing else out

    @staticmethod
    def _starts_option(word: str, known: set[str]) -> bool:
        return (
            word == "--"
            or word.split("=", 1)[0] in known
            or (word.startswith("-") and not BLOB_ID_SHAPE.match(word) and len(word) > 1)
        )


class AliasGroup(click.Group):
    """A group whose commands also answer to hidden aliases (upstream's `write` for
    `store`; our earlier spellings)."""

    def __init__(self, *args: Any, aliases: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = dict(aliases or {})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, self.aliases.get(cmd_name, cmd_name))


class BlobIdParam(click.ParamType[Any, Any]):
    """A blob ID (URL-safe base64); a decimal value gets upstream's hint with its base64."""

    name = "BLOB_ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pywalrus.core.errors import InvalidBlobIdError
        from pywalrus.core.types import BlobId

        if not isinstance(value, str):
            return value
        try:
            return BlobId.parse(value)
        except InvalidBlobIdError:
            decimal = decimal_blob_id(value)
            if decimal is not None:
                self.fail(
                    "you seem to be using a numeric value in decimal format corresponding to "
                    "a Walrus blob ID (maybe copied from a Sui explorer) whereas Walrus uses "
                    f"URL-safe base64 encoding; the Walrus blob ID for it is {decimal}",
                    param,
                    ctx,
                )
            self.fail(f"the provided blob ID {value!r} is invalid", param, ctx)


def decimal_blob_id(text: str) -> BlobId | None:
    """The blob ID whose on-chain u256 is the decimal `text`, if it is one."""
    from pywalrus.core.types import BlobId

    if not text.isdigit():
        return None
    value = int(text)
    return BlobId.from_u256(value) if value < 1 << 256 else None


class ObjectIdParam(click.ParamType[Any, Any]):
    """A Sui-style object ID or address (0x-hex, up to 32 bytes), normalised."""

    name = "OBJECT_ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pywalrus.core.accounts import parse_address
        from pywalrus.core.errors import InvalidAddressError

        try:
            return parse_address(value)
        except InvalidAddressError as exc:
            self.fail(str(exc), param, ctx)


class EpochsParam(click.ParamType[Any, Any]):
    """`--epochs`: a number of epochs greater than 0, or `max`."""

    name = "EPOCHS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int) or value == "max":
            return value
        try:
            epochs = int(value)
        except (TypeError, ValueError):
            epochs = 0
        if epochs <= 0:
            self.fail(f"invalid epoch count {value!r}; give a number > 0 or `max`", param, ctx)
        return epochs


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


class DurationParam(click.ParamType[Any, Any]):
    """A duration as humantime writes them (`1s`, `500ms`, `1min 30s`), in seconds."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float | int):
            return float(value)
        text = str(value).strip().lower()
        parts = _DURATION_PART.findall(text)
        if not parts or _DURATION_PART.sub("", text).strip():
            self.fail(f"invalid duration {value!r}: expected e.g. 1s, 500ms or 2min", param, ctx)
        total = 0.0
        for amount, unit in parts:
            if unit not in _DURATION_UNITS:
                self.fail(f"invalid duration {value!r}: unknown unit {unit!r}", param, ctx)
            total += float(amount) * _DURATION_UNITS[unit]
        if total <= 0:
            self.fail(f"invalid duration {value!r}: must be greater than zero", param, ctx)
        return total


class TimeParam(click.ParamType[Any, Any]):
    """A time in RFC 3339 (`2026-12-31T15:00:00Z`) or relaxed (`2026-12-31 15:00:00`, UTC)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.datetime):
            return value
        text = str(value).strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            self.fail(
                f"invalid time {value!r}: expected RFC 3339, e.g. 2026-12-31T15:00:00Z", param, ctx
            )
        return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


BLOB_ID = BlobIdParam()
OBJECT_ID = ObjectIdParam()
EPOCHS = EpochsParam()
DURATION = DurationParam()
TIME = TimeParam()


def _encoding_type(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and value.upper() != "RS2":
        raise click.BadParameter(f"unsupported encoding type {value!r}: pywalrus encodes RS2")
    return value


ENCODING_TYPE_OPTION = click.option(
    "--encoding-type",
    hidden=True,
    expose_value=False,
    callback=_encoding_type,
    help="RS2, the only encoding (upstream's hidden flag).",
)
RPC_URL_OPTION = click.option(
    "--rpc-url",
    hidden=True,
    expose_value=False,
    help="Accepted for upstream's command lines: the chain is the configuration's.",
)


def timeout_option(default: str, what: str) -> Callable[[F], F]:
    """`--timeout DURATION` for requests to storage nodes."""
    return click.option(
        "--timeout",
        type=DURATION,
        default=default,
        show_default=True,
        help=f"How long {what} may take (e.g. 1s, 500ms).",
    )

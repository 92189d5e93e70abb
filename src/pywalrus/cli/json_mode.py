"""`walrus json`: a whole command as JSON, turned into the command line it stands for.

The JSON follows upstream's serde form of the arguments: global options at the top
(`config`, `context`, `wallet`, `gasBudget`, `json`) and `command: {"<verb>": {…}}` with the
verb and its arguments in camelCase. Every argument of every verb is reached through the verb's
own parameters: a key names a parameter (`blobObjId` → `blob_obj_id`), positional ones go at
the end behind `--` (so values starting with `-`, as one blob ID in 64 does, stay values),
lists repeat their flag, booleans are flags, and subcommands nest as `"command": {"<sub>":
{…}}` (or just `"<sub>"`). serde's forms of durations (`{"secs", "nanos"}`) and times
(`{"secs_since_epoch", …}`) are accepted too. A key that names no argument is a usage error
(upstream's serde ignores it, which would quietly drop what was asked).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import click

from pywalrus.cli.output import usage

GLOBALS = {
    "config": "--config",
    "context": "--context",
    "wallet": "--wallet",
    "gasBudget": "--gas-budget",
}


def kebab(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"-\1", name).lower()


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def to_argv(text: str, root: click.Group) -> list[str]:
    """The `walrus` command line for a JSON command (always with `--json`)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise usage(f"invalid JSON: {exc}") from None
    if not isinstance(document, dict) or "command" not in document:
        raise usage('walrus json expects {"command": {"<verb>": {…}}} (and global options)')
    argv = ["--json"]
    for key, value in document.items():
        if key in GLOBALS and value is not None:
            argv += [GLOBALS[key], str(value)]
        elif key not in ("command", "json", *GLOBALS):
            raise usage(f"unknown global option {key!r} in the JSON command")
    return argv + _command(root, document["command"], "walrus")


def _command(group: click.Group, spec: Any, where: str) -> list[str]:
    """`verb [args…]` for `{"verb": {args}}` (or `"verb"`) under `group`."""
    if isinstance(spec, str):
        spec = {spec: {}}
    if not isinstance(spec, dict) or len(spec) != 1:
        raise usage(f'{where} needs exactly one command, as {{"<verb>": {{…}}}}')
    ((verb_camel, args),) = spec.items()
    verb = kebab(verb_camel)
    aliases: dict[str, str] = getattr(group, "aliases", {})
    command = group.commands.get(aliases.get(verb, verb))
    if command is None:
        raise usage(f"unknown command {verb_camel!r} for {where}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise usage(f"the arguments of {verb_camel!r} must be an object")
    return [verb, *_arguments(command, dict(args), f"{where} {verb}")]


def _param(command: click.Command, key: str) -> click.Parameter | None:
    name = snake(key)
    for param in command.params:
        if param.name in (name, name + "_") and param.expose_value:
            return param
    return None


def _text(value: Any) -> str:
    """A JSON value as the command-line word for it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict) and "secs" in value:
        return f"{value['secs'] + value.get('nanos', 0) / 1e9}s"
    if isinstance(value, dict) and "secs_since_epoch" in value:
        seconds = value["secs_since_epoch"] + value.get("nanos_since_epoch", 0) / 1e9
        return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()
    return str(value)


def _arguments(command: click.Command, args: dict[str, Any], where: str) -> list[str]:
    words: list[str] = []
    positional: list[str] = []
    sub = args.pop("command", None)
    for key, value in args.items():
        param = _param(command, key)
        if param is None:
            raise usage(f"unknown argument {key!r} for {where}")
        values = value if isinstance(value, list) else [value]
        if value is None or value is False:
            continue
        if isinstance(param, click.Argument):
            positional += [_text(v) for v in values]
            continue
        assert isinstance(param, click.Option)
        flag = param.opts[0]
        if param.is_flag:
            words.append(flag)
        elif param.nargs > 1:
            flat = [_text(v) for v in values]
            if len(flat) % param.nargs:
                raise usage(f"{key!r} for {where} takes values in groups of {param.nargs}")
            for start in range(0, len(flat), param.nargs):
                words += [flag, *flat[start : start + param.nargs]]
        else:
            for item in values:
                words += [flag, _text(item)]
    if sub is not None:
        if not isinstance(command, click.Group):
            raise usage(f"{where} has no subcommands")
        return words + _command(command, sub, where)
    return [*words, "--", *positional] if positional else words

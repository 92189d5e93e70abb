"""Entry point of the `walrus` command: the verb group, `json`, `completion`, exit codes.

Every failure is one `Error: …` line on stderr: exit code 1 when the operation failed, 2 when
the command line cannot be right (as clap exits), 130 when interrupted. `walrus` alone prints
the help on stderr and exits with 2, as upstream's `walrus` without a subcommand.

Nothing heavy is imported here or by the verb modules at import time (see `cli/common.py`).
"""

from __future__ import annotations

import sys

import click

from pywalrus.cli import (
    blob_commands,
    chain_commands,
    data_commands,
    http_commands,
    info_commands,
    json_mode,
    node_commands,
    service_commands,
)
from pywalrus.cli.common import global_options
from pywalrus.cli.output import fail
from pywalrus.cli.params import AliasGroup

INTERRUPTED = 130
"""Exit code after Ctrl-C (128 + SIGINT), as a shell reports a process SIGINT stopped."""


@click.group(
    cls=AliasGroup,
    aliases={"write": "store"},
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@global_options
@click.version_option(None, "-V", "--version", package_name="pywalrus", prog_name="walrus")
def cli() -> None:
    """Walrus client: store and read blobs on a Walrus network (pywalrus)."""


@cli.command("json")
@click.argument("command_string", required=False)
def json_command(command_string: str | None) -> None:
    """Run the command given as JSON (argument or stdin); CLI options are ignored.

    The JSON follows the command line: global options and a "command" object naming the verb
    (camelCase) with its arguments, e.g. {"config": "client_config.yaml", "command": {"read":
    {"blobId": "…", "out": "blob.bin"}}}. Output is always JSON.
    """
    text = command_string if command_string is not None else sys.stdin.read()
    raise SystemExit(main(json_mode.to_argv(text, cli)))


@cli.command("completion")
@click.option("--shell", help="bash, zsh or fish (default: from $SHELL).")
def completion(shell: str | None) -> None:
    """Print a shell completion script for `walrus`."""
    import os

    from click.shell_completion import get_completion_class

    name = shell or os.path.basename(os.environ.get("SHELL", ""))
    completer = get_completion_class(name) if name else None
    if completer is None:
        raise fail(
            f"cannot complete for shell {name!r}; possible values: bash, zsh, fish"
            if name
            else "could not detect the shell; give --shell bash|zsh|fish"
        )
    click.echo(completer(cli, {}, "walrus", "_WALRUS_COMPLETE").source())


for module in (
    data_commands,
    blob_commands,
    node_commands,
    info_commands,
    chain_commands,
    service_commands,
    http_commands,
):
    for command in module.COMMANDS:
        cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: every failure is one line on stderr and a non-zero exit."""
    try:
        result = cli.main(args=argv, prog_name="walrus", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message(), err=True)
        return 2
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Error: interrupted", err=True)
        return INTERRUPTED
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BrokenPipeError:
        return 1
    return result if isinstance(result, int) else 0

"""Rendering results for people (text) and programs (`--json`), and one-line errors."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from pywalrus.core.errors import WalrusError


class CliError(click.ClickException):
    """A failure reported as one line on stderr with a non-zero exit code."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def fail(message: str) -> CliError:
    return CliError(message)


def from_walrus_error(exc: WalrusError) -> CliError:
    return CliError(str(exc))


def success(text: str) -> None:
    """Print `Success: …` as upstream does, coloured on a terminal."""
    click.echo(click.style("Success:", fg="green", bold=True) + " " + text)


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")

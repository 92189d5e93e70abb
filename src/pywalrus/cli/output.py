"""Rendering results for people (text) and programs (`--json`), and one-line errors.

Failures are one `Error: …` line on stderr: exit code 1 for a failure (`fail`), 2 for a
command line that cannot be right (`usage`), as upstream's clap-based CLI exits. Sizes and
amounts print as upstream prints them (`HumanReadableBytes`, `HumanReadableFrost`).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from pywalrus.core.pricing import FROST_PER_WAL as FROST_PER_WAL
from pywalrus.core.pricing import coin_text, format_wal


class CliError(click.ClickException):
    """A failure reported as one line on stderr with exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


class UsageProblem(click.UsageError):
    """A command line that cannot be right (conflicting or missing arguments): exit code 2."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def fail(message: str) -> CliError:
    return CliError(message)


def usage(message: str) -> UsageProblem:
    return UsageProblem(message)


def success(text: str) -> None:
    """Print `Success: …` as upstream does, coloured on a terminal."""
    click.echo(click.style("Success:", fg="green", bold=True) + " " + text)


def warning(text: str, err: bool = True) -> None:
    """Print `Warning: …`, on stderr unless told otherwise (stdout may be JSON)."""
    click.echo(click.style("Warning:", fg="yellow", bold=True) + " " + text, err=err)


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def thousands(n: int) -> str:
    return f"{n:,}"


def human_bytes(n: int) -> str:
    """Bytes as upstream prints them: `1023 B`, `1.00 KiB`, `99.0 KiB`, `100 KiB`.

    Below 1024 the exact count; above, binary units with three significant digits (the
    integer part is never rounded away).
    """
    if n < 1024:
        return f"{n} B"
    value, unit = float(n), "B"
    for name in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value, unit = value / 1024, name
        if value < 1024:
            break
    digits = len(str(int(value)))
    return f"{value:.{max(0, 3 - digits)}f} {unit}"


def _coin(amount: int, unit: str, superunit: str) -> str:
    """Upstream's `HumanReadableCoin`: small amounts in the base unit, else 3-4 decimals."""
    if amount == 0:
        return f"0 {unit}"
    ratio = FROST_PER_WAL // amount
    if ratio > 10_000:
        return f"{amount:,} {unit}"
    return coin_text(amount, superunit, places=3 if ratio <= 100 else 4, grouped=True)


def human_frost(amount: int) -> str:
    """FROST as upstream prints WAL amounts: `0.0099 WAL`, `1.500 WAL`, `5,000 FROST`."""
    return _coin(amount, "FROST", "WAL")


def human_mist(amount: int) -> str:
    """MIST as upstream prints SUI amounts."""
    return _coin(amount, "MIST", "SUI")


def exact_wal(frost: int) -> str:
    """FROST as WAL, exactly, thousands separated: 1500000000 → `1.5 WAL`."""
    return format_wal(frost, grouped=True)

"""Our own verbs: `walrus chain`, `walrus node` (run a service) and `walrus testbed`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pywalrus.cli.common import global_options, json_mode, one_line
from pywalrus.cli.output import emit_json, fail, success, warning

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _run_service(kind: str, config_path: Path) -> None:
    """Run the chain or a storage node in the foreground from its config file."""
    import importlib

    from pywalrus.core.errors import WalrusError

    if not config_path.is_file():
        raise fail(f"{kind} config '{config_path}' does not exist")
    service = importlib.import_module(f"pywalrus.{kind}.service")
    try:
        service.run(config_path)
    except WalrusError as exc:
        raise fail(one_line(str(exc))) from None


def _config_file(what: str) -> Callable[[F], F]:
    return click.option(
        "--config", "config_path", type=click.Path(path_type=Path), required=True, help=what
    )


@click.command("chain")
@_config_file("Chain configuration (YAML).")
def chain(config_path: Path) -> None:
    """Run the coordination chain (JSON-RPC over HTTP) until interrupted."""
    _run_service("chain", config_path)


@click.command("node")
@_config_file("Storage node configuration (YAML).")
def node(config_path: Path) -> None:
    """Run one storage node until interrupted."""
    _run_service("node", config_path)


@click.group("testbed")
def testbed() -> None:
    """Start, inspect and stop a local network in one directory."""


def _on_testbed(operation: Callable[[], T]) -> T:
    """Run a testbed operation; its failure is one line."""
    from pywalrus.core.errors import WalrusError

    try:
        return operation()
    except (WalrusError, OSError) as exc:
        raise fail(one_line(str(exc))) from None


_DIR = click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)


@testbed.command("up")
@_DIR
@click.option("--nodes", type=click.IntRange(1, 100), default=7, show_default=True)
@click.option("--shards", type=click.IntRange(4, 1000), default=100, show_default=True)
@click.option(
    "--epoch-duration",
    type=click.IntRange(1, 10**7),
    default=300,
    show_default=True,
    help="Epoch length in seconds.",
)
@click.option(
    "--daemon/--no-daemon",
    default=True,
    show_default=True,
    help="Also run a client daemon (aggregator and publisher over HTTP) with its own wallet.",
)
@click.option("--manual-clock", is_flag=True, hidden=True, help="Tests drive the chain clock.")
@global_options
@click.pass_context
def testbed_up(
    ctx: click.Context,
    directory: Path,
    nodes: int,
    shards: int,
    epoch_duration: int,
    daemon: bool,
    manual_clock: bool,
) -> None:
    """Create (if new) and start the chain, the storage nodes and a client daemon; wait until
    healthy.

    An existing directory keeps its network: it is restarted as it was created, whatever
    --nodes, --shards and --epoch-duration say now (--no-daemon leaves its daemon stopped).
    """
    from pywalrus.core.errors import TestbedError, WalrusError
    from pywalrus.testbed import local

    try:
        existing = local.existing_layout(directory)
        if existing is not None:
            asked = {
                "nodes": nodes,
                "shards": shards,
            }
            differs = {
                k: v
                for k, v in asked.items()
                if ctx.get_parameter_source(k) is click.core.ParameterSource.COMMANDLINE
                and existing.get(k) != v
            }
            if differs:
                warning(
                    f"{directory} already holds a network of {existing['nodes']} nodes and "
                    f"{existing['shards']} shards; it keeps that network (use another --dir, "
                    "or `testbed down` and remove the directory, for a new one)"
                )
        local.up(
            directory,
            nodes,
            shards,
            epoch_duration * 1000,
            manual_clock=manual_clock,
            daemon=daemon,
        )
        rows = local.status(directory)
    except TestbedError as exc:
        raise fail(str(exc)) from None
    except (WalrusError, TimeoutError, RuntimeError, OSError) as exc:
        raise fail(f"testbed did not come up: {one_line(str(exc))}") from None
    if json_mode(ctx):
        emit_json(
            {
                "dir": str(directory),
                "clientConfig": str(directory / "client_config.yaml"),
                "processes": rows,
            }
        )
        return
    success(
        f"local network in {directory} is up: {sum(r['healthy'] for r in rows)} healthy processes"
    )
    for row in rows:
        click.echo(f"  {row['name']:10} {row['url']}  pid {row['pid']}")
    click.echo(f"Client config: {directory / 'client_config.yaml'} (or export WALRUS_CONFIG=...)")
    for row in rows:
        if row["role"] == "daemon" and row["running"]:
            click.echo(f"HTTP: curl {row['url']}v1/blobs/BLOB_ID  (aggregator API)")


@testbed.command("status")
@_DIR
@global_options
@click.pass_context
def testbed_status(ctx: click.Context, directory: Path) -> None:
    """List each process with its pid, role, URL and health."""
    from pywalrus.testbed import local

    rows = _on_testbed(lambda: local.status(directory))
    if json_mode(ctx):
        emit_json(rows)
        return
    for row in rows:
        state = "healthy" if row["healthy"] else ("running" if row["running"] else "stopped")
        click.echo(f"{row['name']:10} {row['role']:6} {state:8} pid={row['pid']} {row['url']}")


@testbed.command("down")
@_DIR
@global_options
@click.pass_context
def testbed_down(ctx: click.Context, directory: Path) -> None:
    """Stop every process of the local network (data is kept)."""
    from pywalrus.testbed import local

    stopped = _on_testbed(lambda: local.down(directory))
    if json_mode(ctx):
        emit_json({"stopped": stopped})
    else:
        success(f"stopped {stopped} processes")


COMMANDS = (chain, node, testbed)

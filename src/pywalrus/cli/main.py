"""Entry point of the `walrus` command and its global options."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pywalrus.cli import blob_commands, chain_commands
from pywalrus.cli.common import global_options, json_mode, read_file
from pywalrus.cli.output import emit_json, fail, from_walrus_error, success
from pywalrus.core.config import MAX_N_SHARDS, MIN_N_SHARDS, EncodingConfig
from pywalrus.core.encoding import compute_metadata
from pywalrus.core.errors import WalrusError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@global_options
@click.version_option(package_name="pywalrus")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """pywalrus: store and read blobs on a Walrus network."""
    ctx.ensure_object(dict)


@cli.command("blob-id")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True))
@click.option(
    "--n-shards",
    type=int,
    required=True,
    help=f"Number of shards ({MIN_N_SHARDS}–{MAX_N_SHARDS}) to encode for.",
)
@global_options
@click.pass_context
def blob_id(ctx: click.Context, file: Path, n_shards: int) -> None:
    """Compute the blob ID of FILE offline."""
    try:
        config = EncodingConfig(n_shards)
        data = read_file(file, config.max_blob_size)
        metadata = compute_metadata(data, config)
    except WalrusError as exc:
        raise from_walrus_error(exc) from None
    blob_id = metadata.blob_id()
    if json_mode(ctx):
        emit_json(
            {
                "blobId": str(blob_id),
                "file": str(file),
                "unencodedLength": metadata.unencoded_length,
                "encodingType": metadata.encoding_type.name,
                "rootHash": metadata.root_hash().hex(),
                "encodedLength": config.encoded_length(len(data)),
                "symbolSize": config.symbol_size(len(data)),
                "nShards": n_shards,
            }
        )
        return
    success(f"Blob from file '{file}' encoded successfully.")
    click.echo(f"Unencoded size: {metadata.unencoded_length}")
    click.echo(f"Blob ID: {blob_id}")
    click.echo(f"Encoding type: {metadata.encoding_type.name}")


F = TypeVar("F", bound=Callable[..., Any])


def _run_service(kind: str, config_path: Path) -> None:
    """Run the chain or a storage node in the foreground from its config file."""
    import importlib

    if not config_path.is_file():
        raise fail(f"{kind} config '{config_path}' does not exist")
    service = importlib.import_module(f"pywalrus.{kind}.service")
    try:
        service.run(config_path)
    except WalrusError as exc:
        raise from_walrus_error(exc) from None


def _config_file(what: str) -> Callable[[F], F]:
    return click.option(
        "--config", "config_path", type=click.Path(path_type=Path), required=True, help=what
    )


@cli.command("chain")
@_config_file("Chain configuration (YAML).")
def chain(config_path: Path) -> None:
    """Run the coordination chain (JSON-RPC over HTTP) until interrupted."""
    _run_service("chain", config_path)


@cli.command("node")
@_config_file("Storage node configuration (YAML).")
def node(config_path: Path) -> None:
    """Run one storage node until interrupted."""
    _run_service("node", config_path)


@cli.group("testbed")
def testbed() -> None:
    """Start, inspect and stop a local network in one directory."""


@testbed.command("up")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@click.option("--nodes", type=click.IntRange(1, 100), default=7, show_default=True)
@click.option("--shards", type=click.IntRange(4, 1000), default=100, show_default=True)
@click.option(
    "--epoch-duration",
    type=click.IntRange(1, 10**7),
    default=300,
    show_default=True,
    help="Epoch length in seconds.",
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
    manual_clock: bool,
) -> None:
    """Create (if new) and start the chain and storage nodes; wait until healthy."""
    from pywalrus.testbed import local

    try:
        local.up(directory, nodes, shards, epoch_duration * 1000, manual_clock=manual_clock)
        rows = local.status(directory)
    except (WalrusError, TimeoutError, RuntimeError) as exc:
        raise fail(f"testbed did not come up: {exc}") from None
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


@testbed.command("status")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@global_options
@click.pass_context
def testbed_status(ctx: click.Context, directory: Path) -> None:
    """List each process with its pid, role, URL and health."""
    from pywalrus.testbed import local

    try:
        rows = local.status(directory)
    except (WalrusError, OSError) as exc:
        raise fail(str(exc)) from None
    if json_mode(ctx):
        emit_json(rows)
        return
    for row in rows:
        state = "healthy" if row["healthy"] else ("running" if row["running"] else "stopped")
        click.echo(f"{row['name']:10} {row['role']:6} {state:8} pid={row['pid']} {row['url']}")


@testbed.command("down")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@global_options
@click.pass_context
def testbed_down(ctx: click.Context, directory: Path) -> None:
    """Stop every process of the local network (data is kept)."""
    from pywalrus.testbed import local

    try:
        stopped = local.down(directory)
    except (WalrusError, OSError) as exc:
        raise fail(str(exc)) from None
    if json_mode(ctx):
        emit_json({"stopped": stopped})
    else:
        success(f"stopped {stopped} processes")


blob_commands.register(cli)
chain_commands.register(cli)

POSITIONAL = {"store": ["files"], "read": ["blobId"], "blob-id": ["file"]}


def json_to_argv(document: Any) -> list[str]:
    """`walrus json` input (`{"config"?, "command": {"verb": {args}}}`) as command-line words."""
    if not isinstance(document, dict) or not isinstance(document.get("command"), dict):
        raise fail('walrus json expects {"command": {"<verb>": {…}}}')
    ((verb_camel, args),) = (
        document["command"].items() if len(document["command"]) == 1 else [(None, None)]
    )
    if verb_camel is None or not isinstance(args, dict):
        raise fail("walrus json expects exactly one command with an object of arguments")
    verb = re.sub(r"(?<!^)([A-Z])", r"-\1", verb_camel).lower()
    argv = ["--json"]
    if document.get("config"):
        argv += ["--config", str(document["config"])]
    argv.append(verb)
    for key in POSITIONAL.get(verb, []):
        value = args.pop(key, None)
        argv += (
            [str(v) for v in value]
            if isinstance(value, list)
            else ([str(value)] if value is not None else [])
        )
    for key, value in args.items():
        flag = "--" + re.sub(r"([A-Z])", r"-\1", key).lower()
        if value is True:
            argv.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, list):
            for item in value:
                argv += [flag, str(item)]
        else:
            argv += [flag, str(value)]
    return argv


@cli.command("json")
@click.argument("document", required=False)
def json_command(document: str | None) -> None:
    """Run a whole command given as JSON (argument or stdin); print JSON only."""
    text = document if document is not None else sys.stdin.read()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"invalid JSON: {exc}") from None
    raise SystemExit(main(json_to_argv(parsed)))


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: every failure is one line on stderr and a non-zero exit."""
    try:
        result = cli.main(args=argv, prog_name="walrus", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Error: aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return result if isinstance(result, int) else 0

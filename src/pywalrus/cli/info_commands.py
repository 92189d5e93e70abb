"""`walrus info [all|epoch|storage|size|price|bft|committee|coin]`, as upstream prints it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from pywalrus.cli.common import chain_client, global_options, json_mode, load_config, run
from pywalrus.cli.output import emit_json, human_bytes, human_frost, thousands
from pywalrus.cli.params import RPC_URL_OPTION

if TYPE_CHECKING:
    from pywalrus.client.system_info import (
        BftInfo,
        CommitteeInfo,
        EpochInfo,
        PriceInfo,
        SizeInfo,
        StorageInfo,
        SystemInfo,
    )


def _heading(text: str) -> None:
    click.echo("\n" + click.style(text, bold=True))


def _duration(ms: int) -> str:
    """As humantime formats durations: `5m`, `1h 30m`, `14days`."""
    seconds, rest = divmod(ms, 1000)
    parts = []
    for unit, length in (("day", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, length)
        if count:
            parts.append(f"{count}{unit}{'s' if unit == 'day' and count > 1 else ''}")
    if rest:
        parts.append(f"{rest}ms")
    return " ".join(parts) or "0s"


def _when(ms: int) -> str:
    import datetime as dt

    return (
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    )


def print_epoch(e: EpochInfo) -> None:
    _heading("Epochs and storage duration")
    click.echo(f"Current epoch: {e.current_epoch}")
    if e.start_ms is None:
        click.echo(e.to_json()["startOfCurrentEpoch"]["Message"])
    else:
        click.echo(f"Start time: {_when(e.start_ms)}")
        click.echo(f"End time: {_when(e.start_ms + e.duration_ms)}")
    click.echo(f"Epoch duration: {_duration(e.duration_ms)}")
    click.echo(f"Blobs can be stored for at most {e.max_epochs_ahead} epochs in the future.")


def print_storage(s: StorageInfo) -> None:
    _heading("Storage nodes")
    click.echo(f"Number of storage nodes: {s.n_nodes}")
    click.echo(f"Number of shards: {s.n_shards}")


def print_size(s: SizeInfo) -> None:
    body = s.to_json()
    _heading("Blob size")
    click.echo(
        f"Maximum blob size: {human_bytes(s.max_blob_size)} ({thousands(s.max_blob_size)} B)"
    )
    quilt = body["maxBlobSizeInQuilt"]
    click.echo(f"Maximum blob size in quilt: {human_bytes(quilt)} ({thousands(quilt)} B)")
    click.echo(f"Storage unit: {human_bytes(body['storageUnitSize'])}")


def print_price(p: PriceInfo) -> None:
    _heading("Storage prices per epoch")
    click.echo("(Conversion rate: 1 WAL = 1,000,000,000 FROST)")
    click.echo(f"Price per encoded storage unit: {human_frost(p.storage_price)}")
    click.echo(f"Additional price for each write: {human_frost(p.write_price)}")
    _heading("Approximate prices to store with the RS2 encoding")
    click.echo(f"Price to store metadata: {human_frost(p.metadata_price)}")
    click.echo(
        f"Marginal price per additional {human_bytes(p.marginal_size)} (w/o metadata): "
        f"{human_frost(p.marginal_price)}"
    )
    click.echo("Total price for example blob sizes:")
    for e in p.examples:
        click.echo(
            f"  - {human_bytes(e.unencoded_size)} unencoded ({human_bytes(e.encoded_size)} "
            f"encoded): {human_frost(e.price)} per epoch"
        )


def print_bft(b: BftInfo) -> None:
    body = b.to_json()
    _heading("BFT system information")
    click.echo(f"Tolerated faults (f): {body['maxFaultyShards']}")
    click.echo(f"Quorum threshold (2f+1): {body['quorumThreshold']}")
    click.echo(f"Minimum number of correct shards (n-f): {body['minCorrectShards']}")
    click.echo(
        f"Minimum number of nodes to get above f: {body['minNodesAbove']} "
        f"({body['shardsAbove']} shards)"
    )


def print_committee(c: CommitteeInfo, details: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    body = c.to_json()
    _heading("Encoding parameters and sizes")
    click.echo(f"Number of shards: {body['nShards']}")
    click.echo(f"Number of primary source symbols: {body['nPrimarySourceSymbols']}")
    click.echo(f"Number of secondary source symbols: {body['nSecondarySourceSymbols']}")
    for label, key in (
        ("Metadata size", "metadataStorageSize"),
        ("Maximum sliver size", "maxSliverSize"),
        ("Maximum encoded blob size", "maxEncodedBlobSize"),
    ):
        click.echo(f"{label}: {human_bytes(body[key])} ({thousands(body[key])} B)")
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=220)
    for title, nodes in (("Current committee", c.current), ("Next committee", c.next)):
        if not nodes:
            continue
        _heading(title)
        table = Table()
        for header in ("Idx", "Name", "# Shards", "Stake", "Address"):
            table.add_column(header, no_wrap=True)
        for index, node in enumerate(nodes):
            share = 100 * len(node.shard_ids) / c.config.n_shards
            table.add_row(
                str(index),
                node.name,
                f"{len(node.shard_ids)} ({share:.2f}%)",
                human_frost(node.stake),
                node.network_address,
            )
        console.print(table)
        if details:
            _heading("Storage node details and shard distribution")
            for index, node in enumerate(nodes):
                click.echo(f"\n{index}: {node.name}")
                click.echo(f"Node ID: {node.node_id}")
                click.echo(f"Public key: {node.public_key}")
                click.echo(f"Network public key: {node.network_public_key or 'N/A'}")
                click.echo(f"Stake: {human_frost(node.stake)}")
                click.echo(f"Owned shards: {', '.join(map(str, node.shard_ids)) or 'none'}")


def print_system(info: SystemInfo, full: bool, details: bool) -> None:
    click.echo("\n" + click.style("Walrus system information", bold=True))
    print_epoch(info.epoch)
    print_storage(info.storage)
    print_size(info.size)
    print_price(info.price)
    if full:
        print_bft(info.bft)
        print_committee(info.committee, details)


def _show(
    ctx: click.Context,
    as_json: Callable[[SystemInfo], Any],
    as_text: Callable[[SystemInfo], None],
    sort_by: str = "name",
    desc: bool = False,
) -> None:
    from pywalrus.client.system_info import system_info

    config = load_config(ctx)

    async def go() -> SystemInfo:
        async with chain_client(ctx, config) as chain:
            return await system_info(chain, sort_by, desc)

    info = run(go)
    if json_mode(ctx):
        emit_json(as_json(info))
    else:
        as_text(info)


@click.group("info", invoke_without_command=True)
@RPC_URL_OPTION
@global_options
@click.pass_context
def info(ctx: click.Context) -> None:
    """Print information about the Walrus system: epoch, storage, size and prices (and with
    a subcommand: all, epoch, storage, size, price, bft, committee, coin)."""
    if ctx.invoked_subcommand is None:
        _show(ctx, lambda i: i.to_json(), lambda i: print_system(i, False, False))


_SORT = click.option(
    "--sort-by", type=click.Choice(["id", "name", "url"]), default="name", show_default=True
)
_DESC = click.option("--desc", is_flag=True, help="Sort in descending order.")
_HIDE = click.option("--hide-details", is_flag=True, help="Hide node details (text only).")


@info.command("all")
@_SORT
@_DESC
@_HIDE
@global_options
@click.pass_context
def info_all(ctx: click.Context, sort_by: str, desc: bool, hide_details: bool) -> None:
    """Print all information listed below."""
    _show(
        ctx,
        lambda i: i.to_json(full=True),
        lambda i: print_system(i, True, not hide_details),
        sort_by,
        desc,
    )


def _section(name: str, doc: str, pick: Callable[[SystemInfo], Any], printer: Any) -> click.Command:
    @global_options
    @click.pass_context
    def command(ctx: click.Context) -> None:
        _show(ctx, lambda i: pick(i).to_json(), lambda i: printer(pick(i)))

    command.__doc__ = doc
    return click.command(name)(command)


for _name, _doc, _pick, _printer in (
    ("epoch", "Print epoch information.", lambda i: i.epoch, print_epoch),
    ("storage", "Print storage information.", lambda i: i.storage, print_storage),
    ("size", "Print size information.", lambda i: i.size, print_size),
    ("price", "Print price information.", lambda i: i.price, print_price),
    ("bft", "Print byzantine fault tolerance (BFT) information.", lambda i: i.bft, print_bft),
):
    info.add_command(_section(_name, _doc, _pick, _printer))


@info.command("committee")
@_SORT
@_DESC
@_HIDE
@global_options
@click.pass_context
def info_committee(ctx: click.Context, sort_by: str, desc: bool, hide_details: bool) -> None:
    """Print committee information."""
    _show(
        ctx,
        lambda i: i.committee.to_json(),
        lambda i: print_committee(i.committee, not hide_details),
        sort_by,
        desc,
    )


@info.command("coin")
@global_options
@click.pass_context
def info_coin(ctx: click.Context) -> None:
    """Print the WAL coin type of this network."""
    from pywalrus.chain.schema import COIN

    if json_mode(ctx):
        emit_json({"coinType": COIN})
    else:
        click.echo(COIN)


COMMANDS = (info,)

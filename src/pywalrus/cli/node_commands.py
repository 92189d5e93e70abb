"""`walrus health`: the storage nodes' health, as upstream selects, sorts and prints it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pywalrus.cli.common import chain_client, global_options, json_mode, load_config, run
from pywalrus.cli.output import emit_json, fail
from pywalrus.cli.params import OBJECT_ID, RPC_URL_OPTION, WalrusCommand, timeout_option

if TYPE_CHECKING:
    from pywalrus.client.health import HealthReport, NodeHealth


@click.command(
    "health", cls=WalrusCommand, variadic=("--node-ids", "--node-id", "--node-urls", "--node-url")
)
@click.option(
    "--node-ids", "--node-id", "node_ids", multiple=True, type=OBJECT_ID, help="Nodes by ID."
)
@click.option(
    "--node-urls", "--node-url", "node_urls", multiple=True, help="Nodes by URL (active set)."
)
@click.option("--committee", is_flag=True, help="Every node of the current committee.")
@click.option("--active-set", is_flag=True, help="Every node of the active set.")
@click.option("--detail", is_flag=True, help="Include each shard's status.")
@click.option(
    "--sort-by",
    type=click.Choice(["status", "id", "name", "url"]),
    default="status",
    show_default=True,
    help="How to order the nodes.",
)
@click.option("--desc", is_flag=True, help="Sort in descending order.")
@click.option(
    "--concurrent-requests",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Nodes asked at once.",
)
@timeout_option("5s", "one node's answer")
@RPC_URL_OPTION
@global_options
@click.pass_context
def health(
    ctx: click.Context,
    node_ids: tuple[str, ...],
    node_urls: tuple[str, ...],
    committee: bool,
    active_set: bool,
    detail: bool,
    sort_by: str,
    desc: bool,
    concurrent_requests: int,
    timeout: float,
) -> None:
    """Print the health of storage nodes: give exactly one of --node-ids, --node-urls,
    --committee and --active-set. A node that does not answer within --timeout is reported,
    not waited for."""
    from pywalrus.cli.common import exactly_one

    exactly_one(
        node_ids=bool(node_ids),
        node_urls=bool(node_urls),
        committee=committee,
        active_set=active_set,
    )
    config = load_config(ctx)

    async def go() -> HealthReport:
        import aiohttp

        from pywalrus.client import health as sdk
        from pywalrus.network.node_client import NodeClient

        async with chain_client(ctx, config) as chain:
            nodes = await sdk.select_nodes(chain, node_ids, node_urls, committee, active_set)
            latest = int((await chain.info())["txCount"]) - 1
            async with aiohttp.ClientSession() as session:
                answers = await sdk.node_health(
                    nodes,
                    lambda url: NodeClient(url, session),
                    detail,
                    timeout,
                    concurrent_requests,
                )
        sdk.sort_health(answers, sort_by, desc)
        return sdk.HealthReport(tuple(answers), latest)

    report = run(go)
    if json_mode(ctx):
        emit_json(report.to_json())
    else:
        _render(report)
    down = [n.node.name for n in report.nodes if n.health is None]
    if down and len(down) == len(report.nodes):
        raise fail(f"no node answered: {', '.join(down)}")


def _render(report: HealthReport) -> None:
    click.echo("\n" + click.style("Walrus Service Health Information", bold=True))
    for node in report.nodes:
        _render_node(node, report.latest_seq)
    if len(report.nodes) > 1:
        _render_summary(list(report.nodes))


def _render_node(node: NodeHealth, latest_seq: int | None) -> None:
    echo = click.echo
    echo("\n" + click.style(node.node.name, bold=True))
    echo(f"Node ID: {node.node.node_id}")
    echo(f"Node URL: {node.node.network_address}")
    echo(f"Network public key: {node.node.network_public_key or 'N/A'}")
    if node.health is None:
        echo(f"Error: {node.error}")
        return
    h: dict[str, Any] = node.health
    progress = h.get("eventProgress", {})
    shards = h.get("shardSummary", {})
    status = shards.get("ownedShardStatus", {})
    uptime = h.get("uptime", {}).get("secs", 0)
    echo(click.style("General Information", bold=True))
    echo(f"Uptime: {_duration(uptime)}")
    echo(f"Current epoch: {h.get('epoch')}")
    echo(f"Public key: {h.get('publicKey')}")
    echo(f"Node status: {h.get('nodeStatus')}")
    echo(click.style("Event Progress", bold=True))
    echo(f"Events persisted: {progress.get('persisted')}")
    echo(f"Events pending: {progress.get('pending')}")
    if progress.get("highestFinishedEventIndex") is not None:
        echo(f"Highest finished event index: {progress['highestFinishedEventIndex']}")
    echo(click.style("Checkpoint Downloading Progress", bold=True))
    echo("Latest checkpoint sequence number: N/A")
    echo(f"Latest chain checkpoint: {latest_seq if latest_seq is not None else 'N/A'}")
    echo(click.style("Shard Summary", bold=True))
    echo(f"Owned shards: {shards.get('owned')}")
    echo(f"Read-only shards: {shards.get('readOnly')}")
    echo(click.style("Owned Shard Status", bold=True))
    echo(f"Unknown: {status.get('unknown', 0)}")
    echo(f"Ready: {status.get('ready', 0)}")
    echo(f"In transfer: {status.get('inTransfer', 0)}")
    echo(f"In recovery: {status.get('inRecovery', 0)}")
    detail = h.get("shardDetail")
    if detail:
        for title, key in (("Owned Shard Details", "owned"), ("Other Shard Details", "other")):
            if detail.get(key):
                echo("\n" + click.style(title, bold=True))
                for shard in detail[key]:
                    echo(f"Shard {shard['shard']}: {shard['status']}")


def _render_summary(nodes: list[NodeHealth]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for header in ("Idx", "Name", "Node ID", "Address", "# Shards (Ready / Owned)", "Status"):
        table.add_column(header, no_wrap=header != "Status")
    owned = read_only = 0
    breakdown: dict[str, int] = {}
    for index, node in enumerate(nodes):
        if node.health is None:
            error = node.error or ""
            short = error if len(error) <= 40 else error[:37] + "..."
            table.add_row(
                str(index),
                node.node.name,
                node.node.node_id,
                node.node.network_address,
                "N/A",
                short,
            )
            breakdown["Error"] = breakdown.get("Error", 0) + 1
            continue
        summary = node.health.get("shardSummary", {})
        ready = summary.get("ownedShardStatus", {}).get("ready", 0)
        owned += summary.get("owned", 0)
        read_only += summary.get("readOnly", 0)
        breakdown[node.status] = breakdown.get(node.status, 0) + 1
        table.add_row(
            str(index),
            node.node.name,
            node.node.node_id,
            node.node.network_address,
            f"{ready} / {summary.get('owned', 0)}",
            node.status,
        )
    click.echo("\n" + click.style("Summary", bold=True) + "\n")
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=220)
    console.print(table)
    click.echo(f"\nTotal nodes: {len(nodes)}")
    click.echo(f"Owned shards: {owned}")
    click.echo(f"Read-only shards: {read_only}")
    click.echo("\n" + click.style("Node Status Breakdown", bold=True))
    for status, count in breakdown.items():
        click.echo(f"{status}: {count}")


def _duration(seconds: int) -> str:
    parts = []
    for unit, length in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, length)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"


COMMANDS = (health,)

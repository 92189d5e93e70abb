"""The chain verbs of `walrus`: system info, wallet, faucet, staking and node administration.

Each verb parses its options, calls one function of `pywalrus.client.chain_ops` and renders
the result, as text or (with `--json`) as JSON; `register(cli)` adds them to the `walrus`
group. `--json` and `--config FILE` are the shared global options of `pywalrus.cli.common`,
accepted before the verb (on the group) and after it (on every verb and sub-group here).
The chain client (aiohttp) is imported only when a chain verb runs, to keep other verbs fast.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from pywalrus.cli.common import cli_errors, global_options, json_mode, load_config, one_line, run
from pywalrus.cli.output import emit_json, fail, success
from pywalrus.core.errors import WalrusError

if TYPE_CHECKING:
    from rich.console import Console

    from pywalrus.chain.client import ChainClient
    from pywalrus.client.chain_ops import StakedWalInfo
    from pywalrus.client.config import ClientConfig
    from pywalrus.core.accounts import Account

T = TypeVar("T")

FROST_PER_WAL = 10**9
GET_WAL_DEFAULT = FROST_PER_WAL // 2
"""`get-wal` asks for 0.5 WAL by default, as upstream exchanges 0.5 SUI worth."""
FAUCET_WAL_DEFAULT = 10 * FROST_PER_WAL
FAUCET_GAS_DEFAULT = 10 * 10**9
"""A wallet made with `--use-faucet` gets 10 WAL and 10 SUI of gas."""


def _active_account(config: ClientConfig) -> Account:
    with cli_errors():
        return config.wallet().active


def run_on_chain(config: ClientConfig, operation: Callable[[ChainClient], Awaitable[T]]) -> T:
    """Run `operation` with a client of the configured chain, errors as one line."""
    from pywalrus.chain.client import ChainClient

    async def go() -> T:
        async with ChainClient(config.chain_url) as client:
            return await operation(client)

    return run(go)


# Rendering -----------------------------------------------------------------------------------


def wal(frost: int) -> str:
    """FROST as WAL, exactly: 1500000000 → `1.5 WAL`."""
    value = Decimal(frost).scaleb(-9).normalize()
    text = f"{value:,f}"
    return f"{text} WAL"


def _frost(frost: int) -> str:
    return f"{wal(frost)} ({frost:,} FROST)"


def size(n: int) -> str:
    """Bytes in binary units, as upstream prints sizes: `1.00 MiB`."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        value /= 1024
        if value < 1024 or unit == "EiB":
            break
    return f"{value:.2f} {unit}"


def duration(ms: int) -> str:
    """Milliseconds as `1d 2h 3m 4s` (zero parts left out)."""
    seconds, rest = divmod(ms, 1000)
    parts = []
    for unit, length in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, length)
        if count:
            parts.append(f"{count}{unit}")
    if rest or not parts:
        parts.append(f"{rest}ms")
    return " ".join(parts)


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console


def _render_info(info: dict[str, Any]) -> None:
    from rich.table import Table

    echo = click.echo
    echo(click.style("Walrus system information", bold=True))
    echo("")
    echo(click.style("Epoch information", bold=True))
    echo(f"Current epoch: {info['epoch']}")
    echo(f"Epoch state: {info['epochState']}")
    echo(f"Epoch duration: {duration(info['epochDurationMs'])}")
    echo(f"Blobs can be stored for at most {info['maxEpochsAhead']} epochs in the future.")
    echo("")
    echo(click.style("Storage nodes", bold=True))
    echo(f"Number of storage nodes: {info['nNodes']} (registered: {info['nPools']})")
    echo(f"Number of shards: {info['nShards']}")
    echo("")
    echo(click.style("Capacity", bold=True))
    echo(f"Total capacity: {size(info['totalCapacitySize'])}")
    echo(f"Used capacity (current epoch): {size(info['usedCapacitySize'])}")
    echo(f"Storage unit: {size(info['storageUnitSize'])}")
    echo(f"Maximum blob size: {size(info['maxBlobSize'])} ({info['maxBlobSize']:,} B)")
    echo("")
    echo(click.style("Price information", bold=True))
    echo(f"(Conversion rate: 1 WAL = {FROST_PER_WAL:,} FROST)")
    echo(f"Price per encoded storage unit and epoch: {_frost(info['storagePricePerUnitSize'])}")
    echo(f"Additional price for each write per unit: {_frost(info['writePricePerUnitSize'])}")
    console = _console()
    prices = Table(title="Price examples (one epoch, including the write fee)")
    for header in ("Unencoded size", "Encoded size", "Storage units", "Price"):
        prices.add_column(header, justify="right")
    for example in info["priceExamples"]:
        prices.add_row(
            size(example["unencodedSize"]),
            size(example["encodedSize"]),
            f"{example['storageUnits']:,}",
            wal(example["totalCostForOneEpoch"]),
        )
    console.print(prices)
    committee = Table(title=f"Committee of epoch {info['epoch']}")
    for header in ("#", "Name", "Node ID", "Network address", "Shards", "Stake"):
        committee.add_column(header, no_wrap=True)
    for index, node in enumerate(info["committee"]):
        committee.add_row(
            str(index),
            node["name"] or "?",
            node["nodeId"],
            node["networkAddress"] or "?",
            str(node["nShards"]),
            wal(node["stake"]) if node["stake"] is not None else "?",
        )
    console.print(committee)


# Verbs ---------------------------------------------------------------------------------------


@click.command("info")
@global_options
@click.pass_context
def info(ctx: click.Context) -> None:
    """Show the current epoch, committee, capacity and prices."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    result = run_on_chain(config, chain_ops.system_info)
    if json_mode(ctx):
        emit_json(result)
    else:
        _render_info(result)


@click.command("generate-sui-wallet")
@click.option(
    "--path",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the new keystore.",
)
@click.option("--use-faucet", is_flag=True, help="Fund the new address from the chain's faucet.")
@click.option(
    "--faucet-wal",
    type=int,
    default=FAUCET_WAL_DEFAULT,
    show_default=True,
    help="FROST to ask the faucet for.",
)
@click.option(
    "--faucet-gas",
    type=int,
    default=FAUCET_GAS_DEFAULT,
    show_default=True,
    help="Gas (MIST) to ask the faucet for.",
)
@global_options
@click.pass_context
def generate_sui_wallet(
    ctx: click.Context, path: Path, use_faucet: bool, faucet_wal: int, faucet_gas: int
) -> None:
    """Create a new wallet (keystore) with one fresh address."""
    from pywalrus.client import chain_ops
    from pywalrus.client.config import Wallet

    config = load_config(ctx) if use_faucet else None
    with cli_errors():
        account = Wallet.create(path).active
    grant = None
    if config is not None:
        try:
            grant = run_on_chain(
                config,
                lambda c: chain_ops.request_faucet(c, account.address, faucet_wal, faucet_gas),
            )
        except click.ClickException as exc:
            raise fail(
                f"wallet {path} created with address {account.address}, but the faucet "
                f"failed: {exc.format_message()}"
            ) from None
    if json_mode(ctx):
        emit_json(
            {
                "path": str(path),
                "address": account.address,
                "faucet": grant.to_json() if grant else None,
            }
        )
        return
    success(f"Generated a new wallet at '{path}' with address {account.address}")
    if grant is not None:
        click.echo(f"Received {wal(grant.wal)} and {grant.gas:,} MIST of gas from the faucet.")


@click.group("wallet")
@global_options
def wallet() -> None:
    """The active address of the configured wallet: address, balance, transfers."""


@wallet.command("address")
@global_options
@click.pass_context
def wallet_address(ctx: click.Context) -> None:
    """Print the wallet's active address."""
    account = _active_account(load_config(ctx))
    if json_mode(ctx):
        emit_json({"address": account.address})
    else:
        click.echo(account.address)


@wallet.command("balance")
@click.option("--address", help="Another address to look up (default: the wallet's).")
@global_options
@click.pass_context
def wallet_balance(ctx: click.Context, address: str | None) -> None:
    """Show WAL (over all coins) and gas of the wallet's address."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    target = address if address is not None else _active_account(config).address
    result = run_on_chain(config, lambda c: chain_ops.balances(c, target))
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    click.echo(f"Address: {result.address}")
    click.echo(f"WAL balance: {_frost(result.wal)} in {result.coins} coin(s)")
    click.echo(f"Gas balance: {result.gas:,} MIST")


@wallet.command("transfer")
@click.option("--to", "recipient", required=True, help="Recipient address (0x…).")
@click.option("--amount", type=int, required=True, help="FROST to send (1 WAL = 10^9 FROST).")
@global_options
@click.pass_context
def wallet_transfer(ctx: click.Context, recipient: str, amount: int) -> None:
    """Send WAL to an address, merging coins if no single coin suffices."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(config, lambda c: chain_ops.transfer_wal(c, account, recipient, amount))
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(f"Sent {_frost(result.amount)} to {result.recipient}")
    click.echo(f"Transaction digest: {result.digest}")


@click.command("get-wal")
@click.option(
    "--amount",
    type=int,
    default=GET_WAL_DEFAULT,
    show_default=True,
    help="FROST to get from the faucet.",
)
@global_options
@click.pass_context
def get_wal(ctx: click.Context, amount: int) -> None:
    """Get WAL for the wallet's address from the chain's faucet (local networks)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(
        config, lambda c: chain_ops.request_faucet(c, account.address, wal=amount)
    )
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(f"Received {_frost(result.wal)} from the faucet into coin {result.coin}")


def _split(values: tuple[str, ...]) -> list[str]:
    """Repeated and comma-separated option values, in order."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _stake_plan(node_ids: tuple[str, ...], amounts: tuple[str, ...]) -> list[tuple[str, int]]:
    nodes = _split(node_ids)
    if not nodes:
        raise click.BadParameter("give at least one node ID", param_hint="'--node-ids'")
    try:
        values = [int(a) for a in _split(amounts)] or [FROST_PER_WAL]
    except ValueError:
        raise click.BadParameter("amounts are integers (FROST)", param_hint="'--amounts'") from None
    if len(values) == 1:
        values *= len(nodes)
    if len(values) != len(nodes):
        raise click.BadParameter(
            f"give one amount for all nodes or one per node ({len(nodes)}), not {len(values)}",
            param_hint="'--amounts'",
        )
    return list(zip(nodes, values, strict=True))


def _render_staked(staked: Sequence[StakedWalInfo], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for header in ("Staked WAL ID", "Node", "Amount", "State", "Activation", "Withdraw epoch"):
        table.add_column(header, no_wrap=True)
    for s in staked:
        node = f"{s.node_name} ({s.node_id})" if s.node_name else s.node_id
        withdraw_epoch = "" if s.withdraw_epoch is None else str(s.withdraw_epoch)
        table.add_row(
            s.id, node, wal(s.principal), s.state, str(s.activation_epoch), withdraw_epoch
        )
    _console().print(table)


@click.command("stake")
@click.option(
    "--node-ids",
    "--node-id",
    "node_ids",
    multiple=True,
    required=True,
    help="Node(s) to stake with; repeat or separate with commas.",
)
@click.option(
    "--amounts",
    "--amount",
    "amounts",
    multiple=True,
    help="FROST per node: one for all or one per node (default 1 WAL each).",
)
@global_options
@click.pass_context
def stake(ctx: click.Context, node_ids: tuple[str, ...], amounts: tuple[str, ...]) -> None:
    """Stake WAL with storage nodes (one transaction)."""
    from pywalrus.client import chain_ops

    plan = _stake_plan(node_ids, amounts)
    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(config, lambda c: chain_ops.stake_many(c, account, plan))
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(f"Staked {wal(sum(a for _, a in plan))} with {len(plan)} node(s)")
    _render_staked(result.staked, "New staked WAL")
    click.echo(f"Transaction digest: {result.digest}")


@click.command("list-staked-wal")
@click.option("--address", help="Another owner to look up (default: the wallet's address).")
@global_options
@click.pass_context
def list_staked_wal(ctx: click.Context, address: str | None) -> None:
    """List the staked WAL the wallet's address owns."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    owner = address if address is not None else _active_account(config).address
    result = run_on_chain(config, lambda c: chain_ops.list_staked_wal(c, owner))
    if json_mode(ctx):
        emit_json([s.to_json() for s in result])
    elif not result:
        click.echo(f"No staked WAL owned by {owner}.")
    else:
        _render_staked(result, f"Staked WAL of {owner}")
        click.echo(f"Total: {wal(sum(s.principal for s in result))}")


_STAKED_WAL_ID = click.option(
    "--staked-wal-id", required=True, help="The StakedWal object ID (see list-staked-wal)."
)


@click.command("request-withdraw-stake")
@_STAKED_WAL_ID
@global_options
@click.pass_context
def request_withdraw_stake(ctx: click.Context, staked_wal_id: str) -> None:
    """Start withdrawing an active stake; complete it later with withdraw-stake."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(config, lambda c: chain_ops.request_withdraw(c, account, staked_wal_id))
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(
        f"Requested the withdrawal of {result.staked_wal}; "
        f"withdraw it from epoch {result.withdraw_epoch} with withdraw-stake"
    )


@click.command("withdraw-stake")
@_STAKED_WAL_ID
@global_options
@click.pass_context
def withdraw_stake(ctx: click.Context, staked_wal_id: str) -> None:
    """Withdraw staked WAL: directly if not active yet, or after a matured request."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(config, lambda c: chain_ops.withdraw(c, account, staked_wal_id))
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(
        f"Withdrew {wal(result.principal + result.rewards)} (principal "
        f"{wal(result.principal)}, rewards {wal(result.rewards)}) into coin {result.coin}"
    )


@click.group("node-admin")
@global_options
def node_admin() -> None:
    """Storage node operator actions (the wallet's address is the operator)."""


_CAP_ID = click.option(
    "--cap-id", help="The StorageNodeCap to act with (default: the operator's only one)."
)


@node_admin.command("register")
@click.option("--name", required=True, help="Human-readable node name (≤ 100 characters).")
@click.option("--network-address", required=True, help="host:port of the node's REST API.")
@click.option(
    "--protocol-key-file",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="BLS protocol key: base64 of 0x04 ‖ the 32-byte secret key.",
)
@click.option("--network-public-key", default="", help="The node's TLS/network public key.")
@click.option(
    "--commission-rate", type=int, default=0, show_default=True, help="Basis points (0–10000)."
)
@click.option(
    "--storage-price",
    type=int,
    default=100_000,
    show_default=True,
    help="Storage price vote: FROST per unit (1 MiB) and epoch.",
)
@click.option(
    "--write-price",
    type=int,
    default=20_000,
    show_default=True,
    help="Write price vote: FROST per unit (1 MiB).",
)
@click.option(
    "--node-capacity",
    type=int,
    default=1 << 40,
    show_default=True,
    help="Capacity vote: bytes the node offers.",
)
@global_options
@click.pass_context
def node_register(
    ctx: click.Context,
    name: str,
    network_address: str,
    protocol_key_file: Path,
    network_public_key: str,
    commission_rate: int,
    storage_price: int,
    write_price: int,
    node_capacity: int,
) -> None:
    """Register a storage node candidate, with a proof of possession of its protocol key."""
    from pywalrus.client import chain_ops
    from pywalrus.core.crypto.bls import BlsPrivateKey

    try:
        key_text = protocol_key_file.read_text()
    except OSError as exc:
        raise fail(f"cannot read protocol key file '{protocol_key_file}': {exc.strerror}") from None
    try:
        key = BlsPrivateKey.from_base64(key_text)
    except WalrusError as exc:
        raise fail(f"protocol key file '{protocol_key_file}': {one_line(str(exc))}") from None
    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(
        config,
        lambda c: chain_ops.register_node(
            c,
            account,
            name,
            network_address,
            key,
            commission_rate,
            storage_price,
            write_price,
            node_capacity,
            network_public_key,
        ),
    )
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(f"Registered storage node '{result.name}'")
    click.echo(f"Node ID: {result.node_id}")
    click.echo(f"Storage node cap: {result.cap}")
    click.echo(f"Public key: {result.public_key}")


@node_admin.command("vote")
@click.option("--storage-price", type=int, help="FROST per unit (1 MiB) and epoch.")
@click.option("--write-price", type=int, help="FROST per unit (1 MiB).")
@click.option("--node-capacity", type=int, help="Bytes the node offers.")
@_CAP_ID
@global_options
@click.pass_context
def node_vote(
    ctx: click.Context,
    storage_price: int | None,
    write_price: int | None,
    node_capacity: int | None,
    cap_id: str | None,
) -> None:
    """Change the node's price and capacity votes (those given)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(
        config,
        lambda c: chain_ops.set_votes(
            c, account, cap_id, storage_price, write_price, node_capacity
        ),
    )
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    votes = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in result.values["votes"].items())
    success(f"Set the votes of node {result.node_id}: {votes}")


@node_admin.command("vote-slash")
@click.option("--node-id", "target", required=True, help="The node to slash.")
@_CAP_ID
@global_options
@click.pass_context
def node_vote_slash(ctx: click.Context, target: str, cap_id: str | None) -> None:
    """Vote to slash a node's commission (committee members only)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(config, lambda c: chain_ops.vote_for_slashing(c, account, target, cap_id))
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    v = result.values
    success(f"Voted to slash node {v['target']}; votes so far weigh {v['weight']} shards")
    if v["slashed"]:
        click.echo(f"The vote reached a quorum: {wal(v['slashed'])} of commission was burnt.")


@node_admin.command("vote-upgrade")
@click.option("--digest", required=True, help="The new package digest to vote for.")
@_CAP_ID
@global_options
@click.pass_context
def node_vote_upgrade(ctx: click.Context, digest: str, cap_id: str | None) -> None:
    """Vote for a contract upgrade (committee members only)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(config, lambda c: chain_ops.vote_for_upgrade(c, account, digest, cap_id))
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    v = result.values
    quorum = "reached" if v["quorum"] else "not reached yet"
    success(f"Voted for upgrade {digest}; votes weigh {v['weight']} shards, quorum {quorum}")


@node_admin.command("collect-commission")
@click.option("--node-id", help="The pool to collect from (default: the operator's node).")
@_CAP_ID
@global_options
@click.pass_context
def node_collect_commission(ctx: click.Context, node_id: str | None, cap_id: str | None) -> None:
    """Collect the node's commission into a new coin (the commission receiver only)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(
        config, lambda c: chain_ops.collect_commission(c, account, node_id, cap_id)
    )
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(f"Collected {_frost(result.values['amount'])} of commission from {result.node_id}")


COMMANDS: tuple[click.Command, ...] = (
    info,
    generate_sui_wallet,
    wallet,
    get_wal,
    stake,
    list_staked_wal,
    request_withdraw_stake,
    withdraw_stake,
    node_admin,
)


def register(cli_group: click.Group) -> None:
    """Add the chain verbs to the `walrus` group."""
    for command in COMMANDS:
        cli_group.add_command(command)

"""The chain verbs of `walrus`: wallet, faucet, staking and node administration.

Each verb parses its options as upstream's `args.rs`, calls `pywalrus.client.chain_ops` and
renders the result as text or, with `--json`, as upstream's JSON (`StakeOutput`,
`ListStakedWalOutput`, …). The chain client (aiohttp) and the contracts are imported only
when a chain verb runs, to keep other verbs fast.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from pywalrus.cli.common import (
    at_most_one,
    chain_client,
    cli_errors,
    global_options,
    json_mode,
    load_config,
    one_line,
    run,
)
from pywalrus.cli.output import (
    FROST_PER_WAL,
    emit_json,
    exact_wal,
    fail,
    human_frost,
    success,
    usage,
    warning,
)
from pywalrus.cli.params import OBJECT_ID, AliasGroup, WalrusCommand

if TYPE_CHECKING:
    from rich.console import Console

    from pywalrus.chain.client import ChainClient
    from pywalrus.client.chain_ops import StakedWalInfo
    from pywalrus.client.config import ClientConfig
    from pywalrus.core.accounts import Account

T = TypeVar("T")

GET_WAL_DEFAULT = FROST_PER_WAL // 2
"""`get-wal` asks for 0.5 WAL by default, as upstream exchanges 0.5 SUI worth."""
FAUCET_WAL_DEFAULT = 10 * FROST_PER_WAL
FAUCET_GAS_DEFAULT = 10 * 10**9
"""A wallet made with `--use-faucet` gets 10 WAL and 10 SUI of gas."""
SUI_NETWORKS = ("devnet", "testnet", "mainnet", "localnet")


def _active_account(config: ClientConfig) -> Account:
    with cli_errors():
        return config.wallet().active


def run_on_chain(
    ctx: click.Context, config: ClientConfig, operation: Callable[[ChainClient], Awaitable[T]]
) -> T:
    """Run `operation` with a client of the configured chain, errors as one line."""

    async def go() -> T:
        async with chain_client(ctx, config) as client:
            return await operation(client)

    return run(go)


# Rendering -----------------------------------------------------------------------------------


def _frost(frost: int) -> str:
    return f"{exact_wal(frost)} ({frost:,} FROST)"


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console


# Verbs ---------------------------------------------------------------------------------------


def default_wallet_path() -> Path:
    """Upstream's default: the Sui configuration directory, which must then be empty."""
    directory = Path.home() / ".sui" / "sui_config"
    if directory.is_dir() and any(directory.iterdir()):
        raise fail(
            f"The Sui configuration directory {directory} is not empty; please specify a "
            "different wallet path using `--path` or manage the wallet using the Sui CLI."
        )
    return directory / "sui.keystore"


@click.command("generate-sui-wallet")
@click.option(
    "--path",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the new keystore (default: ~/.sui/sui_config/sui.keystore, if that "
    "directory is empty).",
)
@click.option(
    "--sui-network",
    type=click.Choice(SUI_NETWORKS),
    default="testnet",
    show_default=True,
    help="The network the wallet is for (recorded only; the chain is the configuration's).",
)
@click.option("--use-faucet", is_flag=True, help="Fund the new address from the chain's faucet.")
@click.option("--faucet-timeout", hidden=True, help="Accepted for upstream's command lines.")
@click.option(
    "--faucet-wal", type=int, default=FAUCET_WAL_DEFAULT, hidden=True, help="FROST to ask for."
)
@click.option(
    "--faucet-gas", type=int, default=FAUCET_GAS_DEFAULT, hidden=True, help="MIST to ask for."
)
@global_options
@click.pass_context
def generate_sui_wallet(
    ctx: click.Context,
    path: Path | None,
    sui_network: str,
    use_faucet: bool,
    faucet_timeout: str | None,
    faucet_wal: int,
    faucet_gas: int,
) -> None:
    """Generate a new wallet (keystore) with one fresh address."""
    from pywalrus.chain.wallet import Wallet
    from pywalrus.client import chain_ops

    config = load_config(ctx) if use_faucet else None
    target = path if path is not None else default_wallet_path()
    with cli_errors():
        account = Wallet.create(target).active
    grant = None
    if config is not None:
        try:
            grant = run_on_chain(
                ctx,
                config,
                lambda c: chain_ops.request_faucet(c, account.address, faucet_wal, faucet_gas),
            )
        except click.ClickException as exc:
            raise fail(
                f"wallet {target} created with address {account.address}, but the faucet "
                f"failed: {exc.format_message()}"
            ) from None
    if json_mode(ctx):
        emit_json({"walletAddress": account.address})
        return
    success(f"Generated a new Sui wallet with address {account.address}")
    click.echo(f"Keystore: {target}")
    if grant is not None:
        click.echo(
            f"Received {exact_wal(grant.wal)} and {grant.gas:,} MIST of gas from the faucet."
        )


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
@click.option("--address", type=OBJECT_ID, help="Another address (default: the wallet's).")
@global_options
@click.pass_context
def wallet_balance(ctx: click.Context, address: str | None) -> None:
    """Show WAL (over all coins) and gas of the wallet's address."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    target = address if address is not None else _active_account(config).address
    result = run_on_chain(ctx, config, lambda c: chain_ops.balances(c, target))
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
    result = run_on_chain(
        ctx, config, lambda c: chain_ops.transfer_wal(c, account, recipient, amount)
    )
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(f"Sent {_frost(result.amount)} to {result.recipient}")
    click.echo(f"Transaction digest: {result.digest}")


@click.command("get-wal")
@click.option(
    "--amount",
    type=click.IntRange(min=0),
    default=GET_WAL_DEFAULT,
    show_default=True,
    help="FROST to get from the faucet.",
)
@click.option("--gas", type=click.IntRange(min=0), default=0, help="MIST of gas to get too.")
@click.option("--exchange-id", hidden=True, help="Accepted for upstream's command lines.")
@global_options
@click.pass_context
def get_wal(ctx: click.Context, amount: int, gas: int, exchange_id: str | None) -> None:
    """Get WAL (and with --gas, gas) for the wallet's address from the chain's faucet (local
    networks; upstream exchanges SUI on Testnet)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(
        ctx, config, lambda c: chain_ops.request_faucet(c, account.address, wal=amount, gas=gas)
    )
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    got = [_frost(result.wal)] if result.wal else []
    got += [f"{result.gas:,} MIST of gas"] if result.gas else []
    into = f" into coin {result.coin}" if result.coin else ""
    success(f"Received {' and '.join(got)} from the faucet{into}")


def _ids(values: Sequence[str], what: str) -> list[str]:
    """Object IDs given after one flag, repeated, or comma-separated, normalised."""
    from pywalrus.core.accounts import parse_address
    from pywalrus.core.errors import InvalidAddressError

    out = []
    for value in values:
        for part in value.split(","):
            if part.strip():
                try:
                    out.append(parse_address(part.strip()))
                except InvalidAddressError as exc:
                    raise usage(f"{what}: {exc}") from None
    return out


def _stake_plan(node_ids: Sequence[str], amounts: Sequence[str]) -> list[tuple[str, int]]:
    nodes = _ids(node_ids, "--node-ids")
    if not nodes:
        raise usage("give at least one node ID (--node-ids)")
    try:
        values = [int(a) for v in amounts for a in v.split(",") if a.strip()] or [FROST_PER_WAL]
    except ValueError:
        raise usage("--amounts: amounts are integers (FROST)") from None
    if len(values) == 1:
        values *= len(nodes)
    if len(values) != len(nodes):
        raise usage(
            "the number of amounts must be either 1 or equal to the number of node IDs "
            f"({len(nodes)}), not {len(values)}"
        )
    return list(zip(nodes, values, strict=True))


def _staked_text(staked: Sequence[StakedWalInfo]) -> str:
    return "\n".join(s.describe() for s in staked)


@click.command(
    "stake", cls=WalrusCommand, variadic=("--node-ids", "--node-id", "--amounts", "--amount")
)
@click.option(
    "--node-ids",
    "--node-id",
    "node_ids",
    multiple=True,
    required=True,
    help="Node(s) to stake with (several after one flag, or comma-separated).",
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
    result = run_on_chain(ctx, config, lambda c: chain_ops.stake_many(c, account, plan))
    if json_mode(ctx):
        emit_json(result.to_json())
    elif len(result.staked) == 1:
        success(f"Staked WAL successfully:\n{_staked_text(result.staked)}")
    else:
        success(
            f"Staked WAL successfully on {len(result.staked)} storage nodes:\n"
            f"{_staked_text(result.staked)}"
        )


@click.command("list-staked-wal")
@click.option("--staked-only", is_flag=True, help="Only those currently staked.")
@click.option("--withdrawing-only", is_flag=True, help="Only those being withdrawn.")
@click.option("--address", type=OBJECT_ID, help="Another owner (default: the wallet's).")
@global_options
@click.pass_context
def list_staked_wal(
    ctx: click.Context, staked_only: bool, withdrawing_only: bool, address: str | None
) -> None:
    """List the StakedWal objects the wallet owns."""
    from pywalrus.client import chain_ops

    at_most_one(staked_only=staked_only, withdrawing_only=withdrawing_only)
    config = load_config(ctx)
    owner = address if address is not None else _active_account(config).address
    found = run_on_chain(ctx, config, lambda c: chain_ops.list_staked_wal(c, owner))
    if staked_only or withdrawing_only:
        found = [s for s in found if (s.state == "staked") == staked_only]
    if json_mode(ctx):
        emit_json({"stakedWals": [s.to_json() for s in found]})
    elif not found:
        click.echo("No StakedWal objects found in this wallet.")
    else:
        click.echo(f"Found {len(found)} StakedWal object(s):\n\n{_staked_text(found)}")


@click.command("request-withdraw-stake")
@click.argument("node_id", type=OBJECT_ID)
@click.argument("staked_wal_ids", nargs=-1, type=OBJECT_ID)
@click.option("--dry-run", is_flag=True, help="Print what would be withdrawn; change nothing.")
@global_options
@click.pass_context
def request_withdraw_stake(
    ctx: click.Context, node_id: str, staked_wal_ids: tuple[str, ...], dry_run: bool
) -> None:
    """Request to withdraw staked WAL from a node (then complete it with withdraw-stake).

    With only NODE_ID and a single StakedWal staked with it, that one is withdrawn; with
    several, they are listed and the ones to withdraw must be given.
    """
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    staked = run_on_chain(
        ctx, config, lambda c: chain_ops.staked_with_node(c, account.address, node_id)
    )
    if not staked:
        raise fail(f"no StakedWal objects in staked state found for node {node_id}")
    by_id = {s.id: s for s in staked}
    if staked_wal_ids:
        missing = [i for i in staked_wal_ids if i not in by_id]
        if missing:
            raise fail(f"StakedWal object {missing[0]} not found for node {node_id} in this wallet")
        targets = [by_id[i] for i in staked_wal_ids]
    elif len(staked) == 1:
        targets = staked
    else:
        if json_mode(ctx):
            emit_json({"stakedWals": [s.to_json() for s in staked]})
        else:
            warning(
                "Multiple StakedWal objects found for this node. Please specify the StakedWal "
                f"object ID to withdraw:\n\n{_staked_text(staked)}",
                err=False,
            )
        return
    if dry_run:
        if json_mode(ctx):
            emit_json({"stakedWals": [s.to_json() for s in targets]})
        else:
            click.echo(
                f"[dry run] Would request withdrawal for {len(targets)} StakedWal object(s):\n"
                f"{_staked_text(targets)}"
            )
        return
    result = run_on_chain(
        ctx, config, lambda c: chain_ops.request_withdraw(c, account, [t.id for t in targets])
    )
    if json_mode(ctx):
        emit_json(result.to_json())
    else:
        success(
            f"Requested withdrawal for {len(result.staked_wals)} StakedWal object(s):\n"
            f"{_staked_text(result.staked_wals)}\nTransaction digest: {result.digest}"
        )


@click.command("withdraw-stake")
@click.argument("staked_wal_ids", nargs=-1, required=True, type=OBJECT_ID)
@global_options
@click.pass_context
def withdraw_stake(ctx: click.Context, staked_wal_ids: tuple[str, ...]) -> None:
    """Withdraw StakedWal objects: each directly if not active yet, or once its requested
    withdrawal has matured (one transaction)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(
        ctx, config, lambda c: chain_ops.withdraw(c, account, list(staked_wal_ids))
    )
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(
        f"Withdrew staked WAL from {len(result.staked_wals)} StakedWal object(s): "
        f"{', '.join(result.staked_wals)}\nTransaction digest: {result.digest}"
    )
    click.echo(
        f"Paid out {exact_wal(result.principal + result.rewards)} (principal "
        f"{exact_wal(result.principal)}, rewards {exact_wal(result.rewards)})"
    )


@click.group("node-admin", cls=AliasGroup, aliases={"vote-upgrade": "vote-for-upgrade"})
@global_options
def node_admin() -> None:
    """Storage node operator actions (the wallet's address is the operator)."""


_CAP_ID = click.option(
    "--cap-id", type=OBJECT_ID, help="The StorageNodeCap to act with (default: the node's)."
)
_NODE_ID = click.option(
    "--node-id", "node_id", type=OBJECT_ID, help="The node to act for (default: the only one)."
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
    from pywalrus.core.errors import WalrusError

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
        ctx,
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


async def _cap(
    client: ChainClient, account: Account, cap_id: str | None, node_id: str | None
) -> str:
    from pywalrus.client import chain_ops

    return (await chain_ops.find_cap(client, account.address, cap_id, node_id)).id


@node_admin.command("vote")
@click.option("--storage-price", type=int, help="FROST per unit (1 MiB) and epoch.")
@click.option("--write-price", type=int, help="FROST per unit (1 MiB).")
@click.option("--node-capacity", type=int, help="Bytes the node offers.")
@_NODE_ID
@_CAP_ID
@global_options
@click.pass_context
def node_vote(
    ctx: click.Context,
    storage_price: int | None,
    write_price: int | None,
    node_capacity: int | None,
    node_id: str | None,
    cap_id: str | None,
) -> None:
    """Change the node's price and capacity votes (those given)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)

    async def go(c: ChainClient) -> chain_ops.NodeAction:
        cap = await _cap(c, account, cap_id, node_id) if (cap_id or node_id) else None
        return await chain_ops.set_votes(c, account, cap, storage_price, write_price, node_capacity)

    result = run_on_chain(ctx, config, go)
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    votes = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in result.values["votes"].items())
    success(f"Set the votes of node {result.node_id}: {votes}")


@node_admin.command("vote-slash")
@click.option("--target", "--node-id-to-slash", "target", type=OBJECT_ID, help="The node to slash.")
@_NODE_ID
@_CAP_ID
@global_options
@click.pass_context
def node_vote_slash(
    ctx: click.Context, target: str | None, node_id: str | None, cap_id: str | None
) -> None:
    """Vote to slash a node's commission (committee members only)."""
    from pywalrus.client import chain_ops

    if target is None:
        if node_id is None:
            raise usage("give the node to slash with --target")
        target, node_id = node_id, None  # our earlier spelling: --node-id names the target
    config = load_config(ctx)
    account = _active_account(config)
    slashed = target

    async def go(c: ChainClient) -> chain_ops.NodeAction:
        cap = await _cap(c, account, cap_id, node_id) if (cap_id or node_id) else None
        return await chain_ops.vote_for_slashing(c, account, slashed, cap)

    result = run_on_chain(ctx, config, go)
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    v = result.values
    success(f"Voted to slash node {v['target']}; votes so far weigh {v['weight']} shards")
    if v["slashed"]:
        click.echo(f"The vote reached a quorum: {exact_wal(v['slashed'])} of commission was burnt.")


def package_digest(path: Path) -> str:
    """A package directory's digest: BLAKE2b-256 over its files (relative path and contents,
    in path order), as `0x` and 64 hex digits. Our contracts are not Move bytecode; this
    stands in for upstream's package digest."""
    if not path.is_dir():
        raise fail(f"package path '{path}' is not a directory")
    digest = hashlib.blake2b(digest_size=32)
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        name = file.relative_to(path).as_posix().encode()
        data = file.read_bytes()
        digest.update(len(name).to_bytes(8, "little") + name)
        digest.update(len(data).to_bytes(8, "little") + data)
    return "0x" + digest.hexdigest()


@node_admin.command("vote-for-upgrade")
@_NODE_ID
@click.option("--upgrade-manager-object-id", type=OBJECT_ID, help="Accepted (one manager here).")
@click.option(
    "--package-path",
    type=click.Path(path_type=Path),
    help="The package directory whose digest to vote for.",
)
@click.option("--digest", help="The package digest itself (0x and 64 hex digits).")
@_CAP_ID
@global_options
@click.pass_context
def node_vote_for_upgrade(
    ctx: click.Context,
    node_id: str | None,
    upgrade_manager_object_id: str | None,
    package_path: Path | None,
    digest: str | None,
    cap_id: str | None,
) -> None:
    """Vote for a contract upgrade (committee members only)."""
    from pywalrus.cli.common import exactly_one
    from pywalrus.client import chain_ops

    exactly_one(package_path=package_path is not None, digest=digest is not None)
    chosen = package_digest(package_path) if package_path is not None else str(digest)
    config = load_config(ctx)
    account = _active_account(config)

    async def go(c: ChainClient) -> chain_ops.NodeAction:
        cap = await _cap(c, account, cap_id, node_id) if (cap_id or node_id) else None
        return await chain_ops.vote_for_upgrade(c, account, chosen, cap)

    result = run_on_chain(ctx, config, go)
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    v = result.values
    quorum = "reached" if v["quorum"] else "not reached yet"
    success(f"Voted for package upgrade with digest {chosen}")
    click.echo(f"Votes so far weigh {v['weight']} shards; quorum {quorum}")


@node_admin.command("package-digest")
@click.option("--package-path", type=click.Path(path_type=Path), required=True)
@global_options
@click.pass_context
def node_package_digest(ctx: click.Context, package_path: Path) -> None:
    """Print the digest of a package directory (what vote-for-upgrade votes for)."""
    digest = package_digest(package_path)
    if json_mode(ctx):
        emit_json({"packagePath": str(package_path), "digest": digest})
    else:
        success(f"Digest for package '{package_path}':\n  Hex: {digest}")


@node_admin.command("collect-commission")
@_NODE_ID
@_CAP_ID
@global_options
@click.pass_context
def node_collect_commission(ctx: click.Context, node_id: str | None, cap_id: str | None) -> None:
    """Collect the node's commission into a new coin (the commission receiver only)."""
    from pywalrus.client import chain_ops

    config = load_config(ctx)
    account = _active_account(config)
    result = run_on_chain(
        ctx, config, lambda c: chain_ops.collect_commission(c, account, node_id, cap_id)
    )
    if json_mode(ctx):
        emit_json(result.to_json())
        return
    success(f"Collected {human_frost(result.values['amount'])} as commission")


COMMANDS: tuple[click.Command, ...] = (
    generate_sui_wallet,
    wallet,
    get_wal,
    stake,
    list_staked_wal,
    request_withdraw_stake,
    withdraw_stake,
    node_admin,
)

"""Chain operations of a Walrus client: reading the system, paying WAL, staking, node admin.

Small async functions over a `ChainClient`, shared by the CLI and the SDK. Each builds one
transaction from the contract entry functions (`pywalrus.chain.contracts`), submits it for an
account and returns a typed result; reads return typed views of the chain's objects. Inputs
(addresses, object IDs, amounts) are checked here, before anything is sent, so that every
front end refuses bad input with the same messages, and a rejected transaction surfaces as
the client's `ChainError` carrying the contract's abort code.

Amounts are integers in FROST (1 WAL = 10^9 FROST) and gas in MIST, never floats.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pywalrus.chain.client import ChainClient
from pywalrus.chain.objects import Object
from pywalrus.chain.schema import (
    COIN,
    MAX_COMMISSION,
    MIN_STAKE,
    STAKED_WAL,
    STAKING,
    STAKING_POOL,
    STORAGE_NODE_CAP,
)
from pywalrus.chain.tx import MAX_CALLS, Call
from pywalrus.core.accounts import Account, parse_address
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.errors import (
    ChainError,
    InsufficientFunds,
    InvalidAmount,
    ObjectNotFound,
)
from pywalrus.core.messages import sign_proof_of_possession
from pywalrus.core.pricing import FROST_PER_WAL
from pywalrus.core.types import U64_MAX

DEFAULT_STAKE = FROST_PER_WAL
"""What the CLI stakes per node when no amount is given: 1 WAL, the minimum stake."""


# Input checks --------------------------------------------------------------------------------


def check_amount(amount: int, what: str = "amount", minimum: int = 1) -> int:
    """`amount` if it is an integer in [minimum, u64 max], else `InvalidAmount`."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(f"{what} must be an integer number of FROST")
    if not minimum <= amount <= U64_MAX:
        raise InvalidAmount(f"{what} must be between {minimum} and {U64_MAX}, got {amount}")
    return amount


async def _typed_object(
    client: ChainClient, object_id: str, type_: str, what: str, owner: str | None = None
) -> Object:
    """The object `object_id`, checked to be a `type_` (owned by `owner` if given)."""
    obj = await client.get_object(parse_address(object_id))
    if obj is None:
        raise ObjectNotFound(f"{what} {object_id} does not exist")
    if obj.type != type_:
        raise ObjectNotFound(f"{object_id} is a {obj.type}, not a {what}")
    if owner is not None and obj.owner != owner:
        raise ObjectNotFound(f"{what} {object_id} is not owned by {owner}")
    return obj


def _results(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-call return values of an executed transaction."""
    values: list[dict[str, Any]] = result["effects"]["results"]
    return values


# Reads ---------------------------------------------------------------------------------------


async def _pools(client: ChainClient) -> dict[str, Object]:
    return {pool.id: pool for pool in await client.objects_of_type(STAKING_POOL)}


@dataclass(frozen=True)
class Balances:
    """What an address holds."""

    address: str
    """The normalised 0x-hex address."""
    wal: int
    """FROST summed over its WAL coins."""
    coins: int
    """How many WAL coins (of any balance) it owns."""
    gas: int
    """Gas balance in MIST."""

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "walBalance": self.wal,
            "coinCount": self.coins,
            "gasBalance": self.gas,
        }


async def balances(client: ChainClient, address: str) -> Balances:
    """WAL (over all coins) and gas of `address`."""
    address = parse_address(address)
    coins = await client.owned_objects(address, COIN)
    gas = (await client.account(address))["gas"]
    return Balances(address, sum(int(c.fields["balance"]) for c in coins), len(coins), gas)


# Paying --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    """Where a payment comes from: one coin, after merging others into it if needed."""

    coin: str
    """The coin to pay from."""
    balance: int
    """Its balance once `calls` have run."""
    calls: tuple[Call, ...]
    """Merges to run first in the same transaction (empty if one coin suffices)."""


def plan_payment(coins: Sequence[tuple[str, int]], amount: int, owner: str) -> Payment:
    """Choose coins (ID, balance) to pay `amount` from.

    The smallest single coin that suffices is used as is, keeping large coins whole;
    otherwise the largest coins are merged until they cover the amount, so the merge touches
    as few coins as possible. Raise `InsufficientFunds` if all coins together fall short.
    """
    check_amount(amount)
    sufficient = [c for c in coins if c[1] >= amount]
    if sufficient:
        coin_id, balance = min(sufficient, key=lambda c: (c[1], c[0]))
        return Payment(coin_id, balance, ())
    chosen: list[tuple[str, int]] = []
    total = 0
    for coin in sorted(coins, key=lambda c: (-c[1], c[0])):
        if coin[1] <= 0:
            break
        chosen.append(coin)
        total += coin[1]
        if total >= amount:
            primary, others = chosen[0][0], [c[0] for c in chosen[1:]]
            merge = Call("wal::merge", {"coin": primary, "others": others})
            return Payment(primary, total, (merge,))
    raise InsufficientFunds(
        f"insufficient WAL: {owner} holds {total} FROST in {len(coins)} coin(s), "
        f"{amount} FROST needed",
        owner,
        amount,
        total,
    )


async def select_payment(client: ChainClient, owner: str, amount: int) -> Payment:
    """Plan paying `amount` FROST from the coins `owner` holds now."""
    coins = await client.owned_objects(owner, COIN)
    return plan_payment([(c.id, int(c.fields["balance"])) for c in coins], amount, owner)


@dataclass(frozen=True)
class Transfer:
    """A WAL payment that was executed."""

    digest: str
    """Transaction digest."""
    sender: str
    """Paying address."""
    recipient: str
    """Receiving address."""
    amount: int
    """FROST sent."""
    coin: str
    """The coin the recipient now owns."""

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "sender": self.sender,
            "recipient": self.recipient,
            "amount": self.amount,
            "coin": self.coin,
        }


async def transfer_wal(
    client: ChainClient, account: Account, recipient: str, amount: int
) -> Transfer:
    """Send `amount` FROST to `recipient`, merging the sender's coins if no single one suffices.

    A coin whose (merged) balance is exactly the amount is handed over whole rather than
    leaving an empty coin behind.
    """
    recipient = parse_address(recipient)
    payment = await select_payment(client, account.address, check_amount(amount))
    if payment.balance == amount:
        last = Call("wal::transfer", {"coin": payment.coin, "recipient": recipient})
    else:
        last = Call("wal::pay", {"coin": payment.coin, "amount": amount, "recipient": recipient})
    result = await client.execute(account, [*payment.calls, last])
    coin: str = _results(result)[-1]["coin"]
    return Transfer(result["digest"], account.address, recipient, amount, coin)


@dataclass(frozen=True)
class FaucetGrant:
    """What a local network's faucet gave."""

    digest: str
    """The chain's faucet transaction."""
    address: str
    """The recipient."""
    wal: int
    """FROST minted to a new coin."""
    gas: int
    """MIST of gas added."""
    coin: str | None
    """The new WAL coin, if WAL was asked for."""

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "address": self.address,
            "wal": self.wal,
            "gas": self.gas,
            "coin": self.coin,
        }


async def request_faucet(
    client: ChainClient, address: str, wal: int = 0, gas: int = 0
) -> FaucetGrant:
    """Ask the chain's faucet (local networks only) for WAL and/or gas."""
    address = parse_address(address)
    if wal:
        check_amount(wal, "WAL amount")
    if gas:
        check_amount(gas, "gas amount")
    if not wal and not gas:
        raise InvalidAmount("ask the faucet for some WAL or gas")
    result = await client.faucet(address, wal=wal, gas=gas)
    coin = _results(result)[0].get("coin") if wal else None
    return FaucetGrant(result["digest"], address, wal, gas, coin)


# Staking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StakedWalInfo:
    """A `StakedWal` object: WAL staked with one node."""

    id: str
    """Object ID of the StakedWal."""
    node_id: str
    """The pool it is staked with."""
    node_name: str | None
    """The pool's name, if the pool still exists."""
    principal: int
    """FROST staked."""
    activation_epoch: int
    """First epoch the stake counts in."""
    state: str
    """`staked` or `withdrawing`."""
    withdraw_epoch: int | None
    """When a requested withdrawal can be completed."""

    @classmethod
    def from_object(cls, obj: Object, pools: dict[str, Object]) -> StakedWalInfo:
        f = obj.fields
        pool = pools.get(f["node_id"])
        return cls(
            obj.id,
            f["node_id"],
            pool.fields.get("name") if pool is not None else None,
            f["principal"],
            f["activation_epoch"],
            f["state"],
            f["withdraw_epoch"],
        )

    def to_json(self) -> dict[str, Any]:
        """Upstream's `StakedWal` JSON (snake_case, as its Move struct serialises)."""
        state: Any = "Staked" if self.state == "staked" else {"Withdrawing": self.withdraw_epoch}
        return {
            "id": self.id,
            "state": state,
            "node_id": self.node_id,
            "principal": self.principal,
            "activation_epoch": self.activation_epoch,
        }

    def describe(self) -> str:
        """As upstream prints a `StakedWal`."""
        state = "Staked" if self.state == "staked" else f"Withdrawing: epoch={self.withdraw_epoch}"
        name = f" ({self.node_name})" if self.node_name else ""
        return (
            f"StakedWal:\n    object id: {self.id},\n    state: {state},\n"
            f"    node_id: {self.node_id}{name},\n    principal: {self.principal},\n"
            f"    activation_epoch: {self.activation_epoch}"
        )


@dataclass(frozen=True)
class Stakes:
    """Staking transactions' outcome: the new StakedWal objects."""

    digest: str
    """Transaction digest."""
    staked: tuple[StakedWalInfo, ...]
    """One per node, in the order asked."""

    def to_json(self) -> dict[str, Any]:
        """Upstream's `StakeOutput`."""
        return {"stakedWal": [s.to_json() for s in self.staked]}


async def stake_many(
    client: ChainClient, account: Account, stakes: Sequence[tuple[str, int]]
) -> Stakes:
    """Stake with several nodes (node ID, FROST) in one transaction, paid from one coin.

    Each node must be a staking pool and each amount at least the minimum stake (1 WAL);
    both are checked before sending so the error names the culprit.
    """
    if not stakes:
        raise InvalidAmount("nothing to stake")
    if len(stakes) >= MAX_CALLS:
        raise InvalidAmount(f"stake with at most {MAX_CALLS - 1} nodes per transaction")
    pools = await _pools(client)
    checked = []
    for node_id, amount in stakes:
        node = parse_address(node_id)
        if node not in pools:
            raise ObjectNotFound(f"no storage node (staking pool) with ID {node_id}")
        check_amount(amount, f"stake for node {node}", MIN_STAKE)
        checked.append((node, amount))
    total = sum(amount for _, amount in checked)
    payment = await select_payment(client, account.address, total)
    calls = [
        Call("staking::stake_with_pool", {"payment": payment.coin, "amount": a, "node_id": n})
        for n, a in checked
    ]
    result = await client.execute(account, [*payment.calls, *calls])
    values = _results(result)[len(payment.calls) :]
    staked = tuple(
        StakedWalInfo(
            v["staked_wal"],
            node,
            pools[node].fields.get("name"),
            amount,
            v["activation_epoch"],
            "staked",
            None,
        )
        for v, (node, amount) in zip(values, checked, strict=True)
    )
    return Stakes(result["digest"], staked)


async def stake(client: ChainClient, account: Account, node_id: str, amount: int) -> Stakes:
    """Stake `amount` FROST with one node."""
    return await stake_many(client, account, [(node_id, amount)])


async def list_staked_wal(client: ChainClient, address: str) -> list[StakedWalInfo]:
    """The StakedWal objects `address` owns, by node then activation epoch."""
    owned = await client.owned_objects(parse_address(address), STAKED_WAL)
    pools = await _pools(client) if owned else {}
    found = [StakedWalInfo.from_object(o, pools) for o in owned]
    return sorted(found, key=lambda s: (s.node_id, s.activation_epoch, s.id))


@dataclass(frozen=True)
class WithdrawRequest:
    """Requested withdrawals (upstream's `RequestWithdrawStakeOutput`)."""

    digest: str
    """Transaction digest."""
    staked_wals: tuple[StakedWalInfo, ...]
    """The StakedWal objects, now withdrawing."""

    def to_json(self) -> dict[str, Any]:
        return {"stakedWals": [s.to_json() for s in self.staked_wals], "txDigest": self.digest}


async def staked_with_node(client: ChainClient, owner: str, node_id: str) -> list[StakedWalInfo]:
    """The owner's StakedWal objects with `node_id` that are staked (not withdrawing)."""
    node = parse_address(node_id)
    return [
        s for s in await list_staked_wal(client, owner) if s.node_id == node and s.state == "staked"
    ]


async def request_withdraw(
    client: ChainClient, account: Account, staked_wal_ids: Sequence[str]
) -> WithdrawRequest:
    """Start withdrawing stakes, in one transaction (one not active yet is refused: withdraw
    it directly)."""
    ids = [
        (await _typed_object(client, i, STAKED_WAL, "StakedWal", account.address)).id
        for i in staked_wal_ids
    ]
    if not ids:
        raise InvalidAmount("no StakedWal to withdraw")
    calls = [Call("staking::request_withdraw_stake", {"staked_wal": i}) for i in ids]
    result = await client.execute(account, calls)
    after = {s.id: s for s in await list_staked_wal(client, account.address)}
    return WithdrawRequest(result["digest"], tuple(after[i] for i in ids if i in after))


@dataclass(frozen=True)
class Withdrawal:
    """Completed withdrawals (upstream's `WithdrawStakeOutput`, with what was paid out)."""

    digest: str
    """Transaction digest."""
    staked_wals: tuple[str, ...]
    """The StakedWal objects, now deleted."""
    coins: tuple[str, ...]
    """The coins paid out, one per StakedWal."""
    principal: int
    """FROST of principal returned."""
    rewards: int
    """FROST of rewards on top."""

    def to_json(self) -> dict[str, Any]:
        return {"stakedWalIds": list(self.staked_wals), "txDigest": self.digest}


async def withdraw(
    client: ChainClient, account: Account, staked_wal_ids: Sequence[str]
) -> Withdrawal:
    """Pay out StakedWal objects in one transaction: each directly if not active yet, or once
    its requested withdrawal has matured."""
    ids = [
        (await _typed_object(client, i, STAKED_WAL, "StakedWal", account.address)).id
        for i in staked_wal_ids
    ]
    if not ids:
        raise InvalidAmount("no StakedWal to withdraw")
    result = await client.execute(
        account, [Call("staking::withdraw_stake", {"staked_wal": i}) for i in ids]
    )
    values = _results(result)
    return Withdrawal(
        result["digest"],
        tuple(ids),
        tuple(v["coin"] for v in values),
        sum(v["principal"] for v in values),
        sum(v["rewards"] for v in values),
    )


# Node administration -------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeRegistration:
    """A storage node registered as a candidate."""

    digest: str
    """Transaction digest."""
    node_id: str
    """The node's ID (its staking pool)."""
    cap: str
    """The StorageNodeCap the operator now owns."""
    name: str
    """The node's name."""
    public_key: str
    """Its BLS protocol public key, hex."""

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "nodeId": self.node_id,
            "cap": self.cap,
            "name": self.name,
            "publicKey": self.public_key,
        }


async def register_node(
    client: ChainClient,
    account: Account,
    name: str,
    network_address: str,
    protocol_key: BlsPrivateKey,
    commission_rate: int = 0,
    storage_price: int = 100_000,
    write_price: int = 20_000,
    node_capacity: int = 1 << 40,
    network_public_key: str = "",
) -> NodeRegistration:
    """Register `account` as the operator of a new storage node candidate.

    The proof of possession binds the protocol key to the operator's address for the
    current epoch, which the contract checks; if the epoch changes between reading it and
    executing, the proof is remade once for the new epoch.
    """
    if not 0 <= commission_rate <= MAX_COMMISSION:
        raise InvalidAmount(f"commission rate must be 0–{MAX_COMMISSION} basis points")
    for what, value in (
        ("storage price", storage_price),
        ("write price", write_price),
        ("node capacity", node_capacity),
    ):
        check_amount(value, what, 0)
    public_key = protocol_key.public_key().to_bytes().hex()
    address = bytes.fromhex(account.address[2:])
    for attempt in range(2):
        epoch = int((await client.singleton(STAKING)).fields["epoch"])
        pop = sign_proof_of_possession(protocol_key, epoch, address)
        call = Call(
            "staking::register_candidate",
            {
                "name": name,
                "network_address": network_address,
                "public_key": public_key,
                "network_public_key": network_public_key,
                "proof_of_possession": base64.b64encode(pop.to_bytes()).decode(),
                "commission_rate": commission_rate,
                "storage_price": storage_price,
                "write_price": write_price,
                "node_capacity": node_capacity,
            },
        )
        try:
            result = await client.execute(account, [call])
        except ChainError as exc:
            if exc.reason == "EInvalidProofOfPossession" and attempt == 0:
                continue
            raise
        created = _results(result)[0]
        return NodeRegistration(
            result["digest"], created["node_id"], created["cap"], name, public_key
        )
    raise AssertionError("unreachable")


async def find_cap(
    client: ChainClient, operator: str, cap_id: str | None = None, node_id: str | None = None
) -> Object:
    """The StorageNodeCap of `operator`: `cap_id` if given, else the one of `node_id` if
    given, else its only one."""
    if cap_id is not None:
        return await _typed_object(client, cap_id, STORAGE_NODE_CAP, "StorageNodeCap", operator)
    caps = await client.owned_objects(operator, STORAGE_NODE_CAP)
    if node_id is not None:
        node = parse_address(node_id)
        mine = [c for c in caps if c.fields["node_id"] == node]
        if not mine:
            raise ObjectNotFound(f"{operator} holds no StorageNodeCap of node {node}")
        return mine[0]
    if not caps:
        raise ObjectNotFound(f"{operator} holds no StorageNodeCap: it operates no storage node")
    if len(caps) > 1:
        ids = ", ".join(c.id for c in caps)
        raise ObjectNotFound(f"{operator} holds several StorageNodeCaps ({ids}): choose one")
    return caps[0]


@dataclass(frozen=True)
class NodeAction:
    """A node operator's transaction and what the contract returned."""

    digest: str
    """Transaction digest."""
    node_id: str
    """The operator's node."""
    values: dict[str, Any]
    """The entry function's return values (and, for votes, the votes set)."""

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "nodeId": self.node_id, **self.values}


async def set_votes(
    client: ChainClient,
    account: Account,
    cap_id: str | None = None,
    storage_price: int | None = None,
    write_price: int | None = None,
    node_capacity: int | None = None,
) -> NodeAction:
    """Change the node's price and capacity votes (those given; the others stay)."""
    votes = {
        "storage_price": storage_price,
        "write_price": write_price,
        "node_capacity": node_capacity,
    }
    given = {k: v for k, v in votes.items() if v is not None}
    if not given:
        raise InvalidAmount("nothing to vote for: give a storage price, write price or capacity")
    for key, value in given.items():
        check_amount(value, key.replace("_", " "), 0)
    cap = await find_cap(client, account.address, cap_id)
    result = await client.execute(account, [Call("staking::set_votes", {"cap": cap.id, **given})])
    return NodeAction(result["digest"], cap.fields["node_id"], {"votes": given})


async def vote_for_slashing(
    client: ChainClient, account: Account, target: str, cap_id: str | None = None
) -> NodeAction:
    """Vote, as a committee member, to slash the commission of node `target`."""
    target = parse_address(target)
    cap = await find_cap(client, account.address, cap_id)
    result = await client.execute(
        account, [Call("governance::vote_for_slashing", {"cap": cap.id, "target": target})]
    )
    return NodeAction(
        result["digest"], cap.fields["node_id"], {"target": target, **_results(result)[0]}
    )


async def vote_for_upgrade(
    client: ChainClient, account: Account, package_digest: str, cap_id: str | None = None
) -> NodeAction:
    """Vote, as a committee member, for a new contract package digest."""
    if not package_digest:
        raise InvalidAmount("the package digest must not be empty")
    cap = await find_cap(client, account.address, cap_id)
    result = await client.execute(
        account,
        [Call("governance::vote_for_upgrade", {"cap": cap.id, "package_digest": package_digest})],
    )
    return NodeAction(
        result["digest"],
        cap.fields["node_id"],
        {"packageDigest": package_digest, **_results(result)[0]},
    )


async def collect_commission(
    client: ChainClient, account: Account, node_id: str | None = None, cap_id: str | None = None
) -> NodeAction:
    """Collect a pool's commission (`node_id`, or the node of the account's cap)."""
    if node_id is None:
        node_id = (await find_cap(client, account.address, cap_id)).fields["node_id"]
    node = (await _typed_object(client, node_id, STAKING_POOL, "storage node")).id
    result = await client.execute(account, [Call("staking::collect_commission", {"node_id": node})])
    return NodeAction(result["digest"], node, _results(result)[0])

"""Staking, committees and the epoch state machine (protocol page §7, `staking*.move`).

Storage nodes register as candidates with a BLS key and a proof of possession and get a
`StorageNodeCap`; anyone stakes WAL with a node's pool and gets a `StakedWal`. Pools account
stake in shares with an exchange rate per epoch, so rewards raise the value of every share.
Half-way through an epoch (`voting_end`) the next committee is chosen from the active set by
D'Hondt apportionment and the capacity vote is taken; at the epoch's end
(`initiate_epoch_change`) rewards are paid, prices recomputed, and the new committee takes
over; once nodes holding a quorum of shards report `epoch_sync_done`, the epoch change is
done and the next epoch's timer starts.
"""

from __future__ import annotations

from typing import Any

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import coin, entry, system
from pywalrus.chain.contracts import staking_pool as pool_accounting
from pywalrus.chain.objects import SHARED, Object
from pywalrus.core.apportionment import apportionment
from pywalrus.core.committee import (
    MAINNET_ACTIVE_SET_SIZE_LIMIT,
    ActiveSet,
    Committee,
    diff,
    next_committee,
)
from pywalrus.core.config import is_quorum
from pywalrus.core.crypto.bls import BlsPublicKey
from pywalrus.core.errors import Abort, NoStakeError, WalrusError
from pywalrus.core.messages import verify_proof_of_possession
from pywalrus.core.voting import quorum_above, quorum_below, scaled_capacity_vote

STAKING = "walrus::Staking"
POOL = "walrus::StakingPool"
CAP = "walrus::StorageNodeCap"
STAKED_WAL = "walrus::StakedWal"
MIN_STAKE = coin.FROST_PER_WAL
"""A StakedWal holds at least 1 WAL."""
MAX_COMMISSION = pool_accounting.MAX_COMMISSION
BURN_PERCENT = 3
U64_MAX = (1 << 64) - 1
U16_MAX = (1 << 16) - 1

DONE = "EpochChangeDone"
PARAMS_SELECTED = "NextParamsSelected"
SYNC = "EpochChangeSync"


# Helpers ------------------------------------------------------------------------------------


def staking_state(ctx: TxContext) -> Object:
    return ctx.singleton(STAKING)


def committee_of(value: dict[str, list[int]]) -> Committee:
    return Committee.from_mapping({bytes.fromhex(k[2:]): v for k, v in value.items()})


def committee_json(committee: Committee) -> dict[str, list[int]]:
    return {"0x" + node.hex(): list(committee.shards(node)) for node in committee.node_ids}


def _pool(ctx: TxContext, node_id: str) -> Object:
    return ctx.get_mut(node_id, POOL)


def _cap(ctx: TxContext, cap: str) -> Object:
    return ctx.get_mut(cap, CAP)


def _update_active_set(staking: Object, node_id: str, stake: int) -> bool:
    """Record `stake` for the node in the active set (upstream `insert_or_update`); returns
    whether the node is in the set afterwards."""
    active = ActiveSet(
        max_size=staking.fields["active_set_max"],
        entries=tuple((bytes.fromhex(n[2:]), s) for n, s in staking.fields["active_set"]),
    )
    node = bytes.fromhex(node_id[2:])
    active = active.insert_or_update(node, stake)
    staking.fields["active_set"] = [["0x" + n.hex(), s] for n, s in active.entries]
    return node in active


def _next_committee_selected(staking: Object) -> bool:
    """Whether `voting_end` chose the next committee this epoch (upstream `committee_selected`:
    false again from the epoch change on, while the new committee syncs)."""
    return staking.fields["next_committee"] is not None


def _vote_epoch(staking: Object) -> int:
    """The first epoch whose committee is still to be voted: E+1 before `voting_end`, E+2 after.

    New stake activates then, and the active set holds each node's stake for that epoch."""
    epoch: int = staking.fields["epoch"]
    return epoch + (2 if _next_committee_selected(staking) else 1)


def _refresh_active_set(ctx: TxContext, staking: Object, node_id: str) -> tuple[bool, int]:
    """Put the node's stake for the next vote into the active set; (in the set, that stake)."""
    stake = pool_accounting.balance_at(_pool(ctx, node_id).fields, _vote_epoch(staking))
    return _update_active_set(staking, node_id, stake), stake


# Node registration and settings -----------------------------------------------------------


@entry("staking::register_candidate")
def register_candidate(
    ctx: TxContext,
    name: str,
    network_address: str,
    public_key: str,
    network_public_key: str,
    proof_of_possession: str,
    commission_rate: int,
    storage_price: int,
    write_price: int,
    node_capacity: int,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Register a storage node candidate; returns its node ID (the pool) and its cap."""
    pool, cap = create_pool(
        ctx,
        ctx.sender,
        {
            "name": name,
            "network_address": network_address,
            "public_key": public_key,
            "network_public_key": network_public_key,
            "proof_of_possession": proof_of_possession,
            "commission_rate": commission_rate,
            "storage_price": storage_price,
            "write_price": write_price,
            "node_capacity": node_capacity,
            "metadata": metadata or {},
        },
    )
    return {"node_id": pool.id, "cap": cap.id}


def create_pool(ctx: TxContext, operator: str, info: dict[str, Any]) -> tuple[Object, Object]:
    """A staking pool for a node operated by `operator`, after checking its key's possession."""
    staking = staking_state(ctx)
    epoch = staking.fields["epoch"]
    name, address = info["name"], info["network_address"]
    if not 0 < len(name) <= 100 or not 0 < len(address) <= 259:
        raise Abort("EInvalidNodeInfo", "name (≤100) and network address (≤259) are required")
    if not 0 <= info["commission_rate"] <= MAX_COMMISSION:
        raise Abort("EIncorrectCommissionRate", "commission rate is at most 10000 basis points")
    for key in ("storage_price", "write_price", "node_capacity"):
        if not 0 <= info[key] <= U64_MAX:
            raise Abort("EBadArgument", f"{key} must fit u64")
    for pool_id in staking.fields["pools"]:
        if ctx.get(pool_id, POOL).fields["public_key"] == str(info["public_key"]).lower():
            raise Abort("EDuplicatePublicKey", "another node already registered this BLS key")
    try:
        key_bytes = bytes.fromhex(info["public_key"])
        pop = system._decode_b64("proof of possession", info["proof_of_possession"])
        valid = verify_proof_of_possession(
            BlsPublicKey.from_bytes(key_bytes), epoch, bytes.fromhex(operator[2:]), pop
        )
    except (WalrusError, ValueError) as exc:
        raise Abort("EInvalidProofOfPossession", str(exc)) from None
    if not valid:
        raise Abort("EInvalidProofOfPossession", "proof of possession does not verify")
    pool = ctx.create(
        POOL,
        SHARED,
        {
            "state": "active",
            "name": name,
            "network_address": address,
            "public_key": key_bytes.hex(),
            "next_epoch_public_key": None,
            "network_public_key": info["network_public_key"],
            "metadata": info.get("metadata", {}),
            "votes": {k: info[k] for k in ("storage_price", "write_price", "node_capacity")},
            "wal_balance": 0,
            "num_shares": 0,
            "exchange_rates": {str(epoch): [1, 1]},
            "pending_stake": {},
            "pending_withdraw_shares": {},
            "pending_withdraw_wal": {},
            "pre_active_withdrawals": {},
            "rewards_pool": 0,
            "commission_rate": info["commission_rate"],
            "pending_commission_rate": None,
            "pending_commission_rates": {},
            "commission": 0,
            "commission_blocked": 0,
            "commission_receiver": operator,
            "governance_authorized": operator,
            "operator": operator,
        },
    )
    cap = ctx.create(CAP, operator, {"node_id": pool.id, "last_epoch_sync_done": 0})
    staking.fields["pools"].append(pool.id)
    return pool, cap


def _check_cap(ctx: TxContext, cap_id: str) -> tuple[Object, Object]:
    cap = _cap(ctx, cap_id)
    return cap, _pool(ctx, cap.fields["node_id"])


@entry("staking::set_votes")
def set_votes(
    ctx: TxContext,
    cap: str,
    storage_price: int | None = None,
    write_price: int | None = None,
    node_capacity: int | None = None,
) -> None:
    """Set the node's price and capacity votes (applied at the next price update / voting end)."""
    _, pool = _check_cap(ctx, cap)
    votes = pool.fields["votes"]
    for key, value in (
        ("storage_price", storage_price),
        ("write_price", write_price),
        ("node_capacity", node_capacity),
    ):
        if value is not None:
            if value > U64_MAX:
                raise Abort("EBadArgument", f"{key} must fit u64")
            votes[key] = value


@entry("staking::set_node_info")
def set_node_info(
    ctx: TxContext,
    cap: str,
    name: str | None = None,
    network_address: str | None = None,
    network_public_key: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Update the node's name, network address, network key or metadata."""
    _, pool = _check_cap(ctx, cap)
    f = pool.fields
    if name is not None:
        f["name"] = name
    if network_address is not None:
        f["network_address"] = network_address
    if network_public_key is not None:
        f["network_public_key"] = network_public_key
    if metadata is not None:
        f["metadata"] = metadata


@entry("staking::set_next_commission")
def set_next_commission(ctx: TxContext, node_id: str, commission_rate: int) -> None:
    """Change the commission rate from epoch E+2 (by the pool's governance authority)."""
    staking = staking_state(ctx)
    pool = _pool(ctx, node_id)
    if pool.fields["governance_authorized"] != ctx.sender:
        raise Abort("ENotAuthorized", "only the pool's governance authority may set commission")
    if commission_rate > MAX_COMMISSION:
        raise Abort("EIncorrectCommissionRate", "commission rate is at most 10000 basis points")
    pool_accounting.set_next_commission(pool.fields, staking.fields["epoch"] + 2, commission_rate)


@entry("staking::set_commission_receiver")
def set_commission_receiver(ctx: TxContext, node_id: str, receiver: str) -> None:
    pool = _pool(ctx, node_id)
    if pool.fields["governance_authorized"] != ctx.sender:
        raise Abort("ENotAuthorized", "only the pool's governance authority may do this")
    pool.fields["commission_receiver"] = ctx.address(receiver)


@entry("staking::collect_commission")
def collect_commission(ctx: TxContext, node_id: str) -> dict[str, Any]:
    """Pay the pool's collectable commission to its receiver."""
    pool = _pool(ctx, node_id)
    f = pool.fields
    if f["commission_receiver"] != ctx.sender:
        raise Abort("ENotAuthorized", "only the commission receiver may collect commission")
    amount = f["commission"]
    f["commission"] = 0
    return {"coin": coin.new_coin(ctx, ctx.sender, amount).id, "amount": amount}


# Staking ------------------------------------------------------------------------------------


@entry("staking::stake_with_pool")
def stake_with_pool(ctx: TxContext, payment: str, amount: int, node_id: str) -> dict[str, Any]:
    """Stake `amount` FROST with a node; active from E+1, or E+2 after the committee is chosen."""
    staking = staking_state(ctx)
    pool = _pool(ctx, node_id)
    if pool.fields["state"] != "active":
        raise Abort("EPoolNotActive", "the pool is not accepting stake")
    if amount < MIN_STAKE:
        raise Abort("EInsufficientStake", f"stake at least {MIN_STAKE} FROST (1 WAL)")
    coin.withdraw(ctx, payment, amount)
    activation = _vote_epoch(staking)
    pool_accounting.pending_add(pool.fields["pending_stake"], activation, amount)
    staked = ctx.create(
        STAKED_WAL,
        ctx.sender,
        {
            "node_id": node_id,
            "principal": amount,
            "activation_epoch": activation,
            "state": "staked",
            "withdraw_epoch": None,
        },
    )
    _refresh_active_set(ctx, staking, node_id)
    return {"staked_wal": staked.id, "activation_epoch": activation}


@entry("staking::try_join_active_set")
def try_join_active_set(ctx: TxContext, cap: str) -> dict[str, Any]:
    """Offer the node's stake for the next vote to the active set (by the node's cap), e.g.
    after it was evicted from a full set and the set has room again."""
    staking = staking_state(ctx)
    node_id = _cap(ctx, cap).fields["node_id"]
    joined, stake = _refresh_active_set(ctx, staking, node_id)
    return {"in_active_set": joined, "stake": stake}


def _in_committee(staking: Object, key: str, node_id: str) -> bool:
    committee = staking.fields.get(key)
    return committee is not None and node_id in committee


def _withdraw_directly(staked: dict[str, Any], epoch: int, in_next: bool) -> bool:
    """Whether a stake may leave in one step, principal only: it is not active yet and does not
    count for a committee (upstream `can_withdraw_early`)."""
    activation: int = staked["activation_epoch"]
    return staked["state"] == "staked" and (
        activation == epoch + 2 or (activation == epoch + 1 and not in_next)
    )


def _membership(staking: Object, node_id: str) -> tuple[bool, bool]:
    """(in the current committee, in the next committee once it is selected)."""
    return _in_committee(staking, "committee", node_id), _in_committee(
        staking, "next_committee", node_id
    )


@entry("staking::request_withdraw_stake")
def request_withdraw_stake(ctx: TxContext, staked_wal: str) -> dict[str, Any]:
    """Ask to withdraw; the WAL becomes withdrawable at E+1 or E+2 (protocol page §7.2)."""
    staking = staking_state(ctx)
    epoch = staking.fields["epoch"]
    staked = ctx.get_mut(staked_wal, STAKED_WAL)
    f = staked.fields
    if f["state"] != "staked":
        raise Abort("ENotStaked", "stake is already withdrawing")
    node_id = f["node_id"]
    p = _pool(ctx, node_id).fields
    in_current, in_next = _membership(staking, node_id)
    activation = f["activation_epoch"]
    if _withdraw_directly(f, epoch, in_next):
        raise Abort("ENotWithdrawing", "stake is not active yet: withdraw it directly")
    if activation == epoch + 1:
        # Counted for the next committee but not active yet: it serves that one epoch. Its
        # shares are bought at the activation rate, known only then, so the principal waits.
        withdraw_epoch = activation + 1
        pool_accounting.pending_add(
            pool_accounting.pre_active_withdrawals(p), withdraw_epoch, f["principal"]
        )
    else:
        if in_next:
            withdraw_epoch = epoch + 2
        elif in_current:
            withdraw_epoch = epoch + 1
        else:
            raise Abort("ENotWithdrawing", "the node is in no committee: withdraw directly")
        rate = pool_accounting.rate_at(p, activation)
        shares = pool_accounting.to_shares(rate, f["principal"])
        if shares == 0:
            raise Abort("EZeroShares", "the stake is worth no shares")
        pool_accounting.pending_add(p["pending_withdraw_shares"], withdraw_epoch, shares)
    f["state"] = "withdrawing"
    f["withdraw_epoch"] = withdraw_epoch
    _refresh_active_set(ctx, staking, node_id)
    return {"withdraw_epoch": withdraw_epoch}


@entry("staking::withdraw_stake")
def withdraw_stake(ctx: TxContext, staked_wal: str) -> dict[str, Any]:
    """Withdraw principal and rewards, directly when allowed or after a request has matured."""
    staking = staking_state(ctx)
    epoch = staking.fields["epoch"]
    staked = ctx.get_mut(staked_wal, STAKED_WAL)
    f = staked.fields
    p = _pool(ctx, f["node_id"]).fields
    activation = f["activation_epoch"]
    principal = f["principal"]
    in_current, in_next = _membership(staking, f["node_id"])
    if _withdraw_directly(f, epoch, in_next):
        pool_accounting.pending_reduce(p["pending_stake"], activation, principal)
        rewards = 0
    elif f["state"] == "staked" and not in_current and not in_next:
        # The node serves no committee: active stake leaves at once with its rewards up to
        # now; its shares go at the next epoch change, at this epoch's rate.
        rate = pool_accounting.rate_at(p, activation)
        shares = pool_accounting.to_shares(rate, principal)
        pool_accounting.pending_add(p["pending_withdraw_shares"], epoch, shares)
        rewards = pool_accounting.rewards_between(p, principal, activation, epoch)
    elif f["state"] != "withdrawing":
        raise Abort("ENotWithdrawing", "request the withdrawal first")
    elif epoch < f["withdraw_epoch"]:
        raise Abort(
            "EWithdrawEpochNotReached",
            f"stake can be withdrawn from epoch {f['withdraw_epoch']}, now {epoch}",
        )
    else:
        rewards = pool_accounting.rewards_between(p, principal, activation, f["withdraw_epoch"])
    # Rounding may promise a little more than the rewards pool holds.
    rewards = min(rewards, p["rewards_pool"])
    p["rewards_pool"] -= rewards
    ctx.delete(staked)
    _refresh_active_set(ctx, staking, f["node_id"])
    paid = coin.new_coin(ctx, ctx.sender, principal + rewards)
    return {"coin": paid.id, "principal": principal, "rewards": rewards}


# Epochs -------------------------------------------------------------------------------------


def epoch_actions_due(staking: dict[str, Any], now_ms: int) -> str | None:
    """Which permissionless epoch step is due now, if any."""
    state = staking["epoch_state"]
    start = state["at_ms"] if state["kind"] != SYNC else None
    duration = staking["epoch_duration_ms"]
    if state["kind"] == DONE and now_ms >= start + duration // 2:
        return "staking::voting_end"
    if state["kind"] == PARAMS_SELECTED and now_ms >= start + duration:
        return "staking::initiate_epoch_change"
    return None


@entry("staking::voting_end")
def voting_end(ctx: TxContext) -> None:
    """Choose the next committee and capacity (allowed half-way through the epoch)."""
    s = staking_state(ctx).fields
    state = s["epoch_state"]
    if state["kind"] != DONE or ctx.now_ms < state["at_ms"] + s["epoch_duration_ms"] // 2:
        raise Abort("EWrongEpochState", "voting can end only half-way through a running epoch")
    _select_next_committee(ctx, s)


def _select_next_committee(ctx: TxContext, s: dict[str, Any]) -> None:
    n_shards = s["n_shards"]
    active = [(bytes.fromhex(n[2:]), stake) for n, stake in s["active_set"]]
    current = committee_of(s["committee"])
    try:
        chosen = next_committee(current, apportionment(active, n_shards))
    except NoStakeError:
        chosen = current  # nobody has stake: the committee stays
    s["next_committee"] = committee_json(chosen)
    votes = []
    for node in chosen.node_ids:
        pool = _pool(ctx, "0x" + node.hex()).fields
        shards = len(chosen.shards(node))
        votes.append(
            (scaled_capacity_vote(pool["votes"]["node_capacity"], n_shards, shards), shards)
        )
    s["next_capacity"] = quorum_above(votes, n_shards) if votes else 0
    s["epoch_state"] = {"kind": PARAMS_SELECTED, "at_ms": s["epoch_state"]["at_ms"]}
    for pool_id in s["pools"]:
        pool = _pool(ctx, pool_id).fields
        pool["commission"] += pool["commission_blocked"]
        pool["commission_blocked"] = 0
    ctx.emit("EpochParametersSelected", {"next_epoch": s["epoch"] + 1})


@entry("staking::initiate_epoch_change")
def initiate_epoch_change(ctx: TxContext) -> None:
    """End the epoch: burn, pay rewards, install the next committee (at the epoch's end)."""
    s = staking_state(ctx).fields
    state = s["epoch_state"]
    if state["kind"] != PARAMS_SELECTED or ctx.now_ms < state["at_ms"] + s["epoch_duration_ms"]:
        raise Abort("EWrongEpochState", "the epoch has not reached its end")
    _change_epoch(ctx, s)


def _change_epoch(ctx: TxContext, s: dict[str, Any]) -> None:
    sys_obj = system.system_state(ctx)
    old_committee = committee_of(s["committee"])
    new_committee = committee_of(s["next_committee"])
    rewards = _advance_system(ctx, sys_obj, old_committee, s["next_capacity"])
    new_epoch = s["epoch"] + 1
    unowned = 0
    for pool_id in s["pools"]:
        pool = _pool(ctx, pool_id).fields
        reward = rewards.get(pool_id, 0)
        if reward and not pool["num_shares"]:
            # A member without stake: nobody would own the reward (upstream refuses to pay
            # it, EIncorrectEpochAdvance), so it goes to the next epoch like a remainder.
            unowned, reward = unowned + reward, 0
        pool_accounting.advance(pool, reward, new_epoch)
    system.accounting_ring(ctx)[0]["rewards"] += unowned
    s["previous_committee"] = s["committee"]
    s["committee"] = s["next_committee"]
    s["next_committee"] = None
    s["epoch"] = new_epoch
    s["epoch_state"] = {"kind": SYNC, "weight": 0, "synced": []}
    # As upstream's advance_epoch: the old committee's and the newcomers' pools moved on, so
    # their stake for the next vote (E+2, seen from the old epoch) is written again.
    staking = staking_state(ctx)
    joined = diff(old_committee, new_committee)[1]
    for node in (*old_committee.node_ids, *joined):
        _refresh_active_set(ctx, staking, "0x" + node.hex())
    install_committee(ctx, sys_obj, new_committee, new_epoch)
    update_prices_in(ctx, sys_obj, new_committee)
    ctx.emit("EpochChangeStart", {"epoch": new_epoch})
    if new_committee.size == 0:
        _finish_epoch_change(ctx, s, new_epoch)


def start_first_epoch(ctx: TxContext) -> None:
    """Genesis: choose the first committee from the initial stakes and enter epoch 1 at once."""
    s = staking_state(ctx).fields
    _select_next_committee(ctx, s)
    _change_epoch(ctx, s)
    if s["epoch_state"]["kind"] == SYNC:
        _finish_epoch_change(ctx, s, s["epoch"])


def install_committee(ctx: TxContext, sys_obj: Object, committee: Committee, epoch: int) -> None:
    """Write the BLS committee (members by node ID with keys and weights) into the system."""
    members = []
    for node in committee.node_ids:
        pool = _pool(ctx, "0x" + node.hex()).fields
        if pool["next_epoch_public_key"]:
            pool["public_key"] = pool["next_epoch_public_key"]
            pool["next_epoch_public_key"] = None
        members.append(
            {
                "node_id": "0x" + node.hex(),
                "public_key": pool["public_key"],
                "weight": len(committee.shards(node)),
            }
        )
    f = sys_obj.fields
    f["previous_committee"] = f.get("committee")
    f["committee"] = {"epoch": epoch, "n_shards": f["n_shards"], "members": members}
    f["epoch"] = epoch


def _advance_system(
    ctx: TxContext, sys_obj: Object, committee: Committee, next_capacity: int
) -> dict[str, int]:
    """Burn 3 %, split the epoch's rewards by shards × used capacity, pop the ring."""
    f = sys_obj.fields
    ring = system.accounting_ring(ctx)
    current = ring.pop(0)
    burn = current["rewards"] * BURN_PERCENT // 100
    coin.burn(ctx, burn)
    remaining = current["rewards"] - burn
    used = current["used_capacity"]
    weights = {"0x" + n.hex(): len(committee.shards(n)) * used for n in committee.node_ids}
    total = sum(weights.values())
    payouts = {n: remaining * w // max(total, 1) for n, w in weights.items()} if total else {}
    leftover = remaining - sum(payouts.values())
    last_epoch = ring[-1]["epoch"] if ring else current["epoch"]
    ring.append({"epoch": last_epoch + 1, "used_capacity": 0, "rewards": 0})
    ring[0]["rewards"] += leftover
    f["total_capacity_size"] = max(next_capacity, ring[0]["used_capacity"])
    return payouts


@entry("staking::epoch_sync_done")
def epoch_sync_done(ctx: TxContext, cap: str, epoch: int) -> None:
    """A committee member reports, once per epoch, that it holds all its shards for `epoch`;
    the epoch change is done when the reports reach a quorum of shards. A report after that
    is recorded too."""
    s = staking_state(ctx).fields
    cap_obj, _ = _check_cap(ctx, cap)
    node_id = cap_obj.fields["node_id"]
    if epoch != s["epoch"]:
        raise Abort("EInvalidSyncEpoch", f"sync reported for epoch {epoch}, current {s['epoch']}")
    if cap_obj.fields["last_epoch_sync_done"] >= epoch:
        raise Abort("EDuplicateSyncDone", f"this node already reported epoch {epoch}")
    if node_id not in s["committee"]:
        raise Abort("ENotInCommittee", f"node {node_id} is not in the committee of epoch {epoch}")
    cap_obj.fields["last_epoch_sync_done"] = epoch
    shards = s["committee"][node_id]
    state = s["epoch_state"]
    if state["kind"] == SYNC:
        state["synced"].append(node_id)
        state["weight"] += len(shards)
        if is_quorum(state["weight"], s["n_shards"]):
            _finish_epoch_change(ctx, s, epoch)
    ctx.emit("ShardsReceived", {"epoch": epoch, "shards": shards})


def _finish_epoch_change(ctx: TxContext, s: dict[str, Any], epoch: int) -> None:
    s["epoch_state"] = {"kind": DONE, "at_ms": ctx.now_ms}
    ctx.emit("EpochChangeDone", {"epoch": epoch})


def update_prices_in(ctx: TxContext, sys_obj: Object, committee: Committee) -> None:
    n_shards = sys_obj.fields["n_shards"]
    storage_votes, write_votes = [], []
    for node in committee.node_ids:
        votes = _pool(ctx, "0x" + node.hex()).fields["votes"]
        weight = len(committee.shards(node))
        storage_votes.append((votes["storage_price"], weight))
        write_votes.append((votes["write_price"], weight))
    if committee.size == 0:
        storage, write = U64_MAX, U64_MAX
    else:
        storage = quorum_below(storage_votes, n_shards)
        write = quorum_below(write_votes, n_shards)
    f = sys_obj.fields
    if (f["storage_price_per_unit_size"], f["write_price_per_unit_size"]) != (storage, write):
        f["storage_price_per_unit_size"] = storage
        f["write_price_per_unit_size"] = write
    ctx.emit("PricesUpdated", {"epoch": f["epoch"], "storage_price": storage, "write_price": write})


@entry("staking::update_prices")
def update_prices(ctx: TxContext) -> None:
    """Recompute prices from the current committee's votes (permissionless)."""
    staking = staking_state(ctx)
    update_prices_in(ctx, system.system_state(ctx), committee_of(staking.fields["committee"]))


def create_staking(
    ctx: TxContext,
    n_shards: int,
    epoch_duration_ms: int,
    active_set_max: int = MAINNET_ACTIVE_SET_SIZE_LIMIT,
) -> Object:
    if not 0 < active_set_max <= U16_MAX:
        raise Abort("EInvalidGenesis", "the active set size must be in [1, 2^16)")
    return ctx.create(
        STAKING,
        SHARED,
        {
            "n_shards": n_shards,
            "epoch_duration_ms": epoch_duration_ms,
            "epoch": 0,
            "epoch_state": {"kind": DONE, "at_ms": ctx.now_ms},
            "pools": [],
            "active_set": [],
            "active_set_max": active_set_max,
            "committee": {},
            "previous_committee": {},
            "next_committee": None,
            "next_capacity": 0,
        },
        singleton=True,
    )

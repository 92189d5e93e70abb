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

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pywalrus.chain.context import TxContext
from pywalrus.chain.contracts import coin, entry, system
from pywalrus.chain.contracts import staking_pool as pool_accounting
from pywalrus.chain.objects import SHARED, Object
from pywalrus.chain.schema import (
    MAX_COMMISSION,
    MIN_STAKE,
    STAKING_POOL,
    STORAGE_NODE_CAP,
    AccountingEntry,
    EpochChangeDone,
    EpochChangeStart,
    EpochParametersSelected,
    EpochState,
    EpochStateKind,
    FutureAccounting,
    NodeVotes,
    PoolState,
    PricesUpdated,
    ShardMap,
    ShardsReceived,
    StakedWal,
    StakeState,
    Staking,
    StakingPool,
    StorageNodeCap,
    System,
    SystemCommittee,
    SystemMember,
)
from pywalrus.chain.schema import STAKED_WAL as STAKED_WAL
from pywalrus.chain.schema import STAKING as STAKING
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
from pywalrus.core.types import U64_MAX, Address, Epoch, Frost, ObjectId, ShardIndex
from pywalrus.core.voting import quorum_above, quorum_below, scaled_capacity_vote

POOL = STAKING_POOL
CAP = STORAGE_NODE_CAP
BURN_PERCENT = 3
U16_MAX = (1 << 16) - 1

DONE = EpochStateKind.DONE
PARAMS_SELECTED = EpochStateKind.PARAMS_SELECTED
SYNC = EpochStateKind.SYNC


# Helpers ------------------------------------------------------------------------------------


def staking_state(ctx: TxContext) -> tuple[Object, Staking]:
    return ctx.load_singleton(Staking)


def committee_of(value: ShardMap) -> Committee:
    return Committee.from_mapping({bytes.fromhex(k[2:]): v for k, v in value.items()})


def committee_json(committee: Committee) -> dict[ObjectId, tuple[ShardIndex, ...]]:
    return {_node_id(node): committee.shards(node) for node in committee.node_ids}


def _node_id(node: bytes) -> ObjectId:
    return ObjectId("0x" + node.hex())


def _pool(ctx: TxContext, node_id: str) -> tuple[Object, StakingPool]:
    return ctx.load(StakingPool, node_id)


def _update_active_set(staking: Staking, node_id: str, stake: int) -> tuple[Staking, bool]:
    """Record `stake` for the node in the active set (upstream `insert_or_update`); returns
    the staking state and whether the node is in the set afterwards."""
    active = ActiveSet(
        max_size=staking.active_set_max,
        entries=tuple((bytes.fromhex(n[2:]), s) for n, s in staking.active_set),
    )
    node = bytes.fromhex(node_id[2:])
    active = active.insert_or_update(node, stake)
    entries = tuple((_node_id(n), Frost(s)) for n, s in active.entries)
    return replace(staking, active_set=entries), node in active


def _next_committee_selected(staking: Staking) -> bool:
    """Whether `voting_end` chose the next committee this epoch (upstream `committee_selected`:
    false again from the epoch change on, while the new committee syncs)."""
    return staking.next_committee is not None


def _vote_epoch(staking: Staking) -> int:
    """The first epoch whose committee is still to be voted: E+1 before `voting_end`, E+2 after.

    New stake activates then, and the active set holds each node's stake for that epoch."""
    return staking.epoch + (2 if _next_committee_selected(staking) else 1)


def _refresh_active_set(
    ctx: TxContext, staking: Staking, node_id: str
) -> tuple[Staking, bool, int]:
    """Put the node's stake for the next vote into the active set; (staking state, in the set,
    that stake)."""
    stake = pool_accounting.balance_at(_pool(ctx, node_id)[1], _vote_epoch(staking))
    staking, joined = _update_active_set(staking, node_id, stake)
    return staking, joined, stake


def _refresh_and_store(
    ctx: TxContext, obj: Object, staking: Staking, node_id: str
) -> tuple[bool, int]:
    staking, joined, stake = _refresh_active_set(ctx, staking, node_id)
    ctx.store(obj, staking)
    return joined, stake


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


def create_pool(ctx: TxContext, operator: str, info: Mapping[str, Any]) -> tuple[Object, Object]:
    """A staking pool for a node operated by `operator`, after checking its key's possession.

    `info` holds the candidate's arguments (`register_candidate`'s, or a genesis node's)."""
    staking_obj, staking = staking_state(ctx)
    epoch = staking.epoch
    name, address = info["name"], info["network_address"]
    if not 0 < len(name) <= 100 or not 0 < len(address) <= 259:
        raise Abort("EInvalidNodeInfo", "name (≤100) and network address (≤259) are required")
    if not 0 <= info["commission_rate"] <= MAX_COMMISSION:
        raise Abort("EIncorrectCommissionRate", "commission rate is at most 10000 basis points")
    for key in ("storage_price", "write_price", "node_capacity"):
        if not 0 <= info[key] <= U64_MAX:
            raise Abort("EBadArgument", f"{key} must fit u64")
    for pool_id in staking.pools:
        if ctx.read(StakingPool, pool_id).public_key == str(info["public_key"]).lower():
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
    owner = Address(operator)
    value = StakingPool(
        state=PoolState.ACTIVE,
        name=name,
        network_address=address,
        public_key=key_bytes.hex(),
        next_epoch_public_key=None,
        network_public_key=info["network_public_key"],
        metadata=info.get("metadata", {}),
        votes=NodeVotes(info["storage_price"], info["write_price"], info["node_capacity"]),
        wal_balance=Frost(0),
        num_shares=0,
        exchange_rates={epoch: pool_accounting.FLAT},
        pending_stake={},
        pending_withdraw_shares={},
        pending_withdraw_wal={},
        pre_active_withdrawals={},
        rewards_pool=Frost(0),
        commission_rate=info["commission_rate"],
        pending_commission_rates={},
        commission=Frost(0),
        commission_blocked=Frost(0),
        commission_receiver=owner,
        governance_authorized=owner,
        operator=owner,
    )
    pool = ctx.create(value, SHARED)
    cap = ctx.create(StorageNodeCap(ObjectId(pool.id), Epoch(0)), operator)
    ctx.store(staking_obj, replace(staking, pools=(*staking.pools, ObjectId(pool.id))))
    return pool, cap


def _check_cap(ctx: TxContext, cap_id: str) -> tuple[Object, StorageNodeCap, Object, StakingPool]:
    """The cap (owned by the sender) and the pool it acts for."""
    cap_obj, cap = ctx.load(StorageNodeCap, cap_id)
    return (cap_obj, cap, *_pool(ctx, cap.node_id))


@entry("staking::set_votes")
def set_votes(
    ctx: TxContext,
    cap: str,
    storage_price: int | None = None,
    write_price: int | None = None,
    node_capacity: int | None = None,
) -> None:
    """Set the node's price and capacity votes (applied at the next price update / voting end)."""
    *_, pool_obj, pool = _check_cap(ctx, cap)
    for key, value in (
        ("storage_price", storage_price),
        ("write_price", write_price),
        ("node_capacity", node_capacity),
    ):
        if value is not None and value > U64_MAX:
            raise Abort("EBadArgument", f"{key} must fit u64")
    old = pool.votes
    votes = NodeVotes(
        old.storage_price if storage_price is None else Frost(storage_price),
        old.write_price if write_price is None else Frost(write_price),
        old.node_capacity if node_capacity is None else node_capacity,
    )
    ctx.store(pool_obj, replace(pool, votes=votes))


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
    *_, pool_obj, pool = _check_cap(ctx, cap)
    changed = replace(
        pool,
        name=pool.name if name is None else name,
        network_address=pool.network_address if network_address is None else network_address,
        network_public_key=pool.network_public_key
        if network_public_key is None
        else network_public_key,
        metadata=pool.metadata if metadata is None else metadata,
    )
    ctx.store(pool_obj, changed)


def _governed_pool(ctx: TxContext, node_id: str, what: str) -> tuple[Object, StakingPool]:
    """The pool, if the sender is its governance authority."""
    pool_obj, pool = _pool(ctx, node_id)
    if pool.governance_authorized != ctx.sender:
        raise Abort("ENotAuthorized", f"only the pool's governance authority may {what}")
    return pool_obj, pool


@entry("staking::set_next_commission")
def set_next_commission(ctx: TxContext, node_id: str, commission_rate: int) -> None:
    """Change the commission rate from epoch E+2 (by the pool's governance authority)."""
    _, staking = staking_state(ctx)
    pool_obj, pool = _governed_pool(ctx, node_id, "set commission")
    if commission_rate > MAX_COMMISSION:
        raise Abort("EIncorrectCommissionRate", "commission rate is at most 10000 basis points")
    changed = pool_accounting.set_next_commission(pool, staking.epoch + 2, commission_rate)
    ctx.store(pool_obj, changed)


@entry("staking::set_commission_receiver")
def set_commission_receiver(ctx: TxContext, node_id: str, receiver: str) -> None:
    pool_obj, pool = _governed_pool(ctx, node_id, "do this")
    ctx.store(pool_obj, replace(pool, commission_receiver=Address(ctx.address(receiver))))


@entry("staking::collect_commission")
def collect_commission(ctx: TxContext, node_id: str) -> dict[str, Any]:
    """Pay the pool's collectable commission to its receiver."""
    pool_obj, pool = _pool(ctx, node_id)
    if pool.commission_receiver != ctx.sender:
        raise Abort("ENotAuthorized", "only the commission receiver may collect commission")
    amount = pool.commission
    ctx.store(pool_obj, replace(pool, commission=Frost(0)))
    return {"coin": coin.new_coin(ctx, ctx.sender, amount).id, "amount": amount}


# Staking ------------------------------------------------------------------------------------


@entry("staking::stake_with_pool")
def stake_with_pool(ctx: TxContext, payment: str, amount: int, node_id: str) -> dict[str, Any]:
    """Stake `amount` FROST with a node; active from E+1, or E+2 after the committee is chosen."""
    staking_obj, staking = staking_state(ctx)
    pool_obj, pool = _pool(ctx, node_id)
    if pool.state is not PoolState.ACTIVE:
        raise Abort("EPoolNotActive", "the pool is not accepting stake")
    if amount < MIN_STAKE:
        raise Abort("EInsufficientStake", f"stake at least {MIN_STAKE} FROST (1 WAL)")
    coin.withdraw(ctx, payment, amount)
    activation = Epoch(_vote_epoch(staking))
    pending = pool_accounting.pending_add(pool.pending_stake, activation, amount)
    ctx.store(pool_obj, replace(pool, pending_stake=pending))
    stake = StakedWal(ObjectId(node_id), Frost(amount), activation, StakeState.STAKED, None)
    staked = ctx.create(stake, ctx.sender)
    _refresh_and_store(ctx, staking_obj, staking, node_id)
    return {"staked_wal": staked.id, "activation_epoch": activation}


@entry("staking::try_join_active_set")
def try_join_active_set(ctx: TxContext, cap: str) -> dict[str, Any]:
    """Offer the node's stake for the next vote to the active set (by the node's cap), e.g.
    after it was evicted from a full set and the set has room again."""
    staking_obj, staking = staking_state(ctx)
    node_id = ctx.load(StorageNodeCap, cap)[1].node_id
    joined, stake = _refresh_and_store(ctx, staking_obj, staking, node_id)
    return {"in_active_set": joined, "stake": stake}


def _withdraw_directly(staked: StakedWal, epoch: int, in_next: bool) -> bool:
    """Whether a stake may leave in one step, principal only: it is not active yet and does not
    count for a committee (upstream `can_withdraw_early`)."""
    activation = staked.activation_epoch
    return staked.state is StakeState.STAKED and (
        activation == epoch + 2 or (activation == epoch + 1 and not in_next)
    )


def _membership(staking: Staking, node_id: str) -> tuple[bool, bool]:
    """(in the current committee, in the next committee once it is selected)."""
    following = staking.next_committee
    return node_id in staking.committee, following is not None and node_id in following


@entry("staking::request_withdraw_stake")
def request_withdraw_stake(ctx: TxContext, staked_wal: str) -> dict[str, Any]:
    """Ask to withdraw; the WAL becomes withdrawable at E+1 or E+2 (protocol page §7.2)."""
    staking_obj, staking = staking_state(ctx)
    epoch = staking.epoch
    staked_obj, staked = ctx.load(StakedWal, staked_wal)
    if staked.state is not StakeState.STAKED:
        raise Abort("ENotStaked", "stake is already withdrawing")
    node_id = staked.node_id
    pool_obj, pool = _pool(ctx, node_id)
    in_current, in_next = _membership(staking, node_id)
    activation = staked.activation_epoch
    if _withdraw_directly(staked, epoch, in_next):
        raise Abort("ENotWithdrawing", "stake is not active yet: withdraw it directly")
    if activation == epoch + 1:
        # Counted for the next committee but not active yet: it serves that one epoch. Its
        # shares are bought at the activation rate, known only then, so the principal waits.
        withdraw_epoch = activation + 1
        pool = pool_accounting.add_pre_active_withdrawal(pool, withdraw_epoch, staked.principal)
    else:
        if in_next:
            withdraw_epoch = epoch + 2
        elif in_current:
            withdraw_epoch = epoch + 1
        else:
            raise Abort("ENotWithdrawing", "the node is in no committee: withdraw directly")
        rate = pool_accounting.rate_at(pool, activation)
        shares = pool_accounting.to_shares(rate, staked.principal)
        if shares == 0:
            raise Abort("EZeroShares", "the stake is worth no shares")
        leaving = pool_accounting.pending_add(pool.pending_withdraw_shares, withdraw_epoch, shares)
        pool = replace(pool, pending_withdraw_shares=leaving)
    ctx.store(pool_obj, pool)
    withdrawing = replace(
        staked, state=StakeState.WITHDRAWING, withdraw_epoch=Epoch(withdraw_epoch)
    )
    ctx.store(staked_obj, withdrawing)
    _refresh_and_store(ctx, staking_obj, staking, node_id)
    return {"withdraw_epoch": withdraw_epoch}


@entry("staking::withdraw_stake")
def withdraw_stake(ctx: TxContext, staked_wal: str) -> dict[str, Any]:
    """Withdraw principal and rewards, directly when allowed or after a request has matured."""
    staking_obj, staking = staking_state(ctx)
    epoch = staking.epoch
    staked_obj, staked = ctx.load(StakedWal, staked_wal)
    pool_obj, pool = _pool(ctx, staked.node_id)
    activation = staked.activation_epoch
    principal = staked.principal
    in_current, in_next = _membership(staking, staked.node_id)
    if _withdraw_directly(staked, epoch, in_next):
        pending = pool_accounting.pending_reduce(pool.pending_stake, activation, principal)
        pool = replace(pool, pending_stake=pending)
        rewards = 0
    elif staked.state is StakeState.STAKED and not in_current and not in_next:
        # The node serves no committee: active stake leaves at once with its rewards up to
        # now; its shares go at the next epoch change, at this epoch's rate.
        rate = pool_accounting.rate_at(pool, activation)
        shares = pool_accounting.to_shares(rate, principal)
        leaving = pool_accounting.pending_add(pool.pending_withdraw_shares, epoch, shares)
        pool = replace(pool, pending_withdraw_shares=leaving)
        rewards = pool_accounting.rewards_between(pool, principal, activation, epoch)
    elif staked.state is not StakeState.WITHDRAWING:
        raise Abort("ENotWithdrawing", "request the withdrawal first")
    elif staked.withdraw_epoch is None or epoch < staked.withdraw_epoch:
        raise Abort(
            "EWithdrawEpochNotReached",
            f"stake can be withdrawn from epoch {staked.withdraw_epoch}, now {epoch}",
        )
    else:
        withdraw = staked.withdraw_epoch
        rewards = pool_accounting.rewards_between(pool, principal, activation, withdraw)
    # Rounding may promise a little more than the rewards pool holds.
    rewards = min(rewards, pool.rewards_pool)
    ctx.store(pool_obj, replace(pool, rewards_pool=Frost(pool.rewards_pool - rewards)))
    ctx.delete(staked_obj)
    _refresh_and_store(ctx, staking_obj, staking, staked.node_id)
    paid = coin.new_coin(ctx, ctx.sender, principal + rewards)
    return {"coin": paid.id, "principal": principal, "rewards": rewards}


# Epochs -------------------------------------------------------------------------------------


def epoch_actions_due(staking: Mapping[str, Any], now_ms: int) -> str | None:
    """Which permissionless epoch step is due now, if any (`staking`: the staking object's
    fields)."""
    s = Staking.from_fields(staking)
    state = s.epoch_state
    if state.at_ms is None:
        return None
    if state.kind is DONE and now_ms >= state.at_ms + s.epoch_duration_ms // 2:
        return "staking::voting_end"
    if state.kind is PARAMS_SELECTED and now_ms >= state.at_ms + s.epoch_duration_ms:
        return "staking::initiate_epoch_change"
    return None


@entry("staking::voting_end")
def voting_end(ctx: TxContext) -> None:
    """Choose the next committee and capacity (allowed half-way through the epoch)."""
    obj, s = staking_state(ctx)
    state = s.epoch_state
    if state.kind is not DONE or ctx.now_ms < _at_ms(state) + s.epoch_duration_ms // 2:
        raise Abort("EWrongEpochState", "voting can end only half-way through a running epoch")
    ctx.store(obj, _select_next_committee(ctx, s))


def _at_ms(state: EpochState) -> int:
    assert state.at_ms is not None, "a running epoch has a start"
    return state.at_ms


def _select_next_committee(ctx: TxContext, s: Staking) -> Staking:
    n_shards = s.n_shards
    active = [(bytes.fromhex(n[2:]), stake) for n, stake in s.active_set]
    current = committee_of(s.committee)
    try:
        chosen = next_committee(current, apportionment(active, n_shards))
    except NoStakeError:
        chosen = current  # nobody has stake: the committee stays
    votes = []
    for node in chosen.node_ids:
        pool = _pool(ctx, _node_id(node))[1]
        shards = len(chosen.shards(node))
        votes.append((scaled_capacity_vote(pool.votes.node_capacity, n_shards, shards), shards))
    for pool_id in s.pools:
        pool_obj, pool = _pool(ctx, pool_id)
        unblocked = Frost(pool.commission + pool.commission_blocked)
        ctx.store(pool_obj, replace(pool, commission=unblocked, commission_blocked=Frost(0)))
    ctx.emit(EpochParametersSelected(Epoch(s.epoch + 1)))
    return replace(
        s,
        next_committee=committee_json(chosen),
        next_capacity=quorum_above(votes, n_shards) if votes else 0,
        epoch_state=EpochState.running(PARAMS_SELECTED, _at_ms(s.epoch_state)),
    )


@entry("staking::initiate_epoch_change")
def initiate_epoch_change(ctx: TxContext) -> None:
    """End the epoch: burn, pay rewards, install the next committee (at the epoch's end)."""
    obj, s = staking_state(ctx)
    state = s.epoch_state
    if state.kind is not PARAMS_SELECTED or ctx.now_ms < _at_ms(state) + s.epoch_duration_ms:
        raise Abort("EWrongEpochState", "the epoch has not reached its end")
    ctx.store(obj, _change_epoch(ctx, s))


def _change_epoch(ctx: TxContext, s: Staking) -> Staking:
    sys_obj, sys_value = system.system_state(ctx)
    chosen = s.next_committee
    assert chosen is not None, "the next committee is selected before the epoch changes"
    old_committee = committee_of(s.committee)
    new_committee = committee_of(chosen)
    sys_value, rewards = _advance_system(ctx, sys_value, old_committee, s.next_capacity)
    new_epoch = Epoch(s.epoch + 1)
    unowned = 0
    for pool_id in s.pools:
        pool_obj, pool = _pool(ctx, pool_id)
        reward = rewards.get(pool_id, 0)
        if reward and not pool.num_shares:
            # A member without stake: nobody would own the reward (upstream refuses to pay
            # it, EIncorrectEpochAdvance), so it goes to the next epoch like a remainder.
            unowned, reward = unowned + reward, 0
        ctx.store(pool_obj, pool_accounting.advance(pool, reward, new_epoch))
    system.add_rewards(ctx, unowned)
    s = replace(
        s,
        previous_committee=s.committee,
        committee=chosen,
        next_committee=None,
        epoch=new_epoch,
        epoch_state=EpochState.syncing(),
    )
    # As upstream's advance_epoch: the old committee's and the newcomers' pools moved on, so
    # their stake for the next vote (E+2, seen from the old epoch) is written again.
    joined = diff(old_committee, new_committee)[1]
    for node in (*old_committee.node_ids, *joined):
        s = _refresh_active_set(ctx, s, _node_id(node))[0]
    sys_value = install_committee(ctx, sys_value, new_committee, new_epoch)
    ctx.store(sys_obj, update_prices_in(ctx, sys_value, new_committee))
    ctx.emit(EpochChangeStart(new_epoch))
    if new_committee.size == 0:
        s = _finish_epoch_change(ctx, s, new_epoch)
    return s


def start_first_epoch(ctx: TxContext) -> None:
    """Genesis: choose the first committee from the initial stakes and enter epoch 1 at once."""
    obj, s = staking_state(ctx)
    s = _change_epoch(ctx, _select_next_committee(ctx, s))
    if s.epoch_state.kind is SYNC:
        s = _finish_epoch_change(ctx, s, s.epoch)
    ctx.store(obj, s)


def install_committee(
    ctx: TxContext, sys_value: System, committee: Committee, epoch: int
) -> System:
    """The system with the BLS committee (members by node ID with keys and weights)."""
    members = []
    for node in committee.node_ids:
        pool_obj, pool = _pool(ctx, _node_id(node))
        if pool.next_epoch_public_key:
            pool = replace(pool, public_key=pool.next_epoch_public_key, next_epoch_public_key=None)
            ctx.store(pool_obj, pool)
        members.append(SystemMember(_node_id(node), pool.public_key, len(committee.shards(node))))
    return replace(
        sys_value,
        previous_committee=sys_value.committee,
        committee=SystemCommittee(Epoch(epoch), sys_value.n_shards, tuple(members)),
        epoch=Epoch(epoch),
    )


def _advance_system(
    ctx: TxContext, sys_value: System, committee: Committee, next_capacity: int
) -> tuple[System, dict[ObjectId, int]]:
    """Burn 3 %, split the epoch's rewards by shards × used capacity, pop the ring."""
    accounting_obj, accounting = ctx.load_singleton(FutureAccounting)
    current, *ring = accounting.ring
    burn = current.rewards * BURN_PERCENT // 100
    coin.burn(ctx, burn)
    remaining = current.rewards - burn
    used = current.used_capacity
    weights = {_node_id(n): len(committee.shards(n)) * used for n in committee.node_ids}
    total = sum(weights.values())
    payouts = {n: remaining * w // max(total, 1) for n, w in weights.items()} if total else {}
    leftover = remaining - sum(payouts.values())
    last_epoch = ring[-1].epoch if ring else current.epoch
    ring.append(AccountingEntry(Epoch(last_epoch + 1), 0, Frost(0)))
    ring[0] = system.with_rewards(ring[0], leftover)
    ctx.store(accounting_obj, FutureAccounting(tuple(ring)))
    capacity = max(next_capacity, ring[0].used_capacity)
    return replace(sys_value, total_capacity_size=capacity), payouts


@entry("staking::epoch_sync_done")
def epoch_sync_done(ctx: TxContext, cap: str, epoch: int) -> None:
    """A committee member reports, once per epoch, that it holds all its shards for `epoch`;
    the epoch change is done when the reports reach a quorum of shards. A report after that
    is recorded too."""
    obj, s = staking_state(ctx)
    cap_obj, cap_value, *_ = _check_cap(ctx, cap)
    node_id = cap_value.node_id
    if epoch != s.epoch:
        raise Abort("EInvalidSyncEpoch", f"sync reported for epoch {epoch}, current {s.epoch}")
    if cap_value.last_epoch_sync_done >= epoch:
        raise Abort("EDuplicateSyncDone", f"this node already reported epoch {epoch}")
    if node_id not in s.committee:
        raise Abort("ENotInCommittee", f"node {node_id} is not in the committee of epoch {epoch}")
    ctx.store(cap_obj, replace(cap_value, last_epoch_sync_done=Epoch(epoch)))
    shards = s.committee[node_id]
    state = s.epoch_state
    if state.kind is SYNC:
        state = replace(state, synced=(*state.synced, node_id), weight=state.weight + len(shards))
        s = replace(s, epoch_state=state)
        if is_quorum(state.weight, s.n_shards):
            s = _finish_epoch_change(ctx, s, epoch)
    ctx.emit(ShardsReceived(Epoch(epoch), shards))
    ctx.store(obj, s)


def _finish_epoch_change(ctx: TxContext, s: Staking, epoch: int) -> Staking:
    ctx.emit(EpochChangeDone(Epoch(epoch)))
    return replace(s, epoch_state=EpochState.running(DONE, ctx.now_ms))


def update_prices_in(ctx: TxContext, sys_value: System, committee: Committee) -> System:
    """The system with the prices the committee's votes give (quorum-weighted, from below)."""
    n_shards = sys_value.n_shards
    storage_votes, write_votes = [], []
    for node in committee.node_ids:
        votes = _pool(ctx, _node_id(node))[1].votes
        weight = len(committee.shards(node))
        storage_votes.append((votes.storage_price, weight))
        write_votes.append((votes.write_price, weight))
    if committee.size == 0:
        storage, write = U64_MAX, U64_MAX
    else:
        storage = quorum_below(storage_votes, n_shards)
        write = quorum_below(write_votes, n_shards)
    ctx.emit(PricesUpdated(sys_value.epoch, Frost(storage), Frost(write)))
    return replace(
        sys_value,
        storage_price_per_unit_size=Frost(storage),
        write_price_per_unit_size=Frost(write),
    )


@entry("staking::update_prices")
def update_prices(ctx: TxContext) -> None:
    """Recompute prices from the current committee's votes (permissionless)."""
    _, staking = staking_state(ctx)
    sys_obj, sys_value = system.system_state(ctx)
    ctx.store(sys_obj, update_prices_in(ctx, sys_value, committee_of(staking.committee)))


def create_staking(
    ctx: TxContext,
    n_shards: int,
    epoch_duration_ms: int,
    active_set_max: int = MAINNET_ACTIVE_SET_SIZE_LIMIT,
) -> Object:
    if not 0 < active_set_max <= U16_MAX:
        raise Abort("EInvalidGenesis", "the active set size must be in [1, 2^16)")
    value = Staking(
        n_shards=n_shards,
        epoch_duration_ms=epoch_duration_ms,
        epoch=Epoch(0),
        epoch_state=EpochState.running(DONE, ctx.now_ms),
        pools=(),
        active_set=(),
        active_set_max=active_set_max,
        committee={},
        previous_committee={},
        next_committee=None,
        next_capacity=0,
    )
    return ctx.create(value, SHARED, singleton=True)

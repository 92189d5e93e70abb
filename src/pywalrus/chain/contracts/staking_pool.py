"""A staking pool's accounting in WAL and shares (upstream `staking_pool.move`,
`pending_values.move`, `exchange_rate.move`).

Functions here work on `StakingPool` values and return new ones. A pool's stakers own shares;
its exchange rate (WAL, shares) is recorded for every epoch at the epoch change, after that
epoch's rewards arrived and before stake joins or leaves, so a stake's value is its shares —
bought at its activation epoch's rate — at the rate of the epoch it leaves. Amounts due later
are *pending values*: maps from an epoch to an amount, each entry counting from its epoch on.
"""

from __future__ import annotations

from dataclasses import replace

from pywalrus.chain.schema import MAX_COMMISSION, Pending, Rate, StakingPool
from pywalrus.core.errors import Abort
from pywalrus.core.types import Epoch, Frost

FLAT: Rate = (Frost(1), 1)
"""A pool without WAL or shares trades one for one (upstream `Flat`)."""


# Pending values (`pending_values.move`) ----------------------------------------------------


def pending_add(values: Pending, epoch: int, amount: int) -> dict[Epoch, int]:
    """Add `amount` to the entry of `epoch` (upstream `insert_or_add`)."""
    return {**values, Epoch(epoch): values.get(Epoch(epoch), 0) + amount}


def pending_value_at(values: Pending, epoch: int) -> int:
    """The sum of the entries due by `epoch` (upstream `value_at`)."""
    return sum(amount for e, amount in values.items() if e <= epoch)


def pending_latest_at(values: Pending, epoch: int) -> int | None:
    """The entry of the latest epoch ≤ `epoch`, if any (upstream `latest_value_at`)."""
    due = [e for e in values if e <= epoch]
    return values[max(due)] if due else None


def pending_flush(values: Pending, epoch: int) -> tuple[dict[Epoch, int], int]:
    """The entries not due by `epoch`, and the sum of those due (upstream `flush`)."""
    return {e: v for e, v in values.items() if e > epoch}, pending_value_at(values, epoch)


def pending_reduce(values: Pending, epoch: int, amount: int) -> dict[Epoch, int]:
    """Take `amount` off the entry of `epoch` (upstream `reduce`)."""
    current = values.get(Epoch(epoch))
    if current is None:
        raise Abort("EMissingEpochValue", f"nothing is pending for epoch {epoch}")
    if current < amount:
        raise Abort("EReduceValueTooLarge", f"only {current} is pending for epoch {epoch}")
    return {**values, Epoch(epoch): current - amount}


# Exchange rates (`exchange_rate.move`) ----------------------------------------------------


def make_rate(wal: int, shares: int) -> Rate:
    return (Frost(wal), shares) if wal and shares else FLAT


def rate_at(pool: StakingPool, epoch: int) -> Rate:
    """The rate recorded for the latest epoch ≤ `epoch` (upstream `exchange_rate_at_epoch`)."""
    rates = pool.exchange_rates
    best = max((e for e in rates if e <= epoch), default=None)
    return FLAT if best is None else make_rate(*rates[best])


def to_shares(rate: Rate, wal: int) -> int:
    return wal * rate[1] // rate[0]


def to_wal(rate: Rate, shares: int) -> int:
    return shares * rate[0] // rate[1]


def current_rate(pool: StakingPool) -> Rate:
    return make_rate(pool.wal_balance, pool.num_shares)


# The pool ------------------------------------------------------------------------------------


def set_next_commission(pool: StakingPool, epoch: int, rate: int) -> StakingPool:
    """Apply `rate` from `epoch` on, replacing a change set for the same epoch (upstream
    `insert_or_replace`)."""
    schedule = {**pool.pending_commission_rates, Epoch(epoch): rate}
    return replace(pool, pending_commission_rates=schedule)


def add_pre_active_withdrawal(pool: StakingPool, epoch: int, principal: int) -> StakingPool:
    """Record the principal of a stake asked back in the epoch before it activates, by the
    epoch it leaves in (the one after activation)."""
    withdrawals = pending_add(pool.pre_active_withdrawals, epoch, principal)
    return replace(pool, pre_active_withdrawals=withdrawals)


def _pre_active_shares(pool: StakingPool, epoch: int) -> int:
    """Shares of the pre-active withdrawals due by `epoch`, each bought at its activation's
    rate (the epoch before it leaves)."""
    return sum(
        to_shares(rate_at(pool, e - 1), principal)
        for e, principal in pool.pre_active_withdrawals.items()
        if e <= epoch
    )


def balance_at(pool: StakingPool, epoch: int) -> int:
    """The pool's stake in a current or future `epoch`: its balance, plus stake activating by
    then, minus withdrawals due by then at the current rate (upstream `wal_balance_at_epoch`)."""
    shares = pending_value_at(pool.pending_withdraw_shares, epoch)
    leaving = to_wal(current_rate(pool), shares + _pre_active_shares(pool, epoch))
    balance = pool.wal_balance + pending_value_at(pool.pending_stake, epoch)
    return max(0, balance - leaving)


def rewards_between(pool: StakingPool, principal: int, activation: int, withdraw: int) -> int:
    """What `principal` staked from `activation` earned by `withdraw`, before the cap by the
    rewards pool (upstream `calculate_rewards`)."""
    shares = to_shares(rate_at(pool, activation), principal)
    return max(0, to_wal(rate_at(pool, withdraw), shares) - principal)


def advance(pool: StakingPool, reward: int, epoch: int) -> StakingPool:
    """Enter `epoch` (upstream `advance_epoch` and `process_pending_stake`): take commission,
    add the rest of `reward` to the stakers' balance, record the epoch's rate, then let stake
    due by `epoch` join and withdrawals due by it leave at that rate."""
    commission = reward * pool.commission_rate // MAX_COMMISSION
    due = pending_latest_at(pool.pending_commission_rates, epoch)
    schedule, _ = pending_flush(pool.pending_commission_rates, epoch)
    balance = pool.wal_balance + reward - commission
    rate = make_rate(balance, pool.num_shares)
    pool = replace(
        pool,
        commission_blocked=Frost(pool.commission_blocked + commission),
        commission_rate=pool.commission_rate if due is None else due,
        pending_commission_rates=schedule,
        rewards_pool=Frost(pool.rewards_pool + reward - commission),
        exchange_rates={**pool.exchange_rates, Epoch(epoch): (Frost(balance), pool.num_shares)},
    )
    pending_stake, joining = pending_flush(pool.pending_stake, epoch)
    withdraw_shares, leaving = pending_flush(pool.pending_withdraw_shares, epoch)
    leaving += _pre_active_shares(pool, epoch)
    pre_active, _ = pending_flush(pool.pre_active_withdrawals, epoch)
    withdraw_wal, _ = pending_flush(pool.pending_withdraw_wal, epoch)  # only older versions
    balance += joining
    balance -= min(balance, to_wal(rate, leaving))
    return replace(
        pool,
        wal_balance=Frost(balance),
        num_shares=to_shares(rate, balance),
        pending_stake=pending_stake,
        pending_withdraw_shares=withdraw_shares,
        pre_active_withdrawals=pre_active,
        pending_withdraw_wal=withdraw_wal,
    )

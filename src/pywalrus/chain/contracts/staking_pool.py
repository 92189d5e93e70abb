"""A staking pool's accounting in WAL and shares (upstream `staking_pool.move`,
`pending_values.move`, `exchange_rate.move`).

Functions here work on the JSON fields of a `walrus::StakingPool`. A pool's stakers own shares;
its exchange rate (WAL, shares) is recorded for every epoch at the epoch change, after that
epoch's rewards arrived and before stake joins or leaves, so a stake's value is its shares —
bought at its activation epoch's rate — at the rate of the epoch it leaves. Amounts due later
are *pending values*: maps from an epoch (a decimal string, as JSON keys are) to an amount, each
entry counting from its epoch on.
"""

from __future__ import annotations

from typing import Any

from pywalrus.core.errors import Abort

Pending = dict[str, int]
Rate = tuple[int, int]
"""(WAL, shares); a pool without either trades one for one (upstream `Flat`)."""
FLAT: Rate = (1, 1)
MAX_COMMISSION = 10_000
"""Basis points in 100 %."""


# Pending values (`pending_values.move`) ----------------------------------------------------


def pending_add(values: Pending, epoch: int, amount: int) -> None:
    """Add `amount` to the entry of `epoch` (upstream `insert_or_add`)."""
    values[str(epoch)] = values.get(str(epoch), 0) + amount


def pending_value_at(values: Pending, epoch: int) -> int:
    """The sum of the entries due by `epoch` (upstream `value_at`)."""
    return sum(amount for e, amount in values.items() if int(e) <= epoch)


def pending_latest_at(values: Pending, epoch: int) -> int | None:
    """The entry of the latest epoch ≤ `epoch`, if any (upstream `latest_value_at`)."""
    due = [int(e) for e in values if int(e) <= epoch]
    return values[str(max(due))] if due else None


def pending_flush(values: Pending, epoch: int) -> int:
    """Remove the entries due by `epoch` and return their sum (upstream `flush`)."""
    due = [e for e in values if int(e) <= epoch]
    return sum(values.pop(e) for e in due)


def pending_reduce(values: Pending, epoch: int, amount: int) -> None:
    """Take `amount` off the entry of `epoch` (upstream `reduce`)."""
    current = values.get(str(epoch))
    if current is None:
        raise Abort("EMissingEpochValue", f"nothing is pending for epoch {epoch}")
    if current < amount:
        raise Abort("EReduceValueTooLarge", f"only {current} is pending for epoch {epoch}")
    values[str(epoch)] = current - amount


# Exchange rates (`exchange_rate.move`) ----------------------------------------------------


def make_rate(wal: int, shares: int) -> Rate:
    return (wal, shares) if wal and shares else FLAT


def rate_at(pool: dict[str, Any], epoch: int) -> Rate:
    """The rate recorded for the latest epoch ≤ `epoch` (upstream `exchange_rate_at_epoch`)."""
    rates: dict[str, list[int]] = pool["exchange_rates"]
    best = max((int(e) for e in rates if int(e) <= epoch), default=None)
    return FLAT if best is None else make_rate(*rates[str(best)])


def to_shares(rate: Rate, wal: int) -> int:
    return wal * rate[1] // rate[0]


def to_wal(rate: Rate, shares: int) -> int:
    return shares * rate[0] // rate[1]


def current_rate(pool: dict[str, Any]) -> Rate:
    return make_rate(pool["wal_balance"], pool["num_shares"])


# The pool ------------------------------------------------------------------------------------


def commission_schedule(pool: dict[str, Any]) -> Pending:
    """Commission rates set to apply from an epoch on, by that epoch. A pool of an older
    version kept one change as `pending_commission_rate` `[epoch, rate]`; it is taken over."""
    schedule: Pending | None = pool.get("pending_commission_rates")
    if schedule is None:
        old = pool.get("pending_commission_rate")
        schedule = pool["pending_commission_rates"] = {str(old[0]): old[1]} if old else {}
    return schedule


def _show_next_commission(pool: dict[str, Any]) -> None:
    """Keep `pending_commission_rate` as `[epoch, rate]` of the next change (or None), the
    field's meaning before several changes could wait."""
    schedule = commission_schedule(pool)
    first = min(schedule, key=int, default=None)
    pool["pending_commission_rate"] = None if first is None else [int(first), schedule[first]]


def set_next_commission(pool: dict[str, Any], epoch: int, rate: int) -> None:
    """Apply `rate` from `epoch` on, replacing a change set for the same epoch (upstream
    `insert_or_replace`)."""
    commission_schedule(pool)[str(epoch)] = rate
    _show_next_commission(pool)


def pre_active_withdrawals(pool: dict[str, Any]) -> Pending:
    """Principal of stakes asked back in the epoch before they activate, keyed by the epoch
    they leave in (the one after activation). A pool from before this field has none."""
    values: Pending = pool.setdefault("pre_active_withdrawals", {})
    return values


def _pre_active_shares(pool: dict[str, Any], epoch: int) -> int:
    """Shares of the pre-active withdrawals due by `epoch`, each bought at its activation's
    rate (the epoch before it leaves)."""
    withdrawals: Pending = pool.get("pre_active_withdrawals", {})
    return sum(
        to_shares(rate_at(pool, int(e) - 1), principal)
        for e, principal in withdrawals.items()
        if int(e) <= epoch
    )


def balance_at(pool: dict[str, Any], epoch: int) -> int:
    """The pool's stake in a current or future `epoch`: its balance, plus stake activating by
    then, minus withdrawals due by then at the current rate (upstream `wal_balance_at_epoch`)."""
    shares = pending_value_at(pool["pending_withdraw_shares"], epoch)
    leaving = to_wal(current_rate(pool), shares + _pre_active_shares(pool, epoch))
    balance: int = pool["wal_balance"] + pending_value_at(pool["pending_stake"], epoch)
    return max(0, balance - leaving)


def rewards_between(pool: dict[str, Any], principal: int, activation: int, withdraw: int) -> int:
    """What `principal` staked from `activation` earned by `withdraw`, before the cap by the
    rewards pool (upstream `calculate_rewards`)."""
    shares = to_shares(rate_at(pool, activation), principal)
    return max(0, to_wal(rate_at(pool, withdraw), shares) - principal)


def advance(pool: dict[str, Any], reward: int, epoch: int) -> None:
    """Enter `epoch` (upstream `advance_epoch` and `process_pending_stake`): take commission,
    add the rest of `reward` to the stakers' balance, record the epoch's rate, then let stake
    due by `epoch` join and withdrawals due by it leave at that rate."""
    commission = reward * pool["commission_rate"] // MAX_COMMISSION
    pool["commission_blocked"] += commission
    schedule = commission_schedule(pool)
    due = pending_latest_at(schedule, epoch)
    if due is not None:
        pool["commission_rate"] = due
    pending_flush(schedule, epoch)
    _show_next_commission(pool)
    pool["rewards_pool"] += reward - commission
    pool["wal_balance"] += reward - commission
    rate = current_rate(pool)
    pool["exchange_rates"][str(epoch)] = [pool["wal_balance"], pool["num_shares"]]
    pool["wal_balance"] += pending_flush(pool["pending_stake"], epoch)
    shares = pending_flush(pool["pending_withdraw_shares"], epoch) + _pre_active_shares(pool, epoch)
    pending_flush(pre_active_withdrawals(pool), epoch)
    pending_flush(pool["pending_withdraw_wal"], epoch)  # only filled by older versions
    pool["wal_balance"] -= min(pool["wal_balance"], to_wal(rate, shares))
    pool["num_shares"] = to_shares(rate, pool["wal_balance"])

"""Staking rules as upstream's `staking_inner.move`, `staking_pool.move`, `pending_values.move`,
driven through the ledger with signed transactions: the active set, withdrawals before and after
activation, exchange rates, commission changes, and the epoch-change reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain_harness import Harness
from pywalrus.chain.ledger import TransactionRejected

FROST = 10**9


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "chain.sqlite")


def rejected(code: str) -> pytest.RaisesExc[TransactionRejected]:
    return pytest.raises(TransactionRejected, match=code)


def to_voting_end(h: Harness) -> None:
    """Run the current epoch up to its voting end (the next committee is then selected)."""
    start = h.staking()["epoch_state"]["at_ms"]
    h.advance_time(max(0, start + h.epoch_ms // 2 - h.ledger.clock.now_ms()))
    h.run_epoch_steps()
    assert h.staking()["epoch_state"]["kind"] == "NextParamsSelected"


# The active set --------------------------------------------------------------------------


def test_stake_after_voting_end_enters_the_active_set_with_its_e_plus_2_balance(
    h: Harness,
) -> None:
    _, node_id, _ = h.register_candidate()
    assert h.active_stake(node_id) is None
    epoch = h.epoch
    to_voting_end(h)
    staked = h.stake(h.user, node_id, 900_000 * FROST)
    assert staked["activation_epoch"] == epoch + 2
    # Counted for the next vote (the committee of E+2), as upstream's stake_with_pool.
    assert h.active_stake(node_id) == 900_000 * FROST
    h.next_epoch()
    assert node_id not in h.staking()["committee"]
    h.next_epoch()
    assert h.epoch == epoch + 2
    assert node_id in h.staking()["committee"]


def test_stake_during_the_epoch_change_activates_in_the_next_epoch(h: Harness) -> None:
    start = h.staking()["epoch_state"]["at_ms"]
    h.advance_time(start + h.epoch_ms - h.ledger.clock.now_ms())
    h.run_epoch_steps()
    assert h.staking()["epoch_state"]["kind"] == "EpochChangeSync"
    epoch = h.epoch
    node_id = h.node_ids[0]
    before = h.active_stake(node_id)
    assert before is not None
    # No next committee is selected while the epoch change syncs: the stake counts from E+1.
    staked = h.stake(h.user, node_id, 5 * FROST)
    assert staked["activation_epoch"] == epoch + 1
    assert h.active_stake(node_id) == before + 5 * FROST


def test_try_join_active_set_after_an_eviction(tmp_path: Path) -> None:
    h = Harness(tmp_path / "chain.sqlite", active_set_max=4)
    assert len(h.staking()["active_set"]) == 4
    _, newcomer, _ = h.register_candidate()
    stakes = [(a, h.stake(a, newcomer, 600_000 * FROST)) for a in (h.user, h.other)]
    # The set is full: the newcomer replaces the first entry with the smallest stake.
    assert h.active_stake(newcomer) == 1_200_000 * FROST
    evicted = next(n for n in h.node_ids if h.active_stake(n) is None)
    # The newcomer's stake leaves again (not active yet: withdrawn directly).
    for account, staked in stakes:
        h.call(account, "staking::withdraw_stake", staked_wal=staked["staked_wal"])
    assert h.active_stake(newcomer) is None
    assert len(h.staking()["active_set"]) == 3
    # Nothing changed the evicted node's stake, so it is still outside until it asks to join.
    index = h.node_ids.index(evicted)
    with rejected("ENotOwner"):
        h.call(h.user, "staking::try_join_active_set", cap=h.caps[index])
    joined = h.call(h.nodes[index].operator, "staking::try_join_active_set", cap=h.caps[index])
    assert joined == {"in_active_set": True, "stake": 1_000_000 * FROST}
    assert h.active_stake(evicted) == 1_000_000 * FROST
    h.next_epoch()
    assert evicted in h.staking()["committee"]

"""Staking rules as upstream's `staking_inner.move`, `staking_pool.move`, `pending_values.move`,
driven through the ledger with signed transactions: the active set, withdrawals before and after
activation, exchange rates, commission changes, and the epoch-change reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain_harness import FROST, Harness, rejected


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "chain.sqlite")


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


# Withdrawals and exchange rates ------------------------------------------------------------


def store_for_rewards(h: Harness, epochs: int = 4) -> None:
    """A certified blob paying storage into this and the next epochs' reward buckets."""
    blob = h.register(h.user, h.metadata(50_000), epochs=epochs)
    h.certify(h.user, blob)


def rate(pool: dict[str, object], epoch: int) -> tuple[int, int]:
    wal, shares = pool["exchange_rates"][str(epoch)]  # type: ignore[index]
    return (wal, shares) if wal and shares else (1, 1)


def test_pre_active_withdrawal_leaves_the_vote_and_is_valued_from_its_activation(
    h: Harness,
) -> None:
    node_id = h.node_ids[0]
    epoch = h.epoch
    store_for_rewards(h)
    before = h.active_stake(node_id)
    staked = h.stake(h.user, node_id, 900_000 * FROST)["staked_wal"]
    to_voting_end(h)
    assert node_id in h.staking()["next_committee"]
    # Active from E+1 and counted in E+1's committee, so it withdraws at E+2 after a request...
    request = h.call(h.user, "staking::request_withdraw_stake", staked_wal=staked)
    assert request["withdraw_epoch"] == epoch + 2
    # ...and is not counted for the committee of E+2, whose vote comes next.
    assert h.active_stake(node_id) == before
    h.next_epoch()
    # Still only the operator's stake, grown by epoch E's rewards (far below 1 WAL).
    assert before is not None and before < (h.active_stake(node_id) or 0) < before + FROST
    h.next_epoch()
    pool = h.obj(node_id).fields
    # The stake left with exactly its shares: what remains are the operator's, bought one for
    # one at genesis.
    assert pool["num_shares"] == 1_000_000 * FROST
    activation, withdrawn = rate(pool, epoch + 1), rate(pool, epoch + 2)
    # Epoch E's rewards raised the rate before the stake came in: they are not its to take.
    assert activation != rate(pool, epoch)
    shares = 900_000 * FROST * activation[1] // activation[0]
    expected = shares * withdrawn[0] // withdrawn[1] - 900_000 * FROST
    assert expected > 0
    paid = h.call(h.user, "staking::withdraw_stake", staked_wal=staked)
    assert (paid["principal"], paid["rewards"]) == (900_000 * FROST, expected)


def test_a_pool_withdrawn_to_zero_shares_pays_its_last_epoch_rewards(h: Harness) -> None:
    index = 1
    node_id, operator = h.node_ids[index], h.nodes[index].operator
    store_for_rewards(h)
    request = h.call(operator, "staking::request_withdraw_stake", staked_wal=h.staked[index])
    assert request["withdraw_epoch"] == h.epoch + 1
    h.next_epoch()
    pool = h.obj(node_id).fields
    assert pool["num_shares"] == 0 and pool["rewards_pool"] > 0
    # The rewards of the epoch the stake was last active in belong to it.
    paid = h.call(operator, "staking::withdraw_stake", staked_wal=h.staked[index])
    assert paid["principal"] == 1_000_000 * FROST
    assert paid["rewards"] == pool["rewards_pool"]
    assert h.obj(node_id).fields["rewards_pool"] == 0


def test_rewards_of_a_committee_member_without_stake_go_to_the_next_epoch(h: Harness) -> None:
    store_for_rewards(h)
    for node, staked in zip(h.nodes, h.staked, strict=True):
        h.call(node.operator, "staking::request_withdraw_stake", staked_wal=staked)
    committee = h.staking()["committee"]
    h.next_epoch()
    # Nobody has stake for the vote: the committee stays, its pools are empty.
    assert h.staking()["committee"] == committee
    for node, staked in zip(h.nodes, h.staked, strict=True):
        assert h.call(node.operator, "staking::withdraw_stake", staked_wal=staked)["rewards"] > 0
    bucket = h.accounting_ring()[0]["rewards"]
    following = h.accounting_ring()[1]["rewards"]
    h.next_epoch()
    pools = [h.obj(n).fields for n in h.node_ids]
    assert all(p["num_shares"] == 0 for p in pools)
    assert sum(p["rewards_pool"] + p["commission_blocked"] for p in pools) == 0
    burned = bucket * 3 // 100
    assert h.accounting_ring()[0]["rewards"] == following + bucket - burned


def test_active_stake_of_a_node_in_no_committee_withdraws_in_one_step(tmp_path: Path) -> None:
    h = Harness(tmp_path / "chain.sqlite", active_set_max=4)
    _, node_id, _ = h.register_candidate()
    staked = h.stake(h.user, node_id, 10 * FROST)["staked_wal"]
    assert h.active_stake(node_id) is None  # the full set keeps its larger stakes
    h.next_epoch()
    staking = h.staking()
    assert node_id not in staking["committee"] and h.obj(node_id).fields["num_shares"] > 0
    with rejected("ENotWithdrawing"):
        h.call(h.user, "staking::request_withdraw_stake", staked_wal=staked)
    paid = h.call(h.user, "staking::withdraw_stake", staked_wal=staked)
    assert (paid["principal"], paid["rewards"]) == (10 * FROST, 0)
    # The pool lets the shares go at the next epoch change.
    h.next_epoch()
    pool = h.obj(node_id).fields
    assert (pool["wal_balance"], pool["num_shares"], pool["pending_withdraw_shares"]) == (0, 0, {})


# Commission ----------------------------------------------------------------------------------


def test_commission_changes_are_kept_per_epoch(h: Harness) -> None:
    node_id, operator = h.node_ids[0], h.nodes[0].operator
    epoch = h.epoch

    def set_rate(rate: int) -> None:
        h.call(operator, "staking::set_next_commission", node_id=node_id, commission_rate=rate)

    set_rate(3000)
    set_rate(2000)  # the same epoch's change replaces the first
    h.next_epoch()
    set_rate(5000)  # a change from a later epoch comes after it
    pool = h.obj(node_id).fields
    assert pool["pending_commission_rate"] == [epoch + 2, 2000]  # the next change
    assert pool["pending_commission_rates"] == {str(epoch + 2): 2000, str(epoch + 3): 5000}
    assert pool["commission_rate"] == 0
    h.next_epoch()
    assert h.obj(node_id).fields["commission_rate"] == 2000
    h.next_epoch()
    pool = h.obj(node_id).fields
    assert pool["commission_rate"] == 5000
    assert pool["pending_commission_rates"] == {} and pool["pending_commission_rate"] is None


def test_a_pool_stored_by_an_older_version_still_works(h: Harness) -> None:
    node_id, operator = h.node_ids[0], h.nodes[0].operator
    fields = dict(h.obj(node_id).fields)
    del fields["pending_commission_rates"], fields["pre_active_withdrawals"]
    fields["pending_commission_rate"] = [h.epoch + 1, 700]
    h.reopen_with_stored(node_id, fields)
    # Its pending change is kept beside a new one, and it takes pre-active withdrawals.
    h.call(operator, "staking::set_next_commission", node_id=node_id, commission_rate=900)
    staked = h.stake(h.user, node_id, 10 * FROST)["staked_wal"]
    to_voting_end(h)
    h.call(h.user, "staking::request_withdraw_stake", staked_wal=staked)
    h.next_epoch()
    assert h.obj(node_id).fields["commission_rate"] == 700
    h.next_epoch()
    assert h.obj(node_id).fields["commission_rate"] == 900
    paid = h.call(h.user, "staking::withdraw_stake", staked_wal=staked)
    assert paid["principal"] == 10 * FROST


# Epoch-change reports ----------------------------------------------------------------------


def test_epoch_sync_done_refuses_repeats_and_non_members_and_takes_late_reports(
    h: Harness,
) -> None:
    outsider, _, outsider_cap = h.register_candidate()
    start = h.staking()["epoch_state"]["at_ms"]
    h.advance_time(start + h.epoch_ms - h.ledger.clock.now_ms())
    h.run_epoch_steps()
    epoch = h.epoch
    assert h.staking()["epoch_state"] == {"kind": "EpochChangeSync", "weight": 0, "synced": []}
    committee = h.staking()["committee"]
    members = [i for i, n in enumerate(h.node_ids) if n in committee]

    def report(index: int) -> None:
        node, cap = h.nodes[index], h.caps[index]
        h.call(node.operator, "staking::epoch_sync_done", cap=cap, epoch=epoch)

    report(members[0])
    weight = len(committee[h.node_ids[members[0]]])
    with rejected("EDuplicateSyncDone"):
        report(members[0])
    with rejected("ENotInCommittee"):
        h.call(outsider.operator, "staking::epoch_sync_done", cap=outsider_cap, epoch=epoch)
    assert h.obj(outsider_cap).fields["last_epoch_sync_done"] == 0
    assert h.staking()["epoch_state"]["weight"] == weight
    # Reports until a quorum finish the change; a member reporting after that is heard too.
    for index in members[1:]:
        if h.staking()["epoch_state"]["kind"] != "EpochChangeSync":
            late = index
            break
        report(index)
    else:
        pytest.fail("every member was needed for the quorum")
    assert h.staking()["epoch_state"]["kind"] == "EpochChangeDone"
    before = h.ledger.store.event_count()
    report(late)
    (event,) = h.ledger.store.events(before - 1, 10)
    assert event.type == "ShardsReceived"
    assert event.fields == {"epoch": epoch, "shards": committee[h.node_ids[late]]}
    assert h.staking()["epoch_state"]["kind"] == "EpochChangeDone"

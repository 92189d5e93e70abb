"""Shard records across epoch changes (`node.shard_state`): gained, kept, lost, dropped."""

from __future__ import annotations

from pywalrus.core.types import SliverType
from pywalrus.node.shard_state import (
    IN_RECOVERY,
    IN_TRANSFER,
    READ_ONLY,
    READY,
    ShardState,
    detail,
    reconcile,
    summary,
)

ME, OTHER = "0xaa", "0xbb"


def apply(
    states: dict[int, ShardState], changes: dict[int, ShardState | None]
) -> dict[int, ShardState]:
    out = dict(states)
    for shard, state in changes.items():
        if state is None:
            out.pop(shard, None)
        else:
            out[shard] = state
    return out


def test_genesis_shards_are_ready() -> None:
    changes = reconcile(ME, 1, frozenset({0, 1}), {}, {})
    assert changes == {0: ShardState(READY, 1), 1: ShardState(READY, 1)}


def test_gained_shards_transfer_from_their_previous_owner_and_lost_ones_turn_read_only() -> None:
    states = {0: ShardState(READY, 1), 1: ShardState(READY, 1), 2: ShardState(READY, 1)}
    previous = {ME: [0, 1, 2], OTHER: [3, 4]}
    changes = reconcile(ME, 2, frozenset({0, 1, 3}), previous, states)
    assert changes == {3: ShardState(IN_TRANSFER, 2, OTHER), 2: ShardState(READ_ONLY, 2)}
    after = apply(states, changes)
    # Idempotent within an epoch (a restart, or EpochChangeDone after EpochChangeStart).
    assert reconcile(ME, 2, frozenset({0, 1, 3}), previous, after) == {}
    # The next epoch change drops the read-only shard and keeps the (still syncing) gained one.
    later = reconcile(ME, 3, frozenset({0, 1, 3}), {ME: [0, 1, 3], OTHER: [2, 4]}, after)
    assert later == {2: None}


def test_a_shard_regained_after_someone_else_held_it_is_synced_again() -> None:
    states = {5: ShardState(READY, 1)}
    changes = reconcile(ME, 3, frozenset({5}), {OTHER: [5]}, states)
    assert changes == {5: ShardState(IN_TRANSFER, 3, OTHER)}


def test_a_read_only_shard_owned_again_without_a_gap_is_recovered() -> None:
    states = {5: ShardState(READ_ONLY, 2)}
    changes = reconcile(ME, 3, frozenset({5}), {ME: [5]}, states)
    assert changes == {5: ShardState(IN_RECOVERY, 3)}


def test_shards_without_records_that_were_kept_stay_ready() -> None:
    assert reconcile(ME, 4, frozenset({7}), {ME: [7]}, {}) == {}
    assert summary(frozenset({7}), {})["ownedShardStatus"][READY] == 1


def test_state_json_round_trip_and_progress() -> None:
    state = ShardState(IN_TRANSFER, 2, OTHER).with_progress(SliverType.PRIMARY, "ab" * 32)
    assert state.progress == {"primary": "ab" * 32}
    assert ShardState.from_json(state.to_json()) == state


def test_summary_and_detail_count_owned_statuses_and_read_only_shards() -> None:
    states = {
        0: ShardState(READY, 1),
        1: ShardState(IN_TRANSFER, 2, OTHER),
        2: ShardState(IN_RECOVERY, 2),
        3: ShardState(READ_ONLY, 2),
    }
    owned = frozenset({0, 1, 2, 4})
    assert summary(owned, states) == {
        "owned": 4,
        "ownedShardStatus": {"unknown": 0, READY: 2, IN_TRANSFER: 1, IN_RECOVERY: 1},
        "readOnly": 1,
    }
    assert detail(owned, states)["other"] == [{"shard": 3, "status": READ_ONLY}]
    assert [d["status"] for d in detail(owned, states)["owned"]] == [
        READY,
        IN_TRANSFER,
        IN_RECOVERY,
        READY,
    ]

"""Committees, shard movement and the active set: ported Move tests, exact cases, properties.

Ported from `contracts/walrus/tests/staking/committee_tests.move`, `active_set_tests.move`,
the `#[test]`s inside `sources/staking/active_set.move`, and the active-set parts of
`staking_inner_tests.move` (`test_staking_rejoin_active_set`, `test_staking_active_set`,
`test_staking_active_set_early_withdraw`, and `test_update_active_set_max_size`, which only
exists in `contracts/`). The Move tests are the same in `mainnet-contracts/`.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pywalrus.core.apportionment import NodeId, apportionment
from pywalrus.core.committee import (
    LATEST_ACTIVE_SET_SIZE_LIMIT,
    MAINNET_ACTIVE_SET_SIZE_LIMIT,
    ActiveSet,
    Committee,
    diff,
    initial_committee,
    next_committee,
    transition,
)
from pywalrus.core.errors import InvalidShardAssignmentError
from pywalrus.core.types import ShardIndex

FROST_PER_WAL = 1_000_000_000


def node(i: int) -> NodeId:
    """The object ID `@i` of the Move tests (a big-endian u256)."""
    return i.to_bytes(32, "big")


def shards_of(committee: Committee, i: int) -> list[int]:
    return list(committee.shards(node(i)))


# --- committee_tests.move -------------------------------------------------------------------


def test_empty_committee() -> None:
    committee = Committee()
    assert committee.size == 0
    assert committee.n_shards == 0
    assert len(committee) == 0


def test_sort_and_preserve_shards_correctly() -> None:
    # Nodes given in reverse order (3 to 0), 8 shards.
    nodes = [node(3 - i) for i in range(4)]
    committee = initial_committee({n: 2 for n in nodes})
    assert committee.size == 4
    assert shards_of(committee, 0) == [0, 1]
    assert shards_of(committee, 1) == [2, 3]
    assert shards_of(committee, 2) == [4, 5]
    assert shards_of(committee, 3) == [6, 7]

    # Keep nodes 3 and 2 (still given in reverse order), 4 shards each.
    committee2 = transition(committee, {nodes[0]: 4, nodes[1]: 4})
    assert committee2.size == 2
    assert {6, 7, 1, 0} == set(shards_of(committee2, 3))
    assert {4, 5, 2, 3} == set(shards_of(committee2, 2))
    # Exactly: free stack [0, 1, 2, 3]; growing nodes in node-ID order pop from the top.
    assert shards_of(committee2, 2) == [4, 5, 3, 2]
    assert shards_of(committee2, 3) == [6, 7, 1, 0]


def test_default_scenario() -> None:
    n1, n2, n3, n4, n5 = (node(i) for i in range(1, 6))
    committee = initial_committee([(n1, 2), (n2, 2), (n3, 2), (n4, 2), (n5, 2)])
    assert committee.size == 5
    assert [list(committee.shards(n)) for n in (n1, n2, n3, n4, n5)] == [
        [0, 1],
        [2, 3],
        [4, 5],
        [6, 7],
        [8, 9],
    ]

    committee2 = transition(committee, {n1: 4, n2: 3, n3: 3})
    assert committee2.size == 3
    assert committee2.weight(n1) == 4 and {0, 1} <= set(committee2.shards(n1))
    assert committee2.weight(n2) == 3 and {2, 3} <= set(committee2.shards(n2))
    assert committee2.weight(n3) == 3 and {4, 5} <= set(committee2.shards(n3))
    # Exactly: free stack [6, 7, 8, 9], taken from the top by n1, n2, n3 in node-ID order.
    assert list(committee2.shards(n1)) == [0, 1, 9, 8]
    assert list(committee2.shards(n2)) == [2, 3, 7]
    assert list(committee2.shards(n3)) == [4, 5, 6]

    committee3 = transition(committee2, {n2: 3, n3: 3, n4: 2, n5: 2})
    assert committee3.size == 4
    assert committee3.shards(n2) == committee2.shards(n2)
    assert committee3.shards(n3) == committee2.shards(n3)
    assert committee3.weight(n4) == 2 and committee3.weight(n5) == 2
    # Exactly: n1's [0, 1, 9, 8] is freed; the new nodes pop in the order given.
    assert list(committee3.shards(n4)) == [8, 9]
    assert list(committee3.shards(n5)) == [1, 0]

    committee4 = transition(committee3, {n1: 10})
    assert committee4.size == 1
    assert sorted(committee4.shards(n1)) == list(range(10))
    assert list(committee4.shards(n1)) == [0, 1, 9, 8, 6, 5, 4, 7, 3, 2]


def test_ignore_empty_assignments() -> None:
    n1, n2, n3, n4, n5 = (node(i) for i in range(1, 6))
    committee = initial_committee([(n1, 2), (n2, 2), (n3, 2), (n4, 0), (n5, 0)])
    assert committee.node_ids == tuple(sorted(committee.node_ids))
    # As upstream `initialize`, zero counts are listed with no shards.
    assert committee.size == 5 and committee.shards(n4) == () and committee.n_shards == 6

    committee2 = transition(committee, {n1: 0, n2: 2, n3: 2, n4: 2, n5: 0})
    assert committee2.size == 3
    assert committee2.node_ids == (n2, n3, n4)
    assert committee.shards(n2) == committee2.shards(n2)
    assert committee.shards(n3) == committee2.shards(n3)
    assert list(committee2.shards(n4)) == [1, 0]


def test_large_set_assignments() -> None:
    # `large_set_assignments_1/2` (disabled upstream for gas). The second one's new counts,
    # i % 3 for 1000 nodes, sum to 999, not 1000, so upstream `transition` would abort.
    nodes = [node(i) for i in range(1000)]
    committee = initial_committee({n: 1 for n in nodes})
    assert committee.n_shards == 1000
    assert all(committee.shards(node(i)) == (i,) for i in range(1000))
    with pytest.raises(InvalidShardAssignmentError):
        transition(committee, {n: i % 3 for i, n in enumerate(nodes)})
    # With node 0 taking the missing shard the transition goes through.
    counts = {n: i % 3 for i, n in enumerate(nodes)}
    counts[node(0)] = 1
    committee2 = transition(committee, counts)
    assert committee2.n_shards == 1000 and committee2.size == 667
    assert committee2.shards(node(0)) == (0,)
    for i in range(1, 1000):
        if i % 3 == 1:
            assert committee2.shards(node(i)) == (i,)
        elif i % 3 == 2:
            assert committee2.shards(node(i))[0] == i


def test_reject_invalid_shard_assignment() -> None:
    n1, n2, n3 = node(1), node(2), node(3)
    committee = initial_committee({n1: 2, n2: 2, n3: 2})
    committee2 = transition(committee, {n1: 1, n2: 3, n3: 2})  # same number of shards
    assert committee2.node_ids == (n1, n2, n3)
    with pytest.raises(InvalidShardAssignmentError):
        transition(committee2, {n1: 3, n2: 3, n3: 2})


def _counting_committee(ids: list[int]) -> Committee:
    """The `cmt` helper of committee_tests.move: node k-th gets k shards."""
    return initial_committee([(node(i), k) for k, i in enumerate(ids)])


def test_diff_at_different_sizes() -> None:
    left, right = diff(_counting_committee([1, 2, 3]), _counting_committee([2, 3, 4]))
    assert left == [node(1)]
    assert right == [node(4)]


# --- exact order semantics of `transition` --------------------------------------------------


def test_new_nodes_take_shards_in_the_given_order() -> None:
    a, y, z = node(1), node(5), node(9)
    old = initial_committee({a: 4})
    # a shrinks 4 → 2 and pushes its last shards, the very last first: free stack [3, 2].
    assert list(transition(old, [(a, 2), (z, 1), (y, 1)]).shards(z)) == [2]
    assert list(transition(old, [(a, 2), (z, 1), (y, 1)]).shards(y)) == [3]
    assert list(transition(old, [(a, 2), (y, 1), (z, 1)]).shards(y)) == [2]
    assert list(transition(old, [(a, 2), (y, 1), (z, 1)]).shards(a)) == [0, 1]


def test_growing_nodes_come_after_new_nodes() -> None:
    a, b, c = node(1), node(2), node(3)
    old = initial_committee({a: 3, b: 1})  # a: [0, 1, 2], b: [3]
    new = transition(old, {b: 2, a: 1, c: 1})  # a frees [2, 1]; c (new) pops first
    assert list(new.shards(c)) == [1]
    assert list(new.shards(b)) == [3, 2]
    assert list(new.shards(a)) == [0]


def test_transition_from_empty() -> None:
    assert transition(Committee(), {}) == Committee()
    with pytest.raises(InvalidShardAssignmentError):
        transition(Committee(), {node(1): 3})
    first = next_committee(Committee(), [(node(2), 2), (node(1), 1)])
    assert first == initial_committee({node(1): 1, node(2): 2})
    assert list(first.shards(node(1))) == [0]
    later = next_committee(first, {node(1): 2, node(2): 1})
    assert list(later.shards(node(1))) == [0, 2]


# --- Committee value type -------------------------------------------------------------------


def test_lookups() -> None:
    committee = Committee.from_mapping({node(7): [3, 0], node(2): [1, 2, 4]})
    assert committee.node_ids == (node(2), node(7))
    assert committee.n_shards == 5
    assert committee.shards(node(7)) == (3, 0)
    assert committee.weights() == {node(2): 3, node(7): 2}
    assert committee.weight(node(2)) == 3
    assert committee.shard_owners() == (node(7), node(2), node(2), node(7), node(2))
    assert committee.node_for_shard(3) == node(7)
    assert committee.total_weight([node(7), node(7), node(9)]) == 2
    assert node(7) in committee and node(9) not in committee
    assert committee.shards_or_empty(node(9)) == ()
    assert list(committee) == [node(2), node(7)]
    with pytest.raises(KeyError):
        committee.shards(node(9))
    with pytest.raises(KeyError):
        committee.weight(node(9))
    with pytest.raises(IndexError):
        committee.node_for_shard(5)
    assert committee == Committee.from_mapping({node(2): [1, 2, 4], node(7): [3, 0]})
    assert hash(committee) == hash(Committee.from_mapping({node(2): [1, 2, 4], node(7): [3, 0]}))


def test_invalid_committees() -> None:
    s = ShardIndex
    with pytest.raises(ValueError):
        Committee(((node(2), (s(0),)), (node(1), (s(1),))))  # unsorted
    with pytest.raises(ValueError):
        Committee(((node(1), (s(0),)), (node(1), (s(1),))))  # repeated node
    with pytest.raises(InvalidShardAssignmentError):
        Committee.from_mapping({node(1): [0, 1], node(2): [1]})  # shard twice
    with pytest.raises(InvalidShardAssignmentError):
        Committee.from_mapping({node(1): [0, 2]})  # gap
    with pytest.raises(ValueError):
        Committee.from_mapping({b"\x01" * 31: [0]})  # not a 32-byte ID
    with pytest.raises(ValueError):
        initial_committee([(node(1), 1), (node(1), 2)])
    with pytest.raises(ValueError):
        initial_committee({node(1): -1})


# --- active_set_tests.move and active_set.move ----------------------------------------------


def test_insert() -> None:
    s = ActiveSet(max_size=3, threshold_stake=100)
    s = s.insert_or_update(node(1), 99)  # below the threshold
    assert node(1) not in s
    s = s.insert_or_update(node(1), 200)
    s = s.insert_or_update(node(2), 300)
    s = s.insert_or_update(node(3), 400)
    assert s.size == 3 and s.max_size == 3
    assert set(s.active_ids) == {node(1), node(2), node(3)}
    assert s.cur_min_stake == 200

    s = s.insert_or_update(node(4), 500)
    assert s.size == 3 and s.cur_min_stake == 300
    assert set(s.active_ids) == {node(2), node(3), node(4)}

    s = s.insert_or_update(node(5), 250)
    assert s.size == 3 and s.cur_min_stake == 300
    assert set(s.active_ids) == {node(2), node(3), node(4)}

    for i in (6, 7, 8):
        s = s.insert_or_update(node(i), 1000)
    assert s.size == 3 and s.cur_min_stake == 1000
    assert set(s.active_ids) == {node(6), node(7), node(8)}


def test_size_1() -> None:
    s = ActiveSet(max_size=1, threshold_stake=100)
    assert s.cur_min_stake == 100
    s = s.insert_or_update(node(1), 1000)
    assert s.cur_min_stake == 1000
    s = s.insert_or_update(node(2), 1001)
    assert s.cur_min_stake == 1001


def test_kick_out_attack() -> None:
    s = ActiveSet(max_size=3)
    for i in (1, 2, 3):
        s = s.insert_or_update(node(i), 100 * i)
    assert s.size == 3 and s.cur_min_stake == 100 and s.threshold_stake == 0
    s = s.insert_or_update(node(4), 101)  # kicks out node 1
    assert s.size == 3 and node(4) in s and node(1) not in s
    s = s.insert_or_update(node(4), 0)  # and leaves again
    assert s.size == 2 and node(4) not in s and node(1) not in s


def test_evict_correct_node_simple() -> None:
    s = ActiveSet(max_size=5)
    for i, stake in zip(range(1, 6), (10, 9, 8, 7, 6), strict=True):
        s = s.insert_or_update(node(i), stake)
    assert s.total_stake == 40
    s = s.insert_or_update(node(6), 11)
    assert s.total_stake == 40 - 6 + 11
    assert node(5) not in s
    assert all(node(i) in s for i in (1, 2, 3, 4, 6))
    # The newcomer takes the evicted entry's place in the list.
    assert s.active_ids == (node(1), node(2), node(3), node(4), node(6))


def test_evict_correct_node_with_updates() -> None:
    nodes = [node(i) for i in range(1, 7)]
    s = ActiveSet(max_size=5)
    for i, stake in ((3, 7), (0, 10), (2, 8), (1, 9), (4, 6)):
        s = s.insert_or_update(nodes[i], stake)
    total = 10 + 9 + 8 + 7 + 6
    assert s.total_stake == total
    for i, old, new in ((0, 10, 12), (2, 8, 13), (3, 7, 9), (1, 9, 10), (4, 6, 7)):
        s = s.insert_or_update(nodes[i], new)
        total += new - old
        assert s.total_stake == total
        assert s.stake_of(nodes[i]) == new
    s = s.insert_or_update(nodes[5], 11)  # evicts nodes[4] (stake 7)
    total += 11 - 7
    assert s.total_stake == total
    assert s.stake_of(nodes[5]) == 11
    assert nodes[4] not in s
    assert all(nodes[i] in s for i in (0, 1, 2, 3, 5))


# --- staking_inner_tests.move, at the level of the active set -------------------------------


def test_staking_rejoin_active_set() -> None:
    s = ActiveSet().with_max_size(10)
    pools = [node(100 + i) for i in range(11)]
    for i, pool in enumerate(pools):
        s = s.insert_or_update(pool, (10_000 + i) * FROST_PER_WAL)
        assert pool in s
    assert pools[0] not in s
    # try_join_active_set with pool 0's unchanged stake does nothing.
    assert s.insert_or_update(pools[0], 10_000 * FROST_PER_WAL) == s
    # Pool 1's stake is withdrawn: it leaves the set; pool 0 can now join.
    s = s.insert_or_update(pools[1], 0)
    assert pools[0] not in s and pools[1] not in s
    s = s.insert_or_update(pools[0], 10_000 * FROST_PER_WAL)
    assert pools[0] in s and pools[1] not in s


def test_staking_active_set() -> None:
    s = ActiveSet(max_size=MAINNET_ACTIVE_SET_SIZE_LIMIT)
    one, two, three = node(1), node(2), node(3)
    s = s.insert_or_update(one, 100_000 * FROST_PER_WAL)
    s = s.insert_or_update(one, 200_000 * FROST_PER_WAL)  # a second stake to the same pool
    s = s.insert_or_update(two, 200_000 * FROST_PER_WAL)
    s = s.insert_or_update(three, 600_000 * FROST_PER_WAL)
    assert s.total_stake == 1_000_000 * FROST_PER_WAL
    assert len(s.active_ids) == 3
    assert s.cur_min_stake == 0
    committee = next_committee(Committee(), s.apportionment(300))
    assert committee.node_ids == (one, two, three) and committee.n_shards == 300
    assert committee.weights() == {one: 60, two: 60, three: 180}


def test_staking_active_set_early_withdraw() -> None:
    one, two, three = node(1), node(2), node(3)
    s = ActiveSet()
    for pool in (one, two, three):
        s = s.insert_or_update(pool, 100_000 * FROST_PER_WAL)
    assert set(s.active_ids) == {one, two, three}
    s = s.insert_or_update(one, 0)  # the early withdrawal empties pool one
    assert set(s.active_ids) == {two, three}
    assert s.active_ids == (three, two)  # swap-remove: the last entry fills the gap
    committee = next_committee(Committee(), s.apportionment(300))
    assert one not in committee and two in committee and three in committee


def test_update_active_set_max_size() -> None:
    # contracts/ only: a set created under the deployed limit is migrated to the new one.
    s = ActiveSet()
    assert s.max_size == MAINNET_ACTIVE_SET_SIZE_LIMIT == 111
    s = s.with_max_size(LATEST_ACTIVE_SET_SIZE_LIMIT)
    assert s.max_size == 150


def test_active_set_validation_and_ties() -> None:
    with pytest.raises(ValueError):
        ActiveSet(max_size=0)  # EZeroMaxSize
    with pytest.raises(ValueError):
        ActiveSet(entries=((node(1), 1), (node(1), 2)))
    with pytest.raises(ValueError):
        ActiveSet().insert_or_update(node(1), 1 << 64)
    with pytest.raises(ValueError):
        ActiveSet(entries=((node(1), 1 << 63), (node(2), 1 << 63)))  # total overflows u64
    # A full set evicts the first of several equally small entries, and only for more stake.
    s = ActiveSet(max_size=3)
    for i, stake in ((1, 5), (2, 3), (3, 3)):
        s = s.insert_or_update(node(i), stake)
    assert s.insert_or_update(node(4), 3) == s
    assert s.insert_or_update(node(4), 4).active_ids == (node(1), node(4), node(3))
    # Shrinking the limit never evicts; it only stops insertions.
    small = s.with_max_size(1)
    assert small.size == 3 and small.insert_or_update(node(4), 2) == small
    assert ActiveSet().remove(node(1)) == ActiveSet()


# --- properties -----------------------------------------------------------------------------

ids = st.integers(0, 2**256 - 1).map(node)


@st.composite
def committee_and_new_counts(draw: st.DrawFn) -> tuple[Committee, list[tuple[NodeId, int]]]:
    n_shards = draw(st.integers(1, 60))
    old_ids = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    cuts = sorted(
        draw(
            st.lists(st.integers(0, n_shards), min_size=len(old_ids) - 1, max_size=len(old_ids) - 1)
        )
    )
    counts = [b - a for a, b in zip([0, *cuts], [*cuts, n_shards], strict=True)]
    old = initial_committee(dict(zip(old_ids, counts, strict=True)))
    if draw(st.booleans()):
        # Shuffle shards through a few transitions so the lists are not runs.
        for _ in range(draw(st.integers(1, 3))):
            shuffled = draw(st.permutations(list(old.node_ids)))
            weights = list(old.weights().values())
            old = transition(old, dict(zip(shuffled, weights, strict=True)))
    new_ids = draw(st.lists(ids, max_size=8, unique=True))
    pool = list(dict.fromkeys([*draw(st.permutations(old_ids)), *new_ids]))
    pool = pool[: max(1, draw(st.integers(1, len(pool))))]
    new_cuts = sorted(
        draw(st.lists(st.integers(0, n_shards), min_size=len(pool) - 1, max_size=len(pool) - 1))
    )
    new_counts = [b - a for a, b in zip([0, *new_cuts], [*new_cuts, n_shards], strict=True)]
    return old, list(zip(pool, new_counts, strict=True))


@settings(max_examples=300, deadline=None)
@given(case=committee_and_new_counts())
def test_transition_properties(case: tuple[Committee, list[tuple[NodeId, int]]]) -> None:
    old, new_counts = case
    new = transition(old, new_counts)
    counts = dict(new_counts)
    # Every shard is assigned exactly once (also checked by the constructor).
    assert sorted(s for n in new.node_ids for s in new.shards(n)) == list(range(old.n_shards))
    # Exactly the nodes with a positive count, each with its count.
    assert new.weights() == {n: c for n, c in sorted(counts.items()) if c > 0}
    moved = 0
    for n in new.node_ids:
        before = old.shards_or_empty(n)
        after = new.shards(n)
        if len(after) >= len(before):
            # Continuing nodes that do not shrink keep all their shards, first, in order.
            assert after[: len(before)] == before
        else:
            # Shrinking nodes keep the first shards of their list.
            assert after == before[: len(after)]
        moved += len(set(after) - set(before))
    # Minimal movement: only the shards new or growing nodes need change hands.
    assert moved == sum(max(0, new.weight(n) - len(old.shards_or_empty(n))) for n in new.node_ids)


stake_changes = st.lists(
    st.lists(st.tuples(st.integers(0, 30), st.integers(0, 10**12)), min_size=1, max_size=12),
    min_size=1,
    max_size=6,
)


@settings(max_examples=100, deadline=None)
@given(epochs=stake_changes, n_shards=st.sampled_from([10, 100, 1000]), size=st.integers(1, 25))
def test_epochs_of_staking(epochs: list[list[tuple[int, int]]], n_shards: int, size: int) -> None:
    """Run the staking pipeline over several epochs: active set → apportionment → committee."""
    active = ActiveSet(max_size=size)
    committee = Committee()
    for changes in epochs:
        for who, stake in changes:
            active = active.insert_or_update(node(who), stake)
        assert active.size <= size
        assert active.total_stake == sum(active.stake_of(n) for n in active.active_ids)
        if active.total_stake == 0:
            continue
        counts = apportionment(active.entries, n_shards)
        new = next_committee(committee, counts)
        assert new.n_shards == n_shards
        assert new.weights() == dict(sorted(counts))
        for n in set(new.node_ids) & set(committee.node_ids):
            before, after = committee.shards(n), new.shards(n)
            common = min(len(before), len(after))
            assert after[:common] == before[:common]
        committee = new

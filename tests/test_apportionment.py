"""D'Hondt apportionment: known answers ported from the Walrus Move tests, and properties.

Known answers: `contracts/walrus/tests/staking/staking_inner_tests.move` (`test_dhondt_*`,
`test_larger_dhondt_inputs_*`) and `staking_inner_compute_tests.move` (`test_compute_*`),
identical in `mainnet-contracts/`.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pywalrus.core.apportionment import apportionment, dhondt, max_shards_per_node
from pywalrus.core.committee import initial_committee
from pywalrus.core.errors import ApportionmentError, NoStakeError

FROST_PER_WAL = 1_000_000_000


def node(i: int) -> bytes:
    """The object ID `@i` of the Move tests (a big-endian u256)."""
    return i.to_bytes(32, "big")


def dhondt_case(n_shards: int, stakes: list[int], expected: list[int]) -> None:
    allocation = dhondt(n_shards, stakes)
    assert allocation == expected
    assert sum(allocation) == n_shards


# --- staking_inner_tests.move ---------------------------------------------------------------


def test_dhondt_basic() -> None:
    stake = [25000, 25000, 25000, 25000]
    dhondt_case(4, stake, [1, 1, 1, 1])
    dhondt_case(778, stake, [195, 195, 194, 194])
    dhondt_case(1000, stake, [250, 250, 250, 250])
    stake = [50000, 30000, 15000, 5000]
    dhondt_case(4, stake, [2, 2, 0, 0])
    dhondt_case(777, stake, [389, 234, 116, 38])
    dhondt_case(1000, stake, [500, 300, 150, 50])
    stake = [50000, 50000, 30000, 15000, 15000, 5000]
    dhondt_case(4, stake, [2, 1, 1, 0, 0, 0])
    dhondt_case(777, stake, [236, 236, 142, 70, 70, 23])
    dhondt_case(1000, stake, [303, 303, 182, 91, 91, 30])


def test_dhondt_ties() -> None:
    stake = [25000, 25000, 25000, 25000]
    dhondt_case(7, stake, [2, 2, 2, 1])
    dhondt_case(6, stake, [2, 2, 1, 1])
    dhondt_case(7, [200, 200, 200, 100], [2, 2, 2, 1])
    dhondt_case(9, [200, 200, 200, 100, 100, 100], [2, 2, 2, 1, 1, 1])
    # A tie with many solutions.
    dhondt_case(18, [780_000, 650_000, 520_000, 390_000, 260_000], [6, 5, 4, 2, 1])


def test_dhondt_edge_case() -> None:
    dhondt_case(0, [100, 90, 80], [0, 0, 0])  # no shards
    dhondt_case(5, [1, 0, 0], [4, 1, 0])  # low stake: capped at 4, then zero-stake nodes
    s = 1_000_000
    dhondt_case(3, [s, s - 1], [2, 1])  # nearly identical stake
    dhondt_case(500, [1_000_000_000_000, 900_000_000_000, 100_000_000_000], [250, 225, 25])


def test_dhondt_no_stake() -> None:
    with pytest.raises(NoStakeError):
        dhondt(0, [0, 0, 0])
    with pytest.raises(NoStakeError):
        dhondt(10, [])


def test_dhondt_without_max_shards() -> None:
    dhondt_case(1000, [600, 100, 200, 100], [500, 125, 250, 125])


def test_dhondt_with_max_shards() -> None:
    stakes = [200 if i == 5 else 20 for i in range(21)]
    dhondt_case(1000, stakes, [100 if i == 5 else 45 for i in range(21)])


def _larger_dhondt_inputs(stake_basis_points: list[int]) -> None:
    total_stake = 10_000_000_000_000_000_000
    n_shards = 1000
    stakes = [bp * total_stake // 10_000 for bp in stake_basis_points]
    allocation = dhondt(n_shards, stakes)
    assert sum(1 for n in allocation if n > 0) == len(stake_basis_points) // 10
    assert sum(allocation) == n_shards


def test_larger_dhondt_inputs_100_nodes_fixed_stake() -> None:
    bps = [1250 if i < 5 else 733 if i < 9 else 728 if i < 10 else 1 for i in range(100)]
    assert sum(bps) == 10_000
    _larger_dhondt_inputs(bps)


def test_larger_dhondt_inputs_1000_nodes_fixed_stake() -> None:
    bps = [125 if i < 50 else 60 if i < 90 else 45 if i < 100 else 1 for i in range(1000)]
    assert sum(bps) == 10_000
    _larger_dhondt_inputs(bps)


def _random_dhondt_setup(rng: random.Random, nodes: int, total_stake: int) -> list[int]:
    """As `random_dhondt_setup`: each node 1–99 thousandths of what is left, rest to node 0."""
    stakes = []
    for _ in range(nodes):
        stake = rng.randrange(1, 100) * (total_stake // 1000)
        total_stake -= stake
        stakes.append(stake)
    stakes[0] += total_stake
    return stakes


@pytest.mark.parametrize("nodes", [100, 1000])
@pytest.mark.parametrize("seed", range(3))
def test_larger_dhondt_inputs_random_stake(nodes: int, seed: int) -> None:
    stakes = _random_dhondt_setup(random.Random(seed), nodes, 10_000_000_000_000_000_000)
    assert sum(dhondt(1000, stakes)) == 1000


# --- staking_inner_compute_tests.move (apportionment + first committee) ---------------------


def _first_committee(n_shards: int, stakes_wal: list[int]) -> list[int]:
    active = [(node(i + 1), s * FROST_PER_WAL) for i, s in enumerate(stakes_wal)]
    committee = initial_committee(apportionment(active, n_shards))
    return [len(committee.shards_or_empty(node(i + 1))) for i in range(len(stakes_wal))]


def test_compute_single_node() -> None:
    assert _first_committee(10, [1_000_000]) == [10]


def test_compute_even_distribution() -> None:
    assert _first_committee(6, [1000, 1000, 1000]) == [2, 2, 2]


def test_compute_uneven_distribution() -> None:
    assert _first_committee(10, [4000, 2000, 1000]) == [6, 3, 1]


def test_compute_equal_stake_nodes() -> None:
    assert _first_committee(10, [1000, 1000, 1000]) == [4, 3, 3]


def test_compute_large_committee() -> None:
    counts = _first_committee(100, [1000 + i for i in range(20)])
    assert len(counts) == 20 and all(c > 0 for c in counts) and sum(counts) == 100


# --- our own checks -------------------------------------------------------------------------


def test_max_shards_per_node() -> None:
    assert max_shards_per_node(20, 1000) == 100
    assert max_shards_per_node(111, 1000) == 100
    assert max_shards_per_node(19, 1000) == 106  # ⌈20000 / 190⌉
    assert max_shards_per_node(4, 1000) == 500
    assert max_shards_per_node(3, 10) == 7  # ⌈200 / 30⌉
    assert max_shards_per_node(1, 10) == 20
    assert max_shards_per_node(25, 9) == 0
    with pytest.raises(ValueError):
        max_shards_per_node(0, 10)


def test_all_capped_aborts() -> None:
    # With ≥ 20 nodes and fewer than 10 shards the cap is 0: upstream pops an empty queue.
    with pytest.raises(ApportionmentError):
        dhondt(9, [1] * 20)
    assert dhondt(0, [1] * 20) == [0] * 20


def test_u64_limits() -> None:
    with pytest.raises(ApportionmentError):
        dhondt(10, [1 << 64])
    with pytest.raises(ApportionmentError):
        dhondt(10, [1 << 63, 1 << 63])  # the total overflows u64
    with pytest.raises(ApportionmentError):
        dhondt(10, [-1, 5])
    assert sum(dhondt(1000, [(1 << 64) - 1])) == 1000


def test_apportionment_drops_zero_and_keeps_order() -> None:
    active = [(node(9), 50000), (node(1), 30000), (node(5), 15000), (node(3), 5000)]
    assert apportionment(active, 4) == [(node(9), 2), (node(1), 2)]
    with pytest.raises(ValueError):
        apportionment([(node(1), 5), (node(1), 6)], 4)
    with pytest.raises(ValueError):
        apportionment([(b"short", 5)], 4)


def test_ties_go_to_the_earlier_position() -> None:
    assert dhondt(3, [10, 10, 10, 10]) == [1, 1, 1, 0]
    assert dhondt(5, [7, 7, 7, 7]) == [2, 1, 1, 1]


def _reference_dhondt(n_shards: int, stakes: list[int]) -> list[int]:
    """A slow restatement: always give the next shard to the best uncapped quotient."""
    cap = max_shards_per_node(len(stakes), n_shards)
    shards = [0] * len(stakes)
    for _ in range(n_shards):
        best = max(
            (i for i in range(len(stakes)) if shards[i] < cap),
            key=lambda i: ((stakes[i] << 64) // (shards[i] + 1), -i),
        )
        shards[best] += 1
    return shards


stake_lists = st.lists(
    st.one_of(st.integers(0, 1000), st.integers(0, 10**18)), min_size=1, max_size=40
).filter(lambda s: sum(s) > 0)


@settings(max_examples=200, deadline=None)
@given(stakes=stake_lists, n_shards=st.integers(10, 300))
def test_sum_and_cap(stakes: list[int], n_shards: int) -> None:
    shards = dhondt(n_shards, stakes)
    assert sum(shards) == n_shards
    cap = max_shards_per_node(len(stakes), n_shards)
    assert all(0 <= s <= cap for s in shards)
    # Monotone in stake: more stake never gets fewer shards.
    for i in range(len(stakes)):
        for j in range(len(stakes)):
            if stakes[i] > stakes[j]:
                assert shards[i] >= shards[j]


@settings(max_examples=150, deadline=None)
@given(stakes=stake_lists, n_shards=st.integers(10, 120))
def test_matches_plain_dhondt(stakes: list[int], n_shards: int) -> None:
    # The Hagenbach-Bischoff start is only a shortcut: the result equals plain D'Hondt.
    assert dhondt(n_shards, stakes) == _reference_dhondt(n_shards, stakes)

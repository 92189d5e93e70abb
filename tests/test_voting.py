"""Price and capacity votes: known answers from the Walrus Move tests, and properties.

Ported from the `#[test]`s in `contracts/walrus/sources/staking/staking_inner.move`
(`test_quorum_above*`, `test_quorum_below*`) and from `contracts/walrus/tests/e2e_tests.move`
(the capacity/price vote test with 10 nodes on 100 shards, and
`immediate_price_change_on_vote`), identical in `mainnet-contracts/`.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pywalrus.core.config import is_quorum
from pywalrus.core.errors import VoteError
from pywalrus.core.types import U64_MAX
from pywalrus.core.voting import (
    PriceVote,
    quorum_above,
    quorum_below,
    recalculate_prices,
    scaled_capacity_vote,
    voted_capacity,
)

VOTES = list(range(1, 11))

# --- staking_inner.move ---------------------------------------------------------------------


def test_quorum_above() -> None:
    weights = [5, 5, 4, 6, 3, 7, 2, 8, 1, 9]
    assert quorum_above(list(zip(VOTES, weights, strict=True)), 50) == 4


def test_quorum_above_all_above() -> None:
    weights = [17, 1, 1, 1, 3, 7, 2, 8, 1, 9]
    assert quorum_above(list(zip(VOTES, weights, strict=True)), 50) == 1


def test_quorum_above_one_value() -> None:
    assert quorum_above([(1, 50)], 50) == 1


def test_quorum_below() -> None:
    weights = [5, 5, 4, 6, 3, 7, 4, 6, 1, 9]
    assert quorum_below(list(zip(VOTES, weights, strict=True)), 50) == 7


def test_quorum_below_all_below() -> None:
    weights = [5, 5, 4, 6, 3, 7, 1, 1, 1, 17]
    assert quorum_below(list(zip(VOTES, weights, strict=True)), 50) == 10


def test_quorum_below_one_value() -> None:
    assert quorum_below([(1, 50)], 50) == 1


# --- e2e_tests.move -------------------------------------------------------------------------


def test_votes_of_ten_equal_nodes() -> None:
    # 100 shards, 10 nodes with equal stake (10 shards each) voting i·1000 for prices and
    # capacity, i = 1 … 10.
    votes = [PriceVote(i * 1000, i * 1000, 10) for i in range(1, 11)]
    assert recalculate_prices(votes, 100) == (7000, 7000)
    assert [scaled_capacity_vote(i * 1000, 100, 10) for i in (1, 10)] == [10_000, 100_000]
    assert voted_capacity([(i * 1000, 10) for i in range(1, 11)], 100) == 40_000


def test_immediate_price_change_on_vote() -> None:
    # 1000 shards, 10 nodes of 100 shards; all start at storage 10k, write 20k FROST.
    storage = [10_000] * 10
    write = [20_000] * 10

    def prices() -> tuple[int, int]:
        votes = [PriceVote(s, w, 100) for s, w in zip(storage, write, strict=True)]
        return recalculate_prices(votes, 1000)

    assert prices() == (10_000, 20_000)
    storage[:7] = [50_000] * 7
    assert prices() == (50_000, 20_000)
    write[:] = [100_000] * 10
    assert prices() == (50_000, 100_000)
    storage[0] = 1  # one node alone cannot move the price
    assert prices() == (50_000, 100_000)
    storage[1:5] = [1] * 4  # 1 ×5, 50k ×2, 10k ×3
    assert prices() == (10_000, 100_000)


# --- our own checks -------------------------------------------------------------------------


def test_no_committee_prices() -> None:
    assert recalculate_prices([], 1000) == (U64_MAX, U64_MAX)
    with pytest.raises(VoteError):
        quorum_below([], 1000)
    with pytest.raises(VoteError):
        quorum_above([], 1000)


def test_quorum_needs_enough_weight() -> None:
    # Upstream pops an empty queue (abort) when the weights cannot decide.
    with pytest.raises(VoteError):
        quorum_above([(5, 30), (7, 10)], 60)  # 40 < 41
    assert quorum_above([(5, 31), (7, 10)], 60) == 5
    with pytest.raises(VoteError):
        quorum_below([(5, 10)], 60)  # 60 − 10 is still a quorum
    with pytest.raises(VoteError):
        quorum_below([(5, 70)], 60)  # a u64 underflow upstream
    assert quorum_below([(5, 20)], 60) == 5  # 40 of 60 is no quorum (3·40 < 121)


def test_scaled_capacity_vote() -> None:
    assert scaled_capacity_vote(1_000_000_000_000, 1000, 100) == 10_000_000_000_000
    assert scaled_capacity_vote(7, 10, 3) == 23  # ⌊70 / 3⌋
    assert scaled_capacity_vote(U64_MAX, 1000, 1) == U64_MAX
    assert scaled_capacity_vote(U64_MAX, 1000, 1000) == U64_MAX
    assert scaled_capacity_vote(U64_MAX, 1000, 1001) == U64_MAX * 1000 // 1001
    with pytest.raises(VoteError):
        scaled_capacity_vote(10, 1000, 0)
    with pytest.raises(ValueError):
        scaled_capacity_vote(1 << 64, 1000, 1)


def test_votes_must_be_u64() -> None:
    with pytest.raises(ValueError):
        quorum_below([(-1, 10)], 10)
    with pytest.raises(ValueError):
        quorum_above([(1 << 64, 10)], 10)


# Votes whose weights add up to n_shards, as in a real committee.
@st.composite
def committee_votes(draw: st.DrawFn) -> tuple[list[tuple[int, int]], int]:
    n_shards = draw(st.integers(1, 1000))
    n_votes = draw(st.integers(1, min(n_shards, 30)))
    cuts = sorted(
        draw(st.lists(st.integers(0, n_shards), min_size=n_votes - 1, max_size=n_votes - 1))
    )
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, n_shards], strict=True)]
    values = draw(st.lists(st.integers(0, 50), min_size=n_votes, max_size=n_votes))
    return list(zip(values, weights, strict=True)), n_shards


@settings(max_examples=300, deadline=None)
@given(case=committee_votes())
def test_quantile_definitions(case: tuple[list[tuple[int, int]], int]) -> None:
    votes, n = case
    values = {v for v, _ in votes}

    def at_most(limit: int) -> int:
        return sum(w for v, w in votes if v <= limit)

    def at_least(limit: int) -> int:
        return sum(w for v, w in votes if v >= limit)

    below = quorum_below(votes, n)
    assert below == min(v for v in values if is_quorum(at_most(v), n))
    above = quorum_above(votes, n)
    assert above == max(v for v in values if is_quorum(at_least(v), n))
    # The order of the votes does not matter.
    assert quorum_below(votes[::-1], n) == below
    assert quorum_above(votes[::-1], n) == above

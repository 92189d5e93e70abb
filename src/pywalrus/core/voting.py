"""Shard-weighted votes on prices and capacity: the quorum quantiles of the staking contract.

Every committee member votes a storage price, a write price and a node capacity; each vote
weighs as many shards as the node holds. The system price is `quorum_below` of the price votes
(the lowest value that votes at or below it carry a 2f+1 quorum for) over the current committee,
and the system capacity is `quorum_above` of the capacity votes (the highest value that votes at
or above it carry a quorum for) over the next committee, each capacity first scaled to what the
whole network would hold if every shard stored like that node. Nodes and clients check prices and
capacity against the chain, so this restates `staking_inner.move` (`quorum_below`,
`quorum_above`, `recalculate_prices`, `select_committee_and_calculate_votes`) exactly; the
deployed `mainnet-contracts/` and the latest `contracts/` agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pywalrus.core.apportionment import U16_MAX, check_u64
from pywalrus.core.config import is_quorum
from pywalrus.core.errors import VoteError
from pywalrus.core.types import U64_MAX

"""u64::MAX: the storage and write prices while there is no committee (epoch 0)."""


@dataclass(frozen=True, slots=True)
class PriceVote:
    """One committee member's price votes and its weight."""

    storage_price: int
    """FROST per storage unit (1 MiB of encoded size) per epoch (u64)."""

    write_price: int
    """FROST per storage unit, paid once when a blob is registered (u64)."""

    weight: int
    """The member's number of shards in the current committee."""


def _check_n_shards(n_shards: int) -> int:
    if isinstance(n_shards, bool) or not isinstance(n_shards, int) or not 0 <= n_shards <= U16_MAX:
        raise ValueError(f"n_shards must be an integer in [0, 2^16), got {n_shards!r}")
    return n_shards


def _highest_first(votes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The votes by decreasing value, as a max-priority queue pops them.

    Among equal values the order is immaterial: both quantiles return a value, never a weight.
    """
    for value, weight in votes:
        check_u64(value, "a vote")
        check_u64(weight, "a vote weight")
    return sorted(votes, key=lambda vote: vote[0], reverse=True)


def quorum_below(votes: Sequence[tuple[int, int]], n_shards: int) -> int:
    """The lowest value v such that the votes ≤ v carry a quorum weight (3w ≥ 2n + 1).

    `votes` are (value, weight in shards). Upstream starts from weight n_shards and takes away
    the highest votes one by one until the rest is no longer a quorum; the value taken last is
    the result. When the weights add up to n_shards, the result exceeds x exactly when the
    votes above x weigh at least f + 1 (one honest shard), f = ⌊(n−1)/3⌋.

    Raises `VoteError` if the votes run out first (their weights sum to less than the shards
    needed, e.g. no votes at all) or if taking away a vote would make the weight negative (the
    weights exceed n_shards): the contract aborts in both cases. For prices with no committee,
    use `recalculate_prices`, which returns u64::MAX.
    """
    _check_n_shards(n_shards)
    remaining = n_shards
    for value, weight in _highest_first(votes):
        if weight > remaining:
            raise VoteError(f"vote weights exceed the {n_shards} shards")
        remaining -= weight
        if not is_quorum(remaining, n_shards):
            return value
    raise VoteError("the votes never leave less than a quorum of the shards")


def quorum_above(votes: Sequence[tuple[int, int]], n_shards: int) -> int:
    """The highest value v such that the votes ≥ v carry a quorum weight (3w ≥ 2n + 1).

    `votes` are (value, weight in shards). Upstream adds up the highest votes one by one until
    they form a quorum; the value added last is the result.

    Raises `VoteError` if all the votes together are no quorum (the contract aborts).
    """
    _check_n_shards(n_shards)
    total = 0
    for value, weight in _highest_first(votes):
        total += weight
        if is_quorum(total, n_shards):
            return value
    raise VoteError(f"the votes do not carry a quorum of {n_shards} shards")


def recalculate_prices(votes: Sequence[PriceVote], n_shards: int) -> tuple[int, int]:
    """(storage price, write price) from the current committee's votes, by `quorum_below`.

    With no committee (epoch 0, no votes) both prices are u64::MAX, as upstream.
    """
    if not votes:
        return U64_MAX, U64_MAX
    return (
        quorum_below([(vote.storage_price, vote.weight) for vote in votes], n_shards),
        quorum_below([(vote.write_price, vote.weight) for vote in votes], n_shards),
    )


def scaled_capacity_vote(capacity: int, n_shards: int, node_shards: int) -> int:
    """A node's capacity vote scaled to the whole network: ⌊capacity · n_shards / shards⌋,
    capped at u64::MAX (computed on u128 upstream, so it cannot overflow before the cap).

    Raises `VoteError` if the node has no shards (upstream `EZeroNodeWeight`).
    """
    check_u64(capacity, "a capacity vote")
    _check_n_shards(n_shards)
    if isinstance(node_shards, bool) or not isinstance(node_shards, int) or node_shards < 0:
        raise ValueError(
            f"a node's shard count must be a non-negative integer, got {node_shards!r}"
        )
    if node_shards == 0:
        raise VoteError("every committee member must hold at least one shard")
    return min(capacity * n_shards // node_shards, U64_MAX)


def voted_capacity(votes: Sequence[tuple[int, int]], n_shards: int) -> int:
    """The next epoch's capacity: `quorum_above` of the next committee's scaled capacity votes.

    `votes` are (node capacity in bytes, the node's shards in the next committee), as in
    `select_committee_and_calculate_votes`. At the epoch change the system's total capacity
    becomes max(this, the capacity already used).
    """
    scaled = [
        (scaled_capacity_vote(capacity, n_shards, shards), shards) for capacity, shards in votes
    ]
    return quorum_above(scaled, n_shards)

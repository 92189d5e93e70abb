"""D'Hondt apportionment of shards to the storage nodes of the active set.

At `voting_end` the staking contract turns the active set (node, stake) into a number of shards
per node for the next committee: the D'Hondt (Jefferson) method, seeded with the
Hagenbach-Bischoff lower bound, with a per-node cap, ties broken by position in the active set.
The contract, every node and every client must agree on the result to the shard, so this module
restates `staking_inner.move` (`apportionment`, `dhondt`, `max_shards_per_node`) and
`apportionment_queue.move` exactly, including the integer arithmetic of the UQ64.64 quotients
and the cases in which the contract aborts (no stake at all; shards left while every node is at
its cap; a u64 overflow). `mainnet-contracts/` and `contracts/` agree on all of this.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Final, TypeAlias

from pywalrus.core.errors import ApportionmentError, NoStakeError
from pywalrus.core.types import U64_MAX

NodeId: TypeAlias = bytes
"""A storage node's ID: the 32-byte Sui object ID of its staking pool (ordered as a u256,
i.e. byte-wise)."""

NODE_ID_LENGTH: Final = 32
U16_MAX: Final = (1 << 16) - 1

MIN_NODES_FOR_SHARDS_LIMIT: Final = 20
"""From this many nodes on, a flat cap of n_shards / SHARDS_LIMIT_DENOMINATOR applies."""
SHARDS_LIMIT_DENOMINATOR: Final = 10
"""The cap is 1/10 of the shards (scaled up when there are fewer than 20 nodes)."""

_FRACTIONAL_BITS: Final = 64


def check_node_id(node_id: object) -> NodeId:
    """Return `node_id` if it is a 32-byte `bytes` object ID, else raise `ValueError`."""
    if not isinstance(node_id, bytes) or len(node_id) != NODE_ID_LENGTH:
        raise ValueError(f"a node ID is {NODE_ID_LENGTH} bytes, got {node_id!r}")
    return node_id


def check_u64(value: object, what: str) -> int:
    """Return `value` if it is an int in [0, 2^64), else raise `ApportionmentError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise ApportionmentError(f"{what} must be an integer in [0, 2^64), got {value!r}")
    return value


def max_shards_per_node(n_nodes: int, n_shards: int) -> int:
    """The most shards one node may receive.

    ⌊n_shards / 10⌋ with at least 20 nodes; otherwise ⌈20·n_shards / (10·n_nodes)⌉, so that
    the cap times the node count always covers every shard. Zero nodes is a division by zero
    upstream and a `ValueError` here.
    """
    if n_nodes <= 0:
        raise ValueError("the shard cap needs at least one node")
    if n_shards < 0:
        raise ValueError("the number of shards cannot be negative")
    if n_nodes >= MIN_NODES_FOR_SHARDS_LIMIT:
        return n_shards // SHARDS_LIMIT_DENOMINATOR
    return -(-(n_shards * MIN_NODES_FOR_SHARDS_LIMIT) // (n_nodes * SHARDS_LIMIT_DENOMINATOR))


def _quotient(stake: int, shards: int) -> int:
    """The raw UQ64.64 value of stake / (shards + 1), rounded down (`uq64_64::from_quotient`)."""
    return (stake << _FRACTIONAL_BITS) // (shards + 1)


def dhondt(n_shards: int, stakes: Sequence[int]) -> list[int]:
    """Shards per node for `stakes`, in the same order, summing to `n_shards`.

    Each node starts at min(⌊stake / (⌊total/(n_shards+1)⌋ + 1)⌋, cap), a lower bound of its
    D'Hondt share. Then, one shard at a time, the node with the largest quotient
    ⌊stake·2^64 / (shards+1)⌋ that is below the cap gets a shard; equal quotients go to the
    node earlier in the list (upstream priority n_nodes − position); a node that reaches the cap
    takes no more. Nodes with zero stake take part with quotient 0, so they receive shards only
    once every staked node is capped.

    Raises `NoStakeError` if the total stake is 0 (including an empty list), and
    `ApportionmentError` if shards remain while every node is capped (only possible with
    ≥ 20 nodes and fewer than 10 shards, where the cap is 0), if a stake or the total stake is
    not a u64, or if `n_shards` is not a u16 — all cases in which the contract aborts.
    """
    if isinstance(n_shards, bool) or not isinstance(n_shards, int) or not 0 <= n_shards <= U16_MAX:
        raise ApportionmentError(f"n_shards must be an integer in [0, 2^16), got {n_shards!r}")
    for stake in stakes:
        check_u64(stake, "a stake")
    total_stake = check_u64(sum(stakes), "the total stake")
    if total_stake == 0:
        raise NoStakeError("no stake in the active set: cannot apportion shards")

    n_nodes = len(stakes)
    cap = max_shards_per_node(n_nodes, n_shards)
    distribution_number = total_stake // (n_shards + 1) + 1
    shards = [min(stake // distribution_number, cap) for stake in stakes]

    # A max-heap on (quotient, priority); heapq is a min-heap, so both are negated. Priorities
    # n_nodes − index are distinct, so the order is total and any correct heap pops the same.
    queue = [
        (-_quotient(stake, shards[index]), index - n_nodes, index)
        for index, stake in enumerate(stakes)
        if shards[index] != cap
    ]
    heapq.heapify(queue)

    for _ in range(n_shards - sum(shards)):
        if not queue:
            raise ApportionmentError(
                f"cannot place {n_shards} shards on {n_nodes} nodes capped at {cap} each"
            )
        _, tie_breaker, index = heapq.heappop(queue)
        shards[index] += 1
        if shards[index] != cap:
            heapq.heappush(queue, (-_quotient(stakes[index], shards[index]), tie_breaker, index))
    return shards


def apportionment(
    active_set: Sequence[tuple[NodeId, int]], n_shards: int
) -> list[tuple[NodeId, int]]:
    """The next committee's shard counts: D'Hondt over the active set in its list order.

    Returns (node ID, shards) in active-set order, leaving out nodes that receive no shard.
    That order matters: `committee.transition` hands shards to new nodes in it.
    """
    seen: set[NodeId] = set()
    for node_id, _ in active_set:
        check_node_id(node_id)
        if node_id in seen:
            raise ValueError(f"node {node_id.hex()} appears twice in the active set")
        seen.add(node_id)
    counts = dhondt(n_shards, [stake for _, stake in active_set])
    return [
        (node_id, count)
        for (node_id, _), count in zip(active_set, counts, strict=True)
        if count > 0
    ]

"""Committees (which node holds which shards) and the active set they are chosen from.

A `Committee` maps node IDs, sorted as u256 (byte-wise), to the shard indices they hold. The
first committee hands out shards 0, 1, 2, … in node-ID order; every later one comes from
`transition`, which moves as few shards as it can: nodes that keep their count keep their shards,
shrinking nodes give up their *last* shards, growing and new nodes take shards from the top of a
stack. Storage nodes move shard data, and clients route slivers, by this exact assignment, so it
restates `committee.move` (`initialize`, `transition`, `diff`) step by step, including the order
of each node's shard list, which decides which shards a node gives up next time.

`ActiveSet` restates `active_set.move`: the bounded, unsorted list of candidate nodes and their
stake that apportionment runs over. Its list order is part of the protocol (it breaks D'Hondt
ties and orders new nodes in `transition`), so removal swaps the last entry into the gap and an
eviction replaces the evicted entry in place, as upstream.

The deployed contracts (`mainnet-contracts/`) cap the active set at 111 nodes; the latest source
(`contracts/`) raised it to 150 and made `set_max_size` callable for that migration. We default
to the deployed 111 (`MAINNET_ACTIVE_SET_SIZE_LIMIT`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from pywalrus.core.apportionment import (
    U16_MAX,
    NodeId,
    apportionment,
    check_node_id,
    check_u64,
)
from pywalrus.core.errors import InvalidShardAssignmentError
from pywalrus.core.types import ShardIndex

MAINNET_ACTIVE_SET_SIZE_LIMIT: Final = 111
"""`TEMP_ACTIVE_SET_SIZE_LIMIT` in the deployed contracts (`mainnet-contracts/`, testnet too)."""
LATEST_ACTIVE_SET_SIZE_LIMIT: Final = 150
"""`TEMP_ACTIVE_SET_SIZE_LIMIT` in the latest contract source (`contracts/`), not yet deployed."""
MIN_STAKE: Final = 0
"""The stake threshold the staking contract creates its active set with."""


def _pairs(
    assignments: Mapping[NodeId, int] | Iterable[tuple[NodeId, int]],
) -> list[tuple[NodeId, int]]:
    """(node, count) pairs in the caller's order, checked: 32-byte IDs, no repeats, u16 counts."""
    items = list(assignments.items() if isinstance(assignments, Mapping) else assignments)
    seen: set[NodeId] = set()
    for node_id, count in items:
        check_node_id(node_id)
        if node_id in seen:
            raise ValueError(f"node {node_id.hex()} is assigned twice")
        seen.add(node_id)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= U16_MAX:
            raise ValueError(f"a shard count must be an integer in [0, 2^16), got {count!r}")
    return items


@dataclass(frozen=True, slots=True)
class Committee:
    """The shards of each committee member for one epoch, sorted by node ID."""

    members: tuple[tuple[NodeId, tuple[ShardIndex, ...]], ...] = ()
    """(node ID, shard indices) pairs in strictly increasing node-ID order. A node's shards are
    kept in upstream order (not sorted): `transition` takes a shrinking node's last ones. Taken
    together the shards are exactly 0 … n_shards−1, each once. A member may hold no shards only
    if `initial_committee` was given a zero count, as upstream `initialize` allows."""

    _by_node: dict[NodeId, tuple[ShardIndex, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    """Lookup node ID → shards (derived)."""

    _by_shard: tuple[NodeId, ...] = field(init=False, repr=False, compare=False, hash=False)
    """Lookup shard index → node ID (derived)."""

    def __post_init__(self) -> None:
        by_node: dict[NodeId, tuple[ShardIndex, ...]] = {}
        owners: dict[int, NodeId] = {}
        previous: NodeId | None = None
        for node_id, shards in self.members:
            check_node_id(node_id)
            if previous is not None and node_id <= previous:
                raise ValueError("committee members must be sorted by node ID, without repeats")
            previous = node_id
            for shard in shards:
                if isinstance(shard, bool) or not isinstance(shard, int):
                    raise InvalidShardAssignmentError(f"shard index {shard!r} is not an integer")
                if shard in owners:
                    raise InvalidShardAssignmentError(f"shard {shard} is assigned twice")
                owners[shard] = node_id
            by_node[node_id] = tuple(shards)
        n_shards = len(owners)
        if any(not 0 <= shard < n_shards for shard in owners):
            raise InvalidShardAssignmentError(
                f"the shards of a committee must be exactly 0 … {n_shards - 1}"
            )
        object.__setattr__(self, "_by_node", by_node)
        object.__setattr__(self, "_by_shard", tuple(owners[s] for s in range(n_shards)))

    @classmethod
    def from_mapping(cls, shards: Mapping[NodeId, Sequence[int]]) -> Committee:
        """Build a committee from node ID → shard indices, in any node order."""
        return cls(
            tuple(
                (node_id, tuple(ShardIndex(s) for s in node_shards))
                for node_id, node_shards in sorted(shards.items())
            )
        )

    @property
    def n_shards(self) -> int:
        """The total number of shards (0 for the empty committee of epoch 0)."""
        return len(self._by_shard)

    @property
    def size(self) -> int:
        """The number of members."""
        return len(self.members)

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[NodeId]:
        return iter(self._by_node)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._by_node

    @property
    def node_ids(self) -> tuple[NodeId, ...]:
        """The members' node IDs in increasing order."""
        return tuple(self._by_node)

    def shards(self, node_id: NodeId) -> tuple[ShardIndex, ...]:
        """The shards of a member, in upstream order; `KeyError` if it is not a member."""
        return self._by_node[node_id]

    def shards_or_empty(self, node_id: NodeId) -> tuple[ShardIndex, ...]:
        """The shards of `node_id`, or () if it is not a member."""
        return self._by_node.get(node_id, ())

    def weight(self, node_id: NodeId) -> int:
        """A member's voting weight, its number of shards; `KeyError` if it is not a member
        (upstream `get_current_node_weight` aborts with `ENotInCommittee`)."""
        return len(self._by_node[node_id])

    def weights(self) -> dict[NodeId, int]:
        """Node ID → number of shards, in node-ID order."""
        return {node_id: len(shards) for node_id, shards in self.members}

    def total_weight(self, node_ids: Iterable[NodeId]) -> int:
        """The summed shard count of distinct members among `node_ids` (non-members count 0)."""
        return sum(len(self._by_node.get(node_id, ())) for node_id in set(node_ids))

    def node_for_shard(self, shard: int) -> NodeId:
        """The member holding `shard`; `IndexError` if there is no such shard."""
        if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard < self.n_shards:
            raise IndexError(f"shard {shard!r} out of range for {self.n_shards} shards")
        return self._by_shard[shard]

    def shard_owners(self) -> tuple[NodeId, ...]:
        """The holder of every shard, indexed by shard."""
        return self._by_shard


def initial_committee(
    assignments: Mapping[NodeId, int] | Iterable[tuple[NodeId, int]],
) -> Committee:
    """The first committee: shards 0, 1, 2, … handed out in increasing node-ID order.

    As upstream `initialize`, a node given 0 shards is still listed, with no shards
    (apportionment never produces such nodes).
    """
    pairs = sorted(_pairs(assignments))
    members: list[tuple[NodeId, tuple[ShardIndex, ...]]] = []
    next_shard = 0
    for node_id, count in pairs:
        members.append(
            (node_id, tuple(ShardIndex(s) for s in range(next_shard, next_shard + count)))
        )
        next_shard += count
    return Committee(tuple(members))


def transition(
    old: Committee, new_counts: Mapping[NodeId, int] | Iterable[tuple[NodeId, int]]
) -> Committee:
    """The next committee, moving as few shards as possible (upstream `transition`).

    `new_counts` gives each next-epoch node's shard count; its iteration order matters (the
    staking contract passes the active-set order of `apportionment`). Steps:

    1. Walk `old` in node-ID order with a stack of free shards. A node absent from
       `new_counts` or given 0 pushes all its shards (in its list order). A shrinking node
       pushes its last shards, the very last first. A node whose count is unchanged keeps its
       shards. A growing node is moved to the end of the pending list.
    2. The pending list is now: new nodes in `new_counts` order, then growing nodes in node-ID
       order. Each (skipping 0 counts) keeps its old shards and appends shards popped from the
       top of the stack until it has its count.

    Raises `InvalidShardAssignmentError` if the new counts do not add up to the old
    committee's shard count (so an empty `old` only transitions to an empty committee; use
    `initial_committee` or `next_committee` for the first one).
    """
    pending = dict(_pairs(new_counts))
    new_total = sum(pending.values())
    if new_total != old.n_shards:
        raise InvalidShardAssignmentError(
            f"the new committee has {new_total} shards, the current one {old.n_shards}"
        )

    free: list[ShardIndex] = []
    assigned: dict[NodeId, tuple[ShardIndex, ...]] = {}
    for node_id, previous in old.members:
        count = pending.pop(node_id, 0)
        if count == 0:
            free.extend(previous)
        elif count == len(previous):
            assigned[node_id] = previous
        elif count < len(previous):
            free.extend(reversed(previous[count:]))
            assigned[node_id] = previous[:count]
        else:
            pending[node_id] = count  # re-inserted: growing nodes follow the new nodes

    for node_id, count in pending.items():
        if count == 0:
            continue
        shards = list(old.shards_or_empty(node_id))
        while len(shards) < count:
            shards.append(free.pop())
        assigned[node_id] = tuple(shards)

    return Committee(tuple(sorted(assigned.items())))


def next_committee(
    current: Committee, new_counts: Mapping[NodeId, int] | Iterable[tuple[NodeId, int]]
) -> Committee:
    """`initial_committee` if there is no committee yet, else `transition`
    (upstream `compute_next_committee` after apportionment)."""
    if current.size == 0:
        return initial_committee(new_counts)
    return transition(current, new_counts)


def diff(first: Committee, second: Committee) -> tuple[list[NodeId], list[NodeId]]:
    """(members only in `first`, members only in `second`), each in node-ID order."""
    return (
        [node_id for node_id in first.node_ids if node_id not in second],
        [node_id for node_id in second.node_ids if node_id not in first],
    )


@dataclass(frozen=True, slots=True)
class ActiveSet:
    """The candidate nodes (at most `max_size`) and the stake each has for the next vote.

    An immutable value: `insert_or_update`, `remove` and `with_max_size` return a new set.
    """

    max_size: int = MAINNET_ACTIVE_SET_SIZE_LIMIT
    """The most entries an insertion may create (u16, > 0)."""

    threshold_stake: int = MIN_STAKE
    """Stake below which a node is removed (and never added); 0 in the staking contract."""

    entries: tuple[tuple[NodeId, int], ...] = ()
    """(node ID, stake in FROST) in list order, which is the order apportionment sees."""

    def __post_init__(self) -> None:
        if isinstance(self.max_size, bool) or not isinstance(self.max_size, int):
            raise ValueError("the active set size limit must be an integer")
        if not 0 < self.max_size <= U16_MAX:
            raise ValueError("the active set size limit must be in [1, 2^16)")  # EZeroMaxSize
        check_u64(self.threshold_stake, "the threshold stake")
        seen: set[NodeId] = set()
        for node_id, stake in self.entries:
            check_node_id(node_id)
            if node_id in seen:
                raise ValueError(f"node {node_id.hex()} is in the active set twice")
            seen.add(node_id)
            check_u64(stake, "a stake")
        check_u64(self.total_stake, "the total stake of the active set")

    @property
    def size(self) -> int:
        """The number of entries."""
        return len(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, node_id: object) -> bool:
        return any(entry_id == node_id for entry_id, _ in self.entries)

    @property
    def total_stake(self) -> int:
        """The summed stake of all entries."""
        return sum(stake for _, stake in self.entries)

    @property
    def active_ids(self) -> tuple[NodeId, ...]:
        """The node IDs in list order."""
        return tuple(node_id for node_id, _ in self.entries)

    def stake_of(self, node_id: NodeId) -> int:
        """The stake recorded for `node_id`, 0 if it is not in the set."""
        return next((stake for entry_id, stake in self.entries if entry_id == node_id), 0)

    @property
    def cur_min_stake(self) -> int:
        """The stake a newcomer must beat: the smallest entry if full, else the threshold."""
        if len(self.entries) == self.max_size:
            return min(stake for _, stake in self.entries)
        return self.threshold_stake

    def _index(self, node_id: NodeId) -> int | None:
        return next(
            (i for i, (entry_id, _) in enumerate(self.entries) if entry_id == node_id), None
        )

    def _with_entries(self, entries: Sequence[tuple[NodeId, int]]) -> ActiveSet:
        return ActiveSet(self.max_size, self.threshold_stake, tuple(entries))

    def insert_or_update(self, node_id: NodeId, stake: int) -> ActiveSet:
        """Record `stake` for `node_id` (upstream `insert_or_update`).

        - stake 0 or below the threshold: the node is removed (if present);
        - node present: its stake is updated in place;
        - room left: the node is appended;
        - full: it replaces, in place, the first entry with the smallest stake, provided that
          stake is strictly below its own; otherwise the set is unchanged.

        Whether the node made it in is `node_id in result`.
        """
        check_node_id(node_id)
        check_u64(stake, "a stake")
        if stake == 0 or stake < self.threshold_stake:
            return self.remove(node_id)
        entries = list(self.entries)
        index = self._index(node_id)
        if index is not None:
            entries[index] = (node_id, stake)
            return self._with_entries(entries)
        if len(entries) < self.max_size:
            entries.append((node_id, stake))
            return self._with_entries(entries)
        min_stake, min_index = stake, None
        for i, (_, entry_stake) in enumerate(entries):
            if entry_stake < min_stake:
                min_stake, min_index = entry_stake, i
        if min_index is None:
            return self
        entries[min_index] = (node_id, stake)
        return self._with_entries(entries)

    def remove(self, node_id: NodeId) -> ActiveSet:
        """Remove `node_id` if present: the last entry takes its place (a swap-remove)."""
        index = self._index(node_id)
        if index is None:
            return self
        entries = list(self.entries)
        entries[index] = entries[-1]
        entries.pop()
        return self._with_entries(entries)

    def with_max_size(self, max_size: int) -> ActiveSet:
        """The same entries under a new size limit; existing entries are never evicted
        (upstream `set_max_size`, used by the 111 → 150 migration in `contracts/`)."""
        return ActiveSet(max_size, self.threshold_stake, self.entries)

    def apportionment(self, n_shards: int) -> list[tuple[NodeId, int]]:
        """Shard counts for the next committee from this set (see `apportionment.apportionment`)."""
        return apportionment(self.entries, n_shards)

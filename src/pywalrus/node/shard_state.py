"""The status of each shard a node holds or held, and how an epoch change updates it (pure).

A node keeps one record per shard (protocol page §8.5, §8.2 `shard-k/status`,
`shard-k/sync-progress`):

- `ready`: owned and complete; the node serves it and blob sync keeps it complete.
- `inTransfer`: gained at an epoch change; its slivers are being pulled from the previous
  owner with `sync_shard`, page by page, with the last blob ID stored per axis as progress.
- `inRecovery`: gained, but the previous owner is unreachable or lied: the missing slivers are
  rebuilt from other nodes' recovery symbols.
- `readOnly`: lost at an epoch change; still served to the previous committee's readers until
  the change is done and to the new owner's `sync_shard` until it reports the shard received
  (or the next epoch change starts), then deleted.

An owned shard with no record is `ready` (a node's first committee, or a store written before
shard records existed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from pywalrus.core.types import SliverType

READY: Final = "ready"
IN_TRANSFER: Final = "inTransfer"
IN_RECOVERY: Final = "inRecovery"
READ_ONLY: Final = "readOnly"
SYNCING: Final = (IN_TRANSFER, IN_RECOVERY)


@dataclass(frozen=True)
class ShardState:
    """One shard's record."""

    status: str
    """`ready`, `inTransfer`, `inRecovery` or `readOnly`."""
    epoch: int
    """The epoch change that set this status: gained or lost at the start of `epoch`."""
    source: str | None = None
    """For a gained shard: the node ID of its owner in the previous committee (None at genesis
    or when unknown)."""
    progress: dict[str, str] = field(default_factory=dict)
    """Axis label → the last blob ID whose sliver was transferred (inclusive)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "epoch": self.epoch,
            "source": self.source,
            "progress": dict(self.progress),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> ShardState:
        return cls(
            str(value["status"]),
            int(value["epoch"]),
            value.get("source"),
            {str(k): str(v) for k, v in (value.get("progress") or {}).items()},
        )

    def with_progress(self, axis: SliverType, last_blob_id: str) -> ShardState:
        return replace(self, progress={**self.progress, axis.label: last_blob_id})


def owner_of(committee: Mapping[str, list[int]], shard: int) -> str | None:
    """The node ID holding `shard` in a committee (node ID → shards), if any."""
    for node_id, shards in committee.items():
        if shard in shards:
            return node_id
    return None


def reconcile(
    node_id: str,
    epoch: int,
    owned: frozenset[int],
    previous_committee: Mapping[str, list[int]],
    states: Mapping[int, ShardState],
) -> dict[int, ShardState | None]:
    """The records to write (None: delete the shard) after the node sees epoch `epoch`.

    Owned shards keep their record when the node already held them in the previous committee
    (or the record is from this epoch); otherwise they were gained and go `inTransfer` from
    their previous owner, or `ready` at genesis when nobody held them. Shards no longer owned
    become `readOnly`; `readOnly` records from an earlier epoch change are deleted. Idempotent:
    running it twice in one epoch changes nothing the second time.
    """
    changes: dict[int, ShardState | None] = {}
    for shard in sorted(owned):
        state = states.get(shard)
        if state is not None and state.epoch >= epoch and state.status != READ_ONLY:
            continue
        previous = owner_of(previous_committee, shard)
        if previous == node_id:
            if state is not None and state.status == READ_ONLY:
                changes[shard] = ShardState(IN_RECOVERY, epoch)  # partial data, owner unknown
            continue  # kept across the change: record (or no record, ready) stays
        if previous is None:
            changes[shard] = ShardState(READY, epoch)
        else:
            changes[shard] = ShardState(IN_TRANSFER, epoch, previous)
    for shard, state in states.items():
        if shard in owned:
            continue
        if state.status != READ_ONLY:
            changes[shard] = ShardState(READ_ONLY, epoch)
        elif state.epoch < epoch:
            changes[shard] = None
    return changes


def status_of(shard: int, states: Mapping[int, ShardState]) -> str:
    """The status of an owned shard (no record: ready)."""
    state = states.get(shard)
    return READY if state is None else state.status


def summary(owned: frozenset[int], states: Mapping[int, ShardState]) -> dict[str, Any]:
    """The health route's `shardSummary`: counts of owned shards by status, and read-only ones."""
    counts = {"unknown": 0, READY: 0, IN_TRANSFER: 0, IN_RECOVERY: 0}
    for shard in owned:
        status = status_of(shard, states)
        counts[status if status in counts else "unknown"] += 1
    read_only = sum(1 for s, st in states.items() if s not in owned and st.status == READ_ONLY)
    return {"owned": len(owned), "ownedShardStatus": counts, "readOnly": read_only}


def detail(owned: frozenset[int], states: Mapping[int, ShardState]) -> dict[str, Any]:
    """The health route's `shardDetail`: each owned shard's status, and other shards kept."""
    return {
        "owned": [{"shard": s, "status": status_of(s, states)} for s in sorted(owned)],
        "other": [
            {"shard": s, "status": st.status} for s, st in sorted(states.items()) if s not in owned
        ],
    }

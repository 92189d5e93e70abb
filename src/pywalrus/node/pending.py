"""Uploads that arrive before their blob's registration (`?pending=true`).

A writer may upload before the node's event follower has seen the registration. The node keeps
such (verified) metadata and slivers for a short while and stores them when the registration
arrives. Anyone can send them, so the buffer is bounded in bytes, per node and per client
address, and refuses what does not fit rather than evict; each entry is dropped by a timer when
it expires, whether or not more uploads come.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from pywalrus.core.errors import PendingFull
from pywalrus.core.types import BlobId, SliverType
from pywalrus.node.limits import ByteBudget

ENTRY_OVERHEAD = 1024
"""Bytes an entry counts for besides its data (so that floods of tiny entries are bounded)."""


@dataclass
class Pending:
    """What one blob's writers uploaded before its registration."""

    metadata: bytes | None = None
    """BCS metadata, verified against the blob ID."""
    slivers: dict[tuple[int, SliverType], bytes] = field(default_factory=dict)
    """(shard, axis) → BCS sliver, verified against the pending metadata."""
    charges: dict[str, int] = field(default_factory=dict)
    """Client address → bytes of this entry charged to it."""
    timer: asyncio.TimerHandle | None = None
    """Drops the entry when it expires."""


class PendingUploads:
    """The pending buffer of one node."""

    def __init__(self, max_age_s: float, budget: ByteBudget) -> None:
        self.max_age_s = max_age_s
        self.budget = budget
        self._entries: dict[BlobId, Pending] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, blob_id: BlobId) -> Pending | None:
        return self._entries.get(blob_id)

    def add_metadata(self, blob_id: BlobId, address: str, metadata: bytes) -> None:
        entry = self._entries.get(blob_id)
        if entry is not None and entry.metadata is not None:
            return
        entry = self._charge(blob_id, address, len(metadata))
        entry.metadata = metadata

    def add_slivers(
        self, blob_id: BlobId, address: str, slivers: Iterable[tuple[int, SliverType, bytes]]
    ) -> None:
        """Buffer (shard, axis, BCS) slivers of one blob, all or none."""
        entry = self._entries.get(blob_id)
        new = [
            (shard, axis, data)
            for shard, axis, data in slivers
            if entry is None or (shard, axis) not in entry.slivers
        ]
        if not new:
            return
        entry = self._charge(blob_id, address, sum(len(data) for _, _, data in new))
        for shard, axis, data in new:
            entry.slivers[(shard, axis)] = data

    def pop(self, blob_id: BlobId) -> Pending | None:
        """Take a blob's entry out (its registration arrived, or it expired)."""
        entry = self._entries.pop(blob_id, None)
        if entry is not None:
            if entry.timer is not None:
                entry.timer.cancel()
            for address, size in entry.charges.items():
                self.budget.release(address, size)
        return entry

    def _charge(self, blob_id: BlobId, address: str, size: int) -> Pending:
        """The blob's entry (created, with its expiry timer, if new) with `size` more bytes
        charged to `address`; raises `PendingFull` if they do not fit."""
        entry = self._entries.get(blob_id)
        cost = size + (ENTRY_OVERHEAD if entry is None else 0)
        limit = self.budget.acquire(address, cost)
        if limit is not None:
            raise PendingFull(limit)
        if entry is None:
            entry = Pending()
            entry.timer = asyncio.get_running_loop().call_later(
                self.max_age_s, self._expire, blob_id, entry
            )
            self._entries[blob_id] = entry
        entry.charges[address] = entry.charges.get(address, 0) + cost
        return entry

    def _expire(self, blob_id: BlobId, entry: Pending) -> None:
        if self._entries.get(blob_id) is entry:
            entry.timer = None
            self.pop(blob_id)

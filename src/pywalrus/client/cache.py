"""A least-recently-used cache bounded in bytes, whose entries also expire.

Blob content and verified metadata never change for a blob ID, so readers may keep them; the
expiry bounds how long a deleted or expired blob can still be served from memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ByteLru(Generic[K, V]):
    """At most `capacity` bytes of values (as `size_of` counts them), each kept at most
    `ttl_s` seconds; a value larger than `max_entry` bytes is not kept."""

    def __init__(
        self,
        capacity: int,
        size_of: Callable[[V], int],
        ttl_s: float,
        max_entry: int | None = None,
    ) -> None:
        self.capacity = capacity
        self.max_entry = capacity if max_entry is None else min(max_entry, capacity)
        self.ttl_s = ttl_s
        self._size_of = size_of
        self._entries: OrderedDict[K, tuple[float, int, V]] = OrderedDict()
        self.size = 0
        """Bytes held."""
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            if entry is not None:
                self._drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[2]

    def fits(self, size: int) -> bool:
        """Whether a value of `size` bytes would be kept."""
        return 0 <= size <= self.max_entry and self.capacity > 0

    def put(self, key: K, value: V) -> None:
        size = self._size_of(value)
        if not self.fits(size):
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + self.ttl_s, size, value)
        self.size += size
        while self.size > self.capacity:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    def _drop(self, key: K) -> None:
        _, size, _ = self._entries.pop(key)
        self.size -= size

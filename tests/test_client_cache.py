"""client/cache.py: the LRU bounded in bytes that keeps small blobs and metadata."""

from __future__ import annotations

import time

from pywalrus.client.cache import ByteLru


def test_bounded_in_bytes_least_recently_used_first() -> None:
    cache: ByteLru[str, bytes] = ByteLru(10, len, ttl_s=60)
    cache.put("a", b"1234")
    cache.put("b", b"5678")
    assert cache.get("a") == b"1234"  # now b is the least recently used
    cache.put("c", b"90")
    cache.put("d", b"xy")
    assert cache.size <= 10
    assert cache.get("b") is None
    assert [cache.get(k) for k in "acd"] == [b"1234", b"90", b"xy"]
    assert (cache.hits, cache.misses) == (4, 1)


def test_too_large_or_disabled_is_not_kept() -> None:
    cache: ByteLru[str, bytes] = ByteLru(100, len, ttl_s=60, max_entry=8)
    cache.put("big", b"x" * 9)
    assert cache.get("big") is None and cache.size == 0
    assert cache.fits(8) and not cache.fits(9)
    off: ByteLru[str, bytes] = ByteLru(0, len, ttl_s=60)
    off.put("a", b"")
    assert off.get("a") is None and not off.fits(0)


def test_entries_expire() -> None:
    cache: ByteLru[str, bytes] = ByteLru(100, len, ttl_s=0.05)
    cache.put("a", b"abc")
    assert cache.get("a") == b"abc"
    deadline = time.monotonic() + 5
    while cache.get("a") is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get("a") is None and cache.size == 0

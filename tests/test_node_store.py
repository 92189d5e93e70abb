"""The node's LMDB store checks every sliver it reads against the checksum stored with it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pywalrus.core.errors import CorruptSliverError
from pywalrus.core.types import BlobId, SliverType
from pywalrus.node.storage import NodeStore, sliver_key

PRIMARY, SECONDARY = SliverType.PRIMARY, SliverType.SECONDARY


def blob(seed: int) -> BlobId:
    return BlobId(random.Random(seed).randbytes(32))


def raw_put(store: NodeStore, key: bytes, value: bytes) -> None:
    """Write a value as the disk would hold it, around the store's checks."""
    with store.env.begin(write=True, db=store._slivers) as txn:
        txn.put(key, value)


def raw_get(store: NodeStore, key: bytes) -> bytes:
    with store.env.begin(db=store._slivers) as txn:
        value = txn.get(key)
    assert value is not None
    return bytes(value)


def test_slivers_round_trip_and_corruption_is_caught(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "db")
    try:
        data = {
            (blob(i), shard, axis): random.randbytes(100 + i)
            for i in range(3)
            for shard in (1, 2)
            for axis in SliverType
        }
        for (blob_id, shard, axis), sliver in data.items():
            store.put_sliver(blob_id, shard, axis, sliver)
        for (blob_id, shard, axis), sliver in data.items():
            assert store.sliver(blob_id, shard, axis) == sliver
        assert store.sliver(blob(9), 1, PRIMARY) is None
        truncated, flipped = (blob(0), 1, PRIMARY), (blob(1), 2, SECONDARY)
        key = sliver_key(*truncated)
        raw_put(store, key, raw_get(store, key)[:-7])
        key = sliver_key(*flipped)
        value = bytearray(raw_get(store, key))
        value[50] ^= 0x10
        raw_put(store, key, bytes(value))
        for bad in (truncated, flipped):
            with pytest.raises(CorruptSliverError) as caught:
                store.sliver(*bad)
            assert caught.value.key == bad
        # The scrub finds exactly those, whatever the step size.
        for step in (1, 250, 10**6):
            found, after, pages = [], None, 0
            while True:
                page = store.scrub(after, step)
                found += page.corrupt
                pages += 1
                if page.done:
                    break
                after = page.last
            assert sorted(found, key=str) == sorted([truncated, flipped], key=str)
            assert pages <= len(data) + 1
        # Only a sliver that still fails is deleted.
        assert not store.delete_sliver_if_corrupt(blob(2), 1, PRIMARY)
        assert store.delete_sliver_if_corrupt(*truncated)
        assert store.sliver(*truncated) is None
        store.put_sliver(*flipped, data[flipped])
        assert not store.delete_sliver_if_corrupt(*flipped)
        assert store.sliver(*flipped) == data[flipped]
    finally:
        store.close()


def test_a_store_from_before_checksums_gets_them_when_opened(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "db")
    slivers = {sliver_key(blob(i), i % 5, PRIMARY): random.randbytes(60) for i in range(2500)}
    try:
        for key, value in slivers.items():
            raw_put(store, key, value)  # as an earlier version stored them: no checksum
        with store.env.begin(write=True, db=store._meta) as txn:
            txn.delete(b"sliver_format")
    finally:
        store.close()
    store = NodeStore(tmp_path / "db")
    try:
        for i in range(2500):
            assert (
                store.sliver(blob(i), i % 5, PRIMARY)
                == slivers[sliver_key(blob(i), i % 5, PRIMARY)]
            )
        assert store.scrub(None, 10**9).corrupt == []
    finally:
        store.close()

"""Checks of a node's LMDB store from its raw tables (around the store's own methods)."""

from __future__ import annotations

import json

from pywalrus.node import blob_info
from pywalrus.node.storage import NodeStore


def tables(store: NodeStore) -> dict[str, dict[bytes, bytes]]:
    """Every table's contents, read around the store's own methods."""
    out: dict[str, dict[bytes, bytes]] = {}
    with store.env.begin() as txn:
        for name in ("metadata", "slivers", "blob_info", "by_shard", "by_end_epoch", "sync_queue"):
            db = getattr(store, f"_{name}")
            out[name] = {bytes(k): bytes(v) for k, v in txn.cursor(db=db)}
    return out


def check_indexes(store: NodeStore) -> None:
    """The indexes say exactly what the data says.

    `by_shard` holds one key per sliver; `by_end_epoch` holds at most one entry per blob, at
    the epoch its info makes it garbage, for every blob with data and every blob with info
    (an invalid blob whose data was collected keeps its info but may have lost its entry; a
    blob without info whose last sliver was dropped may keep its entry until a collection).
    """
    t = tables(store)
    slivers = t["slivers"]
    assert set(t["by_shard"]) == {k[32:34] + k[:32] + k[34:] for k in slivers}
    entries: dict[bytes, list[int]] = {}
    for key in t["by_end_epoch"]:
        entries.setdefault(key[4:], []).append(int.from_bytes(key[:4], "big"))
    infos = {k: json.loads(v) for k, v in t["blob_info"].items()}
    with_data = set(t["metadata"]) | {k[:32] for k in slivers}
    for blob_id, epochs in entries.items():
        assert epochs == [blob_info.garbage_epoch(infos.get(blob_id))]
    assert with_data <= set(entries)
    assert {b for b, info in infos.items() if info["invalid"] is None} <= set(entries)


def strip_indexes(store: NodeStore) -> None:
    """Make the store look as one written before the indexes existed."""
    with store.env.begin(write=True) as txn:
        for db in (store._by_shard, store._by_end_epoch, store._sync_queue):
            txn.drop(db, delete=False)
        txn.delete(b"indexes", db=store._meta)

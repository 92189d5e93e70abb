"""The store's indexes (by shard, by end epoch, the sync queue) and the garbage collection
built on them: they agree with the data they index after any sequence of writes, after a
SIGKILL in the middle of writes, and after the upgrade of a store written before them; and the
work that removes or syncs data visits what it removes or syncs, not what the node keeps."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pywalrus.core.types import BlobId, SliverType
from pywalrus.node import blob_info
from pywalrus.node.storage import NodeStore, sliver_key
from store_checks import check_indexes, strip_indexes, tables

PRIMARY, SECONDARY = SliverType.PRIMARY, SliverType.SECONDARY
SHARDS = 6
OPERATIONS = [
    "register",
    "register",
    "certify",
    "delete",
    "invalidate",
    "data",
    "data",
    "page",
    "corrupt",
    "drop_shard",
    "gc",
    "gc",
    "epoch",
]
"""What `Driver.step` does, as often as listed."""


def blob(seed: int) -> BlobId:
    return BlobId(random.Random(seed).randbytes(32))


def garbage_with_data(store: NodeStore, epoch: int) -> set[bytes]:
    t = tables(store)
    infos = {k: json.loads(v) for k, v in t["blob_info"].items()}
    with_data = set(t["metadata"]) | {k[:32] for k in t["slivers"]}
    return {b for b in with_data if blob_info.garbage_epoch(infos.get(b)) <= epoch}


class Driver:
    """Random writes of every kind a node does, with blob infos folded from real events."""

    def __init__(self, store: NodeStore, rng: random.Random, blobs: int = 12) -> None:
        self.store = store
        self.rng = rng
        self.blobs = [blob(1000 + i) for i in range(blobs)]
        self.seq = 0
        self.epoch = 1

    def event(self, blob_id: BlobId, kind: str, fields: dict[str, Any]) -> None:
        self.seq += 1
        info = blob_info.apply_event(
            self.store.blob_info(blob_id),
            kind,
            fields,
            {"txDigest": f"tx{self.seq}", "eventSeq": "0"},
        )
        certified = [blob_id] if kind == "BlobCertified" and self.rng.random() < 0.5 else []
        self.store.apply_events({blob_id: info}, self.seq, certified)

    def step(self) -> str:
        rng, store = self.rng, self.store
        blob_id = rng.choice(self.blobs)
        info = store.blob_info(blob_id)
        objects = list((info or {}).get("objects", {}))
        op = rng.choice(OPERATIONS)
        if op == "register":
            self.event(
                blob_id,
                "BlobRegistered",
                {
                    "object_id": f"0x{rng.randbytes(32).hex()}",
                    "deletable": rng.random() < 0.5,
                    "end_epoch": self.epoch + rng.randrange(0, 4),
                },
            )
        elif op == "certify" and objects:
            self.event(
                blob_id,
                "BlobCertified",
                {
                    "object_id": rng.choice(objects),
                    "deletable": True,
                    "end_epoch": self.epoch + rng.randrange(0, 5),
                    "epoch": self.epoch,
                },
            )
        elif op == "delete" and objects:
            self.event(blob_id, "BlobDeleted", {"object_id": rng.choice(objects)})
        elif op == "invalidate" and rng.random() < 0.3:
            self.event(blob_id, "InvalidBlobID", {})
        elif op == "data":
            slivers = [
                (rng.randrange(SHARDS), rng.choice([PRIMARY, SECONDARY]), rng.randbytes(20))
                for _ in range(rng.randrange(1, 5))
            ]
            metadata = rng.randbytes(30) if rng.random() < 0.5 else None
            store.put_blob_data(blob_id, metadata, slivers)
        elif op == "page":
            page = [(b, rng.randbytes(20)) for b in rng.sample(self.blobs, 3)]
            shard = rng.randrange(SHARDS)
            store.put_shard_page(shard, rng.choice([PRIMARY, SECONDARY]), page, {"s": shard})
        elif op == "corrupt":
            stored = list(tables(store)["slivers"])
            if stored:
                key = rng.choice(stored)
                with store.env.begin(write=True, db=store._slivers) as txn:
                    txn.put(key, b"rotten bytes")
                b, shard, axis = key[:32], int.from_bytes(key[32:34], "big"), SliverType(key[34])
                assert store.delete_sliver_if_corrupt(BlobId(b), shard, axis)
                assert BlobId(b) in store.sync_queue()
        elif op == "drop_shard":
            shard = rng.randrange(SHARDS)
            while not store.delete_shard(shard, rng.randrange(1, 6)).done:
                check_indexes(store)
            assert not any(k[32:34] == shard.to_bytes(2, "big") for k in tables(store)["slivers"])
        elif op == "gc":
            step = store.collect_garbage(self.epoch, rng.randrange(1, 5), rng.randrange(1, 12))
            if step.done:
                assert garbage_with_data(store, self.epoch) == set()
        elif op == "epoch":
            self.epoch += 1
        return op


def test_indexes_agree_with_the_data_after_any_writes(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "db")
    try:
        driver = Driver(store, random.Random(7))
        done: dict[str, int] = {}
        for _ in range(600):
            op = driver.step()
            done[op] = done.get(op, 0) + 1
            check_indexes(store)
        assert min(done.values()) >= 10, done  # every kind of write was exercised
        # A whole collection at the end leaves no garbage's data, info or entry behind.
        while not store.collect_garbage(driver.epoch, 5, 50).done:
            pass
        assert garbage_with_data(store, driver.epoch) == set()
        t = tables(store)
        for key in t["by_end_epoch"]:
            assert int.from_bytes(key[:4], "big") > driver.epoch
        for raw in t["blob_info"].values():
            info = json.loads(raw)
            assert info["invalid"] is not None or blob_info.is_registered(info, driver.epoch)
    finally:
        store.close()


def crash_child(path: str) -> None:
    """Write forever (until killed), telling the parent how far it got."""
    store = NodeStore(Path(path))
    driver = Driver(store, random.Random(os.getpid()))
    for count in range(1, 10**9):
        driver.step()
        print(count, flush=True)


def test_indexes_agree_after_a_sigkill_in_the_middle_of_writes(tmp_path: Path) -> None:
    path = tmp_path / "db"
    for round_ in range(3):
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
                f" import test_store_indexes; test_store_indexes.crash_child({str(path)!r})",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            deadline = time.monotonic() + 60
            done = 0
            while done < 200 + 100 * round_ and time.monotonic() < deadline:
                line = child.stdout.readline()
                assert line, "the writer died"
                done = int(line)
            assert done >= 200 + 100 * round_
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=30)
        store = NodeStore(path)
        try:
            check_indexes(store)
            # The store keeps working, and its indexes right, after the crash.
            driver = Driver(store, random.Random(round_))
            for _ in range(50):
                driver.step()
            check_indexes(store)
        finally:
            store.close()


def test_a_store_from_before_the_indexes_gets_them_when_opened(tmp_path: Path) -> None:
    store = NodeStore(tmp_path / "db")
    orphan = blob(1)
    try:
        driver = Driver(store, random.Random(11), blobs=40)
        for _ in range(800):
            driver.step()
        epoch = driver.epoch
        before = tables(store)
        # As an earlier version left it: no indexes, and data of a blob it has no info of.
        strip_indexes(store)
        with store.env.begin(write=True) as txn:
            txn.put(sliver_key(orphan, 2, PRIMARY), b"\0\0\0\0sliver", db=store._slivers)
            txn.put(orphan.value, b"metadata", db=store._metadata)
    finally:
        store.close()
    store = NodeStore(tmp_path / "db")
    try:
        check_indexes(store)
        t = tables(store)
        assert len(t["by_shard"]) == len(before["by_shard"]) + 1
        assert (0).to_bytes(4, "big") + orphan.value in t["by_end_epoch"]
        certified = {
            b
            for b, raw in before["blob_info"].items()
            if blob_info.is_certified(json.loads(raw), 0)
        }
        assert set(t["sync_queue"]) == certified
        # The collector then finds the garbage the old store held, the orphan too.
        kinds: dict[str, int] = {}
        while True:
            page = store.collect_garbage(epoch, 10, 100)
            for item in page.reclaimed:
                kinds[item.kind] = kinds.get(item.kind, 0) + 1
            if page.done:
                break
        assert kinds.get("unregistered", 0) >= 1
        assert garbage_with_data(store, epoch) == set()
        check_indexes(store)
    finally:
        store.close()


# What scans cost ----------------------------------------------------------------------------


def populated(path: Path, kept: int) -> Iterator[NodeStore]:
    """A store holding `kept` live certified blobs (both slivers in 10 shards each), 20 blobs
    that expire at epoch 3, 5 blobs queued for sync and a shard (99) of 7 slivers."""
    store = NodeStore(path)
    seq = 0

    def register(blob_id: BlobId, end_epoch: int, certified: bool) -> None:
        nonlocal seq
        seq += 1
        fields = {"object_id": "0x01", "deletable": False, "end_epoch": end_epoch, "epoch": 1}
        info = blob_info.apply_event(None, "BlobRegistered", fields, {"txDigest": "t"})
        if certified:
            info = blob_info.apply_event(info, "BlobCertified", fields, {"txDigest": "t"})
        store.apply_events({blob_id: info}, seq)

    def fill(blob_id: BlobId) -> None:
        slivers = [(s, axis, b"x" * 16) for s in range(10) for axis in SliverType]
        store.put_blob_data(blob_id, b"m" * 8, slivers)

    for i in range(kept):
        register(blob(i), 10, True)
        fill(blob(i))
    for i in range(20):
        register(blob(10**6 + i), 3, True)
        fill(blob(10**6 + i))
    queued = [blob(i) for i in range(5)]
    store.apply_events({}, seq, queued)
    store.put_shard_page(99, PRIMARY, [(blob(i), b"y" * 16) for i in range(7)], {})
    yield store
    store.close()


def costs(store: NodeStore) -> dict[str, int]:
    """Entries visited by each kind of scan, and what it found."""
    out: dict[str, int] = {}

    def visited(name: str, found: int) -> None:
        out[name] = store.scanned - start
        out[f"{name} found"] = found

    start = store.scanned
    live = store.live_blobs(3)
    visited("unexpired blobs", len(live))
    start = store.scanned
    visited("sync queue", len(store.sync_queue()))
    start = store.scanned
    visited("drop shard 99", store.delete_shard(99).slivers)
    start = store.scanned
    page = store.collect_garbage(3, 1000, 10**6)
    assert page.done
    visited("collect garbage", sum(1 + r.slivers for r in page.reclaimed))
    start = store.scanned
    visited("every blob record", sum(1 for _ in store.blob_infos()))
    return out


def test_removing_and_syncing_visit_what_they_remove_or_sync_not_what_is_kept(
    tmp_path: Path,
) -> None:
    measured = {}
    for kept in (200, 800):
        for store in populated(tmp_path / f"db{kept}", kept):
            measured[kept] = costs(store)
            check_indexes(store)
            assert garbage_with_data(store, 3) == set()
    small, large = measured[200], measured[800]
    # Each scan visits exactly what it finds: the garbage (its 20 entries and 20 x 20 slivers),
    # the shard's 7 slivers, the 5 queued blobs, the unexpired blobs (what a gained shard must
    # receive, not the 20 expired ones).
    for costs_of in (small, large):
        for name in ("sync queue", "drop shard 99", "collect garbage", "unexpired blobs"):
            assert costs_of[name] == costs_of[f"{name} found"], (name, costs_of)
    assert small["collect garbage"] == large["collect garbage"] == 20 + 20 * 20
    assert small["drop shard 99"] == large["drop shard 99"] == 7
    assert small["sync queue"] == large["sync queue"] == 5
    assert (small["unexpired blobs"], large["unexpired blobs"]) == (200, 800)
    # ... where a walk of the blob records (what discovery did before) grows with what is kept.
    assert (small["every blob record"], large["every blob record"]) == (200, 800)


def test_garbage_is_collected_in_bounded_steps(tmp_path: Path) -> None:
    for store in populated(tmp_path / "db", 50):
        pages = []
        while True:
            page = store.collect_garbage(3, 3, 10**6)
            pages.append(len(page.reclaimed))
            if page.done:
                break
        assert sum(pages) == 20 and max(pages) <= 3 and len(pages) == 7
        # A sliver bound stops a step after the blob that reaches it (20 slivers each).
        for i in range(4):
            register_expired = blob(2 * 10**6 + i)
            fields = {"object_id": "0x02", "deletable": True, "end_epoch": 2}
            info = blob_info.apply_event(None, "BlobRegistered", fields, {"txDigest": "t"})
            store.apply_events({register_expired: info}, 10**6 + i)
            slivers = [(s, axis, b"z") for s in range(10) for axis in SliverType]
            store.put_blob_data(register_expired, None, slivers)
        page = store.collect_garbage(3, 100, 30)
        assert [r.slivers for r in page.reclaimed] == [20, 20] and not page.done
        assert store.collect_garbage(3, 100, 30).done
        assert len(store.live_blobs(3)) == 50
        check_indexes(store)

"""The node's on-disk store: LMDB with one named database per table.

Tables: `metadata` (blob ID → BCS metadata), `slivers` (blob ID ‖ shard ‖ axis → CRC-32 of the
BCS sliver, 4 bytes little-endian, ‖ BCS sliver),
`blob_info` (blob ID → JSON of what the chain says about the blob), `shards` (shard index →
JSON of its status and sync progress, see `shard_state`) and `meta` (event cursor and other
scalars). Each acknowledged write is one committed LMDB transaction; a committed
transaction survives a SIGKILL of the process (it is in the page cache), and `sync=True`
in the config makes it survive power loss too. Writes go through one thread (LMDB allows one
writer at a time).

Three indexes let the work that removes or syncs data cost what it removes or syncs, not what
the node keeps. Each is written in the same transaction as the data it indexes, so a crash
never leaves them disagreeing:

- `by_shard` (shard ‖ blob ID ‖ axis → empty): the key of every stored sliver, by shard, so
  that dropping a shard visits only that shard's slivers;
- `by_end_epoch` (epoch ‖ blob ID → empty): one entry per blob that has info or data, at the
  epoch from which its data is garbage (`blob_info.garbage_epoch`: its last end epoch, or 0
  when it is invalid, has no registration left or no info at all). The garbage collector visits
  only the entries up to the current epoch; the unexpired blobs are the entries after it.
  Collecting an invalid blob keeps its info (it answers status) but drops its entry;
- `sync_queue` (blob ID → empty): certified blobs this node may lack slivers of (certified
  while it did not hold them all, or a sliver dropped as corrupt), until blob sync finds them
  complete, so that catching up after a restart does not look at every blob.

A store written before the indexes existed gets them when it is opened. `scanned` counts the
entries that range scans visit, so that tests can check what a scan costs.

Data at rest can rot (a truncated file, a flipped bit): every sliver read is checked against
its checksum, and one that fails raises `CorruptSliverError` instead of being served. A store
written before checksums existed gets them when it is opened (the slivers in it were verified
against their metadata when they were stored).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmdb

from pywalrus.core.errors import CorruptSliverError
from pywalrus.core.types import BlobId, SliverType
from pywalrus.node import blob_info

_SLIVER_KEY = struct.Struct(">32sHB")
_BY_SHARD_KEY = struct.Struct(">H32sB")
_BY_END_EPOCH_KEY = struct.Struct(">I32s")
_CHECKSUM = struct.Struct("<I")
SLIVER_FORMAT = b"checksummed"
"""`meta` value of `sliver_format` once every stored sliver carries its checksum."""
INDEX_FORMAT = b"by_shard,by_end_epoch,sync_queue"
"""`meta` value of `indexes` once the indexes cover everything stored."""
MIGRATION_BATCH = 1000
"""Entries rewritten per write transaction when an old store is opened."""

SliverKey = tuple[BlobId, int, SliverType]


def sliver_key(blob_id: BlobId, shard: int, axis: SliverType) -> bytes:
    return _SLIVER_KEY.pack(blob_id.value, shard, axis)


def parse_sliver_key(key: bytes) -> SliverKey:
    blob, shard, axis = _SLIVER_KEY.unpack(key)
    return BlobId(blob), shard, SliverType(axis)


def _with_checksum(data: bytes) -> bytes:
    return _CHECKSUM.pack(zlib.crc32(data)) + data


def _checked(value: bytes) -> bytes | None:
    """The BCS sliver of a stored value, or None if it fails its checksum."""
    if len(value) < _CHECKSUM.size:
        return None
    data = value[_CHECKSUM.size :]
    return data if zlib.crc32(data) == _CHECKSUM.unpack_from(value)[0] else None


@dataclass(frozen=True)
class ScrubPage:
    """What one step of the scrub checked."""

    last: bytes | None
    """Key of the last sliver checked (the next step starts after it)."""
    checked: int
    """Bytes checked."""
    corrupt: list[SliverKey]
    """Slivers that failed their checksum."""
    done: bool
    """The end of the table was reached."""


@dataclass(frozen=True)
class Reclaimed:
    """The data of one blob removed by the garbage collector."""

    blob_id: BlobId
    kind: str
    """Why it was garbage: `expired`, `deleted`, `invalid` or `unregistered` (data without
    info)."""
    slivers: int
    bytes: int
    """Bytes of the values removed (slivers as stored, and the metadata)."""


@dataclass(frozen=True)
class GarbagePage:
    """What one bounded step of garbage collection removed."""

    reclaimed: list[Reclaimed] = field(default_factory=list)
    done: bool = True
    """No garbage is left for the epoch."""


@dataclass(frozen=True)
class ShardDrop:
    """What one bounded step of dropping a shard removed."""

    slivers: int
    bytes: int
    done: bool
    """The shard is gone, its record too."""


def _shard_key(shard: int) -> bytes:
    return shard.to_bytes(2, "big")


def _by_shard_key(sliver: bytes) -> bytes:
    """The `by_shard` key of a sliver key."""
    blob, shard, axis = _SLIVER_KEY.unpack(sliver)
    return _BY_SHARD_KEY.pack(shard, blob, axis)


def _end_epoch_key(blob_id: bytes, info: blob_info.BlobInfo | None) -> bytes:
    return _BY_END_EPOCH_KEY.pack(blob_info.garbage_epoch(info), blob_id)


class NodeStore:
    """Typed access to the node's LMDB environment."""

    def __init__(self, path: Path, map_size: int = 1 << 36, sync: bool = False) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(
            str(path), map_size=map_size, max_dbs=16, sync=sync, metasync=sync, writemap=False
        )
        self._metadata = self.env.open_db(b"metadata")
        self._slivers = self.env.open_db(b"slivers")
        self._blob_info = self.env.open_db(b"blob_info")
        self._meta = self.env.open_db(b"meta")
        self._shards = self.env.open_db(b"shards")
        self._by_shard = self.env.open_db(b"by_shard")
        self._by_end_epoch = self.env.open_db(b"by_end_epoch")
        self._sync_queue = self.env.open_db(b"sync_queue")
        self.scanned = 0
        """Entries visited by range scans since the store was opened."""
        if self.get_scalar("sliver_format") != SLIVER_FORMAT.decode():
            self._migrate(
                self._slivers,
                lambda txn, key, value: txn.put(key, _with_checksum(value), db=self._slivers),
                lambda txn: txn.put(b"sliver_format", SLIVER_FORMAT, db=self._meta),
            )
        if self.get_scalar("indexes") != INDEX_FORMAT.decode():
            self._build_indexes()

    def close(self) -> None:
        self.env.close()

    # Metadata and slivers ------------------------------------------------------------------

    def metadata(self, blob_id: BlobId) -> bytes | None:
        with self.env.begin(db=self._metadata) as txn:
            value = txn.get(blob_id.value)
            return bytes(value) if value is not None else None

    def has_metadata(self, blob_id: BlobId) -> bool:
        return self.metadata(blob_id) is not None

    def put_metadata(self, blob_id: BlobId, data: bytes) -> None:
        self.put_blob_data(blob_id, data, [])

    def sliver(self, blob_id: BlobId, shard: int, axis: SliverType) -> bytes | None:
        """A stored BCS sliver, None if absent; raises `CorruptSliverError` if it fails its
        checksum."""
        key = sliver_key(blob_id, shard, axis)
        with self.env.begin(db=self._slivers) as txn:
            value = txn.get(key)
        if value is None:
            return None
        data = _checked(value)
        if data is None:
            raise CorruptSliverError((blob_id, shard, axis), "it fails its checksum")
        return data

    def delete_sliver_if_corrupt(self, blob_id: BlobId, shard: int, axis: SliverType) -> bool:
        """Delete a sliver that (still) fails its checksum and queue its blob for blob sync;
        True if it was deleted."""
        key = sliver_key(blob_id, shard, axis)
        with self.env.begin(write=True) as txn:
            value = txn.get(key, db=self._slivers)
            if value is None or _checked(value) is not None:
                return False
            txn.delete(key, db=self._slivers)
            txn.delete(_by_shard_key(key), db=self._by_shard)
            txn.put(blob_id.value, b"", db=self._sync_queue)
            return True

    def scrub(self, after: bytes | None, max_bytes: int) -> ScrubPage:
        """Check the slivers stored after key `after` (from the first if None), in key
        order, until about `max_bytes` were read."""
        checked = 0
        corrupt: list[SliverKey] = []
        last = after
        with self.env.begin(db=self._slivers) as txn:
            cursor = txn.cursor()
            found = cursor.set_range(after + b"\0") if after is not None else cursor.first()
            while found and checked < max_bytes:
                key, value = cursor.item()
                if _checked(value) is None:
                    corrupt.append(parse_sliver_key(key))
                checked += len(value)
                last = bytes(key)
                found = cursor.next()
        return ScrubPage(last, checked, corrupt, not found)

    def has_sliver(self, blob_id: BlobId, shard: int, axis: SliverType) -> bool:
        with self.env.begin(db=self._slivers) as txn:
            return txn.get(sliver_key(blob_id, shard, axis)) is not None

    def put_sliver(self, blob_id: BlobId, shard: int, axis: SliverType, data: bytes) -> None:
        self.put_slivers(blob_id, [(shard, axis, data)])

    def put_slivers(self, blob_id: BlobId, slivers: list[tuple[int, SliverType, bytes]]) -> None:
        """Store (shard, axis, BCS sliver) entries of one blob in one transaction."""
        self.put_blob_data(blob_id, None, slivers)

    def put_blob_data(
        self,
        blob_id: BlobId,
        metadata: bytes | None,
        slivers: list[tuple[int, SliverType, bytes]],
    ) -> None:
        """Store a blob's metadata (if given) and slivers in one transaction."""
        with self.env.begin(write=True) as txn:
            if metadata is not None:
                txn.put(blob_id.value, metadata, db=self._metadata)
            for shard, axis, data in slivers:
                self._put_sliver(txn, sliver_key(blob_id, shard, axis), data)
            self._track(txn, blob_id.value)

    def put_shard_page(
        self,
        shard: int,
        axis: SliverType,
        slivers: list[tuple[BlobId, bytes]],
        state: dict[str, Any],
    ) -> None:
        """Store a page of a shard's slivers and the shard's new sync state in one transaction,
        so that a restart resumes exactly after the last page stored."""
        with self.env.begin(write=True) as txn:
            for blob_id, data in slivers:
                self._put_sliver(txn, sliver_key(blob_id, shard, axis), data)
                self._track(txn, blob_id.value)
            txn.put(_shard_key(shard), json.dumps(state).encode(), db=self._shards)

    def _put_sliver(self, txn: Any, key: bytes, data: bytes) -> None:
        txn.put(key, _with_checksum(data), db=self._slivers)
        txn.put(_by_shard_key(key), b"", db=self._by_shard)

    def _track(self, txn: Any, blob_id: bytes) -> None:
        """Make sure a blob that has data has its `by_end_epoch` entry: also data written
        after its blob stopped being registered (by an upload or a sync that raced the event)
        is found by the garbage collector."""
        txn.put(_end_epoch_key(blob_id, self._info_in(txn, blob_id)), b"", db=self._by_end_epoch)

    def _info_in(self, txn: Any, blob_id: bytes) -> blob_info.BlobInfo | None:
        value = txn.get(blob_id, db=self._blob_info)
        return json.loads(bytes(value)) if value is not None else None

    def delete_shard(self, shard: int, max_slivers: int | None = None) -> ShardDrop:
        """Delete up to `max_slivers` (default: all) slivers of one shard, found through
        `by_shard`, and with the last of them the shard's record (kept until then, so that
        a drop cut short by a crash is done again)."""
        slivers = size = 0
        prefix = _shard_key(shard)
        # Buffers: the sizes of the slivers are read, their bytes never copied.
        with self.env.begin(write=True, buffers=True) as txn:
            cursor = txn.cursor(db=self._by_shard)
            found = cursor.set_range(prefix)
            while found and cursor.key()[:2] == prefix:
                if max_slivers is not None and slivers >= max_slivers:
                    return ShardDrop(slivers, size, False)
                self.scanned += 1
                _, blob, axis = _BY_SHARD_KEY.unpack(cursor.key())
                key = _SLIVER_KEY.pack(blob, shard, axis)
                value = txn.get(key, db=self._slivers)
                if value is not None:
                    size += len(value)
                    txn.delete(key, db=self._slivers)
                slivers += 1
                found = cursor.delete()  # moves the cursor to the next entry
            txn.delete(prefix, db=self._shards)
        return ShardDrop(slivers, size, True)

    # Garbage collection --------------------------------------------------------------------

    def collect_garbage(self, epoch: int, max_blobs: int, max_slivers: int) -> GarbagePage:
        """Delete the data of blobs that are garbage at `epoch` (no registration live, or
        invalid), in `by_end_epoch` order, until `max_blobs` blobs or about `max_slivers`
        slivers (a blob is removed whole) were removed, in one transaction.

        With its data goes a blob's `by_end_epoch` entry, its `sync_queue` entry, and its info
        unless it is invalid (the info of an expired or deleted blob says nothing `status` would
        not say without it; an invalid one answers `invalid`)."""
        reclaimed: list[Reclaimed] = []
        slivers = 0
        limit = _BY_END_EPOCH_KEY.pack(epoch + 1, bytes(32))
        with self.env.begin(write=True, buffers=True) as txn:
            cursor = txn.cursor(db=self._by_end_epoch)
            cursor.first()
            # Deleting moves the cursor to the next entry (an empty key past the end).
            while (key := bytes(cursor.key())) and key < limit:
                if len(reclaimed) >= max_blobs or slivers >= max_slivers:
                    return GarbagePage(reclaimed, False)
                self.scanned += 1
                blob = key[4:]
                info = self._info_in(txn, blob)
                cursor.delete()
                if blob_info.garbage_epoch(info) > epoch:  # a stale entry: put it right
                    after = bytes(cursor.key())
                    txn.put(_end_epoch_key(blob, info), b"", db=self._by_end_epoch)
                    if not after or not cursor.set_range(after):
                        break
                    continue
                removed, size = self._delete_blob_data(txn, blob)
                txn.delete(blob, db=self._sync_queue)
                if info is not None and info["invalid"] is None:
                    txn.delete(blob, db=self._blob_info)
                reclaimed.append(
                    Reclaimed(BlobId(blob), blob_info.garbage_kind(info), removed, size)
                )
                slivers += removed
        return GarbagePage(reclaimed, True)

    def _delete_blob_data(self, txn: Any, blob: bytes) -> tuple[int, int]:
        """Delete a blob's metadata and slivers (they are keyed by blob ID first); returns
        (slivers, bytes)."""
        metadata = txn.pop(blob, db=self._metadata)
        size = len(metadata) if metadata is not None else 0
        removed = 0
        cursor = txn.cursor(db=self._slivers)
        found = cursor.set_range(blob)
        while found and cursor.key()[:32] == blob:
            self.scanned += 1
            size += len(cursor.value())
            txn.delete(_by_shard_key(bytes(cursor.key())), db=self._by_shard)
            removed += 1
            found = cursor.delete()
        return removed, size

    def live_blobs(self, epoch: int) -> list[tuple[BlobId, blob_info.BlobInfo]]:
        """Blobs with a registration live at `epoch` (or later), with their info, in blob-ID
        order: read from `by_end_epoch` after `epoch`, not from every blob's record."""
        out: list[tuple[BlobId, blob_info.BlobInfo]] = []
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self._by_end_epoch)
            found = cursor.set_range(_BY_END_EPOCH_KEY.pack(epoch + 1, bytes(32)))
            while found:
                self.scanned += 1
                blob = bytes(cursor.key()[4:])
                info = self._info_in(txn, blob)
                if info is not None:
                    out.append((BlobId(blob), info))
                found = cursor.next()
        out.sort(key=lambda item: item[0].value)
        return out

    # Blob sync queue -----------------------------------------------------------------------

    def sync_queue(self) -> list[BlobId]:
        """Blobs queued for blob sync (certified while this node lacked slivers of them)."""
        with self.env.begin(db=self._sync_queue) as txn:
            out = [BlobId(bytes(key)) for key in txn.cursor().iternext(keys=True, values=False)]
        self.scanned += len(out)
        return out

    def unqueue_sync(self, blob_ids: Iterable[BlobId]) -> None:
        """Take blobs that blob sync found complete (or no longer certified) off the queue."""
        with self.env.begin(write=True, db=self._sync_queue) as txn:
            for blob_id in blob_ids:
                txn.delete(blob_id.value)

    # Blob info and scalars -----------------------------------------------------------------

    def blob_info(self, blob_id: BlobId) -> dict[str, Any] | None:
        with self.env.begin(db=self._blob_info) as txn:
            value = txn.get(blob_id.value)
            return json.loads(bytes(value)) if value is not None else None

    def blob_infos(self, start: BlobId | None = None) -> Iterator[tuple[BlobId, dict[str, Any]]]:
        """Every blob's info in blob-ID (byte) order, from `start` on (inclusive)."""
        with self.env.begin(db=self._blob_info) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(start.value if start is not None else b""):
                return
            for key, value in cursor:
                self.scanned += 1
                yield BlobId(bytes(key)), json.loads(bytes(value))

    def apply_events(
        self,
        infos: dict[BlobId, dict[str, Any] | None],
        cursor: int,
        to_sync: Iterable[BlobId] = (),
    ) -> None:
        """Write updated blob infos (moving their `by_end_epoch` entries), the blobs to queue
        for blob sync and the new event cursor in one transaction."""
        with self.env.begin(write=True) as txn:
            for blob_id, info in infos.items():
                blob = blob_id.value
                txn.delete(_end_epoch_key(blob, self._info_in(txn, blob)), db=self._by_end_epoch)
                if info is None:
                    txn.delete(blob, db=self._blob_info)
                else:
                    txn.put(blob, json.dumps(info).encode(), db=self._blob_info)
                txn.put(_end_epoch_key(blob, info), b"", db=self._by_end_epoch)
            for blob_id in to_sync:
                txn.put(blob_id.value, b"", db=self._sync_queue)
            txn.put(b"event_cursor", str(cursor).encode(), db=self._meta)

    def event_cursor(self) -> int:
        with self.env.begin(db=self._meta) as txn:
            value = txn.get(b"event_cursor")
            return int(bytes(value)) if value is not None else -1

    def get_scalar(self, key: str) -> str | None:
        with self.env.begin(db=self._meta) as txn:
            value = txn.get(key.encode())
            return bytes(value).decode() if value is not None else None

    def put_scalar(self, key: str, value: str) -> None:
        with self.env.begin(write=True, db=self._meta) as txn:
            txn.put(key.encode(), value.encode())

    # Shard states --------------------------------------------------------------------------

    def shard_states(self) -> dict[int, dict[str, Any]]:
        """Shard index → JSON state of every shard this node has a record of."""
        with self.env.begin(db=self._shards) as txn:
            return {
                int.from_bytes(bytes(key), "big"): json.loads(bytes(value))
                for key, value in txn.cursor()
            }

    def put_shard_states(self, states: dict[int, dict[str, Any] | None]) -> None:
        """Write (or, for None, delete) several shard states in one transaction."""
        with self.env.begin(write=True, db=self._shards) as txn:
            for shard, state in states.items():
                if state is None:
                    txn.delete(_shard_key(shard))
                else:
                    txn.put(_shard_key(shard), json.dumps(state).encode())

    def counts(self) -> dict[str, int]:
        """Entries per table (from LMDB's own statistics: no scan)."""
        tables = {
            "metadata": self._metadata,
            "slivers": self._slivers,
            "blob_info": self._blob_info,
            "by_shard": self._by_shard,
            "by_end_epoch": self._by_end_epoch,
            "sync_queue": self._sync_queue,
        }
        with self.env.begin() as txn:
            return {name: int(txn.stat(db)["entries"]) for name, db in tables.items()}

    # Upgrades of stores written by earlier versions ----------------------------------------

    def _build_indexes(self) -> None:
        """Index a store written before the indexes existed (once; a crash midway starts
        over, since every step is idempotent): every sliver by shard, every blob with data or
        info by the epoch its data becomes garbage, every certified blob in the sync queue
        (the first catch-up takes off those complete or expired)."""
        last: list[bytes] = [b""]

        def sliver(txn: Any, key: bytes, _value: bytes) -> None:
            txn.put(_by_shard_key(key), b"", db=self._by_shard)
            if key[:32] != last[0]:  # slivers come grouped by blob
                last[0] = key[:32]
                self._track(txn, key[:32])

        def info(txn: Any, key: bytes, value: bytes) -> None:
            self._track(txn, key)
            if blob_info.is_certified(json.loads(value), 0):  # certified at any epoch
                txn.put(key, b"", db=self._sync_queue)

        self._migrate(self._slivers, sliver, values=False)
        self._migrate(self._metadata, lambda txn, key, _value: self._track(txn, key), values=False)
        self._migrate(
            self._blob_info,
            info,
            lambda txn: txn.put(b"indexes", INDEX_FORMAT, db=self._meta),
        )

    def _migrate(
        self,
        db: Any,
        apply: Callable[[Any, bytes, bytes], None],
        finish: Callable[[Any], None] | None = None,
        values: bool = True,
    ) -> None:
        """`apply(txn, key, value)` to every entry of table `db`, `MIGRATION_BATCH` entries
        per write transaction; `finish(txn)` in the transaction of the last batch (so that a
        marker of a non-idempotent rewrite lands with its last step)."""
        after: bytes | None = None
        while True:
            with self.env.begin(db=db) as txn:
                cursor = txn.cursor()
                found = cursor.set_range(after + b"\0") if after is not None else cursor.first()
                batch: list[tuple[bytes, bytes]] = []
                while found and len(batch) < MIGRATION_BATCH:
                    value = bytes(cursor.value()) if values else b""
                    batch.append((bytes(cursor.key()), value))
                    found = cursor.next()
            with self.env.begin(write=True) as txn:
                for key, value in batch:
                    apply(txn, key, value)
                if not found:
                    if finish is not None:
                        finish(txn)
                    return
            after = batch[-1][0]

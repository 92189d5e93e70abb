"""The node's on-disk store: LMDB with one named database per table.

Tables: `metadata` (blob ID → BCS metadata), `slivers` (blob ID ‖ shard ‖ axis → CRC-32 of the
BCS sliver, 4 bytes little-endian, ‖ BCS sliver),
`blob_info` (blob ID → JSON of what the chain says about the blob), `shards` (shard index →
JSON of its status and sync progress, see `shard_state`) and `meta` (event cursor and other
scalars). Each acknowledged write is one committed LMDB transaction; a committed
transaction survives a SIGKILL of the process (it is in the page cache), and `sync=True`
in the config makes it survive power loss too. Writes go through one thread (LMDB allows one
writer at a time).

Data at rest can rot (a truncated file, a flipped bit): every sliver read is checked against
its checksum, and one that fails raises `CorruptSliverError` instead of being served. A store
written before checksums existed gets them when it is opened (the slivers in it were verified
against their metadata when they were stored).
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb

from pywalrus.core.errors import CorruptSliverError
from pywalrus.core.types import BlobId, SliverType

_SLIVER_KEY = struct.Struct(">32sHB")
_CHECKSUM = struct.Struct("<I")
SLIVER_FORMAT = b"checksummed"
"""`meta` value of `sliver_format` once every stored sliver carries its checksum."""
MIGRATION_BATCH = 1000
"""Slivers given their checksum per write transaction when an old store is opened."""

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


def _shard_key(shard: int) -> bytes:
    return shard.to_bytes(2, "big")


class NodeStore:
    """Typed access to the node's LMDB environment."""

    def __init__(self, path: Path, map_size: int = 1 << 36, sync: bool = False) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(
            str(path), map_size=map_size, max_dbs=8, sync=sync, metasync=sync, writemap=False
        )
        self._metadata = self.env.open_db(b"metadata")
        self._slivers = self.env.open_db(b"slivers")
        self._blob_info = self.env.open_db(b"blob_info")
        self._meta = self.env.open_db(b"meta")
        self._shards = self.env.open_db(b"shards")
        if self.get_scalar("sliver_format") != SLIVER_FORMAT.decode():
            self._add_checksums()

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
        with self.env.begin(write=True, db=self._metadata) as txn:
            txn.put(blob_id.value, data)

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
        """Delete a sliver that (still) fails its checksum; True if it was deleted."""
        key = sliver_key(blob_id, shard, axis)
        with self.env.begin(write=True, db=self._slivers) as txn:
            value = txn.get(key)
            if value is None or _checked(value) is not None:
                return False
            return bool(txn.delete(key))

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

    def _add_checksums(self) -> None:
        """Give every sliver of a store from before checksums its checksum (once)."""
        after: bytes | None = None
        while True:
            with self.env.begin(db=self._slivers) as txn:
                cursor = txn.cursor()
                found = cursor.set_range(after + b"\0") if after is not None else cursor.first()
                batch: list[tuple[bytes, bytes]] = []
                while found and len(batch) < MIGRATION_BATCH:
                    batch.append((bytes(cursor.key()), bytes(cursor.value())))
                    found = cursor.next()
            with self.env.begin(write=True) as txn:
                for key, value in batch:
                    txn.put(key, _with_checksum(value), db=self._slivers)
                if not found:
                    txn.put(b"sliver_format", SLIVER_FORMAT, db=self._meta)
                    return
            after = batch[-1][0]

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
                txn.put(sliver_key(blob_id, shard, axis), _with_checksum(data), db=self._slivers)

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
                txn.put(sliver_key(blob_id, shard, axis), _with_checksum(data), db=self._slivers)
            txn.put(_shard_key(shard), json.dumps(state).encode(), db=self._shards)

    def delete_shard(self, shard: int) -> int:
        """Delete every sliver of one shard and its state; returns how many slivers.

        Slivers are keyed by blob ID first, so this scans the keys of the sliver table.
        """
        removed = 0
        with self.env.begin(write=True) as txn:
            txn.delete(_shard_key(shard), db=self._shards)
            cursor = txn.cursor(db=self._slivers)
            doomed = [
                bytes(key)
                for key in cursor.iternext(keys=True, values=False)
                if _SLIVER_KEY.unpack(key)[1] == shard
            ]
            for key in doomed:
                txn.delete(key, db=self._slivers)
                removed += 1
        return removed

    def delete_blob_data(self, blob_id: BlobId) -> int:
        """Delete the metadata and every sliver of a blob; returns how many slivers."""
        removed = 0
        with self.env.begin(write=True) as txn:
            txn.delete(blob_id.value, db=self._metadata)
            cursor = txn.cursor(db=self._slivers)
            if cursor.set_range(blob_id.value):
                # Deleting moves the cursor to the next entry (an empty key past the end).
                while cursor.key()[:32] == blob_id.value and cursor.delete():
                    removed += 1
        return removed

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
                yield BlobId(bytes(key)), json.loads(bytes(value))

    def apply_events(self, infos: dict[BlobId, dict[str, Any] | None], cursor: int) -> None:
        """Write updated blob infos and the new event cursor in one transaction."""
        with self.env.begin(write=True) as txn:
            for blob_id, info in infos.items():
                if info is None:
                    txn.delete(blob_id.value, db=self._blob_info)
                else:
                    txn.put(blob_id.value, json.dumps(info).encode(), db=self._blob_info)
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
        return {
            "metadata": self._count(self._metadata),
            "slivers": self._count(self._slivers),
            "blob_info": self._count(self._blob_info),
        }

    def _count(self, db: Any) -> int:
        with self.env.begin(db=db) as txn:
            return int(txn.stat(db)["entries"])

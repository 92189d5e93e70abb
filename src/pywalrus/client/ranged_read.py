"""Reading a blob piece by piece: byte ranges from the few slivers that hold them, and whole
blobs as streams that start before the last sliver has arrived.

The blob fills the message matrix row by row, so systematic primary sliver r is bytes
`[r·C·s, (r+1)·C·s)` of the blob (`core.ranges`). A read asks for those rows only, in order,
with a bounded window of them in flight, verifies each against the (verified) metadata, and
hands the asked bytes of each row on as soon as it and the rows before it are verified: the
first byte leaves after one sliver, and memory stays at the window, not the blob.

A row that no node serves in a verifiable form (node down, sliver corrupt) switches the read
to decoding: it gathers R verified primary slivers (the systematic rows it can get, then
others), decodes the matrix, runs the default consistency check, and goes on from the missing
row. Nothing unverified is ever handed on; if even decoding is impossible, the stream raises
(`NotEnoughSlivers`, `BlobNotFound`) after the bytes already sent, which were all correct.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import deque
from collections.abc import AsyncGenerator, Iterable
from itertools import islice

from pywalrus.client.cache import ByteLru
from pywalrus.client.client import WalrusClient, lacks_route
from pywalrus.core.config import is_quorum
from pywalrus.core.decoding import (
    ConsistencyCheck,
    check_consistency,
    check_padding_rows,
    decode_matrix,
)
from pywalrus.core.errors import BlobNotFound, NodeError, NotEnoughSlivers, WalrusError
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.ranges import ByteRange, RowSpan, row_span
from pywalrus.core.slivers import Sliver, decode_sliver_batch, verify_slivers
from pywalrus.core.types import BlobId, SliverPairIndex, SliverType
from pywalrus.network.committee import CommitteeView, NodeMember
from pywalrus.network.fetch import NOT_STORED, fetch_verified_metadata

BYTES_IN_FLIGHT = 16 * 1024 * 1024
"""Default bound on the sliver bytes a read has requested but not yet handed on."""
CHUNK_BYTES = 1024 * 1024
"""Small slivers are fetched in chunks of rows of about this size: one request per node."""
SMALL_SLIVER = 1 << 18
"""Slivers below this size are fetched in batches and verified together; larger ones one by
one, each as it arrives."""
TIMEOUT_S = 5.0
RATE = 4 * 1024 * 1024
"""A sliver request may take TIMEOUT_S plus its bytes at RATE bytes/s."""
VERIFY_THREADS = max(1, min(4, os.cpu_count() or 1))
METADATA_CACHE_BYTES = 16 * 1024 * 1024
METADATA_TTL_S = 60.0


class BlobReader:
    """Ranged and streamed reads through `client` (its committee view, node sessions)."""

    def __init__(
        self,
        client: WalrusClient,
        bytes_in_flight: int = BYTES_IN_FLIGHT,
        metadata_ttl_s: float = METADATA_TTL_S,
    ) -> None:
        self.client = client
        self.bytes_in_flight = bytes_in_flight
        self._metadata: ByteLru[BlobId, BlobMetadata] = ByteLru(
            METADATA_CACHE_BYTES, lambda m: 64 * m.n_shards + 64, metadata_ttl_s
        )
        self._no_batch_route: set[str] = set()
        """Nodes that lack the sliver batch route (upstream nodes)."""
        self.verifying = asyncio.Semaphore(VERIFY_THREADS)
        """Large slivers checked at once: each check expands its sliver to n symbols, so
        this bounds the transient memory of reads, not only their CPU."""

    async def metadata(self, blob_id: BlobId) -> BlobMetadata:
        """The blob's metadata, verified against its ID (kept a while: it cannot change);
        `BlobNotFound` if nodes holding f + 1 shards do not store it."""
        cached = self._metadata.get(blob_id)
        if cached is not None:
            return cached
        committee = await self.client.committee()
        config = committee.encoding
        timeout = TIMEOUT_S + config.metadata_length * config.n_shards / RATE
        metadata = await fetch_verified_metadata(
            committee, blob_id, self.client.node, timeout=timeout
        )
        self._metadata.put(blob_id, metadata)
        return metadata

    async def read_range(self, blob_id: BlobId, byte_range: ByteRange) -> bytes:
        """Bytes `byte_range` of the blob, from the slivers holding them."""
        metadata = await self.metadata(blob_id)
        parts = [bytes(p) async for p in self.stream(blob_id, metadata, byte_range)]
        return b"".join(parts)

    async def stream(
        self,
        blob_id: BlobId,
        metadata: BlobMetadata,
        byte_range: ByteRange | None = None,
        check: ConsistencyCheck = ConsistencyCheck.DEFAULT,
    ) -> AsyncGenerator[memoryview, None]:
        """The blob's bytes (those of `byte_range` if given), verified, in order, as they
        arrive. A whole read (no range) also checks the padding rows it does not fetch
        (`check_padding_rows`) unless `check` is SKIP; STRICT is not a streaming check (read
        the whole blob with `WalrusClient.read` for it)."""
        if check is ConsistencyCheck.STRICT:
            raise ValueError("the strict consistency check needs the whole blob")
        size = metadata.unencoded_length
        wanted = byte_range or ByteRange(0, size)
        config = metadata.config()
        span = row_span(wanted, config.sliver_size(SliverType.PRIMARY, size))
        if byte_range is None and check is ConsistencyCheck.DEFAULT:
            await asyncio.to_thread(check_padding_rows, metadata, blob_id, span.stop)
        if not span.rows:
            return
        fetch = _Fetch(self, await self.client.committee(), blob_id, metadata)
        chunks = iter(_chunks(span.rows, span.row_bytes))
        window = max(2, self.bytes_in_flight // max(CHUNK_BYTES, span.row_bytes))
        pending: deque[tuple[list[int], asyncio.Task[dict[int, Sliver]]]] = deque()

        def launch() -> None:
            for chunk in islice(chunks, window - len(pending)):
                pending.append((chunk, asyncio.create_task(fetch.rows(chunk))))

        try:
            launch()
            while pending:
                chunk, task = pending.popleft()
                got = await task
                launch()
                for position, row in enumerate(chunk):
                    sliver = got.pop(row, None)
                    if sliver is None:
                        held = dict(got)
                        for _, later in pending:
                            held.update(await later)
                        pending.clear()
                        tried = set(chunk[position:]) | set(range(span.first, row))
                        async for part in fetch.decoded(span, row, held, tried, check):
                            yield part
                        return
                    lo, hi = span.slice_of(row)
                    yield memoryview(sliver.data)[lo:hi]
        finally:
            for _, task in pending:
                task.cancel()
            for _, task in pending:
                with contextlib.suppress(asyncio.CancelledError, WalrusError):
                    await task


def _chunks(rows: Iterable[int], row_bytes: int) -> list[list[int]]:
    """Rows in order, grouped so that a group of small rows is about CHUNK_BYTES."""
    per_chunk = max(1, CHUNK_BYTES // row_bytes) if row_bytes < SMALL_SLIVER else 1
    rows = list(rows)
    return [rows[i : i + per_chunk] for i in range(0, len(rows), per_chunk)]


class _Fetch:
    """The verified primary slivers of one blob, fetched for one read."""

    def __init__(
        self,
        reader: BlobReader,
        committee: CommitteeView,
        blob_id: BlobId,
        metadata: BlobMetadata,
    ) -> None:
        self.reader = reader
        self.committee = committee
        self.blob_id = blob_id
        self.metadata = metadata
        self.config = metadata.config()
        self.sliver_size = self.config.sliver_size(SliverType.PRIMARY, metadata.unencoded_length)
        self.small = self.sliver_size < SMALL_SLIVER
        self.timeout = TIMEOUT_S + self.sliver_size / RATE
        self.slow: set[str] = set()
        """Nodes that did not answer in time: asked no more during this read."""
        self.not_found = 0
        """Pairs whose every owner answered "not stored"."""
        self.limit = asyncio.Semaphore(max(4, reader.bytes_in_flight // self.sliver_size))

    async def rows(self, pairs: list[int]) -> dict[int, Sliver]:
        """The pairs' primary slivers that could be fetched and verified, by pair."""
        if not self.small:
            got = await asyncio.gather(*(self._one(p, verify=True) for p in pairs))
            return {p: s for p, s in zip(pairs, got, strict=True) if s is not None}
        by_owner: dict[str, tuple[NodeMember, list[int]]] = {}
        for pair in pairs:
            owner = self.committee.owner(self._shard(pair))
            by_owner.setdefault(owner.url, (owner, []))[1].append(pair)
        answers = await asyncio.gather(*(self._batch(m, ps) for m, ps in by_owner.values()))
        found = {int(s.index): s for answer in answers for s in answer}
        rest = [p for p in pairs if p not in found]
        for pair, sliver in zip(
            rest, await asyncio.gather(*(self._one(p, verify=False) for p in rest)), strict=True
        ):
            if sliver is not None:
                found[pair] = sliver
        candidates = list(found.values())
        valid = verify_slivers(candidates, self.metadata)
        return {int(s.index): s for s, ok in zip(candidates, valid, strict=True) if ok}

    def _shard(self, pair: int) -> int:
        return self.config.shard_for_pair(SliverPairIndex(pair), self.blob_id)

    async def _one(self, pair: int, verify: bool) -> Sliver | None:
        """The pair's primary sliver from the first owner (its shard's owner, then the
        previous one during an epoch change) that serves it, verified if `verify`."""
        owners = self.committee.read_owners(self._shard(pair))
        missing = 0
        async with self.limit:
            for member in owners:
                if member.url in self.slow:
                    continue
                try:
                    sliver = await self.reader.client.node(member).read_sliver(
                        self.blob_id, pair, SliverType.PRIMARY, self.sliver_size, self.timeout
                    )
                    if sliver.index != pair:
                        continue
                    if verify:
                        async with self.reader.verifying:
                            await asyncio.to_thread(sliver.verify, self.metadata)
                    return sliver
                except NodeError as exc:
                    missing += exc.status in NOT_STORED
                    if exc.reason == "TIMEOUT":
                        self.slow.add(member.url)
                except WalrusError:
                    continue  # malformed or failing verification: this node's answer is void
        if missing == len(owners):
            self.not_found += 1
        return None

    async def _batch(self, member: NodeMember, pairs: list[int]) -> list[Sliver]:
        """Small primary slivers from one node in one request (unverified); what it lacks or
        cannot send it omits."""
        if member.url in self.reader._no_batch_route or member.url in self.slow:
            return []
        try:
            async with self.limit:
                data = await self.reader.client.node(member).get_slivers(
                    self.blob_id,
                    SliverType.PRIMARY,
                    pairs,
                    self.timeout + len(pairs) * self.sliver_size / RATE,
                )
            batch = decode_sliver_batch(data)
        except NodeError as exc:
            if lacks_route(exc):
                self.reader._no_batch_route.add(member.url)
            if exc.reason == "TIMEOUT":
                self.slow.add(member.url)
            return []
        except WalrusError:
            return []
        wanted = set(pairs)
        return [
            s for p, s in batch if p in wanted and s.axis is SliverType.PRIMARY and s.index == p
        ]

    async def decoded(
        self,
        span: RowSpan,
        start_row: int,
        held: dict[int, Sliver],
        tried: set[int],
        check: ConsistencyCheck,
    ) -> AsyncGenerator[memoryview, None]:
        """Rows `start_row`… of `span` decoded from R verified primary slivers: `held`, then
        systematic ones not `tried` yet, then the others in random order."""
        needed = self.config.n_primary_source_symbols
        systematic = [p for p in range(needed) if p not in held and p not in tried]
        others = list(range(needed, self.config.n_shards))
        random.shuffle(others)
        queue = [*systematic, *others]
        position = 0
        while len(held) < needed and position < len(queue):
            batch = queue[position : position + needed - len(held)]
            position += len(batch)
            for chunk in _chunks(batch, self.sliver_size):
                held.update(await self.rows(chunk))
        if len(held) < needed:
            if is_quorum(self.not_found, self.config.n_shards):
                raise BlobNotFound(f"blob {self.blob_id} does not exist or has expired")
            raise NotEnoughSlivers(
                f"only {len(held)} of the {needed} primary slivers needed could be verified"
            )
        slivers = [held[p] for p in sorted(held)][:needed]
        held.clear()
        matrix = await asyncio.to_thread(decode_matrix, slivers, SliverType.PRIMARY, self.metadata)
        if check is not ConsistencyCheck.SKIP:
            received = [int(s.index) for s in slivers]
            await asyncio.to_thread(
                check_consistency, matrix, self.metadata, self.blob_id, received
            )
        del slivers
        for row in range(start_row, span.stop):
            lo, hi = span.slice_of(row)
            yield matrix[row].reshape(-1)[lo:hi].data

"""Hostile clients of a storage node, for the fault suite and the liveness benchmark.

Each attack runs against one node's URL from a loopback address of its own (127.0.0.2 by
default, so that the node's per-address limits apply to it and not to the honest clients and
peers on 127.0.0.1) and returns what the node answered, for the caller to judge:

- `slowloris_headers`: request heads that never end, a header line every 0.25 s;
- `oversized_body`: `Content-Length: 10^15` followed by 10 bytes;
- `idle_connections`: connections that never send anything;
- `slow_bodies`: 4 MiB bodies sent but for their last byte;
- `pending_flood`: valid uploads (`?pending=true`) of blobs nobody registers;

and `inconsistent_encoding`, the slivers of a lying writer (for tests of invalid blobs).

Only for networks you run yourself.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import EncodedBlob, encode_blob, metadata_from_hashes
from pywalrus.core.slivers import encode_sliver_batch, sliver_roots
from pywalrus.core.types import BlobId, ShardIndex
from pywalrus.network import routes

PENDING = {"pending": "true"}
ATTACKER = "127.0.0.2"


@dataclass(frozen=True)
class Answer:
    """What a node sent on one connection before closing it, and when it closed it."""

    data: bytes
    """Everything received (empty: closed without an answer)."""
    seconds: float
    """From the start of the attack until the node closed the connection."""

    @property
    def status(self) -> int | None:
        """The HTTP status of the answer, if any."""
        if not self.data.startswith(b"HTTP/1.1 "):
            return None
        return int(self.data[9:12])


def peak_rss_mb(pid: int) -> float:
    """A process' peak resident set (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no VmHWM for process {pid}")


async def connect(
    url: str, source: str = ATTACKER
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    return await asyncio.open_connection(host, int(port), local_addr=(source, 0))


async def until_closed(reader: asyncio.StreamReader, since: float, timeout: float) -> Answer:
    """Read until the node closes (or resets) the connection; TimeoutError if it does not in
    time."""
    data = b""
    async with asyncio.timeout(timeout):
        try:
            while chunk := await reader.read(65536):
                data += chunk
        except ConnectionResetError:
            pass  # closed while our bytes were still unread: a reset instead of a FIN
    return Answer(data, time.monotonic() - since)


def put_head(length: int) -> bytes:
    """The head of a sliver batch upload announcing `length` bytes."""
    return (
        f"PUT /v1/blobs/{'A' * 43}/slivers HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def slowloris_headers(
    url: str, count: int = 50, timeout: float = 30, source: str = ATTACKER
) -> list[Answer]:
    since = time.monotonic()
    conns = [await connect(url, source) for _ in range(count)]

    async def trickle(writer: asyncio.StreamWriter) -> None:
        writer.write(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        for i in range(int(timeout * 4)):
            await asyncio.sleep(0.25)
            if writer.is_closing() or writer.transport.get_extra_info("socket") is None:
                return
            writer.write(b"X-%d: y\r\n" % i)

    trickles = [asyncio.create_task(trickle(w)) for _, w in conns]
    try:
        return [await until_closed(reader, since, timeout) for reader, _ in conns]
    finally:
        for task in trickles:
            task.cancel()


async def oversized_body(url: str, timeout: float = 30, source: str = ATTACKER) -> Answer:
    since = time.monotonic()
    reader, writer = await connect(url, source)
    writer.write(put_head(10**15) + b"0123456789")
    return await until_closed(reader, since, timeout)


async def idle_connections(
    url: str, count: int = 300, timeout: float = 30, source: str = ATTACKER
) -> list[Answer]:
    since = time.monotonic()
    conns = [await connect(url, source) for _ in range(count)]
    return list(await asyncio.gather(*(until_closed(r, since, timeout) for r, _ in conns)))


async def slow_bodies(
    url: str, count: int = 50, size: int = 4 << 20, timeout: float = 60, source: str = ATTACKER
) -> list[Answer]:
    since = time.monotonic()
    conns = [await connect(url, source) for _ in range(count)]
    for _, writer in conns:
        writer.write(put_head(size) + b"\0" * (size - 1))
    return list(await asyncio.gather(*(until_closed(r, since, timeout) for r, _ in conns)))


async def pending_flood(
    url: str,
    shards: tuple[int, ...],
    config: EncodingConfig,
    blobs: int = 12,
    size: int = 4 << 20,
    source: str = ATTACKER,
) -> tuple[list[tuple[int, int]], list[BlobId]]:
    """Upload metadata and the node's slivers of `blobs` random blobs with `pending=true`;
    returns (HTTP status, bytes sent) of each request (two per blob) and the blob IDs."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    statuses: list[tuple[int, int]] = []
    blob_ids: list[BlobId] = []
    base = url.rstrip("/")
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(blobs):
            encoded = encode_blob(random.randbytes(size), config)
            blob_ids.append(encoded.blob_id)
            pairs = [int(config.pair_for_shard(ShardIndex(s), encoded.blob_id)) for s in shards]
            batch = encode_sliver_batch(
                [(p, encoded.primary_sliver(p)) for p in pairs]
                + [(p, encoded.secondary_sliver(config.n_shards - 1 - p)) for p in pairs]
            )
            metadata = encoded.metadata.to_bcs()
            url_metadata = base + routes.metadata(encoded.blob_id)
            async with session.put(url_metadata, params=PENDING, data=metadata) as response:
                statuses.append((response.status, len(metadata)))
            url_slivers = base + routes.slivers(encoded.blob_id)
            async with session.put(url_slivers, params=PENDING, data=batch) as response:
                statuses.append((response.status, len(batch)))
    return statuses, blob_ids


def inconsistent_encoding(data: bytes, config: EncodingConfig, bad_row: int) -> EncodedBlob:
    """A lying writer's encoding of `data`: primary sliver `bad_row` has one byte changed and
    every sliver is hashed as it is, so each verifies against the metadata on its own (nodes
    store and confirm them), but the blob is inconsistent: recovering that sliver from the
    other axis' symbols gives the honest one, whose hash the metadata disowns."""
    n = config.n_shards
    honest = encode_blob(data, config)
    primary = honest.primary.copy()
    primary[bad_row, 0, 0] ^= 0xFF
    primary_hashes = sliver_roots(primary, n)
    secondary_hashes = sliver_roots(np.ascontiguousarray(honest.secondary.transpose(1, 0, 2)), n)
    metadata = metadata_from_hashes(primary_hashes, secondary_hashes, len(data))
    rows, cols = config.n_primary_source_symbols, config.n_secondary_source_symbols
    return EncodedBlob(
        config,
        metadata,
        metadata.blob_id(),
        primary,
        honest.secondary_recovery,
        secondary_systematic=honest.primary[:rows, :cols],
    )

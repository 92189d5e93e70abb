"""The main job: a local Walrus network that stores and reads a blob.

Starts (or restarts) a testbed in `.walrus-local/` — the chain, 7 storage nodes holding
100 shards and a client daemon (HTTP aggregator) — stores a sample file on it, reads it back
from the nodes and over HTTP from the daemon, checks the bytes, and prints the blob ID and how
to keep using the network (a `curl` line among them).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import urllib.request
from pathlib import Path

from pywalrus.client.client import StoreOptions, WalrusClient
from pywalrus.client.config import ClientConfig
from pywalrus.core.types import BlobId
from pywalrus.testbed import local


async def round_trip(config: ClientConfig, data: bytes) -> tuple[BlobId, float, float]:
    async with WalrusClient(config) as client:
        start = time.perf_counter()
        result = await client.store(data, StoreOptions(epochs=5, force=True))
        stored = time.perf_counter() - start
        blob_id = BlobId.parse(result["newlyCreated"]["blobObject"]["blobId"])
        start = time.perf_counter()
        back = await client.read(blob_id)
        read = time.perf_counter() - start
    if back != data:
        raise SystemExit("error: the bytes read back differ from the bytes stored")
    return blob_id, stored, read


def next_steps(
    walrus: Path, directory: Path, blob_id: BlobId, aggregator: str | None = None
) -> list[str]:
    """Commands to keep using the network, each one that works as printed (a blob ID may
    start with `-`, which `walrus read` takes as upstream's does)."""
    http = [f"curl -s {aggregator}v1/blobs/{blob_id} -o copy.bin"] if aggregator else []
    return [
        f"export WALRUS_CONFIG={directory / 'client_config.yaml'}",
        f"{walrus} store FILE --epochs 3",
        f"{walrus} read {blob_id} --out copy.bin",
        *http,
        f"{walrus} info          # epoch, storage, sizes, prices",
        f"{walrus} testbed status --dir {directory}",
        f"{walrus} testbed down --dir {directory}",
    ]


def http_read(aggregator: str, blob_id: BlobId) -> bytes:
    """The blob as `curl` gets it from the daemon's aggregator."""
    with urllib.request.urlopen(f"{aggregator}v1/blobs/{blob_id}", timeout=60) as response:
        body: bytes = response.read()
        return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", nargs="?", type=Path, help="file to store (default: a sample)")
    parser.add_argument("--dir", type=Path, default=Path(".walrus-local"))
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--shards", type=int, default=100)
    args = parser.parse_args(argv)
    directory = args.dir.resolve()
    print(f"starting a local network in {directory} ({args.nodes} nodes, {args.shards} shards) …")
    local.up(directory, args.nodes, args.shards)
    data = args.file.read_bytes() if args.file else random.randbytes(4 * 1024 * 1024)
    name = str(args.file) if args.file else "a 4 MiB sample"
    config = ClientConfig.load(directory / "client_config.yaml")
    blob_id, stored, read = asyncio.run(round_trip(config, data))
    print(f"stored {name} in {stored:.2f} s and read it back in {read:.2f} s: bytes match")
    aggregator = next((m.url for m in local.load_members(directory) if m.role == "daemon"), None)
    if aggregator is not None:
        start = time.perf_counter()
        if http_read(aggregator, blob_id) != data:
            raise SystemExit("error: the bytes the aggregator served differ from those stored")
        print(f"read it over HTTP from {aggregator} in {time.perf_counter() - start:.2f} s")
    print(f"blob ID: {blob_id}")
    print("\nThe network keeps running. Try:")
    walrus = Path(sys.executable).parent / "walrus"
    for line in next_steps(walrus, directory, blob_id, aggregator):
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

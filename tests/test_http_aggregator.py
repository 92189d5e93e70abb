"""The aggregator over real HTTP (issue 11): the testbed's own daemon process and a `walrus
aggregator` process started here, in front of a testbed of real processes (7 nodes, 150
shards, so that a 256 MiB blob fits: n = 100 stops at 142 MiB).

What must hold: GET returns the stored bytes (0 B to 20 MiB, stored by the SDK and by the
CLI); ranges equal the file's slices and fetch only the slivers holding them; 416, 304
without asking nodes, HEAD from metadata; attribute headers by object ID; a browser loads an
aggregator URL; with f shards' worth of nodes down, or lying, every blob still reads
correctly, and with too many lying nodes a stream stops short rather than send a wrong byte;
bad requests get upstream's statuses as one-line JSON and the daemon keeps serving; a 256 MiB
stream keeps the aggregator's memory bounded; SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import shutil
import signal
import struct
import subprocess
import zlib
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from pywalrus.client.client import StoreOptions
from pywalrus.core.config import EncodingConfig, max_n_faulty
from pywalrus.core.types import BlobId, SliverPairIndex, SliverType
from pywalrus.testbed.ports import free_ports
from pywalrus.testbed.process import aggregator_process
from testbed_harness import (
    Network,
    all_slivers_stored,
    node_metric,
    running_testbed,
    wait_for,
    walrus,
)

SHARDS = 150
SIZES = {"empty": 0, "one": 1, "small": 10 * 1024, "1mib": 1 << 20, "20mib": 20 << 20}
MiB = 1 << 20


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_testbed(
        tmp_path_factory.mktemp("http-agg"), nodes=7, shards=SHARDS, daemon=True
    )


@pytest.fixture(scope="module")
def daemon(network: Network) -> str:
    (url,) = [m.url for m in network.members() if m.role == "daemon"]
    return url


class Stored:
    """A blob on the testbed: its ID, bytes and Blob object ID."""

    def __init__(self, blob_id: BlobId, data: bytes, object_id: str) -> None:
        self.blob_id = blob_id
        self.data = data
        self.object_id = object_id


async def _store(network: Network, data: bytes) -> Stored:
    async with network.client() as client:
        result = await client.store(data, StoreOptions(epochs=3, force=True))
    blob = result["newlyCreated"]["blobObject"]
    return Stored(BlobId.parse(blob["blobId"]), data, blob["id"])


@pytest.fixture(scope="module")
def blobs(network: Network, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Stored]:
    """The blobs of SIZES stored with the SDK, and `cli` (2 MiB) with `walrus store`; every
    node holds its slivers before the tests count requests."""
    rng = random.Random(11)
    stored = {
        name: asyncio.run(_store(network, rng.randbytes(size))) for name, size in SIZES.items()
    }
    path = tmp_path_factory.mktemp("cli-file") / "file.bin"
    path.write_bytes(rng.randbytes(2 * MiB))
    result = walrus(
        "store", str(path), "--epochs", "3", "--json", "--config", str(network.config_path)
    )
    assert result.returncode == 0, result.stderr.decode()
    blob = json.loads(result.stdout)[0]["blobStoreResult"]["newlyCreated"]["blobObject"]
    stored["cli"] = Stored(BlobId.parse(blob["blobId"]), path.read_bytes(), blob["id"])
    committee = asyncio.run(network.committee())
    asyncio.run(all_slivers_stored(committee, [s.blob_id for s in stored.values()]))
    return stored


async def get(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, CIMultiDict[str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, **kwargs) as response,
    ):
        return response.status, CIMultiDict(response.headers), await response.read()


async def blob_requests(network: Network, route: str = "slivers") -> float:
    """GETs of sliver routes (single and batch), or of the metadata route, over all nodes."""
    routes = {
        "slivers": (
            "/v1/blobs/{blob_id}/slivers/{pair}/{sliver_type}",
            "/v1/blobs/{blob_id}/slivers",
        ),
        "metadata": ("/v1/blobs/{blob_id}/metadata",),
    }[route]
    total = 0.0
    for member in network.members():
        if member.role == "node":
            for path in routes:
                total += await node_metric(member.url, "walrus_node_requests_total", route=path)
    return total


def row_bytes(size: int) -> int:
    return EncodingConfig(SHARDS).sliver_size(SliverType.PRIMARY, size)


def one_line_error(status: int, headers: Mapping[str, str], body: bytes, code: int) -> Any:
    assert status == code, body
    assert headers["Content-Type"].startswith("application/json")
    assert b"\n" not in body
    error = json.loads(body)["error"]
    assert error["code"] == code and error["details"][0]["domain"] == "daemon.walrus.space"
    return error


# Reads ----------------------------------------------------------------------------------------


async def test_get_returns_the_stored_bytes(daemon: str, blobs: dict[str, Stored]) -> None:
    for name, blob in blobs.items():
        status, headers, body = await get(f"{daemon}v1/blobs/{blob.blob_id}")
        assert (status, len(body)) == (200, len(blob.data)), name
        assert body == blob.data, name
        assert headers["Content-Length"] == str(len(blob.data))
        assert headers["ETag"] == f'"{blob.blob_id}"'
        assert headers["Cache-Control"] == "public, max-age=86400, immutable"
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Access-Control-Allow-Origin"] == "*"
    big = blobs["20mib"]
    status, headers, body = await get(f"{daemon}v1alpha/blobs/{big.blob_id}/stream")
    assert (status, headers["X-Walrus-Streaming"], body == big.data) == (200, "true", True)
    parts = [blobs["one"], blobs["cli"], blobs["empty"], blobs["small"]]
    ids = ",".join(str(b.blob_id) for b in parts)
    joined = b"".join(b.data for b in parts)
    status, _, body = await get(f"{daemon}v1alpha/blobs/concat?ids={ids}")
    assert (status, body == joined) == (200, True)
    mixed = [str(parts[0].blob_id), parts[1].object_id]
    status, _, body = await get(f"{daemon}v1alpha/blobs/concat", method="POST", json={"ids": mixed})
    assert (status, body == parts[0].data + parts[1].data) == (200, True)


async def test_range_reads_are_the_file_slices(
    network: Network, daemon: str, blobs: dict[str, Stored]
) -> None:
    for name in ("1mib", "20mib", "cli"):
        data = blobs[name].data
        size, row = len(data), row_bytes(len(data))
        url = f"{daemon}v1/blobs/{blobs[name].blob_id}"
        cases = {
            "start": (0, 999),
            "middle": (size // 2 - 500, size // 2 + 500),
            "across a sliver boundary": (row - 10, row + 9),
            "across three slivers": (row - 1, 2 * row + 1),
            "end": (size - 100, size - 1),
            "last byte": (size - 1, size - 1),
        }
        for what, (a, b) in cases.items():
            status, headers, body = await get(url, headers={"Range": f"bytes={a}-{b}"})
            assert status == 206, (name, what, body[:200])
            assert headers["Content-Range"] == f"bytes {a}-{b}/{size}"
            assert body == data[a : b + 1], (name, what)
            status, _, body = await get(f"{url}/byte-range?start={a}&length={b - a + 1}")
            assert (status, body == data[a : b + 1]) == (200, True), (name, what)
        for header, expected in (
            ("bytes=-777", data[-777:]),
            (f"bytes={size - 5}-", data[-5:]),
            (f"bytes=10-{size + 1000}", data[10:]),
        ):
            status, _, body = await get(url, headers={"Range": header})
            assert (status, body == expected) == (206, True), (name, header)
    # Only the slivers holding the bytes are fetched: two for a range across one boundary.
    data = blobs["20mib"].data
    row = row_bytes(len(data))
    before = await blob_requests(network)
    status, _, body = await get(
        f"{daemon}v1/blobs/{blobs['20mib'].blob_id}",
        headers={"Range": f"bytes={3 * row - 5}-{3 * row + 4}"},
    )
    assert (status, body) == (206, data[3 * row - 5 : 3 * row + 5])
    assert await blob_requests(network) - before == 2


async def test_bad_ranges_are_416(daemon: str, blobs: dict[str, Stored]) -> None:
    blob = blobs["1mib"]
    size = len(blob.data)
    url = f"{daemon}v1/blobs/{blob.blob_id}"
    for header in (
        f"bytes={size}-",
        f"bytes={size}-{size + 5}",
        "bytes=9-3",
        "bytes=0-1,5-9",
        "items=0-1",
        "bytes=x-y",
        "bytes=-0",
    ):
        status, headers, body = await get(url, headers={"Range": header})
        error = one_line_error(status, headers, body, 416)
        assert error["details"][0]["reason"] == "INVALID_BYTE_RANGE", header
        assert headers["Content-Range"] == f"bytes */{size}"
    status, headers, body = await get(
        f"{daemon}v1/blobs/{blobs['empty'].blob_id}", headers={"Range": "bytes=0-0"}
    )
    one_line_error(status, headers, body, 416)
    status, _, body = await get(url)
    assert (status, body == blob.data) == (200, True)


async def test_if_none_match_is_304_without_asking_nodes(
    network: Network, daemon: str, blobs: dict[str, Stored]
) -> None:
    blob = blobs["20mib"]
    url = f"{daemon}v1/blobs/{blob.blob_id}"
    before = await blob_requests(network) + await blob_requests(network, "metadata")
    for header in (
        f'"{blob.blob_id}"',
        f'W/"{blob.blob_id}"',
        str(blob.blob_id),
        f'"x", "{blob.blob_id}"',
        "*",
    ):
        status, headers, body = await get(url, headers={"If-None-Match": header})
        assert (status, body, headers["ETag"]) == (304, b"", f'"{blob.blob_id}"'), header
    stranger = BlobId(bytes(range(32)))
    status, _, _ = await get(
        f"{daemon}v1/blobs/{stranger}", headers={"If-None-Match": f'"{stranger}"'}
    )
    assert status == 304
    after = await blob_requests(network) + await blob_requests(network, "metadata")
    assert after == before
    status, _, body = await get(url, headers={"If-None-Match": '"another"'})
    assert (status, body == blob.data) == (200, True)


async def test_head_answers_from_metadata_alone(
    network: Network, daemon: str, blobs: dict[str, Stored]
) -> None:
    before = await blob_requests(network)
    for name in ("20mib", "cli", "empty"):
        blob = blobs[name]
        status, headers, body = await get(f"{daemon}v1/blobs/{blob.blob_id}", method="HEAD")
        assert (status, headers["Content-Length"], body) == (200, str(len(blob.data)), b"")
        assert headers["ETag"] == f'"{blob.blob_id}"'
    blob = blobs["20mib"]
    status, headers, _ = await get(
        f"{daemon}v1/blobs/{blob.blob_id}", method="HEAD", headers={"Range": "bytes=100-199"}
    )
    assert (status, headers["Content-Length"], headers["Content-Range"]) == (
        206,
        "100",
        f"bytes 100-199/{len(blob.data)}",
    )
    assert await blob_requests(network) == before


async def test_small_blobs_are_served_from_the_cache(
    network: Network, daemon: str, blobs: dict[str, Stored]
) -> None:
    blob = blobs["small"]
    url = f"{daemon}v1/blobs/{blob.blob_id}"
    assert (await get(url))[2] == blob.data
    before = await blob_requests(network)
    for header in ({}, {"Range": "bytes=100-199"}):
        _status, _, body = await get(url, headers=header)
        assert body == (blob.data if not header else blob.data[100:200])
    assert await blob_requests(network) == before


async def test_by_object_id_returns_attribute_headers(network: Network, daemon: str) -> None:
    image = tiny_png()
    stored = await _store(network, image)
    async with network.client() as client:
        await client.blobs().set_attributes(
            stored.object_id,
            {"content-type": "image/png", "Content-Disposition": "inline", "x-secret": "no"},
        )
    status, headers, body = await get(f"{daemon}v1/blobs/by-object-id/{stored.object_id}")
    assert (status, body) == (200, image)
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"] == "inline"
    assert "x-secret" not in {h.lower() for h in headers}
    # The request's Accept (without a wildcard) wins, as upstream.
    _, headers, _ = await get(
        f"{daemon}v1/blobs/by-object-id/{stored.object_id}", headers={"Accept": "text/plain"}
    )
    assert headers["Content-Type"] == "text/plain"
    missing = "0x" + "ab" * 32
    one_line_error(*await get(f"{daemon}v1/blobs/by-object-id/{missing}"), 404)
    one_line_error(*await get(f"{daemon}v1/blobs/by-object-id/0xzz"), 400)


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A real PNG image (red pixels), for the browser to decode."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        body = kind + payload
        return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PAGE = """<!doctype html><html><body><div id="out">pending</div>
<img id="img" src="IMAGE_URL">
<script>
async function run() {
  const img = document.getElementById('img');
  await new Promise((ok) => {
    if (img.complete) ok(); else { img.onload = ok; img.onerror = ok; }
  });
  const response = await fetch('BLOB_URL', {headers: {Range: 'bytes=0-'}});
  const bytes = await response.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const hex = Array.from(digest).map(b => b.toString(16).padStart(2, '0')).join('');
  document.getElementById('out').textContent =
    `img=${img.naturalWidth}x${img.naturalHeight} status=${response.status}` +
    ` len=${bytes.byteLength} sha=${hex} etag=${response.headers.get('etag')}`;
}
run().catch((e) => { document.getElementById('out').textContent = 'error ' + e; });
</script></body></html>"""
"""A page of another origin: an image from the aggregator, and a blob by fetch()."""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
async def test_a_browser_loads_aggregator_urls(
    network: Network, daemon: str, blobs: dict[str, Stored], tmp_path: Path
) -> None:
    """Headless Chromium on a page of another origin: an `<img src>` of a by-object-id URL
    decodes, and fetch() of a blob URL (CORS) gets its bytes (SHA-256 compared)."""
    image = await _store(network, tiny_png(5, 4))
    async with network.client() as client:
        await client.blobs().set_attributes(image.object_id, {"content-type": "image/png"})
    blob = blobs["1mib"]
    page = PAGE.replace("IMAGE_URL", f"{daemon}v1/blobs/by-object-id/{image.object_id}").replace(
        "BLOB_URL", f"{daemon}v1/blobs/{blob.blob_id}"
    )

    async def serve_page(request: web.Request) -> web.StreamResponse:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", serve_page)
    runner = web.AppRunner(app)
    await runner.setup()
    (port,) = free_ports(1)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        browser = await asyncio.create_subprocess_exec(
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            f"http://localhost:{port}/",
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(browser.communicate(), 120)
    finally:
        await runner.cleanup()
    text = out.decode()
    digest = hashlib.sha256(blob.data).hexdigest()
    assert "img=5x4" in text, text[-500:]
    assert f"status=206 len={len(blob.data)} sha={digest}" in text, text[-500:]
    assert f'etag="{blob.blob_id}"' in text


# Faults ---------------------------------------------------------------------------------------


def nodes_within(committee: Any, limit: int, keep: Collection[str] = ()) -> list[str]:
    """Names of nodes (not in `keep`) holding together as many shards as possible, at most
    `limit`."""
    chosen: list[str] = []
    held = 0
    for member in sorted(committee.members, key=lambda m: -len(m.shards)):
        if member.name in keep or held + len(member.shards) > limit:
            continue
        chosen.append(member.name)
        held += len(member.shards)
    return chosen


async def test_f_shards_down_still_serves_every_blob(
    network: Network, daemon: str, blobs: dict[str, Stored]
) -> None:
    committee = await network.committee()
    down = nodes_within(committee, max_n_faulty(SHARDS))
    assert sum(len(m.shards) for m in committee.members if m.name in down) > SHARDS // 6
    fresh = await _store(network, random.Random(5).randbytes(3 * MiB + 17))
    await all_slivers_stored(committee, [fresh.blob_id])
    try:
        for name in down:
            network.stop(name)
        for blob in [*blobs.values(), fresh]:
            status, _, body = await get(f"{daemon}v1/blobs/{blob.blob_id}")
            assert (status, body == blob.data) == (200, True)
        data = fresh.data
        row = row_bytes(len(data))
        for a, b in ((0, 99), (row - 3, row + 3), (len(data) - 10, len(data) - 1)):
            status, _, body = await get(
                f"{daemon}v1/blobs/{fresh.blob_id}", headers={"Range": f"bytes={a}-{b}"}
            )
            assert (status, body) == (206, data[a : b + 1])
    finally:
        for name in down:
            network.start(name)


async def test_lying_nodes_never_yield_wrong_bytes(
    network: Network, daemon: str, blobs: dict[str, Stored]
) -> None:
    """Nodes serving corrupt slivers: up to f shards' worth, reads decode around them and
    return the blob; beyond 2f, a stream that has begun stops short of its Content-Length,
    every byte sent before being the blob's."""
    blob = blobs["20mib"]
    committee = await network.committee()
    config = committee.encoding
    first_owner = committee.owner(config.shard_for_pair(SliverPairIndex(0), blob.blob_id)).name
    few = nodes_within(committee, max_n_faulty(SHARDS), keep={first_owner})
    everyone_else = [m.name for m in committee.members if m.name != first_owner]
    lying: list[str] = []

    def lie(names: list[str]) -> None:
        for name in names:
            network.set_faults(name, ["corrupt_slivers"])
            network.stop(name)
            network.start(name)
            lying.append(name)

    try:
        lie(few)
        status, _, body = await get(f"{daemon}v1/blobs/{blob.blob_id}")
        assert (status, body == blob.data) == (200, True)
        lie([n for n in everyone_else if n not in few])
        honest = sum(len(m.shards) for m in committee.members if m.name not in lying)
        assert honest < config.n_primary_source_symbols
        received = b""
        complete = False
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{daemon}v1/blobs/{blob.blob_id}") as response,
        ):
            assert response.status == 200
            try:
                async for chunk in response.content.iter_chunked(1 << 16):
                    received += chunk
                complete = True
            except aiohttp.ClientPayloadError:
                pass
        assert not complete and 0 < len(received) < len(blob.data)
        assert received == blob.data[: len(received)]
        status, _headers, body = await get(f"{daemon}v1/blobs/{blobs['cli'].blob_id}")
        assert status in (200, 503)
        if status == 503:
            assert json.loads(body)["error"]["details"][0]["reason"] == "BLOB_UNAVAILABLE"
        else:
            assert body == blobs["cli"].data
    finally:
        for name in lying:
            network.set_faults(name, [])
            network.stop(name)
            network.start(name)
    assert (await get(f"{daemon}status"))[0] == 200


# Bad input --------------------------------------------------------------------------------------


async def test_bad_requests_get_upstream_statuses_and_the_daemon_keeps_serving(
    network: Network, daemon: str, blobs: dict[str, Stored]
) -> None:
    blob = blobs["1mib"]
    good = str(blob.blob_id)
    unknown = str(BlobId(hashlib.sha256(b"never stored").digest()))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The last character carries 4 bits of the ID and 2 that must be zero.
    noncanonical = good[:-1] + alphabet[alphabet.index(good[-1]) | 1]
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "v1/blobs/not-a-blob-id", {}, 400, "INVALID_BLOB_ID"),
        ("GET", f"v1/blobs/{good}x", {}, 400, "INVALID_BLOB_ID"),
        ("GET", f"v1/blobs/{noncanonical}", {}, 400, "INVALID_BLOB_ID"),
        ("GET", f"v1/blobs/{unknown}", {}, 404, "BLOB_NOT_FOUND"),
        ("GET", f"v1/blobs/{good}?colour=red", {}, 400, "INVALID_QUERY"),
        ("GET", f"v1/blobs/{good}?strict_consistency_check=yes", {}, 400, "INVALID_QUERY"),
        (
            "GET",
            f"v1/blobs/{good}?strict_consistency_check=true&skip_consistency_check=true",
            {},
            400,
            "INVALID_CONSISTENCY_CHECK",
        ),
        ("GET", f"v1/blobs/{good}/byte-range?start=0", {}, 400, "INVALID_QUERY"),
        ("GET", f"v1/blobs/{good}/byte-range?start=0&length=0", {}, 400, "INVALID_BYTE_RANGE"),
        ("GET", f"v1/blobs/{good}/byte-range?start=a&length=1", {}, 400, "INVALID_QUERY"),
        ("GET", f"v1/blobs/{good}/byte-range?start=0&length=1&x=1", {}, 400, "INVALID_QUERY"),
        (
            "GET",
            f"v1/blobs/{good}/byte-range?start={len(blob.data)}&length=1",
            {},
            400,
            "INVALID_BYTE_RANGE",
        ),
        ("GET", f"v1/blobs/{unknown}/byte-range?start=0&length=1", {}, 404, "BLOB_NOT_FOUND"),
        ("GET", f"v1/blobs/{good}", {"headers": {"Range": "bytes=7-1"}}, 416, "INVALID_BYTE_RANGE"),
        ("GET", "v1/blobs/by-object-id/0x12g4", {}, 400, "INVALID_OBJECT_ID"),
        ("GET", "v1/no/such/route", {}, 404, "NOT_FOUND"),
        ("DELETE", f"v1/blobs/{good}", {}, 405, "METHOD_NOT_ALLOWED"),
        ("GET", "v1alpha/blobs/concat?ids=", {}, 400, "INVALID_ARGUMENT"),
        ("GET", "v1alpha/blobs/concat", {}, 400, "INVALID_QUERY"),
        ("GET", "v1alpha/blobs/concat?ids=nonsense", {}, 400, "INVALID_ID_FORMAT"),
        ("GET", f"v1alpha/blobs/concat?ids={good},{unknown}", {}, 404, "BLOB_NOT_FOUND"),
        ("GET", f"v1alpha/blobs/concat?ids=0x{'cd' * 32}", {}, 404, "OBJECT_ID_RESOLUTION_FAILED"),
        ("POST", "v1alpha/blobs/concat", {"data": b"ids"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
        (
            "POST",
            "v1alpha/blobs/concat",
            {"data": b"{", "headers": {"Content-Type": "application/json"}},
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "POST",
            "v1alpha/blobs/concat",
            {"json": {"ids": [good], "more": 1}},
            422,
            "INVALID_ARGUMENT",
        ),
        ("POST", "v1alpha/blobs/concat", {"json": {"ids": good}}, 422, "INVALID_ARGUMENT"),
    ]
    pid = network_pid(network)
    for _ in range(8):
        for method, path, kwargs, code, reason in cases:
            status, headers, body = await get(daemon + path, method=method, **kwargs)
            error = one_line_error(status, headers, body, code)
            assert error["details"][0]["reason"] == reason, (path, error)
    # A client that leaves in the middle of a download frees the daemon of it.
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{daemon}v1/blobs/{blobs['20mib'].blob_id}") as response,
    ):
        await response.content.readexactly(1 << 20)
    assert network_pid(network) == pid
    status, _, body = await get(f"{daemon}v1/blobs/{good}")
    assert (status, body == blob.data) == (200, True)
    assert "Traceback" not in (network.dir / "logs" / "daemon.log").read_text()


def network_pid(network: Network) -> int:
    from pywalrus.testbed import local

    pid = local.running_pid(network.dir, "daemon")
    assert pid is not None
    return pid


# The process ------------------------------------------------------------------------------------


def vm(pid: int, field: str) -> int:
    """A `/proc/PID/status` field in bytes (VmRSS: now, VmHWM: the peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


@pytest.mark.slow
async def test_a_256_mib_stream_keeps_the_aggregator_small(
    network: Network, tmp_path: Path
) -> None:
    """`walrus aggregator` as its own process streams a 256 MiB blob with its peak RSS less
    than half the blob above where it started, its /metrics count the request, and SIGTERM
    stops it with exit code 0."""
    rng = random.Random(256)
    data = b"".join(rng.randbytes(16 * MiB) for _ in range(16))
    stored = await _store(network, data)
    digest = hashlib.sha256(data).digest()
    size = len(data)
    del data
    with aggregator_process(network.config_path, tmp_path / "aggregator.log") as (
        process,
        url,
        metrics_url,
    ):
        status, _, _ = await get(f"{url}v1/blobs/{stored.blob_id}", method="HEAD")
        assert status == 200
        baseline = vm(process.pid, "VmRSS")
        hashed = hashlib.sha256()
        received = 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}v1/blobs/{stored.blob_id}") as response,
        ):
            assert response.status == 200 and response.content_length == size
            async for chunk in response.content.iter_chunked(1 << 20):
                hashed.update(chunk)
                received += len(chunk)
        assert (received, hashed.digest()) == (size, digest)
        peak = vm(process.pid, "VmHWM")
        assert peak - baseline < size // 2, (baseline, peak)
        _, _, metrics = await get(metrics_url)
        served = 'walrus_aggregator_requests_total{method="GET",route="/v1/blobs/{blob_id}"'
        assert f'{served},status="200"}} 1.0' in metrics.decode()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


async def test_reads_beyond_the_limits_are_429_and_the_aggregator_recovers(
    network: Network, blobs: dict[str, Stored], tmp_path: Path
) -> None:
    """With one read at a time and one in the service, a second read while the first is
    still sending (its client reads nothing) is 429; once that client leaves, reads work."""
    flags = ("--aggregator-max-concurrent-requests", "1", "--aggregator-max-buffer-size", "1")
    with aggregator_process(network.config_path, tmp_path / "limits.log", *flags) as (_, url, _):
        big, small = blobs["20mib"], blobs["one"]
        async with aiohttp.ClientSession() as session:
            stalled = await session.get(f"{url}v1/blobs/{big.blob_id}")
            assert stalled.status == 200
            status, headers, body = await get(f"{url}v1/blobs/{small.blob_id}")
            error = one_line_error(status, headers, body, 429)
            assert error["details"][0]["reason"] == "TOO_MANY_REQUESTS"
            stalled.close()

        async def serving() -> bool:
            return (await get(f"{url}v1/blobs/{small.blob_id}"))[0] == 200

        await wait_for(serving, 30, "the aggregator to serve again")
        assert (await get(f"{url}v1/blobs/{big.blob_id}"))[2] == big.data

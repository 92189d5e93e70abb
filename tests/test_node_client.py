"""`NodeClient` against a loopback HTTP server that answers with chosen bytes: slivers parsed
as their body streams in, and every malformed body refused as a `NodeError`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import encode_blob
from pywalrus.core.errors import NodeError
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import SliverType
from pywalrus.network.node_client import NodeClient
from pywalrus.testbed.ports import free_ports

BLOB = bytes(range(256)) * 40
ENCODED = encode_blob(BLOB, EncodingConfig(10))
SLIVER = ENCODED.primary_sliver(3)
GOOD = SLIVER.to_bcs()


@pytest.fixture
async def node() -> AsyncIterator[tuple[NodeClient, dict[str, bytes]]]:
    bodies: dict[str, bytes] = {}

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=bodies[request.match_info["pair"]])

    async def status(request: web.Request) -> web.StreamResponse:
        return web.Response(body=bodies["status"], status=int(bodies["code"]))

    app = web.Application()
    app.router.add_get("/v1/blobs/{blob_id}/slivers/{pair}/{axis}", answer)
    app.router.add_get("/v1/blobs/{blob_id}/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    (port,) = free_ports(1)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        yield NodeClient(f"http://127.0.0.1:{port}", session), bodies
    await runner.cleanup()


async def test_read_sliver_parses_the_streamed_body(
    node: tuple[NodeClient, dict[str, bytes]],
) -> None:
    client, bodies = node
    bodies["3"] = GOOD
    sliver = await client.read_sliver(ENCODED.blob_id, 3, SliverType.PRIMARY, len(SLIVER.data))
    assert sliver == SLIVER
    assert sliver == Sliver.from_bcs(GOOD, SliverType.PRIMARY)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (GOOD[:-1], "malformed sliver"),  # truncated trailer
        (GOOD[:10], "malformed sliver"),  # truncated symbols
        (GOOD + b"\0", "trailing bytes"),
        (b"\xff\xff\xff\xff\xff", "malformed sliver"),  # a length prefix that never ends
        (b"\x05abcde\x02\x00\x03\x00", "expected"),  # another length than the blob's slivers
        (GOOD[:-4] + b"\x03\x00\x03\x00", "malformed sliver"),  # odd symbol size
        (b"", "malformed sliver"),
    ],
)
async def test_read_sliver_refuses_malformed_bodies(
    node: tuple[NodeClient, dict[str, bytes]], body: bytes, needle: str
) -> None:
    client, bodies = node
    bodies["3"] = body
    with pytest.raises(NodeError, match=needle) as caught:
        await client.read_sliver(ENCODED.blob_id, 3, SliverType.PRIMARY, len(SLIVER.data))
    assert caught.value.reason == "BAD_RESPONSE"


@pytest.mark.parametrize(
    ("code", "body", "status", "reason", "needle"),
    [
        (
            404,
            b'{"error": {"message": "gone", "details": [{"reason": "BLOB_NOT_FOUND"}]}}',
            404,
            "BLOB_NOT_FOUND",
            "gone",
        ),
        (503, b"<html>proxy error</html>", 503, "UNKNOWN", "proxy error"),
        (404, b'{"error": "not an object"}', 404, "UNKNOWN", "not an object"),
        (500, b'{"error": {"details": []}}', 500, "UNKNOWN", "details"),
        (200, b'{"success": {"code": 200}}', 200, "BAD_RESPONSE", "not a Walrus envelope"),
        (200, b"[1, 2]", 200, "BAD_RESPONSE", "not a Walrus envelope"),
    ],
)
async def test_every_unexpected_answer_is_a_node_error(
    node: tuple[NodeClient, dict[str, bytes]],
    code: int,
    body: bytes,
    status: int,
    reason: str,
    needle: str,
) -> None:
    """An error answer gives its status and the envelope's reason (UNKNOWN for a body that is
    not an envelope, whatever its shape); a success that is not an envelope is BAD_RESPONSE."""
    client, bodies = node
    bodies["status"], bodies["code"] = body, str(code).encode()
    with pytest.raises(NodeError, match=needle) as caught:
        await client.blob_status(ENCODED.blob_id)
    assert (caught.value.status, caught.value.reason) == (status, reason)

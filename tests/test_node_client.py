"""`NodeClient` against a loopback HTTP server that answers with chosen bytes: slivers parsed
as their body streams in, and every malformed body refused as a `NodeError`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from pywalrus.client.node_client import NodeClient
from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import encode_blob
from pywalrus.core.errors import NodeError
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import SliverType
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

    app = web.Application()
    app.router.add_get("/v1/blobs/{blob_id}/slivers/{pair}/{axis}", answer)
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

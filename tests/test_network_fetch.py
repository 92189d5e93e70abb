"""`fetch_verified_metadata`, the one "first node with valid metadata" read that the SDK's
reader and nodes' blob and shard sync share, against loopback HTTP "nodes" answering with
chosen bytes: verified answers only, and "not found" counted by the shards it speaks for."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.encoding import encode_blob
from pywalrus.core.errors import BlobNotFound, NotEnoughSlivers
from pywalrus.network import envelope, routes
from pywalrus.network.committee import CommitteeView, NodeMember
from pywalrus.network.fetch import fetch_verified_metadata
from pywalrus.network.node_client import NodeClient
from pywalrus.testbed.ports import free_ports

N_SHARDS = 10  # f = 3: "not found" from 4 shards means the blob does not exist
CONFIG = EncodingConfig(N_SHARDS)
BLOB = encode_blob(b"walrus" * 100, CONFIG)
OTHER = encode_blob(b"another blob" * 50, CONFIG)
GOOD = BLOB.blob_id.value + BLOB.metadata.to_bcs()
KEY = BlsPrivateKey.generate().public_key()


def not_stored() -> tuple[int, bytes]:
    return 404, json.dumps(envelope.error(404, "BLOB_NOT_FOUND", "blob is not stored")).encode()


@dataclass
class Nodes:
    """Loopback "nodes" under one server, each at its own path prefix."""

    base: str
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def member(self, index: int, shards: range) -> NodeMember:
        name = f"node-{index}"
        return NodeMember(index, f"0x{index:064x}", name, f"{self.base}/{name}", KEY, tuple(shards))


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[Nodes, aiohttp.ClientSession]]:
    (port,) = free_ports(1)
    state = Nodes(f"http://127.0.0.1:{port}")

    async def answer(request: web.Request) -> web.StreamResponse:
        name = request.match_info["node"]
        state.asked.append(name)
        status, body = state.answers[name]
        return web.Response(status=status, body=body)

    app = web.Application()
    app.router.add_get("/{node}" + routes.METADATA, answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        yield state, session
    await runner.cleanup()


def four(state: Nodes, previous: CommitteeView | None = None) -> CommitteeView:
    """Members holding 4, 2, 2 and 2 shards."""
    spans = [range(0, 4), range(4, 6), range(6, 8), range(8, 10)]
    members = tuple(state.member(i, span) for i, span in enumerate(spans))
    return CommitteeView(2, N_SHARDS, members, previous)


async def fetch(state: Nodes, session: aiohttp.ClientSession, committee: CommitteeView) -> object:
    state.asked.clear()
    return await fetch_verified_metadata(
        committee, BLOB.blob_id, lambda m: NodeClient(m.url, session), timeout=10
    )


async def test_liars_and_failures_are_passed_over(
    nodes: tuple[Nodes, aiohttp.ClientSession],
) -> None:
    state, session = nodes
    state.answers = {
        "node-0": (200, OTHER.blob_id.value + OTHER.metadata.to_bcs()),  # another blob's
        "node-1": (200, GOOD[:-1] + bytes([GOOD[-1] ^ 1])),  # changed
        "node-2": (500, b"internal error"),
        "node-3": (200, GOOD),
    }
    committee = four(state)
    for _ in range(5):  # members are asked in random order
        assert await fetch(state, session, committee) == BLOB.metadata
        assert state.asked[-1] == "node-3"


async def test_not_found_from_a_validity_set_of_shards_is_blob_not_found(
    nodes: tuple[Nodes, aiohttp.ClientSession],
) -> None:
    state, session = nodes
    failing = (500, b"internal error")
    state.answers = {"node-0": failing, "node-1": not_stored(), "node-2": not_stored()}
    state.answers["node-3"] = failing
    with pytest.raises(BlobNotFound):  # nodes 1 and 2 hold 4 shards: f + 1
        await fetch(state, session, four(state))
    state.answers["node-2"] = failing
    with pytest.raises(NotEnoughSlivers):  # 2 shards say "not found": no conclusion
        await fetch(state, session, four(state))


async def test_not_found_speaks_only_for_shards_held_before_the_change(
    nodes: tuple[Nodes, aiohttp.ClientSession],
) -> None:
    """During an epoch change nodes 1 and 2 gained all their shards from node 4, which left the
    committee: their "not found" counts for nothing, nor does node 4's (it speaks for shards it
    no longer holds), though each pair alone would be f + 1 shards."""
    state, session = nodes
    before = CommitteeView(
        1,
        N_SHARDS,
        (state.member(0, range(0, 4)), state.member(3, range(8, 10)), state.member(4, range(4, 8))),
    )
    failing = (500, b"internal error")
    state.answers = {"node-0": failing, "node-1": not_stored(), "node-2": not_stored()}
    state.answers |= {"node-3": failing, "node-4": not_stored()}
    changing = four(state, before)
    members = [*changing.members, before.members[2]]
    with pytest.raises(NotEnoughSlivers):
        await fetch_verified_metadata(
            changing, BLOB.blob_id, lambda m: NodeClient(m.url, session), members
        )
    assert sorted(state.asked[-5:]) == ["node-0", "node-1", "node-2", "node-3", "node-4"]

"""`pywalrus.testing.InProcessNetwork`: the chain and four storage nodes in this test's event
loop, on 127.0.0.1 ports, with real HTTP, signatures and files, and no other process."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from pywalrus.client.client import StoreOptions
from pywalrus.core.errors import ConfigError
from pywalrus.core.types import BlobId
from pywalrus.testing import InProcessNetwork
from testbed_harness import all_slivers_stored, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")


def child_processes() -> set[int]:
    """The process IDs this process started that are still alive."""
    children: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children |= {int(pid) for pid in (task / "children").read_text().split()}
    return children


@pytest.fixture(scope="module")
def children_before() -> set[int]:
    """Child processes left by earlier tests of the session, before the network starts."""
    return child_processes()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def network(
    tmp_path_factory: pytest.TempPathFactory, children_before: set[int]
) -> AsyncIterator[InProcessNetwork]:
    async with InProcessNetwork(tmp_path_factory.mktemp("inprocess"), nodes=4, shards=10) as net:
        yield net


async def store(network: InProcessNetwork, data: bytes) -> BlobId:
    async with network.client() as client:
        result = await client.store(data, StoreOptions(epochs=2))
        blob = result["newlyCreated"]["blobObject"]
        assert blob["certifiedEpoch"] is not None
        return BlobId.parse(blob["blobId"])


async def read(network: InProcessNetwork, blob_id: BlobId) -> bytes:
    async with network.client() as client:
        return await client.read(blob_id)


async def test_a_blob_stored_through_the_network_reads_back(
    network: InProcessNetwork, children_before: set[int]
) -> None:
    """Stored and read over HTTP through every node of the committee, with no process started:
    the whole network lives in this loop."""
    assert sorted(network.nodes) == [f"node-{i}" for i in range(4)]
    data = random.randbytes(300_000)
    blob_id = await store(network, data)
    assert await read(network, blob_id) == data
    async with network.client() as client:
        committee = await client.committee()
    assert {m.name for m in committee.members} == set(network.nodes)
    await all_slivers_stored(committee, [blob_id])
    assert all(r.node.holds_all_slivers(blob_id) for r in network.nodes.values())
    assert child_processes() <= children_before


async def test_a_stopped_node_is_not_needed_and_keeps_its_slivers(
    network: InProcessNetwork,
) -> None:
    data = random.randbytes(50_000)
    blob_id = await store(network, data)
    async with network.client() as client:
        await all_slivers_stored(await client.committee(), [blob_id])
    await network.stop_node("node-1")
    try:
        assert "node-1" not in network.nodes
        assert await read(network, blob_id) == data  # three of four nodes suffice
    finally:
        restarted = await network.start_node("node-1")
    assert restarted.node.holds_all_slivers(blob_id)
    assert await read(network, blob_id) == data


async def test_an_epoch_change_moves_the_network_on(network: InProcessNetwork) -> None:
    data = random.randbytes(20_000)
    blob_id = await store(network, data)
    before = (await network.staking()).epoch
    assert await network.advance_epoch() == before + 1

    async def nodes_in_new_epoch() -> bool:
        return all(r.node.epoch == before + 1 for r in network.nodes.values())

    await wait_for(nodes_in_new_epoch, 30, "every node to follow the epoch change")
    assert await read(network, blob_id) == data


async def test_a_misspelt_fault_stops_the_node_at_start(network: InProcessNetwork) -> None:
    """A node whose config names an unknown fault does not start; fixed, it starts again."""
    await network.stop_node("node-3")
    network.set_config("node-3", faults=["no_gcc"])
    try:
        with pytest.raises(ConfigError, match="unknown fault 'no_gcc'"):
            await network.start_node("node-3")
        assert "node-3" not in network.nodes
    finally:
        network.set_config("node-3", faults=None)
        await network.start_node("node-3")
    async with network.client() as client:
        member = next(m for m in (await client.committee()).members if m.name == "node-3")
        assert (await client.node(member).health())["name"] == "node-3"


async def test_the_whole_network_restarts_from_its_directory(network: InProcessNetwork) -> None:
    """Stopped and started again, the chain continues from its ledger and the nodes from their
    stores: a blob stored before reads back, and a new one stores."""
    data = random.randbytes(40_000)
    blob_id = await store(network, data)
    epoch = (await network.staking()).epoch
    await network.stop()
    assert network.chain is None and network.nodes == {}
    await network.start()
    assert (await network.staking()).epoch == epoch
    assert await read(network, blob_id) == data
    fresh = random.randbytes(10_000)
    assert await read(network, await store(network, fresh)) == fresh

"""Shard sync at epoch change (protocol page §8.5), on an in-process network and, for a node
that crashes mid-transfer, as real processes.

A network of 4 nodes and 100 shards (25 each, f = 33) on a manual clock. Stake moves shards:
a node staked to twice the others' stake grows to about 40 shards, so the three others hold
60 < 2f + 1 and the epoch change cannot finish before the gaining node has synced. Blobs
stored before a change must be readable during and after it, from the new owners.
"""

from __future__ import annotations

import base64
import random
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
import pytest_asyncio

from pywalrus.chain.contracts.coin import FROST_PER_WAL
from pywalrus.chain.schema import EpochStateKind, Staking
from pywalrus.chain.wallet import Wallet
from pywalrus.client import chain_ops
from pywalrus.client.client import StoreOptions, WalrusClient
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.encoding import EncodedBlob, encode_blob
from pywalrus.core.messages import (
    SignedMessage,
    SyncShardMsg,
    SyncShardRequest,
    SyncShardResponse,
)
from pywalrus.core.types import BlobId, Epoch, ShardIndex, SliverPairIndex, SliverType
from pywalrus.network.committee import CommitteeView, NodeMember
from pywalrus.node import blob_info
from pywalrus.node.storage import NodeStore
from pywalrus.testbed import local
from pywalrus.testing import InProcessNetwork
from testbed_harness import Network, all_slivers_stored, node_metric, running_testbed, wait_for

STAKE = 900_000 * FROST_PER_WAL
"""Extra stake that roughly doubles a node's weight (genesis stakes are 1M WAL each)."""


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcessNetwork]:
    async with InProcessNetwork(tmp_path_factory.mktemp("shards"), nodes=4, shards=100) as net:
        yield net


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    """The same network as processes, for a node that crashes (its process exits)."""
    yield from running_testbed(tmp_path_factory.mktemp("shards-processes"), nodes=4)


class Net(Protocol):
    """What the helpers need of either network."""

    dir: Path

    def client(self) -> WalrusClient: ...

    async def committee(self) -> CommitteeView: ...

    async def staking(self) -> Staking: ...

    async def advance_half_epoch(self) -> None: ...


# Helpers ------------------------------------------------------------------------------------


async def health(member: NodeMember) -> dict[str, Any]:
    url = f"{member.url}/v1/health?detailed=true"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        data: dict[str, Any] = (await response.json())["success"]["data"]
        return data


async def metric(member: NodeMember, name: str, **labels: str) -> float:
    return await node_metric(member.url.rstrip("/") + "/", name, **labels)


async def sliver_status(member: NodeMember, blob_id: BlobId, pair: int) -> tuple[int, str]:
    """(HTTP status, error reason or "ok") of a primary sliver GET."""
    async with aiohttp.ClientSession() as session:
        url = f"{member.url}/v1/blobs/{blob_id}/slivers/{pair}/primary"
        async with session.get(url) as response:
            if response.status == 200:
                return 200, "ok"
            body = await response.json()
            return response.status, body["error"]["details"][0]["reason"]


async def stake(net: Net, account_wallet: str | None, node_id: str, amount: int) -> None:
    """Stake from the client wallet, or from a node operator's wallet (`nodes/NAME`)."""
    async with net.client() as client:
        account = client.account
        if account_wallet is not None:
            account = Wallet.load(net.dir / "nodes" / account_wallet / "wallet.keystore").active
        await chain_ops.stake_many(client.chain, account, [(node_id, amount)])


async def select_next_committee(net: Net) -> dict[str, list[int]]:
    """End the voting (half an epoch on) and return the next committee's shards by node ID."""
    await net.advance_half_epoch()

    async def selected() -> bool:
        return (await net.staking()).next_committee is not None

    await wait_for(selected, what="the next committee")
    committee = (await net.staking()).next_committee
    assert committee is not None
    return {node: [int(s) for s in shards] for node, shards in committee.items()}


async def store(net: Net, data: bytes) -> BlobId:
    async with net.client() as client:
        result = await client.store(data, StoreOptions(epochs=5, deletable=False))
        return BlobId.parse(result["newlyCreated"]["blobObject"]["blobId"])


def systematic_shards(committee: CommitteeView, blob_id: BlobId) -> set[int]:
    """The shards of the primary slivers a reader asks for first."""
    config = committee.encoding
    return {
        int(config.shard_for_pair(SliverPairIndex(p), blob_id))
        for p in range(config.n_primary_source_symbols)
    }


async def assert_holds(
    net: Net, member: NodeMember, shards: set[int], blobs: dict[BlobId, bytes]
) -> None:
    """`member` serves exactly the encoder's slivers of `shards` for every blob, both axes."""
    committee = await net.committee()
    config = committee.encoding
    async with net.client() as client:
        node = client.node(member)
        for blob_id, data in blobs.items():
            encoded: EncodedBlob = encode_blob(data, config)
            for shard in shards:
                pair = config.pair_for_shard(ShardIndex(shard), blob_id)
                for axis in SliverType:
                    served = await node.get_sliver(blob_id, pair, axis)
                    expected = encoded.sliver(axis, config.sliver_index(axis, pair))
                    assert served == expected.to_bcs(), (member.name, shard, axis)


async def read_all(net: Net, blobs: dict[BlobId, bytes]) -> None:
    async with net.client() as client:
        for blob_id, data in blobs.items():
            assert await client.read(blob_id) == data


def member(committee: CommitteeView, node_id: str) -> NodeMember:
    return next(m for m in committee.members if m.node_id == node_id)


# Tests --------------------------------------------------------------------------------------


async def test_stake_moves_shards_and_blobs_follow(net: InProcessNetwork) -> None:
    before = await net.committee()
    assert before.epoch == 1
    gainer = before.members[0]
    losers = [m for m in before.members if m is not gainer]
    await stake(net, None, gainer.node_id, STAKE)
    next_committee = await select_next_committee(net)
    gained = set(next_committee[gainer.node_id]) - set(gainer.shards)
    assert len(gained) >= 10

    # Blobs stored before the change; one whose first-asked slivers include a moved shard.
    blobs: dict[BlobId, bytes] = {}
    for size in (1, 150_000):
        data = random.randbytes(size)
        blobs[await store(net, data)] = data
    while True:
        data = random.randbytes(300_000)
        blob_id = encode_blob(data, before.encoding).blob_id
        if systematic_shards(before, blob_id) & gained:
            break
    moved_blob = await store(net, data)
    blobs[moved_blob] = data
    await all_slivers_stored(before, blobs)

    # The change starts with the gaining node down: the others report, but hold 60 shards.
    await net.stop_node(gainer.name)
    await net.advance_half_epoch()

    async def changing() -> bool:
        staking = await net.staking()
        return bool(
            staking.epoch == 2
            and staking.epoch_state.kind is EpochStateKind.SYNC
            and len(staking.epoch_state.synced) == len(losers)
        )

    await wait_for(changing, what="the losers' epoch sync")
    during = await net.committee()
    assert during.previous is not None and during.previous.epoch == 1

    # Reads during the change: slivers of moved shards come from their previous owners.
    served_before = sum(
        [await metric(m, "walrus_node_read_only_slivers_served_total") for m in losers]
    )
    await read_all(net, blobs)
    served_after = sum(
        [await metric(m, "walrus_node_read_only_slivers_served_total") for m in losers]
    )
    assert served_after > served_before
    shard = next(iter(gained))
    previous_owner = during.previous.owner(shard)
    pair = during.encoding.pair_for_shard(ShardIndex(shard), moved_blob)
    assert await sliver_status(previous_owner, moved_blob, pair) == (200, "ok")

    # The gaining node comes back, pulls its new shards and reports: the change completes.
    await net.up()

    async def done() -> bool:
        staking = await net.staking()
        return staking.epoch == 2 and staking.epoch_state.kind is EpochStateKind.DONE

    await wait_for(done, timeout=60, what="EpochChangeDone")
    after = await net.committee()
    assert after.previous is None
    new_gainer = member(after, gainer.node_id)
    report = await health(new_gainer)
    owned = len(new_gainer.shards)
    assert report["shardSummary"]["owned"] == owned
    assert report["shardSummary"]["ownedShardStatus"]["ready"] == owned
    await assert_holds(net, new_gainer, gained, blobs)
    transferred = await metric(new_gainer, "walrus_node_shard_sync_slivers", kind="transferred")
    assert transferred == 2 * len(gained) * len(blobs)
    assert await metric(new_gainer, "walrus_node_shard_sync_slivers", kind="rejected") == 0
    # The recovery counters say the same, with the bytes moved and the time it took.
    counted = {"process": "shard sync", "kind": "transferred"}
    assert await metric(new_gainer, "walrus_node_recovery_slivers_total", **counted) == transferred
    assert await metric(new_gainer, "walrus_node_recovery_bytes_total", **counted) > 0
    assert await metric(new_gainer, "walrus_node_recovery_seconds_total", process="shard sync") > 0

    # The losers stop serving moved shards and drop them once the new owner has them.
    assert (await sliver_status(previous_owner, moved_blob, pair))[1] == "SHARD_NOT_ASSIGNED"

    async def dropped() -> bool:
        reports = [await health(m) for m in losers]
        return all(r["shardSummary"]["readOnly"] == 0 for r in reports)

    await wait_for(dropped, what="the losers to delete their moved shards")
    await read_all(net, blobs)
    await net.stop_node(previous_owner.name)
    try:
        await read_all(net, blobs)
    finally:
        await net.up()


async def test_previous_owner_down_and_lying(net: InProcessNetwork) -> None:
    """The gaining node recovers from symbols what its previous owners cannot or will not
    give, never stores what fails verification, and still reports sync."""
    before = await net.committee()
    by_size = sorted(before.members, key=lambda m: len(m.shards))
    gainer = by_size[0]
    blobs: dict[BlobId, bytes] = {}
    for size in (50_000, 200_000):
        data = random.randbytes(size)
        blobs[await store(net, data)] = data
    await all_slivers_stored(before, blobs)
    await stake(net, gainer.name, gainer.node_id, STAKE)
    next_committee = await select_next_committee(net)
    gained = set(next_committee[gainer.node_id]) - set(gainer.shards)
    sources = {before.owner(s).node_id for s in gained}
    small = [m for m in by_size[1:] if m.node_id in sources and len(m.shards) <= 25]
    assert len(small) >= 2, "two small nodes must give up shards"
    down, liar = small[0], small[1]
    net.set_config(liar.name, faults=["corrupt_slivers"])
    await net.restart_node(liar.name)
    await net.stop_node(down.name)
    try:
        await net.advance_half_epoch()

        async def synced() -> bool:
            staking = await net.staking()
            state = staking.epoch_state
            return bool(
                staking.epoch == before.epoch + 1
                and (state.kind is EpochStateKind.DONE or gainer.node_id in state.synced)
            )

        await wait_for(synced, timeout=90, what="the gaining node's epoch sync")
        after = await net.committee()
        new_gainer = member(after, gainer.node_id)
        report = await health(new_gainer)
        assert report["shardSummary"]["ownedShardStatus"]["ready"] == len(new_gainer.shards)
        await assert_holds(net, new_gainer, gained, blobs)
        recovered = await metric(new_gainer, "walrus_node_shard_sync_slivers", kind="recovered")
        rejected = await metric(new_gainer, "walrus_node_shard_sync_slivers", kind="rejected")
        assert recovered >= 2 * len(blobs) * sum(
            1 for s in gained if before.owner(s).node_id == down.node_id
        )
        assert rejected > 0
        await read_all(net, blobs)
    finally:
        net.set_config(liar.name, faults=[])
        await net.stop_node(liar.name)
        await net.up()


async def test_sync_shard_route_refuses_bad_requests(net: InProcessNetwork) -> None:
    committee = await net.committee()
    owner = committee.members[0]
    shard = owner.shards[0]
    others = [m for m in committee.members if m.node_id != owner.node_id]
    kept = {
        m.node_id: {d["shard"] for d in (await health(m))["shardDetail"]["other"]} for m in others
    }
    other = next(m for m in others if shard not in kept[m.node_id])
    key = BlsPrivateKey.from_base64(
        (net.dir / "nodes" / owner.name / "protocol.key").read_text().strip()
    )
    blob_id = BlobId(bytes(32))

    def body(
        signer: BlsPrivateKey, epoch: int = committee.epoch, shard_index: int = shard
    ) -> bytes:
        request = SyncShardRequest(
            ShardIndex(shard_index), SliverType.PRIMARY, blob_id, 10, Epoch(epoch)
        )
        return SignedMessage.sign(signer, SyncShardMsg(Epoch(epoch), request)).to_bcs()

    def auth(signer: BlsPrivateKey) -> dict[str, str]:
        return {"Authorization": base64.b64encode(signer.public_key().to_bytes()).decode()}

    async def post(
        target: NodeMember, data: bytes, headers: dict[str, str]
    ) -> tuple[int, str, bytes]:
        async with aiohttp.ClientSession() as session:
            url = f"{target.url}/v1/migrate/sync_shard"
            async with session.post(url, data=data, headers=headers) as response:
                raw = await response.read()
                if response.status == 200:
                    return 200, "ok", raw
                reason = (await response.json())["error"]["details"][0]["reason"]
                return response.status, reason, raw

    before = await health(owner)
    stranger = BlsPrivateKey.generate()
    assert (await post(owner, body(key), {}))[:2] == (401, "MISSING_AUTHORIZATION")
    bad_header = {"Authorization": "not base64!"}
    assert (await post(owner, body(key), bad_header))[:2] == (400, "INVALID_AUTHORIZATION")
    assert (await post(owner, b"\x05garbage", auth(key)))[:2] == (
        400,
        "INVALID_SYNC_SHARD_REQUEST",
    )
    assert (await post(owner, body(stranger), auth(stranger)))[:2] == (
        403,
        "REQUEST_UNAUTHORIZED",
    )
    # The owner's key in the header, someone else's signature.
    assert (await post(owner, body(stranger), auth(key)))[:2] == (403, "REQUEST_UNAUTHORIZED")
    # A committee member asking for a shard it does not own.
    foreign = other.shards[0]
    assert (await post(other, body(key, shard_index=foreign), auth(key)))[:2] == (
        403,
        "REQUEST_UNAUTHORIZED",
    )
    assert (await post(owner, body(key, epoch=committee.epoch + 1), auth(key)))[:2] == (
        400,
        "INVALID_EPOCH",
    )
    # The shard's owner asking a node that does not hold the shard.
    assert (await post(other, body(key), auth(key)))[:2] == (400, "SHARD_NOT_ASSIGNED")
    # Refusals changed nothing; the genuine request is answered with slivers of the shard.
    assert (await health(owner))["shardSummary"] == before["shardSummary"]
    status, _, raw = await post(owner, body(key), auth(key))
    assert status == 200
    response = SyncShardResponse.from_bcs(raw)
    config = committee.encoding
    for got_blob, sliver in response.slivers:
        pair = config.pair_for_shard(ShardIndex(shard), got_blob)
        assert sliver.index == config.sliver_index(SliverType.PRIMARY, pair)
    assert [b.value for b, _ in response.slivers] == sorted(b.value for b, _ in response.slivers)


async def test_a_crash_during_transfer_resumes_after_the_last_stored_page(
    testbed: Network,
) -> None:
    """The gaining node dies right after storing its first page; restarted, it transfers only
    what it had not stored (progress is stored with each page) and still reports sync. As
    processes: the fault exits the node's process."""
    net = testbed
    before = await net.committee()
    gainer = min(before.members, key=lambda m: len(m.shards))
    data = random.randbytes(80_000)
    blobs = {await store(net, data): data}
    net.set_faults(gainer.name, ["crash_after_sync_page"])
    net.stop(gainer.name)
    net.up()
    try:
        await stake(net, gainer.name, gainer.node_id, STAKE)
        next_committee = await select_next_committee(net)
        gained = set(next_committee[gainer.node_id]) - set(gainer.shards)
        assert gained
        await net.advance_half_epoch()

        async def crashed() -> bool:
            return local.running_pid(net.dir, gainer.name) is None

        await wait_for(crashed, timeout=60, what="the gaining node's crash")
    finally:
        net.set_faults(gainer.name, [])
    store_dir = net.dir / "nodes" / gainer.name / "data" / "db"
    node_store = NodeStore(store_dir)
    try:
        certified = [
            b for b, info in node_store.blob_infos() if blob_info.is_certified(info, before.epoch)
        ]
        stored = sum(
            node_store.has_sliver(b, s, axis)
            for b in certified
            for s in gained
            for axis in SliverType
        )
        progress = [st for s, st in node_store.shard_states().items() if st.get("progress")]
    finally:
        node_store.close()
    total = 2 * len(gained) * len(certified)
    assert 0 < stored < total and progress
    net.up()
    new_gainer = member(await net.committee(), gainer.node_id)

    async def ready() -> bool:
        summary = (await health(new_gainer))["shardSummary"]
        return bool(summary["ownedShardStatus"]["ready"] == summary["owned"])

    await wait_for(ready, timeout=60, what="the gaining node's shards")
    transferred = await metric(new_gainer, "walrus_node_shard_sync_slivers", kind="transferred")
    assert transferred == total - stored
    assert await metric(new_gainer, "walrus_node_shard_sync_slivers", kind="recovered") == 0
    await assert_holds(net, new_gainer, gained, blobs)

    async def synced() -> bool:
        state = (await net.staking()).epoch_state
        return state.kind is EpochStateKind.DONE or gainer.node_id in state.synced

    await wait_for(synced, what="the gaining node's epoch sync")
    await read_all(net, blobs)

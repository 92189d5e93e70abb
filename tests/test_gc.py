"""Garbage collection on an in-process network (real HTTP and stores, manual clock): the data
of expired, deleted and invalid blobs leaves every node's disk within one epoch, and no node
serves any of it from the moment it applies the event, while the data is still on its disk."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from pywalrus.chain.tx import Call
from pywalrus.chain.wallet import Wallet
from pywalrus.client.client import StoreOptions, WalrusClient
from pywalrus.core.certificates import aggregate_certificate
from pywalrus.core.config import quorum_weight
from pywalrus.core.encoding import EncodedBlob, encode_blob
from pywalrus.core.errors import BlobNotFound, InconsistentSliverError
from pywalrus.core.inconsistency import recover_sliver
from pywalrus.core.messages import InvalidBlobIdMsg, SignedMessage
from pywalrus.core.slivers import encode_sliver_batch
from pywalrus.core.symbols import decode_recovery_symbols
from pywalrus.core.types import BlobId, Epoch, ShardIndex, SliverIndex, SliverPairIndex, SliverType
from pywalrus.network.committee import CommitteeView, NodeMember
from pywalrus.node import blob_info
from pywalrus.node.storage import NodeStore
from pywalrus.testbed.hostile import inconsistent_encoding
from pywalrus.testing import InProcessNetwork
from store_checks import check_indexes, strip_indexes, tables
from testbed_harness import all_slivers_stored, node_metric, wait_for, walrus_text

OCTET = {"Content-Type": "application/octet-stream"}
BAD_ROW = 2
"""The primary sliver the lying writer alters."""


@pytest_asyncio.fixture
async def net(tmp_path: Path) -> AsyncIterator[InProcessNetwork]:
    async with InProcessNetwork(tmp_path / "gc", nodes=4, shards=10) as network:
        yield network


# Helpers ------------------------------------------------------------------------------------


async def store(client: WalrusClient, data: bytes, epochs: int, deletable: bool) -> BlobId:
    result = await client.store(data, StoreOptions(epochs=epochs, deletable=deletable))
    return BlobId.parse(result["newlyCreated"]["blobObject"]["blobId"])


async def store_lying(
    client: WalrusClient,
    committee: CommitteeView,
    encoded: EncodedBlob,
    down: NodeMember | None = None,
) -> None:
    """Store and certify a blob whose primary sliver `BAD_ROW` the writer altered
    (`inconsistent_encoding`): every sliver verifies on its own, so every node but `down` (a
    node not running) stores its slivers and confirms."""
    config = committee.encoding
    data_length = encoded.metadata.unencoded_length
    blob, _, _ = await client._register(
        encoded,
        StoreOptions(epochs=3, deletable=False),
        committee.epoch + 3,
        config.encoded_length(data_length),
    )
    # Every node gets all of its slivers (buffered until it sees the registration) before the
    # upload that gathers confirmations, which may leave a straggler behind; a node left
    # without the altered sliver could never recover it.
    for member in committee.members:
        if member == down:
            continue
        node = client.node(member)
        await node.put_metadata(encoded.blob_id, encoded.metadata.to_bcs())
        batch = [
            (pair, encoded.sliver(axis, config.sliver_index(axis, SliverPairIndex(pair))))
            for pair in pairs_of(committee, member, encoded.blob_id)
            for axis in SliverType
        ]
        await node.put_slivers(encoded.blob_id, encode_sliver_batch(batch))
    await client._certify(blob.id, await client._upload(committee, encoded, None))


async def invalidate(client: WalrusClient, committee: CommitteeView, encoded: EncodedBlob) -> bytes:
    """Prove the blob inconsistent from the nodes' own recovery symbols, have every node sign
    its invalidity (`inconsistencyProof`), and post the certificate on chain; returns the
    proof."""
    blob_id, config = encoded.blob_id, committee.encoding
    symbols = []
    signed = []
    async with aiohttp.ClientSession() as session:
        for member in committee.members:
            url = f"{member.url}/v1/blobs/{blob_id}/recoverySymbols"
            query = {"targetSliver": str(BAD_ROW), "targetType": "primary"}
            async with session.get(url, params=query) as response:
                assert response.status == 200
                for symbol in decode_recovery_symbols(await response.read()):
                    symbol.verify(encoded.metadata, config)
                    symbols.append(symbol.recovery_symbol())
        with pytest.raises(InconsistentSliverError) as caught:
            recover_sliver(SliverType.PRIMARY, BAD_ROW, symbols, encoded.metadata)
        proof = caught.value.proof.to_bcs()
        expected = InvalidBlobIdMsg(Epoch(committee.epoch), blob_id)
        for member in committee.members:
            status, answer = await post_proof(member, blob_id, proof)
            assert status == 200, answer
            message = SignedMessage.from_json(answer)
            assert message.verify_contents(member.public_key, expected) == expected
            signed.append((member.index, message))
    certificate = aggregate_certificate(len(committee.members), signed)
    arguments = {
        "signature": base64.b64encode(certificate.signature.to_bytes()).decode(),
        "signers_bitmap": base64.b64encode(
            certificate.signers_bitmap(len(committee.members))
        ).decode(),
        "message": base64.b64encode(certificate.serialized_message).decode(),
    }
    await client.chain.execute(client.account, [Call("system::invalidate_blob_id", arguments)])
    return proof


async def post_proof(member: NodeMember, blob_id: BlobId, proof: bytes) -> tuple[int, Any]:
    """(status, the signed message's JSON or the error reason) of posting an inconsistency
    proof to a node."""
    url = f"{member.url}/v1/blobs/{blob_id}/inconsistencyProof/primary"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=proof, headers=OCTET) as response,
    ):
        body = await response.json()
        if response.status == 200:
            return 200, body["success"]["data"]
        return response.status, body["error"]["details"][0]["reason"]


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    """(status, success data or error reason) of a GET."""
    async with session.get(url) as response:
        if response.status == 200 and response.content_type == "application/json":
            return 200, (await response.json())["success"]["data"]
        if response.status == 200:
            return 200, await response.read()
        return response.status, (await response.json())["error"]["details"][0]["reason"]


def pairs_of(committee: CommitteeView, member: NodeMember, blob_id: BlobId) -> list[int]:
    config = committee.encoding
    return [int(config.pair_for_shard(ShardIndex(s), blob_id)) for s in member.shards]


async def refused_everywhere(committee: CommitteeView, blob_id: BlobId) -> None:
    """Every node answers every read of the blob's data as upstream does for a blob that is
    not registered: 404 `METADATA_NOT_FOUND` or `SLIVER_NOT_FOUND`."""
    async with aiohttp.ClientSession() as session:
        for member in committee.members:
            base = f"{member.url}/v1/blobs/{blob_id}"
            pairs = pairs_of(committee, member, blob_id)
            queries = {
                "metadata": "metadata",
                "batch": "slivers?type=primary&" + "&".join(f"pair={p}" for p in pairs),
                "recovery": "recoverySymbols?targetSliver=0&targetType=primary",
                "recovery by id": f"recoverySymbols?id={pairs[0]}-0",
                "decoding": "decodingSymbols?targetSlivers=0&targetType=secondary",
            }
            answers = {what: await get(session, f"{base}/{q}") for what, q in queries.items()}
            for pair in pairs:
                for axis in SliverType:
                    answers[f"{pair} {axis.label}"] = await get(
                        session, f"{base}/slivers/{pair}/{axis.label}"
                    )
            for what, answer in answers.items():
                reason = "METADATA_NOT_FOUND" if what == "metadata" else "SLIVER_NOT_FOUND"
                assert answer == (404, reason), (member.name, what, answer)


async def on_disk(committee: CommitteeView, member: NodeMember, blob_id: BlobId) -> bool:
    """Whether the node still stores the blob's metadata and both slivers of its shards (the
    status routes answer from storage, as upstream's)."""
    async with aiohttp.ClientSession() as session:
        base = f"{member.url}/v1/blobs/{blob_id}"
        found = [await get(session, f"{base}/metadata/status")]
        for pair in pairs_of(committee, member, blob_id):
            for axis in SliverType:
                found.append(await get(session, f"{base}/slivers/{pair}/{axis.label}/status"))
    assert len(set(found)) == 1, found  # all or nothing
    return found[0] == (200, "stored")


def store_path(net: InProcessNetwork, member: NodeMember) -> Path:
    return net.dir / "nodes" / member.name / "data" / "db"


async def reclaimed(member: NodeMember, kind: str, what: str = "blobs") -> float:
    url = member.url.rstrip("/") + "/"
    return await node_metric(url, f"walrus_node_gc_reclaimed_{what}_total", kind=kind)


async def wait_status(committee: CommitteeView, blob_id: BlobId, expected: Any) -> None:
    """Until every node has applied the event that gives the blob status `expected`."""

    async def applied() -> bool:
        async with aiohttp.ClientSession() as session:
            for member in committee.members:
                answer = await get(session, f"{member.url}/v1/blobs/{blob_id}/status")
                if not expected(answer[1]):
                    return False
        return True

    await wait_for(applied, what=f"every node to see the new status of {blob_id}")


async def collected(
    committee: CommitteeView, members: list[NodeMember], encoded: EncodedBlob, kind: str
) -> None:
    """Until each of `members` has collected the blob (the only one of its `kind`): its data
    is off the node's disk, and the node counts both slivers of each of its shards and their
    bytes as stored (with their 4-byte checksums), and the metadata's, as reclaimed."""
    config = committee.encoding

    async def done() -> bool:
        return all([await reclaimed(m, kind) == 1 for m in members])

    await wait_for(done, what=f"the nodes to collect the {kind} blob")
    for member in members:
        assert not await on_disk(committee, member, encoded.blob_id)
        slivers = [
            encoded.sliver(axis, config.sliver_index(axis, SliverPairIndex(pair))).to_bcs()
            for pair in pairs_of(committee, member, encoded.blob_id)
            for axis in SliverType
        ]
        size = sum(4 + len(s) for s in slivers) + len(encoded.metadata.to_bcs())
        assert await reclaimed(member, kind, "slivers") == len(slivers)
        assert await reclaimed(member, kind, "bytes") == size


# The test -----------------------------------------------------------------------------------


async def test_dead_blobs_leave_every_disk_within_an_epoch_and_are_never_served(
    net: InProcessNetwork,
) -> None:
    committee = await net.committee()
    # A node that collects no garbage until restarted (fault `no_gc`): its disk keeps the
    # dead blobs' data while they are read.
    held = committee.members[0]
    others = [m for m in committee.members if m is not held]
    await net.stop_node(held.name)
    net.set_config(held.name, faults=["no_gc"])
    await net.start_node(held.name)
    data = {name: random.randbytes(30_000) for name in ("kept", "expiring", "deleted", "lying")}
    async with net.client() as client:
        kept = await store(client, data["kept"], epochs=5, deletable=False)
        expiring = await store(client, data["expiring"], epochs=1, deletable=False)
        deleted = await store(client, data["deleted"], epochs=3, deletable=True)
        lying = inconsistent_encoding(data["lying"], committee.encoding, BAD_ROW)
        await store_lying(client, committee, lying)
        invalid = lying.blob_id
        dead = [expiring, deleted, invalid]
        await all_slivers_stored(committee, [kept, *dead])
        encoded = {
            expiring: encode_blob(data["expiring"], committee.encoding),
            deleted: encode_blob(data["deleted"], committee.encoding),
            invalid: lying,
        }

        # Deleted and invalidated: from the event on, no node serves them, though the held
        # node still has them on disk; the others remove them at once.
        (blob_object,) = await client.blobs().objects_for(deleted)
        await client.blobs().delete(blob_object.id)
        proof = await invalidate(client, committee, lying)
        await wait_status(committee, deleted, lambda status: status == "nonexistent")
        await wait_status(committee, invalid, lambda status: "invalid" in status)
        for member in committee.members:  # nothing more to sign, as upstream
            assert await post_proof(member, invalid, proof) == (400, "METADATA_NOT_FOUND")
        for blob_id in (deleted, invalid):
            await refused_everywhere(committee, blob_id)
            assert await on_disk(committee, held, blob_id)
            with pytest.raises(BlobNotFound):
                await client.read(blob_id)
        await collected(committee, others, encoded[deleted], "deleted")
        await collected(committee, others, lying, "invalid")
        assert await on_disk(committee, held, deleted) and await on_disk(committee, held, invalid)
        assert await reclaimed(held, "deleted") == 0 and await reclaimed(held, "invalid") == 0

        # Expired at the epoch change: the same, within the new epoch.
        assert await client.read(expiring) == data["expiring"]
        await net.advance_epoch()
        await wait_status(committee, expiring, lambda status: status == "nonexistent")
        await refused_everywhere(committee, expiring)
        assert await on_disk(committee, held, expiring)
        with pytest.raises(BlobNotFound):
            await client.read(expiring)
        await collected(committee, others, encoded[expiring], "expired")

        # The held node, restarted without the fault and with its store as an earlier version
        # left it (no indexes), rebuilds them and finds all three when it starts.
        await net.stop_node(held.name)
        net.set_config(held.name, faults=[])
        held_store = NodeStore(store_path(net, held))
        try:
            strip_indexes(held_store)
        finally:
            held_store.close()
        await net.start_node(held.name)
        for blob_id, kind in zip(dead, ("expired", "deleted", "invalid"), strict=True):
            await collected(committee, [held], encoded[blob_id], kind)
        assert await client.read(kept) == data["kept"]

    # On every node's disk: nothing of the dead blobs, but the info of the invalid one (its
    # status); the kept blob whole; the indexes agreeing with the data, and nothing left in
    # the sync queue (the held node's rebuilt one held every certified blob until start-up).
    for member in committee.members:
        await net.stop_node(member.name)
        node_store = NodeStore(store_path(net, member))
        try:
            check_indexes(node_store)
            contents = tables(node_store)
            assert contents["sync_queue"] == {}
            for blob_id in dead:
                for table, entries in contents.items():
                    mentions = [k for k in entries if blob_id.value in k]
                    expected = 1 if (table, blob_id) == ("blob_info", invalid) else 0
                    assert len(mentions) == expected, (member.name, table, blob_id)
            assert node_store.blob_info(invalid) is not None
            assert blob_info.status_json(node_store.blob_info(invalid), 0) != "nonexistent"
            assert all(node_store.has_sliver(kept, s, a) for s in member.shards for a in SliverType)
        finally:
            node_store.close()


async def test_a_node_that_finds_a_blob_inconsistent_invalidates_it(
    net: InProcessNetwork,
) -> None:
    """The owner of the altered sliver is down while a lying writer stores; back up, its blob
    sync rebuilds that sliver from its peers' symbols, finds it disowned by the metadata, has
    the committee check its proof and sign, and invalidates the blob on chain itself (the
    event comes from its operator's transaction): every node stops serving the blob, and
    `walrus blob-status` reports it invalid."""
    committee = await net.committee()
    config = committee.encoding
    bad_pair = config.pair_index(SliverType.PRIMARY, SliverIndex(BAD_ROW))
    spare = config.n_shards - quorum_weight(config.n_shards)
    while True:  # a blob whose altered sliver's owner can be down while a quorum confirms
        encoded = inconsistent_encoding(random.randbytes(20_000), config, BAD_ROW)
        (owner,) = [
            m for m in committee.members if bad_pair in pairs_of(committee, m, encoded.blob_id)
        ]
        if len(owner.shards) <= spare:
            break
    blob_id = encoded.blob_id
    async with net.chain_client() as chain:
        cursor = int((await chain.info())["eventCount"]) - 1
    await net.stop_node(owner.name)
    try:
        async with net.client() as client:
            await store_lying(client, committee, encoded, down=owner)
    finally:
        await net.start_node(owner.name)
    await wait_status(committee, blob_id, lambda status: "invalid" in status)
    async with net.chain_client() as chain:
        events = await chain.wait_events(cursor, ["InvalidBlobID"], timeout_ms=1_000)
        (event,) = [e for e in events if e.fields["blob_id"] == str(blob_id)]
        transaction = await chain.call("chain_getTransaction", digest=event.tx_digest)
    operator = Wallet.load(net.dir / "nodes" / owner.name / "wallet.keystore").active.address
    assert transaction["transaction"]["data"]["sender"] == operator
    await refused_everywhere(committee, blob_id)
    result = await asyncio.to_thread(
        walrus_text,
        "blob-status",
        "--blob-id",
        str(blob_id),
        "--json",
        "--config",
        net.dir / "client_config.yaml",
    )
    assert result.returncode == 0, result.stderr
    assert "invalid" in json.loads(result.stdout)["status"], result.stdout

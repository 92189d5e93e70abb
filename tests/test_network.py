"""The whole network as real processes: `walrus testbed` with 7 nodes and 100 shards.

Real HTTP on loopback, real signatures, real files; nodes are stopped, SIGKILLed, restarted and
made to lie through their configuration.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pywalrus.client.client import StoreOptions
from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import encode_blob
from pywalrus.core.errors import BlobNotFound, NotEnoughConfirmations
from pywalrus.core.slivers import Sliver, decode_sliver_batch, encode_sliver_batch
from pywalrus.core.types import BlobId, ShardIndex, SliverPairIndex, SliverType
from pywalrus.network.committee import CommitteeView
from testbed_harness import Network, all_slivers_stored, running_testbed, wait_for, walrus

MiB = 1 << 20


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_testbed(tmp_path_factory.mktemp("testbed"), nodes=7)


def by_shards(committee: CommitteeView) -> list[tuple[str, int]]:
    """(node name, shard count), fewest shards first."""
    return sorted(((m.name, len(m.shards)) for m in committee.members), key=lambda x: x[1])


async def store_and_read(network: Network, data: bytes, **options: Any) -> BlobId:
    async with network.client() as client:
        result = await client.store(data, StoreOptions(**options))
        blob_id = BlobId.parse(result["newlyCreated"]["blobObject"]["blobId"])
        assert result["newlyCreated"]["blobObject"]["certifiedEpoch"] is not None
        assert await client.read(blob_id) == data
        return blob_id


async def test_store_and_read_sizes(network: Network) -> None:
    for size in (0, 1, MiB, 10 * MiB):
        await store_and_read(network, random.randbytes(size))


def test_cli_store_read_round_trip(network: Network, tmp_path: Path) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(random.randbytes(300_000))
    stored = walrus(
        "store", str(path), "--epochs", "2", "--config", str(network.config_path), "--json"
    )
    assert stored.returncode == 0, stored.stderr.decode()
    import json

    result = json.loads(stored.stdout)[0]["blobStoreResult"]["newlyCreated"]
    out = tmp_path / "back.bin"
    read = walrus(
        "--config",
        str(network.config_path),
        "read",
        result["blobObject"]["blobId"],
        "--out",
        str(out),
    )
    assert read.returncode == 0, read.stderr.decode()
    assert out.read_bytes() == path.read_bytes()
    again = walrus(
        "store", str(path), "--epochs", "2", "--config", str(network.config_path), "--json"
    )
    assert "alreadyCertified" in json.loads(again.stdout)[0]["blobStoreResult"]


async def test_f_shards_down_then_more(network: Network) -> None:
    committee = await network.committee()
    f = (committee.n_shards - 1) // 3
    order = by_shards(committee)
    down, weight = [], 0
    for name, shards in order:
        if weight + shards > f:
            break
        down.append(name)
        weight += shards
    assert down, "some nodes must fit in f shards"
    try:
        for name in down:
            network.stop(name)
        await store_and_read(network, random.randbytes(2 * MiB))
        # One more node takes the down weight past f: the store cannot reach a quorum.
        extra = next(name for name, _ in order if name not in down)
        network.stop(extra)
        async with network.client() as client:
            coins_before = await client.chain.owned_objects(client.account.address, "wal::Coin")
            before = sum(c.fields["balance"] for c in coins_before)
            data = random.randbytes(500_000)
            with pytest.raises(NotEnoughConfirmations):
                await client.store(data, StoreOptions(epochs=2))
            coins_after = await client.chain.owned_objects(client.account.address, "wal::Coin")
            paid = before - sum(c.fields["balance"] for c in coins_after)
            system = (await client.chain.singleton("walrus::System")).fields
            units = committee.encoding.storage_units(len(data))
            registration = (
                system["storage_price_per_unit_size"] * units * 2
                + system["write_price_per_unit_size"] * units
            )
            assert paid == registration
            blob_id = encode_blob(data, committee.encoding).blob_id
            blobs = await client.blobs().objects_for(blob_id)
            assert [b.fields["certified_epoch"] for b in blobs] == [None]
    finally:
        network.up()


async def test_lying_nodes_change_nothing(network: Network) -> None:
    committee = await network.committee()
    order = by_shards(committee)
    liars = {order[0][0]: ["corrupt_slivers", "corrupt_metadata"], order[1][0]: ["bad_signatures"]}
    assert sum(s for n, s in order[:2]) <= (committee.n_shards - 1) // 3
    # An honest node without the sliver batch route, as upstream's, gets one PUT per sliver.
    plain = order[2][0]
    faults_of = {**liars, plain: ["no_batch_route"]}
    try:
        for name, faults in faults_of.items():
            network.set_faults(name, faults)
            network.stop(name)
        network.up()
        for _ in range(3):
            await store_and_read(network, random.randbytes(MiB))
        # The liars' own answers are wrong, and are rejected by the reader.
        liar = next(m for m in committee.members if m.name == order[0][0])
        async with network.client() as client:
            data = random.randbytes(100_000)
            result = await client.store(data, StoreOptions(epochs=1))
            blob_id = BlobId.parse(result["newlyCreated"]["blobObject"]["blobId"])
            from pywalrus.core.metadata import verified_metadata

            raw = await client.node(liar).get_metadata(blob_id)
            with pytest.raises(Exception, match="metadata"):
                verified_metadata(raw, blob_id, committee.encoding)
            assert await client.read(blob_id) == data
            member = next(m for m in committee.members if m.name == plain)
            assert member.url in client._no_batch_route
            pair = committee.encoding.pair_for_shard(ShardIndex(member.shards[0]), blob_id)
            for axis in SliverType:
                assert await client.node(member).get_sliver(blob_id, pair, axis)
            assert await client.node(member).blob_status(blob_id) != "nonexistent"
    finally:
        for name in faults_of:
            network.set_faults(name, [])
            network.stop(name)
        network.up()


async def test_sigkill_node_serves_what_it_confirmed(network: Network) -> None:
    data = random.randbytes(3 * MiB)
    blob_id = await store_and_read(network, data)
    committee = await network.committee()
    victim = max(committee.members, key=lambda m: len(m.shards))
    network.kill(victim.name)
    network.up()
    encoded = encode_blob(data, committee.encoding)
    async with network.client() as client:
        node = client.node(victim)
        for shard in victim.shards:
            pair = committee.encoding.pair_for_shard(ShardIndex(shard), blob_id)
            for axis in SliverType:
                served = await node.get_sliver(blob_id, pair, axis)
                expected = encoded.sliver(axis, committee.encoding.sliver_index(axis, pair))
                assert served == expected.to_bcs()


async def test_node_refuses_bad_uploads(network: Network) -> None:
    committee = await network.committee()
    member = committee.members[0]
    data = random.randbytes(200_000)
    encoded = encode_blob(data, committee.encoding)
    blob_id = encoded.blob_id
    base = f"{member.url}/v1/blobs/{blob_id}"
    octet = {"Content-Type": "application/octet-stream"}

    async def reason(
        session: aiohttp.ClientSession, method: str, url: str, body: bytes
    ) -> tuple[int, str]:
        async with session.request(method, url, data=body, headers=octet) as response:
            payload = await response.json()
            return response.status, payload["error"]["details"][0]["reason"]

    async with aiohttp.ClientSession() as session:
        # Unregistered blob.
        assert await reason(session, "PUT", f"{base}/metadata", encoded.metadata.to_bcs()) == (
            400,
            "NOT_REGISTERED",
        )
        # Register it for real, then try bad uploads.
        async with network.client() as client:
            await client._register(
                encoded,
                StoreOptions(epochs=1),
                committee.epoch + 1,
                committee.encoding.encoded_length(len(data)),
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            async with session.get(f"{base}/status") as response:
                if (await response.json())["success"]["data"] != "nonexistent":
                    break
            await asyncio.sleep(0.05)
        assert await reason(session, "PUT", f"{base}/metadata", b"\x00\x01garbage") == (
            400,
            "INVALID_METADATA",
        )
        # Metadata of another blob is not this blob's.
        other = encode_blob(b"other", committee.encoding).metadata.to_bcs()
        assert await reason(session, "PUT", f"{base}/metadata", other) == (400, "INVALID_METADATA")
        ours = set(member.shards)
        foreign = next(s for s in range(committee.n_shards) if s not in ours)
        mine = next(iter(ours))
        pair_foreign = committee.encoding.pair_for_shard(ShardIndex(foreign), blob_id)
        pair_mine = committee.encoding.pair_for_shard(ShardIndex(mine), blob_id)
        primary = encoded.primary_sliver(pair_mine).to_bcs()
        assert (await reason(session, "PUT", f"{base}/slivers/{pair_mine}/primary", primary))[
            1
        ] == "METADATA_NOT_FOUND"
        async with session.put(
            f"{base}/metadata", data=encoded.metadata.to_bcs(), headers=octet
        ) as response:
            assert response.status == 201
        foreign_sliver = encoded.primary_sliver(pair_foreign).to_bcs()
        assert await reason(
            session, "PUT", f"{base}/slivers/{pair_foreign}/primary", foreign_sliver
        ) == (400, "SHARD_NOT_ASSIGNED")
        assert await reason(session, "PUT", f"{base}/slivers/{pair_mine}/primary", b"\x05abc") == (
            400,
            "INVALID_SLIVER",
        )
        tampered = bytearray(primary)
        tampered[10] ^= 1
        assert await reason(
            session, "PUT", f"{base}/slivers/{pair_mine}/primary", bytes(tampered)
        ) == (400, "INVALID_SLIVER")
        wrong = encoded.primary_sliver((pair_mine + 1) % committee.n_shards).to_bcs()
        assert await reason(session, "PUT", f"{base}/slivers/{pair_mine}/primary", wrong) == (
            400,
            "SLIVER_INDEX_MISMATCH",
        )
        assert await reason(
            session, "PUT", f"{base}/slivers/{committee.n_shards}/primary", primary
        ) == (400, "INDEX_OUT_OF_RANGE")
        huge = b"\x00" * (80 * MiB)
        async with session.put(
            f"{base}/slivers/{pair_mine}/primary", data=huge, headers=octet
        ) as response:
            assert response.status == 413
        # The batch route refuses a whole batch for one bad sliver, and malformed batches.
        good = (pair_mine, encoded.primary_sliver(pair_mine))
        secondary_index = committee.encoding.sliver_index(SliverType.SECONDARY, pair_mine)
        secondary = (pair_mine, encoded.secondary_sliver(secondary_index))
        bad = Sliver.from_bcs(bytes(tampered), SliverType.PRIMARY)
        for batch, expected in [
            ([good, (pair_foreign, encoded.primary_sliver(pair_foreign))], "SHARD_NOT_ASSIGNED"),
            ([secondary, (pair_mine, bad)], "INVALID_SLIVER"),
            (
                [(pair_mine, encoded.primary_sliver((pair_mine + 1) % committee.n_shards))],
                "SLIVER_INDEX_MISMATCH",
            ),
        ]:
            body = encode_sliver_batch(batch)
            assert await reason(session, "PUT", f"{base}/slivers", body) == (400, expected)
        for garbage in (b"", b"\x00", encode_sliver_batch([good])[:-3]):
            assert await reason(session, "PUT", f"{base}/slivers", garbage) == (
                400,
                "INVALID_SLIVER",
            )
        async with session.put(f"{base}/slivers", data=huge, headers=octet) as response:
            assert response.status == 413
        # Nothing was stored by the refusals.
        for axis in ("primary", "secondary"):
            async with session.get(f"{base}/slivers/{pair_mine}/{axis}/status") as response:
                assert (await response.json())["success"]["data"] == "nonexistent"
        async with session.get(f"{base}/confirmation/permanent") as response:
            assert response.status == 400
        # The genuine sliver is accepted; in a batch, both of the pair are.
        async with session.put(
            f"{base}/slivers/{pair_mine}/primary", data=primary, headers=octet
        ) as response:
            assert response.status == 201
        async with session.put(
            f"{base}/slivers", data=encode_sliver_batch([good, secondary]), headers=octet
        ) as response:
            assert response.status == 201
        async with session.get(f"{base}/slivers/{pair_mine}/secondary") as response:
            assert await response.read() == secondary[1].to_bcs()
        # The batch read route answers the asked slivers the node holds, and refuses bad asks.
        query = f"{base}/slivers?type=secondary&pair={pair_mine}&pair={pair_foreign}"
        async with session.get(query) as response:
            assert response.status == 200
            assert decode_sliver_batch(await response.read()) == [secondary]
        for bad_query, answer in [
            (f"type=secondary&pair={pair_foreign}", (404, "SLIVER_NOT_FOUND")),
            ("type=secondary", (400, "NO_SLIVERS_SPECIFIED")),
            (f"type=tertiary&pair={pair_mine}", (400, "INVALID_SLIVER_TYPE")),
            ("type=primary&pair=x", (400, "INVALID_SLIVER_PAIR_INDEX")),
            (f"type=primary&pair={committee.n_shards}", (400, "INDEX_OUT_OF_RANGE")),
        ]:
            assert await reason(session, "GET", f"{base}/slivers?{bad_query}", b"") == answer


async def test_delete_and_expiry_make_reads_report_gone(network: Network) -> None:
    deletable = await store_and_read(network, random.randbytes(50_000), epochs=3, deletable=True)
    short = await store_and_read(network, random.randbytes(60_000), epochs=1, deletable=False)
    async with network.client() as client:
        (obj,) = await client.blobs().objects_for(deletable)
        await client.blobs().delete(obj.id)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and await client.blob_status(deletable) != "nonexistent":
            await asyncio.sleep(0.05)
        with pytest.raises(BlobNotFound):
            await client.read(deletable)
    await network.advance_epoch()
    async with network.client() as client:
        with pytest.raises(BlobNotFound):
            await client.read(short)
        assert await client.blob_status(short) == "nonexistent"
        # Stores keep working in the new epoch.
    await store_and_read(network, random.randbytes(10_000))


async def test_upstream_decoder_reads_our_nodes(network: Network) -> None:
    """walrus-core itself (via pysui-fastcrypto) verifies and decodes what our nodes serve."""
    fastcrypto = pytest.importorskip("pysui_fastcrypto")
    data = random.randbytes(700_000)
    blob_id = await store_and_read(network, data, epochs=2)
    committee = await network.committee()
    config = committee.encoding
    async with network.client() as client:
        member = committee.members[0]
        raw_metadata = await client.node(member).get_metadata(blob_id)
        verified = fastcrypto.redstuff_verify_metadata(raw_metadata, committee.n_shards)
        assert bytes(verified.blob_id) == blob_id.value
        slivers = []
        for pair in range(config.n_primary_source_symbols):
            owner = committee.owner(config.shard_for_pair(SliverPairIndex(pair), blob_id))
            sliver = await client.node(owner).get_sliver(blob_id, pair, SliverType.PRIMARY)
            fastcrypto.redstuff_verify_sliver(sliver, verified, "primary")
            slivers.append(sliver)
    assert bytes(fastcrypto.redstuff_decode_and_verify(slivers, verified, "primary")) == data


def test_sync_client(network: Network) -> None:
    from pywalrus import StoreOptions as Options
    from pywalrus import SyncWalrusClient

    data = random.randbytes(123_456)
    with SyncWalrusClient(network.config) as client:
        result = client.store(data, Options(epochs=2, deletable=True))
        blob_id = BlobId.parse(result["newlyCreated"]["blobObject"]["blobId"])
        assert client.read(blob_id) == data
        listed = [b["blobId"] for b in client.list_blobs()]
        assert str(blob_id) in listed


async def test_recovery_and_decoding_symbols(network: Network) -> None:
    """Nodes serve verifiable recovery symbols (both request forms) and decoding symbols."""
    from pywalrus.core.bcs import BcsReader
    from pywalrus.core.inconsistency import recover_sliver
    from pywalrus.core.symbols import DecodingSymbol, decode_recovery_symbols, decode_sliver

    data = random.randbytes(300_000)
    blob_id = await store_and_read(network, data, epochs=2)
    committee = await network.committee()
    await all_slivers_stored(committee, [blob_id])  # a store returns on a quorum
    config = committee.encoding
    encoded = encode_blob(data, config)
    target = 5
    async with aiohttp.ClientSession() as session:

        async def get(member_url: str, query: str) -> tuple[int, bytes]:
            url = f"{member_url}/v1/blobs/{blob_id}/{query}"
            async with session.get(url) as response:
                return response.status, await response.read()

        # targetSliver form: symbols for primary sliver 5 from every node's secondary slivers.
        gathered = []
        for member in committee.members:
            status, body = await get(
                member.url, f"recoverySymbols?targetSliver={target}&targetType=primary"
            )
            assert status == 200
            for symbol in decode_recovery_symbols(body):
                symbol.verify(encoded.metadata, config)
                gathered.append(symbol.recovery_symbol())
        recovered = recover_sliver(SliverType.PRIMARY, target, gathered, encoded.metadata)
        assert recovered == encoded.primary_sliver(target)

        # id=P-S form: the intersection of a primary sliver this node holds with secondary 7.
        member = committee.members[0]
        pair = config.pair_for_shard(ShardIndex(member.shards[0]), blob_id)
        status, body = await get(member.url, f"recoverySymbols?id={pair}-7&proofAxis=primary")
        assert status == 200
        (symbol,) = decode_recovery_symbols(body)
        symbol.verify(encoded.metadata, config)
        assert (symbol.target_axis, symbol.target_index, symbol.symbol.index) == (
            SliverType.SECONDARY,
            7,
            pair,
        )

        # decodingSymbols: a BCS map target → symbols without proofs; they decode the target.
        by_target: dict[int, list[DecodingSymbol]] = {3: [], 9: []}
        for member in committee.members:
            status, body = await get(
                member.url, "decodingSymbols?targetSlivers=9&targetSlivers=3&targetType=secondary"
            )
            assert status == 200
            reader = BcsReader(body)
            for _ in range(reader.uleb128()):
                key = reader.u16()
                for _ in range(reader.uleb128()):
                    assert reader.u8() == SliverType.SECONDARY
                    by_target[key].append(DecodingSymbol.read(reader))
            reader.finish()
        for key, symbols in by_target.items():
            sliver = decode_sliver(SliverType.SECONDARY, key, symbols, config, encoded.symbol_size)
            assert sliver == encoded.secondary_sliver(key)

        status, body = await get(committee.members[0].url, "decodingSymbols?targetType=primary")
        assert status == 400 and b"NO_TARGET_SLIVERS_SPECIFIED" in body
        status, body = await get(
            committee.members[0].url,
            f"recoverySymbols?targetSliver={config.n_shards}&targetType=primary",
        )
        assert status == 400 and b"RECOVERY_SYMBOL_OUT_OF_RANGE" in body


async def test_node_that_missed_a_blob_recovers_its_slivers(network: Network) -> None:
    """Blob sync: a node down during a store rebuilds its slivers from its peers' symbols."""
    committee = await network.committee()
    member = min(committee.members, key=lambda m: len(m.shards))
    network.stop(member.name)
    try:
        data = random.randbytes(400_000)
        blob_id = await store_and_read(network, data, epochs=2, deletable=False)
    finally:
        network.up()
    config = committee.encoding
    encoded = encode_blob(data, config)
    async with network.client() as client:
        node = client.node(member)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                await node.get_confirmation(blob_id, None, wait_ms=100)
                break
            except Exception:
                await asyncio.sleep(0.2)
        # It now serves the right slivers for all its shards, and confirms the blob.
        for shard in member.shards:
            pair = config.pair_for_shard(ShardIndex(shard), blob_id)
            for axis in SliverType:
                served = await node.get_sliver(blob_id, pair, axis)
                assert served == encoded.sliver(axis, config.sliver_index(axis, pair)).to_bcs()
        signed = await node.get_confirmation(blob_id, None)
        assert signed.verify(member.public_key)


def test_upload_batches_respect_the_byte_budget() -> None:
    from pywalrus.client.client import UPLOAD_BATCH_BYTES, upload_batches

    config = EncodingConfig(10)
    length = 3 * MiB // 2
    sizes = {axis: config.sliver_size(axis, length) for axis in SliverType}
    slivers = [(pair, axis) for pair in range(10) for axis in SliverType]
    batches = upload_batches(slivers, sizes)
    assert [entry for batch in batches for entry in batch] == slivers
    for batch in batches:
        size = sum(sizes[axis] for _, axis in batch)
        assert size <= UPLOAD_BATCH_BYTES or len(batch) == 1
    assert len(batches) > 1


async def test_node_store_from_before_shard_records_is_upgraded(network: Network) -> None:
    """A node whose store has no shard records and no event epoch (written by an earlier
    version) records its shards as ready and finds the epoch start it applied."""
    from pywalrus.node.config import NodeConfig
    from pywalrus.node.storage import NodeStore

    committee = await network.committee()
    name = committee.members[-1].name
    network.stop(name)
    config = NodeConfig.load(network.dir / "nodes" / name / "node.yaml")
    store = NodeStore(config.data_dir / "db", config.lmdb_map_size)
    try:
        with store.env.begin(write=True) as txn:
            txn.drop(store._shards, delete=False)
            txn.delete(b"event_epoch", db=store._meta)
        assert store.shard_states() == {} and store.get_scalar("event_epoch") is None
    finally:
        store.close()
    network.up()
    member = next(m for m in (await network.committee()).members if m.name == name)
    async with network.client() as client:
        summary = (await client.node(member).health())["shardSummary"]
    assert summary["owned"] == len(member.shards)
    assert summary["ownedShardStatus"]["ready"] == len(member.shards)
    network.stop(name)
    store = NodeStore(config.data_dir / "db", config.lmdb_map_size)
    try:
        assert set(store.shard_states()) == set(member.shards)
        assert store.get_scalar("event_epoch") == str(committee.epoch)
    finally:
        store.close()
    network.up()


async def test_store_survives_an_epoch_change_before_certifying(network: Network) -> None:
    """The epoch changes after the upload, before the certificate lands: the old committee's
    certificate is refused, and the store uploads to the new committee and certifies."""
    import threading

    changed: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        del total
        if stage == "certifying" and done == 0 and not changed:
            # Blocks the client's loop while the chain and nodes (other processes) move on.
            thread = threading.Thread(target=lambda: asyncio.run(network.advance_epoch()))
            thread.start()
            thread.join(60)
            changed.append(1)

    before = (await network.staking()).epoch
    data = random.randbytes(200_000)
    async with network.client() as client:
        client.progress = progress
        result = await client.store(data, StoreOptions(epochs=3))
        blob = result["newlyCreated"]["blobObject"]
        assert changed and blob["certifiedEpoch"] == before + 1
        assert await client.read(BlobId.parse(blob["blobId"])) == data


async def test_nodes_run_inside_this_event_loop(network: Network) -> None:
    """`start_node` builds a node from its config and runs it in an existing event loop: two
    nodes of the testbed, stopped as processes, serve from this test's loop on their ports; a
    blob stored through the whole committee is held by both and reads back; `stop` ends them
    and the processes take over again."""
    from urllib.parse import urlparse

    from pywalrus.node.config import NodeConfig
    from pywalrus.node.service import RunningNode, start_node

    committee = await network.committee()
    members = committee.members[:2]
    running: list[RunningNode] = []
    try:
        for member in members:
            network.stop(member.name)
            config = NodeConfig.load(network.dir / "nodes" / member.name / "node.yaml")
            running.append(await start_node(config))
        assert [r.port for r in running] == [urlparse(m.url).port for m in members]
        async with network.client() as client:
            for member in members:
                assert (await client.node(member).health())["name"] == member.name
        blob_id = await store_and_read(network, random.randbytes(300_000))

        async def both_hold_it() -> bool:
            return all(r.node.holds_all_slivers(blob_id) for r in running)

        await wait_for(both_hold_it, 30, "both in-loop nodes to hold the blob")
    finally:
        for r in running:
            await r.stop()
        network.up()
    async with network.client() as client:
        for member in members:
            assert (await client.node(member).health())["name"] == member.name

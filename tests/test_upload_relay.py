"""The upload relay over real HTTP (issue 11): `walrus upload-relay` processes (free, with a
constant tip, with a linear tip from upstream's YAML) in front of a testbed of real processes
(5 nodes, 20 shards, so f = 6 shards).

What must hold: a blob stored through a relay (CLI and SDK, deletable and permanent) reads
back, and a relay that wants a tip is paid exactly it; a request without a tip, with a short
one, with a tip paid to someone else or for another blob, with the wrong nonce, with a tip
already used, for an unregistered blob or a blob ID the body does not encode to, an oversize
body or unknown parameters is refused with upstream's status as one line of JSON, certifies
nothing, and (when refused before any work) leaves the tip usable; a relay answering with a
forged certificate is caught by the client, which certifies nothing; with f shards' worth of
nodes down a store through the relay still works; SIGTERM stops the relay with exit code 0.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web

from pywalrus.chain.client import ChainClient
from pywalrus.chain.tx import Call, pure_call
from pywalrus.client.client import PendingRegistration, StoreOptions
from pywalrus.core.accounts import Account
from pywalrus.core.config import max_n_faulty
from pywalrus.core.errors import UploadRelayError
from pywalrus.core.types import BlobId
from pywalrus.core.upload_relay import AuthPackage, LinearTip, compute_tip, encode_nonce
from pywalrus.testbed.ports import free_ports
from pywalrus.testbed.process import service_process
from testbed_harness import Network, running_testbed, walrus

SHARDS = 20
TIP = 7_000
MAX_BODY = 1 << 20
TIP_ADDRESS = Account.from_seed(b"upload relay tips".ljust(32, b"\0")).address
LINEAR = LinearTip(500, 3)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_testbed(tmp_path_factory.mktemp("relay"), nodes=5, shards=SHARDS)


def _relay(network: Network, log: Path, *flags: str) -> Iterator[str]:
    with service_process("upload-relay", network.config_path, log, *flags) as (_, url, _):
        yield url.rstrip("/")


@pytest.fixture(scope="module")
def free_relay(network: Network) -> Iterator[str]:
    yield from _relay(
        network, network.dir / "logs" / "relay-free.log", "--max-body-size", str(MAX_BODY)
    )


@pytest.fixture(scope="module")
def tip_relay(network: Network) -> Iterator[str]:
    flags = ("--tip-address", TIP_ADDRESS, "--tip-const", str(TIP))
    yield from _relay(network, network.dir / "logs" / "relay-tip.log", *flags)


@pytest.fixture(scope="module")
def linear_relay(network: Network) -> Iterator[str]:
    """A relay configured by upstream's YAML (serde's tags), with a linear tip."""
    path = network.dir / "relay.yaml"
    path.write_text(
        f"tip_config: !send_tip\n  address: {TIP_ADDRESS}\n  kind: !linear\n"
        f"    base: {LINEAR.base}\n"
        f"    encoded_size_mul_per_kib: {LINEAR.encoded_size_mul_per_kib}\n"
        "tx_freshness_threshold_secs: 36000\ntx_max_future_threshold:\n  secs: 30\n  nanos: 0\n"
    )
    yield from _relay(
        network, network.dir / "logs" / "relay-linear.log", "--relay-config", str(path)
    )


async def _get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def _post(relay: str, body: bytes, **params: str) -> tuple[int, dict[str, Any]]:
    """POST to the relay; the status and the JSON answer (an error envelope is checked to be
    one line and reduced to its `error` object with the reason alongside)."""
    url = f"{relay}/v1/blob-upload-relay?{urlencode(params)}"
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        text = await response.text()
    answer = json.loads(text)
    if response.status != 200:
        assert "\n" not in text
        error = answer["error"]
        assert error["code"] == response.status
        error["reason"] = error["details"][0]["reason"]
        return response.status, error
    return response.status, answer


async def _register(network: Network, data: bytes, deletable: bool = True) -> PendingRegistration:
    async with network.client() as client:
        return await client.register(data, StoreOptions(epochs=2, deletable=deletable))


async def _pay(network: Network, amount: int, package: bytes | None, to: str = TIP_ADDRESS) -> str:
    """A tip transaction: `tx::pure` of `package` (if any) first, then the transfer."""
    calls = [] if package is None else [pure_call(package)]
    calls.append(Call("gas::transfer", {"recipient": to, "amount": amount}))
    async with ChainClient(network.config.chain_url) as chain:
        result = await chain.execute(network.config.wallet().active, calls)
    digest: str = result["digest"]
    return digest


async def _gas(network: Network, address: str) -> int:
    async with ChainClient(network.config.chain_url) as chain:
        return (await chain.account(address))["gas"]


async def _certified_epoch(network: Network, object_id: str) -> int | None:
    async with ChainClient(network.config.chain_url) as chain:
        blob = await chain.get_object(object_id)
    assert blob is not None
    epoch: int | None = blob.fields["certified_epoch"]
    return epoch


async def _read(network: Network, blob_id: str) -> bytes:
    async with network.client() as client:
        return await client.read(BlobId.parse(blob_id))


async def test_tip_config_and_api(free_relay: str, tip_relay: str, linear_relay: str) -> None:
    assert await _get(f"{free_relay}/v1/tip-config") == (200, "no_tip")
    assert await _get(f"{tip_relay}/v1/tip-config") == (
        200,
        {"send_tip": {"address": TIP_ADDRESS, "kind": {"const": TIP}}},
    )
    kind = {
        "linear": {"base": LINEAR.base, "encoded_size_mul_per_kib": LINEAR.encoded_size_mul_per_kib}
    }
    assert await _get(f"{linear_relay}/v1/tip-config") == (
        200,
        {"send_tip": {"address": TIP_ADDRESS, "kind": kind}},
    )
    status, document = await _get(f"{free_relay}/v1/api")
    assert status == 200
    assert set(document["paths"]) >= {"/v1/blob-upload-relay", "/v1/tip-config"}
    parameters = document["paths"]["/v1/blob-upload-relay"]["post"]["parameters"]
    assert [p["name"] for p in parameters] == [
        "blob_id",
        "tx_id",
        "nonce",
        "deletable_blob_object",
        "encoding_type",
    ]


def test_cli_store_through_free_relay_reads_back(
    network: Network, free_relay: str, tmp_path: Path
) -> None:
    data = random.Random(1).randbytes(100_000)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    result = walrus(
        "store", str(path), "--epochs", "2", "--upload-relay", free_relay, "--json",
        "--config", str(network.config_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    created = json.loads(result.stdout)[0]["blobStoreResult"]["newlyCreated"]["blobObject"]
    assert created["certifiedEpoch"] is not None
    assert asyncio.run(_read(network, created["blobId"])) == data
    bad = walrus(
        "store", str(path), "--upload-relay", "relay.example", "--config", str(network.config_path)
    )
    assert bad.returncode != 0 and b"not an http:// or https:// URL" in bad.stderr


async def test_sdk_store_pays_the_tip_and_reads_back(
    network: Network, tip_relay: str, linear_relay: str
) -> None:
    """Through the constant-tip relay (deletable) and the linear one (permanent: the relay
    finds the registration in the nodes' status): each relay gets exactly its tip."""
    rng = random.Random(2)
    for relay, deletable, size in ((tip_relay, True, 30_000), (linear_relay, False, 200_000)):
        data = rng.randbytes(size)
        before = await _gas(network, TIP_ADDRESS)
        async with network.client() as client:
            result = await client.store(
                data, StoreOptions(epochs=2, deletable=deletable, upload_relay=relay)
            )
        blob = result["newlyCreated"]["blobObject"]
        assert blob["certifiedEpoch"] is not None and blob["deletable"] == deletable
        tip = TIP if relay == tip_relay else compute_tip(LINEAR, SHARDS, size)
        assert await _gas(network, TIP_ADDRESS) - before == tip
        assert await _read(network, blob["blobId"]) == data


async def test_tips_are_checked(network: Network, tip_relay: str) -> None:
    """Every way of not paying is refused, certifies nothing, and a tip refused before any
    work stays usable; a tip that paid for an upload buys no second one."""
    rng = random.Random(3)
    data, other = rng.randbytes(20_000), rng.randbytes(20_000)
    pending = await _register(network, data)
    package = AuthPackage.for_blob(data)
    hashed = package.hashed().to_bcs()
    nonce = encode_nonce(package.nonce)
    base = {"blob_id": pending.blob_id, "deletable_blob_object": pending.object_id}

    async def refused(status: int, reason: str, body: bytes = data, **params: str) -> None:
        got, error = await _post(tip_relay, body, **{**base, **params})
        assert (got, error["reason"]) == (status, reason), error
        assert await _certified_epoch(network, pending.object_id) is None

    await refused(400, "MISSING_TX_ID_OR_NONCE")
    await refused(400, "MISSING_TX_ID_OR_NONCE", tx_id=await _pay(network, TIP, hashed))
    await refused(400, "TIP_TRANSACTION_NOT_FOUND", tx_id="1" * 44, nonce=nonce)
    short = await _pay(network, TIP - 1, hashed)
    await refused(402, "INSUFFICIENT_TIP", tx_id=short, nonce=nonce)
    elsewhere = await _pay(network, TIP, hashed, to=Account.generate().address)
    await refused(402, "NO_TIP_SENT", tx_id=elsewhere, nonce=nonce)
    no_package = await _pay(network, TIP, None)
    await refused(401, "MISSING_AUTH_PACKAGE", tx_id=no_package, nonce=nonce)
    good = await _pay(network, TIP, hashed)
    wrong_nonce = encode_nonce(bytes(32))
    await refused(401, "INVALID_NONCE_HASH", tx_id=good, nonce=wrong_nonce)
    # The tip of `data` sent with another blob of the same size, then of another size.
    await refused(401, "BLOB_DIGEST_MISMATCH", other, tx_id=good, nonce=nonce)
    await refused(401, "BLOB_LENGTH_MISMATCH", data[:-1], tx_id=good, nonce=nonce)
    # None of that used the tip up: it pays for its own blob.
    status, answer = await _post(tip_relay, data, **base, tx_id=good, nonce=nonce)
    assert status == 200, answer
    assert BlobId(bytes(answer["blob_id"])) == BlobId.parse(pending.blob_id)
    # And once only: not again, not for another registered blob.
    await refused(409, "TIP_ALREADY_USED", tx_id=good, nonce=nonce)
    again = await _register(network, other)
    got, error = await _post(
        tip_relay,
        other,
        blob_id=again.blob_id,
        deletable_blob_object=again.object_id,
        tx_id=good,
        nonce=nonce,
    )
    assert (got, error["reason"]) == (409, "TIP_ALREADY_USED")
    assert await _certified_epoch(network, again.object_id) is None


async def test_requests_are_checked(network: Network, free_relay: str, tip_relay: str) -> None:
    """Registration, blob ID, body size and parameters; nothing is certified."""
    rng = random.Random(4)
    data, other = rng.randbytes(50_000), rng.randbytes(50_000)
    pending = await _register(network, data)
    params = {"blob_id": pending.blob_id, "deletable_blob_object": pending.object_id}

    async def refused(
        relay: str, body: bytes, status: int, reason: str, **query: str
    ) -> dict[str, Any]:
        got, error = await _post(relay, body, **query)
        assert (got, error["reason"]) == (status, reason), error
        return error

    # The body must encode to the blob ID, and be the registered blob's size.
    await refused(free_relay, other, 400, "BLOB_ID_MISMATCH", **params)
    await refused(free_relay, other[:-1], 401, "BLOB_ID_NOT_REGISTERED", **params)
    # A blob nobody registered: as deletable (someone else's object), and as permanent.
    stranger = rng.randbytes(50_000)
    from pywalrus.core.encoding import encode_blob

    committee = await network.committee()
    stranger_id = str(encode_blob(stranger, committee.encoding).blob_id)
    await refused(
        free_relay, stranger, 401, "BLOB_ID_NOT_REGISTERED",
        blob_id=stranger_id, deletable_blob_object=pending.object_id,
    )  # fmt: skip
    await refused(free_relay, stranger, 401, "BLOB_ID_NOT_REGISTERED", blob_id=stranger_id)
    # The same with a good tip for it: paying does not register a blob.
    package = AuthPackage.for_blob(stranger)
    tx_id = await _pay(network, TIP, package.hashed().to_bcs())
    await refused(
        tip_relay, stranger, 401, "BLOB_ID_NOT_REGISTERED",
        blob_id=stranger_id, tx_id=tx_id, nonce=encode_nonce(package.nonce),
    )  # fmt: skip
    # Size, parameters.
    error = await refused(free_relay, bytes(MAX_BODY + 1), 413, "PAYLOAD_TOO_LARGE", **params)
    assert str(MAX_BODY) in error["message"]
    error = await refused(free_relay, data, 400, "INVALID_QUERY", **params, epochs="3")
    assert "unknown field `epochs`" in error["message"]
    await refused(free_relay, data, 400, "INVALID_BLOB_ID", blob_id="not-a-blob-id")
    await refused(free_relay, data, 400, "INVALID_QUERY", **params, encoding_type="RS1")
    await refused(
        free_relay,
        data,
        400,
        "INVALID_QUERY",
        deletable_blob_object="0xzz",
        blob_id=pending.blob_id,
    )
    await refused(free_relay, data, 400, "INVALID_QUERY")
    assert await _certified_epoch(network, pending.object_id) is None
    # And the relay still serves.
    status, _ = await _post(free_relay, data, **params)
    assert status == 200


def _forge(mode: str, answer: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """A relay's answer tampered with: `previous` is a genuine answer for another blob."""
    certificate = dict(answer["confirmation_certificate"])
    if mode == "signature":
        certificate["signature"] = previous["confirmation_certificate"]["signature"]
    elif mode == "message":
        certificate = dict(previous["confirmation_certificate"])
    elif mode == "below-quorum":
        certificate["signers"] = certificate["signers"][:1]
    elif mode == "wrong-signers":
        # Still a quorum of shards, but not the members whose signatures were summed: one
        # member fewer if all five signed (16 of 20 shards), else one more.
        signers = certificate["signers"]
        missing = sorted(set(range(5)) - set(signers))
        certificate["signers"] = sorted([*signers, missing[0]]) if missing else signers[:-1]
    elif mode == "blob-id":
        return {**answer, "blob_id": previous["blob_id"]}
    elif mode == "garbage":
        return {"blob_id": answer["blob_id"]}
    return {**answer, "confirmation_certificate": certificate}


@pytest.fixture
async def forging_relay(free_relay: str) -> AsyncIterator[Callable[[str], str]]:
    """A relay in front of the free one that forges its answers: `url(mode)`."""
    previous: list[dict[str, Any]] = []

    async def tip_config(request: web.Request) -> web.StreamResponse:
        return web.json_response("no_tip")

    async def upload(request: web.Request) -> web.StreamResponse:
        query = {k: v for k, v in request.query.items() if k != "mode"}
        status, answer = await _post(free_relay, await request.read(), **query)
        assert status == 200, answer
        if not previous:
            previous.append(answer)
            return web.json_response(answer)
        return web.json_response(_forge(request.match_info["mode"], answer, previous[0]))

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/{mode}/v1/tip-config", tip_config)
    app.router.add_post("/{mode}/v1/blob-upload-relay", upload)
    runner = web.AppRunner(app)
    await runner.setup()
    (port,) = free_ports(1)
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield lambda mode: f"http://127.0.0.1:{port}/{mode}"
    await runner.cleanup()


async def test_a_forged_certificate_is_caught(
    network: Network, forging_relay: Callable[[str], str]
) -> None:
    """The first answer is genuine (and becomes the material of the forgeries); each forged
    one is refused by the client, whose blob stays registered and uncertified."""
    rng = random.Random(5)
    async with network.client() as client:
        first = await client.store(
            rng.randbytes(10_000), StoreOptions(epochs=2, upload_relay=forging_relay("genuine"))
        )
        assert first["newlyCreated"]["blobObject"]["certifiedEpoch"] is not None
        expected = {
            "signature": "does not verify",
            "message": "not over the confirmation",
            "below-quorum": "below quorum",
            "wrong-signers": "does not verify",
            "blob-id": "answered for blob",
            "garbage": "answered garbage",
        }
        for mode, words in expected.items():
            with pytest.raises(UploadRelayError, match=words):
                await client.store(
                    rng.randbytes(10_000),
                    StoreOptions(epochs=2, upload_relay=forging_relay(mode)),
                )
            assert client.unfinished is not None
            assert await _certified_epoch(network, client.unfinished.object_id) is None


async def test_f_shards_down_a_relay_still_stores(network: Network, free_relay: str) -> None:
    """Nodes holding at most f shards stopped: the relay gets a quorum from the others."""
    committee = await network.committee()
    down: list[str] = []
    weight = 0
    for member in sorted(committee.members, key=lambda m: len(m.shards)):
        if weight + len(member.shards) <= max_n_faulty(SHARDS):
            down.append(member.name)
            weight += len(member.shards)
    assert down and weight > 0
    data = random.Random(6).randbytes(120_000)
    try:
        for name in down:
            network.stop(name)
        async with network.client() as client:
            result = await client.store(data, StoreOptions(epochs=2, upload_relay=free_relay))
        blob = result["newlyCreated"]["blobObject"]
        assert blob["certifiedEpoch"] is not None
        assert await _read(network, blob["blobId"]) == data
    finally:
        for name in down:
            network.start(name)


async def test_used_tips_survive_a_restart_and_stale_ones_are_refused(
    network: Network, tmp_path: Path
) -> None:
    """With `--used-tips-file`, a tip that paid for an upload is refused by the relay
    restarted on the same file (and counted in its metrics); a tip older than the freshness
    threshold in chain time is refused."""
    data = random.Random(7).randbytes(5_000)
    pending = await _register(network, data)
    package = AuthPackage.for_blob(data)
    tx_id = await _pay(network, TIP, package.hashed().to_bcs())
    query = {
        "blob_id": pending.blob_id,
        "deletable_blob_object": pending.object_id,
        "tx_id": tx_id,
        "nonce": encode_nonce(package.nonce),
    }
    flags = ("--tip-address", TIP_ADDRESS, "--tip-const", str(TIP))
    used = ("--used-tips-file", str(tmp_path / "used-tips.jsonl"))
    with service_process(
        "upload-relay", network.config_path, tmp_path / "a.log", *flags, *used
    ) as (_, url, _):
        status, answer = await _post(url.rstrip("/"), data, **query)
        assert status == 200, answer
    with service_process(
        "upload-relay", network.config_path, tmp_path / "b.log", *flags, *used
    ) as (_, url, metrics):
        status, error = await _post(url.rstrip("/"), data, **query)
        assert (status, error["reason"]) == (409, "TIP_ALREADY_USED")
        async with aiohttp.ClientSession() as session, session.get(metrics) as response:
            text = await response.text()
        assert 'walrus_upload_relay_refused_total{reason="TIP_ALREADY_USED"} 1.0' in text
    fresh = await _pay(network, TIP, package.hashed().to_bcs())
    stale = ("--tx-freshness-threshold-secs", "1")
    with service_process(
        "upload-relay", network.config_path, tmp_path / "c.log", *flags, *stale
    ) as (_, url, _):
        async with ChainClient(network.config.chain_url) as chain:
            await chain.advance_clock(2_000)
        status, error = await _post(url.rstrip("/"), data, **{**query, "tx_id": fresh})
        assert (status, error["reason"]) == (400, "TX_TOO_OLD")
    # The relay does nothing on chain: certifying the blob is its client's business.
    assert await _certified_epoch(network, pending.object_id) is None


def test_sigterm_stops_the_relay(network: Network, tmp_path: Path) -> None:
    with service_process("upload-relay", network.config_path, tmp_path / "relay.log") as (
        process,
        url,
        _,
    ):
        assert asyncio.run(_get(f"{url}v1/tip-config")) == (200, "no_tip")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0

"""The chain as a real process: JSON-RPC over HTTP, long-polls, bad requests, SIGKILL restart."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from pywalrus.chain.client import ChainClient
from pywalrus.chain.tx import Call, TransactionData
from pywalrus.core.accounts import Account
from pywalrus.core.certificates import encode_signers
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import aggregate_signatures
from pywalrus.core.encoding import compute_metadata
from pywalrus.core.errors import ChainError
from pywalrus.core.messages import StorageConfirmation
from pywalrus.core.types import Epoch
from pywalrus.testbed.chain_files import write_chain_files
from pywalrus.testbed.genesis import NodeIdentity, generate_nodes, make_genesis
from pywalrus.testbed.ports import free_ports
from pywalrus.testbed.process import session_processes, start_walrus, wait_until_healthy


@dataclass
class ChainProcess:
    config: Path
    url: str
    key: Account
    user: Account
    process: subprocess.Popen[bytes]
    nodes: list[NodeIdentity]

    def start(self) -> None:
        self.process = start_walrus(
            ["chain", "--config", str(self.config)], self.config.parent / "chain.log"
        )
        wait_until_healthy(self.url.rstrip("/") + "/health", 30, self.process)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ChainProcess]:
    (port,) = free_ports(1)
    key, user = Account.generate(), Account.generate()
    nodes = generate_nodes(4)
    genesis = make_genesis(nodes, 10, 3_600_000, [user])
    config = write_chain_files(tmp_path, "proc-chain", port, genesis, key)
    url = f"http://127.0.0.1:{port}/"
    proc = ChainProcess(config, url, key, user, None, nodes)  # type: ignore[arg-type]
    proc.start()
    yield proc
    if proc.process.poll() is None:
        proc.process.terminate()
        proc.process.wait(10)


async def _raw(url: str, body: bytes) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body) as response:
        assert response.status == 200
        result: dict[str, object] = await response.json()
        return result


async def test_bad_requests_change_nothing(chain: ChainProcess) -> None:
    async with ChainClient(chain.url) as client:
        before = await client.info()
        for body, code in [
            (b"{not json", -32700),
            (b"[1, 2]", -32600),
            (b'{"jsonrpc": "2.0", "id": 1, "method": "chain_info", "params": {"x": NaN}}', -32700),
            (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "chain_nope"}).encode(), -32601),
            (
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "chain_getObject",
                        "params": {"objectId": 5},
                    }
                ).encode(),
                -32602,
            ),
            (
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "chain_submitTransaction",
                        "params": {"transaction": {}},
                    }
                ).encode(),
                -32602,
            ),
        ]:
            reply = await _raw(chain.url, body)
            assert reply["error"]["code"] == code, reply  # type: ignore[index]
        coins = await client.owned_objects(chain.user.address, "wal::Coin")
        data = TransactionData(
            "proc-chain",
            chain.user.address,
            0,
            10**6,
            (Call("wal::split", {"coin": coins[0].id, "amount": 1}),),
        )
        forged = data.sign(Account.generate()).to_json()
        with pytest.raises(ChainError) as caught:
            await client.call("chain_submitTransaction", transaction=forged)
        assert caught.value.reason == "EBadSignature"
        with pytest.raises(ChainError) as caught:
            await client.execute(
                chain.user, [Call("wal::split", {"coin": coins[0].id, "amount": "x"})]
            )
        assert caught.value.reason == "EBadArgument"
        after = await client.info()
        assert after["txCount"] == before["txCount"]
        assert after["eventCount"] == before["eventCount"]
        # Oversize bodies are refused by the server.
        big = b"x" * (5 * 1024 * 1024)
        async with (
            aiohttp.ClientSession() as session,
            session.post(chain.url, data=big) as response,
        ):
            assert response.status == 413


async def test_certification_through_the_precheck_workers(chain: ChainProcess) -> None:
    """Certificates and signatures the RPC server prechecks in its workers still decide alone:
    a wrong certificate or a forged signature is refused, a good certificate certifies."""
    async with ChainClient(chain.url) as client:
        system = (await client.singleton("walrus::System")).fields
        n_shards, epoch = system["n_shards"], system["epoch"]
        metadata = compute_metadata(random.randbytes(100), EncodingConfig(n_shards))
        blob_id = metadata.blob_id()
        coin = (await client.owned_objects(chain.user.address, "wal::Coin"))[0].id
        size = EncodingConfig(n_shards).encoded_length(100)
        registered = await client.execute(
            chain.user,
            [
                Call(
                    "system::reserve_space",
                    {"storage_amount": size, "epochs_ahead": 1, "payment": coin},
                ),
                Call(
                    "system::register_blob",
                    {
                        "storage": {"$result": [0, "storage"]},
                        "blob_id": str(blob_id),
                        "root_hash": metadata.root_hash().hex(),
                        "size": 100,
                        "encoding_type": 1,
                        "deletable": False,
                        "write_payment": coin,
                    },
                ),
            ],
        )
        blob = registered["effects"]["results"][1]["blob"]
        by_key = {n.protocol_key.public_key().to_bytes().hex(): n for n in chain.nodes}
        members = [by_key[m["public_key"]] for m in system["committee"]["members"]]
        bitmap = base64.b64encode(encode_signers(range(len(members)), len(members))).decode()

        def certificate(message: bytes) -> dict[str, str]:
            signature = aggregate_signatures([n.protocol_key.sign(message) for n in members])
            return {
                "signature": base64.b64encode(signature.to_bytes()).decode(),
                "signers_bitmap": bitmap,
                "message": base64.b64encode(message).decode(),
            }

        good = StorageConfirmation(Epoch(epoch), blob_id).to_bytes()
        wrong = certificate(good)
        wrong["message"] = base64.b64encode(
            StorageConfirmation(Epoch(epoch + 1), blob_id).to_bytes()
        ).decode()
        with pytest.raises(ChainError) as caught:
            await client.execute(
                chain.user, [Call("system::certify_blob", {"blob": blob, **wrong})]
            )
        assert caught.value.reason == "EInvalidCertificate"
        certify = [Call("system::certify_blob", {"blob": blob, **certificate(good)})]
        nonce = (await client.account(chain.user.address))["nonce"]
        forged = TransactionData("proc-chain", chain.user.address, nonce, 10**6, tuple(certify))
        with pytest.raises(ChainError) as caught:
            await client.call(
                "chain_submitTransaction", transaction=forged.sign(Account.generate()).to_json()
            )
        assert caught.value.reason == "EBadSignature"
        result = await client.execute(chain.user, certify)
        assert [e["type"] for e in result["events"]] == ["BlobCertified"]


async def test_long_poll_wakes_on_new_events(chain: ChainProcess) -> None:
    async with ChainClient(chain.url) as client, ChainClient(chain.url) as other:
        cursor = (await client.info())["eventCount"] - 1
        waiter = asyncio.create_task(
            client.wait_events(cursor, ["BlobRegistered", "StakeTest"], 20_000)
        )
        await asyncio.sleep(0)  # the request is in flight before the event exists
        loop = asyncio.get_running_loop()
        start = loop.time()
        coins = await other.owned_objects(chain.user.address, "wal::Coin")
        # Storage reservations emit no event; registering does.
        from pywalrus.core.config import EncodingConfig
        from pywalrus.core.encoding import compute_metadata

        metadata = compute_metadata(b"long poll", EncodingConfig(10))
        await other.execute(
            chain.user,
            [
                Call(
                    "system::reserve_space",
                    {
                        "storage_amount": EncodingConfig(10).encoded_length(9),
                        "epochs_ahead": 1,
                        "payment": coins[0].id,
                    },
                ),
                Call(
                    "system::register_blob",
                    {
                        "storage": {"$result": [0, "storage"]},
                        "blob_id": str(metadata.blob_id()),
                        "root_hash": metadata.root_hash().hex(),
                        "size": 9,
                        "encoding_type": 1,
                        "deletable": False,
                        "write_payment": coins[0].id,
                    },
                ),
            ],
        )
        events = await asyncio.wait_for(waiter, 20)
        assert [e.type for e in events] == ["BlobRegistered"]
        assert loop.time() - start < 15
        await client.verify_events(events, chain.key.address)
        # An empty wait times out with no events.
        assert await client.wait_events(events[-1].seq, ["BlobRegistered"], 200) == []


async def test_sigkill_loses_no_acknowledged_transaction(chain: ChainProcess) -> None:
    acked: list[str] = []
    async with ChainClient(chain.url) as client:
        coin = (await client.owned_objects(chain.user.address, "wal::Coin"))[0].id

        async def stream() -> None:
            for _ in range(500):
                result = await client.execute(
                    chain.user, [Call("wal::split", {"coin": coin, "amount": 1})]
                )
                acked.append(result["digest"])

        task = asyncio.create_task(stream())
        target = random.randint(20, 60)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(acked) < target and loop.time() < deadline and not task.done():
            await asyncio.sleep(0.01)
        chain.kill()
        with pytest.raises(Exception):  # noqa: B017 - the in-flight request fails one way or another
            await task
    assert len(acked) >= target
    chain.start()
    async with ChainClient(chain.url) as client:
        for digest in acked:
            assert await client.call("chain_getTransaction", digest=digest) is not None, digest
        total = await client.verify_checkpoint_chain(chain.key.address)
        info = await client.info()
        assert total == info["txCount"]
        # The account continues where it stopped: the next transaction executes.
        account = await client.account(chain.user.address)
        assert account["nonce"] >= len(acked)
        await client.execute(chain.user, [Call("wal::split", {"coin": coin, "amount": 1})])


async def test_unrepresentable_numbers_and_deep_json_are_bad_params(chain: ChainProcess) -> None:
    """Numbers the chain cannot represent (1e400 would become infinity and be stored as null,
    no longer matching its signature), JSON nested thousands of levels deep and integers
    beyond 64 bits are refused as bad parameters, and nothing is stored."""

    def rpc(method: str, params_text: str) -> bytes:
        head = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method})
        return f'{head[:-1]}, "params": {params_text}}}'.encode()

    async with ChainClient(chain.url) as client:
        before = await client.info()
        coin = (await client.owned_objects(chain.user.address, "wal::Coin"))[0].id
        data = TransactionData(
            "proc-chain",
            chain.user.address,
            0,
            10**6,
            (Call("wal::split", {"coin": coin, "amount": 1}),),
        )
        signed = json.dumps(data.sign(chain.user).to_json())
        # The same transaction text with the amount replaced by a number beyond float range.
        infinite = signed.replace('"amount": 1}', '"amount": 1e400}')
        assert infinite != signed
        deep = "[" * 5000 + "]" * 5000
        nested_args = json.loads(signed)
        nested_args["data"]["calls"][0]["args"]["amount"] = json.loads("[" * 600 + "]" * 600)
        for body in [
            rpc("chain_submitTransaction", f'{{"transaction": {infinite}}}'),
            rpc("chain_getAccount", '{"address": 1e400}'),
            rpc("chain_info", f'{{"x": {deep}}}'),
            rpc("chain_submitTransaction", json.dumps({"transaction": nested_args})),
            rpc("chain_queryEvents", json.dumps({"after": 2**70})),
            rpc("chain_waitEvents", json.dumps({"after": -(2**70), "timeoutMs": 1})),
            rpc("chain_getCheckpoints", json.dumps({"start": 2**70})),
        ]:
            reply = await _raw(chain.url, body)
            assert reply["error"]["code"] == -32602, (body[:120], reply)  # type: ignore[index]
        # At the edge of the range there is simply nothing.
        edge = rpc("chain_getCheckpoints", json.dumps({"start": 2**63 - 2, "count": 5}))
        assert (await _raw(chain.url, edge))["result"] == []
        after = await client.info()
        assert (after["txCount"], after["eventCount"]) == (before["txCount"], before["eventCount"])
        assert (await client.account(chain.user.address))["nonce"] == 0


async def test_clients_sharing_an_account_do_not_fail_on_nonces(chain: ChainProcess) -> None:
    """Eight clients (each with its own nonce cache, as separate processes have) submitting for
    one account at once: each refusal names the nonce expected, and the client retries with
    it until its transaction executes."""
    async with ChainClient(chain.url) as setup:
        coin = (await setup.owned_objects(chain.user.address, "wal::Coin"))[0].id
    clients = [ChainClient(chain.url) for _ in range(8)]
    try:

        async def stream(client: ChainClient) -> int:
            for _ in range(15):
                await client.execute(chain.user, [Call("wal::split", {"coin": coin, "amount": 1})])
            return 15

        done = await asyncio.gather(*(stream(c) for c in clients))
    finally:
        for client in clients:
            await client.close()
    assert sum(done) == 120
    async with ChainClient(chain.url) as client:
        assert (await client.account(chain.user.address))["nonce"] == 120


async def test_precheck_workers_exit_when_the_chain_is_killed(chain: ChainProcess) -> None:
    """The precheck workers (and multiprocessing's resource tracker) leave with a chain killed
    by SIGKILL instead of living on as orphans."""
    sid = chain.process.pid  # started in a session of its own
    async with ChainClient(chain.url) as client:
        garbage = {"signature": "AA==", "signers_bitmap": "AA==", "message": "AA=="}
        with pytest.raises(ChainError):  # checked in a worker first, then refused
            await client.execute(
                chain.user, [Call("system::certify_blob", {"blob": "0x1", **garbage})]
            )
    assert len(session_processes(sid)) >= 3, "the chain, its workers and the resource tracker"
    chain.kill()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while session_processes(sid) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert session_processes(sid) == []

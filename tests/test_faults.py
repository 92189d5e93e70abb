"""The fault suite: the network stays live under crashes and hostile clients (issue 9).

Real processes (`walrus testbed`, 4 nodes, 40 shards, manual clock). Each test names what it
proves; counts are chosen to prove it within a few seconds each on 2 cores (see README,
"What the fault suite proves").
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from pywalrus.chain.client import ChainClient, ChainError
from pywalrus.chain.ledger import fee_for
from pywalrus.chain.tx import Call, TransactionData
from pywalrus.client.client import StoreOptions
from pywalrus.core.accounts import Account
from pywalrus.core.errors import WalrusError
from pywalrus.core.types import BlobId
from pywalrus.testbed import local
from pywalrus.testbed.process import session_processes
from testbed_harness import Network, running_testbed, wait_for, walrus

HONEST_TRANSACTIONS = 300
GAS = 10**7
RANDOM_CHAIN_KILLS = 20
EPOCH_CHAIN_KILLS = 10
"""Kills right at `EpochChangeStart` and `EpochChangeDone`, alternately (5 epoch changes)."""
WRITERS = 3
"""Clients storing small blobs while the chain is killed."""


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    yield from running_testbed(tmp_path_factory.mktemp("faults"), nodes=4, shards=40)


# Helpers ------------------------------------------------------------------------------------


async def node_health(url: str) -> int:
    """HTTP status of a node's `/v1/health` (0 if it does not answer)."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(f"{url}v1/health") as response,
        ):
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def all_nodes_healthy(net: Network) -> bool:
    nodes = [m for m in net.members() if m.role == "node"]
    return all(
        status == 200 for status in await asyncio.gather(*(node_health(m.url) for m in nodes))
    )


async def no_node_healthy(net: Network) -> bool:
    nodes = [m for m in net.members() if m.role == "node"]
    return all(
        status == 503 for status in await asyncio.gather(*(node_health(m.url) for m in nodes))
    )


async def store(net: Network, data: bytes) -> BlobId:
    async with net.client() as client:
        result = await client.store(data, StoreOptions(epochs=20))
    return BlobId.parse(result["newlyCreated"]["blobObject"]["blobId"])


def chain_pid(net: Network) -> int:
    pid = local.running_pid(net.dir, "chain")
    assert pid is not None
    return pid


async def kill_chain_at(net: Network, event_type: str, cursor: int) -> None:
    """SIGKILL the chain the moment an event of `event_type` after `cursor` exists."""
    async with ChainClient(net.config.chain_url) as chain:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if await chain.wait_events(cursor, [event_type], timeout_ms=5_000, limit=1):
                net.kill("chain")
                return
    raise AssertionError(f"no {event_type} event within 60 s")


async def event_count(net: Network) -> int:
    async with ChainClient(net.config.chain_url) as chain:
        return int((await chain.info())["eventCount"])


# Tests --------------------------------------------------------------------------------------


async def test_chain_sigkills_at_random_and_at_epoch_changes(net: Network) -> None:
    """20 SIGKILLs of the chain at random moments while a client stores, and 10 right at
    `EpochChangeStart` / `EpochChangeDone`, restarting only the chain: afterwards the epoch
    change in progress completes, every node is healthy again, stores succeed, every
    acknowledged blob reads back, and `testbed down` leaves no process of the testbed."""
    acked: dict[BlobId, bytes] = {}
    sessions = {chain_pid(net)} | {local.running_pid(net.dir, m.name) or 0 for m in net.members()}
    stop = asyncio.Event()

    async def writer() -> None:
        while not stop.is_set():
            data = random.randbytes(random.randint(1, 3000))
            try:
                acked[await store(net, data)] = data
            except (WalrusError, aiohttp.ClientError, OSError):
                await asyncio.sleep(0.05)  # the chain is down: acknowledged stores only count

    def restart_chain() -> None:
        net.start("chain")
        sessions.add(chain_pid(net))

    writers = [asyncio.create_task(writer()) for _ in range(WRITERS)]
    try:
        for _ in range(RANDOM_CHAIN_KILLS):
            await asyncio.sleep(random.uniform(0.1, 1.0))
            net.kill("chain")
            await asyncio.to_thread(restart_chain)
        for kill in range(EPOCH_CHAIN_KILLS):
            cursor = await event_count(net) - 1
            if kill % 2 == 0:
                killer = asyncio.create_task(kill_chain_at(net, "EpochChangeStart", cursor))
                await asyncio.sleep(0)
                await net.advance_half_epoch()
                await net.advance_half_epoch()
            else:  # the nodes report sync after the restart; the change is then done
                killer = asyncio.create_task(kill_chain_at(net, "EpochChangeDone", cursor))
            await killer
            if kill == 0:  # a node cut off from the chain does not call itself healthy
                await wait_for(lambda: no_node_healthy(net), 30, "every node unhealthy")
            await asyncio.to_thread(restart_chain)
    finally:
        stop.set()
        await asyncio.gather(*writers)
    # Only the chain was restarted: the nodes find it again on their own.
    await wait_for(lambda: all_nodes_healthy(net), 60, "every node healthy again")
    staking = await net.staking()
    await wait_for(
        lambda: _epoch_change_done(net), 60, f"the change to epoch {staking['epoch']} done"
    )
    extra = random.randbytes(5000)
    acked[await store(net, extra)] = extra
    assert len(acked) >= 5
    async with net.client() as client:
        for blob_id, data in acked.items():
            assert await client.read(blob_id) == data, blob_id
    # And nothing of the testbed outlives `testbed down`, orphans of killed chains included.
    result = walrus("testbed", "down", "--dir", str(net.dir))
    assert result.returncode == 0, result.stderr.decode()
    left = {sid: session_processes(sid) for sid in sessions if session_processes(sid)}
    assert left == {}, left
    net.up()


async def test_a_poisoned_transaction_among_300_honest_ones(net: Network) -> None:
    """Transactions whose calls raise something other than an abort, submitted together with
    300 honest ones from other accounts (so that they share commit groups): every honest one
    commits, each poisoned one fails alone, kept as failed with its fee paid."""
    owner = net.config.wallet().active
    honest = [Account.generate() for _ in range(HONEST_TRANSACTIONS)]
    attackers = [Account.generate() for _ in range(3)]
    sink = Account.generate().address
    async with ChainClient(net.config.chain_url) as chain:
        funded = [*honest, *attackers]
        for start in range(0, len(funded), 60):
            await chain.execute(
                owner,
                [
                    Call("gas::transfer", {"recipient": a.address, "amount": GAS})
                    for a in funded[start : start + 60]
                ],
            )
        transfer = Call("gas::transfer", {"recipient": sink, "amount": 1})
        poisons = [
            [
                transfer,
                Call("gas::transfer", {"recipient": sink, "amount": {"$result": [0, ["x"]]}}),
            ],
            [transfer, Call("gas::transfer", {"recipient": sink, "amount": {"$result": [0, {}]}})],
            [transfer, Call("gas::transfer", {"recipient": {"$result": [0, [1]]}, "amount": 1})],
        ]
        chain_id = await chain.chain_id()

        def sign(account: Account, calls: list[Call]) -> dict[str, Any]:
            data = TransactionData(chain_id, account.address, 0, 0, tuple(calls))
            data = TransactionData(chain_id, account.address, 0, fee_for(data), tuple(calls))
            return data.sign(account).to_json()

        signed = [sign(a, [transfer]) for a in honest]
        bad = [sign(a, calls) for a, calls in zip(attackers, poisons, strict=True)]
        order = signed[:100] + bad[:1] + signed[100:200] + bad[1:2] + signed[200:] + bad[2:]

        async def submit(tx: dict[str, Any]) -> str:
            try:
                await chain.call("chain_submitTransaction", transaction=tx)
                return "ok"
            except ChainError as exc:
                return exc.reason or str(exc)

        outcomes = await asyncio.gather(*(submit(tx) for tx in order))
        by_tx = {id(tx): outcome for tx, outcome in zip(order, outcomes, strict=True)}
        assert [by_tx[id(tx)] for tx in signed] == ["ok"] * len(signed)
        assert (await chain.account(sink))["gas"] == len(honest)
        for attacker, tx in zip(attackers, bad, strict=True):
            outcome = by_tx[id(tx)]
            account = await chain.account(attacker.address)
            assert outcome == "EExecutionFailed", outcome
            assert account == {
                "nonce": 1,
                "gas": GAS - fee_for(TransactionData.from_json(tx["data"])),
            }


async def _epoch_change_done(net: Network) -> bool:
    return bool((await net.staking())["epoch_state"]["kind"] == "EpochChangeDone")

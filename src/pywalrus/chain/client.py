"""`ChainClient`: how every other component talks to the chain (JSON-RPC over HTTP).

It builds, signs and submits transactions for an account (fetching the nonce, and when
another client of the same account took it, retrying with the nonce the refusal names), reads
objects, follows events with long-polls, and can check events against the chain's signed
checkpoints.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence
from typing import Any

import aiohttp

from pywalrus.chain.checkpoints import Checkpoint, verify_chain
from pywalrus.chain.objects import Event, Object
from pywalrus.chain.tx import Call, TransactionData, fee_for
from pywalrus.core.accounts import Account
from pywalrus.core.errors import ChainError, ChainUnavailable, VerificationError

NONCE_ATTEMPTS = 100
"""Submissions of one transaction that may lose their nonce to other clients of the account
(each loss means another transaction of the account executed meanwhile)."""
NONCE_JITTER_S = 0.002
"""Random pause before resubmitting with the nonce a refusal named: short, since that nonce
is current only for a moment (a client that waits longer mostly loses it again)."""


class ChainClient:
    """An async client of one chain."""

    def __init__(
        self, url: str, session: aiohttp.ClientSession | None = None, gas_budget: int | None = None
    ) -> None:
        self.url = url
        self.gas_budget = gas_budget
        """The most a transaction may cost in fees (MIST); None: exactly its fee."""
        self._session = session
        self._own_session = session is None
        self._ids = itertools.count()
        self._chain_id: str | None = None
        self._singletons: dict[str, str] = {}
        self._nonces: dict[str, int] = {}
        """Address → the nonce its next transaction will use, as far as this client knows."""

    async def __aenter__(self) -> ChainClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=60, sock_connect=5)
            )
        return self._session

    async def call(self, method: str, **params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            async with self._get_session().post(self.url, json=body) as response:
                if response.status != 200:
                    raise ChainUnavailable(f"chain at {self.url} answered HTTP {response.status}")
                reply = await response.json()
        except aiohttp.ClientConnectorError as exc:
            why = exc.os_error.strerror or str(exc.os_error)
            raise ChainUnavailable(f"cannot reach the chain at {self.url}: {why}") from None
        except TimeoutError:
            raise ChainUnavailable(f"cannot reach the chain at {self.url}: timed out") from None
        except aiohttp.ClientError as exc:
            raise ChainUnavailable(f"cannot reach the chain at {self.url}: {exc}") from None
        if "error" in reply:
            error = reply["error"]
            data = error.get("data") if isinstance(error.get("data"), dict) else {}
            raise ChainError(
                error.get("message", "chain error"), error.get("code", 0), data.get("reason"), data
            )
        return reply.get("result")

    async def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = (await self.info())["chainId"]
        return self._chain_id

    async def info(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("chain_info")
        return result

    async def execute(self, account: Account, calls: Sequence[Call]) -> dict[str, Any]:
        """Sign and submit a transaction of `calls`; returns the execution result.

        The nonce is remembered between transactions. When another client of the same account
        used it first (`EWrongNonce`, or `EDuplicate` for the very same transaction), the
        refusal names the next nonce and the transaction is signed again with it at once
        (after a random pause of at most `NONCE_JITTER_S`).
        """
        chain_id = await self.chain_id()
        address = account.address
        nonce = self._nonces.pop(address, None)
        for attempt in range(NONCE_ATTEMPTS):
            if nonce is None:
                nonce = (await self.account(address))["nonce"]
            data = TransactionData(chain_id, address, nonce, 0, tuple(calls))
            budget = fee_for(data) if self.gas_budget is None else self.gas_budget
            data = TransactionData(chain_id, address, nonce, budget, tuple(calls))
            try:
                result: dict[str, Any] = await self.call(
                    "chain_submitTransaction", transaction=data.sign(account).to_json()
                )
            except ChainError as exc:
                if exc.reason in ("EWrongNonce", "EDuplicate"):
                    if attempt + 1 < NONCE_ATTEMPTS:
                        nonce = exc.expected_nonce()
                        await asyncio.sleep(random.uniform(0, NONCE_JITTER_S))
                        continue
                elif exc.reason == "EExecutionFailed":
                    self._nonces[address] = nonce + 1  # kept as failed: the nonce is used
                elif exc.reason is not None:
                    self._nonces[address] = nonce  # refused: the nonce is still the next one
                raise
            self._nonces[address] = nonce + 1
            return result
        raise AssertionError("unreachable")

    async def account(self, address: str) -> dict[str, int]:
        result: dict[str, int] = await self.call("chain_getAccount", address=address)
        return result

    async def get_object(self, object_id: str) -> Object | None:
        value = await self.call("chain_getObject", objectId=object_id)
        return Object.from_json(value) if value else None

    async def owned_objects(self, owner: str, type_: str | None = None) -> list[Object]:
        values = await self.call("chain_getOwnedObjects", owner=owner, type=type_)
        return [Object.from_json(v) for v in values]

    async def objects_of_type(self, type_: str) -> list[Object]:
        return [Object.from_json(v) for v in await self.call("chain_getObjectsByType", type=type_)]

    async def singleton(self, type_: str) -> Object:
        """The one object of a type (`walrus::System`, …); its ID is looked up once."""
        if type_ not in self._singletons:
            self._singletons.update(
                {k: v for k, v in (await self.info())["objects"].items() if v is not None}
            )
        object_id = self._singletons.get(type_)
        obj = await self.get_object(object_id) if object_id else None
        if obj is None:
            raise ChainError(f"no {type_} object on this chain", 0, None)
        return obj

    async def query_events(
        self,
        after: int = -1,
        limit: int = 1000,
        types: Sequence[str] = (),
        object_id: str | None = None,
    ) -> list[Event]:
        result = await self.call(
            "chain_queryEvents", after=after, limit=limit, types=list(types), objectId=object_id
        )
        return [Event.from_json(e) for e in result["events"]]

    async def wait_events(
        self, after: int, types: Sequence[str] = (), timeout_ms: int = 10_000, limit: int = 1000
    ) -> list[Event]:
        """Events after the cursor, waiting up to `timeout_ms` for the first to appear."""
        result = await self.call(
            "chain_waitEvents", after=after, types=list(types), timeoutMs=timeout_ms, limit=limit
        )
        return [Event.from_json(e) for e in result["events"]]

    async def checkpoints(self, start: int, count: int) -> list[Checkpoint]:
        values = await self.call("chain_getCheckpoints", start=start, count=count)
        return [Checkpoint.from_json(v) for v in values]

    async def verify_events(self, events: Sequence[Event], chain_address: str) -> None:
        """Check events against the signed checkpoints sealing them; raise on any mismatch."""
        by_checkpoint: dict[int, list[Event]] = {}
        for event in events:
            by_checkpoint.setdefault(event.checkpoint, []).append(event)
        for seq, group in by_checkpoint.items():
            found = await self.checkpoints(seq, 1)
            if not found:
                raise VerificationError(f"checkpoint {seq} does not exist")
            checkpoint = found[0]
            checkpoint.verify(chain_address)
            sealed: list[Event] = []
            while len(sealed) < checkpoint.event_count:
                page = await self.query_events(
                    after=checkpoint.first_event - 1 + len(sealed),
                    limit=min(1000, checkpoint.event_count - len(sealed)),
                )
                if not page:
                    break
                sealed += page
            checkpoint.verify_events(sealed)
            for event in group:
                if event not in sealed:
                    raise VerificationError(f"event {event.seq} is not sealed by checkpoint {seq}")

    async def verify_checkpoint_chain(self, chain_address: str, start: int = 0) -> int:
        """Verify signatures and hash links of all checkpoints; returns how many."""
        total = 0
        previous: list[Checkpoint] = []
        while True:
            batch = await self.checkpoints(start + total, 500)
            if not batch:
                return total
            verify_chain(previous[-1:] + batch, chain_address)
            previous = batch
            total += len(batch)

    async def faucet(self, address: str, wal: int = 0, gas: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("chain_faucet", address=address, wal=wal, gas=gas)
        return result

    async def advance_clock(self, ms: int) -> int:
        return int((await self.call("chain_advanceClock", ms=ms))["timeMs"])

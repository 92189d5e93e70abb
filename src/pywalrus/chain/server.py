"""The chain's JSON-RPC 2.0 API over HTTP (aiohttp), and the loop that drives epochs.

Every request is `POST /` with a JSON-RPC body; the methods are listed in `docs/chain-rpc.md`.
Malformed JSON, unknown methods, wrong parameter types and rejected transactions get a
JSON-RPC error naming the problem and change nothing. `chain_waitEvents` long-polls until an
event after the given cursor exists, so followers need not busy-poll.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pywalrus.chain.contracts import certify
from pywalrus.chain.ledger import ExecutionResult, Ledger
from pywalrus.chain.prechecks import Job, Prechecks
from pywalrus.chain.schema import FUTURE_ACCOUNTING, STAKING, SYSTEM, TREASURY
from pywalrus.chain.tx import Call, SignedTransaction
from pywalrus.core.accounts import parse_address
from pywalrus.core.errors import (
    InvalidAddressError,
    TransactionFormatError,
    TransactionRejected,
    WalrusError,
)
from pywalrus.core.jsoncodec import dumps_bytes

log = logging.getLogger("pywalrus.chain")

MAX_BODY = 4 * 1024 * 1024
MAX_BATCH = 256
CERTIFYING = {"system::certify_blob": "quorum", "system::invalidate_blob_id": "validity"}
CERTIFICATE_ARGS = ("signature", "signers_bitmap", "message")
MAX_EVENTS_PER_QUERY = 1000
MAX_WAIT_MS = 30_000
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
"""Integer parameters (cursors, counts, times) must fit the store's 64-bit integers."""

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
TX_REJECTED = -32000
SERVER_ERROR = -32001


class RpcError(Exception):
    def __init__(self, code: int, message: str, reason: str | None = None, **data: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.data = data


Handler = Callable[[dict[str, Any]], Awaitable[Any]]


def _param(params: dict[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    if name not in params:
        if default is ...:
            raise RpcError(INVALID_PARAMS, f"missing parameter {name!r}")
        return default
    value = params[name]
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RpcError(INVALID_PARAMS, f"parameter {name!r} must be of type {kind.__name__}")
    if isinstance(value, int) and not I64_MIN <= value <= I64_MAX:
        raise RpcError(INVALID_PARAMS, f"parameter {name!r} does not fit in 64 bits")
    return value


def _address(params: dict[str, Any], name: str) -> str:
    try:
        return parse_address(_param(params, name, str))
    except InvalidAddressError as exc:
        raise RpcError(INVALID_PARAMS, str(exc)) from None


class ChainServer:
    """Serves one ledger over JSON-RPC."""

    def __init__(
        self,
        ledger: Ledger,
        faucet: bool = False,
        tick: Callable[[], None] | None = None,
        precheck_workers: int = 2,
    ) -> None:
        self.ledger = ledger
        self.faucet_enabled = faucet
        self._tick = tick
        self._new_events = asyncio.Event()
        self._closing = False
        self._queue: asyncio.Queue[
            tuple[SignedTransaction, bool, asyncio.Future[ExecutionResult]]
        ] = asyncio.Queue()
        """Transactions to execute, each with whether the precheck verified its signature."""
        self._prechecks = Prechecks(precheck_workers)
        ledger.on_commit(self._notify)
        self.methods: dict[str, Handler] = {
            "chain_info": self.info,
            "chain_submitTransaction": self.submit,
            "chain_getObject": self.get_object,
            "chain_getOwnedObjects": self.get_owned_objects,
            "chain_getObjectsByType": self.get_objects_by_type,
            "chain_getAccount": self.get_account,
            "chain_getTransaction": self.get_transaction,
            "chain_queryEvents": self.query_events,
            "chain_waitEvents": self.wait_events,
            "chain_getCheckpoints": self.get_checkpoints,
            "chain_faucet": self.faucet,
            "chain_advanceClock": self.advance_clock,
        }

    def _notify(self) -> None:
        self._new_events.set()
        self._new_events = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/", self.handle)
        app.router.add_get("/health", self.health)
        app.on_shutdown.append(self._shutdown)
        app.cleanup_ctx.append(self._sequencer)
        if self._tick is not None:
            app.cleanup_ctx.append(self._ticker)
        return app

    async def _ticker(self, app: web.Application) -> Any:
        async def loop() -> None:
            while True:
                try:
                    assert self._tick is not None
                    self._tick()
                except WalrusError as exc:
                    log.warning("epoch tick failed: %s", exc)
                except Exception:  # the epochs must go on: log the bug and tick again
                    log.exception("epoch tick failed")
                await asyncio.sleep(0.2)

        task = asyncio.create_task(loop())
        yield
        task.cancel()

    async def _shutdown(self, app: web.Application) -> None:
        """Release long-polls at once so that the process stops promptly."""
        self._closing = True
        self._notify()

    async def health(self, request: web.Request) -> web.Response:
        return _json_response({"status": "ok", "txCount": self.ledger.store.tx_count()})

    async def handle(self, request: web.Request) -> web.Response:
        request_id: Any = None
        try:
            body = _parse_body(await request.read())
            if not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
                raise RpcError(INVALID_REQUEST, "expected a JSON-RPC 2.0 request object")
            request_id = body.get("id")
            method = body.get("method")
            if not isinstance(method, str) or method not in self.methods:
                raise RpcError(METHOD_NOT_FOUND, f"unknown method {method!r}")
            params = body.get("params", {})
            if not isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, "params must be an object")
            result = await self.methods[method](params)
            return _json_response({"jsonrpc": "2.0", "id": request_id, "result": result})
        except RpcError as exc:
            error: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if exc.reason:
                error["data"] = {"reason": exc.reason, **exc.data}
            return _json_response({"jsonrpc": "2.0", "id": request_id, "error": error})
        except web.HTTPRequestEntityTooLarge:
            raise
        except WalrusError as exc:
            error = {"code": SERVER_ERROR, "message": str(exc)}
            return _json_response({"jsonrpc": "2.0", "id": request_id, "error": error})
        except Exception as exc:  # a bug must not look like an unreachable chain
            log.exception("internal error in %s", request.path)
            error = {"code": INTERNAL_ERROR, "message": f"internal error: {exc}"}
            return _json_response({"jsonrpc": "2.0", "id": request_id, "error": error})

    # Methods -------------------------------------------------------------------------------

    async def info(self, params: dict[str, Any]) -> Any:
        ledger = self.ledger
        return {
            "chainId": ledger.chain_id,
            "chainAddress": ledger.chain_address,
            "txCount": ledger.store.tx_count(),
            "eventCount": ledger.store.event_count(),
            "timeMs": ledger.clock.now_ms(),
            "manualClock": ledger.clock.manual,
            "faucet": self.faucet_enabled,
            "objects": {
                t: ledger.singleton_id(t) for t in (SYSTEM, FUTURE_ACCOUNTING, STAKING, TREASURY)
            },
        }

    async def submit(self, params: dict[str, Any]) -> Any:
        try:
            signed = SignedTransaction.from_json(_param(params, "transaction", dict))
        except TransactionFormatError as exc:
            raise RpcError(INVALID_PARAMS, str(exc)) from None
        except InvalidAddressError as exc:
            raise RpcError(INVALID_PARAMS, str(exc)) from None
        certificates = self._certificates(signed)
        checked = await self._prechecks.check(Job(signed, certificates)) if certificates else False
        future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        await self._queue.put((signed, checked, future))
        try:
            return (await future).to_json()
        except TransactionRejected as exc:
            raise RpcError(TX_REJECTED, str(exc), exc.code, **exc.data) from None

    def _certificates(self, signed: SignedTransaction) -> tuple[certify.CertificateKey, ...]:
        """The certificates a transaction's calls carry, for the precheck."""
        keys = []
        for call in signed.data.calls:
            threshold = CERTIFYING.get(call.function)
            if threshold is None:
                continue
            try:
                args = call.args
                signature, bitmap, message = (
                    base64.b64decode(args[k], validate=True) for k in CERTIFICATE_ARGS
                )
                system = self.ledger.singleton(SYSTEM)
                keys.append(certify.certificate_key(system, signature, bitmap, message, threshold))
            except (KeyError, TypeError, ValueError, binascii.Error, WalrusError):
                continue  # malformed: the ledger reports it
        return tuple(keys)

    async def _sequencer(self, app: web.Application) -> Any:
        """Execute queued transactions in batches, one durable commit per batch."""
        self._prechecks.start()

        async def run() -> None:
            while True:
                batch = [await self._queue.get()]
                while len(batch) < MAX_BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                try:
                    results = self.ledger.submit_batch([(tx, checked) for tx, checked, _ in batch])
                except Exception as exc:
                    log.exception("batch commit failed")
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(WalrusError(f"commit failed: {exc}"))
                    continue
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, TransactionRejected):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

        task = asyncio.create_task(run())
        yield
        task.cancel()
        self._prechecks.stop()

    async def get_object(self, params: dict[str, Any]) -> Any:
        obj = self.ledger.object(_address(params, "objectId"))
        return obj.to_json() if obj else None

    async def get_owned_objects(self, params: dict[str, Any]) -> Any:
        owner = _address(params, "owner")
        type_ = _param(params, "type", str, None)
        return [o.to_json() for o in self.ledger.store.objects_owned_by(owner, type_)]

    async def get_objects_by_type(self, params: dict[str, Any]) -> Any:
        return [o.to_json() for o in self.ledger.store.objects_of_type(_param(params, "type", str))]

    async def get_account(self, params: dict[str, Any]) -> Any:
        nonce, gas = self.ledger.account(_address(params, "address"))
        return {"nonce": nonce, "gas": gas}

    async def get_transaction(self, params: dict[str, Any]) -> Any:
        return self.ledger.store.transaction(_param(params, "digest", str))

    def _events(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        after = _param(params, "after", int, -1)
        limit = _param(params, "limit", int, MAX_EVENTS_PER_QUERY)
        if not 1 <= limit <= MAX_EVENTS_PER_QUERY:
            raise RpcError(INVALID_PARAMS, f"limit must be between 1 and {MAX_EVENTS_PER_QUERY}")
        types = _param(params, "types", list, [])
        if not all(isinstance(t, str) for t in types):
            raise RpcError(INVALID_PARAMS, "types must be a list of strings")
        object_id = params.get("objectId")
        if object_id is not None:
            object_id = _address(params, "objectId")
        events = self.ledger.store.events(after, limit, types, object_id)
        return [e.to_json() for e in events]

    async def query_events(self, params: dict[str, Any]) -> Any:
        events = self._events(params)
        return {
            "events": events,
            "nextCursor": events[-1]["seq"] if events else params.get("after", -1),
        }

    async def wait_events(self, params: dict[str, Any]) -> Any:
        timeout = min(_param(params, "timeoutMs", int, 10_000), MAX_WAIT_MS) / 1000
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            waiter = self._new_events
            events = self._events(params)
            remaining = deadline - loop.time()
            if events or remaining <= 0 or self._closing:
                return {
                    "events": events,
                    "nextCursor": events[-1]["seq"] if events else params.get("after", -1),
                }
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.wait(), remaining)

    async def get_checkpoints(self, params: dict[str, Any]) -> Any:
        start = _param(params, "start", int)
        count = min(_param(params, "count", int, 1), 1000)
        out = []
        for seq in range(max(start, 0), min(start + count, I64_MAX)):
            checkpoint = self.ledger.store.checkpoint(seq)
            if checkpoint is None:
                break
            out.append(checkpoint.to_json())
        return out

    async def faucet(self, params: dict[str, Any]) -> Any:
        if not self.faucet_enabled:
            raise RpcError(METHOD_NOT_FOUND, "the faucet is disabled on this chain")
        address = _address(params, "address")
        wal = _param(params, "wal", int, 0)
        gas = _param(params, "gas", int, 0)
        if wal < 0 or gas < 0 or wal > 10**18 or gas > 10**18:
            raise RpcError(INVALID_PARAMS, "faucet amounts must be between 0 and 10^18")
        calls = []
        if wal:
            calls.append(Call("wal::faucet", {"recipient": address, "amount": wal}))
        if gas:
            calls.append(Call("gas::faucet", {"recipient": address, "amount": gas}))
        if not calls:
            raise RpcError(INVALID_PARAMS, "ask the faucet for some wal or gas")
        try:
            return self.ledger.execute_system(calls).to_json()
        except TransactionRejected as exc:
            raise RpcError(TX_REJECTED, str(exc), exc.code, **exc.data) from None

    async def advance_clock(self, params: dict[str, Any]) -> Any:
        ms = _param(params, "ms", int)
        if ms < 0:
            raise RpcError(INVALID_PARAMS, "ms must not be negative")
        if not self.ledger.clock.manual:
            raise RpcError(INVALID_REQUEST, "the chain clock runs on wall time")
        now = self.ledger.clock.advance(ms)
        if self._tick is not None:
            self._tick()
        return {"timeMs": now}


def _json_response(value: Any) -> web.Response:
    return web.Response(body=dumps_bytes(value), content_type="application/json")


class _Unrepresentable(ValueError):
    """A valid JSON number the chain cannot hold (beyond float range)."""


def _no_constant(name: str) -> Any:
    """JSON has no NaN or Infinity (Python's parser accepts them; our writer would not)."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number with a fraction or exponent; beyond float range (1e400) it would become
    infinity, which JSON cannot write back: the stored transaction would no longer be the
    one signed."""
    value = float(text)
    if not math.isfinite(value):
        raise _Unrepresentable(f"number {text[:40]} is out of range")
    return value


def _parse_body(raw: bytes) -> Any:
    """The request body as JSON: not JSON is a parse error; numbers out of range and nesting
    deeper than the parser goes (about 1,000 levels) are bad parameters. (A transaction's
    arguments are bounded much lower, in `tx`; other methods read only flat parameters.)"""
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except _Unrepresentable as exc:
        raise RpcError(INVALID_PARAMS, str(exc)) from None
    except RecursionError:
        raise RpcError(INVALID_PARAMS, "JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise RpcError(PARSE_ERROR, "request body is not valid JSON") from None

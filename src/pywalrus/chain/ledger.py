"""The ledger: validates, executes and durably commits transactions, one at a time.

A transaction is accepted only if its signature is the sender's, it names this chain, its
nonce is the sender's next one, and its fee fits both the budget and the sender's gas. Its
calls then run against a `TxContext`; if any call aborts, nothing of the transaction is kept
(not even the nonce or the fee), so a client may fix it and resubmit. Otherwise the changed
objects, the events and a signed checkpoint are committed in one SQLite transaction before the
result is returned.

A call that raises anything other than an abort (an input no contract rule foresaw) fails its
transaction alone: the transaction is kept as failed, with its nonce used and its fee charged
and nothing else, so that it cannot be repeated for free, and the other transactions of its
commit group are untouched (each one is written under its own savepoint).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pywalrus.chain import contracts
from pywalrus.chain.checkpoints import GENESIS_DIGEST, Checkpoint, events_digest
from pywalrus.chain.context import TxContext
from pywalrus.chain.objects import Event, Object
from pywalrus.chain.schema import SYSTEM
from pywalrus.chain.store import ChainStore, Commit
from pywalrus.chain.tx import Call, SignedTransaction, TransactionData, fee_for
from pywalrus.core.accounts import Account
from pywalrus.core.errors import (
    Abort,
    TransactionFailed,
    TransactionRejected,
    VerificationError,
    WalrusError,
)

log = logging.getLogger("pywalrus.chain")

SYSTEM_TYPE = SYSTEM
OBJECT_CACHE_SIZE = 10_000
T = TypeVar("T")


class Clock:
    """Chain time in milliseconds: wall time, or a manual clock that tests advance."""

    def __init__(self, manual: bool = False, start_ms: int | None = None) -> None:
        self.manual = manual
        self._manual_ms = start_ms if start_ms is not None else int(time.time() * 1000)
        self._floor_ms = 0

    def now_ms(self) -> int:
        wall = self._manual_ms if self.manual else int(time.time() * 1000)
        return max(wall, self._floor_ms)

    def not_before(self, ms: int) -> None:
        """Never report a time before `ms` (the last checkpoint's, after a restart)."""
        self._floor_ms = ms
        if self.manual:
            self._manual_ms = max(self._manual_ms, ms)

    def advance(self, ms: int) -> int:
        if not self.manual:
            raise WalrusError("the chain clock runs on wall time and cannot be advanced")
        self._manual_ms += ms
        return self._manual_ms


@dataclass(frozen=True)
class ExecutionResult:
    """What a client gets back for an executed transaction."""

    digest: str
    """Transaction digest."""
    seq: int
    """Transaction (and checkpoint) sequence number."""
    effects: dict[str, Any]
    """Created/mutated/deleted object IDs, each call's returned values, fee."""
    events: list[Event]
    """Emitted events."""
    checkpoint: Checkpoint
    """The checkpoint sealing it."""

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "seq": self.seq,
            "effects": self.effects,
            "events": [e.to_json() for e in self.events],
            "checkpoint": self.checkpoint.to_json(),
        }


class Ledger:
    """The single sequencer of one chain."""

    def __init__(self, path: Path, chain_id: str, chain_key: Account, clock: Clock) -> None:
        contracts.load_all()
        self.store = ChainStore(path)
        self.chain_id = chain_id
        self.chain_key = chain_key
        self.clock = clock
        self._lock = threading.RLock()
        self._objects: dict[str, Object] = {}
        """Committed objects recently read or written, parsed (never modified in place)."""
        self._accounts: dict[str, tuple[int, int]] = {}
        """Committed (nonce, gas) of accounts recently read or written."""
        self._meta: dict[str, str | None] = {}
        """Committed meta values read so far (singleton IDs, chain ID)."""
        self._deferred_notify = False
        self._listeners: list[Callable[[], None]] = []
        stored = self.meta("chain_id")
        if stored is not None and stored != chain_id:
            raise WalrusError(f"database belongs to chain {stored!r}, not {chain_id!r}")
        self._reload_counters()

    @property
    def chain_address(self) -> str:
        return self.chain_key.address

    @property
    def is_initialized(self) -> bool:
        return self.meta("chain_id") is not None

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every commit (the RPC server wakes long-polls with it)."""
        self._listeners.append(listener)

    def close(self) -> None:
        self.store.close()

    # Reads ---------------------------------------------------------------------------------

    def object(self, object_id: str) -> Object | None:
        """An object as last committed (callers must not modify it)."""
        cached = self._objects.get(object_id)
        if cached is not None:
            return cached
        obj = self.store.object(object_id)
        if obj is not None:
            self._remember(obj)
        return obj

    def account(self, address: str) -> tuple[int, int]:
        """An account's committed (nonce, gas balance)."""
        cached = self._accounts.get(address)
        if cached is None:
            cached = _cache_put(self._accounts, address, self.store.account(address))
        return cached

    def meta(self, key: str) -> str | None:
        if key not in self._meta:
            self._meta[key] = self.store.meta(key)
        return self._meta[key]

    def _remember(self, obj: Object) -> None:
        _cache_put(self._objects, obj.id, obj)

    def singleton_id(self, type_: str) -> str | None:
        return self.meta(f"singleton:{type_}")

    def singleton(self, type_: str) -> Object:
        object_id = self.singleton_id(type_)
        obj = self.object(object_id) if object_id else None
        if obj is None:
            raise WalrusError(f"no {type_} object on this chain")
        return obj

    def epoch(self) -> int:
        return int(self.singleton(SYSTEM_TYPE).fields["epoch"])

    # Execution -----------------------------------------------------------------------------

    def submit(self, signed: SignedTransaction, signature_checked: bool = False) -> ExecutionResult:
        """Validate and execute a client's transaction.

        `signature_checked` says the caller (the RPC server's precheck worker) has verified the
        signature over these exact data already.
        """
        data = signed.data
        if data.chain_id != self.chain_id:
            raise TransactionRejected("EWrongChain", f"transaction is for chain {data.chain_id!r}")
        if not signature_checked:
            try:
                signed.verify()
            except VerificationError as exc:
                raise TransactionRejected("EBadSignature", str(exc)) from None
        return self._execute(signed)

    def submit_batch(
        self, batch: list[tuple[SignedTransaction, bool]]
    ) -> list[ExecutionResult | TransactionRejected]:
        """Execute several (transaction, signature checked) in order, durable with one commit.

        Each transaction is still atomic and gets its own checkpoint; a rejected one changes
        nothing and does not affect the others. Results are returned only once the whole batch
        is durable; if that final commit fails, none of the batch is kept.
        """
        results: list[ExecutionResult | TransactionRejected] = []
        with self._lock:
            self.store.begin()
            self._deferred_notify = True
            try:
                for signed, signature_checked in batch:
                    try:
                        results.append(self.submit(signed, signature_checked))
                    except TransactionRejected as exc:
                        results.append(exc)
                self.store.end()
            except BaseException:
                self.store.abort()
                self._reload_counters()
                raise
            finally:
                self._deferred_notify = False
        for listener in self._listeners:
            listener()
        return results

    def _reload_counters(self) -> None:
        self._objects.clear()
        self._accounts.clear()
        self._meta.clear()
        self._tx_count = self.store.tx_count()
        self._event_count = self.store.event_count()
        latest = self.store.latest_checkpoint()
        self._last_digest = latest.digest if latest else GENESIS_DIGEST

    def execute_system(self, calls: list[Call]) -> ExecutionResult:
        """Execute the chain's own transaction (genesis, epoch changes, faucet)."""
        with self._lock:
            nonce = self.account(self.chain_address)[0]
        data = TransactionData(self.chain_id, self.chain_address, nonce, 0, tuple(calls))
        return self._execute(data.sign(self.chain_key))

    def _execute(self, signed: SignedTransaction) -> ExecutionResult:
        data = signed.data
        with self._lock:
            nonce, gas = self.account(data.sender)
            digest = data.digest()
            if data.nonce != nonce:
                # Nonces only grow, so an executed transaction can only come back with an old one.
                if data.nonce < nonce and self.store.transaction(digest) is not None:
                    raise TransactionRejected(
                        "EDuplicate",
                        f"transaction {digest} was already executed",
                        expectedNonce=nonce,
                    )
                raise TransactionRejected(
                    "EWrongNonce",
                    f"expected nonce {nonce} for {data.sender}, got {data.nonce}",
                    expectedNonce=nonce,
                )
            is_chain = data.sender == self.chain_address
            fee = 0 if is_chain else fee_for(data)
            if fee > data.gas_budget:
                raise TransactionRejected(
                    "EGasBudget", f"fee {fee} exceeds budget {data.gas_budget}"
                )
            if fee > gas:
                raise TransactionRejected(
                    "EInsufficientGas", f"fee {fee} exceeds gas balance {gas}"
                )
            ctx = self._context(data.sender, digest)
            results: list[dict[str, Any]] = []
            where = "fee"
            try:
                for index, call in enumerate(data.calls):
                    where = f"call {index} ({call.function})"
                    args = _resolve(call.args, results)
                    results.append(contracts.call(ctx, call.function, args))
                where = "fee"
                ctx.add_gas(data.sender, -fee)
                where = "commit"
                return self._commit(signed, ctx, results, fee, nonce, digest)
            except Abort as exc:
                raise TransactionRejected(exc.code, f"{where}: {exc.detail}") from None
            except Exception as exc:  # not a contract rule: the sender pays, no one else
                message = f"{where}: {type(exc).__name__}: {exc}"[:300]
                log.warning("transaction %s failed: %s", digest, message)
                self._record_failure(signed, fee, nonce, digest, message)
                raise TransactionFailed(message, digest) from None

    def _record_failure(
        self, signed: SignedTransaction, fee: int, nonce: int, digest: str, message: str
    ) -> None:
        """Keep a failed transaction: its nonce used, its fee charged, nothing else. If even
        that cannot be written, nothing of it is kept."""
        ctx = self._context(signed.data.sender, digest)
        try:
            ctx.add_gas(signed.data.sender, -fee)
            self._commit(signed, ctx, [], fee, nonce, digest, failure=message)
        except Exception as exc:
            log.warning("failed transaction %s could not be recorded: %s", digest, exc)
            raise TransactionRejected(
                "EExecutionFailed", f"{message} (not recorded: nothing was kept)"
            ) from None

    def _context(self, sender: str, digest: str) -> TxContext:
        return TxContext(
            self.object,
            self.singleton_id,
            self.account,
            sender,
            digest,
            self.clock.now_ms(),
            self.chain_address,
        )

    def _commit(
        self,
        signed: SignedTransaction,
        ctx: TxContext,
        results: list[dict[str, Any]],
        fee: int,
        nonce: int,
        digest: str,
        failure: str | None = None,
    ) -> ExecutionResult:
        seq = self._tx_count
        written = ctx.changed()
        for obj in written:
            obj.version = seq
        accounts = {a: (self.account(a)[0], ctx.gas_balance(a)) for a in ctx.gas}
        sender = signed.data.sender
        accounts[sender] = (nonce + 1, ctx.gas_balance(sender))
        epoch = self._epoch_of(ctx)
        events = [
            Event(self._event_count + i, digest, i, e.type, e.fields, seq, ctx.now_ms)
            for i, e in enumerate(ctx.events)
        ]
        event_objects = [
            (object_id, event.seq)
            for event, emitted in zip(events, ctx.events, strict=True)
            for object_id in emitted.objects
        ]
        checkpoint = Checkpoint(
            sequence=seq,
            previous_digest=self._last_digest,
            tx_digest=digest,
            events_digest=events_digest(events),
            first_event=self._event_count,
            event_count=len(events),
            timestamp_ms=ctx.now_ms,
            epoch=epoch,
        ).signed(self.chain_key)
        effects: dict[str, Any] = {
            "status": "success" if failure is None else "failure",
            "fee": fee,
            "created": sorted(o.id for o in written if o.id in ctx.created),
            "mutated": sorted(o.id for o in written if o.id not in ctx.created),
            "deleted": sorted(ctx.deleted),
            "results": results,
        }
        if failure is not None:
            effects["error"] = failure
        meta = {f"singleton:{t}": i for t, i in ctx.new_singletons.items()}
        if seq == 0:
            meta["chain_id"] = self.chain_id
        self.store.commit(
            Commit(
                seq=seq,
                tx_digest=digest,
                sender=sender,
                body=signed.to_json(),
                effects=effects,
                written=written,
                deleted=sorted(ctx.deleted),
                accounts=accounts,
                events=events,
                event_objects=event_objects,
                checkpoint=checkpoint,
                meta=meta,
            )
        )
        for obj in written:
            self._remember(obj)
        for address, account in accounts.items():
            _cache_put(self._accounts, address, account)
        self._meta.update(meta)
        for object_id in ctx.deleted:
            self._objects.pop(object_id, None)
        self._tx_count += 1
        self._event_count += len(events)
        self._last_digest = checkpoint.digest
        if not self._deferred_notify:
            for listener in self._listeners:
                listener()
        return ExecutionResult(digest, seq, effects, events, checkpoint)

    def _epoch_of(self, ctx: TxContext) -> int:
        type_id = ctx.new_singletons.get(SYSTEM_TYPE) or self.singleton_id(SYSTEM_TYPE)
        if type_id is None:
            return 0
        obj = ctx.working.get(type_id) or ctx.viewed.get(type_id) or self.object(type_id)
        return int(obj.fields["epoch"]) if obj else 0


def _cache_put(cache: dict[str, T], key: str, value: T) -> T:
    """Put into a cache of at most `OBJECT_CACHE_SIZE` entries (the oldest goes first)."""
    if key not in cache and len(cache) >= OBJECT_CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value
    return value


def _resolve(value: Any, results: list[dict[str, Any]]) -> Any:
    """Replace `{"$result": [i, key]}` with the value call i returned under `key`."""
    if isinstance(value, dict):
        if set(value) == {"$result"}:
            ref = value["$result"]
            if (
                not isinstance(ref, list)
                or len(ref) != 2
                or not isinstance(ref[0], int)
                or not 0 <= ref[0] < len(results)
                or ref[1] not in results[ref[0]]
            ):
                raise Abort("EBadResultReference", f"invalid result reference {ref!r}")
            return results[ref[0]][ref[1]]
        return {k: _resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    return value

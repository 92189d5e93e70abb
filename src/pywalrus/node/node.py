"""The storage node's state and behaviour, independent of HTTP.

It follows the chain's events in order from a persisted cursor and folds them into per-blob
info; it accepts metadata and slivers only for registered, unexpired blobs (or buffers them
briefly when the uploader asks, until the registration arrives), only for its shards, and only
after verifying them; it signs storage confirmations when it holds both slivers of every shard
it owns for a blob; it keeps a status record per shard (`shard_state`) that epoch changes
update, keeps serving shards it lost until their new owner has them, and reports epoch sync to
the chain once every shard it owns is complete.

Its long-running work runs under a `Supervisor` (`tasks`): the event follower and the epoch
sync report wait out chain outages with backoff, and are restarted if they die anyway. Data of
blobs that stop being registered (expired, deleted, invalid) is never served from the event
on, and removed by the garbage collector (`gc`), which the node asks to run at each epoch
start, after deletions and invalidations, and at start-up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from pywalrus.chain.client import ChainClient
from pywalrus.chain.objects import Event
from pywalrus.chain.tx import Call
from pywalrus.core.accounts import Account
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.errors import (
    BcsError,
    ChainError,
    ChainUnavailable,
    CorruptSliverError,
    InvalidMetadataError,
    PendingFull,
    VerificationError,
    WalrusError,
)
from pywalrus.core.inconsistency import InconsistencyProof
from pywalrus.core.messages import (
    PERMANENT,
    Deletable,
    InvalidBlobIdMsg,
    SignedMessage,
    StorageConfirmation,
)
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver, decode_sliver_batch, verify_sliver_batch
from pywalrus.core.symbols import (
    DecodingSymbol,
    GeneralRecoverySymbol,
    recovery_symbols_from_sliver,
)
from pywalrus.core.types import BlobId, Epoch, ObjectId, ShardIndex, SliverPairIndex, SliverType
from pywalrus.node import blob_info, shard_state
from pywalrus.node.faults import Faults
from pywalrus.node.follower import EVENT_PAGE, POLL_MS, FollowerStatus
from pywalrus.node.limits import ByteBudget, NodeLimits
from pywalrus.node.metrics import NodeMetrics
from pywalrus.node.outcomes import Accepted, BodyReader, Held, Refusal, Refused, SliversAccepted
from pywalrus.node.pending import PendingUploads
from pywalrus.node.shard_state import READ_ONLY, READY, ShardState
from pywalrus.node.storage import NodeStore
from pywalrus.node.tasks import Backoff, Supervisor, retrying

log = logging.getLogger("pywalrus.node")
T = TypeVar("T")
CHAIN_ERRORS = (ChainUnavailable, ChainError)
"""What an unreachable, restarting or refusing chain raises: waited out, never fatal."""
FOLLOWER = "event follower"
SYNC_REPORT = "epoch sync report"
SHARD_DROP_BATCH = 1000
"""Slivers deleted per write transaction when a shard is dropped."""
INLINE_VERIFY_BYTES: Final = 64 * 1024
"""Uploaded slivers up to this size are verified on the event loop: handing them to a thread
costs more than the check (well under a millisecond), mostly in contention for the GIL."""


class StorageNode:
    """One node's store, committee view, pending uploads and event follower."""

    def __init__(
        self,
        name: str,
        node_id: str,
        store: NodeStore,
        chain: ChainClient,
        protocol_key: BlsPrivateKey,
        operator: Account,
        max_pending_ms: int = 30_000,
        confirmation_wait_ms: int = 5_000,
        faults: Faults | None = None,
        metrics: NodeMetrics | None = None,
        limits: NodeLimits | None = None,
    ) -> None:
        self.name = name
        self.node_id = node_id
        self.store = store
        self.chain = chain
        self.protocol_key = protocol_key
        self.operator = operator
        self.max_pending_ms = max_pending_ms
        self.confirmation_wait_ms = confirmation_wait_ms
        self.faults = faults if faults is not None else Faults()
        """Test-only misbehaviour (`faults`)."""
        self.epoch = 0
        self.n_shards = 0
        self.shards: frozenset[int] = frozenset()
        """Shards this node owns in the current committee."""
        self.shard_states = {
            shard: ShardState.from_json(state) for shard, state in store.shard_states().items()
        }
        """Status record of every shard held or being synced (`shard_state`)."""
        self.epoch_changing = False
        """The chain is between `EpochChangeStart` and `EpochChangeDone`."""
        self.committee_shards: dict[str, list[int]] = {}
        """Current committee: node ID → shards."""
        self.previous_committee_shards: dict[str, list[int]] = {}
        """Previous committee: node ID → shards."""
        self.member_keys: dict[bytes, str] = {}
        """BLS public key (48 bytes) → node ID, for the current committee."""
        self.event_epoch = int(store.get_scalar("event_epoch") or 0)
        """Epoch of the last `EpochChangeStart` event applied: the blob infos are complete up to
        that change (shard sync waits for it)."""
        self._event_epoch_changed = asyncio.Event()
        self.encoding: EncodingConfig | None = None
        self.limits = limits or NodeLimits()
        self.pending = PendingUploads(
            max_pending_ms / 1000,
            ByteBudget(self.limits.max_pending_bytes, self.limits.max_pending_bytes_per_address),
        )
        """Uploads waiting for their blob's registration (`pending`)."""
        self._flushing: dict[BlobId, asyncio.Event] = {}
        self.started = time.monotonic()
        self.highest_event = store.event_cursor()
        self.cap_id: str | None = None
        self._registered: dict[BlobId, asyncio.Event] = {}
        self._metadata_cache: dict[BlobId, BlobMetadata] = {}
        self._info_cache: dict[BlobId, blob_info.BlobInfo | None] = {}
        self._cpu = ThreadPoolExecutor(2, thread_name_prefix="verify")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="lmdb-writer")
        self._stopping = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.metrics = metrics or NodeMetrics()
        self.supervisor = Supervisor(name, self.metrics.task_restarts)
        self.follower = FollowerStatus()
        self._report_again = False
        self.on_certified: Callable[[BlobId], None] | None = None
        """Called for each certified blob event (blob sync hooks in here)."""
        self.on_shards_gained: Callable[[], None] | None = None
        """Called when some owned shard needs syncing (shard sync hooks in here)."""
        self.on_garbage: Callable[[], None] | None = None
        """Called when blobs may have become garbage (the garbage collector hooks in here)."""

    # Helpers -------------------------------------------------------------------------------

    async def cpu(self, func: Any, *args: Any) -> Any:
        """Run CPU-heavy work (verification) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._cpu, func, *args)

    async def write(self, func: Any, *args: Any) -> Any:
        """Run an LMDB write on the single writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, func, *args)

    async def store_blob_data(
        self,
        blob_id: BlobId,
        metadata: bytes | None,
        slivers: list[tuple[int, SliverType, bytes]],
    ) -> bool:
        """Store a blob's metadata and slivers if it is still registered; False if not.

        The check and the queueing of the write happen with no await between them: a write
        queued while the blob was registered runs before the garbage collection that follows
        the event ending its registration (the writer thread runs writes in order)."""
        if not self.is_registered(blob_id):
            return False
        await self.write(self.store.put_blob_data, blob_id, metadata, slivers)
        return True

    def forget(self, blob_id: BlobId) -> None:
        """Drop what is cached of a blob whose info or data was removed."""
        self._info_cache.pop(blob_id, None)
        self._metadata_cache.pop(blob_id, None)

    def read_sliver(
        self, blob_id: BlobId, shard: int, axis: SliverType, found_by: str = "read"
    ) -> bytes | None:
        """A stored sliver (BCS) checked against its checksum, None if absent. One that fails
        raises `CorruptSliverError`, once it is scheduled to be dropped and rebuilt (this may
        run on a worker thread)."""
        try:
            return self.store.sliver(blob_id, shard, axis)
        except CorruptSliverError:
            self._loop.call_soon_threadsafe(self._drop_later, blob_id, shard, axis, found_by)
            raise

    def readable_sliver(
        self, blob_id: BlobId, shard: int, axis: SliverType, found_by: str = "read"
    ) -> bytes | None:
        """`read_sliver`, with a corrupt sliver counted as absent."""
        try:
            return self.read_sliver(blob_id, shard, axis, found_by)
        except CorruptSliverError:
            return None

    def _drop_later(self, blob_id: BlobId, shard: int, axis: SliverType, found_by: str) -> None:
        self.supervisor.spawn(
            f"drop {axis.label} sliver {blob_id} {shard}",
            lambda: self.drop_corrupt(blob_id, shard, axis, found_by),
            kind="drop corrupt sliver",
        )

    async def drop_corrupt(
        self, blob_id: BlobId, shard: int, axis: SliverType, found_by: str
    ) -> None:
        """Delete a sliver that failed its check and have blob sync rebuild it."""
        if await self.write(self.store.delete_sliver_if_corrupt, blob_id, shard, axis):
            self.metrics.corrupt_slivers.labels(found_by).inc()
            log.warning(
                "node %s: dropped the corrupt %s sliver of blob %s in shard %d (found by %s);"
                " blob sync rebuilds it",
                self.name,
                axis.label,
                blob_id,
                shard,
                found_by,
            )
        if self.on_certified is not None and blob_info.is_certified(self.info(blob_id), self.epoch):
            self.on_certified(blob_id)

    @property
    def config(self) -> EncodingConfig:
        if self.encoding is None:
            raise WalrusError("the node has not read the committee yet")
        return self.encoding

    def info(self, blob_id: BlobId) -> blob_info.BlobInfo | None:
        """What the chain says about a blob; cached, since every request asks."""
        if blob_id in self._info_cache:
            return self._info_cache[blob_id]
        info = self.store.blob_info(blob_id)
        self._cache_info(blob_id, info)
        return info

    def _cache_info(self, blob_id: BlobId, info: blob_info.BlobInfo | None) -> None:
        if len(self._info_cache) >= 4096:
            self._info_cache.pop(next(iter(self._info_cache)))
        self._info_cache[blob_id] = info

    def is_registered(self, blob_id: BlobId) -> bool:
        return blob_info.is_registered(self.info(blob_id), self.epoch)

    def shard_for_pair(self, pair: int, blob_id: BlobId) -> int:
        return int(self.config.shard_for_pair(SliverPairIndex(pair), blob_id))

    def pairs_held(self, blob_id: BlobId) -> list[tuple[int, int]]:
        """(shard, pair index) for every shard whose slivers this node holds: the shards it
        owns and those it lost but still keeps for their new owner."""
        return [
            (s, int(self.config.pair_for_shard(ShardIndex(s), blob_id)))
            for s in sorted(self.shards | self.read_only_shards())
        ]

    def holds_all_slivers(self, blob_id: BlobId) -> bool:
        return all(
            self.store.has_sliver(blob_id, shard, axis)
            for shard in self.shards
            for axis in SliverType
        )

    def holds_ready_slivers(self, blob_id: BlobId) -> bool:
        """Both slivers of every ready shard (shards still syncing are shard sync's job)."""
        return all(
            self.store.has_sliver(blob_id, shard, axis)
            for shard in self.ready_shards()
            for axis in SliverType
        )

    # Shards ----------------------------------------------------------------------------------

    def shard_status(self, shard: int) -> str:
        return shard_state.status_of(shard, self.shard_states)

    def ready_shards(self) -> list[int]:
        return [s for s in sorted(self.shards) if self.shard_status(s) == READY]

    def read_only_shards(self) -> frozenset[int]:
        """Shards lost at an epoch change whose slivers are still kept."""
        return frozenset(
            s
            for s, st in self.shard_states.items()
            if st.status == READ_ONLY and s not in self.shards
        )

    def serves_reads(self, shard: int) -> bool:
        """Owned shards, and shards lost at the epoch change still in progress (the previous
        committee's readers may still ask for them)."""
        if shard in self.shards:
            return True
        state = self.shard_states.get(shard)
        return (
            state is not None
            and state.status == READ_ONLY
            and self.epoch_changing
            and state.epoch == self.epoch
        )

    def certified_infos(self) -> list[tuple[BlobId, blob_info.BlobInfo]]:
        """Certified, unexpired blobs with their info, in blob-ID order: read from the
        unexpired entries of the store's `by_end_epoch` index, not from every blob's record."""
        return [
            (blob_id, info)
            for blob_id, info in self.store.live_blobs(self.epoch)
            if blob_info.is_certified(info, self.epoch)
        ]

    async def set_shard_state(self, shard: int, state: ShardState) -> None:
        await self.write(self.store.put_shard_states, {shard: state.to_json()})
        self.shard_states[shard] = state

    async def update_shard_states(self) -> None:
        """Apply the current committee to the shard records (`shard_state.reconcile`)."""
        changes = shard_state.reconcile(
            self.node_id,
            self.epoch,
            self.shards,
            self.previous_committee_shards,
            self.shard_states,
        )
        for shard, state in changes.items():
            if state is None:
                await self.drop_shard(shard)
        records = {s: st.to_json() for s, st in changes.items() if st is not None}
        if records:
            await self.write(self.store.put_shard_states, records)
        by_status: dict[str, list[int]] = {}
        for shard, state in changes.items():
            if state is not None:
                self.shard_states[shard] = state
                by_status.setdefault(state.status, []).append(shard)
        for status, shards in by_status.items():
            log.info("node %s: epoch %d: shards %s are %s", self.name, self.epoch, shards, status)
        if self.on_shards_gained is not None and any(
            self.shard_status(s) in shard_state.SYNCING for s in self.shards
        ):
            self.on_shards_gained()

    async def drop_shard(self, shard: int) -> None:
        """Delete a shard this node no longer owns, slivers and record: in bounded steps
        (other writes run between them), each visiting only the shard's own slivers."""
        self.shard_states.pop(shard, None)  # served no more from here on
        slivers = size = 0
        while True:
            page = await self.write(self.store.delete_shard, shard, SHARD_DROP_BATCH)
            slivers += page.slivers
            size += page.bytes
            if page.done:
                break
        log.info(
            "node %s: removed shard %d (%d slivers, %d bytes)", self.name, shard, slivers, size
        )

    async def wait_event_epoch(self, epoch: int) -> None:
        """Until the event follower has applied the `EpochChangeStart` of `epoch`."""
        while self.event_epoch < epoch and not self._stopping.is_set():
            self._event_epoch_changed.clear()
            await self._event_epoch_changed.wait()

    def stored_metadata(self, blob_id: BlobId) -> BlobMetadata | None:
        """Parsed metadata, cached: every sliver upload of a blob is checked against it."""
        cached = self._metadata_cache.get(blob_id)
        if cached is not None:
            return cached
        data = self.store.metadata(blob_id)
        if data is None:
            return None
        return self.remember_metadata(blob_id, BlobMetadata.from_bcs(data))

    def remember_metadata(self, blob_id: BlobId, metadata: BlobMetadata) -> BlobMetadata:
        if len(self._metadata_cache) >= 256:
            self._metadata_cache.pop(next(iter(self._metadata_cache)))
        self._metadata_cache[blob_id] = metadata
        return metadata

    # Committee -----------------------------------------------------------------------------

    async def refresh_committee(self) -> None:
        staking = await self.chain.singleton("walrus::Staking")
        system = await self.chain.singleton("walrus::System")
        self.epoch = int(system.fields["epoch"])
        self.n_shards = int(system.fields["n_shards"])
        self.encoding = EncodingConfig(self.n_shards)
        self.epoch_changing = staking.fields["epoch_state"]["kind"] == "EpochChangeSync"
        self.committee_shards = _shard_map(staking.fields["committee"])
        self.previous_committee_shards = _shard_map(staking.fields.get("previous_committee"))
        self.member_keys = {
            bytes.fromhex(m["public_key"]): m["node_id"]
            for m in system.fields["committee"]["members"]
        }
        self.shards = frozenset(self.committee_shards.get(self.node_id, []))
        if self.cap_id is None:
            caps = await self.chain.owned_objects(self.operator.address, "walrus::StorageNodeCap")
            for cap in caps:
                if cap.fields["node_id"] == self.node_id:
                    self.cap_id = cap.id

    def request_sync_report(self) -> None:
        """Report epoch sync to the chain if it is due, in a supervised task that retries
        through chain outages (again after it finishes, if asked while it runs)."""
        if self.supervisor.running(SYNC_REPORT):
            self._report_again = True
        else:
            self.supervisor.spawn(SYNC_REPORT, self._report_until_done)

    async def _report_until_done(self) -> None:
        while True:
            self._report_again = False
            await retrying(
                f"node {self.name}: epoch sync report", self.report_sync_done, CHAIN_ERRORS
            )
            if not self._report_again:
                return

    async def report_sync_done(self) -> None:
        """Tell the chain this node holds its shards for the current epoch, if it has not yet
        and the chain waits for it; chain errors propagate (the caller retries)."""
        staking = await self.chain.singleton("walrus::Staking")
        state = staking.fields["epoch_state"]
        if state["kind"] != "EpochChangeSync" or not self.shards or self.cap_id is None:
            return
        if self.node_id in state.get("synced", []) or int(staking.fields["epoch"]) != self.epoch:
            return
        syncing = [s for s in sorted(self.shards) if self.shard_status(s) != READY]
        if syncing:
            log.info("node %s: epoch sync waits for shards %s", self.name, syncing)
            return
        await self.chain.execute(
            self.operator,
            [Call("staking::epoch_sync_done", {"cap": self.cap_id, "epoch": self.epoch})],
        )
        log.info("node %s: reported epoch sync done for epoch %d", self.name, self.epoch)

    # Events --------------------------------------------------------------------------------

    async def follow_events(self) -> None:
        """Follow chain events forever (until `stop`), applying them in order.

        On every (re)start it first re-reads the committee and reconciles the shards, since a
        follower that died after storing a cursor may not have finished applying an epoch
        change. An unreachable chain is waited out with backoff; `follower` records each poll
        for `/v1/health`.
        """
        status = self.follower
        status.restarted()
        await retrying(
            f"node {self.name}: committee refresh", self.catch_up, CHAIN_ERRORS, status.failed
        )
        try:
            await self._follow(status)
        except Exception as exc:  # reported unhealthy until the supervisor restarts it
            status.failed(exc)
            raise

    async def _follow(self, status: FollowerStatus) -> None:
        cursor = self.store.event_cursor()
        backoff = Backoff()
        timeout_ms = 0  # the first poll answers at once: whether the node is caught up
        while not self._stopping.is_set():
            status.polling()
            try:
                events = await self.chain.wait_events(
                    cursor, timeout_ms=timeout_ms, limit=EVENT_PAGE
                )
            except CHAIN_ERRORS as exc:
                status.failed(exc)
                pause = backoff.next()
                log.warning(
                    "node %s: event follower: %s; retrying in %.1f s", self.name, exc, pause
                )
                await asyncio.sleep(pause)
                continue
            backoff.reset()
            if events:
                await self.apply_events(events)
                cursor = events[-1].seq
            full = len(events) >= EVENT_PAGE
            status.polled(full)
            timeout_ms = 0 if full else POLL_MS

    async def catch_up(self) -> None:
        """Bring the committee view, the shard records, epoch sync and blob sync up to what
        the applied events say (at start, and when the follower restarts)."""
        await self.refresh_committee()
        await self.update_shard_states()
        self.request_sync_report()
        await self.resume_blob_syncs()
        if self.on_garbage is not None:
            self.on_garbage()  # what became garbage before a crash or while the node was down

    async def resume_blob_syncs(self) -> None:
        """Hand blob sync every queued blob still certified and incomplete here (certified
        while this node lacked slivers of it, or a sliver was dropped as corrupt); take the
        others off the queue. Visits the queue only, not every blob."""
        if self.on_certified is None:
            return
        queued = self.store.sync_queue()
        settled = [
            b
            for b in queued
            if not blob_info.is_certified(self.info(b), self.epoch) or self.holds_all_slivers(b)
        ]
        if settled:
            await self.write(self.store.unqueue_sync, settled)
        done = set(settled)
        for blob_id in queued:
            if blob_id not in done:
                self.on_certified(blob_id)

    def health_problem(self) -> str | None:
        """Why this node is not healthy (its event follower is down or behind), or None."""
        if not self.supervisor.running(FOLLOWER):
            return "the event follower is not running"
        return self.follower.problem()

    async def apply_events(self, events: Iterable[Event]) -> None:
        updated: dict[BlobId, blob_info.BlobInfo | None] = {}
        registered: list[BlobId] = []
        certified: list[BlobId] = []
        deleted: list[BlobId] = []
        received: list[tuple[int, list[int]]] = []
        epoch_changed = False
        event_epoch = self.event_epoch
        last = self.highest_event
        for event in events:
            last = event.seq
            if event.type in blob_info.BLOB_EVENTS:
                blob_id = BlobId.parse(event.fields["blob_id"])
                current = updated[blob_id] if blob_id in updated else self.info(blob_id)
                event_id = {"txDigest": event.tx_digest, "eventSeq": str(event.event_index)}
                updated[blob_id] = blob_info.apply_event(
                    current, event.type, event.fields, event_id
                )
                if event.type == "BlobRegistered":
                    registered.append(blob_id)
                elif event.type == "BlobCertified":
                    certified.append(blob_id)
                elif event.type in ("BlobDeleted", "InvalidBlobID"):
                    deleted.append(blob_id)
            elif event.type in ("EpochChangeStart", "EpochChangeDone"):
                epoch_changed = True
                if event.type == "EpochChangeStart":
                    event_epoch = max(event_epoch, int(event.fields["epoch"]))
            elif event.type == "ShardsReceived":
                received.append((int(event.fields["epoch"]), list(event.fields["shards"])))
        # Uploads buffered for blobs registered now are stored right after the events; until
        # then, requests that see the registration (from here on) wait for that (`flushed`).
        for blob_id in registered:
            if self.pending.get(blob_id) is not None:
                self._flushing.setdefault(blob_id, asyncio.Event())
        # Blobs certified while this node lacks slivers of them are queued for blob sync in the
        # same transaction, so that a crash before the sync does not lose them.
        to_sync = [
            b
            for b in dict.fromkeys(certified)
            if blob_info.is_certified(updated[b], self.epoch) and not self.holds_all_slivers(b)
        ]
        try:
            await self.write(self.store.apply_events, updated, last, to_sync)
            for blob_id, info in updated.items():
                self._cache_info(blob_id, info)
            self.highest_event = last
            for blob_id in registered:
                await self._flush_pending(blob_id)
                waiter = self._registered.pop(blob_id, None)
                if waiter is not None:
                    waiter.set()
        finally:
            for blob_id in registered:  # never leave a request waiting for a failed flush
                flushing = self._flushing.pop(blob_id, None)
                if flushing is not None:
                    flushing.set()
        if epoch_changed:
            await retrying(
                f"node {self.name}: committee refresh",
                self.refresh_committee,
                CHAIN_ERRORS,
                self.follower.failed,
            )
            await self.update_shard_states()
            self.request_sync_report()
        if event_epoch != self.event_epoch:
            await self.write(self.store.put_scalar, "event_epoch", str(event_epoch))
            self.event_epoch = event_epoch
            self._event_epoch_changed.set()
        for epoch, shards in received:
            await self._release_received(epoch, shards)
        if (epoch_changed or deleted) and self.on_garbage is not None:
            self.on_garbage()
        if self.on_certified is not None:
            for blob_id in certified:
                self.on_certified(blob_id)

    async def _release_received(self, epoch: int, shards: list[int]) -> None:
        """A new owner reported it holds `shards`: delete those this node kept read-only."""
        for shard in shards:
            state = self.shard_states.get(shard)
            if (
                state is not None
                and state.status == READ_ONLY
                and shard not in self.shards
                and state.epoch <= epoch
            ):
                await self.drop_shard(shard)

    async def wait_registered(self, blob_id: BlobId, timeout_ms: int) -> bool:
        if self.is_registered(blob_id):
            return True
        waiter = self._registered.setdefault(blob_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(waiter.wait(), min(timeout_ms, self.confirmation_wait_ms) / 1000)
        return self.is_registered(blob_id)

    # Pending uploads ---------------------------------------------------------------------

    async def _flush_pending(self, blob_id: BlobId) -> None:
        """Store what was buffered for a blob whose registration just arrived.

        The entry stays in the buffer until its data is stored, so that uploads and
        confirmation requests arriving meanwhile still find it (`flushed` waits for it); no
        upload adds to it any more, since the blob counts as registered already.
        """
        done = self._flushing.setdefault(blob_id, asyncio.Event())
        try:
            entry = self.pending.get(blob_id)
            if entry is None:
                return
            if not self.is_registered(blob_id):
                self.pending.pop(blob_id)
                return
            metadata = entry.metadata
            if metadata is not None:
                self.remember_metadata(blob_id, BlobMetadata.from_bcs(metadata))
                if self.store.has_metadata(blob_id):
                    metadata = None
            slivers = [(shard, axis, data) for (shard, axis), data in entry.slivers.items()]
            await self.write(self.store.put_blob_data, blob_id, metadata, slivers)
            self.pending.pop(blob_id)
            if metadata is not None:
                self.metrics.stored.labels("metadata").inc()
            for _, axis, _ in slivers:
                self.metrics.stored.labels(axis.label).inc()
        finally:
            self._flushing.pop(blob_id, None)
            done.set()

    async def flushed(self, blob_id: BlobId) -> None:
        """Until buffered uploads of the blob being stored now (if any) are stored."""
        flushing = self._flushing.get(blob_id)
        if flushing is not None:
            await flushing.wait()

    # Requests: what the REST API asks, answered as typed outcomes or `Refused` ---------------

    def _check_served(self, blob_id: BlobId, refusal: Refusal) -> None:
        """Refuse to serve data of blobs that are not registered (unknown, expired, deleted or
        invalid), from the event on, whether or not the garbage collector removed it yet: as
        upstream, whose 451 `FORBIDDEN_BLOB` is for blobs on its operator's blocklist.
        `refusal` is `METADATA_NOT_SERVED` or `SLIVER_NOT_SERVED`."""
        info = self.info(blob_id)
        if not blob_info.is_registered(info, self.epoch):
            why = (
                "is marked invalid"
                if info is not None and info["invalid"] is not None
                else "is not registered (unknown, expired or deleted)"
            )
            what = "metadata" if refusal is Refusal.METADATA_NOT_SERVED else "sliver"
            raise Refused(refusal, f"no {what} of blob {blob_id} is served: the blob {why}")

    def _pair_shard(self, pair: int, blob_id: BlobId, reading: bool = False) -> int:
        """The shard this node holds pair `pair` of the blob in; for reads, also one it lost at
        the epoch change still in progress."""
        if not 0 <= pair < self.n_shards:
            raise Refused(Refusal.PAIR_OUT_OF_RANGE, f"sliver pair index {pair} out of range")
        shard = self.shard_for_pair(pair, blob_id)
        if not (self.serves_reads(shard) if reading else shard in self.shards):
            raise Refused(Refusal.SHARD_NOT_ASSIGNED, f"shard {shard} is not assigned to this node")
        return shard

    def served_metadata(self, blob_id: BlobId) -> bytes:
        """The metadata (BCS) of a registered blob, as stored."""
        self._check_served(blob_id, Refusal.METADATA_NOT_SERVED)
        data = self.store.metadata(blob_id)
        if data is None:
            raise Refused(Refusal.METADATA_NOT_SERVED, f"no metadata stored for blob {blob_id}")
        return self.faults.served_metadata(data)

    def metadata_held(self, blob_id: BlobId) -> Held:
        if self.store.has_metadata(blob_id):
            return Held.STORED
        entry = self.pending.get(blob_id)
        return Held.BUFFERED if entry and entry.metadata else Held.NONEXISTENT

    async def accept_metadata(
        self, blob_id: BlobId, body: bytes, pending: bool, address: str
    ) -> Accepted:
        """Store uploaded metadata (BCS) of a registered blob once it verifies against the blob
        ID; with `pending`, buffer it until the registration arrives."""
        try:
            metadata = BlobMetadata.from_bcs(body)
            metadata.verify(blob_id, self.config)
        except BcsError as exc:
            raise Refused(Refusal.INVALID_METADATA, f"malformed metadata: {exc}") from None
        except InvalidMetadataError as exc:
            raise Refused(Refusal.INVALID_METADATA, str(exc)) from None
        info = self.info(blob_id)
        if info is not None and info["invalid"] is not None:
            raise Refused(Refusal.INVALID_BLOB, f"blob {blob_id} is marked invalid")
        if not self.is_registered(blob_id):
            if not pending:
                raise Refused(Refusal.NOT_REGISTERED, f"blob {blob_id} is not registered")
            with self._pending_room():
                self.pending.add_metadata(blob_id, address, body)
            return Accepted.BUFFERED
        if self.store.has_metadata(blob_id):
            return Accepted.ALREADY_STORED
        if not await self.store_blob_data(blob_id, body, []):
            raise Refused(Refusal.NOT_REGISTERED, f"blob {blob_id} is not registered")
        self.remember_metadata(blob_id, metadata)
        self.metrics.stored.labels("metadata").inc()
        return Accepted.STORED

    async def accept_sliver(
        self,
        blob_id: BlobId,
        pair: int,
        axis: SliverType,
        body: BodyReader,
        pending: bool,
        address: str,
    ) -> SliversAccepted:
        """Store (or with `pending` buffer) one uploaded sliver (BCS) of pair `pair`: its shard
        must be this node's (checked before the body is read) and it must verify against the
        blob's metadata."""
        shard = self._pair_shard(pair, blob_id)
        data = await body()
        try:
            sliver = Sliver.from_bcs(data, axis)
        except BcsError as exc:
            raise Refused(Refusal.INVALID_SLIVER, f"malformed sliver: {exc}") from None
        self._check_index(pair, sliver)
        metadata, registered = self._upload_metadata(blob_id, pending)
        try:
            if len(sliver.data) <= INLINE_VERIFY_BYTES:
                sliver.verify(metadata)
            else:
                await self.cpu(sliver.verify, metadata)
        except VerificationError as exc:
            raise Refused(Refusal.INVALID_SLIVER, str(exc)) from None
        return await self._keep(blob_id, registered, address, [(shard, axis, data)])

    async def accept_slivers(
        self, blob_id: BlobId, body: bytes, pending: bool, address: str
    ) -> SliversAccepted:
        """Store (or buffer) a batch of slivers (BCS `encode_sliver_batch`), all or nothing:
        every sliver must belong to a shard of this node and verify against the metadata,
        else nothing is kept and the refusal names the first bad one."""
        try:
            batch = decode_sliver_batch(body)
        except BcsError as exc:
            raise Refused(Refusal.INVALID_SLIVER, f"malformed sliver batch: {exc}") from None
        shards = []
        for pair, sliver in batch:
            shards.append(self._pair_shard(pair, blob_id))
            self._check_index(pair, sliver)
        metadata, registered = self._upload_metadata(blob_id, pending)
        slivers = [sliver for _, sliver in batch]
        size = sum(len(sliver.data) for sliver in slivers)
        valid = (
            verify_sliver_batch(slivers, metadata)
            if size <= INLINE_VERIFY_BYTES
            else await self.cpu(verify_sliver_batch, slivers, metadata)
        )
        for (pair, sliver), ok in zip(batch, valid, strict=True):
            if not ok:
                raise Refused(
                    Refusal.INVALID_SLIVER,
                    f"{sliver.axis.label} sliver of pair {pair} does not match the metadata",
                )
        uploads = [
            (shard, sliver.axis, sliver.to_bcs())
            for shard, sliver in zip(shards, slivers, strict=True)
        ]
        return await self._keep(blob_id, registered, address, uploads)

    def _check_index(self, pair: int, sliver: Sliver) -> None:
        if sliver.index != self.config.sliver_index(sliver.axis, SliverPairIndex(pair)):
            raise Refused(
                Refusal.SLIVER_INDEX_MISMATCH,
                f"{sliver.axis.label} sliver {sliver.index} does not belong to pair {pair}",
            )

    def _upload_metadata(self, blob_id: BlobId, pending: bool) -> tuple[BlobMetadata, bool]:
        """The metadata to check uploaded slivers against, and whether the blob is registered."""
        registered = self.is_registered(blob_id)
        if not registered and not pending:
            raise Refused(Refusal.NOT_REGISTERED, f"blob {blob_id} is not registered")
        metadata = self.stored_metadata(blob_id)
        if metadata is None:  # buffered (or just being stored after the registration came)
            entry = self.pending.get(blob_id)
            metadata = BlobMetadata.from_bcs(entry.metadata) if entry and entry.metadata else None
        if metadata is None:
            raise Refused(Refusal.NO_METADATA, f"upload the metadata of blob {blob_id} first")
        return metadata, registered

    @contextlib.contextmanager
    def _pending_room(self) -> Iterator[None]:
        """A full pending buffer refuses for this address's share or for the node's."""
        try:
            yield
        except PendingFull as exc:
            self.metrics.refused.labels(f"pending per {exc.limit}").inc()
            refusal = (
                Refusal.ADDRESS_PENDING_FULL
                if exc.limit == "address"
                else Refusal.NODE_PENDING_FULL
            )
            raise Refused(refusal, str(exc)) from None

    async def _keep(
        self,
        blob_id: BlobId,
        registered: bool,
        address: str,
        uploads: list[tuple[int, SliverType, bytes]],
    ) -> SliversAccepted:
        """Buffer (blob not yet registered) or store verified slivers: (shard, axis, BCS)."""
        # The registration may have arrived (and the pending buffer been flushed) while the
        # slivers were being verified: look again, with no await before buffering.
        if not (registered or self.is_registered(blob_id)):
            with self._pending_room():
                self.pending.add_slivers(blob_id, address, uploads)
            return SliversAccepted(Accepted.BUFFERED, len(uploads), 0)
        new = [
            (shard, axis, data)
            for shard, axis, data in uploads
            if not self.store.has_sliver(blob_id, shard, axis)
        ]
        if not new:
            return SliversAccepted(Accepted.ALREADY_STORED, len(uploads), 0)
        if not await self.store_blob_data(blob_id, None, new):
            raise Refused(Refusal.NOT_REGISTERED, f"blob {blob_id} is no longer registered")
        for _, axis, _ in new:
            self.metrics.stored.labels(axis.label).inc()
        return SliversAccepted(Accepted.STORED, len(uploads), len(new))

    def served_sliver(self, blob_id: BlobId, pair: int, axis: SliverType) -> bytes:
        """A stored sliver (BCS) of a registered blob, from a shard this node serves reads of."""
        shard = self._pair_shard(pair, blob_id, reading=True)
        self._check_served(blob_id, Refusal.SLIVER_NOT_SERVED)
        try:
            data = self._sliver_for_reader(blob_id, shard, axis)
        except CorruptSliverError:
            raise Refused(
                Refusal.SLIVER_CORRUPTED,
                f"the stored {axis.label} sliver of blob {blob_id} failed its check; it is "
                "being rebuilt",
            ) from None
        if data is None:
            raise Refused(
                Refusal.SLIVER_NOT_SERVED, f"{axis.label} sliver of blob {blob_id} is not stored"
            )
        return data

    def served_slivers(
        self, blob_id: BlobId, axis: SliverType, pairs: Sequence[int]
    ) -> list[tuple[int, bytes]]:
        """(pair, BCS) of those of the asked slivers of `axis` this node serves (a corrupt one
        counts as absent: it is being rebuilt); refused if it serves none of them."""
        pairs = list(dict.fromkeys(pairs))
        if not 0 < len(pairs) <= self.n_shards:
            raise Refused(Refusal.NO_SLIVERS_SPECIFIED, f"ask for 1 to {self.n_shards} pairs")
        for pair in pairs:
            if not 0 <= pair < self.n_shards:
                raise Refused(Refusal.PAIR_OUT_OF_RANGE, f"sliver pair index {pair} out of range")
        self._check_served(blob_id, Refusal.SLIVER_NOT_SERVED)
        found = []
        for pair in pairs:
            shard = self.shard_for_pair(pair, blob_id)
            if not self.serves_reads(shard):
                continue
            with contextlib.suppress(CorruptSliverError):
                data = self._sliver_for_reader(blob_id, shard, axis)
                if data is not None:
                    found.append((pair, data))
        if not found:
            raise Refused(
                Refusal.SLIVER_NOT_SERVED, f"none of those slivers of {blob_id} is stored"
            )
        return found

    def _sliver_for_reader(self, blob_id: BlobId, shard: int, axis: SliverType) -> bytes | None:
        """A stored sliver (BCS) as served to readers, of a shard the node serves reads of;
        `CorruptSliverError` if it fails its check (it is dropped and rebuilt)."""
        data = self.read_sliver(blob_id, shard, axis)
        if data is None:
            return None
        if shard not in self.shards:
            self.metrics.read_only_served.inc()
        return self.faults.served_sliver(data)

    def sliver_held(self, blob_id: BlobId, pair: int, axis: SliverType) -> Held:
        shard = self._pair_shard(pair, blob_id, reading=True)
        return Held.STORED if self.store.has_sliver(blob_id, shard, axis) else Held.NONEXISTENT

    async def confirm(
        self, blob_id: BlobId, object_id: ObjectId | None, wait_ms: int | None
    ) -> SignedMessage:
        """A signed storage confirmation of the blob's permanent registration (`object_id`
        None) or of its deletable blob object `object_id`, once this node holds both slivers
        of every shard it owns. With `wait_ms`, wait that long at most (and at most
        `confirmation_wait_ms`) for the registration to arrive."""
        registered = (
            await self.wait_registered(blob_id, wait_ms)
            if wait_ms is not None
            else self.is_registered(blob_id)
        )
        info = self.info(blob_id)
        if not registered:
            raise Refused(Refusal.NOT_REGISTERED, f"blob {blob_id} is not registered")
        if object_id is not None and not blob_info.has_deletable_object(
            info, self.epoch, object_id
        ):
            raise Refused(
                Refusal.NOT_REGISTERED, f"blob {blob_id} has no deletable object {object_id}"
            )
        if object_id is None and not blob_info.has_permanent(info, self.epoch):
            raise Refused(Refusal.NOT_REGISTERED, f"blob {blob_id} has no permanent registration")
        if not self.shards:
            raise Refused(
                Refusal.NOT_IN_COMMITTEE, "this node holds no shards in the current epoch"
            )
        if not self.holds_all_slivers(blob_id):
            await self.flushed(blob_id)  # buffered slivers may be being stored right now
        if not self.holds_all_slivers(blob_id):
            raise Refused(Refusal.MISSING_SLIVERS, f"not all slivers of blob {blob_id} are stored")
        persistence = Deletable(bytes.fromhex(object_id[2:])) if object_id else PERMANENT
        message = StorageConfirmation(Epoch(self.epoch), blob_id, persistence)
        signed = SignedMessage.sign(self.protocol_key, message)
        if self.faults.bad_signatures:
            other = StorageConfirmation(Epoch(self.epoch + 1), blob_id, persistence)
            signed = SignedMessage(message.to_bytes(), self.protocol_key.sign(other.to_bytes()))
        self.metrics.signed.inc()
        return signed

    async def attest_invalid(
        self, blob_id: BlobId, axis: SliverType, body: BodyReader
    ) -> SignedMessage:
        """A signed `InvalidBlobIdMsg` for an inconsistency proof (BCS, of a sliver of
        `axis`) that verifies against the stored metadata of the registered blob. As upstream,
        the metadata of a blob no longer registered (invalid already, expired, deleted) counts
        as missing."""
        metadata = self.stored_metadata(blob_id) if self.is_registered(blob_id) else None
        if metadata is None:
            raise Refused(Refusal.NO_METADATA, f"no metadata stored for blob {blob_id}")
        try:
            proof = InconsistencyProof.from_bcs(await body(), axis)
            await self.cpu(proof.verify, metadata)
        except (BcsError, VerificationError, WalrusError) as exc:
            raise Refused(Refusal.INVALID_PROOF, f"inconsistency proof rejected: {exc}") from None
        return SignedMessage.sign(self.protocol_key, InvalidBlobIdMsg(Epoch(self.epoch), blob_id))

    def _held_slivers(self, blob_id: BlobId, axis: SliverType) -> dict[int, Sliver]:
        """Sliver index → the slivers of `axis` this node stores for the blob."""
        out = {}
        for shard, _pair in self.pairs_held(blob_id):
            data = self.readable_sliver(blob_id, shard, axis)
            if data is not None:
                sliver = Sliver.from_bcs(data, axis)
                out[int(sliver.index)] = sliver
        return out

    def _symbol_index(self, index: int, what: str) -> int:
        if not 0 <= index < self.n_shards:
            raise Refused(Refusal.SYMBOL_OUT_OF_RANGE, f"{what} {index} out of range")
        return index

    async def recovery_symbols(
        self, blob_id: BlobId, target: int, target_axis: SliverType
    ) -> list[GeneralRecoverySymbol]:
        """Symbols with proofs for target sliver `target` of `target_axis`, one from every
        sliver of the other axis this node holds."""
        self._check_served(blob_id, Refusal.SLIVER_NOT_SERVED)
        self._symbol_index(target, "target sliver")
        slivers = list(self._held_slivers(blob_id, target_axis.orthogonal).values())
        if not slivers:
            raise Refused(Refusal.NO_SOURCE_SLIVERS, "no source slivers stored for this blob")
        config = self.config

        def build() -> list[GeneralRecoverySymbol]:
            return [
                s
                for sliver in slivers
                for s in recovery_symbols_from_sliver(sliver, [target], config)
            ]

        symbols: list[GeneralRecoverySymbol] = await self.cpu(build)
        return symbols

    async def recovery_symbols_at(
        self, blob_id: BlobId, ids: Sequence[tuple[int, int]], proof_axis: SliverType
    ) -> list[GeneralRecoverySymbol]:
        """The symbols at intersections (primary, secondary) with their proof, from a held
        sliver of `proof_axis` where there is one, else of the other axis."""
        self._check_served(blob_id, Refusal.SLIVER_NOT_SERVED)
        held = {axis: self._held_slivers(blob_id, axis) for axis in SliverType}
        wanted: list[tuple[SliverType, int, int]] = []  # (source axis, source, target)
        for primary, secondary in ids:
            self._symbol_index(primary, "primary sliver")
            self._symbol_index(secondary, "secondary sliver")
            options = {
                SliverType.PRIMARY: (primary, secondary),
                SliverType.SECONDARY: (secondary, primary),
            }
            for axis in (proof_axis, proof_axis.orthogonal):
                source, target = options[axis]
                if source in held[axis]:
                    wanted.append((axis, source, target))
                    break
            else:
                raise Refused(
                    Refusal.SYMBOL_NOT_HELD,
                    f"symbol {primary}-{secondary} is on no sliver held here",
                )
        config = self.config

        def build() -> list[GeneralRecoverySymbol]:
            return [
                recovery_symbols_from_sliver(held[axis][source], [target], config)[0]
                for axis, source, target in wanted
            ]

        symbols: list[GeneralRecoverySymbol] = await self.cpu(build)
        return symbols

    async def decoding_symbols(
        self, blob_id: BlobId, targets: Sequence[int], target_axis: SliverType
    ) -> dict[int, list[DecodingSymbol]]:
        """Symbols without proofs for several target slivers of `target_axis`, by target."""
        self._check_served(blob_id, Refusal.SLIVER_NOT_SERVED)
        wanted = sorted({self._symbol_index(t, "target sliver") for t in targets})
        if not wanted:
            raise Refused(Refusal.NO_TARGET_SLIVERS, "give targetSlivers=<index> (repeatable)")
        slivers = list(self._held_slivers(blob_id, target_axis.orthogonal).values())
        config = self.config

        def build() -> dict[int, list[DecodingSymbol]]:
            by_target: dict[int, list[DecodingSymbol]] = {t: [] for t in wanted}
            for sliver in slivers:
                for symbol in recovery_symbols_from_sliver(sliver, wanted, config):
                    by_target[symbol.target_index].append(symbol.symbol)
            return by_target

        by_target: dict[int, list[DecodingSymbol]] = await self.cpu(build)
        return by_target

    def blob_status(self, blob_id: BlobId) -> Any:
        """The blob's status as this node knows it (`blob_info.status_json`)."""
        return blob_info.status_json(self.info(blob_id), self.epoch)

    def health(self, detailed: bool) -> dict[str, Any]:
        """The node's health (upstream's `ServiceHealthInfo`); refused (`NOT_HEALTHY`) while its
        event follower is down or behind the chain: such a node does not know the latest
        registrations and epoch changes."""
        problem = self.health_problem()
        if problem is not None:
            raise Refused(Refusal.NOT_HEALTHY, f"node {self.name}: {problem}")
        answer = {
            "uptime": {"secs": int(time.monotonic() - self.started), "nanos": 0},
            "epoch": self.epoch,
            "publicKey": base64.b64encode(self.protocol_key.public_key().to_bytes()).decode(),
            "nodeStatus": "Active" if self.shards else "Standby",
            "eventProgress": {
                "persisted": self.highest_event + 1,
                "pending": 0,
                "highestFinishedEventIndex": self.highest_event,
            },
            "shardSummary": shard_state.summary(self.shards, self.shard_states),
            "nodeId": self.node_id,
            "name": self.name,
        }
        if detailed:
            answer["shardDetail"] = shard_state.detail(self.shards, self.shard_states)
        return answer

    # Storage challenges (issue 12): the node's answers to challenges go here, beside the
    # other requests, and its challenge task is started with the others in `service`.

    # Lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the committee and shard records, then start the supervised event follower."""
        await self.refresh_committee()
        await self.update_shard_states()
        # Shards kept without a record are ready; write it, so that losing one later is seen
        # (a store from before shard records existed has none at all).
        cursor = self.store.event_cursor()
        if self.store.get_scalar("event_epoch") is None and cursor >= 0:
            # A store from before the epoch of events was kept: find the last epoch start it
            # has applied.
            starts = await self.chain.query_events(types=["EpochChangeStart"])
            applied = [int(e.fields["epoch"]) for e in starts if e.seq <= cursor]
            if applied:
                await self.write(self.store.put_scalar, "event_epoch", str(max(applied)))
                self.event_epoch = max(applied)
        unrecorded = {
            s: ShardState(READY, self.epoch) for s in self.shards if s not in self.shard_states
        }
        if unrecorded:
            records = {s: st.to_json() for s, st in unrecorded.items()}
            await self.write(self.store.put_shard_states, records)
            self.shard_states.update(unrecorded)
        self.supervisor.spawn(FOLLOWER, self.follow_events)

    async def stop(self) -> None:
        self._stopping.set()
        self._event_epoch_changed.set()
        await self.supervisor.stop()
        self._cpu.shutdown(wait=False)
        self._writer.shutdown(wait=True)


def _shard_map(committee: dict[str, list[int]] | None) -> dict[str, list[int]]:
    """A committee's node ID → shards, as plain ints."""
    return {node: [int(s) for s in shards] for node, shards in (committee or {}).items()}

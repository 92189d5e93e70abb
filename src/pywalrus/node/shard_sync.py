"""Shard sync: a node that gains shards at an epoch change fills them (protocol page §8.5).

For every owned shard that is `inTransfer` or `inRecovery` (`shard_state`):

1. wait until the event follower has applied the epoch change, so the node's blob infos list
   every blob certified before it;
2. make sure the metadata of every certified, unexpired blob is stored (fetched from peers and
   verified against the blob ID where missing);
3. `inTransfer`: pull the shard's primary, then secondary slivers from its previous owner with
   `POST /v1/migrate/sync_shard`, a page at a time in blob-ID order, asking from the next blob
   the node expects; every sliver is checked (a blob we expect, the right axis and index, the
   metadata's hash) before it is stored, and each page is stored together with the progress
   (the last blob ID covered), so a restart resumes after it. If the previous owner cannot be
   reached, the shard goes `inRecovery`;
4. rebuild every sliver still missing (the shard is `inRecovery`, or the previous owner lacked
   or lied about some) from recovery symbols, as blob sync does;
5. mark the shard `ready`; once all owned shards are ready the node reports `epoch_sync_done`.

Failures (a peer down, metadata not to be had yet) retry the whole pass with backoff; work
already stored is not redone. A pass reads the certified blobs once, from the store's index of
unexpired blobs, for all its shards; blobs certified during the pass that this node still lacks
wait in the sync queue, which blob sync takes up at the end of the pass.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

import aiohttp

from pywalrus.core.errors import InconsistentBlobError, NodeError, WalrusError
from pywalrus.core.messages import SyncShardRequest
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import BlobId, Epoch, ShardIndex, SliverType
from pywalrus.network.committee import CommitteeView, NodeMember, load_committee, url_of
from pywalrus.network.node_client import NodeClient
from pywalrus.node import blob_info
from pywalrus.node.blob_sync import BlobSync
from pywalrus.node.node import StorageNode
from pywalrus.node.shard_state import IN_RECOVERY, IN_TRANSFER, READY, SYNCING, ShardState
from pywalrus.node.tasks import Backoff

log = logging.getLogger("pywalrus.node.shards")
PAGE_SLIVERS: Final = 100
"""Slivers asked for per `sync_shard` request."""
REQUEST_ATTEMPTS: Final = 5
"""Tries of one page (0.1 s backoff, doubling) before the previous owner counts as gone."""
LAGGING_ATTEMPTS: Final = 8
"""Tries (about 25 s) while the previous owner is still in the epoch before."""
CONCURRENCY: Final = 4
"""Shards synced, and blobs recovered per shard, at once."""
SHARD_SYNC: Final = "shard sync"


class SourceUnavailable(WalrusError):
    """A shard's previous owner cannot be reached (or keeps refusing): recover instead."""


class ShardSyncSuperseded(WalrusError):
    """The shard was lost again, or its record replaced, while it was being synced."""


class ShardSync:
    """Fills the shards a node gained; one pass at a time, rerun when asked during a pass."""

    def __init__(self, node: StorageNode, blob_sync: BlobSync, page: int = PAGE_SLIVERS) -> None:
        self.node = node
        self.blob_sync = blob_sync
        self.page = page
        self._again = False
        self.transferred = 0
        """Slivers stored from previous owners' `sync_shard` answers."""
        self.recovered = 0
        """Slivers rebuilt from recovery symbols."""
        self.rejected = 0
        """Slivers from previous owners that failed the checks."""
        self._certified: list[tuple[BlobId, blob_info.BlobInfo]] = []
        """The certified, unexpired blobs (with their info) in blob-ID order, as the current
        pass read them."""

    def schedule(self) -> None:
        """Start a pass (a supervised task), or have the running one go again when it ends."""
        if self.node.supervisor.running(SHARD_SYNC):
            self._again = True
        else:
            self.node.supervisor.spawn(SHARD_SYNC, self._run)

    def stats(self) -> dict[str, int]:
        """Slivers transferred, recovered and rejected so far (for `/metrics`)."""
        return {
            "transferred": self.transferred,
            "recovered": self.recovered,
            "rejected": self.rejected,
        }

    def _count(self, kind: str, slivers: int, size: int) -> None:
        metrics = self.node.metrics
        metrics.recovery_slivers.labels(SHARD_SYNC, kind).inc(slivers)
        metrics.recovery_bytes.labels(SHARD_SYNC, kind).inc(size)

    async def _run(self) -> None:
        backoff = Backoff()
        metrics = self.node.metrics
        while True:
            self._again = False
            started = time.monotonic()
            try:
                await self.sync_all()
            except (WalrusError, aiohttp.ClientError, OSError) as exc:
                metrics.recovery_failures.labels(SHARD_SYNC).inc()
                pause = backoff.next()
                log.warning(
                    "node %s: shard sync failed, retrying in %.1f s: %s", self.node.name, pause, exc
                )
                await asyncio.sleep(pause)
                continue
            finally:
                metrics.recovery_seconds.labels(SHARD_SYNC).inc(time.monotonic() - started)
            if not self._again:
                return

    def _pending(self) -> dict[int, ShardState]:
        node = self.node
        return {
            s: st
            for s, st in node.shard_states.items()
            if s in node.shards and st.status in SYNCING
        }

    async def sync_all(self) -> None:
        """One pass over every owned shard still syncing, then report sync if all are ready."""
        node = self.node
        pending = self._pending()
        if pending:
            await node.wait_event_epoch(max(st.epoch for st in pending.values()))
            self._certified = node.certified_infos()
            committee = await load_committee(node.chain, with_previous=True)
            peers = committee.peers(node.node_id)
            timeout = aiohttp.ClientTimeout(total=120)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                await self._sync_metadata(session, committee)
                limit = asyncio.Semaphore(CONCURRENCY)

                async def one(shard: int) -> None:
                    async with limit:
                        try:
                            await self.sync_shard(session, committee, peers, shard)
                        except ShardSyncSuperseded as exc:
                            log.info("node %s: %s", node.name, exc)

                results = await asyncio.gather(
                    *(one(s) for s in sorted(pending)), return_exceptions=True
                )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            # Blobs certified during the sync that this node still lacks are in the sync queue;
            # any sliver still missing now belongs to a ready shard, which blob sync completes.
            await node.resume_blob_syncs()
        node.request_sync_report()

    async def _sync_metadata(
        self, session: aiohttp.ClientSession, committee: CommitteeView
    ) -> None:
        """Store the metadata of every certified, unexpired blob (fetched where missing)."""
        node = self.node
        missing = [b for b, _ in self._certified if not node.store.has_metadata(b)]
        if missing:
            log.info("node %s: fetching metadata of %d blobs", node.name, len(missing))
        await _bounded(
            [self.blob_sync.metadata(session, committee, blob_id) for blob_id in missing]
        )

    async def sync_shard(
        self,
        session: aiohttp.ClientSession,
        committee: CommitteeView,
        peers: list[NodeMember],
        shard: int,
    ) -> None:
        """Transfer (if the previous owner answers), recover the rest, mark the shard ready."""
        node = self.node
        state = node.shard_states[shard]
        if state.status == IN_TRANSFER:
            try:
                source = await self._source(committee, state.source)
                for axis in SliverType:
                    state = await self._transfer(session, source, shard, axis, state)
            except SourceUnavailable as exc:
                log.warning("node %s: shard %d: %s; recovering it", node.name, shard, exc)
                self._check_still_syncing(shard)
                state = replace(state, status=IN_RECOVERY)
                await node.set_shard_state(shard, state)
        await self._recover_missing(session, committee, peers, shard)
        self._check_still_syncing(shard)
        await node.set_shard_state(shard, replace(state, status=READY))
        log.info("node %s: shard %d is ready", node.name, shard)

    async def _source(self, committee: CommitteeView, node_id: str | None) -> str:
        """URL of the shard's previous owner (from the committees, or its pool on chain)."""
        if node_id is None:
            raise SourceUnavailable("the shard's previous owner is unknown")
        for member in committee.peers(self.node.node_id):
            if member.node_id == node_id:
                return member.url
        pool = await self.node.chain.get_object(node_id)
        if pool is None:
            raise SourceUnavailable(f"the shard's previous owner {node_id} has no pool")
        return url_of(pool.fields["network_address"])

    async def _transfer(
        self,
        session: aiohttp.ClientSession,
        source_url: str,
        shard: int,
        axis: SliverType,
        state: ShardState,
    ) -> ShardState:
        """Pull one axis of a shard page by page; returns the state with its progress."""
        node = self.node
        source = NodeClient(source_url, session)
        last = state.progress.get(axis.label)
        remaining = [
            b
            for b, info in self._certified
            if (last is None or b.value.hex() > last)
            and blob_info.certified_before(info, node.epoch, state.epoch)
        ]
        while remaining:
            request = SyncShardRequest(
                ShardIndex(shard), axis, remaining[0], self.page, Epoch(node.epoch)
            )
            response = await self._request(source, request)
            if not response:
                break
            wanted = set(remaining)
            candidates = [
                (blob_id, sliver, metadata)
                for blob_id, sliver in response
                if blob_id in wanted
                and self._fits(shard, axis, blob_id, sliver)
                and (metadata := node.stored_metadata(blob_id)) is not None
            ]
            good = await node.cpu(_verified, candidates)
            self.rejected += len(response) - len(good)
            answered = [blob_id.value.hex() for blob_id, _ in response if blob_id in wanted]
            if not answered:
                break  # nothing asked for: leave the rest to recovery
            highest = max(answered)  # only IDs asked for: a peer cannot skip past the rest
            state = state.with_progress(axis, highest)
            self._check_still_syncing(shard)
            # Checked with no await before the write is queued (see `store_blob_data`).
            good = [(blob_id, data) for blob_id, data in good if node.is_registered(blob_id)]
            await node.write(node.store.put_shard_page, shard, axis, good, state.to_json())
            self.transferred += len(good)
            self._count("transferred", len(good), sum(len(data) for _, data in good))
            node.shard_states[shard] = state
            if node.faults.crash_after_sync_page:
                os._exit(1)  # test-only: a crash right after a page is stored
            left = [b for b in remaining if b.value.hex() > highest]
            if len(left) == len(remaining):
                break  # the answer did not move forward: leave the rest to recovery
            remaining = left
        return state

    async def _request(
        self, source: NodeClient, request: SyncShardRequest
    ) -> list[tuple[BlobId, Sliver]]:
        """One page from the previous owner, retried with backoff; a previous owner that has
        not applied the epoch change yet (`INVALID_EPOCH`) is given longer."""
        delay, attempt = 0.1, 0
        while True:
            try:
                answer = await source.sync_shard(self.node.protocol_key, request, request.epoch)
                return list(answer.slivers)
            except NodeError as exc:
                attempt += 1
                patience = LAGGING_ATTEMPTS if exc.reason == "INVALID_EPOCH" else REQUEST_ATTEMPTS
                if attempt >= patience:
                    raise SourceUnavailable(
                        f"previous owner {source.url} does not serve the shard: {exc}"
                    ) from None
            await asyncio.sleep(delay)
            delay *= 2

    def _fits(self, shard: int, axis: SliverType, blob_id: BlobId, sliver: Sliver) -> bool:
        config = self.node.config
        pair = config.pair_for_shard(ShardIndex(shard), blob_id)
        return sliver.axis is axis and sliver.index == config.sliver_index(axis, pair)

    def _check_still_syncing(self, shard: int) -> None:
        """Stop working on a shard that another epoch change took away meanwhile."""
        state = self.node.shard_states.get(shard)
        if shard not in self.node.shards or state is None or state.status not in SYNCING:
            raise ShardSyncSuperseded(f"shard {shard} is no longer being synced here")

    async def _recover_missing(
        self,
        session: aiohttp.ClientSession,
        committee: CommitteeView,
        peers: list[NodeMember],
        shard: int,
    ) -> None:
        """Rebuild from recovery symbols every sliver of the shard still missing: all
        secondary slivers first (they need fewer symbols, and then add this node's own
        towards the primary ones), each phase trying every sliver before failing."""
        node = self.node
        work = {
            axis: [b for b, _ in self._certified if not node.store.has_sliver(b, shard, axis)]
            for axis in (SliverType.SECONDARY, SliverType.PRIMARY)
        }
        total = sum(len(blobs) for blobs in work.values())
        if not total:
            return
        log.info("node %s: shard %d: recovering %d slivers", node.name, shard, total)

        async def recover(blob_id: BlobId, axis: SliverType) -> None:
            metadata: BlobMetadata = await self.blob_sync.metadata(session, committee, blob_id)
            try:
                size = await self.blob_sync.recover_into(
                    session, peers, blob_id, metadata, shard, axis
                )
            except InconsistentBlobError as exc:
                # An inconsistently encoded blob has no sliver to hold: do not wait for it.
                log.warning("node %s: shard %d: blob %s: %s", node.name, shard, blob_id, exc)
                return
            if size is None:
                return  # no longer registered
            self.recovered += 1
            self._count("recovered", 1, size)

        failure: BaseException | None = None
        for axis, blobs in work.items():
            try:
                await _bounded([recover(blob_id, axis) for blob_id in blobs])
            except (WalrusError, aiohttp.ClientError, OSError) as exc:
                failure = failure or exc
        if failure is not None:
            raise failure


async def _bounded(jobs: Sequence[Any]) -> None:
    """Run coroutines `CONCURRENCY` at a time; raise the first failure after all have run."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def run(job: Any) -> None:
        async with limit:
            await job

    results = await asyncio.gather(*(run(job) for job in jobs), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _verified(candidates: list[tuple[BlobId, Sliver, BlobMetadata]]) -> list[tuple[BlobId, bytes]]:
    """The slivers that match their blob's metadata, as BCS (runs off the event loop)."""
    good = []
    for blob_id, sliver, metadata in candidates:
        try:
            sliver.verify(metadata)
        except WalrusError:
            continue
        good.append((blob_id, sliver.to_bcs()))
    return good

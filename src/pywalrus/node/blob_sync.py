"""Blob sync: a node recovers the slivers it missed of a certified blob (protocol page §8.4).

When a blob is certified and this node lacks slivers of its shards (it was down, or the writer
stopped early), it fetches the metadata from other nodes as the SDK's reader does
(`fetch_verified_metadata`: checked against the blob ID), then rebuilds each missing sliver
from recovery symbols of the other axis: n − 2f symbols for a secondary sliver, n − f for a
primary one. Every symbol's proof is checked before use; a
sliver that decodes to something the metadata disowns proves the blob inconsistent: the node
then has the committee attest it and invalidates the blob on chain (`node/invalidation.py`).

Blobs certified while the node lacked slivers of them wait in the store's sync queue until
blob sync finds them complete here, so that a restarted node resumes exactly those.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence

import aiohttp

from pywalrus.core.errors import InconsistentSliverError, NotEnoughSymbolsError, WalrusError
from pywalrus.core.inconsistency import recover_sliver
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver
from pywalrus.core.symbols import (
    RecoverySymbol,
    decode_recovery_symbols,
    recovery_symbols_from_sliver,
)
from pywalrus.core.types import BlobId, ShardIndex, SliverType
from pywalrus.network.committee import CommitteeView, NodeMember, load_committee
from pywalrus.network.fetch import fetch_verified_metadata
from pywalrus.network.node_client import NodeClient
from pywalrus.node.invalidation import invalidate_blob
from pywalrus.node.node import StorageNode

log = logging.getLogger("pywalrus.node.sync")
LIVE_UPLOAD_GRACE_S = 1.0
"""Give a writer that is still uploading a moment before recovering in its place."""
RETRY_MAX_S = 30.0
"""Longest pause between attempts to sync a blob that could not be recovered yet."""


class BlobSync:
    """Recovers missing slivers of certified blobs, one supervised task per blob."""

    def __init__(self, node: StorageNode) -> None:
        self.node = node
        self._limit = asyncio.Semaphore(4)

    def schedule(self, blob_id: BlobId) -> None:
        name = f"blob sync {blob_id}"
        if not self.node.supervisor.running(name) and not self.node.holds_ready_slivers(blob_id):
            self.node.supervisor.spawn(name, lambda: self._run(blob_id), kind="blob sync")

    async def _run(self, blob_id: BlobId) -> None:
        """Sync a blob, and again after a failure (peers down, too few good symbols) with a
        growing pause, until the node holds it or it is no longer registered: a node left
        without its slivers would also starve others that later recover from it. A blob held
        in every owned shard leaves the sync queue (one with a shard still syncing stays, for
        shard sync to hand back once that shard is ready)."""
        await self._until_held(blob_id)
        node = self.node
        if node.holds_all_slivers(blob_id):
            await node.write(node.store.unqueue_sync, [blob_id])

    async def _until_held(self, blob_id: BlobId) -> None:
        delay = LIVE_UPLOAD_GRACE_S
        metrics = self.node.metrics
        while True:
            await asyncio.sleep(delay)
            async with self._limit:
                node = self.node
                if node.holds_ready_slivers(blob_id) or not node.is_registered(blob_id):
                    return
                started = time.monotonic()
                try:
                    await self.sync(blob_id)
                    return
                except (WalrusError, aiohttp.ClientError, OSError) as exc:
                    metrics.recovery_failures.labels("blob sync").inc()
                    delay = min(RETRY_MAX_S, 2 * delay)
                    log.warning(
                        "blob sync of %s failed, retrying in %.0f s: %s", blob_id, delay, exc
                    )
                finally:
                    metrics.recovery_seconds.labels("blob sync").inc(time.monotonic() - started)

    async def sync(self, blob_id: BlobId) -> int:
        """Recover every missing sliver of the node's ready shards (shards still syncing after
        an epoch change are shard sync's); returns how many were stored.

        All secondary slivers go first: each needs only n − 2f symbols, and once stored they
        are this node's own symbols towards its primary slivers (n − f), which may be more
        than its peers can give while some are down. A sliver that cannot be recovered yet
        does not stop the others; the sync then fails, to be retried, after trying them all.
        """
        node = self.node
        committee = await load_committee(node.chain)
        stored = 0
        failures: list[WalrusError] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            peers = committee.peers(node.node_id)
            metadata = await self.metadata(session, committee, blob_id)
            for axis in (SliverType.SECONDARY, SliverType.PRIMARY):
                for shard in node.ready_shards():
                    if node.store.has_sliver(blob_id, shard, axis):
                        continue
                    try:
                        size = await self.recover_into(
                            session, peers, blob_id, metadata, shard, axis
                        )
                    except InconsistentSliverError as exc:
                        proof = exc.proof
                        await invalidate_blob(node, session, committee, blob_id, metadata, proof)
                        return stored  # nothing of an invalid blob is worth storing
                    except WalrusError as exc:
                        failures.append(exc)
                        continue
                    if size is None:
                        return stored  # no longer registered: nothing more to store
                    node.metrics.recovery_slivers.labels("blob sync", "recovered").inc()
                    node.metrics.recovery_bytes.labels("blob sync", "recovered").inc(size)
                    stored += 1
        log.info("blob sync of %s stored %d slivers", blob_id, stored)
        if failures:
            raise WalrusError(
                f"{len(failures)} slivers of {blob_id} cannot be recovered yet: {failures[0]}"
            )
        return stored

    async def metadata(
        self, session: aiohttp.ClientSession, committee: CommitteeView, blob_id: BlobId
    ) -> BlobMetadata:
        """The blob's metadata: stored, or fetched from peers (`fetch_verified_metadata`) and
        stored."""
        node = self.node
        stored = node.stored_metadata(blob_id)
        if stored is not None:
            return stored
        metadata = await fetch_verified_metadata(
            committee,
            blob_id,
            lambda member: NodeClient(member.url, session),
            committee.peers(node.node_id),
        )
        if not node.store.has_metadata(blob_id):
            await node.store_blob_data(blob_id, metadata.to_bcs(), [])
        return node.remember_metadata(blob_id, metadata)

    async def recover_into(
        self,
        session: aiohttp.ClientSession,
        peers: Sequence[NodeMember],
        blob_id: BlobId,
        metadata: BlobMetadata,
        shard: int,
        axis: SliverType,
    ) -> int | None:
        """Rebuild one sliver of one of this node's shards and store it; returns its size, or
        None if the blob stopped being registered meanwhile (nothing is stored)."""
        node = self.node
        pair = node.config.pair_for_shard(ShardIndex(shard), blob_id)
        index = node.config.sliver_index(axis, pair)
        sliver = await self.recover(session, peers, blob_id, metadata, axis, index)
        data = sliver.to_bcs()
        if not await node.store_blob_data(blob_id, None, [(shard, axis, data)]):
            return None
        return len(data)

    async def recover(
        self,
        session: aiohttp.ClientSession,
        peers: Sequence[NodeMember],
        blob_id: BlobId,
        metadata: BlobMetadata,
        axis: SliverType,
        index: int,
    ) -> Sliver:
        """Gather verified recovery symbols until the target sliver decodes: first from this
        node's own slivers of the other axis, then from peers."""
        needed = self.node.config.sliver_length_in_symbols(axis)
        symbols: dict[int, RecoverySymbol] = {}

        async def decode(received: list[RecoverySymbol]) -> Sliver | None:
            for symbol in received:
                symbols.setdefault(symbol.symbol.index, symbol)
            if len(symbols) < needed:
                return None
            try:
                sliver: Sliver = await self.node.cpu(
                    recover_sliver, axis, index, list(symbols.values()), metadata
                )
                return sliver
            except NotEnoughSymbolsError:
                return None  # some symbols failed their proofs: ask more peers

        held = [shard for shard, _pair in self.node.pairs_held(blob_id)]
        sliver = await decode(await self.node.cpu(self._own_symbols, blob_id, held, axis, index))
        members = list(peers)
        random.shuffle(members)
        for member in members:
            if sliver is not None:
                return sliver
            try:
                body = await NodeClient(member.url, session).recovery_symbols(blob_id, index, axis)
                received = decode_recovery_symbols(body)
            except WalrusError:  # unreachable, refusing or malformed: ask the next peer
                continue
            sliver = await decode(
                [
                    s.recovery_symbol()
                    for s in received
                    if s.target_axis is axis and s.target_index == index
                ]
            )
        if sliver is not None:
            return sliver
        raise WalrusError(f"not enough recovery symbols for {axis.label} sliver {index}")

    def _own_symbols(
        self, blob_id: BlobId, shards: list[int], axis: SliverType, index: int
    ) -> list[RecoverySymbol]:
        """Recovery symbols for a target sliver from this node's slivers of the other axis in
        `shards` (runs off the event loop)."""
        node, source = self.node, axis.orthogonal
        out: list[RecoverySymbol] = []
        for shard in shards:
            data = node.readable_sliver(blob_id, shard, source)
            if data is not None:
                sliver = Sliver.from_bcs(data, source)
                symbols = recovery_symbols_from_sliver(sliver, [index], node.config)
                out.extend(s.recovery_symbol() for s in symbols)
        return out

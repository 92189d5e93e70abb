"""Blob sync: a node recovers the slivers it missed of a certified blob (protocol page §8.4).

When a blob is certified and this node lacks slivers of its shards (it was down, or the writer
stopped early), it fetches the metadata from other nodes (checked against the blob ID), then
rebuilds each missing sliver from recovery symbols of the other axis: n − 2f symbols for a
secondary sliver, n − f for a primary one. Every symbol's proof is checked before use; a
sliver that decodes to something the metadata disowns is left out (the blob is inconsistent).
"""

from __future__ import annotations

import asyncio
import logging
import random

import aiohttp

from pywalrus.client.committee import Committee, load_committee
from pywalrus.client.errors import NodeError
from pywalrus.client.node_client import NodeClient
from pywalrus.core.errors import NotEnoughSymbolsError, VerificationError, WalrusError
from pywalrus.core.inconsistency import recover_sliver
from pywalrus.core.metadata import BlobMetadata, verified_metadata
from pywalrus.core.slivers import Sliver
from pywalrus.core.symbols import RecoverySymbol, decode_recovery_symbols
from pywalrus.core.types import BlobId, ShardIndex, SliverType
from pywalrus.node.node import StorageNode

log = logging.getLogger("pywalrus.node.sync")
LIVE_UPLOAD_GRACE_S = 1.0
"""Give a writer that is still uploading a moment before recovering in its place."""


class BlobSync:
    """Recovers missing slivers of certified blobs, one blob at a time per call."""

    def __init__(self, node: StorageNode) -> None:
        self.node = node
        self._running: dict[BlobId, asyncio.Task[None]] = {}
        self._limit = asyncio.Semaphore(4)

    def schedule(self, blob_id: BlobId) -> None:
        if blob_id not in self._running and not self.node.holds_all_slivers(blob_id):
            self._running[blob_id] = asyncio.create_task(self._run(blob_id))

    async def _run(self, blob_id: BlobId) -> None:
        try:
            await asyncio.sleep(LIVE_UPLOAD_GRACE_S)
            async with self._limit:
                if self.node.holds_all_slivers(blob_id) or not self.node.is_registered(blob_id):
                    return
                await self.sync(blob_id)
        except (WalrusError, aiohttp.ClientError, OSError) as exc:
            log.warning("blob sync of %s failed: %s", blob_id, exc)
        finally:
            self._running.pop(blob_id, None)

    async def sync(self, blob_id: BlobId) -> int:
        """Recover every missing sliver of the node's shards; returns how many were stored."""
        node = self.node
        committee = await load_committee(node.chain)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            peers = [
                NodeClient(m.url, session) for m in committee.members if m.node_id != node.node_id
            ]
            metadata = node.stored_metadata(blob_id) or await self._fetch_metadata(peers, blob_id)
            if not node.store.has_metadata(blob_id):
                await node.write(node.store.put_metadata, blob_id, metadata.to_bcs())
                node.remember_metadata(blob_id, metadata)
            stored = 0
            for shard in sorted(node.shards):
                pair = node.config.pair_for_shard(ShardIndex(shard), blob_id)
                # Secondary first: it needs fewer symbols (n − 2f).
                for axis in (SliverType.SECONDARY, SliverType.PRIMARY):
                    if node.store.has_sliver(blob_id, shard, axis):
                        continue
                    index = node.config.sliver_index(axis, pair)
                    sliver = await self._recover(committee, session, blob_id, metadata, axis, index)
                    await node.write(node.store.put_sliver, blob_id, shard, axis, sliver.to_bcs())
                    stored += 1
        log.info("blob sync of %s stored %d slivers", blob_id, stored)
        return stored

    async def _fetch_metadata(self, peers: list[NodeClient], blob_id: BlobId) -> BlobMetadata:
        random.shuffle(peers)
        for peer in peers:
            try:
                data = await peer.get_metadata(blob_id)
                return verified_metadata(data, blob_id, self.node.config)
            except (NodeError, VerificationError):
                continue
        raise WalrusError(f"no peer served valid metadata for blob {blob_id}")

    async def _recover(
        self,
        committee: Committee,
        session: aiohttp.ClientSession,
        blob_id: BlobId,
        metadata: BlobMetadata,
        axis: SliverType,
        index: int,
    ) -> Sliver:
        """Gather verified recovery symbols from peers until the target sliver decodes."""
        needed = self.node.config.sliver_length_in_symbols(axis)
        symbols: dict[int, RecoverySymbol] = {}
        members = [m for m in committee.members if m.node_id != self.node.node_id]
        random.shuffle(members)
        for member in members:
            url = f"{member.url}/v1/blobs/{blob_id}/recoverySymbols"
            params = {"targetSliver": str(index), "targetType": axis.label}
            try:
                async with session.get(url, params=params) as response:
                    if response.status != 200:
                        continue
                    body = await response.read()
                received = decode_recovery_symbols(body)
            except (aiohttp.ClientError, TimeoutError, WalrusError):
                continue
            for symbol in received:
                if symbol.target_axis is not axis or symbol.target_index != index:
                    continue
                symbols.setdefault(symbol.symbol.index, symbol.recovery_symbol())
            if len(symbols) >= needed:
                try:
                    sliver: Sliver = await self.node.cpu(
                        recover_sliver, axis, index, list(symbols.values()), metadata
                    )
                    return sliver
                except NotEnoughSymbolsError:
                    continue  # some symbols failed their proofs: ask more peers
        raise WalrusError(f"not enough recovery symbols for {axis.label} sliver {index}")

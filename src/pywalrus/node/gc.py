"""The garbage collector: data of blobs that are no longer registered leaves the disk.

A blob's data (metadata and slivers) is garbage once no registration of it is live: all its
registrations expired (end epochs are exclusive), the last one was deleted, or its ID was marked
invalid (protocol page §8.6). The node refuses to serve such data from the moment it applies the
event (`server`), and asks the collector to run at each epoch start, after deletions and
invalidations, and at start-up (for what a crash left behind).

A run removes, at the node's current epoch, everything the store's `by_end_epoch` index lists
as garbage, in bounded steps (`BATCH_BLOBS` blobs or about `BATCH_SLIVERS` slivers per write
transaction), yielding between them so that uploads and reads keep flowing; it visits only the
garbage, never the data kept. A run asked for while one is going is done right after it.
Upstream waits a random delay (up to half an epoch) before removing data, so that nodes do not
all do heavy I/O at once; here a run starts at once, in bounded steps that yield to requests.
`/metrics` counts the blobs, slivers and bytes reclaimed, by why they were garbage.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from pywalrus.node.node import StorageNode

log = logging.getLogger("pywalrus.node.gc")
BATCH_BLOBS: Final = 100
"""Blobs removed per write transaction at most."""
BATCH_SLIVERS: Final = 2000
"""Slivers removed per write transaction, about (a blob is removed whole)."""
GC: Final = "garbage collection"


class GarbageCollector:
    """Removes the data of garbage blobs; one supervised run at a time."""

    def __init__(
        self, node: StorageNode, batch_blobs: int = BATCH_BLOBS, batch_slivers: int = BATCH_SLIVERS
    ) -> None:
        self.node = node
        self.batch_blobs = batch_blobs
        self.batch_slivers = batch_slivers
        self._again = False

    def schedule(self) -> None:
        """Start a run, or have the running one go again when it ends."""
        if self.node.faults.no_gc:
            return  # test-only: garbage stays on disk (and is not served)
        if self.node.supervisor.running(GC):
            self._again = True
        else:
            self.node.supervisor.spawn(GC, self._run)

    async def _run(self) -> None:
        while True:
            self._again = False
            await self.collect()
            if not self._again:
                return

    async def collect(self) -> int:
        """Remove everything that is garbage at the node's current epoch; returns how many
        blobs' data was removed."""
        node = self.node
        metrics = node.metrics
        epoch = node.epoch
        blobs = slivers = size = 0
        while True:
            page = await node.write(
                node.store.collect_garbage, epoch, self.batch_blobs, self.batch_slivers
            )
            for item in page.reclaimed:
                node.forget(item.blob_id)
                metrics.gc_blobs.labels(item.kind).inc()
                metrics.gc_slivers.labels(item.kind).inc(item.slivers)
                metrics.gc_bytes.labels(item.kind).inc(item.bytes)
                blobs += 1
                slivers += item.slivers
                size += item.bytes
            if page.done:
                break
            await asyncio.sleep(0)  # let requests in before the next step
        metrics.gc_runs.inc()
        metrics.gc_epoch.set(epoch)
        if blobs:
            log.info(
                "node %s: epoch %d: removed the data of %d blobs (%d slivers, %d bytes)",
                node.name,
                epoch,
                blobs,
                slivers,
                size,
            )
        return blobs

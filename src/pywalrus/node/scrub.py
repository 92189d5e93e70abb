"""The background scrub: every stored sliver is checked against its checksum, at a bounded
rate, once per scrub period.

Reads check slivers too, but data that nobody reads would rot unseen until the day it is
needed. The scrub walks the sliver table in key order, a step of about a tenth of a second's
worth of bytes at a time, pausing so as to read at most `bytes_per_s`; a pass starts once per
`interval_s`, the first one interval after start-up (a restarted node first serves; the nodes
of a network restarted together do not all scrub at once). A sliver that fails is dropped and
its blob handed to blob sync, which rebuilds it from the other nodes.
"""

from __future__ import annotations

import asyncio
import logging

from pywalrus.node.node import StorageNode

log = logging.getLogger("pywalrus.node.scrub")
STEPS_PER_S = 10
"""Steps per second at full rate (the pause between steps keeps the rate)."""
SCRUB = "scrub"


class Scrub:
    """The scrub of one node (a supervised task)."""

    def __init__(self, node: StorageNode, bytes_per_s: int, interval_s: float) -> None:
        self.node = node
        self.bytes_per_s = bytes_per_s
        self.interval_s = interval_s
        self.passes = 0
        """Complete passes so far."""

    def start(self) -> None:
        self.node.supervisor.spawn(SCRUB, self.run)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_pass = loop.time() + self.interval_s
        while True:
            await asyncio.sleep(max(0.0, next_pass - loop.time()))
            next_pass = loop.time() + self.interval_s
            await self.scrub_pass()
            self.passes += 1

    async def scrub_pass(self) -> int:
        """Check every stored sliver once; returns how many were found corrupt."""
        node = self.node
        step = max(1, self.bytes_per_s // STEPS_PER_S)
        after: bytes | None = None
        corrupt = 0
        while True:
            page = await node.cpu(node.store.scrub, after, step)
            node.metrics.scrubbed_bytes.inc(page.checked)
            for blob_id, shard, axis in page.corrupt:
                corrupt += 1
                await node.drop_corrupt(blob_id, shard, axis, SCRUB)
            if page.done:
                break
            after = page.last
            await asyncio.sleep(page.checked / self.bytes_per_s)
        if corrupt:
            log.warning("node %s: the scrub found %d corrupt slivers", node.name, corrupt)
        return corrupt

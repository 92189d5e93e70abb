"""Running a storage node: `walrus node --config node.yaml` as a process, or `start_node` for
one of several nodes in one event loop (an in-process test network).

The composition is here and only here: the `StorageNode` over its store and chain client, its
background work (blob sync, shard sync, garbage collection, the scrub), and its REST API on an
aiohttp site, with the connection limits installed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from pywalrus.chain.client import ChainClient
from pywalrus.chain.wallet import Wallet
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.node.blob_sync import BlobSync
from pywalrus.node.config import NodeConfig
from pywalrus.node.gc import GarbageCollector
from pywalrus.node.limits import ConnectionLimiter
from pywalrus.node.node import CHAIN_ERRORS, StorageNode
from pywalrus.node.scrub import Scrub
from pywalrus.node.server import NodeServer
from pywalrus.node.shard_sync import ShardSync
from pywalrus.node.storage import NodeStore
from pywalrus.node.tasks import retrying
from pywalrus.runtime import run_service, until_terminated

log = logging.getLogger("pywalrus.node")
LINGER_S = 2.0
"""After answering a request without reading its whole body (413, 429, 408), the node reads
and drops what still comes this long, so that a client still sending sees the answer, and
then closes the connection (aiohttp's default is 10 s)."""


@dataclass
class RunningNode:
    """A started node: its state and tasks, and the aiohttp runner serving its REST API."""

    node: StorageNode
    runner: web.AppRunner
    port: int
    """The port it listens on (the configured one, or the one chosen for port 0)."""

    async def stop(self) -> None:
        """Stop serving, then stop the node's tasks and close its chain client and store."""
        await self.runner.cleanup()
        await _close(self.node)


def build_node(config: NodeConfig) -> tuple[StorageNode, ShardSync]:
    """The node of `config`, wired to its background work (not started yet). Needs a running
    event loop."""
    key = BlsPrivateKey.from_base64(config.protocol_key_file.read_text().strip())
    operator = Wallet.load(config.wallet_file).active
    node = StorageNode(
        config.name,
        config.node_id,
        NodeStore(config.data_dir / "db", config.lmdb_map_size),
        ChainClient(config.chain_url),
        key,
        operator,
        config.max_pending_ms,
        config.confirmation_wait_ms,
        config.faults,
        limits=config.limits,
    )
    blob_sync = BlobSync(node)
    shard_sync = ShardSync(node, blob_sync)
    node.on_certified = blob_sync.schedule
    node.on_shards_gained = shard_sync.schedule
    node.on_garbage = GarbageCollector(node).schedule
    return node, shard_sync


async def start_node(config: NodeConfig) -> RunningNode:
    """Build the node of `config` and start it in the running event loop: wait for the chain,
    start its tasks, and serve its REST API on `config.host`/`config.port` (0: a free port,
    reported in `RunningNode.port`). Several nodes may run in one loop this way."""
    node, shard_sync = build_node(config)
    runner: web.AppRunner | None = None
    try:
        await retrying(
            f"node {config.name}: start (waiting for the chain)", node.start, CHAIN_ERRORS
        )
        Scrub(node, config.scrub_bytes_per_s, config.scrub_interval_ms / 1000).start()
        # Storage challenges (issue 12): the node's challenge task starts here, with the scrub.
        runner = web.AppRunner(  # after `start`: the body limit follows the committee's shards
            NodeServer(node, shard_sync.stats).app(),
            access_log=None,
            keepalive_timeout=config.limits.idle_timeout_s,
            lingering_time=LINGER_S,
        )
        await runner.setup()
        assert runner.server is not None
        ConnectionLimiter(
            config.limits, lambda limit: node.metrics.refused.labels(limit).inc()
        ).install(runner.server)
        await web.TCPSite(runner, config.host, config.port).start()
    except BaseException:
        if runner is not None:
            await runner.cleanup()
        await _close(node)
        raise
    running = RunningNode(node, runner, runner.addresses[0][1])
    log.info(
        "node %s (%d shards) listening on %s:%d",
        config.name,
        len(node.shards),
        config.host,
        running.port,
    )
    return running


async def _close(node: StorageNode) -> None:
    """Stop the node's tasks, then close its chain client and store."""
    await node.stop()
    await node.chain.close()
    node.store.close()


async def serve(config: NodeConfig) -> None:
    """Run the node of `config` until SIGINT or SIGTERM."""
    running = await start_node(config)
    await until_terminated()
    await running.stop()


def run(config_path: Path) -> None:
    run_service(serve(NodeConfig.load(config_path)))

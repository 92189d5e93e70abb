"""Running a storage node as a process: `walrus node --config node.yaml`."""

from __future__ import annotations

import logging
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


async def serve(config: NodeConfig) -> None:
    key = BlsPrivateKey.from_base64(config.protocol_key_file.read_text().strip())
    operator = Wallet.load(config.wallet_file).active
    store = NodeStore(config.data_dir / "db", config.lmdb_map_size)
    chain = ChainClient(config.chain_url)
    node = StorageNode(
        config.name,
        config.node_id,
        store,
        chain,
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
    await retrying(f"node {config.name}: start (waiting for the chain)", node.start, CHAIN_ERRORS)
    Scrub(node, config.scrub_bytes_per_s, config.scrub_interval_ms / 1000).start()
    runner = web.AppRunner(
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
    log.info(
        "node %s (%d shards) listening on %s:%d",
        config.name,
        len(node.shards),
        config.host,
        config.port,
    )
    await until_terminated()
    await runner.cleanup()
    await node.stop()
    await chain.close()
    store.close()


def run(config_path: Path) -> None:
    run_service(serve(NodeConfig.load(config_path)))

"""`InProcessNetwork`: a whole local network in the caller's event loop, for tests.

The chain (ledger and JSON-RPC server, on a manual clock) and `nodes` storage nodes run as
aiohttp sites on 127.0.0.1 ports in one process and one event loop, each built from the same
files a `walrus testbed` writes (genesis, keys, wallets, `node.yaml`, `client_config.yaml`),
so everything crosses real HTTP with real signatures; only the processes are saved. Nodes can
be stopped, started and restarted one by one (their data stays in their directories).

    async with InProcessNetwork(tmp_path, nodes=4, shards=10) as network:
        async with network.client() as client:
            ...
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from pywalrus.chain.client import ChainClient
from pywalrus.chain.schema import Staking
from pywalrus.chain.service import ChainConfig, RunningChain, start_chain
from pywalrus.client.client import WalrusClient
from pywalrus.client.config import ClientConfig
from pywalrus.core.errors import TestbedError
from pywalrus.core.types import Epoch
from pywalrus.network.committee import CommitteeView
from pywalrus.node.config import NodeConfig
from pywalrus.node.service import RunningNode, start_node
from pywalrus.testbed import local

EPOCH_DURATION_MS = 3_600_000
"""Epochs last an hour of chain time: they change only when a test advances the clock."""
HEALTHY_TIMEOUT_S = 60.0
"""Longest a node may take to catch up with the chain's events when it starts."""
EPOCH_CHANGE_TIMEOUT_S = 60.0
"""Longest an epoch change (shard transfers included) may take in `advance_epoch`."""


class InProcessNetwork:
    """A chain and `nodes` storage nodes over `shards` shards, in this event loop."""

    def __init__(self, directory: Path, nodes: int = 4, shards: int = 10) -> None:
        self.dir = directory
        self.n_nodes = nodes
        self.n_shards = shards
        self.chain: RunningChain | None = None
        self.nodes: dict[str, RunningNode] = {}
        """The running nodes by name (`node-0`, …)."""

    # Lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Write the network's files (first time only), start the chain, look up the nodes'
        IDs on it, and start every node."""
        if not (self.dir / local.STATE).exists():
            local.create(
                self.dir,
                self.n_nodes,
                self.n_shards,
                EPOCH_DURATION_MS,
                manual_clock=True,
                daemon=False,
            )
        members = local.load_members(self.dir)
        if self.chain is None:
            chain_config = ChainConfig.load(self.dir / members[0].config)
            self.chain = await start_chain(chain_config, precheck_workers=0)
        await local.fill_node_ids(self.dir, members)
        await self.up()

    async def stop(self) -> None:
        """Stop every node, then the chain."""
        for name in list(self.nodes):
            await self.stop_node(name)
        if self.chain is not None:
            await self.chain.stop()
            self.chain = None

    async def __aenter__(self) -> InProcessNetwork:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # Nodes -------------------------------------------------------------------------------------

    def node_names(self) -> list[str]:
        """Every node's name, in the order of the genesis."""
        return [m.name for m in local.load_members(self.dir) if m.role == "node"]

    def node_config_path(self, name: str) -> Path:
        return self.dir / "nodes" / name / "node.yaml"

    async def start_node(self, name: str) -> RunningNode:
        """Start node `name` (if it is not running) from its `node.yaml`, on its port, and
        wait until it is healthy (its event follower caught up with the chain), as
        `walrus testbed up` waits for `/v1/health`."""
        if name in self.nodes:
            return self.nodes[name]
        if name not in self.node_names():
            raise TestbedError(f"no node {name!r} in this network")
        running = await start_node(NodeConfig.load(self.node_config_path(name)))
        self.nodes[name] = running
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        while (problem := running.node.health_problem()) is not None:
            if time.monotonic() > deadline:
                raise TestbedError(f"node {name} is not healthy: {problem}")
            await asyncio.sleep(0.02)
        return running

    async def stop_node(self, name: str) -> None:
        """Stop node `name` as `walrus node` does on SIGTERM (its data stays)."""
        running = self.nodes.pop(name, None)
        if running is not None:
            await running.stop()

    async def up(self) -> None:
        """Start every node that is not running (as `walrus testbed up` does)."""
        for name in self.node_names():
            await self.start_node(name)

    async def restart_node(self, name: str) -> RunningNode:
        await self.stop_node(name)
        return await self.start_node(name)

    def set_config(self, name: str, **values: Any) -> None:
        """Change keys of node `name`'s `node.yaml` (None removes a key); they take effect
        when it is next started."""
        path = self.node_config_path(name)
        config = yaml.safe_load(path.read_text())
        for key, value in values.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        path.write_text(yaml.safe_dump(config, sort_keys=False))

    # Clients and the chain ---------------------------------------------------------------------

    @property
    def client_config(self) -> ClientConfig:
        """The configuration of the network's funded client (`client_config.yaml`)."""
        return ClientConfig.load(self.dir / "client_config.yaml")

    def client(self) -> WalrusClient:
        """A client of the network with the funded wallet (use as `async with`)."""
        return WalrusClient(self.client_config)

    async def committee(self) -> CommitteeView:
        """The current committee, as a client sees it."""
        async with self.client() as client:
            return await client.committee()

    def chain_client(self) -> ChainClient:
        return ChainClient(self.client_config.chain_url)

    async def staking(self) -> Staking:
        async with self.chain_client() as chain:
            return Staking.from_object(await chain.singleton(Staking.TYPE))

    async def advance_half_epoch(self) -> None:
        """Move the manual clock half an epoch on: the chain runs the step then due (the end
        of voting, or the start of the epoch change), without waiting for its outcome."""
        async with self.chain_client() as chain:
            staking = Staking.from_object(await chain.singleton(Staking.TYPE))
            await chain.advance_clock(staking.epoch_duration_ms // 2 + 1)

    async def advance_epoch(self) -> Epoch:
        """Move the manual clock through one epoch (the end of voting, then the epoch change)
        and wait until the change is done: the new committee holds its shards. Returns the
        new epoch."""
        async with self.chain_client() as chain:
            staking = Staking.from_object(await chain.singleton(Staking.TYPE))
            target = staking.epoch + 1
            for _ in range(2):
                await chain.advance_clock(staking.epoch_duration_ms // 2 + 1)
            deadline = time.monotonic() + EPOCH_CHANGE_TIMEOUT_S
            while time.monotonic() < deadline:
                staking = Staking.from_object(await chain.singleton(Staking.TYPE))
                if staking.epoch == target and staking.epoch_state.kind == "EpochChangeDone":
                    return staking.epoch
                await asyncio.sleep(0.05)
        raise TestbedError(
            f"epoch {target} did not finish changing within {EPOCH_CHANGE_TIMEOUT_S:.0f} s"
        )

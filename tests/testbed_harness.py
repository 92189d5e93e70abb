"""Handles on a running `walrus testbed` for the network tests (real processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pywalrus.chain.client import ChainClient
from pywalrus.chain.schema import Staking
from pywalrus.client.client import WalrusClient
from pywalrus.client.config import ClientConfig
from pywalrus.core.types import BlobId, ShardIndex, SliverType
from pywalrus.network.committee import CommitteeView, NodeMember
from pywalrus.testbed import local
from pywalrus.testbed.process import wait_until_healthy


def walrus(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "pywalrus.cli", *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def walrus_text(
    *args: str | Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`walrus ARGS` as a real process, its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "pywalrus.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
        cwd=cwd,
    )


class Network:
    """Handles on a running testbed."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.config_path = directory / "client_config.yaml"
        self.config = ClientConfig.load(self.config_path)

    def client(self) -> WalrusClient:
        return WalrusClient(self.config)

    def members(self) -> list[local.Member]:
        return local.load_members(self.dir)

    def up(self) -> None:
        result = walrus("testbed", "up", "--dir", str(self.dir), timeout=180)
        assert result.returncode == 0, result.stderr.decode()

    def stop(self, name: str) -> None:
        local.stop_member(self.dir, name)

    def kill(self, name: str) -> None:
        pid = local.running_pid(self.dir, name)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while local.running_pid(self.dir, name) is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    def start(self, name: str) -> None:
        """Start one member again (and nothing else), waiting until it answers."""
        member = next(m for m in self.members() if m.name == name)
        local.start_member(self.dir, member)
        wait_until_healthy(member.url + member.health_path, 60)

    def set_faults(self, name: str, faults: list[str]) -> None:
        self.set_config(name, faults=faults)

    def set_config(self, name: str, **values: Any) -> None:
        """Change keys of a node's `node.yaml` (a value of None removes the key)."""
        path = self.dir / "nodes" / name / "node.yaml"
        config = yaml.safe_load(path.read_text())
        for key, value in values.items():
            if value is None:
                config.pop(key, None)
            else:
                config[key] = value
        path.write_text(yaml.safe_dump(config))

    async def committee(self) -> CommitteeView:
        async with self.client() as client:
            return await client.committee()

    async def advance_epoch(self) -> None:
        """Drive the manual clock through one epoch change and wait until it is done."""
        async with ChainClient(self.config.chain_url) as chain:
            staking = (await chain.singleton("walrus::Staking")).fields
            epoch = staking["epoch"]
            await chain.advance_clock(staking["epoch_duration_ms"] // 2 + 1)
            await chain.advance_clock(staking["epoch_duration_ms"] // 2 + 1)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                staking = (await chain.singleton("walrus::Staking")).fields
                if (
                    staking["epoch"] == epoch + 1
                    and staking["epoch_state"]["kind"] == "EpochChangeDone"
                ):
                    break
                await asyncio.sleep(0.05)
            assert staking["epoch"] == epoch + 1
            assert staking["epoch_state"]["kind"] == "EpochChangeDone"

    async def staking(self) -> Staking:
        async with ChainClient(self.config.chain_url) as chain:
            return Staking.from_object(await chain.singleton(Staking.TYPE))

    async def advance_half_epoch(self) -> None:
        """Move the manual clock half an epoch on: the chain runs the step then due (the end
        of voting, or the epoch change)."""
        async with ChainClient(self.config.chain_url) as chain:
            staking = (await chain.singleton("walrus::Staking")).fields
            await chain.advance_clock(staking["epoch_duration_ms"] // 2 + 1)


def running_testbed(
    directory: Path, nodes: int, shards: int = 100, daemon: bool = False
) -> Iterator[Network]:
    """A testbed on a manual clock (epochs of an hour unless advanced) for the duration of a
    test module; for `yield from` in a fixture. Without `daemon` it starts no HTTP daemon, so
    that modules which do not use one do not pay for its process."""
    result = walrus(
        "testbed",
        "up",
        "--dir",
        str(directory),
        "--nodes",
        str(nodes),
        "--shards",
        str(shards),
        "--epoch-duration",
        "3600",
        "--manual-clock",
        *([] if daemon else ["--no-daemon"]),
        timeout=180,
    )
    assert result.returncode == 0, result.stderr.decode()
    yield Network(directory)
    walrus("testbed", "down", "--dir", str(directory))


async def wait_for(
    condition: Callable[[], Awaitable[bool]], timeout: float = 30, what: str = "condition"
) -> None:
    """Poll `condition` until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def all_slivers_stored(committee: CommitteeView, blobs: Iterable[BlobId]) -> None:
    """Wait until every member holds both slivers of each of its shards for every blob.

    A store returns once a quorum confirmed; a slower node may still be writing, or rebuild
    its slivers by blob sync a little later. Shard transfer assumes the old owners hold them.
    """
    config = committee.encoding

    async def stored(session: aiohttp.ClientSession, member: NodeMember, blob_id: BlobId) -> bool:
        for shard in member.shards:
            pair = config.pair_for_shard(ShardIndex(shard), blob_id)
            for axis in SliverType:
                url = f"{member.url}/v1/blobs/{blob_id}/slivers/{pair}/{axis.label}/status"
                async with session.get(url) as response:
                    if (await response.json())["success"]["data"] != "stored":
                        return False
        return True

    async def everywhere() -> bool:
        async with aiohttp.ClientSession() as session:
            return all([await stored(session, m, b) for m in committee.members for b in blobs])

    await wait_for(everywhere, what="every node to hold its slivers of the stored blobs")


async def node_metric(url: str, name: str, **labels: str) -> float:
    """The sum of a node's samples of metric `name` whose labels include `labels`."""
    async with aiohttp.ClientSession() as session, session.get(f"{url}metrics") as response:
        text = await response.text()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total

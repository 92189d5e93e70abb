"""Liveness benchmark: recovery from a chain kill at an epoch change, a node's memory under
hostile clients, and the scrub's rate (the README's figures for issue 9).

Starts a fresh `walrus testbed` (default 7 nodes, 100 shards, manual clock) in a temporary
directory and measures:

1. `chain-kill`: `--kills` rounds of: move the clock to the end of the epoch, SIGKILL the chain
   the moment its `EpochChangeStart` event exists, restart it at once (as a process supervisor
   would) and time, from the kill, until the chain answers again, a store of a 10 kB blob
   succeeds (attempted back to back from the kill on), every node answers `/v1/health` with
   200, and the epoch change is done. No node is touched.
2. `hostile`: one node (restarted, so that its peak RSS, VmHWM, is this run's) under the
   mix of the fault suite (50 slowloris heads, a 10^15 `Content-Length`, 300 idle
   connections and 50 slow 4 MiB bodies from one loopback address, 12 pending uploads of
   unregistered 4 MiB blobs from another), `--addresses` such pairs at once (127.0.0.2, ...),
   with the default limits, while an honest client on 127.0.0.1 stores 100 kB blobs; peak RSS
   before and after.
3. `scrub`: with `--scrub-mib` MiB stored, one node restarted with passes back to back, at the
   default rate bound and then unbounded: the scrub's bytes per second (from
   `walrus_node_scrubbed_bytes_total`) and the node's CPU use meanwhile.

Output: JSON lines on stdout, progress on stderr. Figures are of this machine; run it alone.

Usage: python benchmarks/liveness.py [--kills 5] [--addresses 1 4] [--scrub-mib 64]
                                     [--nodes 7] [--shards 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pywalrus.chain.client import ChainClient
from pywalrus.client.client import StoreOptions, WalrusClient
from pywalrus.client.config import ClientConfig
from pywalrus.core.errors import WalrusError
from pywalrus.node.config import NodeConfig
from pywalrus.testbed import hostile, local
from pywalrus.testbed.process import http_ok, wait_until_healthy

MiB = 1 << 20
MEMORY_COPIES = 2
"""The stated bound: RSS at start + twice what the clients' addresses may make a node hold
(`NodeLimits.held_by_clients`; the fault suite asserts it for one address)."""
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[liveness-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Bed:
    """The testbed under measurement (started already)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.config = ClientConfig.load(directory / "client_config.yaml")
        self.members = {m.name: m for m in local.load_members(directory)}

    def pid(self, name: str) -> int:
        pid = local.running_pid(self.dir, name)
        assert pid is not None, name
        return pid

    def restart(self, name: str, **config: Any) -> None:
        """Restart one member, with `config` keys set in its node.yaml (None removes one)."""
        local.stop_member(self.dir, name)
        member = self.members[name]
        if config:
            path = self.dir / member.config
            values = yaml.safe_load(path.read_text())
            for key, value in config.items():
                if value is None:
                    values.pop(key, None)
                else:
                    values[key] = value
            path.write_text(yaml.safe_dump(values))
        local.start_member(self.dir, member)
        wait_until_healthy(member.url + member.health_path, 60)

    def nodes(self) -> list[local.Member]:
        return [m for m in self.members.values() if m.role == "node"]

    async def store(self, size: int) -> float:
        """Store random bytes; returns seconds taken."""
        started = time.monotonic()
        async with WalrusClient(self.config) as client:
            await client.store(random.randbytes(size), StoreOptions(epochs=50))
        return time.monotonic() - started


async def all_healthy(bed: Bed) -> bool:
    return all(http_ok(m.url + m.health_path, 2.0) for m in bed.nodes())


async def chain_kill_round(bed: Bed) -> dict[str, Any]:
    chain = bed.members["chain"]
    async with ChainClient(chain.url) as client:
        cursor = (await client.info())["eventCount"] - 1
        staking = (await client.singleton("walrus::Staking")).fields
        epoch = staking["epoch"]
        waiter = asyncio.create_task(
            client.wait_events(cursor, ["EpochChangeStart"], timeout_ms=30_000, limit=1)
        )
        await asyncio.sleep(0)
        async with ChainClient(chain.url) as driver:
            for _ in range(2):
                await driver.advance_clock(staking["epoch_duration_ms"] // 2 + 1)
        assert await waiter, "no EpochChangeStart"
    os.kill(bed.pid("chain"), signal.SIGKILL)
    killed = time.monotonic()
    while local.running_pid(bed.dir, "chain") is not None:
        await asyncio.sleep(0.01)
    local.start_member(bed.dir, chain)
    times: dict[str, float] = {}
    while not http_ok(chain.url + chain.health_path, 1.0):
        await asyncio.sleep(0.02)
    times["chain_up_s"] = time.monotonic() - killed
    attempts = 0
    while "store_ok_s" not in times:
        attempts += 1
        try:
            await bed.store(10_000)
            times["store_ok_s"] = time.monotonic() - killed
        except WalrusError:
            await asyncio.sleep(0.05)
    async with ChainClient(chain.url) as client:
        while True:
            healthy = await all_healthy(bed)
            if healthy and "nodes_healthy_s" not in times:
                times["nodes_healthy_s"] = time.monotonic() - killed
            fields = (await client.singleton("walrus::Staking")).fields
            if fields["epoch"] > epoch and fields["epoch_state"]["kind"] == "EpochChangeDone":
                times.setdefault("epoch_change_done_s", time.monotonic() - killed)
            if len(times) == 4:
                break
            if time.monotonic() - killed > 300:
                raise TimeoutError(f"the network did not recover within 300 s: {times}")
            await asyncio.sleep(0.05)
    return {**{k: round(v, 2) for k, v in times.items()}, "store_attempts": attempts}


async def scrubbed_bytes(url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{url}metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "walrus_node_scrubbed_bytes_total":
                return float(sample.value)
    return 0.0


async def hostile_round(bed: Bed, addresses: int) -> dict[str, Any]:
    async with WalrusClient(bed.config) as client:
        committee = await client.committee()
    target = max(committee.members, key=lambda m: len(m.shards))
    bed.restart(target.name)
    pid = bed.pid(target.name)
    url = target.url.rstrip("/") + "/"
    before = hostile.peak_rss_mb(pid)
    limits = NodeConfig.load(bed.dir / bed.members[target.name].config).limits
    sources = [(f"127.0.0.{2 + 2 * i}", f"127.0.0.{3 + 2 * i}") for i in range(addresses)]
    honest: list[float] = []
    stop = asyncio.Event()

    async def honest_client() -> None:
        while not stop.is_set():
            honest.append(await bed.store(100_000))

    async def mix(source: str, pending_source: str) -> dict[str, Any]:
        results = await asyncio.gather(
            hostile.slowloris_headers(url, timeout=60, source=source),
            hostile.oversized_body(url, timeout=60, source=source),
            hostile.idle_connections(url, timeout=60, source=source),
            hostile.slow_bodies(url, timeout=60, source=source),
            hostile.pending_flood(url, target.shards, committee.encoding, source=pending_source),
        )
        slowloris, oversized, idle, slow, (pending, _) = results
        return {
            "slowloris_closed_after_s": round(max(a.seconds for a in slowloris), 1),
            "oversized_status": oversized.status,
            "idle_statuses": _count(a.status for a in idle),
            "idle_closed_after_s": round(max(a.seconds for a in idle), 1),
            "slow_body_statuses": _count(a.status for a in slow),
            "pending_statuses": _count(status for status, _ in pending),
            "pending_buffered_mib": round(sum(n for st, n in pending if st == 202) / MiB, 1),
        }

    started = time.monotonic()
    writer = asyncio.create_task(honest_client())
    answers = await asyncio.gather(*(mix(*pair) for pair in sources))
    stop.set()
    await writer
    return {
        "address_pairs": addresses,
        "node": target.name,
        "rss_at_start_mb": round(before, 1),
        "peak_rss_mb": round(hostile.peak_rss_mb(pid), 1),
        "stated_bound_mb": round(before + MEMORY_COPIES * limits.held_by_clients(addresses) / 1e6),
        "seconds": round(time.monotonic() - started, 1),
        "honest_stores": len(honest),
        "honest_store_p50_s": round(statistics.median(honest), 3) if honest else None,
        "answers_per_address": answers[0],
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        key = "closed" if value is None else str(value)
        counts[key] = counts.get(key, 0) + 1
    return counts


async def scrub_round(bed: Bed, name: str, rate: int | None, window_s: float) -> dict[str, Any]:
    bed.restart(name, scrub_interval_ms=1, scrub_bytes_per_s=rate)  # passes back to back
    member = bed.members[name]
    pid = bed.pid(name)
    config = NodeConfig.load(bed.dir / member.config)
    await asyncio.sleep(0.5)
    first, cpu0, t0 = await scrubbed_bytes(member.url), cpu_s(pid), time.monotonic()
    await asyncio.sleep(window_s)
    last, cpu1, t1 = await scrubbed_bytes(member.url), cpu_s(pid), time.monotonic()
    return {
        "node": name,
        "rate_bound_mib_s": round(config.scrub_bytes_per_s / MiB, 1),
        "scrub_mib_s": round((last - first) / MiB / (t1 - t0), 1),
        "node_cpu_share": round((cpu1 - cpu0) / (t1 - t0), 2),
    }


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="liveness-bench-") as tmp:
        log(f"starting a testbed of {args.nodes} nodes, {args.shards} shards")
        directory = Path(tmp) / "net"
        try:
            await asyncio.to_thread(
                local.up, directory, args.nodes, args.shards, 3_600_000, 120.0, True
            )
            bed = Bed(directory)
            rounds = []
            for i in range(args.kills):
                record = await chain_kill_round(bed)
                rounds.append(record)
                emit({"bench": "liveness", "part": "chain-kill", "round": i, **record})
            if rounds:
                summary = {
                    key: {
                        "p50": round(statistics.median(r[key] for r in rounds), 2),
                        "max": round(max(r[key] for r in rounds), 2),
                    }
                    for key in ("chain_up_s", "store_ok_s", "nodes_healthy_s")
                }
                emit({"bench": "liveness", "part": "chain-kill-summary", **summary})
            for addresses in args.addresses:
                log(f"hostile mix from {addresses} address(es)")
                emit(
                    {"bench": "liveness", "part": "hostile", **await hostile_round(bed, addresses)}
                )
            log(f"storing {args.scrub_mib} MiB for the scrub")
            for _ in range(max(1, args.scrub_mib // 16)):
                await bed.store(min(16, args.scrub_mib) * MiB)
            name = bed.nodes()[0].name
            for rate in (None, 1 << 40):
                record = await scrub_round(bed, name, rate, args.scrub_window)
                emit({"bench": "liveness", "part": "scrub", "bounded": rate is None, **record})
            bed.restart(name, scrub_interval_ms=None, scrub_bytes_per_s=None)
        finally:
            if (directory / local.STATE).exists():
                local.down(directory)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--addresses", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--scrub-mib", type=int, default=64)
    parser.add_argument("--scrub-window", type=float, default=6.0)
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--shards", type=int, default=100)
    asyncio.run(main(parser.parse_args()))

"""Chain benchmark: register + certify throughput of a real `walrus chain` process.

For each concurrency K it starts a fresh chain process (7 nodes, 100 shards, 30-day epochs so
no epoch step runs, faucet on) in a temporary directory and drives it over JSON-RPC from K
client accounts, each with its own nonce sequence and one transaction in flight:

    register tx = system::reserve_space + system::register_blob (one transaction, `$result`)
    certify tx  = system::certify_blob with a real BLS certificate of the committee

Blobs are random (100 bytes by default); their metadata (`compute_metadata`, 100 shards) and
their certificates (every node signs the `StorageConfirmation`, signatures are aggregated) are
made before the timed phase and their cost is reported separately (`client_*` fields), so the
chain's throughput is not confused with the client's encoding and signing cost. Transactions
are signed (Ed25519) during the timed phase, since the certify transaction names the blob
object the register transaction created; that cost is reported as `client_tx_sign_us`.

One JSON line per K: pairs/s, register and certify tx/s, p50/p95 latency of each kind, the
chain process' CPU time and utilisation during the timed phase (≈ 1.0 means the single-threaded
chain is saturated), and its peak RSS (VmHWM). Since the host may be shared, the line also says
how long the chain waited for a CPU (`chain_runqueue_wait_s`) and how many cores other
processes used meanwhile (`other_cpu_util`); figures taken while either is high are not the
chain's own. With `--py-spy PATH` the chain runs under `py-spy record` (collapsed stacks,
native frames, idle included, whole process lifetime) writing `--profile-dir/chain-kK.txt`;
native sampling pauses the process, so throughput figures of such a run are lower.

Usage: python benchmarks/chain.py [--concurrency 1 4 16] [--pairs 2000] [--time-cap 120]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from pywalrus.chain.client import ChainClient
from pywalrus.chain.tx import Call, TransactionData, fee_for
from pywalrus.core.accounts import Account
from pywalrus.core.certificates import encode_signers
from pywalrus.core.config import EncodingConfig, is_quorum
from pywalrus.core.crypto.bls import BlsSignature, aggregate_signatures
from pywalrus.core.encoding import compute_metadata
from pywalrus.core.errors import ChainError
from pywalrus.core.messages import StorageConfirmation
from pywalrus.core.types import BlobId, Epoch
from pywalrus.testbed.chain_files import write_chain_files
from pywalrus.testbed.genesis import NodeIdentity, generate_nodes, make_genesis
from pywalrus.testbed.ports import free_ports
from pywalrus.testbed.process import start_walrus, wait_until_healthy

EPOCH_MS = 30 * 24 * 3600 * 1000
CHAIN_ID = "bench-chain"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class BlobCase:
    """A blob's registration arguments."""

    blob_id: str
    root_hash: str
    size: int


@dataclass
class Workload:
    """Blobs and, per epoch and signer set, their aggregate certificate signatures."""

    blobs: list[BlobCase]
    metadata_s: float
    certificates: dict[tuple[int, frozenset[bytes]], list[tuple[str, str]]] = field(
        default_factory=dict
    )
    cert_build_s: float = 0.0
    certs_built: int = 0


@dataclass
class RunStats:
    """What the workers of one timed phase measured."""

    register_ms: list[float] = field(default_factory=list)
    certify_ms: list[float] = field(default_factory=list)
    sign_s: float = 0.0
    signed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def make_workload(count: int, size: int, n_shards: int, seed: int) -> Workload:
    config = EncodingConfig(n_shards)
    rng = random.Random(seed)
    start = time.perf_counter()
    blobs = []
    for _ in range(count):
        metadata = compute_metadata(rng.randbytes(size), config)
        blobs.append(
            BlobCase(str(metadata.blob_id()), metadata.root_hash().hex(), metadata.unencoded_length)
        )
    return Workload(blobs, time.perf_counter() - start)


def certificates(
    workload: Workload, epoch: int, signers: list[NodeIdentity]
) -> list[tuple[str, str]]:
    """(aggregate signature, message), base64, of `signers` over each blob's storage
    confirmation of `epoch`; cached, since every run uses the same node keys."""
    key = (epoch, frozenset(n.protocol_key.public_key().to_bytes() for n in signers))
    if key not in workload.certificates:
        start = time.perf_counter()
        out = []
        for blob in workload.blobs:
            message = StorageConfirmation(Epoch(epoch), BlobId.parse(blob.blob_id)).to_bytes()
            parts: list[BlsSignature] = [n.protocol_key.sign(message) for n in signers]
            signature = aggregate_signatures(parts).to_bytes()
            out.append((base64.b64encode(signature).decode(), base64.b64encode(message).decode()))
        workload.cert_build_s += time.perf_counter() - start
        workload.certs_built += len(out)
        workload.certificates[key] = out
    return workload.certificates[key]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[index], 2)


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_runqueue_wait_s(pid: int) -> float:
    """Time the process' main thread was runnable but waiting for a CPU."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def host_busy_s() -> float:
    """CPU seconds all cores spent outside idle and iowait since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS


def proc_status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class Worker:
    """One client account: register then certify, one transaction in flight."""

    def __init__(
        self,
        client: ChainClient,
        account: Account,
        coin: str,
        nonce: int,
        encoded_size: int,
    ) -> None:
        self.client = client
        self.account = account
        self.coin = coin
        self.nonce = nonce
        self.encoded_size = encoded_size

    def _sign(self, stats: RunStats, calls: tuple[Call, ...]) -> dict[str, Any]:
        start = time.perf_counter()
        address = self.account.address
        data = TransactionData(CHAIN_ID, address, self.nonce, 0, calls)
        data = TransactionData(CHAIN_ID, address, self.nonce, fee_for(data), calls)
        signed = data.sign(self.account).to_json()
        stats.sign_s += time.perf_counter() - start
        stats.signed += 1
        return signed

    async def _submit(self, stats: RunStats, calls: tuple[Call, ...]) -> tuple[Any, float]:
        transaction = self._sign(stats, calls)
        start = time.perf_counter()
        try:
            result = await self.client.call("chain_submitTransaction", transaction=transaction)
        except ChainError as exc:
            reason = exc.reason or f"code {exc.code}"
            stats.errors[reason] = stats.errors.get(reason, 0) + 1
            self.nonce = (await self.client.account(self.account.address))["nonce"]
            raise
        self.nonce += 1
        return result, (time.perf_counter() - start) * 1000

    async def pair(self, stats: RunStats, blob: BlobCase, cert: dict[str, str]) -> bool:
        register = (
            Call(
                "system::reserve_space",
                {"storage_amount": self.encoded_size, "epochs_ahead": 1, "payment": self.coin},
            ),
            Call(
                "system::register_blob",
                {
                    "storage": {"$result": [0, "storage"]},
                    "blob_id": blob.blob_id,
                    "root_hash": blob.root_hash,
                    "size": blob.size,
                    "encoding_type": 1,
                    "deletable": False,
                    "write_payment": self.coin,
                },
            ),
        )
        try:
            result, register_ms = await self._submit(stats, register)
        except ChainError:
            return False
        stats.register_ms.append(register_ms)
        blob_object = result["effects"]["results"][1]["blob"]
        certify = (Call("system::certify_blob", {"blob": blob_object, **cert}),)
        try:
            _, certify_ms = await self._submit(stats, certify)
        except ChainError:
            return False
        stats.certify_ms.append(certify_ms)
        return True


async def drive(
    workers: list[Worker],
    cases: list[tuple[BlobCase, dict[str, str]]],
    time_cap: float,
) -> tuple[RunStats, float]:
    """Run `cases` through the workers until done or `time_cap` seconds have passed."""
    stats = RunStats()
    queue = iter(cases)
    start = time.perf_counter()
    deadline = start + time_cap

    async def loop(worker: Worker) -> None:
        for blob, cert in queue:
            await worker.pair(stats, blob, cert)
            if time.perf_counter() >= deadline:
                return

    await asyncio.gather(*(loop(w) for w in workers))
    return stats, time.perf_counter() - start


def start_chain(
    config: Path, py_spy: str | None, profile: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `walrus chain`, under `py-spy record` if asked; returns the process and the chain's
    PID (py-spy's child: py-spy cannot attach to a running process on every kernel)."""
    log = config.parent / "chain.log"
    if py_spy is None:
        process = start_walrus(["chain", "--config", str(config)], log)
        return process, process.pid
    profile.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy, "record", "--rate", "200", "--native", "--idle", "--format", "raw"]
    command += ["--output", str(profile), "--", sys.executable, "-m", "pywalrus.cli", "chain"]
    command += ["--config", str(config)]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = children.read_text().split() if children.exists() else []
        if pids:
            return process, int(pids[0])
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("py-spy did not start the chain")


def stop_chain(process: subprocess.Popen[bytes], chain_pid: int) -> None:
    """SIGTERM the chain (it shuts down cleanly; py-spy then writes its profile)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(chain_pid, signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def run_once(
    concurrency: int,
    args: argparse.Namespace,
    nodes: list[NodeIdentity],
    accounts: list[Account],
    workload: Workload,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="walrus-chain-bench-") as tmp:
        (port,) = free_ports(1)
        genesis = make_genesis(nodes, args.shards, EPOCH_MS, accounts)
        config = write_chain_files(Path(tmp), CHAIN_ID, port, genesis, Account.generate())
        profile = Path(args.profile_dir) / f"chain-k{concurrency}.txt"
        process, chain_pid = start_chain(config, args.py_spy, profile)
        url = f"http://127.0.0.1:{port}/"
        try:
            wait_until_healthy(url + "health", 60, process)
            return await measure(concurrency, args, nodes, accounts, workload, url, chain_pid)
        finally:
            stop_chain(process, chain_pid)


async def measure(
    concurrency: int,
    args: argparse.Namespace,
    nodes: list[NodeIdentity],
    accounts: list[Account],
    workload: Workload,
    url: str,
    pid: int,
) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        client = ChainClient(url, session)
        # The faucet works (and tops the accounts up beyond their genesis funds).
        for account in accounts[:concurrency]:
            await client.faucet(account.address, wal=10**15, gas=10**12)
        system = await client.singleton("walrus::System")
        epoch = int(system.fields["epoch"])
        members = [m["public_key"] for m in system.fields["committee"]["members"]]
        by_key = {n.protocol_key.public_key().to_bytes().hex(): n for n in nodes}
        ordered = [by_key[k] for k in members]
        weights = [m["weight"] for m in system.fields["committee"]["members"]]
        signer_indices = list(range(len(ordered)))
        if args.signers == "quorum":
            signer_indices, weight = [], 0
            for index, w in enumerate(weights):
                if is_quorum(weight, args.shards):
                    break
                signer_indices.append(index)
                weight += w
        made = certificates(workload, epoch, [ordered[i] for i in signer_indices])
        bitmap = base64.b64encode(encode_signers(signer_indices, len(ordered))).decode()
        cases = [
            (blob, {"signature": signature, "signers_bitmap": bitmap, "message": message})
            for blob, (signature, message) in zip(workload.blobs, made, strict=True)
        ]
        encoded_size = EncodingConfig(args.shards).encoded_length(args.blob_size)
        workers = []
        for account in accounts[:concurrency]:
            coins = await client.owned_objects(account.address, "wal::Coin")
            coin = max(coins, key=lambda c: int(c.fields["balance"])).id
            nonce = (await client.account(account.address))["nonce"]
            workers.append(Worker(client, account, coin, nonce, encoded_size))
        warmup = min(args.warmup, len(cases))
        await drive(workers, cases[:warmup], args.time_cap)
        timed_cases = cases[warmup : warmup + args.pairs]

        chain_cpu0, client_cpu0 = proc_cpu_s(pid), time.process_time()
        host0, wait0 = host_busy_s(), proc_runqueue_wait_s(pid)
        stats, elapsed = await drive(workers, timed_cases, args.time_cap)
        chain_cpu = proc_cpu_s(pid) - chain_cpu0
        client_cpu = time.process_time() - client_cpu0
        host = host_busy_s() - host0
        runqueue_wait = proc_runqueue_wait_s(pid) - wait0
        end_epoch = int((await client.singleton("walrus::System")).fields["epoch"])
        info = await client.info()

    pairs = len(stats.certify_ms)
    return {
        "bench": "chain",
        "concurrency": concurrency,
        "nodes": len(nodes),
        "n_shards": args.shards,
        "blob_size": args.blob_size,
        "signers": len(signer_indices),
        "pairs": pairs,
        "elapsed_s": round(elapsed, 3),
        "pairs_per_s": round(pairs / elapsed, 1),
        "register_tx_per_s": round(len(stats.register_ms) / elapsed, 1),
        "certify_tx_per_s": round(len(stats.certify_ms) / elapsed, 1),
        "register_p50_ms": percentile(stats.register_ms, 50),
        "register_p95_ms": percentile(stats.register_ms, 95),
        "certify_p50_ms": percentile(stats.certify_ms, 50),
        "certify_p95_ms": percentile(stats.certify_ms, 95),
        "register_mean_ms": round(statistics.fmean(stats.register_ms), 2)
        if stats.register_ms
        else None,
        "certify_mean_ms": round(statistics.fmean(stats.certify_ms), 2)
        if stats.certify_ms
        else None,
        "errors": stats.errors,
        "epoch_unchanged": end_epoch == epoch,
        "chain_tx_count": info["txCount"],
        "chain_cpu_s": round(chain_cpu, 2),
        "chain_cpu_util": round(chain_cpu / elapsed, 2),
        "chain_cpu_ms_per_pair": round(chain_cpu / pairs * 1000, 3) if pairs else None,
        "chain_peak_rss_mb": round(proc_status_kb(pid, "VmHWM") / 1024, 1),
        "chain_runqueue_wait_s": round(runqueue_wait, 2),
        "other_cpu_util": round(max(0.0, host - chain_cpu - client_cpu) / elapsed, 2),
        "client_cpu_s": round(client_cpu, 2),
        "client_cpu_util": round(client_cpu / elapsed, 2),
        "client_tx_sign_us": round(stats.sign_s / max(stats.signed, 1) * 1e6, 1),
        "client_metadata_ms_per_blob": round(workload.metadata_s / len(workload.blobs) * 1000, 2),
        "client_cert_build_s": round(workload.cert_build_s, 2),
        "client_cert_ms_per_cert": round(
            workload.cert_build_s / max(workload.certs_built, 1) * 1000, 2
        ),
        "cores": os.cpu_count(),
    }


async def main_async(args: argparse.Namespace) -> None:
    nodes = generate_nodes(args.nodes, free_ports(args.nodes))
    accounts = [Account.generate() for _ in range(max(args.concurrency))]
    workload = make_workload(args.warmup + args.pairs, args.blob_size, args.shards, args.seed)
    if args.signers == "all":
        # Genesis enters epoch 1 at once, and the aggregate of every member's signature does
        # not depend on the committee's order: make the certificates before any chain runs.
        certificates(workload, 1, nodes)
    for concurrency in args.concurrency:
        line = await run_once(concurrency, args, nodes, accounts, workload)
        print(json.dumps(line), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--pairs", type=int, default=2000, help="timed register+certify pairs")
    parser.add_argument("--time-cap", type=float, default=120.0, help="seconds per timed phase")
    parser.add_argument("--warmup", type=int, default=20, help="untimed pairs first")
    parser.add_argument("--blob-size", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--signers", choices=["all", "quorum"], default="all")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--py-spy", help="path of a py-spy binary to profile the chain with")
    parser.add_argument("--profile-dir", default="benchmarks/out/chain-profile")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

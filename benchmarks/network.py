"""Network benchmark: store and read latency/throughput of a real local testbed, vs Tahoe-LAFS.

Starts a fresh `walrus testbed` (default 7 nodes, 100 shards, 1-day epochs so no epoch change
runs) in a temporary directory and, per blob size, runs `--reps` store+read rounds through the
SDK in a worker subprocess of this script (so the client's peak RSS, VmHWM, is per size):

    store  = `WalrusClient.store` (committee/system look-up, encoding, register tx, sliver upload,
             confirmations, certify tx) until it returns, i.e. the certification has executed on
             chain; fresh random bytes every round;
    read   = `WalrusClient.read` (metadata, slivers, decoding); the bytes are compared with what
             was stored, outside the timing.

Per round the worker also records when each `progress` stage (encoding, registering, uploading,
certifying; metadata, slivers, decoding) started and ended, and the CPU seconds burned by the
client, the storage nodes and the chain, so one can see where the time goes.

With `--with-f-down` (default) a second pass stops f shards' worth of nodes (the largest set of
nodes, fewest shards first, whose shard counts sum to at most f = (n_shards - 1) // 3), re-reads
the blobs stored while all were up (`read_prior_*`), stores and reads fresh ones, then restarts
the stopped nodes. Unless `--no-tahoe`, it then (with the testbed down, so the two do not share
the 2 cores) runs the Tahoe-LAFS peer `../shared/peers/tahoe/bench.sh -n NODES --sizes ... --reps
... [--kill-f]` and prints ratio lines.

With `--cli` (default) each all-up size is also stored and read by whole `walrus store` and
`walrus read --out` processes, as users run them (interpreter start-up, imports and exit
included), with each process' peak RSS, beside the SDK's figures (`network-cli` lines).

Output: JSON lines on stdout, progress on stderr.
    {"bench": "network", "impl": "pywalrus"|"tahoe", "mode": "all-up"|"f-down", "size_mib", ...}
    {"bench": "network-cli", "size_mib", "cli_store_p50_s", "cli_read_p50_s", "sdk_*", ...}
    {"bench": "network-compare", "mode", "size_mib", "read_ratio", "store_ratio", ...}
    {"bench": "network-note", ...}                (setup facts, skipped parts, errors)
All `*_mb_s` figures are MiB/s (2^20 bytes per second), Tahoe's included (converted from its
10^6-byte MBps); ratios are ours / Tahoe's, > 1 means pywalrus is faster.

Usage: python benchmarks/network.py [--sizes-mib 1 16 64] [--reps 3] [--no-with-f-down]
                                    [--no-tahoe] [--no-cli] [--nodes 7] [--shards 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MiB = 1 << 20
ROOT = Path(__file__).resolve().parents[1]
TAHOE_BENCH = ROOT / ".." / "shared" / "peers" / "tahoe" / "bench.sh"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB_S_UNIT = "MiB/s (2^20 bytes per second)"


def log(message: str) -> None:
    print(f"[network-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


# /proc helpers ----------------------------------------------------------------------------------


def proc_status_kb(pid: int | str, field: str) -> int | None:
    """A `kB` field (VmHWM, VmRSS) of /proc/PID/status, or None if the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process (its threads included)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (`echo 5 > clear_refs`, Linux >= 4.0, needs ownership)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def mib_s(size_mib: float, seconds: float | None) -> float | None:
    return round(size_mib / seconds, 2) if seconds else None


# Worker: one size, `reps` rounds, in its own process ---------------------------------------------


class StageClock:
    """A `progress` callback that records the first and last time each stage reported."""

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        del done, total
        now = time.perf_counter()
        self.first.setdefault(stage, now)
        self.last[stage] = now

    def reset(self) -> None:
        self.first.clear()
        self.last.clear()

    def span(self, stage: str) -> float | None:
        if stage not in self.first:
            return None
        return round(self.last[stage] - self.first[stage], 4)


class ServerCpu:
    """CPU seconds of the chain and the running storage nodes of a testbed."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def sample(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            cpu = proc_cpu_s(pid)
            if cpu is not None:
                out[name] = cpu
        return out

    @staticmethod
    def delta(before: dict[str, float], after: dict[str, float]) -> tuple[float, float]:
        """(nodes' CPU seconds, chain's CPU seconds) between two samples."""
        nodes = sum(after[n] - before[n] for n in after if n in before and n != "chain")
        chain = after.get("chain", 0.0) - before.get("chain", 0.0)
        return round(nodes, 3), round(chain, 3)


async def _worker_rounds(args: argparse.Namespace) -> dict[str, Any]:
    from pywalrus.client.client import StoreOptions, WalrusClient
    from pywalrus.client.config import ClientConfig
    from pywalrus.core.types import BlobId

    size = int(args.size_mib * MiB)
    pids: dict[str, int] = json.loads(args.pids)
    servers = ServerCpu(pids)
    clock = StageClock()
    rounds: list[dict[str, Any]] = []
    prior_reads: list[dict[str, Any]] = []
    stored: list[dict[str, str]] = []
    async with WalrusClient(ClientConfig.load(Path(args.config)), progress=clock) as client:
        if args.prior_file and Path(args.prior_file).exists():
            for entry in json.loads(Path(args.prior_file).read_text()):
                blob_id = BlobId.parse(entry["blob_id"])
                cpu0, srv0 = self_cpu_s(), servers.sample()
                clock.reset()
                t0 = time.perf_counter()
                data = await client.read(blob_id)
                elapsed = time.perf_counter() - t0
                nodes_cpu, chain_cpu = ServerCpu.delta(srv0, servers.sample())
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise RuntimeError(f"prior blob {blob_id} read back different bytes")
                prior_reads.append(
                    {
                        "read_s": round(elapsed, 4),
                        "read_cpu_client_s": round(self_cpu_s() - cpu0, 3),
                        "read_cpu_nodes_s": nodes_cpu,
                        "read_cpu_chain_s": chain_cpu,
                    }
                )
                del data
        for _ in range(args.reps):
            data = os.urandom(size)
            # Store: timed from the call (committee look-up, then encoding) until it returns.
            clock.reset()
            cpu0, srv0 = self_cpu_s(), servers.sample()
            t0 = time.perf_counter()
            result = await client.store(data, StoreOptions(epochs=2, force=True))
            t1 = time.perf_counter()
            store_cpu = round(self_cpu_s() - cpu0, 3)
            store_nodes_cpu, store_chain_cpu = ServerCpu.delta(srv0, servers.sample())
            blob = result["newlyCreated"]["blobObject"]
            if blob.get("certifiedEpoch") is None:
                raise RuntimeError("store returned an uncertified blob")
            first, last = clock.first, clock.last
            stages = {
                "prelude_s": round(first["encoding"] - t0, 4),
                "encoding_s": clock.span("encoding"),
                "registering_s": clock.span("registering"),
                # first sliver PUT .. certify tx sent: slivers, confirmations, straggler wait
                "uploading_s": round(first["certifying"] - first["uploading"], 4),
                "uploading_slivers_s": clock.span("uploading"),
                "certifying_s": clock.span("certifying"),
                "finalize_s": round(t1 - last["certifying"], 4),
            }
            blob_id = BlobId.parse(blob["blobId"])
            digest = hashlib.sha256(data).hexdigest()
            stored.append({"blob_id": str(blob_id), "sha256": digest})
            del data, result
            # Read: timed from the call until the decoded bytes are back.
            clock.reset()
            cpu0, srv0 = self_cpu_s(), servers.sample()
            t2 = time.perf_counter()
            back = await client.read(blob_id)
            t3 = time.perf_counter()
            read_cpu = round(self_cpu_s() - cpu0, 3)
            read_nodes_cpu, read_chain_cpu = ServerCpu.delta(srv0, servers.sample())
            if hashlib.sha256(back).hexdigest() != digest:
                raise RuntimeError(f"blob {blob_id} read back different bytes")
            del back
            rounds.append(
                {
                    "store_s": round(t1 - t0, 4),
                    "read_s": round(t3 - t2, 4),
                    "store_stages": stages,
                    "read_stages": {
                        "metadata_s": clock.span("metadata"),
                        "slivers_s": clock.span("slivers"),
                        "decoding_s": clock.span("decoding"),
                    },
                    "store_cpu_client_s": store_cpu,
                    "store_cpu_nodes_s": store_nodes_cpu,
                    "store_cpu_chain_s": store_chain_cpu,
                    "read_cpu_client_s": read_cpu,
                    "read_cpu_nodes_s": read_nodes_cpu,
                    "read_cpu_chain_s": read_chain_cpu,
                }
            )
    if args.stored_file:
        Path(args.stored_file).write_text(json.dumps(stored))
    return {
        "rounds": rounds,
        "prior_reads": prior_reads,
        "client_peak_rss_mb": mb(proc_status_kb("self", "VmHWM")),
    }


def worker(args: argparse.Namespace) -> int:
    result = asyncio.run(_worker_rounds(args))
    print(json.dumps(result), flush=True)
    return 0


# Driver -----------------------------------------------------------------------------------------


def stage_p50(rounds: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    names = rounds[0][key].keys() if rounds else []
    return {name: p50([r[key][name] for r in rounds if r[key][name] is not None]) for name in names}


def summarize(
    raw: dict[str, Any], size_mib: float, mode: str, extra: dict[str, Any]
) -> dict[str, Any]:
    rounds = raw["rounds"]
    store = [r["store_s"] for r in rounds]
    read = [r["read_s"] for r in rounds]
    record: dict[str, Any] = {
        "bench": "network",
        "impl": "pywalrus",
        "mode": mode,
        "size_mib": size_mib,
        "reps": len(rounds),
        "store_p50_s": p50(store),
        "store_mb_s": mib_s(size_mib, p50(store)),
        "read_p50_s": p50(read),
        "read_mb_s": mib_s(size_mib, p50(read)),
        "store_first_s": store[0] if store else None,
        "store_first_mb_s": mib_s(size_mib, store[0]) if store else None,
        "read_first_s": read[0] if read else None,
        "read_first_mb_s": mib_s(size_mib, read[0]) if read else None,
        "store_s_all": store,
        "read_s_all": read,
        "mb_s_unit": MB_S_UNIT,
        "store_stages_p50_s": stage_p50(rounds, "store_stages"),
        "read_stages_p50_s": stage_p50(rounds, "read_stages"),
    }
    for key in (
        "store_cpu_client_s",
        "store_cpu_nodes_s",
        "store_cpu_chain_s",
        "read_cpu_client_s",
        "read_cpu_nodes_s",
        "read_cpu_chain_s",
    ):
        record[key + "_p50"] = p50([r[key] for r in rounds])
    prior = raw["prior_reads"]
    if prior:
        prior_s = [r["read_s"] for r in prior]
        record["read_prior_p50_s"] = p50(prior_s)
        record["read_prior_mb_s"] = mib_s(size_mib, p50(prior_s))
        record["read_prior_s_all"] = prior_s
        record["read_prior_note"] = "blobs stored while all nodes were up, read with f down"
    record["client_peak_rss_mb"] = raw["client_peak_rss_mb"]
    record.update(extra)
    return record


class Testbed:
    """A fresh testbed in a temporary directory; `close` always takes it down."""

    def __init__(self, nodes: int, shards: int, epoch_duration_s: int, keep: bool) -> None:
        self.nodes = nodes
        self.shards = shards
        self.epoch_duration_ms = epoch_duration_s * 1000
        self.keep = keep
        self.tmp = tempfile.TemporaryDirectory(prefix="pywalrus-netbench-")
        self.dir = Path(self.tmp.name) / "testbed"

    def up(self) -> float:
        from pywalrus.testbed import local

        t0 = time.perf_counter()
        local.up(self.dir, self.nodes, self.shards, self.epoch_duration_ms, timeout=120.0)
        return round(time.perf_counter() - t0, 2)

    def pids(self) -> dict[str, int]:
        from pywalrus.testbed import local

        out = {}
        for member in local.load_members(self.dir):
            pid = local.running_pid(self.dir, member.name)
            if pid is not None:
                out[member.name] = pid
        return out

    def close(self) -> None:
        from pywalrus.testbed import local

        with contextlib.suppress(Exception):
            if (self.dir / local.STATE).exists():
                stopped = local.down(self.dir)
                log(f"testbed down ({stopped} processes stopped)")
        if self.keep:
            log(f"kept {self.dir}")
        else:
            self.tmp.cleanup()


def server_rss(pids: dict[str, int]) -> dict[str, Any]:
    nodes = [proc_status_kb(pid, "VmHWM") for name, pid in pids.items() if name != "chain"]
    node_kb = [kb for kb in nodes if kb is not None]
    chain = proc_status_kb(pids["chain"], "VmHWM") if "chain" in pids else None
    return {
        "node_peak_rss_mb_max": mb(max(node_kb)) if node_kb else None,
        "node_peak_rss_mb_sum": mb(sum(node_kb)) if node_kb else None,
        "chain_peak_rss_mb": mb(chain),
        "nodes_running": len(node_kb),
    }


def run_size(
    bed: Testbed,
    size_mib: float,
    reps: int,
    mode: str,
    timeout: float,
    stored_file: Path | None,
    prior_file: Path | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    pids = bed.pids()
    reset = all([reset_peak_rss(pid) for pid in pids.values()])
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--config",
        str(bed.dir / "client_config.yaml"),
        "--size-mib",
        str(size_mib),
        "--reps",
        str(reps),
        "--pids",
        json.dumps(pids),
    ]
    if stored_file is not None:
        command += ["--stored-file", str(stored_file)]
    if prior_file is not None:
        command += ["--prior-file", str(prior_file)]
    log(f"{mode}: {size_mib} MiB x {reps} (timeout {timeout:.0f} s)")
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, timeout=timeout, check=False, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"worker for {size_mib} MiB ({mode}) exited {done.returncode}: {done.stderr[-2000:]}"
        )
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    rss = server_rss(pids)
    rss["server_peak_rss_scope"] = (
        "this size only (VmHWM reset via clear_refs)" if reset else "since process start"
    )
    record = summarize(raw, size_mib, mode, {**rss, **extra})
    record["worker_wall_s"] = round(time.perf_counter() - t0, 2)
    return record


def timed_process(command: list[str], env: dict[str, str], timeout: float) -> tuple[float, str]:
    """(wall seconds, stdout) of one whole process."""
    t0 = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise RuntimeError(f"{command[3:6]} did not finish within {timeout:.0f} s") from None
    wall = time.perf_counter() - t0
    if process.returncode != 0:
        raise RuntimeError(f"{command[3:6]} exited {process.returncode}: {err.decode()[-500:]}")
    return wall, out.decode()


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        remaining = size
        while remaining:
            chunk = min(remaining, 4 * MiB)
            out.write(os.urandom(chunk))
            remaining -= chunk


def _digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(4 * MiB), b""):
            digest.update(chunk)
    return digest.digest()


def run_cli(bed: Testbed, size_mib: float, reps: int, sdk: dict[str, Any]) -> dict[str, Any]:
    """Whole `walrus store` and `walrus read --out` processes, as users run them: wall time
    (start-up, imports and exit included) and peak RSS, beside the SDK's figures."""
    env = {**os.environ, "WALRUS_CONFIG": str(bed.dir / "client_config.yaml")}
    walrus = [sys.executable, "-m", "pywalrus.cli"]
    # A small launcher process measures each verb (RSS_LAUNCHER): the child's ru_maxrss would
    # otherwise start at this process' size, which Linux copies at fork.
    launcher = [sys.executable, "-c", RSS_LAUNCHER]
    work = Path(bed.tmp.name)
    timeout = worker_timeout(size_mib, 1, None)
    stores, reads, store_rss, read_rss = [], [], [], []
    log(f"cli: {size_mib} MiB x {reps}")
    for rep in range(reps):
        path = work / f"cli-{size_mib}-{rep}.bin"
        _write_random(path, int(size_mib * MiB))
        command = [*launcher, *walrus, "--json", "store", str(path), "--epochs", "2", "--force"]
        wall, out = timed_process(command, env, timeout)
        record = json.loads(out.splitlines()[-1])
        stores.append(wall)
        store_rss.append(record["peak_rss_mb"])
        blob_id = json.loads(record["stdout"])[0]["blobStoreResult"]["newlyCreated"]["blobObject"][
            "blobId"
        ]
        copy = work / f"cli-{size_mib}-{rep}.out"
        command = [*launcher, *walrus, "read", blob_id, "--out", str(copy)]
        wall, out = timed_process(command, env, timeout)
        reads.append(wall)
        read_rss.append(json.loads(out.splitlines()[-1])["peak_rss_mb"])
        if _digest(copy) != _digest(path):
            raise RuntimeError(f"walrus read of {size_mib} MiB returned other bytes")
        path.unlink()
        copy.unlink()
    help_s, out = timed_process([*launcher, *walrus, "--help"], env, 60)
    size_mb = size_mib * MiB / 1e6
    return {
        "bench": "network-cli",
        "mode": "all-up",
        "size_mib": size_mib,
        "reps": reps,
        "cli_store_p50_s": p50(stores),
        "cli_read_p50_s": p50(reads),
        "cli_store_s_all": [round(x, 3) for x in stores],
        "cli_read_s_all": [round(x, 3) for x in reads],
        "sdk_store_p50_s": sdk.get("store_p50_s"),
        "sdk_read_p50_s": sdk.get("read_p50_s"),
        "cli_store_peak_rss_mb": max(store_rss),
        "cli_read_peak_rss_mb": max(read_rss),
        "cli_store_rss_per_blob": round(max(store_rss) / size_mb, 2) if size_mb else None,
        "cli_read_rss_per_blob": round(max(read_rss) / size_mb, 2) if size_mb else None,
        "cli_help_s": round(help_s, 3),
        "cli_help_peak_rss_mb": json.loads(out.splitlines()[-1])["peak_rss_mb"],
        "note": "whole processes: interpreter start-up, imports, chain look-ups and exit "
        "included (the launcher adds a few ms); RSS is the walrus process' peak, its baseline "
        "included",
    }


RSS_LAUNCHER = """
import json, os, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
sys.stderr.write(done.stderr.decode(errors="replace"))
print(json.dumps({"peak_rss_mb": round(peak, 1), "stdout": done.stdout.decode(errors="replace")}))
sys.exit(done.returncode)
"""
"""Runs one command and prints its peak RSS: as a small process, its child's ru_maxrss is the
child's own (Linux floors it at the forking parent's size)."""


def f_down_set(bed: Testbed) -> tuple[list[str], int, int]:
    """(names, their shard count, f): the most nodes, fewest shards first, within f shards."""
    from pywalrus.client.client import WalrusClient
    from pywalrus.client.config import ClientConfig

    async def committee() -> list[tuple[str, int]]:
        async with WalrusClient(ClientConfig.load(bed.dir / "client_config.yaml")) as client:
            members = (await client.committee()).members
            return sorted(((m.name, len(m.shards)) for m in members), key=lambda x: x[1])

    order = asyncio.run(committee())
    n_shards = sum(s for _, s in order)
    f = (n_shards - 1) // 3
    down, weight = [], 0
    for name, shards in order:
        if weight + shards > f:
            break
        down.append(name)
        weight += shards
    return down, weight, f


def worker_timeout(size_mib: float, reps: int, override: float | None) -> float:
    if override is not None:
        return override
    # generous: ~ 1.5 s/MiB per store+read round plus start-up; the 64 MiB x 3 case gets ~5 min
    return 60.0 + reps * size_mib * 1.5


# Tahoe ------------------------------------------------------------------------------------------


def run_tahoe(
    nodes: int, sizes: list[float], reps: int, kill_f: bool, deadline: int
) -> tuple[list[dict[str, Any]], str | None]:
    """bench.sh's JSON lines, or ([], reason) when it is missing or fails."""
    bench = TAHOE_BENCH.resolve()
    if not bench.exists():
        return [], f"Tahoe bench not found at {bench}"
    if any(s != int(s) for s in sizes):
        return [], "Tahoe bench takes whole MiB sizes only"
    command = [
        str(bench),
        "-n",
        str(nodes),
        "--sizes",
        ",".join(str(int(s)) for s in sizes),
        "--reps",
        str(reps),
        "--deadline",
        str(deadline),
    ]
    if kill_f:
        command.append("--kill-f")
    timeout = deadline + 300  # + a first-time venv install (~30 s) and shutdown
    log(f"tahoe: {' '.join(command)} (timeout {timeout} s)")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)  # bench.py stops its own nodes on SIGTERM
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        return _parse_tahoe(stdout), f"Tahoe bench timed out after {timeout} s"
    except BaseException:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        raise
    lines = _parse_tahoe(stdout)
    if process.returncode != 0:
        tail = " | ".join(stderr.strip().splitlines()[-5:])
        return lines, f"Tahoe bench exited {process.returncode}: {tail}"
    return lines, None


def _parse_tahoe(stdout: str) -> list[dict[str, Any]]:
    out = []
    for line in stdout.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(line)
            if isinstance(value, dict) and "size_MiB" in value:
                out.append(value)
    return out


def tahoe_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A Tahoe line in this benchmark's schema (MiB/s)."""
    size_mib = raw["size_MiB"]
    mode = "f-down" if raw.get("mode") == "degraded" else "all-up"
    # Our f-down reads are of blobs stored with f down; Tahoe's matching figure is
    # new_file_download_s. Its download_s in degraded mode re-reads files stored while healthy.
    if mode == "f-down":
        read_s, prior_s = raw.get("new_file_download_s"), raw.get("download_s")
        read_all = raw.get("new_file_download_s_all")
    else:
        read_s, prior_s = raw.get("download_s"), None
        read_all = raw.get("download_s_all")
    record: dict[str, Any] = {
        "bench": "network",
        "impl": "tahoe",
        "mode": mode,
        "size_mib": size_mib,
        "reps": raw.get("reps"),
        "store_p50_s": raw.get("upload_s"),
        "store_mb_s": mib_s(size_mib, raw.get("upload_s")),
        "read_p50_s": read_s,
        "read_mb_s": mib_s(size_mib, read_s),
        "store_first_s": (raw.get("upload_s_all") or [None])[0],
        "read_first_s": (read_all or [None])[0],
        "mb_s_unit": MB_S_UNIT,
        "store_cpu_client_s_p50": raw.get("upload_cpu_client_s"),
        "store_cpu_nodes_s_p50": raw.get("upload_cpu_storage_s"),
        "client_peak_rss_mb": None,
        "node_peak_rss_mb_max": None,
        "tahoe": {
            k: raw.get(k)
            for k in (
                "version",
                "N",
                "f",
                "needed",
                "happy",
                "total",
                "protocol",
                "overhead",
                "killed",
                "grid_startup_s",
                "upload_MBps",
                "download_MBps",
            )
        },
    }
    if prior_s is not None:
        record["read_prior_p50_s"] = prior_s
        record["read_prior_mb_s"] = mib_s(size_mib, prior_s)
    return record


def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    record = {
        "bench": "network-compare",
        "mode": ours["mode"],
        "size_mib": ours["size_mib"],
        "read_ratio": ratio(ours["read_mb_s"], theirs["read_mb_s"]),
        "store_ratio": ratio(ours["store_mb_s"], theirs["store_mb_s"]),
        "pywalrus_read_mb_s": ours["read_mb_s"],
        "tahoe_read_mb_s": theirs["read_mb_s"],
        "pywalrus_store_mb_s": ours["store_mb_s"],
        "tahoe_store_mb_s": theirs["store_mb_s"],
        "ratio_meaning": "pywalrus MiB/s / Tahoe MiB/s (> 1: pywalrus faster)",
        "store_semantics": "pywalrus: until certify tx executed on chain; Tahoe: until cap back",
    }
    if "read_prior_mb_s" in ours and "read_prior_mb_s" in theirs:
        record["read_prior_ratio"] = ratio(ours["read_prior_mb_s"], theirs["read_prior_mb_s"])
    return record


# Main -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so `finally` blocks take the testbed down."""

    def handler(signum: int, frame: object) -> None:
        del frame
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def bench(args: argparse.Namespace) -> int:
    from pywalrus.testbed import local

    sizes: list[float] = args.sizes_mib
    ours: dict[tuple[str, float], dict[str, Any]] = {}
    failed = False
    started = time.perf_counter()
    bed = Testbed(args.nodes, args.shards, args.epoch_duration, args.keep_dir)
    try:
        up_s = bed.up()
        log(f"testbed up in {up_s} s at {bed.dir}")
        emit(
            {
                "bench": "network-note",
                "event": "testbed-up",
                "nodes": args.nodes,
                "shards": args.shards,
                "epoch_duration_s": args.epoch_duration,
                "testbed_up_s": up_s,
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
            }
        )
        common = {"nodes": args.nodes, "shards": args.shards}
        stored_files: dict[float, Path] = {}
        for size in sizes:
            stored_files[size] = Path(bed.tmp.name) / f"stored-{size}.json"
            record = run_size(
                bed,
                size,
                args.reps,
                "all-up",
                worker_timeout(size, args.reps, args.worker_timeout),
                stored_files[size],
                None,
                common,
            )
            ours[("all-up", size)] = record
            emit(record)
            if args.cli:
                emit(run_cli(bed, size, args.reps, record))
        if args.with_f_down:
            down, weight, f = f_down_set(bed)
            for name in down:
                local.stop_member(bed.dir, name)
            log(f"f-down: stopped {down} ({weight} of {args.shards} shards, f = {f})")
            extra = {**common, "f": f, "nodes_down": down, "shards_down": weight}
            try:
                for size in sizes:
                    record = run_size(
                        bed,
                        size,
                        args.reps,
                        "f-down",
                        worker_timeout(size, 2 * args.reps, args.worker_timeout),
                        None,
                        stored_files[size],
                        extra,
                    )
                    ours[("f-down", size)] = record
                    emit(record)
            finally:
                t0 = time.perf_counter()
                local.up(bed.dir, timeout=120.0)
                emit(
                    {
                        "bench": "network-note",
                        "event": "restarted",
                        "nodes": down,
                        "restart_s": round(time.perf_counter() - t0, 2),
                    }
                )
    except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError) as exc:
        failed = True
        emit({"bench": "network-note", "event": "error", "error": f"{type(exc).__name__}: {exc}"})
    finally:
        bed.close()
    our_s = round(time.perf_counter() - started, 1)

    if args.no_tahoe:
        emit({"bench": "network-note", "event": "tahoe-skipped", "reason": "--no-tahoe"})
    else:
        raw_lines, problem = run_tahoe(
            args.nodes, sizes, args.reps, args.with_f_down, args.tahoe_deadline
        )
        if problem is not None:
            emit({"bench": "network-note", "event": "tahoe-problem", "reason": problem})
        for raw in raw_lines:
            theirs = tahoe_record(raw)
            emit(theirs)
            mine = ours.get((theirs["mode"], theirs["size_mib"]))
            if mine is not None:
                emit(compare(mine, theirs))
    emit(
        {
            "bench": "network-note",
            "event": "done",
            "pywalrus_part_s": our_s,
            "total_s": round(time.perf_counter() - started, 1),
        }
    )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mib", type=float, nargs="+", default=[1, 16, 64])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument(
        "--epoch-duration", type=int, default=86_400, help="seconds (long: no epoch change)"
    )
    parser.add_argument(
        "--with-f-down",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure with f shards' worth of nodes stopped (default on)",
    )
    parser.add_argument("--no-tahoe", action="store_true", help="skip the Tahoe-LAFS peer")
    parser.add_argument(
        "--cli",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time whole `walrus store`/`walrus read` processes (default on)",
    )
    parser.add_argument(
        "--tahoe-deadline", type=int, default=420, help="s, passed to bench.sh --deadline"
    )
    parser.add_argument("--worker-timeout", type=float, help="s per size (default by size)")
    parser.add_argument("--keep-dir", action="store_true", help="keep the testbed directory")
    # worker mode (internal)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--size-mib", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--pids", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--stored-file", help=argparse.SUPPRESS)
    parser.add_argument("--prior-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    # sizes printed as ints where whole, so `size_mib` matches Tahoe's `size_MiB`
    args.sizes_mib = [int(s) if s == int(s) else s for s in args.sizes_mib]
    with sigterm_as_exit():
        return bench(args)


if __name__ == "__main__":
    sys.exit(main())

"""HTTP benchmark: the aggregator of a real local testbed, vs Tahoe-LAFS's web API download.

Starts a fresh `walrus testbed` (7 nodes, 100 shards, with its client daemon) in a temporary
directory, stores fresh random blobs with the SDK, and measures through the daemon's
aggregator, from this process with aiohttp:

    get      = GET /v1/blobs/{id} of 1, 16 and 64 MiB from an aggregator without a cache (`walrus
               aggregator --cache-size 0`, so every GET fetches slivers from the nodes): time
               to first byte (request sent to the first body chunk in hand) and to the last,
               p50 of `--reps`; bytes checked after;
    range    = GET with `Range:` of 1 MiB at random offsets of the 64 MiB blob, p50 against
               the whole GET of the same blob;
    requests = requests per second of concurrent GETs of a 10 KiB blob over `--connections`
               connections for `--duration` seconds, with `hey` (Debian's package; aiohttp
               when it is absent): cached (the testbed's daemon, cache warm) and uncached (the
               aggregator without a cache).

Unless `--no-tahoe`, it then (testbed down, so the two do not share the 2 cores) runs the
Tahoe-LAFS peer `../shared/peers/tahoe/bench.sh -n NODES --sizes ... --reps ...`, whose
download is `curl GET /uri/<cap>` against Tahoe's web gateway, and prints ratio lines.

Output: JSON lines on stdout, progress on stderr; MiB/s = 2^20 bytes per second.
    {"bench": "http-get", "size_mib", "ttfb_p50_s", "get_p50_s", "get_mb_s", ...}
    {"bench": "http-range", "range_mib", "blob_mib", "range_p50_s", "fraction_of_whole", ...}
    {"bench": "http-requests", "cached", "requests_per_s", "connections", "tool", ...}
    {"bench": "http-compare", "size_mib", "get_mb_s", "tahoe_download_mb_s", "ratio"}

Usage: python benchmarks/http.py [--sizes-mib 1 16 64] [--reps 3] [--connections 64]
                                 [--duration 5] [--no-tahoe] [--nodes 7] [--shards 100]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path, where this file would stand
# for the standard library's `http` package (which aiohttp and urllib import): drop it.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import importlib.util  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402

from pywalrus.client.client import StoreOptions, WalrusClient  # noqa: E402
from pywalrus.client.config import ClientConfig  # noqa: E402
from pywalrus.testbed import local  # noqa: E402
from pywalrus.testbed.process import aggregator_process  # noqa: E402


def _network_bench() -> Any:
    """benchmarks/network.py, for its testbed, Tahoe runner and formatting helpers."""
    spec = importlib.util.spec_from_file_location("network_bench", HERE / "network.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


network = _network_bench()
Testbed, emit, mib_s, p50 = network.Testbed, network.emit, network.mib_s, network.p50
run_tahoe, tahoe_record = network.run_tahoe, network.tahoe_record

MiB = 1 << 20


def log(message: str) -> None:
    print(f"[http-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def store(config: ClientConfig, blobs: dict[str, bytes]) -> dict[str, str]:
    ids = {}
    async with WalrusClient(config) as client:
        for name, data in blobs.items():
            result = await client.store(data, StoreOptions(epochs=2, force=True))
            ids[name] = result["newlyCreated"]["blobObject"]["blobId"]
    return ids


async def timed_get(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[float, float, bytes]:
    """(time to first byte, time to last byte, body)."""
    start = time.perf_counter()
    first = None
    parts = []
    async with session.get(url, headers=headers) as response:
        assert response.status in (200, 206), response.status
        async for chunk in response.content.iter_chunked(1 << 20):
            if first is None:
                first = time.perf_counter() - start
            parts.append(chunk)
    total = time.perf_counter() - start
    return first if first is not None else total, total, b"".join(parts)


async def measure_gets(
    daemon: str, blobs: dict[str, bytes], ids: dict[str, str], reps: int
) -> dict[str, dict[str, Any]]:
    out = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        await timed_get(session, f"{daemon}status")
        for name, data in blobs.items():
            if not name.startswith("get-"):
                continue
            size_mib = len(data) / MiB
            firsts, totals = [], []
            for _ in range(reps):
                first, total, body = await timed_get(session, f"{daemon}v1/blobs/{ids[name]}")
                if hashlib.sha256(body).digest() != hashlib.sha256(data).digest():
                    raise SystemExit(f"error: GET of {name} returned other bytes")
                firsts.append(first)
                totals.append(total)
            record = {
                "bench": "http-get",
                "size_mib": size_mib,
                "reps": reps,
                "ttfb_p50_s": p50(firsts),
                "get_p50_s": p50(totals),
                "get_mb_s": mib_s(size_mib, p50(totals)),
                "ttfb_fraction": round(p50(firsts) / p50(totals), 3),
                "get_s_all": [round(t, 4) for t in totals],
            }
            emit(record)
            out[name] = record
    return out


async def measure_range(daemon: str, data: bytes, blob_id: str, whole_s: float, reps: int) -> None:
    rng = random.Random(7)
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(max(reps, 5)):
            start = rng.randrange(0, len(data) - MiB)
            header = {"Range": f"bytes={start}-{start + MiB - 1}"}
            _, total, body = await timed_get(session, f"{daemon}v1/blobs/{blob_id}", header)
            if body != data[start : start + MiB]:
                raise SystemExit("error: a range read returned other bytes")
            times.append(total)
    emit(
        {
            "bench": "http-range",
            "range_mib": 1,
            "blob_mib": len(data) / MiB,
            "reps": len(times),
            "range_p50_s": p50(times),
            "whole_get_p50_s": whole_s,
            "fraction_of_whole": round(p50(times) / whole_s, 3),
        }
    )


def requests_per_s(url: str, connections: int, duration: float) -> dict[str, Any]:
    """Concurrent GETs of `url` for `duration` s: with `hey` if installed, else aiohttp."""
    if shutil.which("hey"):
        out = subprocess.run(
            ["hey", "-z", f"{duration:g}s", "-c", str(connections), url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        ).stdout
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
        latency = re.search(r"Average:\s+([\d.]+) secs", out)
        return {
            "tool": "hey",
            "requests_per_s": rate,
            "status_counts": {k: int(v) for k, v in codes.items()},
            "mean_latency_s": float(latency.group(1)) if latency else None,
        }
    return asyncio.run(_aiohttp_rate(url, connections, duration))


async def _aiohttp_rate(url: str, connections: int, duration: float) -> dict[str, Any]:
    counts: dict[str, int] = {}
    deadline = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                async with session.get(url) as response:
                    await response.read()
                    counts[str(response.status)] = counts.get(str(response.status), 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    return {
        "tool": "aiohttp",
        "requests_per_s": round(sum(counts.values()) / elapsed, 1),
        "status_counts": counts,
    }


def measure_requests(cached_url: str, uncached_url: str, connections: int, duration: float) -> None:
    for cached, url in ((True, cached_url), (False, uncached_url)):
        asyncio.run(_warm(url))
        emit(
            {
                "bench": "http-requests",
                "cached": cached,
                "blob_kib": 10,
                "connections": connections,
                "duration_s": duration,
                **requests_per_s(url, connections, duration),
            }
        )


@contextlib.contextmanager
def cacheless_aggregator(bed: Any) -> Iterator[str]:
    """A `walrus aggregator --cache-size 0` process of its own on the testbed: every GET
    it answers fetches slivers from the nodes."""
    config = bed.dir / "client_config.yaml"
    log_path = bed.dir / "logs" / "bench-aggregator.log"
    with aggregator_process(config, log_path, "--cache-size", "0") as (_, url, _):
        yield url


async def _warm(url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        await response.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--nodes", type=int, default=7)
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--no-tahoe", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    rng = random.Random()
    blobs = {f"get-{s}": rng.randbytes(s * MiB) for s in args.sizes_mib}
    blobs["small"] = rng.randbytes(10 * 1024)
    bed = Testbed(args.nodes, args.shards, 86400, args.keep)
    gets: dict[str, dict[str, Any]] = {}
    try:
        log(f"testbed up ({args.nodes} nodes, {args.shards} shards) in {bed.up()} s")
        (daemon,) = [m.url for m in local.load_members(bed.dir) if m.role == "daemon"]
        config = ClientConfig.load(bed.dir / "client_config.yaml")
        ids = asyncio.run(store(config, blobs))
        log(f"stored {len(ids)} blobs")
        with cacheless_aggregator(bed) as aggregator:
            gets = asyncio.run(measure_gets(aggregator, blobs, ids, args.reps))
            largest = f"get-{max(args.sizes_mib)}"
            if max(args.sizes_mib) >= 2:
                whole = gets[largest]["get_p50_s"]
                asyncio.run(
                    measure_range(aggregator, blobs[largest], ids[largest], whole, args.reps)
                )
            small = ids["small"]
            measure_requests(
                f"{daemon}v1/blobs/{small}",
                f"{aggregator}v1/blobs/{small}",
                args.connections,
                args.duration,
            )
    finally:
        bed.close()
    if args.no_tahoe:
        return 0
    lines, problem = run_tahoe(
        args.nodes, [float(s) for s in args.sizes_mib], args.reps, False, 900
    )
    if problem:
        emit({"bench": "http-note", "tahoe": problem})
    for raw in lines:
        theirs = tahoe_record(raw)
        if theirs["mode"] != "all-up":
            continue
        ours = gets.get(f"get-{int(theirs['size_mib'])}")
        if ours is None:
            continue
        emit(
            {
                "bench": "http-compare",
                "size_mib": theirs["size_mib"],
                "get_mb_s": ours["get_mb_s"],
                "tahoe_download_mb_s": theirs["read_mb_s"],
                "ratio": round(ours["get_mb_s"] / theirs["read_mb_s"], 2),
                "tahoe": theirs["tahoe"],
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Encoding benchmark: pywalrus against walrus-core natively and compiled to WebAssembly.

Prints one JSON line per (n_shards, size) case with encode+metadata and decode times, MB/s
and peak RSS of each implementation, each measured in its own process:

- `pywalrus`: `encode_blob` (slivers, metadata, blob ID); decode from the last n−2f primary
  slivers (non-systematic where possible) with the default consistency check.
- `fastcrypto`: walrus-core natively via `pysui_fastcrypto.redstuff_encode` / `redstuff_decode`.
- `walrus-wasm`: walrus-core compiled to WebAssembly (`@mysten/walrus-wasm`, the TypeScript
  SDK's encoder), run by `peers/wasm/encode_bench.mjs` under Node.js.

Every implementation encodes the same bytes (blake2b512("bench" ‖ u64_le(j)) stream) and the
script checks that all three report the same blob ID. Times are the minimum over the
repetitions after a discarded warm-up run; `*_first_s` is the cold first call. MB = MiB.

Usage: python benchmarks/encoding.py [--n 10 100 1000] [--sizes-mib 1 16 64 256] [--no-peers]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WASM_DIR = HERE / "peers" / "wasm"
MiB = 1 << 20


def bench_blob(size: int, seed: bytes = b"bench") -> bytes:
    out = bytearray()
    base = hashlib.blake2b(seed, digest_size=64)
    j = 0
    while len(out) < size:
        h = base.copy()
        h.update(j.to_bytes(8, "little"))
        out += h.digest()
        j += 1
    return bytes(out[:size])


def timed(fn: Callable[[], Any], reps: int) -> tuple[float, float, float, Any]:
    """(first, min, median of the runs after the first, last result)."""
    times = []
    result = None
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    kept = times[1:] or times
    return times[0], min(kept), statistics.median(kept), result


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def worker_pywalrus(n: int, size: int, reps: int) -> dict[str, Any]:
    from pywalrus.core.config import EncodingConfig
    from pywalrus.core.decoding import decode_blob
    from pywalrus.core.encoding import encode_blob
    from pywalrus.core.native import native
    from pywalrus.core.slivers import verify_slivers

    data = bench_blob(size)
    config = EncodingConfig(n)
    first, best, median, encoded = timed(lambda: encode_blob(data, config), reps)
    k = config.n_primary_source_symbols
    slivers = [encoded.primary_sliver(i) for i in range(n - k, n)]
    _, verify_s, _, ok = timed(lambda: verify_slivers(slivers, encoded.metadata), reps)
    assert all(ok)
    _, dec_best, dec_median, decoded = timed(
        lambda: decode_blob(slivers, encoded.metadata, encoded.blob_id), reps
    )
    assert decoded == data
    return {
        "impl": "pywalrus",
        "native": native is not None,
        "blob_id": str(encoded.blob_id),
        "encode_first_s": round(first, 4),
        "encode_s": round(best, 4),
        "encode_median_s": round(median, 4),
        "encode_mb_s": round(size / MiB / best, 2),
        "verify_slivers_s": round(verify_s, 4),
        "decode_s": round(dec_best, 4),
        "decode_median_s": round(dec_median, 4),
        "decode_mb_s": round(size / MiB / dec_best, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def worker_fastcrypto(n: int, size: int, reps: int) -> dict[str, Any]:
    import base64

    import pysui_fastcrypto as fc  # type: ignore[import-not-found]

    data = bench_blob(size)
    first, best, median, encoded = timed(lambda: fc.redstuff_encode(data, n), reps)
    f = (n - 1) // 3
    k = n - 2 * f
    by_index = {}
    for pair in encoded.slivers:
        by_index[pair.sliver_pair_index] = bytes(pair.primary)
    slivers = [by_index[i] for i in range(n - k, n)]
    _, dec_best, dec_median, decoded = timed(
        lambda: fc.redstuff_decode(slivers, size, n, "primary"), reps
    )
    assert bytes(decoded) == data
    return {
        "impl": "walrus-core-native",
        "blob_id": base64.urlsafe_b64encode(bytes(encoded.blob_id)).rstrip(b"=").decode(),
        "encode_first_s": round(first, 4),
        "encode_s": round(best, 4),
        "encode_median_s": round(median, 4),
        "encode_mb_s": round(size / MiB / best, 2),
        "decode_s": round(dec_best, 4),
        "decode_median_s": round(dec_median, 4),
        "decode_mb_s": round(size / MiB / dec_best, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_worker(impl: str, n: int, size: int, reps: int) -> dict[str, Any] | None:
    if impl == "walrus-wasm":
        if subprocess.run(["sh", str(WASM_DIR / "setup.sh")], check=False).returncode:
            return None
        script = str(WASM_DIR / "encode_bench.mjs")
        cmd = ["node", script, "--n-shards", str(n), "--size", str(size)]
        cmd += ["--reps", str(reps), "--decode"]
    else:
        cmd = [sys.executable, __file__, "--worker", impl, "--n", str(n), "--size", str(size)]
        cmd += ["--reps", str(reps)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
    if result.returncode:
        return {"impl": impl, "error": result.stderr.strip().splitlines()[-1:]}
    line: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--reps", type=int, default=0, help="default: 4 below 256 MiB, else 2")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run = worker_pywalrus if args.worker == "pywalrus" else worker_fastcrypto
        print(json.dumps(run(args.n[0], args.size, args.reps)))
        return

    from pywalrus.core.config import EncodingConfig

    impls = ["pywalrus"] + ([] if args.no_peers else ["walrus-core-native", "walrus-wasm"])
    for n in args.n:
        for size_mib in args.sizes_mib:
            size = size_mib * MiB
            if size > EncodingConfig(n).max_blob_size:
                continue
            reps = args.reps or (4 if size_mib < 256 else 2)
            results = {impl: run_worker(impl, n, size, reps) for impl in impls}
            line: dict[str, Any] = {
                "n_shards": n,
                "size_mib": size_mib,
                "cores": os.cpu_count(),
                **results,
            }
            ours = results["pywalrus"] or {}
            ids = {r.get("blob_id") for r in results.values() if r and "blob_id" in r}
            line["same_blob_id"] = len(ids) == 1
            for impl in impls[1:]:
                peer = results.get(impl) or {}
                if "encode_s" in peer and "encode_s" in ours:
                    speedup = round(peer["encode_s"] / ours["encode_s"], 2)
                    line[f"encode_speedup_vs_{impl}"] = speedup
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()

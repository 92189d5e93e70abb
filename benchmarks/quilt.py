"""Quilt benchmark: building, encoding and reading a QuiltV1 of many small files.

Prints one JSON line per shard count with the seconds (minimum over the repetitions after a
discarded warm-up run) for:

- `layout_s`: `encode_quilt` (sort, index, symbol-size search, column layout) and
  `blob_bytes_s`: turning the columns into the row-major blob to store;
- `blob_id_s`: `encode_blob` of that blob (slivers, metadata, quilt ID), for comparison;
- `read_index_s`, `read_all_s`: `QuiltV1.from_blob` and reading every patch from the blob;
- `patch_from_slivers_s`: one patch read from a decoder holding only its secondary slivers
  (median over all patches).

Files are `--files` distinct `--size`-byte contents named `file-0000.bin`, … (600 × 10 KiB by
default, the case upstream's documentation prices; a quilt holds at most C − 1 patches, so 600
needs n ≥ 901 shards, and at most 66 fit at the testbed's n = 100).

Usage: python benchmarks/quilt.py [--n 1000] [--files 600] [--size 10240] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import encode_blob
from pywalrus.core.quilt import QuiltDecoderV1, QuiltStoreBlob, QuiltV1, encode_quilt


def best(fn: Callable[[], Any], reps: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(reps + 1):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times[1:]), result


def run(n_shards: int, files: int, size: int, reps: int) -> dict[str, Any]:
    config = EncodingConfig(n_shards)
    rng = random.Random(n_shards)
    blobs = [QuiltStoreBlob(f"file-{i:04}.bin", rng.randbytes(size)) for i in range(files)]
    layout_s, quilt = best(lambda: encode_quilt(blobs, config), reps)
    blob_bytes_s, data = best(
        lambda: QuiltV1(config, quilt.symbol_size, quilt.index, quilt.columns).data, reps
    )
    blob_id_s, encoded = best(lambda: encode_blob(data, config), reps)
    read_index_s, whole = best(lambda: QuiltV1.from_blob(data, config), reps)
    read_all_s, read = best(whole.get_all_blobs, reps)
    assert read == blobs
    per_patch = []
    for patch in quilt.index.patches:
        decoder = QuiltDecoderV1(
            config, [encoded.secondary_sliver(j) for j in patch.sliver_indices]
        )
        start = time.perf_counter()
        decoder.get_blob(patch)
        per_patch.append(time.perf_counter() - start)
    return {
        "bench": "quilt",
        "n_shards": n_shards,
        "files": files,
        "file_size": size,
        "quilt_bytes": len(data),
        "symbol_size": quilt.symbol_size,
        "layout_s": round(layout_s, 6),
        "blob_bytes_s": round(blob_bytes_s, 6),
        "blob_id_s": round(blob_id_s, 6),
        "read_index_s": round(read_index_s, 6),
        "read_all_s": round(read_all_s, 6),
        "patch_from_slivers_s": round(statistics.median(per_patch), 6),
        "quilt_id": str(encoded.blob_id),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000])
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--size", type=int, default=10 * 1024)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    for n_shards in args.n:
        print(json.dumps(run(n_shards, args.files, args.size, args.reps)), flush=True)


if __name__ == "__main__":
    main()

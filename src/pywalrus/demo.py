"""The main job until the network exists: a RedStuff round trip of a sample file.

Encodes the file for n shards, prints its blob ID, then plays a reader who gets slivers from
a random n−2f shards, and a shard that lost its slivers and rebuilds them from the others.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from pywalrus.core.config import EncodingConfig
from pywalrus.core.decoding import decode_blob
from pywalrus.core.encoding import encode_blob
from pywalrus.core.inconsistency import recover_sliver
from pywalrus.core.slivers import verify_slivers
from pywalrus.core.symbols import recovery_symbols_from_sliver
from pywalrus.core.types import SliverPairIndex, SliverType


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", nargs="?", type=Path, help="file to encode (default: a sample)")
    parser.add_argument("--n-shards", type=int, default=100)
    args = parser.parse_args(argv)
    data = args.file.read_bytes() if args.file else random.Random(7).randbytes(3 * 1024 * 1024)
    name = str(args.file) if args.file else "a 3 MiB sample"
    config = EncodingConfig(args.n_shards)

    start = time.perf_counter()
    encoded = encode_blob(data, config)
    print(f"encoded {name} for {config.n_shards} shards in {time.perf_counter() - start:.2f} s")
    print(f"blob ID: {encoded.blob_id}")
    print(f"encoded size: {config.encoded_length(len(data))} bytes")

    rng = random.Random()
    chosen = rng.sample(range(config.n_shards), config.n_primary_source_symbols)
    slivers = [encoded.primary_sliver(i) for i in chosen]
    if not all(verify_slivers(slivers, encoded.metadata)):
        print("error: a sliver failed verification", file=sys.stderr)
        return 1
    decoded = decode_blob(slivers, encoded.metadata, encoded.blob_id)
    if decoded != data:
        print("error: decoded bytes differ", file=sys.stderr)
        return 1
    print(f"read back from {len(chosen)} of {config.n_shards} shards: bytes match")

    lost = SliverPairIndex(rng.randrange(config.n_shards))
    for axis in SliverType:
        target = config.sliver_index(axis, lost)
        k = config.sliver_length_in_symbols(axis)
        sources = rng.sample([i for i in range(config.n_shards)], k)
        symbols = [
            recovery_symbols_from_sliver(encoded.sliver(axis.orthogonal, s), [target], config)[0]
            for s in sources
        ]
        rebuilt = recover_sliver(
            axis, target, [g.recovery_symbol() for g in symbols], encoded.metadata
        )
        if rebuilt != encoded.sliver(axis, target):
            print("error: recovery produced a different sliver", file=sys.stderr)
            return 1
    print(f"shard holding sliver pair {lost} rebuilt both slivers from its peers' recovery symbols")
    return 0


if __name__ == "__main__":
    sys.exit(main())

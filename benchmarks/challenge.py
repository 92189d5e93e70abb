"""Storage-challenge benchmark: bytes and seconds of one node's proof of possession.

The testbed's shape: n = 100 shards split by D'Hondt over 7 equal stakes (14 or 15 shards a
node), `--blobs` eligible blobs of `--blob-size` bytes, sampled at `--bps` with cap
`--max-per-shard`. For the node with the most shards it prints one JSON line per case
(`plain`, and `escalated` for a node that failed the previous epoch) with:

- `entries`: sampled (shard, blob) entries; `bytes_per_peer` (min and max over the 6 peers),
  `total_bytes` over all peers (what the challenged node uploads), `bound_per_peer` from
  `response_size_bound`;
- `sample_s`: computing the sample; `build_s`: building the responses to all 6 peers
  (`build_responses`, each sliver expanded once) and serialising them; `verify_s`: every
  peer's parse and `verify_response` summed (each peer checks one response, in parallel on a
  real network: `verify_per_peer_s` is the slowest one);
- `challenged_pairs_s` and `challenged_pairs`: the window's refusal set for the whole
  committee, which every node computes once per challenge;
- `total_bytes_at_cap`: `response_size_bound` × peers once every shard is sampled to the cap
  (from `max_per_shard` · 10 000 / bps eligible blobs on).

Encoding 1,000 blobs of 1 MiB would take minutes and is not what is measured: `--real` blobs are
encoded with `encode_blob` and each eligible blob ID (random) is backed by one of them. A
sampled (s, b) takes the sliver pair at b's own pair index for s from its backing blob, and the
verifier is given that blob's metadata for b, so every symbol, proof and position is real and
the per-entry cost is exactly that of distinct blobs (only the blob IDs are not content hashes,
which the verifier does not check: it is handed verified metadata).

Times are the minimum over `--reps` runs after a warm-up.

Usage: python benchmarks/challenge.py [--blobs 1000] [--blob-size 1048576] [--bps 100]
       [--max-per-shard 64] [--real 4] [--reps 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pywalrus.core.apportionment import apportionment
from pywalrus.core.challenge import (
    Challenge,
    ChallengeResponse,
    build_responses,
    challenge_seed,
    challenged_pairs,
    response_size_bound,
    verify_response,
)
from pywalrus.core.committee import Committee, initial_committee
from pywalrus.core.config import EncodingConfig
from pywalrus.core.encoding import EncodedBlob, encode_blob
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import BlobId, Epoch, ShardIndex

N_SHARDS = 100
N_NODES = 7
T = TypeVar("T")


def best(fn: Callable[[], T], reps: int) -> tuple[float, T]:
    times, result = [], fn()
    for _ in range(reps):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


@dataclass(frozen=True)
class Network:
    """The committee, the eligible blobs and their real backing encodings."""

    config: EncodingConfig
    committee: Committee
    eligible: list[BlobId]
    backing: dict[BlobId, EncodedBlob]
    challenged: bytes
    """The node with the most shards."""

    @property
    def peers(self) -> dict[bytes, tuple[ShardIndex, ...]]:
        return {
            n: self.committee.shards(n) for n in self.committee.node_ids if n != self.challenged
        }

    def slivers(self, shard: ShardIndex, blob_id: BlobId) -> tuple[Sliver, Sliver]:
        return self.backing[blob_id].sliver_pair(self.config.pair_for_shard(shard, blob_id))


def network(args: argparse.Namespace) -> Network:
    config = EncodingConfig(N_SHARDS)
    rng = random.Random(12)
    node_ids = [rng.randbytes(32) for _ in range(N_NODES)]
    committee = initial_committee(apportionment([(i, 1_000_000) for i in node_ids], N_SHARDS))
    real = [encode_blob(rng.randbytes(args.blob_size), config) for _ in range(args.real)]
    eligible = [BlobId(rng.randbytes(32)) for _ in range(args.blobs)]
    backing = {b: real[i % len(real)] for i, b in enumerate(eligible)}
    challenged = max(committee.node_ids, key=lambda n: (len(committee.shards(n)), n))
    return Network(config, committee, eligible, backing, challenged)


def measure(net: Network, challenge: Challenge, args: argparse.Namespace) -> dict[str, Any]:
    config, peers = net.config, net.peers
    shards = net.committee.shards(net.challenged)
    metadata = {b: e.metadata for b, e in net.backing.items()}
    sample_s, sample = best(
        lambda: challenge.sample(net.challenged, shards, net.eligible), args.reps
    )

    def build() -> dict[bytes, bytes]:
        responses = build_responses(sample, peers, net.slivers, config)
        return {peer: r.to_bcs() for peer, r in responses.items()}

    def check(peer: bytes, data: bytes) -> None:
        response = ChallengeResponse.from_bcs(data, max_entries=len(sample.entries))
        verify_response(response, sample, peer, peers[peer], metadata, config)

    build_s, wire = best(build, args.reps)
    per_peer = [best(functools.partial(check, p, d), args.reps)[0] for p, d in wire.items()]
    pairs_s, pairs = best(
        lambda: challenged_pairs(challenge, net.committee, net.eligible, config), 1
    )
    sizes = [len(d) for d in wire.values()]
    escalated = net.challenged in challenge.escalated
    cap_lengths = [args.blob_size] * challenge.max_per_shard * (4 if escalated else 1) * len(shards)
    return {
        "case": "escalated" if escalated else "plain",
        "n_shards": N_SHARDS,
        "nodes": N_NODES,
        "challenged_shards": len(shards),
        "eligible_blobs": args.blobs,
        "blob_size": args.blob_size,
        "sample_bps": challenge.sample_bps,
        "max_per_shard": challenge.max_per_shard,
        "entries": len(sample.entries),
        "symbol_size": config.symbol_size(args.blob_size),
        "bytes_per_peer": {"min": min(sizes), "max": max(sizes)},
        "total_bytes": sum(sizes),
        "total_mib": round(sum(sizes) / (1 << 20), 3),
        "bound_per_peer": response_size_bound(config, [args.blob_size] * len(sample.entries)),
        "sample_s": round(sample_s, 4),
        "build_s": round(build_s, 4),
        "verify_s": round(sum(per_peer), 4),
        "verify_per_peer_s": round(max(per_peer), 4),
        "challenged_pairs": len(pairs),
        "challenged_pairs_s": round(pairs_s, 4),
        "total_bytes_at_cap": len(peers) * response_size_bound(config, cap_lengths),
        "real_blobs": args.real,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blobs", type=int, default=1000)
    parser.add_argument("--blob-size", type=int, default=1 << 20)
    parser.add_argument("--bps", type=int, default=100)
    parser.add_argument("--max-per-shard", type=int, default=64)
    parser.add_argument("--real", type=int, default=4, help="blobs actually encoded")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    net = network(args)
    seed = challenge_seed(7, random.Random(7).randbytes(32))
    for escalated in (frozenset(), frozenset([net.challenged])):
        challenge = Challenge(Epoch(7), seed, args.bps, args.max_per_shard, escalated)
        print(json.dumps(measure(net, challenge, args)), flush=True)


if __name__ == "__main__":
    main()

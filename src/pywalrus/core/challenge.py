"""Storage challenges: the seed, the sample, the probe positions, and the proof of possession.

A pywalrus extension (upstream Walrus describes the challenge, §7.7 of the protocol page, but
has not shipped it). Everything here is pure and deterministic, so every node, given the same
`ChallengeStart` event and the same eligible blobs, computes the same samples and positions.

**Seed.** `challenge_seed(epoch, checkpoint)` = BLAKE2b-256(b"walrus-challenge" ‖ u32 LE epoch ‖
the 32-byte digest of the latest checkpoint before the chain's start transaction): no party
chooses it. It must also be unknown until the window opens: whoever learns the samples earlier
can fetch or recover exactly the sampled slivers in time.

**Eligible blobs** of epoch E (the caller supplies them; `is_eligible` states the rule): certified
in an epoch < E (so every honest node had at least the rest of an epoch to hold or sync them),
end epoch > E, not invalid, with a live registration — as of the `ChallengeStart` event. Every
blob has one sliver pair on every shard, so the list is the same for every shard; its order and
repeats do not matter (the sample is a function of the set).

**Sample.** For each shard s of the challenged node, score(b) = BLAKE2b-256(seed ‖ u16 LE s ‖
blob_id) and the k lowest scores are sampled, k = clamp(⌈|eligible|·bps/10 000⌉, 1,
max_per_shard) when anything is eligible (0 otherwise, and 0 at bps = 0, which disables
challenges); for a node that failed the previous epoch (listed as `escalated`) k is multiplied
by 4, still at most |eligible|. The sample digest is BLAKE2b-256 of the BCS vector of
(u16 shard, 32-byte blob ID) in (shard, blob ID) order; attestations sign it.

**Probe positions.** For a sampled (s, b), the challenged node X holds pair p = the pair of s for
b. A peer P picks its probe shard t = sorted(P's shards)[u256 LE of BLAKE2b-256(seed ‖ u16 LE s ‖
b ‖ P's node ID) mod |P's shards|], whose pair is q. X proves possession with the two recovery
symbols of §2.7 that meet P's pair: from its primary sliver p at position n−1−q (the symbol for
P's secondary sliver n−1−q) and from its secondary sliver n−1−p at position q (for P's primary
sliver q), each with the Merkle proof in X's expanded sliver.

**What must not be served during the window** (`challenged_pairs`). Each of those symbols is
also an element of P's own sliver pair q, so a node that kept only its Merkle trees could answer
by reading P's slivers of (t, b) with ordinary sliver reads. A node therefore serves, during the
window, no sliver and no recovery or decoding symbol taken from or targeting a pair on a
challenged (shard, blob): one in some node's sample or the probe pair of some sampled entry.
What stays open is reading whole blobs, which costs a cheater |blob| per sampled blob and epoch
instead of the sliver pair, (R + C)/(R·C) ≈ 4.5/n of |blob|, that an honest node keeps.

**Response** (`ChallengeResponse`, sent by X to each peer) and **verification**
(`verify_response`): the peer checks that the entries are exactly the sample it computes for X,
that every symbol sits at the derived position, and that every proof verifies against metadata it
holds; then it signs a `ChallengeAttestation` (`ChallengeSample.attestation`).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from hashlib import blake2b
from typing import Final, TypeAlias

from pywalrus.core.apportionment import U16_MAX, NodeId, check_node_id
from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.committee import Committee
from pywalrus.core.config import EncodingConfig
from pywalrus.core.errors import (
    BadProofError,
    BcsError,
    ChallengeError,
    EncodingError,
    EntryError,
    ExtraEntryError,
    InvalidSymbolError,
    MissingEntryError,
    MissingMetadataError,
    MissingSliverError,
    ResponseMismatchError,
    WrongBlobError,
    WrongPositionError,
)
from pywalrus.core.merkle import DIGEST_LEN, leaf_hash, proof_length
from pywalrus.core.messages import MAX_U32, ChallengeAttestation
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver
from pywalrus.core.symbols import GeneralRecoverySymbol, recovery_symbols_from_sliver
from pywalrus.core.types import (
    BLOB_ID_LENGTH,
    BlobId,
    Epoch,
    ShardIndex,
    SliverIndex,
    SliverPairIndex,
    SliverType,
)

SEED_DOMAIN: Final = b"walrus-challenge"
"""Prefix of the seed hash, so a seed is never another protocol hash."""
SEED_LENGTH: Final = 32
CHECKPOINT_DIGEST_LENGTH: Final = 32
BPS_DENOMINATOR: Final = 10_000
"""Sample rates are in basis points of the eligible blobs."""
ESCALATION_FACTOR: Final = 4
"""A node that failed the previous epoch's challenge is sampled this many times as heavily."""
DEFAULT_SAMPLE_BPS: Final = 100
"""1 % of the eligible blobs per shard (10 of 1,000): see `benchmarks/challenge.py`."""
DEFAULT_MAX_PER_SHARD: Final = 64
"""The per-shard cap of the sample (before escalation)."""
_SYMBOLS_PER_ENTRY: Final = 2
_MIN_SYMBOL_RECORD: Final = 7
"""The shortest GeneralRecoverySymbol: axis, index, empty data, target, empty proof."""
_MIN_ENTRY_LENGTH: Final = 2 + BLOB_ID_LENGTH + _SYMBOLS_PER_ENTRY * _MIN_SYMBOL_RECORD

SampleEntry: TypeAlias = tuple[ShardIndex, BlobId]
"""One sampled (shard of the challenged node, blob)."""
SliverSource: TypeAlias = (
    Callable[[ShardIndex, BlobId], tuple[Sliver, Sliver]]
    | Mapping[SampleEntry, tuple[Sliver, Sliver]]
)
"""(shard, blob) → the challenged node's (primary, secondary) slivers of that pair."""
MetadataSource: TypeAlias = Callable[[BlobId], BlobMetadata] | Mapping[BlobId, BlobMetadata]
"""blob ID → its metadata, already verified against the blob ID."""


def _entry_key(entry: SampleEntry) -> tuple[int, bytes]:
    return entry[0], entry[1].value


def _check_seed(seed: object) -> bytes:
    if not isinstance(seed, bytes) or len(seed) != SEED_LENGTH:
        raise ChallengeError(f"a challenge seed is {SEED_LENGTH} bytes")
    return seed


def _check_epoch(epoch: object) -> Epoch:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_U32:
        raise ChallengeError(f"epoch {epoch!r} is not a u32")
    return Epoch(epoch)


def _check_node(node_id: object) -> NodeId:
    try:
        return check_node_id(node_id)
    except ValueError as exc:
        raise ChallengeError(str(exc)) from None


def _check_shards(shards: Iterable[int], what: str) -> tuple[ShardIndex, ...]:
    out = tuple(shards)
    for shard in out:
        if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard <= U16_MAX:
            raise ChallengeError(f"{what}: shard index {shard!r} is not a u16")
    if len(set(out)) != len(out):
        raise ChallengeError(f"{what}: a shard is listed twice")
    return tuple(ShardIndex(s) for s in out)


def _hash(*parts: bytes) -> bytes:
    h = blake2b(digest_size=DIGEST_LEN)
    for part in parts:
        h.update(part)
    return h.digest()


def _u16(value: int) -> bytes:
    return value.to_bytes(2, "little")


# --------------------------------------------------------------------------------------------
# Seed, eligibility and sample


def challenge_seed(epoch: int, checkpoint_digest: bytes) -> bytes:
    """BLAKE2b-256(b"walrus-challenge" ‖ u32 LE epoch ‖ 32-byte checkpoint digest)."""
    epoch = _check_epoch(epoch)
    if not isinstance(checkpoint_digest, bytes) or len(checkpoint_digest) != (
        CHECKPOINT_DIGEST_LENGTH
    ):
        raise ChallengeError(f"a checkpoint digest is {CHECKPOINT_DIGEST_LENGTH} bytes")
    return _hash(SEED_DOMAIN, epoch.to_bytes(4, "little"), checkpoint_digest)


def is_eligible(
    epoch: int, *, certified_epoch: int | None, end_epoch: int, invalid: bool, registered: bool
) -> bool:
    """Whether a blob is challenged in `epoch`: certified before it, alive after it, valid, and
    still registered (evaluated as of the `ChallengeStart` event)."""
    return (
        certified_epoch is not None
        and certified_epoch < epoch < end_epoch
        and not invalid
        and registered
    )


def sample_size(
    n_eligible: int, sample_bps: int, max_per_shard: int, *, escalated: bool = False
) -> int:
    """k: how many blobs are sampled on each shard of a node."""
    if isinstance(n_eligible, bool) or not isinstance(n_eligible, int) or n_eligible < 0:
        raise ChallengeError(f"the number of eligible blobs must be ≥ 0, got {n_eligible!r}")
    if (
        isinstance(sample_bps, bool)
        or not isinstance(sample_bps, int)
        or not 0 <= sample_bps <= BPS_DENOMINATOR
    ):
        raise ChallengeError(f"a sample rate is 0 to {BPS_DENOMINATOR} bps, got {sample_bps!r}")
    if (
        isinstance(max_per_shard, bool)
        or not isinstance(max_per_shard, int)
        or not 1 <= max_per_shard <= U16_MAX
    ):
        raise ChallengeError(f"max_per_shard must be 1 to {U16_MAX}, got {max_per_shard!r}")
    if n_eligible == 0 or sample_bps == 0:
        return 0
    rate = -(-n_eligible * sample_bps // BPS_DENOMINATOR)  # ⌈·⌉ in integers
    k = min(max(rate, 1), max_per_shard)
    return min(k * ESCALATION_FACTOR, n_eligible) if escalated else k


def blob_score(seed: bytes, shard: int, blob_id: BlobId) -> bytes:
    """BLAKE2b-256(seed ‖ u16 LE shard ‖ blob ID); the lowest scores of a shard are sampled."""
    return _hash(seed, _u16(shard), blob_id.value)


def shard_sample(seed: bytes, shard: int, eligible: Iterable[BlobId], k: int) -> list[BlobId]:
    """The k eligible blobs with the lowest scores on `shard`, lowest first."""
    prefix = blake2b(seed + _u16(shard), digest_size=DIGEST_LEN)  # `blob_score`, hashed once

    def scored(blob_id: BlobId) -> tuple[bytes, bytes, BlobId]:
        h = prefix.copy()
        h.update(blob_id.value)
        return h.digest(), blob_id.value, blob_id

    return [b for _, _, b in heapq.nsmallest(k, map(scored, set(eligible)))]


def sample_digest(entries: Sequence[SampleEntry]) -> bytes:
    """BLAKE2b-256 of BCS `vector<(u16, [u8; 32])>` of the entries in (shard, blob ID) order."""
    writer = BcsWriter().uleb128(len(entries))
    for shard, blob_id in sorted(entries, key=_entry_key):
        writer.u16(shard).fixed_bytes(blob_id.value)
    return _hash(writer.finish())


@dataclass(frozen=True, slots=True)
class Challenge:
    """One epoch's challenge, as the `ChallengeStart` event announces it."""

    epoch: Epoch
    """The challenged epoch (u32)."""
    seed: bytes
    """`challenge_seed(epoch, checkpoint)` (32 bytes)."""
    sample_bps: int = DEFAULT_SAMPLE_BPS
    """Blobs sampled per shard, in basis points of the eligible blobs (0 … 10 000)."""
    max_per_shard: int = DEFAULT_MAX_PER_SHARD
    """Cap on the per-shard sample before escalation (1 … 65 535)."""
    escalated: frozenset[NodeId] = frozenset()
    """Nodes that failed the previous epoch: sampled `ESCALATION_FACTOR` times as heavily."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)
        _check_seed(self.seed)
        sample_size(0, self.sample_bps, self.max_per_shard)
        object.__setattr__(self, "escalated", frozenset(map(_check_node, self.escalated)))

    def sample_size(self, node_id: NodeId, n_eligible: int) -> int:
        return sample_size(
            n_eligible, self.sample_bps, self.max_per_shard, escalated=node_id in self.escalated
        )

    def sample(
        self, node_id: NodeId, shards: Iterable[int], eligible: Iterable[BlobId]
    ) -> ChallengeSample:
        """The sample of the node holding `shards`: on each shard its k lowest-scoring blobs."""
        node_id = _check_node(node_id)
        shard_list = _check_shards(shards, f"node {node_id.hex()}")
        blobs = set(eligible)
        k = self.sample_size(node_id, len(blobs))
        entries = [(s, b) for s in shard_list for b in shard_sample(self.seed, s, blobs, k)]
        return ChallengeSample(self.epoch, self.seed, node_id, tuple(entries))


@dataclass(frozen=True, slots=True)
class ChallengeSample:
    """What one node must prove it holds in one epoch's challenge."""

    epoch: Epoch
    """The challenged epoch."""
    seed: bytes
    """The epoch's challenge seed."""
    node_id: NodeId
    """The challenged node."""
    entries: tuple[SampleEntry, ...]
    """Sampled (shard, blob) in (shard, blob ID) order (sorted on construction)."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)
        _check_seed(self.seed)
        _check_node(self.node_id)
        entries = tuple(sorted(self.entries, key=_entry_key))
        _check_shards({s for s, _ in entries}, "a challenge sample")
        if any(_entry_key(a) == _entry_key(b) for a, b in itertools.pairwise(entries)):
            raise ChallengeError("a challenge sample lists an entry twice")
        object.__setattr__(self, "entries", entries)

    @property
    def digest(self) -> bytes:
        return sample_digest(self.entries)

    def attestation(self) -> ChallengeAttestation:
        """The message a peer signs once this sample is proven to it."""
        return ChallengeAttestation(self.epoch, self.node_id, self.seed, self.digest)


def challenged_pairs(
    challenge: Challenge, committee: Committee, eligible: Iterable[BlobId], config: EncodingConfig
) -> frozenset[SampleEntry]:
    """Every (shard, blob) whose sliver pair is not served during the window.

    The sampled entries of every committee member and, for each, the probe pair of every other
    member that holds shards (see the module docstring for why the probe pairs are included).
    """
    blobs = set(eligible)
    members = [(node, shards) for node, shards in committee.members if shards]
    out: set[SampleEntry] = set()
    for node_id, shards in members:
        sample = challenge.sample(node_id, shards, blobs)
        out.update(sample.entries)
        for peer_id, peer_shards in members:
            if peer_id != node_id:
                out.update(
                    (p.peer_shard, p.blob_id)
                    for p in probe_positions(sample, peer_id, peer_shards, config)
                )
    return frozenset(out)


# --------------------------------------------------------------------------------------------
# Probe positions


@dataclass(frozen=True, slots=True)
class ProbePosition:
    """Where one sampled entry meets one peer: the pairs and the two symbols' positions."""

    shard: ShardIndex
    """s: the challenged node's shard."""
    blob_id: BlobId
    """b: the sampled blob."""
    pair: SliverPairIndex
    """p: the pair shard s holds for b."""
    peer_shard: ShardIndex
    """t: the peer's probe shard for (s, b)."""
    peer_pair: SliverPairIndex
    """q: the pair shard t holds for b."""
    primary_source: SliverIndex
    """p: the challenged node's primary sliver, source of the first symbol."""
    secondary_target: SliverIndex
    """n−1−q: the peer's secondary sliver, the first symbol's position."""
    secondary_source: SliverIndex
    """n−1−p: the challenged node's secondary sliver, source of the second symbol."""
    primary_target: SliverIndex
    """q: the peer's primary sliver, the second symbol's position."""

    @property
    def entry(self) -> SampleEntry:
        return self.shard, self.blob_id


def probe_shard(
    seed: bytes, shard: int, blob_id: BlobId, peer_id: NodeId, peer_shards: Iterable[int]
) -> ShardIndex:
    """t = sorted(peer shards)[u256 LE of BLAKE2b-256(seed ‖ u16 LE s ‖ b ‖ peer ID) mod count]."""
    ordered = sorted(peer_shards)
    if not ordered:
        raise ChallengeError(f"peer {peer_id.hex()} holds no shards and cannot be probed")
    draw = int.from_bytes(_hash(seed, _u16(shard), blob_id.value, peer_id), "little")
    return ShardIndex(ordered[draw % len(ordered)])


def probe_position(
    seed: bytes,
    entry: SampleEntry,
    peer_id: NodeId,
    peer_shards: Sequence[int],
    config: EncodingConfig,
) -> ProbePosition:
    shard, blob_id = entry
    try:
        pair = config.pair_for_shard(shard, blob_id)
        peer_shard = probe_shard(seed, shard, blob_id, peer_id, peer_shards)
        peer_pair = config.pair_for_shard(peer_shard, blob_id)
    except EncodingError as exc:
        raise ChallengeError(f"{EntryError.describe(entry)}: {exc}") from None
    return ProbePosition(
        shard,
        blob_id,
        pair,
        peer_shard,
        peer_pair,
        config.sliver_index(SliverType.PRIMARY, pair),
        config.sliver_index(SliverType.SECONDARY, peer_pair),
        config.sliver_index(SliverType.SECONDARY, pair),
        config.sliver_index(SliverType.PRIMARY, peer_pair),
    )


def probe_positions(
    sample: ChallengeSample, peer_id: NodeId, peer_shards: Iterable[int], config: EncodingConfig
) -> tuple[ProbePosition, ...]:
    """The positions `peer_id` probes, one per sampled entry, in sample order."""
    peer_id = _check_node(peer_id)
    if peer_id == sample.node_id:
        raise ChallengeError("a node does not probe itself")
    shards = _check_shards(peer_shards, f"peer {peer_id.hex()}")
    if set(shards) & {s for s, _ in sample.entries}:
        raise ChallengeError(f"peer {peer_id.hex()} shares a shard with the challenged node")
    return tuple(probe_position(sample.seed, e, peer_id, shards, config) for e in sample.entries)


# --------------------------------------------------------------------------------------------
# The response


@dataclass(frozen=True, slots=True)
class ChallengeEntry:
    """The two symbols that prove one sampled entry to one peer."""

    shard: ShardIndex
    """The challenged node's shard (u16)."""
    blob_id: BlobId
    """The sampled blob."""
    to_secondary: GeneralRecoverySymbol
    """From the challenged node's primary sliver p, for the peer's secondary sliver n−1−q."""
    to_primary: GeneralRecoverySymbol
    """From the challenged node's secondary sliver n−1−p, for the peer's primary sliver q."""

    @property
    def entry(self) -> SampleEntry:
        return self.shard, self.blob_id

    def write(self, writer: BcsWriter) -> None:
        writer.u16(self.shard).fixed_bytes(self.blob_id.value)
        self.to_secondary.write(writer)
        self.to_primary.write(writer)

    @classmethod
    def read(cls, reader: BcsReader) -> ChallengeEntry:
        shard = ShardIndex(reader.u16())
        blob_id = BlobId(reader.fixed_bytes(BLOB_ID_LENGTH))
        first = GeneralRecoverySymbol.read(reader)
        return cls(shard, blob_id, first, GeneralRecoverySymbol.read(reader))


@dataclass(frozen=True, slots=True)
class ChallengeResponse:
    """A challenged node's proof of possession, sent to one peer (a pywalrus wire record).

    BCS: epoch u32 ‖ challenged node ID (32 bytes) ‖ seed (32 bytes) ‖ ULEB128 entry count ‖
    per entry, in strictly increasing (shard, blob ID) order: shard u16 ‖ blob ID (32 bytes) ‖
    the `GeneralRecoverySymbol` for the peer's secondary sliver ‖ the one for its primary sliver
    (each: axis u8 ‖ source sliver index u16 ‖ `vector<u8>` symbol ‖ target index u16 ‖
    ULEB128 node count ‖ Merkle nodes, 0x00 Empty or 0x01 ‖ 32-byte digest). Nothing in it is
    trusted: `verify_response` checks it against the sample the peer computes itself.
    """

    epoch: Epoch
    """The challenged epoch (u32)."""
    node_id: NodeId
    """The challenged node (the sender)."""
    seed: bytes
    """The epoch's challenge seed."""
    entries: tuple[ChallengeEntry, ...] = ()
    """One per sampled entry, in (shard, blob ID) order."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)
        _check_node(self.node_id)
        _check_seed(self.seed)
        keys = [_entry_key(e.entry) for e in self.entries]
        if any(a >= b for a, b in itertools.pairwise(keys)):
            raise ChallengeError(
                "challenge response entries must be in strictly increasing (shard, blob ID) order"
            )

    def to_bcs(self) -> bytes:
        writer = BcsWriter().u32(self.epoch).fixed_bytes(self.node_id).fixed_bytes(self.seed)
        writer.uleb128(len(self.entries))
        for entry in self.entries:
            entry.write(writer)
        return writer.finish()

    @classmethod
    def from_bcs(cls, data: bytes, *, max_entries: int | None = None) -> ChallengeResponse:
        """Parse strictly; refuse a count above `max_entries` or the bytes before reading it."""
        reader = BcsReader(data, "challenge response")
        try:
            epoch = Epoch(reader.u32())
            node_id = reader.fixed_bytes(32)
            seed = reader.fixed_bytes(SEED_LENGTH)
            count = reader.uleb128()
            if max_entries is not None and count > max_entries:
                raise BcsError(
                    f"challenge response announces {count} entries, at most {max_entries} expected"
                )
            if count > reader.remaining // _MIN_ENTRY_LENGTH:
                raise BcsError(
                    f"truncated challenge response: {count} entries announced "
                    f"in {reader.remaining} bytes"
                )
            entries = tuple(ChallengeEntry.read(reader) for _ in range(count))
            reader.finish()
            return cls(epoch, node_id, seed, entries)
        except ChallengeError as exc:
            raise BcsError(f"challenge response: {exc}") from None


def response_size_bound(config: EncodingConfig, unencoded_lengths: Iterable[int]) -> int:
    """Bytes of a `ChallengeResponse` with one entry per blob of the given lengths.

    Exact when no Merkle proof holds an Empty node (padding of odd levels, 1 byte instead of
    33), so an upper bound in general; the size does not depend on the peer.
    """
    depth = proof_length(config.n_shards)
    proof = _uleb128_length(depth) + depth * (1 + DIGEST_LEN)
    total = count = 0
    for length in unencoded_lengths:
        s = config.symbol_size(length)
        symbol = 1 + 2 + _uleb128_length(s) + s + 2 + proof
        total += 2 + BLOB_ID_LENGTH + _SYMBOLS_PER_ENTRY * symbol
        count += 1
    return 4 + 32 + SEED_LENGTH + _uleb128_length(count) + total


def _uleb128_length(value: int) -> int:
    return max(1, -(-value.bit_length() // 7))


# --------------------------------------------------------------------------------------------
# Building and verifying responses


def _lookup_slivers(slivers: SliverSource, entry: SampleEntry) -> tuple[Sliver, Sliver]:
    try:
        if isinstance(slivers, Mapping):
            return slivers[entry]
        return slivers(*entry)
    except KeyError:
        raise MissingSliverError(f"{EntryError.describe(entry)}: no sliver pair held") from None


def build_responses(
    sample: ChallengeSample,
    peers: Mapping[NodeId, Sequence[int]],
    slivers: SliverSource,
    config: EncodingConfig,
) -> dict[NodeId, ChallengeResponse]:
    """The challenged node's response to each peer (node ID → shards), from its own slivers.

    Each sliver is expanded once for all peers. The slivers are not re-verified (the node did
    when storing them); a sliver of the wrong axis or index is refused as a caller error.
    """
    positions = {
        peer: probe_positions(sample, peer, shards, config) for peer, shards in peers.items()
    }
    entries: dict[NodeId, list[ChallengeEntry]] = {peer: [] for peer in peers}
    for i, entry in enumerate(sample.entries if peers else ()):
        primary, secondary = _lookup_slivers(slivers, entry)
        probes = [positions[peer][i] for peer in peers]
        _check_sliver(primary, SliverType.PRIMARY, probes[0].primary_source, entry)
        _check_sliver(secondary, SliverType.SECONDARY, probes[0].secondary_source, entry)
        to_secondary = recovery_symbols_from_sliver(
            primary, [p.secondary_target for p in probes], config
        )
        to_primary = recovery_symbols_from_sliver(
            secondary, [p.primary_target for p in probes], config
        )
        for peer, a, b in zip(peers, to_secondary, to_primary, strict=True):
            entries[peer].append(ChallengeEntry(entry[0], entry[1], a, b))
    return {
        peer: ChallengeResponse(sample.epoch, sample.node_id, sample.seed, tuple(items))
        for peer, items in entries.items()
    }


def build_response(
    sample: ChallengeSample,
    peer_id: NodeId,
    peer_shards: Sequence[int],
    slivers: SliverSource,
    config: EncodingConfig,
) -> ChallengeResponse:
    """The challenged node's response to one peer."""
    return build_responses(sample, {peer_id: peer_shards}, slivers, config)[peer_id]


def _check_sliver(sliver: Sliver, axis: SliverType, index: int, entry: SampleEntry) -> None:
    if not isinstance(sliver, Sliver) or sliver.axis is not axis or sliver.index != index:
        raise ChallengeError(
            f"{EntryError.describe(entry)}: expected {axis.label} sliver {index}, "
            f"got {sliver!r:.80}"
        )


def verify_response(
    response: ChallengeResponse,
    expected: ChallengeSample,
    peer_id: NodeId,
    peer_shards: Sequence[int],
    metadata: MetadataSource,
    config: EncodingConfig,
) -> None:
    """Check `response` proves `expected` to the peer `peer_id`; raise on the first bad entry.

    `expected` is the sample the peer computed itself for the challenged node; `metadata` must
    give metadata already verified against each blob ID (`MissingMetadataError` if it has
    none). Raises `ResponseMismatchError`, `MissingEntryError`, `ExtraEntryError`,
    `WrongPositionError`, `BadProofError` or `WrongBlobError`, all `VerificationError`s.
    """
    for what, got, want in (
        ("epoch", response.epoch, expected.epoch),
        ("node", response.node_id, expected.node_id),
        ("seed", response.seed, expected.seed),
    ):
        if got != want:
            raise ResponseMismatchError(
                f"challenge response for {what} {_show(got)}, expected {_show(want)}"
            )
    _check_entry_set([e.entry for e in response.entries], expected.entries)
    probes = probe_positions(expected, peer_id, peer_shards, config)
    lookup = _MetadataLookup(metadata, expected, config)
    for entry, probe in zip(response.entries, probes, strict=True):
        blob_metadata = lookup(entry.blob_id)
        for symbol, axis, source, target in (
            (
                entry.to_secondary,
                SliverType.SECONDARY,
                probe.primary_source,
                probe.secondary_target,
            ),
            (entry.to_primary, SliverType.PRIMARY, probe.secondary_source, probe.primary_target),
        ):
            _check_position(entry.entry, symbol, axis, source, target)
            try:
                symbol.verify(blob_metadata, config)
            except InvalidSymbolError as exc:
                other = lookup.owner_of(symbol, config)
                if other is not None and other != entry.blob_id:
                    raise WrongBlobError(
                        entry.entry,
                        f"the symbol for the {axis.label} sliver {target} proves against "
                        f"blob {other}",
                    ) from None
                raise BadProofError(entry.entry, str(exc)) from None


def _show(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def _check_entry_set(got: Sequence[SampleEntry], want: Sequence[SampleEntry]) -> None:
    """Name the first entry (in sample order) that is missing or extra; both lists are sorted."""
    for have, need in zip(got, want, strict=False):
        if have != need:
            if _entry_key(have) < _entry_key(need):
                raise ExtraEntryError(have, "not in the sample")
            raise MissingEntryError(need, "missing from the response")
    if len(got) > len(want):
        raise ExtraEntryError(got[len(want)], "not in the sample")
    if len(got) < len(want):
        raise MissingEntryError(want[len(got)], "missing from the response")


def _check_position(
    entry: SampleEntry, symbol: GeneralRecoverySymbol, axis: SliverType, source: int, target: int
) -> None:
    actual = (symbol.target_axis, symbol.symbol.index, symbol.target_index)
    if actual != (axis, source, target):
        raise WrongPositionError(
            entry,
            f"expected the symbol of {axis.orthogonal.label} sliver {source} for {axis.label} "
            f"sliver {target}, got the symbol of {symbol.target_axis.orthogonal.label} sliver "
            f"{symbol.symbol.index} for {symbol.target_axis.label} sliver {symbol.target_index}",
        )


class _MetadataLookup:
    """Metadata of the sampled blobs, fetched once each, and (on failures) who owns a root."""

    def __init__(
        self, source: MetadataSource, sample: ChallengeSample, config: EncodingConfig
    ) -> None:
        self._source = source
        self._n_shards = config.n_shards
        self._blobs = sorted({b for _, b in sample.entries}, key=lambda b: b.value)
        self._cache: dict[BlobId, BlobMetadata] = {}
        self._owners: dict[bytes, BlobId] | None = None

    def __call__(self, blob_id: BlobId) -> BlobMetadata:
        found = self._cache.get(blob_id)
        if found is None:
            try:
                if isinstance(self._source, Mapping):
                    found = self._source[blob_id]
                else:
                    found = self._source(blob_id)
            except KeyError:
                raise MissingMetadataError(f"no metadata for sampled blob {blob_id}") from None
            if found.n_shards != self._n_shards:
                raise MissingMetadataError(
                    f"the metadata of sampled blob {blob_id} has {found.n_shards} sliver pairs, "
                    f"expected {self._n_shards}"
                )
            self._cache[blob_id] = found
        return found

    def owner_of(self, symbol: GeneralRecoverySymbol, config: EncodingConfig) -> BlobId | None:
        """The sampled blob one of whose sliver hashes the symbol's proof leads to, if any."""
        if self._owners is None:
            self._owners = {}
            for blob_id in self._blobs:
                for pair in self(blob_id).hashes:
                    self._owners.setdefault(pair.primary_hash, blob_id)
                    self._owners.setdefault(pair.secondary_hash, blob_id)
        if not 0 <= symbol.target_index < config.n_shards:
            return None
        root = symbol.proof.compute_root(symbol.target_index, leaf_hash(symbol.symbol.data))
        return self._owners.get(root)

"""Storage challenges (core): seed, sample, probe positions, responses and attestations.

Known answers were computed once with `pywalrus.core.challenge` and are re-derived in each test
by a separate, straightforward hashlib computation of the documented formula, so a constant
can only pass if both agree. Properties run on real slivers of real encoded blobs (n = 4, 7,
10, and one case at n = 100).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import pickle
import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pywalrus.core.apportionment import NodeId, apportionment
from pywalrus.core.bcs import BcsWriter
from pywalrus.core.challenge import (
    DEFAULT_MAX_PER_SHARD,
    DEFAULT_SAMPLE_BPS,
    Challenge,
    ChallengeEntry,
    ChallengeResponse,
    ChallengeSample,
    SampleEntry,
    blob_score,
    build_response,
    build_responses,
    challenge_seed,
    challenged_pairs,
    is_eligible,
    probe_positions,
    response_size_bound,
    sample_digest,
    sample_size,
    verify_response,
)
from pywalrus.core.committee import Committee, initial_committee
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.encoding import EncodedBlob, encode_blob
from pywalrus.core.errors import (
    BadProofError,
    BcsError,
    ChallengeError,
    ChallengeVerificationError,
    ExtraEntryError,
    InvalidSignatureError,
    MessageError,
    MessageMismatchError,
    MissingEntryError,
    MissingMetadataError,
    MissingSliverError,
    ResponseMismatchError,
    VerificationError,
    WrongBlobError,
    WrongPositionError,
)
from pywalrus.core.merkle import MerkleProof
from pywalrus.core.messages import ChallengeAttestation, IntentType, SignedMessage, parse_message
from pywalrus.core.slivers import Sliver, expand
from pywalrus.core.symbols import (
    DecodingSymbol,
    GeneralRecoverySymbol,
    recovery_symbols_from_sliver,
)
from pywalrus.core.types import BlobId, Epoch, ShardIndex

SMALL_N = (4, 7, 10)
BLOB_SIZES = (1, 90, 700, 2_500, 4_000, 6_100)
"""Different symbol sizes, so that a symbol of another blob may also differ in length."""

property_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _blake(*parts: bytes) -> bytes:
    return hashlib.blake2b(b"".join(parts), digest_size=32).digest()


@functools.cache
def pool(n: int) -> tuple[EncodedBlob, ...]:
    """Real encoded blobs, shared by every example at this shard count."""
    config = EncodingConfig(n)
    rng = random.Random(n)
    return tuple(encode_blob(rng.randbytes(size), config) for size in BLOB_SIZES)


@dataclass(frozen=True)
class World:
    """A committee, a challenge and real blobs: everything a node knows when a challenge starts."""

    config: EncodingConfig
    committee: Committee
    challenge: Challenge
    blobs: dict[BlobId, EncodedBlob]
    node_id: NodeId
    """The challenged node."""

    @property
    def eligible(self) -> list[BlobId]:
        return list(self.blobs)

    @property
    def peers(self) -> dict[NodeId, tuple[ShardIndex, ...]]:
        return {
            node: shards
            for node, shards in self.committee.members
            if node != self.node_id and shards
        }

    def sample(self) -> ChallengeSample:
        return self.challenge.sample(
            self.node_id, self.committee.shards(self.node_id), self.eligible
        )

    def slivers(self, shard: ShardIndex, blob_id: BlobId) -> tuple[Sliver, Sliver]:
        return self.blobs[blob_id].sliver_pair(self.config.pair_for_shard(shard, blob_id))

    def verify(self, response: ChallengeResponse, peer: NodeId) -> None:
        verify_response(
            response,
            self.sample(),
            peer,
            self.committee.shards(peer),
            {b: e.metadata for b, e in self.blobs.items()},
            self.config,
        )


@st.composite
def committees(draw: st.DrawFn, n: int, max_nodes: int = 5) -> Committee:
    """n shards split in random groups over 2 … max_nodes nodes with random IDs."""
    m = draw(st.integers(2, min(n, max_nodes)))
    ids = draw(st.lists(st.binary(min_size=32, max_size=32), min_size=m, max_size=m, unique=True))
    order = draw(st.permutations(range(n)))
    cuts = sorted(
        draw(st.lists(st.integers(1, n - 1), min_size=m - 1, max_size=m - 1, unique=True))
    )
    groups = [order[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    return Committee.from_mapping(dict(zip(ids, groups, strict=True)))


@st.composite
def worlds(draw: st.DrawFn, *, min_blobs: int = 1, full_rate: bool = False) -> World:
    n = draw(st.sampled_from(SMALL_N))
    config = EncodingConfig(n)
    committee = draw(committees(n))
    encoded = pool(n)
    chosen = draw(st.lists(st.sampled_from(range(len(encoded))), min_size=min_blobs, unique=True))
    blobs = {encoded[i].blob_id: encoded[i] for i in chosen}
    node_id = draw(st.sampled_from(committee.node_ids))
    challenge = Challenge(
        Epoch(draw(st.integers(0, 2**32 - 1))),
        draw(st.binary(min_size=32, max_size=32)),
        sample_bps=10_000 if full_rate else draw(st.integers(1, 10_000)),
        max_per_shard=draw(st.integers(2 if full_rate else 1, 4)),
        escalated=frozenset([node_id]) if draw(st.booleans()) else frozenset(),
    )
    return World(config, committee, challenge, blobs, node_id)


def _response(world: World, peer: NodeId) -> ChallengeResponse:
    return build_response(
        world.sample(), peer, world.committee.shards(peer), world.slivers, world.config
    )


def _draw_answer(world: World, data: st.DataObject) -> tuple[NodeId, ChallengeResponse, int]:
    """A peer, the true response to it, and the index of one of its entries."""
    peer = data.draw(st.sampled_from(list(world.peers)))
    response = _response(world, peer)
    return peer, response, data.draw(st.integers(0, len(response.entries) - 1))


def _replace_entry(response: ChallengeResponse, index: int, **changes: object) -> ChallengeResponse:
    entries = list(response.entries)
    entries[index] = dataclasses.replace(entries[index], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(response, entries=tuple(entries))


# --- known answers ----------------------------------------------------------------------------

SEED_7 = bytes.fromhex("8dfb774d0892750078e3636d986c6ecba5c08681d8c2df3c91ace88ea728f4e7")
"""challenge_seed(7, bytes(range(32)))."""


def test_seed_known_answer() -> None:
    checkpoint = bytes(range(32))
    assert challenge_seed(7, checkpoint) == SEED_7
    assert _blake(b"walrus-challenge", (7).to_bytes(4, "little"), checkpoint) == SEED_7
    top = challenge_seed(2**32 - 1, checkpoint)
    assert top == _blake(b"walrus-challenge", b"\xff\xff\xff\xff", checkpoint)
    assert len({challenge_seed(e, checkpoint) for e in range(50)}) == 50
    assert challenge_seed(7, bytes(32)) != SEED_7


@pytest.mark.parametrize(
    ("epoch", "digest", "problem"),
    [(-1, bytes(32), "u32"), (2**32, bytes(32), "u32"), (1, bytes(31), "32 bytes")],
)
def test_seed_refuses_bad_input(epoch: int, digest: bytes, problem: str) -> None:
    with pytest.raises(ChallengeError, match=problem):
        challenge_seed(epoch, digest)


def test_sample_digest_known_answer() -> None:
    b1, b2 = BlobId(bytes(range(32))), BlobId(bytes(range(32, 64)))
    entries = [(ShardIndex(3), b2), (ShardIndex(0), b1), (ShardIndex(3), b1)]
    digest = sample_digest(entries)
    assert digest.hex() == "a784c026b19f9c99e5cca784bd96cf40632e742b982767074fa5b8395656a5a8"
    # BCS vector<(u16, [u8; 32])> in (shard, blob ID) order, written out by hand.
    by_hand = b"\x03" + b"\x00\x00" + b1.value + b"\x03\x00" + b1.value + b"\x03\x00" + b2.value
    assert digest == _blake(by_hand)
    assert sample_digest([]) == _blake(b"\x00")


def test_sample_known_answer() -> None:
    eligible = [BlobId(_blake(bytes([i]))) for i in range(20)]
    sample = Challenge(Epoch(7), SEED_7, sample_bps=1000, max_per_shard=64).sample(
        bytes([1]) * 32, [5, 2], eligible
    )

    # 20 blobs at 10 %: k = 2 per shard, the two lowest BLAKE2b(seed ‖ u16 s ‖ blob ID).
    def lowest_two(shard: int) -> list[BlobId]:
        def score(b: BlobId) -> bytes:
            return _blake(SEED_7, shard.to_bytes(2, "little"), b.value)

        return sorted(eligible, key=score)[:2]

    # Listed in (shard, blob ID) order.
    expected = [(s, b) for s in (2, 5) for b in sorted(lowest_two(s), key=lambda b: b.value)]
    assert list(sample.entries) == expected
    assert [str(b) for _, b in sample.entries] == [
        "hz5P6eQekkkRu6PsU_9Hgu_IwPJE-3XIefikMo0BQso",
        "uzCkLB5i8K_aXwpOilYvehOiTOoA7oGRe4a4noATFKo",
        "lrXxVLCvxixqkddW7jHfwhnXbAjr0wNBwZjnsiUzdF4",
        "6IvXV61bm-3zctjT8M9slipGnbYaJl9kGOH_7YbaKew",
    ]
    assert sample.digest.hex() == (
        "0a1c90fd84e9b8815d1f4da4f02ff27880bb6527059954468b86e96975d94b22"
    )


def test_probe_positions_follow_the_formula() -> None:
    n = 10
    config = EncodingConfig(n)
    eligible = [BlobId(_blake(bytes([i]))) for i in range(12)]
    challenged, peer = bytes([1]) * 32, bytes([2]) * 32
    # Not sorted: the draw indexes the sorted list. Seven shards, as 256 ≡ 1 (mod 3 and 5)
    # would hide the byte order of the draw.
    peer_shards = [9, 3, 6, 1, 7, 5, 8]
    sample = Challenge(Epoch(3), SEED_7, sample_bps=2500).sample(challenged, [0, 4], eligible)
    probes = probe_positions(sample, peer, peer_shards, config)
    assert len(probes) == len(sample.entries) == 6
    for probe, (shard, blob_id) in zip(probes, sample.entries, strict=True):
        rotation = int.from_bytes(blob_id.value, "big") % n
        draw = _blake(SEED_7, shard.to_bytes(2, "little"), blob_id.value, peer)
        t = [1, 3, 5, 6, 7, 8, 9][int.from_bytes(draw, "little") % 7]
        p, q = (shard - rotation) % n, (t - rotation) % n
        assert (probe.shard, probe.blob_id, probe.pair) == (shard, blob_id, p)
        assert (probe.peer_shard, probe.peer_pair) == (t, q)
        assert (probe.primary_source, probe.secondary_target) == (p, n - 1 - q)
        assert (probe.secondary_source, probe.primary_target) == (n - 1 - p, q)


@pytest.mark.parametrize(
    ("n_eligible", "bps", "cap", "plain", "escalated"),
    [
        (0, 100, 64, 0, 0),
        (1, 100, 64, 1, 1),
        (1000, 100, 64, 10, 40),
        (1001, 100, 64, 11, 44),
        (10_000, 100, 64, 64, 256),
        (3, 10_000, 64, 3, 3),
        (10, 5000, 64, 5, 10),
        (1000, 0, 64, 0, 0),
    ],
)
def test_sample_size_table(n_eligible: int, bps: int, cap: int, plain: int, escalated: int) -> None:
    assert sample_size(n_eligible, bps, cap) == plain
    assert sample_size(n_eligible, bps, cap, escalated=True) == escalated


@given(
    n_eligible=st.integers(0, 10**7),
    bps=st.integers(0, 10_000),
    cap=st.integers(1, 65_535),
    escalated=st.booleans(),
)
def test_sample_size_is_the_clamped_ceiling(
    n_eligible: int, bps: int, cap: int, escalated: bool
) -> None:
    k = (
        0
        if n_eligible == 0 or bps == 0
        else min(max(math.ceil(Fraction(n_eligible * bps, 10_000)), 1), cap)
    )
    expected = min(4 * k, n_eligible) if escalated else k
    assert sample_size(n_eligible, bps, cap, escalated=escalated) == expected


def test_default_rate() -> None:
    assert (DEFAULT_SAMPLE_BPS, DEFAULT_MAX_PER_SHARD) == (100, 64)
    assert Challenge(Epoch(1), SEED_7).sample_size(bytes(32), 1000) == 10


@pytest.mark.parametrize(
    "build",
    [
        lambda: sample_size(-1, 100, 64),
        lambda: sample_size(10, 10_001, 64),
        lambda: sample_size(10, 100, 0),
        lambda: sample_size(10, 100, 65_536),
        lambda: Challenge(Epoch(1), bytes(31)),
        lambda: Challenge(Epoch(2**32), SEED_7),
        lambda: Challenge(Epoch(1), SEED_7, escalated=frozenset([b"short"])),
        lambda: Challenge(Epoch(1), SEED_7).sample(bytes(32), [1, 1], []),
        lambda: Challenge(Epoch(1), SEED_7).sample(bytes(32), [70_000], []),
    ],
)
def test_challenge_parameters_are_checked(build: Callable[[], object]) -> None:
    with pytest.raises(ChallengeError):
        build()


def test_eligibility_rule() -> None:
    def eligible(**changes: object) -> bool:
        fields: dict[str, object] = {
            "certified_epoch": 4,
            "end_epoch": 7,
            "invalid": False,
            "registered": True,
        }
        fields.update(changes)
        return is_eligible(5, **fields)  # type: ignore[arg-type]

    assert eligible()
    assert not eligible(certified_epoch=5)  # certified in the challenged epoch itself
    assert not eligible(certified_epoch=None)
    assert not eligible(end_epoch=5)
    assert eligible(end_epoch=6)
    assert not eligible(invalid=True)
    assert not eligible(registered=False)


# --- sample properties ------------------------------------------------------------------------


@property_settings
@given(world=worlds(), data=st.data())
def test_every_node_computes_the_same_sample(world: World, data: st.DataObject) -> None:
    sample = world.sample()
    shuffled = data.draw(st.permutations(world.eligible + world.eligible[:2]))
    shards = data.draw(st.permutations(world.committee.shards(world.node_id)))
    again = Challenge(
        world.challenge.epoch,
        world.challenge.seed,
        world.challenge.sample_bps,
        world.challenge.max_per_shard,
        world.challenge.escalated,
    ).sample(world.node_id, shards, shuffled)
    assert again == sample
    assert again.digest == sample.digest
    assert list(sample.entries) == sorted(sample.entries, key=lambda e: (e[0], e[1].value))


@property_settings
@given(world=worlds())
def test_sample_bounds_and_lowest_scores(world: World) -> None:
    sample = world.sample()
    challenge = world.challenge
    n_eligible = len(world.eligible)
    escalated = world.node_id in challenge.escalated
    k = sample_size(n_eligible, challenge.sample_bps, challenge.max_per_shard)
    expected_k = min(4 * k, n_eligible) if escalated else k
    assert 1 <= k <= min(challenge.max_per_shard, n_eligible)
    # k = ⌈N·bps/10 000⌉ unless clamped to 1 from below or to the cap from above.
    assert k * 10_000 >= n_eligible * challenge.sample_bps or k == challenge.max_per_shard
    assert (k - 1) * 10_000 < n_eligible * challenge.sample_bps or k == 1
    for shard in world.committee.shards(world.node_id):
        chosen = [b for s, b in sample.entries if s == shard]
        assert len(chosen) == expected_k
        rest = [b for b in world.eligible if b not in chosen]
        highest = max(blob_score(challenge.seed, shard, b) for b in chosen)
        assert all(blob_score(challenge.seed, shard, b) > highest for b in rest)
    assert {s for s, _ in sample.entries} == set(world.committee.shards(world.node_id))


@property_settings
@given(world=worlds(min_blobs=2))
def test_escalation_extends_the_sample(world: World) -> None:
    plain = dataclasses.replace(world.challenge, escalated=frozenset())
    heavy = dataclasses.replace(world.challenge, escalated=frozenset([world.node_id]))
    shards = world.committee.shards(world.node_id)
    small = plain.sample(world.node_id, shards, world.eligible)
    large = heavy.sample(world.node_id, shards, world.eligible)
    assert set(small.entries) <= set(large.entries)
    k = plain.sample_size(world.node_id, len(world.eligible))
    assert len(large.entries) == len(shards) * min(4 * k, len(world.eligible))
    other = next(node for node in world.committee.node_ids if node != world.node_id)
    # Escalating one node leaves every other node's sample as it was.
    other_shards = world.committee.shards(other)
    assert heavy.sample(other, other_shards, world.eligible) == plain.sample(
        other, other_shards, world.eligible
    )


# --- responses: round trip and verification ----------------------------------------------------


@property_settings
@given(world=worlds())
def test_response_from_the_true_slivers_verifies(world: World) -> None:
    sample = world.sample()
    responses = build_responses(sample, world.peers, world.slivers, world.config)
    assert set(responses) == set(world.peers)
    sizes = [world.blobs[b].metadata.unencoded_length for _, b in sample.entries]
    bound = response_size_bound(world.config, sizes)
    for peer, response in responses.items():
        data = response.to_bcs()
        parsed = ChallengeResponse.from_bcs(data, max_entries=len(sample.entries))
        assert parsed == response
        world.verify(parsed, peer)
        assert parsed == build_response(
            sample, peer, world.committee.shards(peer), world.slivers, world.config
        )
        # The bound is exact but for Empty nodes in proofs (1 byte instead of 33).
        assert len(data) <= bound
        assert bound - len(data) <= 32 * 2 * len(sample.entries) * 4


@property_settings
@given(world=worlds(), data=st.data())
def test_the_response_of_another_peer_fails(world: World, data: st.DataObject) -> None:
    peers = list(world.peers)
    if len(peers) < 2:
        return
    a, b = data.draw(st.permutations(peers))[:2]
    response = _response(world, a)
    positions_a = probe_positions(world.sample(), a, world.committee.shards(a), world.config)
    positions_b = probe_positions(world.sample(), b, world.committee.shards(b), world.config)
    if all(pa.peer_pair == pb.peer_pair for pa, pb in zip(positions_a, positions_b, strict=True)):
        return  # both peers probe the same positions of every entry: the answer fits both
    with pytest.raises(WrongPositionError):
        world.verify(response, b)


@property_settings
@given(world=worlds(), data=st.data())
def test_a_flipped_byte_never_verifies(world: World, data: st.DataObject) -> None:
    peer = data.draw(st.sampled_from(list(world.peers)))
    encoded = bytearray(_response(world, peer).to_bcs())
    position = data.draw(st.integers(0, len(encoded) - 1))
    encoded[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises((BcsError, ChallengeVerificationError)):
        world.verify(ChallengeResponse.from_bcs(bytes(encoded)), peer)


@property_settings
@given(world=worlds(), data=st.data())
def test_a_flipped_symbol_or_proof_byte_is_a_bad_proof(world: World, data: st.DataObject) -> None:
    peer, response, index = _draw_answer(world, data)
    field = data.draw(st.sampled_from(["to_secondary", "to_primary"]))
    symbol: GeneralRecoverySymbol = getattr(response.entries[index], field)
    if data.draw(st.booleans()) or not symbol.proof.path:
        raw = bytearray(symbol.symbol.data)
        raw[data.draw(st.integers(0, len(raw) - 1))] ^= 0x80
        changed = dataclasses.replace(
            symbol, symbol=DecodingSymbol(symbol.symbol.index, bytes(raw))
        )
    else:
        path = list(symbol.proof.path)
        level = data.draw(st.integers(0, len(path) - 1))
        path[level] = bytes([path[level][0] ^ 1]) + path[level][1:]
        changed = dataclasses.replace(symbol, proof=MerkleProof(tuple(path)))
    with pytest.raises(BadProofError) as raised:
        world.verify(_replace_entry(response, index, **{field: changed}), peer)
    assert type(raised.value) is BadProofError
    assert raised.value.entry == response.entries[index].entry
    assert str(response.entries[index].blob_id) in str(raised.value)


@property_settings
@given(world=worlds(min_blobs=2, full_rate=True), data=st.data())
def test_a_symbol_of_another_blob_is_named(world: World, data: st.DataObject) -> None:
    peer, response, index = _draw_answer(world, data)
    sample = world.sample()
    shard, blob_id = response.entries[index].entry
    others = sorted({b for _, b in sample.entries} - {blob_id}, key=lambda b: b.value)
    other = data.draw(st.sampled_from(others))
    # The same slivers and positions, but of the other blob: proofs valid there, not here.
    pair = world.config.pair_for_shard(shard, blob_id)
    stale = build_response(
        dataclasses.replace(sample, entries=((shard, blob_id),)),
        peer,
        world.committee.shards(peer),
        lambda s, b: world.blobs[other].sliver_pair(pair),
        world.config,
    ).entries[0]
    forged = _replace_entry(
        response, index, to_secondary=stale.to_secondary, to_primary=stale.to_primary
    )
    with pytest.raises(WrongBlobError, match=str(other)) as raised:
        world.verify(forged, peer)
    assert raised.value.entry == (shard, blob_id)


@property_settings
@given(world=worlds(), data=st.data())
def test_a_symbol_at_another_position_is_refused(world: World, data: st.DataObject) -> None:
    peer, response, index = _draw_answer(world, data)
    entry = response.entries[index]
    _, secondary = world.slivers(entry.shard, entry.blob_id)
    n = world.config.n_shards
    how = data.draw(st.sampled_from(["target", "swap", "source"]))
    if how == "target":  # a genuine symbol and proof, but for another target sliver
        target = (entry.to_primary.target_index + data.draw(st.integers(1, n - 1))) % n
        moved = recovery_symbols_from_sliver(secondary, [target], world.config)[0]
        forged = _replace_entry(response, index, to_primary=moved)
    elif how == "swap":
        forged = _replace_entry(
            response, index, to_primary=entry.to_secondary, to_secondary=entry.to_primary
        )
    else:  # the right position, claimed from another source sliver
        symbol = entry.to_secondary
        wrong = DecodingSymbol((symbol.symbol.index + 1) % n, symbol.symbol.data)
        forged = _replace_entry(
            response, index, to_secondary=dataclasses.replace(symbol, symbol=wrong)
        )
    with pytest.raises(WrongPositionError) as raised:
        world.verify(forged, peer)
    assert raised.value.entry == entry.entry


@property_settings
@given(world=worlds(), data=st.data())
def test_a_missing_entry_is_named(world: World, data: st.DataObject) -> None:
    peer, response, index = _draw_answer(world, data)
    dropped = response.entries[index]
    short = dataclasses.replace(
        response, entries=response.entries[:index] + response.entries[index + 1 :]
    )
    with pytest.raises(MissingEntryError, match="missing") as raised:
        world.verify(short, peer)
    assert raised.value.entry == dropped.entry
    copy = pickle.loads(pickle.dumps(raised.value))  # crosses process pools intact
    assert (type(copy), copy.entry, str(copy)) == (
        MissingEntryError,
        dropped.entry,
        str(raised.value),
    )


@property_settings
@given(world=worlds(), data=st.data())
def test_an_extra_entry_is_named(world: World, data: st.DataObject) -> None:
    peer = data.draw(st.sampled_from(list(world.peers)))
    sample = world.sample()
    response = _response(world, peer)
    sampled = set(sample.entries)
    candidates = [
        (ShardIndex(s), b)
        for s in range(world.config.n_shards)
        for b in world.blobs
        if (s, b) not in sampled
    ]
    extra = data.draw(st.sampled_from(candidates))
    template = response.entries[0]
    added = ChallengeEntry(extra[0], extra[1], template.to_secondary, template.to_primary)
    entries = sorted([*response.entries, added], key=lambda e: (e.shard, e.blob_id.value))
    with pytest.raises(ExtraEntryError, match="not in the sample") as raised:
        world.verify(dataclasses.replace(response, entries=tuple(entries)), peer)
    assert raised.value.entry == extra


@property_settings
@given(world=worlds(), data=st.data())
def test_challenged_pairs_hold_every_answer(world: World, data: st.DataObject) -> None:
    """Each answer symbol is an element of the peer's own pair, and that pair is withheld."""
    withheld = challenged_pairs(world.challenge, world.committee, world.eligible, world.config)
    members = [(node, shards) for node, shards in world.committee.members if shards]
    expected: set[SampleEntry] = set()
    for node, shards in members:
        sample = world.challenge.sample(node, shards, world.eligible)
        expected.update(sample.entries)
        for peer, peer_shards in members:
            if peer != node:
                positions = probe_positions(sample, peer, peer_shards, world.config)
                expected.update((p.peer_shard, p.blob_id) for p in positions)
    assert withheld == expected
    peer = data.draw(st.sampled_from(list(world.peers)))
    sample = world.sample()
    probes = probe_positions(sample, peer, world.committee.shards(peer), world.config)
    for entry, probe in zip(_response(world, peer).entries, probes, strict=True):
        assert (probe.peer_shard, probe.blob_id) in withheld
        peer_primary, peer_secondary = world.slivers(probe.peer_shard, probe.blob_id)
        n = world.config.n_shards
        assert entry.to_secondary.symbol.data == bytes(
            expand(peer_secondary.symbols()[None], n)[0][probe.primary_source]
        )
        assert entry.to_primary.symbol.data == bytes(
            expand(peer_primary.symbols()[None], n)[0][probe.secondary_source]
        )


# --- bad input -------------------------------------------------------------------------------


@functools.cache
def _small_world() -> World:
    config = EncodingConfig(4)
    ids = [bytes([i]) * 32 for i in (1, 2, 3)]
    committee = initial_committee([(ids[0], 1), (ids[1], 1), (ids[2], 2)])
    blobs = {e.blob_id: e for e in pool(4)[:3]}
    challenge = Challenge(Epoch(9), SEED_7, sample_bps=5000, max_per_shard=2)
    return World(config, committee, challenge, blobs, ids[0])


def _small_response() -> tuple[World, NodeId, ChallengeResponse]:
    world = _small_world()
    peer = bytes([3]) * 32
    return world, peer, _response(world, peer)


def test_small_world_verifies() -> None:
    world, peer, response = _small_response()
    assert len(response.entries) == 2
    world.verify(response, peer)


def test_every_truncation_is_refused() -> None:
    _, _, response = _small_response()
    data = response.to_bcs()
    for length in range(len(data)):
        with pytest.raises(BcsError):
            ChallengeResponse.from_bcs(data[:length])
    with pytest.raises(BcsError, match="1 trailing bytes"):
        ChallengeResponse.from_bcs(data + b"\x00")


def test_absurd_counts_are_refused_before_reading_entries() -> None:
    _, _, response = _small_response()
    header = BcsWriter().u32(9).fixed_bytes(response.node_id).fixed_bytes(SEED_7)
    huge = header.uleb128(2**32 - 1).finish() + bytes(100)
    with pytest.raises(BcsError, match="4294967295 entries announced in 100 bytes"):
        ChallengeResponse.from_bcs(huge)
    with pytest.raises(BcsError, match="announces 2 entries, at most 1 expected"):
        ChallengeResponse.from_bcs(response.to_bcs(), max_entries=1)


def test_entries_out_of_order_are_refused() -> None:
    _, _, response = _small_response()
    reversed_entries = tuple(reversed(response.entries))
    writer = BcsWriter().u32(9).fixed_bytes(response.node_id).fixed_bytes(SEED_7)
    writer.uleb128(2)
    for entry in reversed_entries:
        entry.write(writer)
    with pytest.raises(BcsError, match="strictly increasing"):
        ChallengeResponse.from_bcs(writer.finish())
    with pytest.raises(ChallengeError, match="strictly increasing"):
        dataclasses.replace(response, entries=response.entries[:1] * 2)


def test_invalid_axis_tag_is_refused() -> None:
    _, _, response = _small_response()
    data = bytearray(response.to_bcs())
    data[4 + 32 + 32 + 1 + 2 + 32] = 2  # the first symbol's axis tag
    with pytest.raises(BcsError, match="invalid axis tag 2"):
        ChallengeResponse.from_bcs(bytes(data))


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("epoch", Epoch(10), "for epoch 10, expected 9"),
        ("seed", bytes(32), "for seed 0000"),
        ("node_id", bytes([2]) * 32, "for node 0202"),
    ],
)
def test_wrong_epoch_seed_or_node_is_refused(field: str, value: object, problem: str) -> None:
    world, peer, response = _small_response()
    with pytest.raises(ResponseMismatchError, match=problem):
        world.verify(dataclasses.replace(response, **{field: value}), peer)  # type: ignore[arg-type]


def test_caller_errors_are_not_verification_errors() -> None:
    world, peer, response = _small_response()
    sample = world.sample()
    shards = world.committee.shards(peer)
    with pytest.raises(MissingSliverError, match="no sliver pair held"):
        build_response(sample, peer, shards, {}, world.config)
    wrong_pair = world.blobs[sample.entries[0][1]].sliver_pair(
        world.config.pair_for_shard(ShardIndex(2), sample.entries[0][1])
    )
    with pytest.raises(ChallengeError, match="expected primary sliver"):
        build_response(sample, peer, shards, lambda s, b: wrong_pair, world.config)
    with pytest.raises(MissingMetadataError, match="no metadata for sampled blob"):
        verify_response(response, sample, peer, shards, {}, world.config)
    with pytest.raises(ChallengeError, match="holds no shards"):
        probe_positions(sample, peer, [], world.config)
    with pytest.raises(ChallengeError, match="shares a shard"):
        probe_positions(sample, peer, [0, 3], world.config)
    with pytest.raises(ChallengeError, match="does not probe itself"):
        probe_positions(sample, world.node_id, [3], world.config)
    assert not issubclass(ChallengeError, VerificationError)
    assert issubclass(ChallengeVerificationError, VerificationError)


# --- n = 100 ---------------------------------------------------------------------------------


def test_hundred_shards_seven_nodes() -> None:
    """The testbed's shape: 100 shards split by D'Hondt over 7 equal stakes."""
    config = EncodingConfig(100)
    ids = [_blake(b"node", bytes([i])) for i in range(7)]
    committee = initial_committee(apportionment([(i, 1_000_000) for i in ids], 100))
    assert sorted(len(s) for _, s in committee.members) == [14, 14, 14, 14, 14, 15, 15]
    rng = random.Random(100)
    real = [encode_blob(rng.randbytes(size), config) for size in (3_000, 20_000, 65_000)]
    # 300 eligible blob IDs backed by three real encodings: the proofs check against the
    # metadata a verifier was given, which is what is measured here, not the blob IDs.
    eligible = [BlobId(_blake(b"blob", i.to_bytes(4, "little"))) for i in range(300)]
    backing = {b: real[i % 3] for i, b in enumerate(eligible)}
    challenge = Challenge(Epoch(12), challenge_seed(12, bytes(32)))
    challenged = committee.node_ids[0]
    sample = challenge.sample(challenged, committee.shards(challenged), eligible)
    assert len(sample.entries) == 3 * len(committee.shards(challenged))  # 1 % of 300

    def slivers(shard: ShardIndex, blob_id: BlobId) -> tuple[Sliver, Sliver]:
        return backing[blob_id].sliver_pair(config.pair_for_shard(shard, blob_id))

    peers = {n: committee.shards(n) for n in committee.node_ids[1:]}
    responses = build_responses(sample, peers, slivers, config)
    metadata = {b: e.metadata for b, e in backing.items()}
    lengths = [backing[b].metadata.unencoded_length for _, b in sample.entries]
    for peer, response in responses.items():
        parsed = ChallengeResponse.from_bcs(response.to_bcs())
        verify_response(parsed, sample, peer, peers[peer], metadata, config)
        assert len(response.to_bcs()) <= response_size_bound(config, lengths)
    peer = committee.node_ids[3]
    entry = responses[peer].entries[7]
    raw = bytearray(entry.to_primary.symbol.data)
    raw[0] ^= 1
    bad = dataclasses.replace(
        entry.to_primary, symbol=DecodingSymbol(entry.to_primary.symbol.index, bytes(raw))
    )
    forged = _replace_entry(responses[peer], 7, to_primary=bad)
    with pytest.raises(BadProofError, match="Merkle proof"):
        verify_response(forged, sample, peer, peers[peer], metadata, config)
    withheld = challenged_pairs(challenge, committee, eligible, config)
    assert set(sample.entries) <= withheld
    probes = probe_positions(sample, peer, peers[peer], config)
    assert {(p.peer_shard, p.blob_id) for p in probes} <= withheld
    # At most every node's sample (3 blobs on each of 100 shards) and one probe pair per
    # sampled entry and peer: a small fraction of the 300 × 100 pairs.
    assert 300 <= len(withheld) <= 300 * 7


# --- the attestation message -----------------------------------------------------------------

KEY = BlsPrivateKey.from_seed(bytes(range(32)))
OTHER_KEY = BlsPrivateKey.from_seed(bytes(range(1, 33)))


def test_attestation_layout_and_round_trip() -> None:
    world = _small_world()
    sample = world.sample()
    attestation = sample.attestation()
    assert attestation == ChallengeAttestation(Epoch(9), world.node_id, SEED_7, sample.digest)
    data = attestation.to_bytes()
    assert len(data) == 103
    assert data[:7] == bytes([7, 0, 3]) + (9).to_bytes(4, "little")
    assert data[7:] == world.node_id + SEED_7 + sample.digest
    assert IntentType.CHALLENGE_ATTESTATION.value == 7
    assert parse_message(data) == attestation
    assert ChallengeAttestation.from_bytes(data) == attestation


def test_signed_attestation_verifies_with_bls() -> None:
    attestation = _small_world().sample().attestation()
    signed = SignedMessage.sign(KEY, attestation)
    assert signed.verify(KEY.public_key()) == attestation
    assert signed.verify_contents(KEY.public_key(), attestation) == attestation
    assert SignedMessage.from_bcs(signed.to_bcs()).verify(KEY.public_key()) == attestation
    assert SignedMessage.from_json(signed.to_json()).verify(KEY.public_key()) == attestation
    with pytest.raises(InvalidSignatureError):
        signed.verify(OTHER_KEY.public_key())
    with pytest.raises(MessageMismatchError, match="differs"):
        signed.verify_contents(
            KEY.public_key(), dataclasses.replace(attestation, sample_digest=bytes(32))
        )
    with pytest.raises(MessageMismatchError, match="epoch 10, got epoch 9"):
        signed.verify_contents(KEY.public_key(), dataclasses.replace(attestation, epoch=Epoch(10)))


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d[:102], "truncated challenge attestation"),
        (lambda d: d + b"\x00", "1 trailing bytes"),
        (lambda d: b"\x02" + d[1:], "intent type 7 .*got 2"),
        (lambda d: d[:6], "truncated .*6 bytes"),
    ],
)
def test_attestation_refusals(mutate: Callable[[bytes], bytes], problem: str) -> None:
    data = _small_world().sample().attestation().to_bytes()
    with pytest.raises(MessageError, match=problem):
        ChallengeAttestation.from_bytes(mutate(data))


def test_attestation_fields_are_checked() -> None:
    builds: list[Callable[[], object]] = [
        lambda: ChallengeAttestation(Epoch(1), bytes(31), SEED_7, SEED_7),
        lambda: ChallengeAttestation(Epoch(1), bytes(32), bytes(33), SEED_7),
        lambda: ChallengeAttestation(Epoch(1), bytes(32), SEED_7, b""),
        lambda: ChallengeAttestation(Epoch(2**32), bytes(32), SEED_7, SEED_7),
    ]
    for build in builds:
        with pytest.raises(MessageError):
            build()

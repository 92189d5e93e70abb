"""Properties of encoding, decoding, recovery and inconsistency proofs over random blobs."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pywalrus.core.config import EncodingConfig
from pywalrus.core.decoding import ConsistencyCheck, decode_blob
from pywalrus.core.encoding import EncodedBlob, encode_blob
from pywalrus.core.errors import (
    BcsError,
    InconsistentBlobError,
    InconsistentSliverError,
    InvalidSliverError,
    InvalidSymbolError,
    NotEnoughSymbolsError,
    VerificationError,
)
from pywalrus.core.inconsistency import recover_sliver
from pywalrus.core.merkle import MerkleProof
from pywalrus.core.slivers import (
    Sliver,
    decode_sliver_batch,
    encode_sliver_batch,
    verify_slivers,
)
from pywalrus.core.symbols import (
    DecodingSymbol,
    RecoverySymbol,
    recovery_symbols_from_sliver,
)
from pywalrus.core.types import SliverIndex, SliverPairIndex, SliverType
from pywalrus.testbed.hostile import inconsistent_encoding

SHARD_COUNTS = [4, 7, 10, 13, 31, 100]
MiB = 1024 * 1024

sizes = st.one_of(
    st.integers(0, 300),
    st.integers(300, 70_000),
    st.integers(70_000, 3 * MiB),
)
property_settings = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _fits(n: int, size: int) -> bool:
    return size <= EncodingConfig(n).max_blob_size


@property_settings
@given(n=st.sampled_from(SHARD_COUNTS), size=sizes, seed=st.integers(0, 2**32))
def test_decode_from_any_minimal_primary_subset(n: int, size: int, seed: int) -> None:
    config = EncodingConfig(n)
    size = min(size, config.max_blob_size)
    blob = _blob(seed, size)
    encoded = encode_blob(blob, config)
    rng = random.Random(seed)
    chosen = rng.sample(range(n), config.n_primary_source_symbols)
    slivers = [encoded.primary_sliver(i) for i in chosen]
    assert all(verify_slivers(slivers, encoded.metadata))
    for check in ConsistencyCheck:
        assert decode_blob(slivers, encoded.metadata, encoded.blob_id, check) == blob


@property_settings
@given(n=st.sampled_from(SHARD_COUNTS), size=sizes, seed=st.integers(0, 2**32))
def test_decode_from_the_systematic_slivers_and_others(n: int, size: int, seed: int) -> None:
    # All systematic slivers, in any order and with other slivers among them: the blob is
    # joined straight from them (no matrix is built), exactly as decoding would give it.
    config = EncodingConfig(n)
    blob = _blob(seed, min(size, config.max_blob_size))
    encoded = encode_blob(blob, config)
    rng = random.Random(seed)
    chosen = [*range(config.n_primary_source_symbols), *rng.sample(range(n), 2)]
    rng.shuffle(chosen)
    slivers = [encoded.primary_sliver(i) for i in chosen]
    for check in ConsistencyCheck:
        assert decode_blob(slivers, encoded.metadata, encoded.blob_id, check) == blob
    wrong = EncodingConfig(n + 3) if n + 3 <= 1000 else EncodingConfig(n - 3)
    other = encode_blob(blob, wrong).primary_sliver(0)
    with pytest.raises(InvalidSliverError):
        decode_blob([other, *slivers[1:]], encoded.metadata, encoded.blob_id)


@property_settings
@given(n=st.sampled_from(SHARD_COUNTS), size=sizes, seed=st.integers(0, 2**32))
def test_decode_from_any_minimal_secondary_subset(n: int, size: int, seed: int) -> None:
    config = EncodingConfig(n)
    size = min(size, config.max_blob_size)
    blob = _blob(seed, size)
    encoded = encode_blob(blob, config)
    chosen = random.Random(seed).sample(range(n), config.n_secondary_source_symbols)
    slivers = [encoded.secondary_sliver(j) for j in chosen]
    assert all(verify_slivers(slivers, encoded.metadata))
    assert decode_blob(slivers, encoded.metadata, encoded.blob_id) == blob


def _symbols_for(
    encoded: EncodedBlob, target: SliverType, index: int, sources: list[int]
) -> list[RecoverySymbol]:
    out = []
    for source in sources:
        sliver = encoded.sliver(target.orthogonal, source)
        (general,) = recovery_symbols_from_sliver(sliver, [index], encoded.config)
        general.verify(encoded.metadata, encoded.config)
        out.append(general.recovery_symbol())
    return out


@property_settings
@given(
    n=st.sampled_from(SHARD_COUNTS),
    size=st.integers(0, 200_000),
    seed=st.integers(0, 2**32),
    axis=st.sampled_from(list(SliverType)),
)
def test_every_sliver_recovers_from_random_symbols(
    n: int, size: int, seed: int, axis: SliverType
) -> None:
    config = EncodingConfig(n)
    blob = _blob(seed, min(size, config.max_blob_size))
    encoded = encode_blob(blob, config)
    rng = random.Random(seed)
    k = config.sliver_length_in_symbols(axis)
    for index in rng.sample(range(n), min(n, 4)):
        sources = rng.sample(range(n), k)
        symbols = _symbols_for(encoded, axis, index, sources)
        recovered = recover_sliver(axis, index, symbols, encoded.metadata)
        assert recovered == encoded.sliver(axis, index)
        with pytest.raises(NotEnoughSymbolsError):
            recover_sliver(axis, index, symbols[:-1], encoded.metadata)


def test_all_slivers_recover_n10() -> None:
    config = EncodingConfig(10)
    encoded = encode_blob(_blob(1, 5000), config)
    for axis in SliverType:
        k = config.sliver_length_in_symbols(axis)
        for index in range(10):
            sources = [(index + 1 + i) % 10 for i in range(k)]
            symbols = _symbols_for(encoded, axis, index, sources)
            assert recover_sliver(axis, index, symbols, encoded.metadata) == encoded.sliver(
                axis, index
            )


def _flip(data: bytes, position: int) -> bytes:
    raw = bytearray(data)
    raw[position % len(raw)] ^= 0x01
    return bytes(raw)


@settings(max_examples=15, deadline=None)
@given(n=st.sampled_from(SHARD_COUNTS), size=st.integers(1, 100_000), seed=st.integers(0, 2**32))
def test_tampering_is_rejected(n: int, size: int, seed: int) -> None:
    config = EncodingConfig(n)
    # Fill the whole message matrix with random bytes so that no two symbols coincide.
    full = config.n_primary_source_symbols * config.n_secondary_source_symbols * 2
    encoded = encode_blob(_blob(seed, -(-size // full) * full), config)
    rng = random.Random(seed)
    for axis in SliverType:
        index = rng.randrange(n)
        sliver = encoded.sliver(axis, index)
        sliver.verify(encoded.metadata)
        bad = Sliver(
            axis, sliver.index, sliver.symbol_size, _flip(sliver.data, rng.randrange(10**6))
        )
        with pytest.raises(InvalidSliverError):
            bad.verify(encoded.metadata)
        assert verify_slivers([sliver, bad], encoded.metadata) == [True, False]
        relabelled = Sliver(axis, SliverIndex((index + 1) % n), sliver.symbol_size, sliver.data)
        with pytest.raises(InvalidSliverError):
            relabelled.verify(encoded.metadata)

        # A symbol, and a proof, each tampered with, fail verification.
        target = rng.randrange(n)
        (general,) = recovery_symbols_from_sliver(sliver, [target], config)
        symbol = general.recovery_symbol()
        forged_data = RecoverySymbol(
            DecodingSymbol(symbol.symbol.index, _flip(symbol.symbol.data, rng.randrange(99))),
            symbol.proof,
        )
        path = list(symbol.proof.path)
        path[rng.randrange(len(path))] = _flip(path[0], 3)
        forged_proof = RecoverySymbol(symbol.symbol, MerkleProof(tuple(path)))
        wrong_source = RecoverySymbol(
            DecodingSymbol((symbol.symbol.index + 1) % n, symbol.symbol.data), symbol.proof
        )
        for forged in (forged_data, forged_proof, wrong_source):
            with pytest.raises(InvalidSymbolError):
                forged.verify(axis.orthogonal, target, encoded.metadata, config)
        with pytest.raises(InvalidSymbolError):
            symbol.verify(axis.orthogonal, (target + 1) % n, encoded.metadata, config)


def test_recovery_skips_forged_symbols() -> None:
    config = EncodingConfig(13)
    encoded = encode_blob(_blob(5, 40_000), config)
    k = config.sliver_length_in_symbols(SliverType.PRIMARY)
    honest = _symbols_for(encoded, SliverType.PRIMARY, 3, list(range(13)))
    forged = [
        RecoverySymbol(DecodingSymbol(s.symbol.index, _flip(s.symbol.data, 0)), s.proof)
        for s in honest[:4]
    ]
    recovered = recover_sliver(SliverType.PRIMARY, 3, forged + honest[4 : 4 + k], encoded.metadata)
    assert recovered == encoded.primary_sliver(3)


def _inconsistent_blob(n: int, size: int, seed: int, bad_row: int) -> EncodedBlob:
    """An encoder that lies: it alters one primary sliver and hashes each sliver on its own."""
    return inconsistent_encoding(_blob(seed, size), EncodingConfig(n), bad_row)


@settings(max_examples=10, deadline=None)
@given(n=st.sampled_from(SHARD_COUNTS), size=st.integers(1, 50_000), seed=st.integers(0, 2**32))
def test_inconsistent_blob_yields_verifiable_proof(n: int, size: int, seed: int) -> None:
    config = EncodingConfig(n)
    rng = random.Random(seed)
    bad_row = rng.randrange(n)
    blob = _inconsistent_blob(n, size, seed, bad_row)
    # Each sliver verifies on its own against the lying metadata ...
    blob.primary_sliver(bad_row).verify(blob.metadata)
    # ... but recovering the altered primary sliver from honest secondary slivers exposes it.
    k = config.sliver_length_in_symbols(SliverType.PRIMARY)
    others = [j for j in range(n)]
    rng.shuffle(others)
    symbols = _symbols_for(blob, SliverType.PRIMARY, bad_row, others[:k])
    with pytest.raises(InconsistentSliverError) as caught:
        recover_sliver(SliverType.PRIMARY, bad_row, symbols, blob.metadata)
    proof = caught.value.proof
    proof.verify(blob.metadata)
    # The proof survives BCS and still verifies; it does not verify against other metadata.
    from pywalrus.core.inconsistency import InconsistencyProof

    again = InconsistencyProof.from_bcs(proof.to_bcs(), SliverType.PRIMARY)
    assert again == proof
    again.verify(blob.metadata)
    # Reading the systematic rows would hit the altered one: the check refuses to return data.
    if bad_row < config.n_primary_source_symbols:
        secondary = [blob.secondary_sliver(j) for j in range(config.n_secondary_source_symbols)]
        with pytest.raises(InconsistentBlobError):
            decode_blob(secondary, blob.metadata, blob.blob_id)
        with pytest.raises(InconsistentBlobError):
            decode_blob(secondary, blob.metadata, blob.blob_id, ConsistencyCheck.STRICT)


@settings(max_examples=10, deadline=None)
@given(
    n=st.sampled_from(SHARD_COUNTS),
    size=st.integers(0, 50_000),
    seed=st.integers(0, 2**32),
    axis=st.sampled_from(list(SliverType)),
)
def test_honest_blob_never_yields_a_proof(n: int, size: int, seed: int, axis: SliverType) -> None:
    from pywalrus.core.inconsistency import InconsistencyProof

    config = EncodingConfig(n)
    encoded = encode_blob(_blob(seed, size), config)
    rng = random.Random(seed)
    index = rng.randrange(n)
    k = config.sliver_length_in_symbols(axis)
    symbols = _symbols_for(encoded, axis, index, rng.sample(range(n), k))
    proof = InconsistencyProof(axis, index, tuple(symbols))
    with pytest.raises(VerificationError):
        proof.verify(encoded.metadata)
    with pytest.raises(VerificationError):
        InconsistencyProof(axis, index, tuple(symbols[:-1])).verify(encoded.metadata)


@given(st.data())
@settings(max_examples=20, deadline=None)
def test_sliver_batch_round_trip(data: st.DataObject) -> None:
    """An upload batch decodes to the slivers it was built from; truncation is refused."""
    config = EncodingConfig(data.draw(st.sampled_from([4, 7, 10])))
    encoded = encode_blob(data.draw(st.binary(max_size=300)), config)
    pairs = data.draw(st.lists(st.integers(0, config.n_shards - 1), min_size=1, max_size=6))
    batch = [
        (pair, encoded.sliver(axis, config.sliver_index(axis, SliverPairIndex(pair))))
        for pair in pairs
        for axis in SliverType
    ]
    body = encode_sliver_batch(batch)
    assert decode_sliver_batch(body) == batch
    with pytest.raises(BcsError):
        decode_sliver_batch(body[:-1])

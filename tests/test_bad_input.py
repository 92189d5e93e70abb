"""Bad input to every public core function raises a clear error and never returns wrong data."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pywalrus.core import reed_solomon
from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.config import EncodingConfig
from pywalrus.core.decoding import decode_blob
from pywalrus.core.encoding import encode_blob
from pywalrus.core.errors import (
    BcsError,
    DataTooLargeError,
    EncodingError,
    InvalidBlobIdError,
    InvalidMetadataError,
    InvalidSliverError,
    InvalidSymbolError,
    NotEnoughSymbolsError,
    VerificationError,
)
from pywalrus.core.inconsistency import InconsistencyProof, recover_sliver
from pywalrus.core.merkle import MerkleProof, MerkleTree, leaf_hash
from pywalrus.core.metadata import BlobMetadata, BlobMetadataWithId, verified_metadata
from pywalrus.core.slivers import Sliver
from pywalrus.core.symbols import (
    DecodingSymbol,
    RecoverySymbol,
    decode_recovery_symbols,
    encode_recovery_symbols,
    recovery_symbols_from_sliver,
)
from pywalrus.core.types import BlobId, ShardIndex, SliverIndex, SliverPairIndex, SliverType

CONFIG = EncodingConfig(10)
BLOB = random.Random(0).randbytes(10_000)
ENCODED = encode_blob(BLOB, CONFIG)


@pytest.mark.parametrize("n", [-1, 0, 1, 2, 3, 65536, 10**9])
def test_shard_count_out_of_range(n: int) -> None:
    with pytest.raises(EncodingError, match="number of shards"):
        EncodingConfig(n)


def test_blob_too_large() -> None:
    config = EncodingConfig(4)
    assert config.symbol_size(config.max_blob_size) == 65534
    with pytest.raises(DataTooLargeError, match="exceeds the maximum"):
        config.symbol_size(config.max_blob_size + 1)
    with pytest.raises(DataTooLargeError):
        encode_blob(bytes(config.max_blob_size + 1), config)
    with pytest.raises(EncodingError):
        config.symbol_size(-1)


@pytest.mark.parametrize("index", [-1, 10, 65535])
def test_indices_out_of_range(index: int) -> None:
    with pytest.raises(EncodingError, match="out of range"):
        CONFIG.sliver_index(SliverType.PRIMARY, SliverPairIndex(index))
    with pytest.raises(EncodingError, match="out of range"):
        CONFIG.pair_for_shard(ShardIndex(index), ENCODED.blob_id)
    with pytest.raises(EncodingError, match="out of range"):
        ENCODED.primary_sliver(index)
    with pytest.raises(EncodingError, match="out of range"):
        recovery_symbols_from_sliver(ENCODED.primary_sliver(0), [index], CONFIG)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "RcU82Mwf-CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2k",
        "RcU82Mwf+CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2kY",
        "RcU82Mwf-CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2kZ",
        "RcU82Mwf-CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2kY=",
    ],
)
def test_bad_blob_id_strings(text: str) -> None:
    with pytest.raises(InvalidBlobIdError):
        BlobId.parse(text)


def test_blob_id_round_trips() -> None:
    text = "RcU82Mwf-CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2kY"
    blob_id = BlobId.parse(text)
    assert str(blob_id) == text
    assert BlobId.from_u256(blob_id.as_u256) == blob_id
    with pytest.raises(InvalidBlobIdError):
        BlobId(b"short")


def _truncations(data: bytes) -> list[bytes]:
    cuts = sorted({0, 1, 2, len(data) // 2, len(data) - 1})
    return [data[:c] for c in cuts]


def test_truncated_and_trailing_metadata() -> None:
    good = ENCODED.metadata.to_bcs()
    for cut in _truncations(good):
        with pytest.raises(BcsError):
            BlobMetadata.from_bcs(cut)
    with pytest.raises(BcsError, match="trailing"):
        BlobMetadata.from_bcs(good + b"\x00")
    with pytest.raises(BcsError, match="encoding type"):
        BlobMetadata.from_bcs(good[:1] + b"\x00" + good[2:])
    with pytest.raises(BcsError, match="version"):
        BlobMetadata.from_bcs(b"\x01" + good[1:])
    with pytest.raises(BcsError, match="node tag"):
        BlobMetadata.from_bcs(good[:11] + b"\x07" + good[12:])


def test_metadata_verification_failures() -> None:
    with_id = BlobMetadataWithId(ENCODED.blob_id, ENCODED.metadata).to_bcs()
    assert verified_metadata(with_id, ENCODED.blob_id, CONFIG) == ENCODED.metadata
    other = encode_blob(b"other", CONFIG).blob_id
    with pytest.raises(InvalidMetadataError, match="different blob"):
        verified_metadata(with_id, other, CONFIG)
    with pytest.raises(InvalidMetadataError, match="sliver pairs"):
        verified_metadata(with_id, ENCODED.blob_id, EncodingConfig(13))
    with pytest.raises(InvalidMetadataError, match="malformed"):
        verified_metadata(with_id[:-5], ENCODED.blob_id, CONFIG)
    # A metadata whose claimed length changed no longer matches the ID.
    lying = BlobMetadata(ENCODED.metadata.encoding_type, len(BLOB) + 1, ENCODED.metadata.hashes)
    with pytest.raises(InvalidMetadataError, match="does not match"):
        lying.verify(ENCODED.blob_id, CONFIG)
    too_long = BlobMetadata(
        ENCODED.metadata.encoding_type, CONFIG.max_blob_size + 1, ENCODED.metadata.hashes
    )
    with pytest.raises(InvalidMetadataError, match="maximum"):
        too_long.verify(too_long.blob_id(), CONFIG)


def test_bad_sliver_bytes() -> None:
    sliver = ENCODED.primary_sliver(3)
    good = sliver.to_bcs()
    assert Sliver.from_bcs(good, SliverType.PRIMARY) == sliver
    for cut in _truncations(good):
        with pytest.raises(BcsError):
            Sliver.from_bcs(cut, SliverType.PRIMARY)
    with pytest.raises(BcsError, match="trailing"):
        Sliver.from_bcs(good + b"\x00", SliverType.PRIMARY)
    odd = BcsWriter().vector(b"abc").u16(3).u16(0).finish()
    with pytest.raises(BcsError, match="symbol size"):
        Sliver.from_bcs(odd, SliverType.PRIMARY)
    ragged = BcsWriter().vector(b"abcdef").u16(4).u16(0).finish()
    with pytest.raises(BcsError, match="multiple"):
        Sliver.from_bcs(ragged, SliverType.PRIMARY)


def test_sliver_shape_mismatches() -> None:
    sliver = ENCODED.primary_sliver(3)
    s = sliver.symbol_size
    cases = [
        Sliver(SliverType.PRIMARY, SliverIndex(10), s, sliver.data),  # index out of range
        Sliver(
            SliverType.PRIMARY,
            SliverIndex(3),
            s + 2,
            sliver.data[: (len(sliver.data) // (s + 2)) * (s + 2)],
        ),
        Sliver(SliverType.PRIMARY, SliverIndex(3), s, sliver.data[:-s]),  # one symbol short
        Sliver(SliverType.SECONDARY, SliverIndex(3), s, sliver.data),  # wrong axis length
    ]
    for bad in cases:
        with pytest.raises(InvalidSliverError):
            bad.verify(ENCODED.metadata)


def test_decode_refuses_bad_sets() -> None:
    R = CONFIG.n_primary_source_symbols
    primary = [ENCODED.primary_sliver(i) for i in range(R)]
    with pytest.raises(NotEnoughSymbolsError):
        decode_blob(primary[:-1], ENCODED.metadata, ENCODED.blob_id)
    with pytest.raises(NotEnoughSymbolsError):  # duplicates do not count twice
        decode_blob(primary[:-1] + primary[:1], ENCODED.metadata, ENCODED.blob_id)
    with pytest.raises(InvalidSliverError, match="expected primary"):
        decode_blob([*primary, ENCODED.secondary_sliver(0)], ENCODED.metadata, ENCODED.blob_id)
    with pytest.raises(InvalidSliverError):
        decode_blob([], ENCODED.metadata, ENCODED.blob_id)
    short = Sliver(
        SliverType.PRIMARY,
        SliverIndex(0),
        primary[0].symbol_size,
        primary[0].data[: -primary[0].symbol_size],
    )
    with pytest.raises(InvalidSliverError):
        decode_blob([short, *primary[1:]], ENCODED.metadata, ENCODED.blob_id)


def test_merkle_proof_checks() -> None:
    leaves = np.frombuffer(random.Random(1).randbytes(7 * 32), dtype=np.uint8).reshape(7, 32)
    tree = MerkleTree(leaves)
    proof = tree.proof(5)
    proof.verify(tree.root, 5, leaves[5].tobytes(), 7)
    with pytest.raises(VerificationError, match="out of range"):
        proof.verify(tree.root, 7, leaves[5].tobytes(), 7)
    with pytest.raises(VerificationError, match="nodes"):
        MerkleProof(proof.path[:-1]).verify(tree.root, 5, leaves[5].tobytes(), 7)
    with pytest.raises(VerificationError, match="nodes"):
        MerkleProof((*proof.path, bytes(32))).verify(tree.root, 5, leaves[5].tobytes(), 7)
    with pytest.raises(VerificationError, match="root"):
        proof.verify(tree.root, 4, leaves[5].tobytes(), 7)
    with pytest.raises(IndexError):
        tree.proof(7)
    assert MerkleTree(leaves[:1]).root == leaves[0].tobytes()
    assert leaf_hash(b"") != bytes(32)


def test_recovery_symbol_bytes() -> None:
    symbols = recovery_symbols_from_sliver(ENCODED.secondary_sliver(2), [0, 4, 9], CONFIG)
    data = encode_recovery_symbols(symbols)
    assert decode_recovery_symbols(data) == symbols
    for cut in _truncations(data):
        with pytest.raises(BcsError):
            decode_recovery_symbols(cut)
    with pytest.raises(BcsError, match="axis tag"):
        decode_recovery_symbols(data[:1] + b"\x05" + data[2:])
    with pytest.raises(BcsError, match="trailing"):
        decode_recovery_symbols(data + b"\x01")


def test_symbol_checks() -> None:
    (general,) = recovery_symbols_from_sliver(ENCODED.secondary_sliver(2), [4], CONFIG)
    symbol = general.recovery_symbol()
    symbol.verify(SliverType.PRIMARY, 4, ENCODED.metadata, CONFIG)
    wrong_size = RecoverySymbol(DecodingSymbol(2, symbol.symbol.data + b"\x00\x00"), symbol.proof)
    out_of_range = RecoverySymbol(DecodingSymbol(10, symbol.symbol.data), symbol.proof)
    for bad in (wrong_size, out_of_range):
        with pytest.raises(InvalidSymbolError):
            bad.verify(SliverType.PRIMARY, 4, ENCODED.metadata, CONFIG)
    with pytest.raises(InvalidSymbolError):  # right symbol, wrong axis
        symbol.verify(SliverType.SECONDARY, 4, ENCODED.metadata, CONFIG)
    with pytest.raises(EncodingError):
        recover_sliver(SliverType.PRIMARY, 10, [symbol], ENCODED.metadata)
    with pytest.raises(NotEnoughSymbolsError):
        recover_sliver(SliverType.PRIMARY, 4, [symbol] * 20, ENCODED.metadata)


def test_inconsistency_proof_bytes() -> None:
    k = CONFIG.n_secondary_source_symbols
    symbols = tuple(
        recovery_symbols_from_sliver(ENCODED.secondary_sliver(j), [1], CONFIG)[0].recovery_symbol()
        for j in range(k)
    )
    proof = InconsistencyProof(SliverType.PRIMARY, 1, symbols)
    data = proof.to_bcs()
    assert InconsistencyProof.from_bcs(data, SliverType.PRIMARY) == proof
    for cut in _truncations(data):
        with pytest.raises(BcsError):
            InconsistencyProof.from_bcs(cut, SliverType.PRIMARY)
    with pytest.raises(VerificationError, match="out of range"):
        InconsistencyProof(SliverType.PRIMARY, 10, symbols).verify(ENCODED.metadata)
    with pytest.raises(VerificationError, match="repeats"):
        InconsistencyProof(SliverType.PRIMARY, 1, (symbols[0],) * k).verify(ENCODED.metadata)


def test_bcs_primitives() -> None:
    for value in [0, 1, 127, 128, 300, 16384, 2**32 - 1]:
        data = BcsWriter().uleb128(value).finish()
        reader = BcsReader(data)
        assert reader.uleb128() == value
        reader.finish()
    assert BcsWriter().uleb128(300).finish() == b"\xac\x02"
    for bad in [b"\x80", b"\x80\x00", b"\xff\xff\xff\xff\x7f", b"\xff\xff\xff\xff\xff\x01"]:
        with pytest.raises(BcsError):
            BcsReader(bad).uleb128()
    with pytest.raises(BcsError):
        BcsWriter().u8(256)
    with pytest.raises(BcsError):
        BcsWriter().uleb128(-1)
    with pytest.raises(BcsError):
        BcsReader(b"\x02").boolean()
    with pytest.raises(BcsError):
        BcsReader(b"\x02\xff\xfe").string()


def test_reed_solomon_refuses_too_few_symbols() -> None:
    source = np.frombuffer(random.Random(2).randbytes(3 * 5 * 6), dtype=np.uint8).reshape(3, 5, 6)
    full = reed_solomon.encode_full(source, 7)
    with pytest.raises(NotEnoughSymbolsError):
        reed_solomon.decode_source({0: full[0], 5: full[5]}, 3, 7)
    with pytest.raises(NotEnoughSymbolsError):
        reed_solomon.decode_source({0: full[0], 5: full[5], 9: full[5]}, 3, 7)
    with pytest.raises(NotEnoughSymbolsError):
        reed_solomon.decode_source({0: full[0], 5: full[5], 6: full[6][:, :4]}, 3, 7)
    assert np.array_equal(
        reed_solomon.decode_source({4: full[4], 5: full[5], 6: full[6]}, 3, 7), source
    )

"""QuiltV1 layout: walrus-core's case tests, properties over random quilts, and bad input."""

from __future__ import annotations

import contextlib
import random
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.config import MAX_SYMBOL_SIZE, EncodingConfig
from pywalrus.core.encoding import EncodedBlob, encode_blob
from pywalrus.core.errors import (
    BcsError,
    DataTooLargeError,
    DuplicateQuiltIdentifierError,
    EncodingError,
    InvalidQuiltError,
    InvalidQuiltIdentifierError,
    InvalidQuiltPatchIdError,
    InvalidQuiltTagsError,
    MissingSliversError,
    QuiltError,
    QuiltOversizeError,
    QuiltPatchNotFoundError,
    TooManyQuiltPatchesError,
    WalrusError,
)
from pywalrus.core.quilt import (
    QUILT_INDEX_PREFIX_SIZE,
    BlobHeaderV1,
    QuiltDecoderV1,
    QuiltIndexV1,
    QuiltPatchId,
    QuiltPatchInternalIdV1,
    QuiltPatchV1,
    QuiltStoreBlob,
    QuiltV1,
    compute_symbol_size,
    encode_quilt,
    max_patches,
    patch_prefix,
    serialized_blob_size,
    validate_quilt_identifier,
)
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import BlobId, SliverIndex, SliverType

SHARD_COUNTS = [4, 7, 10, 13, 31, 100]
property_settings = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _columns_needed(sizes: list[int], column_size: int) -> int:
    return sum(-(-size // column_size) for size in sizes)


# -- walrus-core: test_quilt_find_min_length --------------------------------------------------

SYMBOL_SIZE_CASES = [
    ([1000, 1, 1], 4, 7, 2, 72),
    ([1], 3, 2, 1, 4),
    ([115, 80, 4], 17, 9, 3, 6),
    ([20, 20, 20], 3, 5, 2, 4),
    ([5, 5, 5], 5, 1, 1, 6),
    ([25, 35, 45], 200, 1, 3, 10),
    ([10, 0, 0, 0], 17, 9, 2, 2),
    (
        [
            416,
            253,
            258,
            384,
            492,
            303,
            276,
            464,
            143,
            251,
            388,
            263,
            515,
            433,
            505,
            385,
            346,
            69,
            48,
            495,
            329,
            450,
            494,
            104,
            539,
            245,
            109,
            317,
            60,
        ],
        34,
        16,
        3,
        32,
    ),
]


@pytest.mark.parametrize(
    ("sizes", "n_columns", "n_rows", "max_index", "expected"), SYMBOL_SIZE_CASES
)
def test_symbol_size_search(
    sizes: list[int], n_columns: int, n_rows: int, max_index: int, expected: int
) -> None:
    symbol_size = compute_symbol_size(sizes, n_columns, n_rows, max_index)
    assert symbol_size == expected
    assert _columns_needed(sizes, symbol_size * n_rows) <= n_columns


def test_symbol_size_search_refuses_too_many_and_no_blobs() -> None:
    with pytest.raises(TooManyQuiltPatchesError, match=r"too many patches: 3.* at most 2"):
        compute_symbol_size([2, 1, 2, 1], 3, 3, 1)
    with pytest.raises(QuiltError, match="no blobs"):
        compute_symbol_size([], 3, 1, 1)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 5000), min_size=1, max_size=40),
    n_rows=st.integers(1, 40),
    extra_columns=st.integers(0, 60),
)
def test_symbol_size_is_the_smallest_even_fit(
    sizes: list[int], n_rows: int, extra_columns: int
) -> None:
    sizes[0] = max(sizes[0], QUILT_INDEX_PREFIX_SIZE)
    n_columns = len(sizes) + extra_columns
    symbol_size = compute_symbol_size(sizes, n_columns, n_rows, 10)
    assert symbol_size % 2 == 0
    assert _columns_needed(sizes, symbol_size * n_rows) <= n_columns
    assert -(-sizes[0] // (symbol_size * n_rows)) <= 10  # the index fits its columns
    smaller = symbol_size - 2
    fits_smaller = smaller > 0 and _columns_needed(sizes, smaller * n_rows) <= n_columns
    index_fits_smaller = smaller > 0 and sizes[0] <= smaller * n_rows * 10
    assert not (fits_smaller and index_fits_smaller and smaller * n_rows >= 5)


# -- walrus-core: validate_quilt_identifier doc tests --------------------------------------------

VALID_IDENTIFIERS = [
    "test", "test123", "123test", "a", "A123", "_test", "-test", ".test",
    "test blob", "test-blob", "test_blob", "test.blob", "日本語.md", "émoji-😀",
]  # fmt: skip
INVALID_IDENTIFIERS = [
    "", "test ", "test\t", "test\n", "test\r", "test   ", "test\u3000", "test\u00a0",
    "te\x08st", "\x1btest", "test\x00", "test\x01", "test\x1f", "test\x7f",
    "test\u0080", "test\u0081", "test\u009f", "bad\ud800surrogate",
]  # fmt: skip


@pytest.mark.parametrize("identifier", VALID_IDENTIFIERS)
def test_valid_identifiers(identifier: str) -> None:
    validate_quilt_identifier(identifier)
    assert QuiltStoreBlob(identifier, b"x").identifier == identifier


@pytest.mark.parametrize("identifier", INVALID_IDENTIFIERS)
def test_invalid_identifiers(identifier: str) -> None:
    with pytest.raises(InvalidQuiltIdentifierError):
        validate_quilt_identifier(identifier)
    with pytest.raises(InvalidQuiltIdentifierError):
        QuiltStoreBlob(identifier, b"x")


def test_identifier_length_limits() -> None:
    # The identifier itself may have 65,535 bytes; its BCS form (ULEB128 length + bytes) must stay
    # under 65,535 to be stored, so 65,531 bytes is the longest a quilt takes.
    validate_quilt_identifier("a" * 65535)
    with pytest.raises(InvalidQuiltIdentifierError, match="too long"):
        validate_quilt_identifier("a" * 65536)
    assert serialized_blob_size(QuiltStoreBlob("a" * 65531, b"")) == 6 + 2 + 3 + 65531
    with pytest.raises(InvalidQuiltIdentifierError, match="serializes to 65535 bytes"):
        serialized_blob_size(QuiltStoreBlob("a" * 65532, b""))
    with pytest.raises(InvalidQuiltIdentifierError):
        encode_quilt([QuiltStoreBlob("a" * 65532, b"")], EncodingConfig(10))


# -- walrus-core: test_quilt_blob_header -------------------------------------------------------

MAX_U32 = (1 << 32) - 1


@pytest.mark.parametrize(
    ("length", "mask"),
    [(10233, 5), (10, 3), (125, 10), (1, 1), (0, 0), (MAX_U32, 0), (0, 255), (MAX_U32, 255)],
)
def test_blob_header_round_trip(length: int, mask: int) -> None:
    header = BlobHeaderV1(length, mask)
    raw = header.to_bytes()
    assert len(raw) == 6 and raw[0] == 1
    assert raw[1:5] == length.to_bytes(4, "little") and raw[5] == mask
    assert BlobHeaderV1.from_bytes(raw) == header
    assert header.has_tags == bool(mask & 1)


def test_blob_header_rejects_another_version() -> None:
    with pytest.raises(InvalidQuiltError, match="version"):
        BlobHeaderV1.from_bytes(bytes([0xFF, 0, 0, 0, 0, 0]))


def test_patch_prefix_layout() -> None:
    # header (version, length of everything after it, mask) ‖ u16 size ‖ BCS identifier
    # ‖ u16 size ‖ BCS tags, with "b" before "aa" in BCS key order.
    prefix = patch_prefix(QuiltStoreBlob("id", b"DATA", {"aa": "1", "b": "2"}))
    identifier = bytes([2]) + b"id"
    tags = bytes([2, 1]) + b"b" + bytes([1]) + b"2" + bytes([2]) + b"aa" + bytes([1]) + b"1"
    body = len(identifier).to_bytes(2, "little") + identifier + len(tags).to_bytes(2, "little")
    body += tags
    assert prefix == bytes([1]) + (len(body) + 4).to_bytes(4, "little") + bytes([1]) + body
    untagged = patch_prefix(QuiltStoreBlob("id", b"DATA"))
    assert untagged == bytes([1, 9, 0, 0, 0, 0, 3, 0]) + identifier


# -- walrus-core: test_quilt_construct_quilt ----------------------------------------------------

UPSTREAM_QUILTS: list[tuple[list[QuiltStoreBlob], int]] = [
    (
        [
            QuiltStoreBlob("test-blob-0", bytes(range(1, 12)), {"tag1": "value1"}),
            QuiltStoreBlob("test-blob-1", bytes([5, 68, 3, 2, 5]), {"tag1": "value1"}),
            QuiltStoreBlob("test-blob-2", bytes([5, 68, 3, 2, 5, 6, 78, 8]), {"tag1": "value1"}),
        ],
        7,
    ),
    (
        [
            QuiltStoreBlob("test-blob-0", bytes([5, 68, 3, 2, 5, 6, 78, 8]), {"tag1": "value1"}),
            QuiltStoreBlob("test-blob-1", bytes([5, 68, 3, 2, 5])),
            QuiltStoreBlob("test-blob-2", bytes(range(1, 12)), {"tag2": "value2"}),
        ],
        7,
    ),
    (
        [
            QuiltStoreBlob(
                "test-blob-0", bytes(range(1, 12)), {"tag1": "value1", "tag2": "value1"}
            ),
            QuiltStoreBlob(
                "test-blob-1", bytes(range(1, 12)), {"tag3": "value3", "tag2": "value2"}
            ),
            QuiltStoreBlob("test-blob-2", bytes([5, 68, 3, 2, 5, 6, 78, 8]), {"tag3": "value1"}),
        ],
        7,
    ),
    (
        [
            QuiltStoreBlob("test-blob-0", bytes([5, 68, 3, 2, 5])),
            QuiltStoreBlob("short", bytes(range(1, 12))),
            QuiltStoreBlob("test-blob-2", bytes([5, 68, 3, 2, 5, 6, 78, 8])),
        ],
        7,
    ),
    (
        [
            QuiltStoreBlob("test-blob-0", bytes([1, 3])),
            QuiltStoreBlob("test-blob-1", bytes([255]) * 1024),
            QuiltStoreBlob("test-blob-2", bytes([1, 2, 3])),
        ],
        12,
    ),
    ([QuiltStoreBlob("test-blob-0", bytes([9, 8, 7, 6, 5, 4, 3, 2, 1]))], 7),
]


@pytest.mark.parametrize(("blobs", "n_shards"), UPSTREAM_QUILTS)
def test_construct_quilt(blobs: list[QuiltStoreBlob], n_shards: int) -> None:
    quilt = encode_quilt(blobs, EncodingConfig(n_shards))
    assert len(quilt.index.patches) == len(blobs)
    assert list(quilt.index.identifiers) == sorted(b.identifier for b in blobs)
    for blob in blobs:
        assert quilt.get_blobs_by_identifiers([blob.identifier]) == [blob]
        (patch,) = quilt.index.patches_by_identifiers([blob.identifier])
        assert patch.identifier == blob.identifier and dict(patch.tags) == dict(blob.tags)
    for key, value in {(k, v) for b in blobs for k, v in b.tags.items()}:
        expected = sorted((b for b in blobs if b.has_tag(key, value)), key=lambda b: b.identifier)
        assert quilt.get_blobs_by_tag(key, value) == expected


def test_quilt_encoder_and_decoder_flow() -> None:
    """walrus-core's `encode_decode_quilt`: index from sliver 0 (+ what it names), then patches."""
    rng = random.Random(7)
    config = EncodingConfig(100)
    blobs = [
        QuiltStoreBlob(
            f"blob-{i:02}-" + "x" * 60, rng.randbytes(rng.randint(1, 1000)), {"n": str(i % 3)}
        )
        for i in range(60)
    ]
    quilt = encode_quilt(blobs, config)
    encoded = encode_blob(quilt.data, config)
    slivers = {j: encoded.secondary_sliver(j) for j in range(config.n_secondary_source_symbols)}
    assert quilt.index.patches[0].start_index > 1  # this index spans several columns

    decoder = QuiltDecoderV1(config)
    with pytest.raises(MissingSliversError) as missing:
        decoder.quilt_index()
    assert missing.value.missing == (0,)
    decoder.add_slivers([slivers[0]])
    with pytest.raises(MissingSliversError) as missing:
        decoder.quilt_index()
    needed = decoder.index_sliver_indices()
    assert missing.value.missing == needed[1:]
    decoder.add_slivers(slivers[j] for j in missing.value.missing)
    assert decoder.quilt_index() == quilt.index

    first = quilt.index.patches[0]
    with pytest.raises(MissingSliversError) as missing:
        decoder.get_blobs_by_identifiers([first.identifier])
    assert missing.value.missing == first.sliver_indices
    assert quilt.index.sliver_indices_for_identifiers([first.identifier]) == list(
        first.sliver_indices
    )
    decoder.add_slivers(slivers[j] for j in first.sliver_indices)
    assert decoder.get_blobs_by_identifiers([first.identifier]) == [blobs[0]]

    decoder.add_slivers(slivers.values())
    for blob in blobs:
        assert decoder.get_blobs_by_identifiers([blob.identifier]) == [blob]
    for value in "012":
        assert decoder.get_blobs_by_tag("n", value) == [b for b in blobs if b.tags["n"] == value]
    assert sorted(quilt.index.sliver_indices_for_tag("n", "0")) == sorted(
        j for p in quilt.index.patches_by_tag("n", "0") for j in p.sliver_indices
    )
    assert QuiltV1.from_blob(quilt.data, config).get_all_blobs() == blobs


# -- QuiltPatchId and the walrus-sites internal ID ------------------------------------------------

# walrus-sites' portal tests: (patch ID, quilt ID, internal ID header).
SITES_PATCH_IDS = [
    ("zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBAQAEAA", "0x0101000400"),
    ("zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBBAAFAA", "0x0104000500"),
    ("zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBBQAGAA", "0x0105000600"),
    ("zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBBgAHAA", "0x0106000700"),
    ("zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBBwAIAA", "0x0107000800"),
    ("zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBCAAJAA", "0x0108000900"),
    ("jkZ5UWT2SPN46czhU-brz4JmQlc-bJlD14MiBzldouUBAQACAA", "0x0101000200"),
    ("jkZ5UWT2SPN46czhU-brz4JmQlc-bJlD14MiBzldouUBAgADAA", "0x0102000300"),
]


@pytest.mark.parametrize(("text", "internal_hex"), SITES_PATCH_IDS)
def test_walrus_sites_patch_ids(text: str, internal_hex: str) -> None:
    patch_id = QuiltPatchId.parse(text)
    assert str(patch_id.quilt_id) == text[:43]
    assert patch_id.internal_id.to_hex() == internal_hex
    internal = QuiltPatchInternalIdV1.from_hex(internal_hex)
    assert QuiltPatchId(BlobId.parse(text[:43]), internal) == patch_id
    assert QuiltPatchInternalIdV1.from_hex(internal_hex[2:]) == internal
    assert str(patch_id) == text and len(text) == 50


def test_patch_id_from_upstream_api_docs() -> None:
    # The aggregator OpenAPI example of list_patches_in_quilt.
    first = QuiltPatchId.parse("uIiEbhP2qgZYygEGxJX1GeB-rQATo2yufC2DCp7B4iABAQANAA")
    second = QuiltPatchId.parse("uIiEbhP2qgZYygEGxJX1GeB-rQATo2yufC2DCp7B4iABDQBnAA")
    assert (first.internal_id.start_index, first.internal_id.end_index) == (1, 13)
    assert (second.internal_id.start_index, second.internal_id.end_index) == (13, 103)
    assert second.sliver_indices == tuple(range(13, 103))


@settings(max_examples=100, deadline=None)
@given(
    quilt_id=st.binary(min_size=32, max_size=32),
    start=st.integers(0, 0xFFFE),
    width=st.integers(1, 0xFFFF),
)
def test_patch_id_round_trip(quilt_id: bytes, start: int, width: int) -> None:
    end = min(0xFFFF, start + width)
    patch_id = QuiltPatchId(BlobId(quilt_id), QuiltPatchInternalIdV1(start, end))
    raw = patch_id.to_bytes()
    assert raw == quilt_id + bytes([1]) + start.to_bytes(2, "little") + end.to_bytes(2, "little")
    assert QuiltPatchId.parse(str(patch_id)) == patch_id == QuiltPatchId.from_bytes(raw)


BAD_PATCH_IDS = [
    "",
    "zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAM",  # a blob ID, no internal ID
    "zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBAQAEAAA",  # one byte too many
    "zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMCAQAEAA",  # version 2
    "zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBBAAEAA",  # start == end
    "zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBBQAEAA",  # start > end
    "zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBAQAEAB",  # non-canonical last character
    "zHQTGUBR+e/87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBAQAEAA",  # standard, not URL-safe, base64
    "zHQTGUBR_e_87X3UIJwBTZRngDUNLKXnzrf5j6dWNAMBAQAEAA==",  # padded
    "DJHLsgUoKQKEPcw3uehNQwuJjMu5a2sRdn8r-f7iWSAAC8Pw",  # a pre-release example: 36 bytes
]


@pytest.mark.parametrize("text", BAD_PATCH_IDS)
def test_bad_patch_ids(text: str) -> None:
    with pytest.raises(InvalidQuiltPatchIdError, match="invalid quilt patch ID"):
        QuiltPatchId.parse(text)


def test_bad_internal_ids() -> None:
    for raw in [b"", bytes([1, 0, 0, 1]), bytes([2, 1, 0, 2, 0]), bytes([1, 3, 0, 3, 0])]:
        with pytest.raises(InvalidQuiltPatchIdError):
            QuiltPatchInternalIdV1.from_bytes(raw)
    with pytest.raises(InvalidQuiltPatchIdError, match="not hex"):
        QuiltPatchInternalIdV1.from_hex("0xzz")


# -- BCS maps ------------------------------------------------------------------------------------


def test_string_map_canonical_order() -> None:
    raw = BcsWriter().string_map({"aa": "1", "b": "2", "": "3"}).finish()
    assert (
        raw
        == bytes([3, 0, 1])
        + b"3"
        + bytes([1])
        + b"b"
        + bytes([1])
        + b"2"
        + bytes([2])
        + b"aa"
        + bytes([1])
        + b"1"
    )
    assert BcsReader(raw).string_map() == {"": "3", "b": "2", "aa": "1"}
    swapped = bytes([2, 2]) + b"aa" + bytes([1]) + b"1" + bytes([1]) + b"b" + bytes([1]) + b"2"
    with pytest.raises(BcsError, match="canonical"):
        BcsReader(swapped).string_map()
    duplicate = bytes([2, 1]) + b"b" + bytes([1]) + b"2" + bytes([1]) + b"b" + bytes([1]) + b"2"
    with pytest.raises(BcsError, match="canonical"):
        BcsReader(duplicate).string_map()


# -- properties over random quilts -----------------------------------------------------------------

identifier_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
tags_strategy = st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=3)


@st.composite
def quilt_inputs(draw: st.DrawFn) -> tuple[EncodingConfig, list[QuiltStoreBlob]]:
    config = EncodingConfig(draw(st.sampled_from(SHARD_COUNTS)))
    count = draw(st.integers(0, min(12, max_patches(config))))
    identifiers = draw(st.lists(identifier_text, min_size=count, max_size=count, unique=True))
    seed = draw(st.integers(0, 2**32))
    rng = random.Random(seed)
    size = draw(st.sampled_from([0, 40, 400, 4000, 40000]))
    blobs = [
        QuiltStoreBlob(identifier, rng.randbytes(rng.randint(0, size)), draw(tags_strategy))
        for identifier in identifiers
    ]
    return config, blobs


def _slivers(encoded: EncodedBlob, indices: tuple[SliverIndex, ...]) -> list[Sliver]:
    return [encoded.secondary_sliver(j) for j in indices]


@property_settings
@given(inputs=quilt_inputs())
def test_quilt_round_trip(inputs: tuple[EncodingConfig, list[QuiltStoreBlob]]) -> None:
    config, blobs = inputs
    quilt = encode_quilt(blobs, config)
    rows, cols = config.n_primary_source_symbols, config.n_secondary_source_symbols
    assert len(quilt.data) == rows * cols * quilt.symbol_size
    assert config.symbol_size(len(quilt.data)) == quilt.symbol_size
    ordered = sorted(blobs, key=lambda b: b.identifier.encode())

    # Layout: patches in identifier order, contiguous columns after the index, nothing past C.
    patches = quilt.index.patches
    assert [p.identifier for p in patches] == [b.identifier for b in ordered]
    first_start = patches[0].start_index if patches else 1
    assert 1 <= first_start <= 10
    for a, b in pairwise(patches):
        assert a.end_index == b.start_index
    assert all(p.start_index < p.end_index <= cols for p in patches)

    # The whole blob reads back.
    again = QuiltV1.from_blob(quilt.data, config)
    assert again.index == quilt.index
    assert again.get_all_blobs() == ordered

    # Each patch reads from the secondary slivers of its own columns and nothing else.
    encoded = encode_blob(quilt.data, config)
    for j in range(cols):
        assert encoded.secondary_sliver(j).data == quilt.columns[j].tobytes()
    index_slivers = _slivers(encoded, tuple(SliverIndex(j) for j in range(first_start)))
    assert QuiltDecoderV1(config, index_slivers).quilt_index() == quilt.index
    for patch, blob in zip(patches, ordered, strict=True):
        own = _slivers(encoded, patch.sliver_indices)
        assert QuiltDecoderV1(config, own).get_blob_by_internal_id(patch.internal_id) == blob
        with_index = QuiltDecoderV1(config, own, index=quilt.index)
        assert with_index.get_blobs_by_identifiers([blob.identifier]) == [blob]
        if len(own) > 1:
            with pytest.raises(MissingSliversError) as missing:
                QuiltDecoderV1(config, own[:-1]).get_blob_by_internal_id(patch.internal_id)
            assert missing.value.missing == (patch.end_index - 1,)
        patch_id = QuiltPatchId.parse(str(patch.patch_id(encoded.blob_id)))
        assert patch_id.sliver_indices == patch.sliver_indices

    # The same patches in another order give the same quilt.
    shuffled = list(blobs)
    random.Random(len(blobs)).shuffle(shuffled)
    assert encode_quilt(shuffled, config).data == quilt.data


MUTATIONS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=6)


@property_settings
@given(inputs=quilt_inputs(), mutations=MUTATIONS, in_patch=st.booleans())
def test_corrupt_quilts_fail_cleanly(
    inputs: tuple[EncodingConfig, list[QuiltStoreBlob]],
    mutations: list[tuple[int, int]],
    in_patch: bool,
) -> None:
    """Flipped bytes in the index or a patch give the patch back, other bytes, or a QuiltError."""
    config, blobs = inputs
    quilt = encode_quilt(blobs, config)
    columns = quilt.columns.copy()
    patches = quilt.index.patches
    span = (
        (patches[0].start_index, patches[-1].end_index)
        if in_patch and patches
        else (0, patches[0].start_index if patches else 1)
    )
    region = columns[span[0] : span[1]].reshape(-1)
    for position, flip in mutations:
        region[position % len(region)] ^= flip
    damaged = QuiltV1(config, quilt.symbol_size, quilt.index, columns)
    with contextlib.suppress(QuiltError):
        QuiltV1.from_blob(damaged.data, config).get_all_blobs()
    for patch in patches:
        with contextlib.suppress(QuiltError):
            damaged.get_blob(patch)


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_refused_with_a_clear_error() -> None:
    config = EncodingConfig(10)
    with pytest.raises(DuplicateQuiltIdentifierError, match="duplicate patch identifier 'a'"):
        encode_quilt(
            [QuiltStoreBlob("a", b"1"), QuiltStoreBlob("b", b""), QuiltStoreBlob("a", b"2")], config
        )
    with pytest.raises(InvalidQuiltIdentifierError, match="empty"):
        QuiltStoreBlob("", b"1")
    with pytest.raises(InvalidQuiltTagsError):
        QuiltStoreBlob("a", b"1", {"k": 3})  # type: ignore[dict-item]
    with pytest.raises(InvalidQuiltTagsError, match="must be a mapping"):
        QuiltStoreBlob("a", b"1", ["k", "v"])  # type: ignore[arg-type]
    with pytest.raises(QuiltError, match="must be bytes"):
        QuiltStoreBlob("a", "text")  # type: ignore[arg-type]
    with pytest.raises(InvalidQuiltTagsError, match="maximum is 65535"):
        encode_quilt([QuiltStoreBlob("a", b"", {"k": "v" * 70000})], config)
    # Every quilt error is a WalrusError and a ValueError, as the rest of the core's errors.
    assert issubclass(QuiltError, WalrusError) and issubclass(QuiltError, ValueError)


@pytest.mark.parametrize("n_shards", [4, 10, 100, 1000])
def test_most_patches(n_shards: int) -> None:
    config = EncodingConfig(n_shards)
    most = max_patches(config)
    assert most == config.n_secondary_source_symbols - 1
    blobs = [QuiltStoreBlob(f"p{i:04}", b"") for i in range(most)]
    assert len(encode_quilt(blobs, config).index.patches) == most
    with pytest.raises(TooManyQuiltPatchesError, match=f"at most {most}"):
        encode_quilt([*blobs, QuiltStoreBlob("one-more", b"")], config)
    if n_shards == 1000:
        assert most == 666


def test_oversize_quilt() -> None:
    config = EncodingConfig(4)  # R = 2, C = 3: a column holds at most 2 × 65,534 bytes
    column = 2 * MAX_SYMBOL_SIZE
    # A patch "a" takes 6 (header) + 2 + 2 (identifier) bytes before its data.
    fits = [QuiltStoreBlob("a", bytes(column - 10)), QuiltStoreBlob("b", bytes(column - 10))]
    assert encode_quilt(fits, config).symbol_size == MAX_SYMBOL_SIZE
    too_big = [QuiltStoreBlob("a", bytes(column - 9)), QuiltStoreBlob("b", bytes(column - 10))]
    with pytest.raises(QuiltOversizeError, match="symbol size") as error:
        encode_quilt(too_big, config)
    assert isinstance(error.value, DataTooLargeError) and isinstance(error.value, EncodingError)


def test_lookups_of_absent_patches() -> None:
    quilt = encode_quilt([QuiltStoreBlob("a", b"1"), QuiltStoreBlob("b", b"2")], EncodingConfig(7))
    with pytest.raises(QuiltPatchNotFoundError, match="c, d") as error:
        quilt.get_blobs_by_identifiers(["a", "c", "d"])
    assert error.value.identifiers == ("c", "d")
    assert quilt.get_blobs_by_tag("no", "such") == []
    with pytest.raises(InvalidQuiltPatchIdError, match="outside"):
        quilt.get_blob_by_internal_id(QuiltPatchInternalIdV1(2, 9))
    with pytest.raises(InvalidQuiltPatchIdError, match="no patch at columns"):
        quilt.index.patch_by_internal_id(QuiltPatchInternalIdV1(1, 4))


def test_decoder_refuses_wrong_slivers() -> None:
    config = EncodingConfig(7)  # R = 3, C = 5
    quilt = encode_quilt([QuiltStoreBlob("a", b"1")], config)
    encoded = encode_blob(quilt.data, config)
    with pytest.raises(QuiltError, match="secondary slivers"):
        QuiltDecoderV1(config, [encoded.primary_sliver(0)])
    with pytest.raises(QuiltError, match="recovery column"):
        QuiltDecoderV1(config, [encoded.secondary_sliver(5)])
    wrong = Sliver(SliverType.SECONDARY, SliverIndex(1), 2, bytes(6 * 2))
    with pytest.raises(QuiltError, match="expected 3 symbols"):
        QuiltDecoderV1(config, [wrong])
    other = quilt.symbol_size + 2
    small = Sliver(SliverType.SECONDARY, SliverIndex(1), other, bytes(3 * other))
    with pytest.raises(QuiltError, match="column size mismatch"):
        QuiltDecoderV1(config, [encoded.secondary_sliver(0), small])


# -- malformed quilt data (walrus-core's decode_* error tests) -------------------------------------

CONFIG = EncodingConfig(7)  # R = 3, C = 5
SYMBOL = 4
COLUMN = 3 * SYMBOL


def _quilt_of(raw: bytes) -> bytes:
    """A blob whose columns, read in order, start with `raw` (zero-padded to the 5 columns)."""
    assert len(raw) <= 5 * COLUMN
    columns = np.zeros(5 * COLUMN, dtype=np.uint8)
    columns[: len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return columns.reshape(5, 3, SYMBOL).transpose(1, 0, 2).tobytes()


def _index_error(raw: bytes) -> InvalidQuiltError:
    with pytest.raises(InvalidQuiltError) as error:
        QuiltV1.from_blob(_quilt_of(raw), CONFIG)
    encoded = encode_blob(_quilt_of(raw), CONFIG)
    decoder = QuiltDecoderV1(CONFIG, _slivers(encoded, tuple(SliverIndex(j) for j in range(5))))
    with pytest.raises(InvalidQuiltError):
        decoder.quilt_index()
    return error.value


def test_malformed_index() -> None:
    empty_index = bytes([1]) + (1).to_bytes(4, "little") + bytes([0])
    QuiltV1.from_blob(_quilt_of(empty_index), CONFIG)  # well-formed: no patches
    assert "version 255" in str(_index_error(bytes([0xFF]) + empty_index[1:]))
    assert "version 0" in str(_index_error(b""))
    assert "malformed quilt index" in str(_index_error(bytes([1])))  # size 0: no vector length
    too_large = (COLUMN * 10 - 5 + 1).to_bytes(4, "little")
    assert "exceeds the maximum" in str(_index_error(bytes([1]) + too_large))
    assert "trailing" in str(_index_error(bytes([1]) + (10).to_bytes(4, "little") + bytes(3)))
    assert "malformed" in str(_index_error(bytes([1]) + (1).to_bytes(4, "little") + bytes([0xFF])))
    # An index whose size points past the quilt's 5 columns.
    past = bytes([1]) + (5 * COLUMN).to_bytes(4, "little")
    assert "does not fit" in str(_index_error(past))

    # Patch ranges that are empty or run past the last column.
    def index(*entries: tuple[int, str]) -> bytes:
        patches = tuple(QuiltPatchV1(name, 0, end) for end, name in entries)
        return QuiltIndexV1(patches).to_bytes()

    assert "empty column range" in str(_index_error(index((1, "a"))))
    assert "empty column range" in str(_index_error(index((3, "a"), (2, "b"))))
    assert "past the last column" in str(_index_error(index((6, "a"))))


def _patch_error(raw: bytes) -> InvalidQuiltError:
    columns = np.frombuffer(_quilt_of(raw), dtype=np.uint8).reshape(3, 5, SYMBOL)
    whole = QuiltV1(
        CONFIG,
        SYMBOL,
        QuiltIndexV1(()),
        np.ascontiguousarray(columns.transpose(1, 0, 2)).reshape(5, -1),
    )
    internal = QuiltPatchInternalIdV1(0, 5)
    with pytest.raises(InvalidQuiltError) as error:
        whole.get_blob_by_internal_id(internal)
    encoded = encode_blob(whole.data, CONFIG)
    decoder = QuiltDecoderV1(CONFIG, _slivers(encoded, tuple(SliverIndex(j) for j in range(5))))
    with pytest.raises(InvalidQuiltError):
        decoder.get_blob_by_internal_id(internal)
    return error.value


def _entry(identifier: str, data: bytes, tags: dict[str, str] | None = None) -> bytearray:
    return bytearray(patch_prefix(QuiltStoreBlob(identifier, data, tags or {})) + data)


def test_malformed_patches() -> None:
    valid = _entry("test-id", bytes([1, 2, 3]))
    columns = np.frombuffer(_quilt_of(bytes(valid)), dtype=np.uint8).reshape(3, 5, SYMBOL)
    whole = QuiltV1(
        CONFIG,
        SYMBOL,
        QuiltIndexV1(()),
        np.ascontiguousarray(columns.transpose(1, 0, 2)).reshape(5, -1),
    )
    assert whole.get_blob_by_internal_id(QuiltPatchInternalIdV1(0, 5)) == QuiltStoreBlob(
        "test-id", bytes([1, 2, 3])
    )

    def forged(start: int, value: bytes, entry: bytearray | None = None) -> bytes:
        raw = bytearray(valid if entry is None else entry)
        raw[start : start + len(value)] = value
        return bytes(raw)

    assert "version" in str(_patch_error(forged(0, b"\xff")))
    assert "smaller" in str(_patch_error(forged(1, (0).to_bytes(4, "little"))))
    tagged = _entry("test-id", bytes(20), {"k": "v"})
    identifier_only = (2 + 8).to_bytes(4, "little")
    assert "smaller" in str(_patch_error(forged(1, identifier_only, tagged)))
    assert "malformed patch" in str(_patch_error(forged(8, b"\xff" * 4)))
    assert "malformed patch" in str(_patch_error(forged(8 + 8 + 2, b"\xff" * 4, tagged)))
    assert "past column" in str(_patch_error(forged(1, (1000).to_bytes(4, "little"))))
    assert "past column" in str(_patch_error(forged(1, MAX_U32.to_bytes(4, "little"))))
    assert "smaller" in str(_patch_error(forged(6, (50).to_bytes(2, "little"))))
    assert "past column" in str(_patch_error(forged(6, (60000).to_bytes(2, "little"))))
    bad_name = _entry("test-id", b"")
    bad_name[9:16] = b"tes\x00t-x"  # the 7 identifier bytes, after its BCS length
    assert "control characters" in str(_patch_error(bytes(bad_name)))


def test_patch_named_otherwise_than_its_index_entry() -> None:
    quilt = encode_quilt([QuiltStoreBlob("a", b"1"), QuiltStoreBlob("b", b"2")], CONFIG)
    renamed = QuiltIndexV1(
        tuple(
            QuiltPatchV1(p.identifier.upper(), p.start_index, p.end_index)
            for p in quilt.index.patches
        )
    )
    forged = QuiltV1(CONFIG, quilt.symbol_size, renamed, quilt.columns)
    with pytest.raises(InvalidQuiltError, match="named 'a', the index says 'A'"):
        forged.get_blobs_by_identifiers(["A"])


def test_index_pointing_to_absent_columns() -> None:
    """walrus-core: an index naming column 5 with only column 0 at hand."""
    config = EncodingConfig(10)  # C = 7
    quilt = encode_quilt([QuiltStoreBlob("x", b"data")], config)
    encoded = encode_blob(quilt.data, config)
    index = QuiltIndexV1((QuiltPatchV1("x", 5, 6),))
    decoder = QuiltDecoderV1(config, [encoded.secondary_sliver(0)], index=index)
    with pytest.raises(MissingSliversError) as missing:
        decoder.get_blobs_by_identifiers(["x"])
    assert missing.value.missing == (5,)

"""core/ranges.py: Range headers, upstream's byte-range checks, and the rows holding a range,
checked against the slices of real encoded blobs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import seeded_bytes
from pywalrus.core.config import EncodingConfig
from pywalrus.core.decoding import check_padding_rows
from pywalrus.core.encoding import encode_blob
from pywalrus.core.errors import InconsistentBlobError, InvalidByteRangeError
from pywalrus.core.ranges import ByteRange, checked_range, data_rows, parse_range_header, row_span
from pywalrus.core.types import SliverType


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-999", 5000, (0, 1000)),
        ("bytes=10-10", 5000, (10, 11)),
        (" bytes = 4990 - 6000 ", 5000, (4990, 5000)),
        ("bytes=100-", 5000, (100, 5000)),
        ("bytes=-100", 5000, (4900, 5000)),
        ("bytes=-9000", 5000, (0, 5000)),
        ("bytes=4999-4999", 5000, (4999, 5000)),
    ],
)
def test_range_header(header: str, size: int, expected: tuple[int, int]) -> None:
    byte_range = parse_range_header(header, size)
    assert (byte_range.start, byte_range.end) == expected


@pytest.mark.parametrize(
    ("header", "size", "message"),
    [
        ("bytes=5000-5001", 5000, "not satisfiable"),
        ("bytes=0-0", 0, "not satisfiable"),
        ("bytes=-0", 5000, "not satisfiable"),
        ("bytes=-1", 0, "not satisfiable"),
        ("bytes=9-3", 5000, "start index must be less than end index"),
        ("bytes=0-1,5-6", 5000, "only support one range per request"),
        ("items=0-1", 5000, "invalid range header format"),
        ("bytes=a-b", 5000, "invalid range header format"),
        ("bytes=-", 5000, "invalid range header format"),
        ("bytes=1", 5000, "invalid range header format"),
        ("bytes=+1-2", 5000, "invalid range header format"),
        ("0-1", 5000, "invalid range header format"),
    ],
)
def test_bad_range_header(header: str, size: int, message: str) -> None:
    with pytest.raises(InvalidByteRangeError, match=message):
        parse_range_header(header, size)


def test_checked_range_as_upstream() -> None:
    assert checked_range(5, 10, 15) == ByteRange(5, 15)
    with pytest.raises(InvalidByteRangeError, match="length must be greater than 0"):
        checked_range(0, 0, 15)
    with pytest.raises(InvalidByteRangeError, match="requested 5-16, blob size is 15"):
        checked_range(5, 11, 15)
    with pytest.raises(InvalidByteRangeError, match="overflows"):
        checked_range(2**63, 2**63, 15)
    assert ByteRange(5, 15).content_range(20) == "bytes 5-14/20"


@given(st.data())
def test_rows_hold_the_range(data: st.DataObject) -> None:
    """Joining the slices `row_span` names of the systematic primary slivers of an encoded
    blob gives exactly the asked bytes."""
    size = data.draw(st.integers(1, 6000))
    blob = seeded_bytes(f"ranges-{size}", size)
    config = EncodingConfig(n_shards=10)
    encoded = encode_blob(blob, config)
    row_bytes = config.sliver_size(SliverType.PRIMARY, size)
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start + 1, size))
    span = row_span(ByteRange(start, end), row_bytes)
    assert span.stop <= data_rows(size, row_bytes) <= config.n_primary_source_symbols
    joined = b""
    for row in span.rows:
        lo, hi = span.slice_of(row)
        assert 0 <= lo < hi <= row_bytes
        joined += encoded.primary_sliver(row).data[lo:hi]
    assert joined == blob[start:end]


def test_rows_of_one_byte_and_row_boundaries() -> None:
    span = row_span(ByteRange(99, 101), 100)
    assert list(span.rows) == [0, 1]
    assert [span.slice_of(r) for r in span.rows] == [(99, 100), (0, 1)]
    assert list(row_span(ByteRange(100, 200), 100).rows) == [1]
    assert list(row_span(ByteRange(7, 7), 100).rows) == []
    assert data_rows(0, 100) == 0 and data_rows(100, 100) == 1 and data_rows(101, 100) == 2


def test_padding_rows_checked_against_zeros() -> None:
    """A blob filling a few rows: its padding rows' hashes are those of zeros; metadata that
    says otherwise for one is inconsistent."""
    config = EncodingConfig(n_shards=10)
    blob = seeded_bytes("padding", 40)
    metadata = encode_blob(blob, config).metadata
    first = data_rows(len(blob), config.sliver_size(SliverType.PRIMARY, len(blob)))
    assert 0 < first < config.n_primary_source_symbols
    blob_id = metadata.blob_id()
    check_padding_rows(metadata, blob_id, first)
    last = config.n_primary_source_symbols - 1
    forged = replace(
        metadata,
        hashes=tuple(
            replace(h, primary_hash=bytes(32)) if p == last else h
            for p, h in enumerate(metadata.hashes)
        ),
    )
    with pytest.raises(InconsistentBlobError, match=f"primary sliver {last} is padding"):
        check_padding_rows(forged, blob_id, first)
    check_padding_rows(forged, blob_id, last + 1)

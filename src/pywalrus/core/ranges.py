"""Byte ranges of a blob, and which systematic primary slivers hold them (protocol page §2.1).

The blob fills the R×C message matrix row by row (then zeros): row r is primary sliver r,
bytes `[r·C·s, (r+1)·C·s)` of the blob. So a range of bytes lies in a few consecutive
systematic slivers, which an aggregator fetches and verifies alone. Two ways to ask:

- an HTTP `Range` header (`parse_range_header`): one range `bytes=a-b`, as upstream, plus the
  RFC 9110 forms upstream leaves for later (`bytes=a-`, `bytes=-n`, an end past the blob,
  clamped) that browsers send for media; a start at or past the end is unsatisfiable (416);
- upstream's `/byte-range?start=&length=` (`checked_range`): non-empty, within the blob.
"""

from __future__ import annotations

from dataclasses import dataclass

from pywalrus.core.errors import InvalidByteRangeError


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes `[start, end)` of a blob."""

    start: int
    end: int
    """Exclusive."""

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        """The `Content-Range` header value of this range of a `size`-byte blob."""
        return f"bytes {self.start}-{self.end - 1}/{size}"


def parse_range_header(value: str, size: int) -> ByteRange:
    """The range a `Range` header asks of a `size`-byte blob; `InvalidByteRangeError` (416)
    naming the problem if it is malformed, asks several ranges, or starts past the end."""
    unit, sep, spec = value.strip().partition("=")
    if not sep or unit.strip() != "bytes":
        raise InvalidByteRangeError(f"invalid range header format: {value!r} is not bytes=a-b")
    if "," in spec:
        raise InvalidByteRangeError("only support one range per request")
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last) or not _digits(first) or not _digits(last):
        raise InvalidByteRangeError(f"invalid range header format: {value!r} is not bytes=a-b")
    if not first:  # the last n bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise InvalidByteRangeError(f"range {spec} is not satisfiable: blob of {size} bytes")
        return ByteRange(max(0, size - suffix), size)
    start = int(first)
    if last and int(last) < start:
        raise InvalidByteRangeError("start index must be less than end index")
    if start >= size:
        raise InvalidByteRangeError(f"range {spec} is not satisfiable: blob of {size} bytes")
    end = size if not last else min(int(last) + 1, size)
    return ByteRange(start, end)


def _digits(text: str) -> bool:
    return not text or (text.isascii() and text.isdigit())


def checked_range(start: int, length: int, size: int) -> ByteRange:
    """Upstream's checks of `/byte-range?start=&length=`: `length` > 0 and the range within
    the blob; `InvalidByteRangeError` (400) with upstream's wording."""
    if length <= 0:
        raise InvalidByteRangeError("length must be greater than 0")
    end = start + length
    if end >= 1 << 64:
        raise InvalidByteRangeError("start + length overflows")
    if end > size:
        raise InvalidByteRangeError(
            f"byte range out of bounds: requested {start}-{end}, blob size is {size}"
        )
    return ByteRange(start, end)


@dataclass(frozen=True, slots=True)
class RowSpan:
    """The systematic primary slivers (matrix rows) that hold a byte range."""

    first: int
    """The first row (sliver pair index)."""
    stop: int
    """One past the last row."""
    row_bytes: int
    """Bytes per row: C · symbol size (a primary sliver's length)."""
    byte_range: ByteRange

    @property
    def rows(self) -> range:
        return range(self.first, self.stop)

    def slice_of(self, row: int) -> tuple[int, int]:
        """The part `[lo, hi)` of row `row`'s bytes that lies in the range."""
        base = row * self.row_bytes
        lo = max(self.byte_range.start - base, 0)
        hi = min(self.byte_range.end - base, self.row_bytes)
        return lo, hi


def row_span(byte_range: ByteRange, row_bytes: int) -> RowSpan:
    """The rows holding `byte_range` (none for an empty range)."""
    if row_bytes <= 0:
        raise ValueError("a row has at least one byte")
    if byte_range.length <= 0:
        first = byte_range.start // row_bytes
        return RowSpan(first, first, row_bytes, byte_range)
    return RowSpan(
        byte_range.start // row_bytes,
        (byte_range.end - 1) // row_bytes + 1,
        row_bytes,
        byte_range,
    )


def data_rows(size: int, row_bytes: int) -> int:
    """How many rows hold some of a `size`-byte blob; the rows after them are all zeros."""
    return -(-size // row_bytes)

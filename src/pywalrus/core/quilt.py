"""QuiltV1: many small blobs (patches) stored as one blob, each readable on its own.

A quilt is an ordinary blob (its blob ID is the quilt ID) whose R×C message matrix is filled
*column by column*: every patch owns a contiguous range of columns, and column j of the message
matrix is exactly the systematic secondary sliver j. So a patch is read by fetching only the
secondary slivers of its columns. The layout follows walrus-core's `quilt_encoding.rs`:

- Columns 0 … k−1 hold the index: version byte 0x01 ‖ u32 LE size ‖ BCS(`QuiltIndexV1`), where
  each entry is `{end_index: u16, identifier: String, tags: BTreeMap<String, String>}`; a
  patch's start column is the previous end (the first starts at k). k ≤ 10.
- Each patch, from the top of its first column: a 6-byte `BlobHeaderV1` (version 0x01, u32 LE
  length of what follows, mask u8 whose bit 0 says "has tags"), u16 LE size ‖ BCS(identifier),
  [u16 LE size ‖ BCS(tags)], then the data. The rest of its last column is zero.
- Patches are sorted by identifier; the symbol size is the smallest even size for which the
  index and every patch fit column-aligned (`compute_symbol_size`), so at most C − 1 patches.
- A `QuiltPatchId` is base64url(quilt ID ‖ internal ID), the 5-byte internal ID being
  0x01 ‖ start u16 LE ‖ end u16 LE; walrus-sites stores it as `0x` + hex.

Reading treats the quilt's contents as untrusted (the blob ID authenticates the bytes, not their
structure): every size is checked before use and a malformed quilt raises `InvalidQuiltError`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from typing import Final

import numpy as np
import numpy.typing as npt

from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.config import MAX_SYMBOL_SIZE, SYMBOL_ALIGNMENT, EncodingConfig
from pywalrus.core.errors import (
    BcsError,
    DuplicateQuiltIdentifierError,
    InvalidBlobIdError,
    InvalidQuiltError,
    InvalidQuiltIdentifierError,
    InvalidQuiltPatchIdError,
    InvalidQuiltTagsError,
    MissingSliversError,
    QuiltError,
    QuiltOversizeError,
    QuiltPatchNotFoundError,
    TooManyQuiltPatchesError,
)
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import BLOB_ID_LENGTH, BlobId, SliverIndex, SliverType

QUILT_VERSION_V1: Final = 0x01
"""The version byte of QuiltV1 (first byte of the quilt, of every patch header and patch ID)."""
QUILT_INDEX_SIZE_BYTES_LENGTH: Final = 4
QUILT_INDEX_PREFIX_SIZE: Final = 1 + QUILT_INDEX_SIZE_BYTES_LENGTH
"""Version byte and u32 index size before the BCS index."""
MAX_NUM_SLIVERS_FOR_QUILT_INDEX: Final = 10
"""The index occupies at most this many columns."""
BLOB_HEADER_SIZE: Final = 6
BLOB_IDENTIFIER_SIZE_BYTES_LENGTH: Final = 2
TAGS_SIZE_BYTES_LENGTH: Final = 2
MAX_BLOB_IDENTIFIER_BYTES_LENGTH: Final = (1 << 16) - 1
MAX_TAGS_BYTES_LENGTH: Final = (1 << 16) - 1
"""Serialized tags of one patch must fit their u16 size field."""
MAX_SERIALIZED_BLOB_SIZE: Final = (1 << 32) - 1
"""A patch (identifier, tags and data, without its header) must fit the u32 length field."""
TAGS_ENABLED: Final = 0x01
"""Bit 0 of the patch header mask: the patch carries tags."""
QUILT_PATCH_INTERNAL_ID_LENGTH: Final = 5
QUILT_PATCH_ID_LENGTH: Final = BLOB_ID_LENGTH + QUILT_PATCH_INTERNAL_ID_LENGTH
QUILT_BLOB_TYPE_ATTRIBUTE: Final = ("_walrusBlobType", "quilt")
"""The blob attribute (key, value) that marks a stored blob as a quilt."""
QUILT_PATCH_INTERNAL_ID_HEADER: Final = "x-wal-quilt-patch-internal-id"
"""The walrus-sites resource header holding a patch's internal ID as `0x` + hex."""

# Rust's `char::is_whitespace` (Unicode White_Space), which upstream's `trim_end` strips.
_WHITE_SPACE: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)


def _shown(text: str, limit: int = 48) -> str:
    """`text` quoted for a one-line error message, cut if long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def validate_quilt_identifier(identifier: str) -> None:
    """Raise unless `identifier` is a valid patch identifier, as upstream checks it.

    Non-empty, at most 65,535 UTF-8 bytes, no trailing whitespace and no control character
    anywhere (upstream's documentation also asks for a leading alphanumeric character, which its
    code does not enforce; neither do we, so that every upstream quilt reads here).
    """
    if not isinstance(identifier, str):
        raise InvalidQuiltIdentifierError(f"identifier must be a string, not {_shown(identifier)}")
    try:
        size = len(identifier.encode())
    except UnicodeEncodeError:
        raise InvalidQuiltIdentifierError(
            f"identifier {_shown(identifier)} is not valid UTF-8"
        ) from None
    if size > MAX_BLOB_IDENTIFIER_BYTES_LENGTH:
        raise InvalidQuiltIdentifierError(f"identifier too long: {size} bytes")
    if not identifier:
        raise InvalidQuiltIdentifierError("identifier is empty")
    if identifier[-1] in _WHITE_SPACE:
        raise InvalidQuiltIdentifierError(f"identifier {_shown(identifier)} ends in whitespace")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in identifier):
        raise InvalidQuiltIdentifierError(
            f"identifier {_shown(identifier)} contains control characters"
        )


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(tags, Mapping):
        raise InvalidQuiltTagsError(f"tags must be a mapping, not {type(tags).__name__}")
    result = dict(tags)
    for key, value in result.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidQuiltTagsError(
                "tags must map strings to strings, "
                f"got {type(key).__name__} to {type(value).__name__}"
            )
        try:
            key.encode()
            value.encode()
        except UnicodeEncodeError:
            raise InvalidQuiltTagsError(f"tag {_shown(key)} is not valid UTF-8") from None
    return result


def _bcs_string_size(text: str) -> int:
    length = len(text.encode())
    return len(BcsWriter().uleb128(length).finish()) + length


@dataclass(frozen=True, slots=True)
class QuiltStoreBlob:
    """One patch's content: what goes into a quilt and what a read gives back."""

    identifier: str
    """Unique name of the patch within its quilt (for example the file name)."""
    data: bytes
    """The patch's bytes."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Free-form string pairs stored with the patch and in the index."""

    def __post_init__(self) -> None:
        validate_quilt_identifier(self.identifier)
        if not isinstance(self.data, bytes):
            raise QuiltError(f"patch {_shown(self.identifier)}: data must be bytes")
        object.__setattr__(self, "tags", _check_tags(self.tags))

    def has_tag(self, key: str, value: str) -> bool:
        return self.tags.get(key) == value


@dataclass(frozen=True, slots=True)
class BlobHeaderV1:
    """The 6 bytes before each patch: version 0x01 ‖ length u32 LE ‖ mask u8."""

    length: int
    """Bytes after the header: identifier and tags sections plus the data (u32)."""
    mask: int = 0
    """Feature bits; bit 0 (`TAGS_ENABLED`) says a tags section follows the identifier."""

    @property
    def has_tags(self) -> bool:
        return bool(self.mask & TAGS_ENABLED)

    def to_bytes(self) -> bytes:
        return BcsWriter().u8(QUILT_VERSION_V1).u32(self.length).u8(self.mask).finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> BlobHeaderV1:
        if len(data) != BLOB_HEADER_SIZE:
            raise InvalidQuiltError(f"a patch header is {BLOB_HEADER_SIZE} bytes, got {len(data)}")
        if data[0] != QUILT_VERSION_V1:
            raise InvalidQuiltError(
                f"invalid patch header version byte {data[0]}, expected {QUILT_VERSION_V1}"
            )
        return cls(int.from_bytes(data[1:5], "little"), data[5])


@dataclass(frozen=True, slots=True)
class QuiltPatchInternalIdV1:
    """A patch's place in its quilt: 0x01 ‖ start column u16 LE ‖ end column u16 LE."""

    start_index: int
    """First column (secondary sliver index) of the patch."""
    end_index: int
    """One past its last column."""

    def __post_init__(self) -> None:
        if not 0 <= self.start_index < self.end_index <= 0xFFFF:
            raise InvalidQuiltPatchIdError(
                f"invalid patch column range [{self.start_index}, {self.end_index})"
            )

    @property
    def sliver_indices(self) -> tuple[SliverIndex, ...]:
        """The secondary slivers that hold the patch."""
        return tuple(SliverIndex(j) for j in range(self.start_index, self.end_index))

    def to_bytes(self) -> bytes:
        return BcsWriter().u8(QUILT_VERSION_V1).u16(self.start_index).u16(self.end_index).finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> QuiltPatchInternalIdV1:
        if len(data) != QUILT_PATCH_INTERNAL_ID_LENGTH:
            raise InvalidQuiltPatchIdError(
                f"a QuiltV1 patch internal ID is {QUILT_PATCH_INTERNAL_ID_LENGTH} bytes, "
                f"got {len(data)}"
            )
        if data[0] != QUILT_VERSION_V1:
            raise InvalidQuiltPatchIdError(
                f"unsupported quilt version {data[0]} in patch ID, expected {QUILT_VERSION_V1}"
            )
        return cls(int.from_bytes(data[1:3], "little"), int.from_bytes(data[3:5], "little"))

    def to_hex(self) -> str:
        """The walrus-sites form (`x-wal-quilt-patch-internal-id`): `0x` + 10 hex digits."""
        return "0x" + self.to_bytes().hex()

    @classmethod
    def from_hex(cls, text: str) -> QuiltPatchInternalIdV1:
        """Parse the walrus-sites form, with or without the `0x` prefix."""
        digits = text[2:] if text[:2].lower() == "0x" else text
        try:
            raw = bytes.fromhex(digits)
        except ValueError:
            raise InvalidQuiltPatchIdError(
                f"invalid patch internal ID {_shown(text)}: not hex"
            ) from None
        return cls.from_bytes(raw)


@dataclass(frozen=True, slots=True)
class QuiltPatchId:
    """The global name of a patch: the quilt's blob ID and the patch's internal ID."""

    quilt_id: BlobId
    """The blob ID of the quilt."""
    internal_id: QuiltPatchInternalIdV1
    """Where the patch lies in the quilt."""

    def to_bytes(self) -> bytes:
        return self.quilt_id.value + self.internal_id.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> QuiltPatchId:
        if len(data) != QUILT_PATCH_ID_LENGTH:
            raise InvalidQuiltPatchIdError(
                f"a QuiltV1 patch ID is {QUILT_PATCH_ID_LENGTH} bytes, got {len(data)}"
            )
        return cls(
            BlobId(bytes(data[:BLOB_ID_LENGTH])),
            QuiltPatchInternalIdV1.from_bytes(bytes(data[BLOB_ID_LENGTH:])),
        )

    def __str__(self) -> str:
        return base64.urlsafe_b64encode(self.to_bytes()).rstrip(b"=").decode()

    @property
    def sliver_indices(self) -> tuple[SliverIndex, ...]:
        return self.internal_id.sliver_indices

    @classmethod
    def parse(cls, text: str) -> QuiltPatchId:
        """Parse URL-safe base64 without padding (50 characters for QuiltV1)."""
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise InvalidQuiltPatchIdError(
                f"invalid quilt patch ID {_shown(text)}: not URL-safe base64"
            ) from None
        try:
            patch_id = cls.from_bytes(raw)
        except (InvalidQuiltPatchIdError, InvalidBlobIdError) as error:
            raise InvalidQuiltPatchIdError(
                f"invalid quilt patch ID {_shown(text)}: {error}"
            ) from None
        if str(patch_id) != text:
            raise InvalidQuiltPatchIdError(f"invalid quilt patch ID {_shown(text)}: non-canonical")
        return patch_id


@dataclass(frozen=True, slots=True)
class QuiltPatchV1:
    """One index entry: a patch's identifier, tags and column range."""

    identifier: str
    """The patch identifier (unique in a well-formed quilt)."""
    start_index: int
    """First column; not serialized (the previous patch's end, or the index's column count)."""
    end_index: int
    """One past the last column (u16)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """The patch's tags, as also stored in its header."""

    @property
    def internal_id(self) -> QuiltPatchInternalIdV1:
        return QuiltPatchInternalIdV1(self.start_index, self.end_index)

    @property
    def sliver_indices(self) -> tuple[SliverIndex, ...]:
        """The secondary slivers that hold the patch."""
        return tuple(SliverIndex(j) for j in range(self.start_index, self.end_index))

    def patch_id(self, quilt_id: BlobId) -> QuiltPatchId:
        return QuiltPatchId(quilt_id, self.internal_id)

    def has_tag(self, key: str, value: str) -> bool:
        return self.tags.get(key) == value

    def write(self, writer: BcsWriter) -> None:
        writer.u16(self.end_index).string(self.identifier).string_map(self.tags)


@dataclass(frozen=True, slots=True)
class QuiltIndexV1:
    """The quilt's table of contents, in column order (which is identifier order)."""

    patches: tuple[QuiltPatchV1, ...]
    """The patches; patch i starts where patch i−1 ends."""

    def to_bcs(self) -> bytes:
        writer = BcsWriter().uleb128(len(self.patches))
        for patch in self.patches:
            patch.write(writer)
        return writer.finish()

    def to_bytes(self) -> bytes:
        """What the first columns hold: version ‖ u32 LE size ‖ BCS index."""
        body = self.to_bcs()
        return BcsWriter().u8(QUILT_VERSION_V1).u32(len(body)).finish() + body

    @classmethod
    def from_bcs(cls, data: bytes, first_start: int) -> QuiltIndexV1:
        """Decode the BCS index; `first_start` is the number of columns the index occupies."""
        reader = BcsReader(data, "quilt index")
        try:
            entries = [
                (reader.u16(), reader.string(), reader.string_map())
                for _ in range(reader.uleb128())
            ]
            reader.finish()
        except BcsError as error:
            raise InvalidQuiltError(f"malformed quilt index: {error}") from None
        patches = []
        start = first_start
        for end, identifier, tags in entries:
            if end <= start:
                raise InvalidQuiltError(
                    f"patch {_shown(identifier)} has the empty column range [{start}, {end})"
                )
            patches.append(QuiltPatchV1(identifier, start, end, tags))
            start = end
        return cls(tuple(patches))

    @property
    def identifiers(self) -> tuple[str, ...]:
        return tuple(patch.identifier for patch in self.patches)

    def patches_by_identifiers(self, identifiers: Iterable[str]) -> list[QuiltPatchV1]:
        """The patches named (first match of each, in index order); raise if any is missing."""
        wanted = dict.fromkeys(identifiers)
        found = []
        for patch in self.patches:
            if patch.identifier in wanted:
                del wanted[patch.identifier]
                found.append(patch)
        if wanted:
            raise QuiltPatchNotFoundError(list(wanted))
        return found

    def patches_by_tag(self, key: str, value: str) -> list[QuiltPatchV1]:
        return [patch for patch in self.patches if patch.has_tag(key, value)]

    def patch_by_internal_id(self, internal_id: QuiltPatchInternalIdV1) -> QuiltPatchV1:
        for patch in self.patches:
            if patch.internal_id == internal_id:
                return patch
        raise InvalidQuiltPatchIdError(
            f"no patch at columns [{internal_id.start_index}, {internal_id.end_index})"
        )

    def sliver_indices_for_identifiers(self, identifiers: Iterable[str]) -> list[SliverIndex]:
        """The secondary slivers to fetch to read the named patches."""
        return [
            j for patch in self.patches_by_identifiers(identifiers) for j in patch.sliver_indices
        ]

    def sliver_indices_for_tag(self, key: str, value: str) -> list[SliverIndex]:
        return [j for patch in self.patches_by_tag(key, value) for j in patch.sliver_indices]


def serialized_blob_size(blob: QuiltStoreBlob) -> int:
    """Bytes the patch occupies from the top of its first column: header to last data byte."""
    identifier_size = _bcs_string_size(blob.identifier)
    if identifier_size >= MAX_BLOB_IDENTIFIER_BYTES_LENGTH:
        raise InvalidQuiltIdentifierError(
            f"identifier {_shown(blob.identifier)} serializes to {identifier_size} bytes, "
            f"the maximum is {MAX_BLOB_IDENTIFIER_BYTES_LENGTH - 1}"
        )
    size = BLOB_IDENTIFIER_SIZE_BYTES_LENGTH + identifier_size
    if blob.tags:
        size += TAGS_SIZE_BYTES_LENGTH + len(_serialized_tags(blob))
    size += len(blob.data)
    if size > MAX_SERIALIZED_BLOB_SIZE:
        raise QuiltOversizeError(
            f"patch {_shown(blob.identifier)} is {size} bytes with its identifier and tags, "
            f"over the {MAX_SERIALIZED_BLOB_SIZE}-byte limit of a patch (its 4-byte length field)"
        )
    return size + BLOB_HEADER_SIZE


def _serialized_tags(blob: QuiltStoreBlob) -> bytes:
    tags = BcsWriter().string_map(blob.tags).finish()
    if len(tags) <= MAX_TAGS_BYTES_LENGTH:
        return tags
    raise InvalidQuiltTagsError(
        f"the tags of patch {_shown(blob.identifier)} serialize to {len(tags)} bytes, "
        f"the maximum is {MAX_TAGS_BYTES_LENGTH}"
    )


def patch_prefix(blob: QuiltStoreBlob) -> bytes:
    """The bytes before a patch's data: header, identifier section, tags section if any."""
    identifier = BcsWriter().string(blob.identifier).finish()
    sections = [len(identifier).to_bytes(2, "little"), identifier]
    mask = 0
    if blob.tags:
        mask |= TAGS_ENABLED
        tags = _serialized_tags(blob)
        sections += [len(tags).to_bytes(2, "little"), tags]
    body = b"".join(sections)
    header = BlobHeaderV1(len(body) + len(blob.data), mask)
    return header.to_bytes() + body


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _columns_needed(sizes: Iterable[int], column_size: int) -> int:
    return sum(_ceil_div(size, column_size) for size in sizes)


def compute_symbol_size(
    blob_sizes: Sequence[int],
    n_columns: int,
    n_rows: int,
    max_num_columns_for_quilt_index: int = MAX_NUM_SLIVERS_FOR_QUILT_INDEX,
) -> int:
    """The smallest even symbol size for which every blob fits whole columns of its own.

    `blob_sizes[0]` is the index (prefix included), which must also fit the first
    `max_num_columns_for_quilt_index` columns; the search is upstream's, bound for bound.
    """
    if len(blob_sizes) > n_columns:
        raise TooManyQuiltPatchesError(
            f"too many patches: {len(blob_sizes) - 1}, a quilt with {n_columns} columns holds "
            f"at most {n_columns - 1}"
        )
    if not blob_sizes:
        raise QuiltError("no blobs to lay out")
    low = max(
        _ceil_div(sum(blob_sizes), n_columns * n_rows),
        _ceil_div(blob_sizes[0], n_rows * max_num_columns_for_quilt_index),
        _ceil_div(QUILT_INDEX_PREFIX_SIZE, n_rows),
    )
    high = _ceil_div(max(blob_sizes), n_columns // len(blob_sizes) * n_rows)
    while low < high:
        mid = (low + high) // 2
        if _columns_needed(blob_sizes, mid * n_rows) <= n_columns:
            high = mid
        else:
            low = mid + 1
    symbol_size = _ceil_div(low, SYMBOL_ALIGNMENT) * SYMBOL_ALIGNMENT
    if symbol_size > MAX_SYMBOL_SIZE:
        raise QuiltOversizeError(
            f"the patches need a symbol size of {symbol_size} bytes, over the maximum of "
            f"{MAX_SYMBOL_SIZE}; store fewer or smaller patches"
        )
    return symbol_size


def max_patches(config: EncodingConfig) -> int:
    """The most patches a QuiltV1 holds for this shard count: C − 1 (666 for n = 1000)."""
    return config.n_secondary_source_symbols - 1


class _PatchReader:
    """Patch lookups shared by a whole quilt and a sliver-based reader."""

    def quilt_index(self) -> QuiltIndexV1:
        raise NotImplementedError

    def _column_source(self) -> _ColumnSource:
        raise NotImplementedError

    def get_blob(self, patch: QuiltPatchV1) -> QuiltStoreBlob:
        """Read one patch of the index (its header must carry the same identifier)."""
        return _decode_patch(self._column_source(), patch.internal_id, patch.identifier)

    def get_blobs_by_identifiers(self, identifiers: Iterable[str]) -> list[QuiltStoreBlob]:
        return [self.get_blob(p) for p in self.quilt_index().patches_by_identifiers(identifiers)]

    def get_blobs_by_tag(self, key: str, value: str) -> list[QuiltStoreBlob]:
        return [self.get_blob(p) for p in self.quilt_index().patches_by_tag(key, value)]

    def get_blob_by_internal_id(self, internal_id: QuiltPatchInternalIdV1) -> QuiltStoreBlob:
        """Read a patch from its patch ID's columns alone (the index is not consulted)."""
        return _decode_patch(self._column_source(), internal_id)

    def get_all_blobs(self) -> list[QuiltStoreBlob]:
        return [self.get_blob(p) for p in self.quilt_index().patches]


@dataclass(frozen=True, eq=False)
class QuiltV1(_PatchReader):
    """A whole quilt: its columns, its index, and the blob bytes to store."""

    config: EncodingConfig
    """The encoding parameters the layout was made for (C columns of R symbols)."""
    symbol_size: int
    """Bytes per symbol; the blob is R·C·symbol_size bytes."""
    index: QuiltIndexV1
    """The table of contents."""
    columns: npt.NDArray[np.uint8] = field(repr=False)
    """(C, R·s): column j is the systematic secondary sliver j."""

    @cached_property
    def data(self) -> bytes:
        """The quilt as a blob: the R×C matrix row by row, ready for `encode_blob`."""
        rows = self.config.n_primary_source_symbols
        matrix = self.columns.reshape(len(self.columns), rows, self.symbol_size)
        return matrix.transpose(1, 0, 2).tobytes()

    @property
    def column_size(self) -> int:
        return int(self.columns.shape[1])

    @classmethod
    def from_blob(cls, blob: bytes, config: EncodingConfig) -> QuiltV1:
        """Read a quilt from its blob bytes (a read blob), checking its layout and index."""
        rows, cols = config.n_primary_source_symbols, config.n_secondary_source_symbols
        if not blob:
            raise InvalidQuiltError("the quilt blob is empty")
        if len(blob) % (rows * cols):
            raise InvalidQuiltError(
                f"a quilt for {config.n_shards} shards is a multiple of {rows * cols} bytes, "
                f"got {len(blob)}"
            )
        symbol_size = len(blob) // (rows * cols)
        matrix = np.frombuffer(blob, dtype=np.uint8).reshape(rows, cols, symbol_size)
        columns = np.ascontiguousarray(matrix.transpose(1, 0, 2)).reshape(cols, -1)
        index = _decode_quilt_index(_ColumnSource.of_array(columns))
        return cls(config, symbol_size, index, columns)

    def quilt_index(self) -> QuiltIndexV1:
        return self.index

    @cached_property
    def _whole(self) -> _ColumnSource:
        return _ColumnSource.of_array(self.columns)

    def _column_source(self) -> _ColumnSource:
        return self._whole


def encode_quilt(blobs: Sequence[QuiltStoreBlob], config: EncodingConfig) -> QuiltV1:
    """Lay out patches as a QuiltV1 (`construct_quilt` upstream).

    The patches are sorted by identifier; `.data` of the result is the blob to store (its blob
    ID is the quilt ID) and `.index` names every patch's columns.
    """
    rows, cols = config.n_primary_source_symbols, config.n_secondary_source_symbols
    ordered = sorted(blobs, key=lambda blob: blob.identifier)
    for a, b in pairwise(ordered):
        if a.identifier == b.identifier:
            raise DuplicateQuiltIdentifierError(
                f"duplicate patch identifier {_shown(a.identifier)}"
            )
    if len(ordered) > max_patches(config):
        raise TooManyQuiltPatchesError(
            f"too many patches: {len(ordered)}, a quilt for {config.n_shards} shards holds at "
            f"most {max_patches(config)}"
        )
    placeholder = QuiltIndexV1(tuple(QuiltPatchV1(b.identifier, 0, 0, b.tags) for b in ordered))
    index_size = QUILT_INDEX_PREFIX_SIZE + len(placeholder.to_bcs())
    sizes = [index_size] + [serialized_blob_size(blob) for blob in ordered]
    symbol_size = compute_symbol_size(sizes, cols, rows)
    column_size = rows * symbol_size
    columns = np.zeros((cols, column_size), dtype=np.uint8)
    flat = columns.reshape(-1)

    column = _ceil_div(index_size, column_size)
    patches = []
    for blob in ordered:
        prefix = patch_prefix(blob)
        offset = column * column_size
        flat[offset : offset + len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
        flat[offset + len(prefix) : offset + len(prefix) + len(blob.data)] = np.frombuffer(
            blob.data, dtype=np.uint8
        )
        end = column + _ceil_div(len(prefix) + len(blob.data), column_size)
        patches.append(QuiltPatchV1(blob.identifier, column, end, blob.tags))
        column = end
    index = QuiltIndexV1(tuple(patches))
    index_bytes = index.to_bytes()
    flat[: len(index_bytes)] = np.frombuffer(index_bytes, dtype=np.uint8)
    return QuiltV1(config, symbol_size, index, columns)


class _ColumnSource:
    """Quilt columns by index (all of them for a whole quilt, some for a sliver read)."""

    def __init__(
        self, columns: Mapping[int, bytes | memoryview], column_size: int, n_columns: int
    ) -> None:
        self.columns = columns
        self.column_size = column_size
        self.n_columns = n_columns

    @classmethod
    def of_array(cls, columns: npt.NDArray[np.uint8]) -> _ColumnSource:
        """All columns of a whole quilt, from its (C, column size) array."""
        views = {j: memoryview(column) for j, column in enumerate(columns)}
        return cls(views, int(columns.shape[1]), len(columns))

    def require(self, start: int, end: int) -> None:
        """Raise `MissingSliversError` unless columns [start, end) are all present."""
        missing = [SliverIndex(j) for j in range(start, end) if j not in self.columns]
        if missing:
            raise MissingSliversError(missing)

    def read(self, start_col: int, skip: int, count: int, end_col: int) -> bytes:
        """`count` bytes from `skip` bytes into column `start_col`, within columns < `end_col`."""
        if skip + count > (end_col - start_col) * self.column_size:
            raise InvalidQuiltError(
                f"a size in the quilt points past column {end_col - 1} "
                f"({skip + count} bytes from column {start_col})"
            )
        if count == 0:
            return b""
        first = start_col + skip // self.column_size
        last = start_col + _ceil_div(skip + count, self.column_size)
        self.require(first, last)
        joined = b"".join(self.columns[j] for j in range(first, last))
        offset = skip - (first - start_col) * self.column_size
        return joined[offset : offset + count]


def _read_index_size(source: _ColumnSource) -> int:
    source.require(0, 1)
    prefix = source.read(0, 0, QUILT_INDEX_PREFIX_SIZE, 1)
    if prefix[0] != QUILT_VERSION_V1:
        raise InvalidQuiltError(f"quilt version {prefix[0]}, expected {QUILT_VERSION_V1}")
    size = int.from_bytes(prefix[1:], "little")
    limit = source.column_size * MAX_NUM_SLIVERS_FOR_QUILT_INDEX - QUILT_INDEX_PREFIX_SIZE
    if size > limit:
        raise InvalidQuiltError(
            f"quilt index size {size} exceeds the maximum {limit} "
            f"({MAX_NUM_SLIVERS_FOR_QUILT_INDEX} columns of {source.column_size} bytes)"
        )
    return size


def _decode_quilt_index(source: _ColumnSource) -> QuiltIndexV1:
    """Read and check the index from the first columns."""
    size = _read_index_size(source)
    n_index_columns = _ceil_div(QUILT_INDEX_PREFIX_SIZE + size, source.column_size)
    if n_index_columns > source.n_columns:
        raise InvalidQuiltError(f"quilt index of {size} bytes does not fit the quilt")
    source.require(0, n_index_columns)
    body = source.read(0, QUILT_INDEX_PREFIX_SIZE, size, n_index_columns)
    index = QuiltIndexV1.from_bcs(body, n_index_columns)
    if index.patches and index.patches[-1].end_index > source.n_columns:
        raise InvalidQuiltError(
            f"quilt index points past the last column ({index.patches[-1].end_index} > "
            f"{source.n_columns})"
        )
    return index


def _read_section(source: _ColumnSource, start: int, offset: int, end: int) -> bytes:
    """A u16 LE size and that many bytes, from `offset` bytes into column `start`."""
    size = int.from_bytes(source.read(start, offset, 2, end), "little")
    return source.read(start, offset + 2, size, end)


def _decode_patch(
    source: _ColumnSource, internal_id: QuiltPatchInternalIdV1, identifier: str | None = None
) -> QuiltStoreBlob:
    """Read the patch in columns [start, end); if `identifier` is given, it must match."""
    start, end = internal_id.start_index, internal_id.end_index
    if end > source.n_columns:
        raise InvalidQuiltPatchIdError(
            f"patch columns [{start}, {end}) lie outside the quilt's {source.n_columns} columns"
        )
    source.require(start, end)
    header = BlobHeaderV1.from_bytes(source.read(start, 0, BLOB_HEADER_SIZE, end))
    name_bytes = _read_section(source, start, BLOB_HEADER_SIZE, end)
    offset = BLOB_HEADER_SIZE + 2 + len(name_bytes)
    tags_bytes = _read_section(source, start, offset, end) if header.has_tags else None
    if tags_bytes is not None:
        offset += 2 + len(tags_bytes)
    data_size = header.length - (offset - BLOB_HEADER_SIZE)
    if data_size < 0:
        raise InvalidQuiltError(
            f"patch header length {header.length} at column {start} is smaller than its "
            "identifier and tags"
        )
    data = source.read(start, offset, data_size, end)
    try:
        reader = BcsReader(name_bytes, "patch identifier")
        name = reader.string()
        reader.finish()
        tags: dict[str, str] = {}
        if tags_bytes is not None:
            reader = BcsReader(tags_bytes, "patch tags")
            tags = reader.string_map()
            reader.finish()
        blob = QuiltStoreBlob(name, data, tags)
    except (BcsError, QuiltError) as error:
        raise InvalidQuiltError(f"malformed patch at column {start}: {error}") from None
    if identifier is not None and name != identifier:
        raise InvalidQuiltError(
            f"the patch at column {start} is named {_shown(name)}, "
            f"the index says {_shown(identifier)}"
        )
    return blob


class QuiltDecoderV1(_PatchReader):
    """Reads a quilt's index and patches from some of its systematic secondary slivers.

    Give it secondary sliver 0 to read the index (a `MissingSliversError` names the further
    index slivers if the index spans several columns), then a patch's slivers to read it; no
    other sliver is needed. Slivers must already be verified against the quilt's metadata.
    """

    def __init__(
        self,
        config: EncodingConfig,
        slivers: Iterable[Sliver] = (),
        index: QuiltIndexV1 | None = None,
    ) -> None:
        self.config = config
        self._columns: dict[int, bytes] = {}
        self._column_size: int | None = None
        self._index = index
        self.add_slivers(slivers)

    def add_slivers(self, slivers: Iterable[Sliver]) -> None:
        rows, cols = self.config.n_primary_source_symbols, self.config.n_secondary_source_symbols
        for sliver in slivers:
            if sliver.axis is not SliverType.SECONDARY:
                raise QuiltError("a quilt is read from secondary slivers, got a primary sliver")
            if sliver.index >= cols:
                raise QuiltError(
                    f"secondary sliver {sliver.index} is a recovery column, not quilt data "
                    f"(quilt columns are 0 … {cols - 1})"
                )
            if len(sliver.data) != rows * sliver.symbol_size:
                raise QuiltError(
                    f"secondary sliver {sliver.index} has {len(sliver.data)} bytes, "
                    f"expected {rows} symbols"
                )
            if self._column_size is None:
                self._column_size = len(sliver.data)
            elif len(sliver.data) != self._column_size:
                raise QuiltError(
                    f"column size mismatch: sliver {sliver.index} has {len(sliver.data)} bytes, "
                    f"expected {self._column_size}"
                )
            self._columns[sliver.index] = sliver.data

    def _column_source(self) -> _ColumnSource:
        if self._column_size is None:
            raise MissingSliversError([SliverIndex(0)])
        columns = self.config.n_secondary_source_symbols
        return _ColumnSource(self._columns, self._column_size, columns)

    def index_sliver_indices(self) -> tuple[SliverIndex, ...]:
        """The secondary slivers the index spans (read from sliver 0, which must be present)."""
        source = self._column_source()
        size = _read_index_size(source)
        count = _ceil_div(QUILT_INDEX_PREFIX_SIZE + size, source.column_size)
        return tuple(SliverIndex(j) for j in range(min(count, source.n_columns)))

    def quilt_index(self) -> QuiltIndexV1:
        """The index, decoded once from the index slivers."""
        if self._index is None:
            self._index = _decode_quilt_index(self._column_source())
        return self._index

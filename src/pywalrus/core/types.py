"""Small protocol types: blob IDs, sliver axes, and index, amount and ID newtypes."""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass
from typing import NewType

from pywalrus.core.errors import InvalidBlobIdError

U64_MAX = (1 << 64) - 1
"""The largest Move u64 (prices, capacities and amounts are u64 on chain)."""

ShardIndex = NewType("ShardIndex", int)
"""Index of a shard, in [0, n_shards)."""

SliverPairIndex = NewType("SliverPairIndex", int)
"""Index of a sliver pair, in [0, n_shards); pair p holds primary p and secondary n-1-p."""

SliverIndex = NewType("SliverIndex", int)
"""Index of a primary or secondary sliver, in [0, n_shards)."""

Epoch = NewType("Epoch", int)
"""A Walrus epoch number (u32)."""

Frost = NewType("Frost", int)
"""An amount of WAL in FROST, its smallest unit (1 WAL = 10^9 FROST)."""

ObjectId = NewType("ObjectId", str)
"""A chain object ID: `0x` and 64 lower-case hex digits (a node ID is its pool's object ID)."""

Address = NewType("Address", str)
"""A chain account address: `0x` and 64 lower-case hex digits."""

BLOB_ID_LENGTH = 32
DIGEST_LENGTH = 32


class SliverType(enum.IntEnum):
    """The axis of a sliver; the value is the BCS tag of `ByAxis`."""

    PRIMARY = 0
    SECONDARY = 1

    @property
    def orthogonal(self) -> SliverType:
        """The other axis."""
        return SliverType.SECONDARY if self is SliverType.PRIMARY else SliverType.PRIMARY

    @property
    def label(self) -> str:
        """The lower-case name used in URLs (`primary` / `secondary`)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> SliverType:
        """Parse `primary` or `secondary`."""
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(
                f"sliver type must be 'primary' or 'secondary', not {text!r}"
            ) from None


class EncodingType(enum.IntEnum):
    """The blob encoding; only RS2 is accepted (0 was the retired RaptorQ)."""

    RS2 = 1


@dataclass(frozen=True, slots=True)
class BlobId:
    """A 32-byte content-derived blob identifier."""

    value: bytes
    """The raw 32 bytes, as hashed."""

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes) or len(self.value) != BLOB_ID_LENGTH:
            raise InvalidBlobIdError(f"a blob ID is {BLOB_ID_LENGTH} bytes")

    def __str__(self) -> str:
        return base64.urlsafe_b64encode(self.value).rstrip(b"=").decode()

    def __repr__(self) -> str:
        return f"BlobId({self})"

    @classmethod
    def parse(cls, text: str) -> BlobId:
        """Parse URL-safe base64 without padding (43 characters)."""
        if len(text) != 43:
            raise InvalidBlobIdError(
                f"invalid blob ID {text!r}: expected 43 URL-safe base64 characters"
            )
        try:
            raw = base64.b64decode(text + "=", altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidBlobIdError(f"invalid blob ID {text!r}: not URL-safe base64") from None
        blob_id = cls(raw)
        if str(blob_id) != text:
            raise InvalidBlobIdError(f"invalid blob ID {text!r}: non-canonical encoding")
        return blob_id

    @property
    def as_u256(self) -> int:
        """The on-chain u256 value (the little-endian reading of the bytes)."""
        return int.from_bytes(self.value, "little")

    @classmethod
    def from_u256(cls, value: int) -> BlobId:
        """Convert the on-chain u256 (little-endian) back to a blob ID."""
        if not 0 <= value < 1 << 256:
            raise InvalidBlobIdError("a blob ID u256 must be in [0, 2^256)")
        return cls(value.to_bytes(32, "little"))

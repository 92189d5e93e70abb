"""RS2 encoding parameters for a shard count n, and the size accounting derived from them.

With f = ⌊(n−1)/3⌋ Byzantine shards tolerated, the blob is laid out as an R×C matrix of
symbols, R = n − 2f rows (primary source symbols) by C = n − f columns (secondary source
symbols). Everything a client and a node must agree on about sizes lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import reed_solomon_leopard

from pywalrus.core import pricing
from pywalrus.core.errors import DataTooLargeError, EncodingError
from pywalrus.core.pricing import BYTES_PER_UNIT_SIZE as BYTES_PER_UNIT_SIZE
from pywalrus.core.types import BlobId, ShardIndex, SliverIndex, SliverPairIndex, SliverType

MIN_N_SHARDS: Final = 4
MAX_N_SHARDS: Final = 65535
MAX_SYMBOL_SIZE: Final = 65534
"""RS2 symbols are at most u16::MAX − 1 bytes."""
SYMBOL_ALIGNMENT: Final = 2
"""RS2 symbols are a whole number of GF(2^16) elements."""
DIGEST_LEN: Final = 32


def max_n_faulty(n_shards: int) -> int:
    """f: the largest number of faulty shards tolerated, ⌊(n−1)/3⌋."""
    return (n_shards - 1) // 3


def is_quorum(weight: int, n_shards: int) -> bool:
    """2f+1 by weight: 3w ≥ 2n + 1."""
    return 3 * weight >= 2 * n_shards + 1


def is_validity(weight: int, n_shards: int) -> bool:
    """f+1 by weight (at least one honest shard): 3w ≥ n + 1."""
    return 3 * weight >= n_shards + 1


def quorum_weight(n_shards: int) -> int:
    """The least weight that is a quorum (`is_quorum`): ⌈(2n + 1) / 3⌉."""
    return -(-(2 * n_shards + 1) // 3)


def validity_weight(n_shards: int) -> int:
    """The least weight that is a validity set (`is_validity`): ⌈(n + 1) / 3⌉."""
    return -(-(n_shards + 1) // 3)


@dataclass(frozen=True, slots=True)
class EncodingConfig:
    """RS2 parameters for one shard count."""

    n_shards: int
    """Number of shards n (4 ≤ n ≤ 65535)."""

    def __post_init__(self) -> None:
        if not isinstance(self.n_shards, int) or not (
            MIN_N_SHARDS <= self.n_shards <= MAX_N_SHARDS
        ):
            raise EncodingError(
                f"number of shards must be between {MIN_N_SHARDS} and {MAX_N_SHARDS}, "
                f"got {self.n_shards}"
            )
        for axis in SliverType:
            k = self.n_source_symbols(axis)
            if not reed_solomon_leopard.supports(k, self.n_shards - k):
                raise EncodingError(f"the Reed-Solomon codec does not support n = {self.n_shards}")

    @property
    def f(self) -> int:
        """Maximum number of faulty shards."""
        return max_n_faulty(self.n_shards)

    @property
    def n_primary_source_symbols(self) -> int:
        """R = n − 2f: rows of the message matrix, symbols per secondary sliver."""
        return self.n_shards - 2 * self.f

    @property
    def n_secondary_source_symbols(self) -> int:
        """C = n − f: columns of the message matrix, symbols per primary sliver."""
        return self.n_shards - self.f

    def n_source_symbols(self, axis: SliverType) -> int:
        """Source symbols of the code that encodes along `axis` (R primary, C secondary)."""
        faulty = max_n_faulty(self.n_shards)
        return self.n_shards - (2 * faulty if axis is SliverType.PRIMARY else faulty)

    def sliver_length_in_symbols(self, axis: SliverType) -> int:
        """A primary sliver has C symbols (a matrix row); a secondary has R (a column)."""
        return self.n_source_symbols(axis.orthogonal)

    @property
    def max_blob_size(self) -> int:
        """R · C · 65,534 bytes."""
        return self.n_primary_source_symbols * self.n_secondary_source_symbols * MAX_SYMBOL_SIZE

    def symbol_size(self, unencoded_length: int) -> int:
        """Symbol size for a blob: ⌈max(L,1) / (R·C)⌉ rounded up to an even number."""
        if unencoded_length < 0:
            raise EncodingError("blob length cannot be negative")
        n_symbols = self.n_primary_source_symbols * self.n_secondary_source_symbols
        size = -(-max(unencoded_length, 1) // n_symbols)
        size += size % SYMBOL_ALIGNMENT
        if size > MAX_SYMBOL_SIZE:
            raise DataTooLargeError(
                f"blob of {unencoded_length} bytes exceeds the maximum of {self.max_blob_size} "
                f"bytes for {self.n_shards} shards"
            )
        return size

    @property
    def metadata_length(self) -> int:
        """Bytes of metadata accounted per shard: 64n + 32."""
        return self.n_shards * 2 * DIGEST_LEN + DIGEST_LEN

    def encoded_length(self, unencoded_length: int) -> int:
        """Total encoded size over all shards: n·(64n+32) + n·(R+C)·s."""
        s = self.symbol_size(unencoded_length)
        slivers = self.n_shards * (self.n_primary_source_symbols + self.n_secondary_source_symbols)
        return self.n_shards * self.metadata_length + slivers * s

    def storage_units(self, unencoded_length: int) -> int:
        """Storage units (1 MiB of encoded size each, rounded up) a blob occupies."""
        return pricing.storage_units(self.encoded_length(unencoded_length))

    def sliver_size(self, axis: SliverType, unencoded_length: int) -> int:
        """Bytes of one sliver of `axis`."""
        return self.sliver_length_in_symbols(axis) * self.symbol_size(unencoded_length)

    def check_index(self, index: int, what: str = "index") -> int:
        """Return `index` if it lies in [0, n), else raise."""
        if not isinstance(index, int) or not 0 <= index < self.n_shards:
            raise EncodingError(f"{what} {index} out of range for {self.n_shards} shards")
        return index

    def sliver_index(self, axis: SliverType, pair: SliverPairIndex) -> SliverIndex:
        """The sliver of `axis` in pair p: primary p, secondary n−1−p."""
        self.check_index(pair, "sliver pair index")
        return SliverIndex(pair if axis is SliverType.PRIMARY else self.n_shards - 1 - pair)

    def pair_index(self, axis: SliverType, sliver: SliverIndex) -> SliverPairIndex:
        """The pair holding sliver `sliver` of `axis` (the inverse of `sliver_index`)."""
        self.check_index(sliver, "sliver index")
        return SliverPairIndex(sliver if axis is SliverType.PRIMARY else self.n_shards - 1 - sliver)

    def _rotation(self, blob_id: BlobId) -> int:
        # The blob ID read as a big-endian integer, reduced mod n (Horner's rule upstream).
        return int.from_bytes(blob_id.value, "big") % self.n_shards

    def shard_for_pair(self, pair: SliverPairIndex, blob_id: BlobId) -> ShardIndex:
        """The shard that stores pair p of a blob: (p + offset) mod n."""
        self.check_index(pair, "sliver pair index")
        return ShardIndex((pair + self._rotation(blob_id)) % self.n_shards)

    def pair_for_shard(self, shard: ShardIndex, blob_id: BlobId) -> SliverPairIndex:
        """The sliver pair a shard stores for a blob: (shard − offset) mod n."""
        self.check_index(shard, "shard index")
        return SliverPairIndex((shard - self._rotation(blob_id)) % self.n_shards)

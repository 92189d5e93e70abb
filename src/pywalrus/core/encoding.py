"""RedStuff RS2 encoding of a blob into primary and secondary slivers and their metadata.

The blob is written row-major into an R×C matrix of s-byte symbols (zero-padded). The primary
code extends every column to n symbols: primary sliver i is row i of that n×C matrix. The
secondary code extends every row to n symbols: secondary sliver j is column j of the R×n
matrix. Extending all n primary rows with the secondary code gives the full n×n expanded
matrix; every element's leaf hash serves both its row's tree (the primary sliver hash) and its
column's tree (the secondary sliver hash).
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from pywalrus.core.config import EncodingConfig
from pywalrus.core.merkle import DIGEST_LEN, Digests, leaf_hashes, merkle_roots
from pywalrus.core.metadata import BlobMetadata, SliverPairMetadata
from pywalrus.core.reed_solomon import (
    encode_recovery_padded,
    from_codec_layout,
    padded_symbol_size,
    to_codec_layout,
)
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import BlobId, EncodingType, SliverIndex, SliverPairIndex, SliverType

ROWS_PER_BLOCK_BYTES: Final = 16 * 1024 * 1024
"""Expanded-matrix bytes handled per block, bounding the memory of the hashing pass."""
WORKERS: Final = max(1, min(4, os.cpu_count() or 1))
"""Threads that hash the expanded matrix (the hashing runs without the GIL)."""


def message_matrix(
    blob: bytes, config: EncodingConfig, out: npt.NDArray[np.uint8] | None = None
) -> npt.NDArray[np.uint8]:
    """The R×C×s source matrix: the blob row-major, zero-padded (written into `out` if given)."""
    s = config.symbol_size(len(blob))
    rows, cols = config.n_primary_source_symbols, config.n_secondary_source_symbols
    matrix = np.empty((rows, cols, s), dtype=np.uint8) if out is None else out
    flat = matrix.reshape(-1)
    flat[: len(blob)] = np.frombuffer(blob, dtype=np.uint8)
    flat[len(blob) :] = 0
    return matrix


@dataclass(frozen=True, slots=True)
class ExpandedHashes:
    """The result of hashing the expanded matrix."""

    primary_hashes: Digests
    """(n, 32): hash of primary sliver i."""
    secondary_hashes: Digests
    """(n, 32): hash of secondary sliver j."""
    secondary_recovery: npt.NDArray[np.uint8]
    """(R, n−C, s): the non-systematic part of the first R expanded rows."""


def _split(count: int, parts: int) -> list[tuple[int, int]]:
    step = -(-count // parts)
    return [(a, min(count, a + step)) for a in range(0, count, step)]


def _roots(pool: Executor, leaves: Digests) -> Digests:
    """Merkle roots of the trees along axis 0, computed in parallel."""
    parts = [pool.submit(merkle_roots, leaves[a:b]) for a, b in _split(leaves.shape[0], WORKERS)]
    return np.concatenate([p.result() for p in parts])


def hash_expanded_matrix(primary: npt.NDArray[np.uint8], n_primary_source: int) -> ExpandedHashes:
    """Expand every primary row with the secondary code and hash the n×n matrix.

    The main thread runs the Reed-Solomon expansion block by block (each block of rows laid
    out for the codec on its own, so no codec-layout copy of the whole matrix exists) while
    worker threads hash finished blocks (the hashing releases the GIL), then the 2n tree roots
    are split between the workers. `primary` holds the (n, C) primary symbols.
    """
    n, cols, s = primary.shape
    leaves = np.empty((n, n, DIGEST_LEN), dtype=np.uint8)
    secondary_recovery = np.empty((n_primary_source, n - cols, s), dtype=np.uint8)

    def hash_block(a: int, b: int, recovery_padded: npt.NDArray[np.uint8]) -> None:
        recovery = from_codec_layout(recovery_padded.transpose(1, 0, 2), s)
        leaves[a:b, :cols] = leaf_hashes(primary[a:b])
        leaves[a:b, cols:] = leaf_hashes(recovery)
        if a < n_primary_source:
            top = min(b, n_primary_source)
            secondary_recovery[a:top] = recovery[: top - a]

    block = max(1, ROWS_PER_BLOCK_BYTES // max(1, n * padded_symbol_size(s)))
    with ThreadPoolExecutor(WORKERS) as pool:
        pending = []
        for a in range(0, n, block):
            b = min(n, a + block)
            rows = to_codec_layout(primary[a:b]).transpose(1, 0, 2)
            pending.append(pool.submit(hash_block, a, b, encode_recovery_padded(rows, n)))
        for job in pending:
            job.result()
        primary_hashes = _roots(pool, leaves)
        secondary_hashes = _roots(pool, np.ascontiguousarray(leaves.transpose(1, 0, 2)))
    return ExpandedHashes(primary_hashes, secondary_hashes, secondary_recovery)


def metadata_from_hashes(
    primary_hashes: Digests, secondary_hashes: Digests, unencoded_length: int
) -> BlobMetadata:
    """Metadata entry p = (primary hash p, secondary hash n−1−p)."""
    n = primary_hashes.shape[0]
    pairs = tuple(
        SliverPairMetadata(primary_hashes[p].tobytes(), secondary_hashes[n - 1 - p].tobytes())
        for p in range(n)
    )
    return BlobMetadata(EncodingType.RS2, unencoded_length, pairs)


@dataclass(frozen=True, slots=True)
class EncodedBlob:
    """A blob's slivers and metadata."""

    config: EncodingConfig
    """The encoding parameters."""
    metadata: BlobMetadata
    """The sliver hashes and unencoded length."""
    blob_id: BlobId
    """The blob ID derived from the metadata."""
    primary: npt.NDArray[np.uint8]
    """(n, C, s): primary sliver i is row i."""
    secondary_recovery: npt.NDArray[np.uint8]
    """(R, n − C, s): columns C … n−1 of the R×n secondary matrix."""
    secondary_systematic: npt.NDArray[np.uint8] | None = None
    """(R, C, s): columns 0 … C−1; by default the first R primary rows (the blob itself)."""

    @property
    def secondary(self) -> npt.NDArray[np.uint8]:
        """(R, n, s): secondary sliver j is column j (assembled on demand)."""
        return np.concatenate([self._systematic, self.secondary_recovery], axis=1)

    @property
    def _systematic(self) -> npt.NDArray[np.uint8]:
        if self.secondary_systematic is not None:
            return self.secondary_systematic
        return self.primary[: self.config.n_primary_source_symbols]

    @property
    def symbol_size(self) -> int:
        return int(self.primary.shape[2])

    def primary_sliver(self, index: int) -> Sliver:
        self.config.check_index(index, "primary sliver index")
        return Sliver(
            SliverType.PRIMARY, SliverIndex(index), self.symbol_size, self.primary[index].tobytes()
        )

    def secondary_sliver(self, index: int) -> Sliver:
        self.config.check_index(index, "secondary sliver index")
        return Sliver(
            SliverType.SECONDARY,
            SliverIndex(index),
            self.symbol_size,
            self._secondary_column(index).tobytes(),
        )

    def _secondary_column(self, index: int) -> npt.NDArray[np.uint8]:
        systematic = self._systematic
        cols = systematic.shape[1]
        if index < cols:
            return systematic[:, index]
        return self.secondary_recovery[:, index - cols]

    def sliver(self, axis: SliverType, index: int) -> Sliver:
        if axis is SliverType.PRIMARY:
            return self.primary_sliver(index)
        return self.secondary_sliver(index)

    def sliver_pair(self, pair: SliverPairIndex) -> tuple[Sliver, Sliver]:
        """(primary, secondary) slivers of pair p."""
        return (
            self.primary_sliver(self.config.sliver_index(SliverType.PRIMARY, pair)),
            self.secondary_sliver(self.config.sliver_index(SliverType.SECONDARY, pair)),
        )


def encode_blob(blob: bytes, config: EncodingConfig) -> EncodedBlob:
    """Encode a blob into slivers and compute its metadata and blob ID."""
    n, rows = config.n_shards, config.n_primary_source_symbols
    cols, s = config.n_secondary_source_symbols, config.symbol_size(len(blob))
    # The first R primary slivers are the blob itself: write it there, not into a copy.
    primary = np.empty((n, cols, s), dtype=np.uint8)
    source = message_matrix(blob, config, out=primary[:rows])
    # The other primary slivers, a block of columns at a time: every column is its own
    # codeword, so only a block's codec-layout copy exists at once, not the whole matrix's.
    width = max(1, ROWS_PER_BLOCK_BYTES // max(1, n * padded_symbol_size(s)))
    for c in range(0, cols, width):
        recovery = encode_recovery_padded(to_codec_layout(source[:, c : c + width]), n)
        primary[rows:, c : c + width] = from_codec_layout(recovery, s)
    hashes = hash_expanded_matrix(primary, rows)
    metadata = metadata_from_hashes(hashes.primary_hashes, hashes.secondary_hashes, len(blob))
    return EncodedBlob(config, metadata, metadata.blob_id(), primary, hashes.secondary_recovery)


def compute_metadata(blob: bytes, config: EncodingConfig) -> BlobMetadata:
    """The metadata of a blob (what `walrus blob-id` needs)."""
    return encode_blob(blob, config).metadata

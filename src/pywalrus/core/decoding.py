"""Decoding a blob from verified slivers, and the consistency checks that follow.

Any R = n−2f primary slivers determine every column; any C = n−f secondary slivers determine
every row. Decoded bytes are only returned after a consistency check: by default the hashes of
the systematic primary slivers not received are recomputed and compared with the metadata;
the strict check re-encodes the whole blob and compares the blob ID. A mismatch means the blob
was encoded inconsistently and is reported, never returned.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from pywalrus.core import reed_solomon
from pywalrus.core.encoding import encode_blob
from pywalrus.core.errors import InconsistentBlobError, InvalidSliverError
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver, sliver_roots
from pywalrus.core.types import BlobId, SliverPairIndex, SliverType


class ConsistencyCheck(enum.Enum):
    """How decoded data is checked against the metadata."""

    DEFAULT = "default"
    STRICT = "strict"
    SKIP = "skip"


def _known_symbols(
    slivers: Iterable[Sliver], axis: SliverType, metadata: BlobMetadata
) -> dict[int, npt.NDArray[np.uint8]]:
    config = metadata.config()
    known: dict[int, npt.NDArray[np.uint8]] = {}
    for sliver in slivers:
        if sliver.axis is not axis:
            raise InvalidSliverError(f"expected {axis.label} slivers, got a {sliver.axis.label}")
        sliver.check_shape(config, metadata.unencoded_length)
        known.setdefault(sliver.index, sliver.symbols())
    return known


def decode_matrix(
    slivers: Iterable[Sliver], axis: SliverType, metadata: BlobMetadata
) -> npt.NDArray[np.uint8]:
    """The R×C×s source matrix from slivers of one axis (at least R primary or C secondary).

    The slivers are trusted to match the metadata (verify them first).
    """
    config = metadata.config()
    known = _known_symbols(slivers, axis, metadata)
    if axis is SliverType.PRIMARY:
        return reed_solomon.decode_source(known, config.n_primary_source_symbols, config.n_shards)
    columns = reed_solomon.decode_source(known, config.n_secondary_source_symbols, config.n_shards)
    return np.ascontiguousarray(columns.transpose(1, 0, 2))


def check_consistency(
    matrix: npt.NDArray[np.uint8],
    metadata: BlobMetadata,
    blob_id: BlobId,
    received_primary: Iterable[int] = (),
    check: ConsistencyCheck = ConsistencyCheck.DEFAULT,
) -> None:
    """Raise `InconsistentBlobError` if the decoded matrix disagrees with the metadata."""
    config = metadata.config()
    if check is ConsistencyCheck.SKIP:
        return
    if check is ConsistencyCheck.STRICT:
        blob = matrix.tobytes()[: metadata.unencoded_length]
        if encode_blob(blob, config).blob_id != blob_id:
            raise InconsistentBlobError(
                f"blob {blob_id} is inconsistent: re-encoding changes its ID"
            )
        return
    received = set(received_primary)
    rows = [i for i in range(config.n_primary_source_symbols) if i not in received]
    if not rows:
        return
    roots = sliver_roots(matrix[rows], config.n_shards)
    for row, root in zip(rows, roots, strict=True):
        if root.tobytes() != metadata.sliver_hash(SliverType.PRIMARY, SliverPairIndex(row)):
            raise InconsistentBlobError(
                f"blob {blob_id} is inconsistent: primary sliver {row} does not match its hash"
            )


def decode_blob(
    slivers: Iterable[Sliver],
    metadata: BlobMetadata,
    blob_id: BlobId,
    check: ConsistencyCheck = ConsistencyCheck.DEFAULT,
) -> bytes:
    """Decode verified slivers of one axis into the blob and run the consistency check."""
    slivers = list(slivers)
    if not slivers:
        raise InvalidSliverError("no slivers to decode")
    axis = slivers[0].axis
    if check is not ConsistencyCheck.STRICT:
        systematic = _systematic_blob(slivers, axis, metadata)
        if systematic is not None:
            return systematic
    matrix = decode_matrix(slivers, axis, metadata)
    received = [s.index for s in slivers] if axis is SliverType.PRIMARY else []
    check_consistency(matrix, metadata, blob_id, received, check)
    return matrix.reshape(-1)[: metadata.unencoded_length].tobytes()


def _systematic_blob(
    slivers: list[Sliver], axis: SliverType, metadata: BlobMetadata
) -> bytes | None:
    """The blob joined straight from its R systematic primary slivers, if all are given.

    They are the rows of the source matrix, so nothing needs decoding, and the default check
    has no unreceived systematic sliver to recompute. Joining them without building the
    matrix keeps a read at the slivers plus the blob in memory.
    """
    config = metadata.config()
    rows = config.n_primary_source_symbols
    if axis is not SliverType.PRIMARY:
        return None
    systematic: dict[int, Sliver] = {}
    for sliver in slivers:
        if sliver.axis is not axis:
            raise InvalidSliverError(f"expected {axis.label} slivers, got a {sliver.axis.label}")
        if sliver.index < rows:
            sliver.check_shape(config, metadata.unencoded_length)
            systematic.setdefault(sliver.index, sliver)
    if len(systematic) < rows:
        return None
    remaining = metadata.unencoded_length
    parts = []
    for row in range(rows):
        part = memoryview(systematic[row].data)[:remaining]
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def check_padding_rows(metadata: BlobMetadata, blob_id: BlobId, first: int) -> None:
    """The default consistency check for the systematic primary slivers a reader does not
    fetch because they hold only padding (rows `first`…R−1, past the blob's last byte): each
    must have the metadata hash of an all-zero row, else `InconsistentBlobError`.

    A reader that streams the blob from its verified data rows then checks what a decoder
    would have: every systematic sliver matches the metadata.
    """
    config = metadata.config()
    rows = config.n_primary_source_symbols
    if first >= rows:
        return
    zero_row = np.zeros(
        (1, config.n_secondary_source_symbols, metadata.symbol_size()), dtype=np.uint8
    )
    root = sliver_roots(zero_row, config.n_shards)[0].tobytes()
    for row in range(first, rows):
        if metadata.sliver_hash(SliverType.PRIMARY, SliverPairIndex(row)) != root:
            raise InconsistentBlobError(
                f"blob {blob_id} is inconsistent: primary sliver {row} is padding but does not"
                " match the hash of zeros"
            )

"""Slivers: the rows (primary) and columns (secondary) of the encoded blob that shards store.

A sliver is checked by expanding it with the orthogonal code to n symbols and comparing the
Merkle root over those symbols with the metadata hash of its pair. The same expansion gives
the recovery symbols a sliver holder hands out for slivers of the other axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pywalrus.core import reed_solomon
from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.config import MAX_SYMBOL_SIZE, EncodingConfig
from pywalrus.core.errors import BcsError, InvalidSliverError
from pywalrus.core.merkle import Digests, MerkleTree, leaf_hashes, merkle_roots
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.types import SliverIndex, SliverType


def expand(symbols: npt.NDArray[np.uint8], n_shards: int) -> npt.NDArray[np.uint8]:
    """Expand slivers to n symbols each with the code for their length.

    `symbols` has shape (count, k, s): count slivers of k source symbols. Returns
    (count, n, s); the first k symbols of each are the sliver itself.
    """
    recovery = reed_solomon.encode_recovery(symbols.transpose(1, 0, 2), n_shards)
    return np.concatenate([symbols, recovery.transpose(1, 0, 2)], axis=1)


def expanded_leaf_hashes(symbols: npt.NDArray[np.uint8], n_shards: int) -> Digests:
    """Leaf hashes of the expanded slivers: (count, k, s) → (count, n, 32)."""
    return leaf_hashes(expand(symbols, n_shards))


def sliver_roots(symbols: npt.NDArray[np.uint8], n_shards: int) -> Digests:
    """Sliver hashes (Merkle roots over expanded symbols): (count, k, s) → (count, 32)."""
    return merkle_roots(expanded_leaf_hashes(symbols, n_shards))


@dataclass(frozen=True, slots=True)
class Sliver:
    """`SliverData` of one axis: the symbols of a matrix row (primary) or column (secondary)."""

    axis: SliverType
    """Primary (a row, C symbols) or secondary (a column, R symbols); not part of the BCS."""
    index: SliverIndex
    """The sliver index (secondary sliver of pair p has index n−1−p)."""
    symbol_size: int
    """Bytes per symbol (u16)."""
    data: bytes
    """The symbols, concatenated."""

    def __post_init__(self) -> None:
        if not 0 < self.symbol_size <= MAX_SYMBOL_SIZE or self.symbol_size % 2:
            raise InvalidSliverError(f"invalid symbol size {self.symbol_size}")
        if len(self.data) % self.symbol_size:
            raise InvalidSliverError(
                f"sliver length {len(self.data)} is not a multiple of the symbol size "
                f"{self.symbol_size}"
            )
        if not 0 <= self.index <= 0xFFFF:
            raise InvalidSliverError(f"sliver index {self.index} out of range")

    @property
    def n_symbols(self) -> int:
        return len(self.data) // self.symbol_size

    def symbols(self) -> npt.NDArray[np.uint8]:
        """The symbols as an array of shape (n_symbols, symbol_size)."""
        return np.frombuffer(self.data, dtype=np.uint8).reshape(-1, self.symbol_size)

    def check_shape(self, config: EncodingConfig, unencoded_length: int) -> None:
        """Raise unless index, length and symbol size fit the blob under `config`."""
        if self.index >= config.n_shards:
            raise InvalidSliverError(
                f"sliver index {self.index} out of range for {config.n_shards} shards"
            )
        symbol_size = config.symbol_size(unencoded_length)
        if self.symbol_size != symbol_size:
            raise InvalidSliverError(
                f"sliver symbol size {self.symbol_size} differs from the blob's {symbol_size}"
            )
        expected = config.sliver_size(self.axis, unencoded_length)
        if len(self.data) != expected:
            raise InvalidSliverError(
                f"{self.axis.label} sliver has {len(self.data)} bytes, expected {expected}"
            )

    def expanded_tree(self, config: EncodingConfig) -> MerkleTree:
        """The Merkle tree over this sliver's n expanded symbols."""
        return MerkleTree(expanded_leaf_hashes(self.symbols()[None], config.n_shards)[0])

    def hash(self, config: EncodingConfig) -> bytes:
        """This sliver's hash as the metadata records it."""
        return bytes(sliver_roots(self.symbols()[None], config.n_shards)[0])

    def verify(self, metadata: BlobMetadata) -> None:
        """Check this sliver against (already verified) metadata; raise `InvalidSliverError`."""
        config = metadata.config()
        self.check_shape(config, metadata.unencoded_length)
        pair = config.pair_index(self.axis, self.index)
        if self.hash(config) != metadata.sliver_hash(self.axis, pair):
            raise InvalidSliverError(
                f"{self.axis.label} sliver {self.index} does not match the metadata hash"
            )

    def write(self, writer: BcsWriter) -> None:
        writer.vector(self.data).u16(self.symbol_size).u16(self.index)

    def to_bcs(self) -> bytes:
        writer = BcsWriter()
        self.write(writer)
        return writer.finish()

    @classmethod
    def from_bcs(cls, data: bytes, axis: SliverType) -> Sliver:
        """Decode BCS `SliverData`; the axis comes from context (the URL), not the bytes."""
        reader = BcsReader(data, f"{axis.label} sliver")
        sliver = cls.read(reader, axis)
        reader.finish()
        return sliver

    @classmethod
    def read(cls, reader: BcsReader, axis: SliverType) -> Sliver:
        """Read one `SliverData` from `reader`."""
        payload = reader.vector()
        symbol_size = reader.u16()
        index = reader.u16()
        try:
            return cls(axis, SliverIndex(index), symbol_size, payload)
        except InvalidSliverError as exc:
            raise BcsError(str(exc)) from None


def verify_slivers(slivers: list[Sliver], metadata: BlobMetadata) -> list[bool]:
    """Check many slivers of one axis at once (one batched expansion); True where valid."""
    config = metadata.config()
    ok: list[bool] = []
    candidates: list[Sliver] = []
    for sliver in slivers:
        try:
            sliver.check_shape(config, metadata.unencoded_length)
            ok.append(True)
            candidates.append(sliver)
        except InvalidSliverError:
            ok.append(False)
    if not candidates:
        return ok
    axes = {s.axis for s in candidates}
    if len(axes) != 1:
        raise ValueError("verify_slivers takes slivers of one axis")
    (axis,) = axes
    stacked = np.stack([s.symbols() for s in candidates])
    roots = sliver_roots(stacked, config.n_shards)
    results = iter(
        roots[i].tobytes() == metadata.sliver_hash(axis, config.pair_index(axis, s.index))
        for i, s in enumerate(candidates)
    )
    return [next(results) if flag else False for flag in ok]


def verify_sliver_batch(slivers: Sequence[Sliver], metadata: BlobMetadata) -> list[bool]:
    """`verify_slivers` for slivers of both axes (one batched expansion per axis), in the
    batch's order."""
    valid: dict[int, bool] = {}
    for axis in SliverType:
        positions = [i for i, sliver in enumerate(slivers) if sliver.axis is axis]
        results = verify_slivers([slivers[i] for i in positions], metadata)
        valid.update(zip(positions, results, strict=True))
    return [valid[i] for i in range(len(slivers))]


MAX_BATCH_SLIVERS = 2 * 65535
"""At most both slivers of every pair in one upload batch."""


def encode_sliver_batch(entries: Sequence[tuple[int, Sliver]]) -> bytes:
    """BCS of an upload batch: `vector<(u16 pair index, u8 axis, SliverData)>`.

    A pywalrus extension to the node API (`PUT /v1/blobs/{id}/slivers`): many slivers of one
    blob in one request, where upstream puts each sliver on its own.
    """
    writer = BcsWriter().uleb128(len(entries))
    for pair, sliver in entries:
        writer.u16(pair).u8(sliver.axis)
        sliver.write(writer)
    return writer.finish()


def encode_stored_sliver_batch(axis: SliverType, entries: Sequence[tuple[int, bytes]]) -> bytes:
    """A sliver batch (as `encode_sliver_batch`) of slivers of one axis given as their BCS,
    (pair index, sliver BCS): the answer of `GET /v1/blobs/{id}/slivers`, from stored bytes."""
    writer = BcsWriter().uleb128(len(entries))
    for pair, data in entries:
        writer.u16(pair).u8(axis).fixed_bytes(data)
    return writer.finish()


def decode_sliver_batch(data: bytes) -> list[tuple[int, Sliver]]:
    """Parse an upload batch; raise `BcsError` naming the problem."""
    reader = BcsReader(data, "sliver batch")
    count = reader.uleb128()
    if not 0 < count <= MAX_BATCH_SLIVERS:
        raise BcsError(f"a sliver batch holds 1 to {MAX_BATCH_SLIVERS} slivers, not {count}")
    entries = []
    for _ in range(count):
        pair = reader.u16()
        axis_byte = reader.u8()
        if axis_byte > 1:
            raise BcsError(f"invalid sliver type {axis_byte} in sliver batch")
        entries.append((pair, Sliver.read(reader, SliverType(axis_byte))))
    reader.finish()
    return entries

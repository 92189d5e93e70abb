"""Blob metadata (the sliver-pair hashes), the blob root, and the blob ID derived from them.

Metadata is what every shard keeps for a blob and what every sliver is checked against. Its
Merkle root over the pairs, together with the encoding type and the unencoded length, hashes
to the blob ID, so metadata fetched from an untrusted node is verified by recomputing the ID.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b

import numpy as np

from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.config import EncodingConfig
from pywalrus.core.errors import BcsError, EncodingError, InvalidMetadataError
from pywalrus.core.merkle import DIGEST_LEN, leaf_hashes, merkle_root, read_node, write_node
from pywalrus.core.types import BlobId, EncodingType, SliverPairIndex, SliverType

METADATA_V1_TAG = 0


def derive_blob_id(encoding_type: EncodingType, unencoded_length: int, root_hash: bytes) -> BlobId:
    """BLAKE2b-256(encoding type u8 ‖ unencoded length u64 LE ‖ blob root)."""
    data = bytes([encoding_type]) + unencoded_length.to_bytes(8, "little") + root_hash
    return BlobId(blake2b(data, digest_size=DIGEST_LEN).digest())


@dataclass(frozen=True, slots=True)
class SliverPairMetadata:
    """The Merkle roots of the two slivers of one pair."""

    primary_hash: bytes
    """Root over primary sliver p's expanded symbols (32 bytes)."""
    secondary_hash: bytes
    """Root over secondary sliver n−1−p's expanded symbols (32 bytes)."""

    def hash(self, axis: SliverType) -> bytes:
        return self.primary_hash if axis is SliverType.PRIMARY else self.secondary_hash


@dataclass(frozen=True, slots=True)
class BlobMetadata:
    """`BlobMetadata::V1`: encoding type, unencoded length, and one entry per sliver pair."""

    encoding_type: EncodingType
    """Always RS2."""
    unencoded_length: int
    """Length of the original blob in bytes (u64)."""
    hashes: tuple[SliverPairMetadata, ...]
    """Entry p holds the hashes of primary sliver p and secondary sliver n−1−p."""

    @property
    def n_shards(self) -> int:
        return len(self.hashes)

    def root_hash(self) -> bytes:
        """Merkle root over the pairs; leaf p = H(0x00 ‖ primary_p ‖ secondary_p)."""
        pairs = np.frombuffer(
            b"".join(h.primary_hash + h.secondary_hash for h in self.hashes), dtype=np.uint8
        ).reshape(-1, 2 * DIGEST_LEN)
        return merkle_root(leaf_hashes(pairs))

    def blob_id(self) -> BlobId:
        return derive_blob_id(self.encoding_type, self.unencoded_length, self.root_hash())

    def sliver_hash(self, axis: SliverType, pair: SliverPairIndex) -> bytes:
        return self.hashes[pair].hash(axis)

    def config(self) -> EncodingConfig:
        return EncodingConfig(self.n_shards)

    def symbol_size(self) -> int:
        return self.config().symbol_size(self.unencoded_length)

    def verify(self, blob_id: BlobId, config: EncodingConfig) -> None:
        """Check the metadata belongs to `blob_id` under `config`; raise `InvalidMetadataError`."""
        if self.n_shards != config.n_shards:
            raise InvalidMetadataError(
                f"metadata has {self.n_shards} sliver pairs, expected {config.n_shards}"
            )
        if self.unencoded_length > config.max_blob_size:
            raise InvalidMetadataError(
                f"unencoded length {self.unencoded_length} exceeds the maximum blob size "
                f"{config.max_blob_size}"
            )
        if self.blob_id() != blob_id:
            raise InvalidMetadataError("metadata does not match the blob ID")

    def write(self, writer: BcsWriter) -> None:
        writer.u8(METADATA_V1_TAG).u8(self.encoding_type).u64(self.unencoded_length)
        writer.uleb128(len(self.hashes))
        for pair in self.hashes:
            write_node(writer, pair.primary_hash)
            write_node(writer, pair.secondary_hash)

    def to_bcs(self) -> bytes:
        writer = BcsWriter()
        self.write(writer)
        return writer.finish()

    @classmethod
    def read(cls, reader: BcsReader) -> BlobMetadata:
        version = reader.u8()
        if version != METADATA_V1_TAG:
            raise BcsError(f"unsupported blob metadata version {version}")
        encoding = reader.u8()
        try:
            encoding_type = EncodingType(encoding)
        except ValueError:
            raise BcsError(f"unsupported encoding type {encoding}") from None
        length = reader.u64()
        count = reader.uleb128()
        if count > reader.remaining // 2:
            raise BcsError(f"truncated blob metadata: {count} pairs announced")
        return cls(encoding_type, length, _read_pairs(reader, count))

    @classmethod
    def from_bcs(cls, data: bytes) -> BlobMetadata:
        reader = BcsReader(data, "blob metadata")
        metadata = cls.read(reader)
        reader.finish()
        return metadata


def _read_pairs(reader: BcsReader, count: int) -> tuple[SliverPairMetadata, ...]:
    # Honest metadata is all Digest nodes (tag 1, 33 bytes): parse that layout in one pass.
    record = 2 * (1 + DIGEST_LEN)
    block = reader.peek(count * record)
    if block is not None and bytes(block[:: 1 + DIGEST_LEN]) == b"\x01" * (2 * count):
        raw = bytes(block)
        reader.skip(len(raw))
        return tuple(
            SliverPairMetadata(raw[i + 1 : i + 33], raw[i + 34 : i + 66])
            for i in range(0, len(raw), record)
        )
    return tuple(SliverPairMetadata(read_node(reader), read_node(reader)) for _ in range(count))


@dataclass(frozen=True, slots=True)
class BlobMetadataWithId:
    """Metadata together with the blob ID it claims (the body of GET /metadata)."""

    blob_id: BlobId
    """The blob this metadata describes."""
    metadata: BlobMetadata
    """The metadata itself."""

    def verify(self, config: EncodingConfig) -> None:
        self.metadata.verify(self.blob_id, config)

    def to_bcs(self) -> bytes:
        writer = BcsWriter().fixed_bytes(self.blob_id.value)
        self.metadata.write(writer)
        return writer.finish()

    @classmethod
    def from_bcs(cls, data: bytes) -> BlobMetadataWithId:
        reader = BcsReader(data, "blob metadata with ID")
        blob_id = BlobId(reader.fixed_bytes(DIGEST_LEN))
        metadata = BlobMetadata.read(reader)
        reader.finish()
        return cls(blob_id, metadata)


def encode_metadata_with_id(blob_id: BlobId, metadata: bytes) -> bytes:
    """BCS `BlobMetadataWithId` of a blob ID and its metadata's BCS, as stored (not decoded
    and re-encoded: what a node serves is the bytes it keeps)."""
    return BcsWriter().fixed_bytes(blob_id.value).fixed_bytes(metadata).finish()


def verified_metadata(data: bytes, blob_id: BlobId, config: EncodingConfig) -> BlobMetadata:
    """Decode BCS `BlobMetadataWithId` from an untrusted source and verify it for `blob_id`."""
    try:
        with_id = BlobMetadataWithId.from_bcs(data)
    except (BcsError, EncodingError) as exc:
        raise InvalidMetadataError(f"malformed metadata: {exc}") from None
    if with_id.blob_id != blob_id:
        raise InvalidMetadataError("metadata is for a different blob ID")
    with_id.verify(config)
    return with_id.metadata

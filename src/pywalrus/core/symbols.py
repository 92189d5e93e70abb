"""Recovery symbols: how a shard that lost a sliver rebuilds it from the other axis.

Symbol (i, j) of the expanded n×n matrix lies on primary sliver i and on secondary sliver j.
A holder of secondary sliver j expands it and hands out position i, with a Merkle proof in its
expanded tree; C = n−f such symbols rebuild primary sliver i. Symmetrically R = n−2f symbols
taken from primary slivers rebuild a secondary sliver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pywalrus.core import reed_solomon
from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.config import EncodingConfig
from pywalrus.core.errors import (
    BcsError,
    InvalidSymbolError,
    NotEnoughSymbolsError,
    VerificationError,
)
from pywalrus.core.merkle import MerkleProof, MerkleTree, leaf_hash, leaf_hashes
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver, expand
from pywalrus.core.types import SliverIndex, SliverType


@dataclass(frozen=True, slots=True)
class DecodingSymbol:
    """One symbol of an expanded sliver, tagged with the index of the sliver it came from."""

    index: int
    """Index of the source sliver (u16), i.e. the symbol's position in the target's codeword."""
    data: bytes
    """The symbol bytes."""

    def write(self, writer: BcsWriter) -> None:
        writer.u16(self.index).vector(self.data)

    @classmethod
    def read(cls, reader: BcsReader) -> DecodingSymbol:
        return cls(reader.u16(), reader.vector())


@dataclass(frozen=True, slots=True)
class RecoverySymbol:
    """A decoding symbol with its Merkle proof in the source sliver's expanded tree."""

    symbol: DecodingSymbol
    """The symbol and its source sliver index."""
    proof: MerkleProof
    """Proof of position `target_index` under the source sliver's metadata hash."""

    def verify(
        self,
        target_axis: SliverType,
        target_index: int,
        metadata: BlobMetadata,
        config: EncodingConfig,
    ) -> None:
        """Check this symbol for a target sliver; raise `InvalidSymbolError`."""
        source_axis = target_axis.orthogonal
        if not 0 <= self.symbol.index < config.n_shards:
            raise InvalidSymbolError(f"symbol source index {self.symbol.index} out of range")
        if len(self.symbol.data) != metadata.symbol_size():
            raise InvalidSymbolError(
                f"symbol has {len(self.symbol.data)} bytes, expected {metadata.symbol_size()}"
            )
        pair = config.pair_index(source_axis, SliverIndex(self.symbol.index))
        root = metadata.sliver_hash(source_axis, pair)
        try:
            self.proof.verify(root, target_index, leaf_hash(self.symbol.data), config.n_shards)
        except VerificationError as exc:
            raise InvalidSymbolError(
                f"recovery symbol from {source_axis.label} sliver {self.symbol.index}: {exc}"
            ) from None

    def write(self, writer: BcsWriter) -> None:
        self.symbol.write(writer)
        self.proof.write(writer)

    @classmethod
    def read(cls, reader: BcsReader) -> RecoverySymbol:
        return cls(DecodingSymbol.read(reader), MerkleProof.read(reader))


@dataclass(frozen=True, slots=True)
class GeneralRecoverySymbol:
    """A recovery symbol that names its own target (an element of GET recoverySymbols)."""

    target_axis: SliverType
    """Axis of the sliver this symbol helps recover (tag 0 primary, 1 secondary)."""
    symbol: DecodingSymbol
    """The symbol, taken from a sliver of the other axis."""
    target_index: int
    """Index of the target sliver = position of the symbol in the source's expansion."""
    proof: MerkleProof
    """Proof in the source sliver's expanded tree."""

    def recovery_symbol(self) -> RecoverySymbol:
        return RecoverySymbol(self.symbol, self.proof)

    def verify(self, metadata: BlobMetadata, config: EncodingConfig) -> None:
        if not 0 <= self.target_index < config.n_shards:
            raise InvalidSymbolError(f"target index {self.target_index} out of range")
        self.recovery_symbol().verify(self.target_axis, self.target_index, metadata, config)

    def write(self, writer: BcsWriter) -> None:
        writer.u8(self.target_axis)
        self.symbol.write(writer)
        writer.u16(self.target_index)
        self.proof.write(writer)

    @classmethod
    def read(cls, reader: BcsReader) -> GeneralRecoverySymbol:
        tag = reader.u8()
        try:
            axis = SliverType(tag)
        except ValueError:
            raise BcsError(f"invalid axis tag {tag}") from None
        symbol = DecodingSymbol.read(reader)
        return cls(axis, symbol, reader.u16(), MerkleProof.read(reader))


def encode_recovery_symbols(symbols: Sequence[GeneralRecoverySymbol]) -> bytes:
    """BCS `vec<GeneralRecoverySymbol>`."""
    writer = BcsWriter().uleb128(len(symbols))
    for symbol in symbols:
        symbol.write(writer)
    return writer.finish()


def decode_recovery_symbols(data: bytes) -> list[GeneralRecoverySymbol]:
    reader = BcsReader(data, "recovery symbols")
    count = reader.uleb128()
    symbols = [GeneralRecoverySymbol.read(reader) for _ in range(count)]
    reader.finish()
    return symbols


def encode_decoding_symbols(
    target_axis: SliverType, by_target: Mapping[int, Sequence[DecodingSymbol]]
) -> bytes:
    """BCS `BTreeMap<u16 target sliver index, Vec<(u8 axis, DecodingSymbol)>>`, the answer of
    `GET /v1/blobs/{id}/decodingSymbols`: symbols without proofs for target slivers of
    `target_axis`."""
    writer = BcsWriter().uleb128(len(by_target))
    # BCS orders map entries by the bytes of their keys (u16 little-endian).
    for target in sorted(by_target, key=lambda t: t.to_bytes(2, "little")):
        writer.u16(target).uleb128(len(by_target[target]))
        for symbol in by_target[target]:
            writer.u8(target_axis)
            symbol.write(writer)
    return writer.finish()


def recovery_symbols_from_sliver(
    sliver: Sliver, target_indices: Sequence[int], config: EncodingConfig
) -> list[GeneralRecoverySymbol]:
    """The symbols a holder of `sliver` gives for target slivers of the other axis."""
    expanded = expand(sliver.symbols()[None], config.n_shards)[0]
    tree = MerkleTree(leaf_hashes(expanded))
    out = []
    for target in target_indices:
        config.check_index(target, "target sliver index")
        out.append(
            GeneralRecoverySymbol(
                sliver.axis.orthogonal,
                DecodingSymbol(sliver.index, expanded[target].tobytes()),
                target,
                tree.proof(target),
            )
        )
    return out


def decode_sliver(
    target_axis: SliverType,
    target_index: int,
    symbols: Sequence[DecodingSymbol],
    config: EncodingConfig,
    symbol_size: int,
) -> Sliver:
    """Decode a target sliver from symbols of the other axis (no verification here)."""
    k = config.sliver_length_in_symbols(target_axis)
    known: dict[int, reed_solomon.Symbols] = {}
    for symbol in symbols:
        if len(symbol.data) != symbol_size:
            raise InvalidSymbolError("recovery symbols differ in size")
        known.setdefault(symbol.index, np.frombuffer(symbol.data, dtype=np.uint8)[None])
    if len(known) < k:
        raise NotEnoughSymbolsError(
            f"recovering a {target_axis.label} sliver needs {k} distinct symbols, got {len(known)}"
        )
    source = reed_solomon.decode_source(known, k, config.n_shards)
    return Sliver(target_axis, SliverIndex(target_index), symbol_size, source.tobytes())

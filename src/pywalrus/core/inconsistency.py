"""Sliver recovery with verification, and inconsistency proofs for blobs encoded wrongly.

A node rebuilding a sliver verifies every recovery symbol against the metadata before use.
If verified symbols decode to a sliver whose hash differs from the metadata, the blob's
encoder lied; the symbols themselves are a proof anyone can check (`InconsistencyProof`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.errors import (
    BcsError,
    InconsistentSliverError,
    InvalidSymbolError,
    NotEnoughSymbolsError,
    VerificationError,
)
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver
from pywalrus.core.symbols import RecoverySymbol, decode_sliver
from pywalrus.core.types import SliverType


@dataclass(frozen=True, slots=True)
class InconsistencyProof:
    """Exactly k verified recovery symbols that decode to a sliver the metadata disowns."""

    target_axis: SliverType
    """Axis of the inconsistent sliver (from the URL, not in the BCS)."""
    target_sliver_index: int
    """Index of the sliver whose recomputed hash differs from the metadata (u16)."""
    symbols: tuple[RecoverySymbol, ...]
    """k = n−f symbols (primary target) or n−2f (secondary target), each with its proof."""

    def verify(self, metadata: BlobMetadata) -> None:
        """Raise `VerificationError` unless this proves the blob inconsistent."""
        config = metadata.config()
        if not 0 <= self.target_sliver_index < config.n_shards:
            raise VerificationError(f"target sliver {self.target_sliver_index} out of range")
        k = config.sliver_length_in_symbols(self.target_axis)
        if len(self.symbols) != k:
            raise VerificationError(
                f"an inconsistency proof for a {self.target_axis.label} sliver needs exactly {k} "
                f"symbols, got {len(self.symbols)}"
            )
        if len({s.symbol.index for s in self.symbols}) != k:
            raise VerificationError("inconsistency proof repeats a symbol index")
        for symbol in self.symbols:
            symbol.verify(self.target_axis, self.target_sliver_index, metadata, config)
        sliver = decode_sliver(
            self.target_axis,
            self.target_sliver_index,
            [s.symbol for s in self.symbols],
            config,
            metadata.symbol_size(),
        )
        pair = config.pair_index(self.target_axis, sliver.index)
        if sliver.hash(config) == metadata.sliver_hash(self.target_axis, pair):
            raise VerificationError("the symbols decode to the sliver the metadata records")

    def to_bcs(self) -> bytes:
        writer = BcsWriter().u16(self.target_sliver_index).uleb128(len(self.symbols))
        for symbol in self.symbols:
            symbol.write(writer)
        return writer.finish()

    @classmethod
    def from_bcs(cls, data: bytes, target_axis: SliverType) -> InconsistencyProof:
        reader = BcsReader(data, "inconsistency proof")
        index = reader.u16()
        count = reader.uleb128()
        if count > reader.remaining:
            raise BcsError(f"truncated inconsistency proof: {count} symbols announced")
        symbols = tuple(RecoverySymbol.read(reader) for _ in range(count))
        reader.finish()
        return cls(target_axis, index, symbols)


def recover_sliver(
    target_axis: SliverType,
    target_index: int,
    symbols: Sequence[RecoverySymbol],
    metadata: BlobMetadata,
) -> Sliver:
    """Rebuild a sliver from untrusted recovery symbols.

    Symbols whose proofs fail are dropped; the first k verified symbols with distinct indices
    are decoded. Raises `NotEnoughSymbolsError` when fewer than k verify, and
    `InconsistentSliverError` (carrying the proof) when the result contradicts the metadata.
    """
    config = metadata.config()
    config.check_index(target_index, "target sliver index")
    k = config.sliver_length_in_symbols(target_axis)
    chosen: dict[int, RecoverySymbol] = {}
    for symbol in symbols:
        if symbol.symbol.index in chosen:
            continue
        try:
            symbol.verify(target_axis, target_index, metadata, config)
        except InvalidSymbolError:
            continue
        chosen[symbol.symbol.index] = symbol
        if len(chosen) == k:
            break
    if len(chosen) < k:
        raise NotEnoughSymbolsError(
            f"recovering {target_axis.label} sliver {target_index} needs {k} verified symbols, "
            f"got {len(chosen)}"
        )
    used = tuple(chosen.values())
    sliver = decode_sliver(
        target_axis, target_index, [s.symbol for s in used], config, metadata.symbol_size()
    )
    pair = config.pair_index(target_axis, sliver.index)
    if sliver.hash(config) != metadata.sliver_hash(target_axis, pair):
        raise InconsistentSliverError(InconsistencyProof(target_axis, target_index, used))
    return sliver

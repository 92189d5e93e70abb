"""Systematic Reed-Solomon over GF(2^16), byte-compatible with reed-solomon-simd 3.x (Walrus RS2).

The codec (`reed-solomon-leopard`, bindings to reed-solomon-simd) treats each shard as a
sequence of 64-byte blocks holding 32 GF(2^16) elements, low bytes in 0..31 and high bytes in
32..63; a tail of t = s mod 64 bytes is split in halves (low, high) and zero-padded to a block.
Every element position is coded independently, so once each symbol is laid out as whole
blocks, many symbols can be coded in one call by concatenating them into long shards. That
batching is what makes encoding a whole blob cheap: one call per chunk of columns instead of
one per column.

Arrays here are `uint8` numpy arrays of shape (symbols along the code axis, positions, s).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np
import numpy.typing as npt
import reed_solomon_leopard

from pywalrus.core.errors import NotEnoughSymbolsError
from pywalrus.core.native import native

Symbols = npt.NDArray[np.uint8]

BLOCK: Final = 64
HALF_BLOCK: Final = 32
WORKING_SET_BYTES: Final = 1 << 20
"""Bytes of all shards of one codec call: small enough to stay in cache."""
MIN_CHUNK: Final = 4096
MAX_CHUNK: Final = 1 << 16


def padded_symbol_size(symbol_size: int) -> int:
    """Bytes a symbol occupies in the codec layout (a whole number of 64-byte blocks)."""
    return -(-symbol_size // BLOCK) * BLOCK


def to_codec_layout(symbols: Symbols) -> Symbols:
    """Lay each symbol (last axis) out as whole codec blocks, splitting the tail into halves."""
    s = symbols.shape[-1]
    tail = s % BLOCK
    if tail == 0:
        return np.ascontiguousarray(symbols)
    sp = padded_symbol_size(s)
    if native is not None:
        data = native.to_layout(np.ascontiguousarray(symbols), s)
        return np.frombuffer(data, dtype=np.uint8).reshape(*symbols.shape[:-1], sp)
    full = s - tail
    half = tail // 2
    out = np.zeros((*symbols.shape[:-1], sp), dtype=np.uint8)
    out[..., :full] = symbols[..., :full]
    out[..., full : full + half] = symbols[..., full : full + half]
    out[..., full + HALF_BLOCK : full + HALF_BLOCK + half] = symbols[..., full + half : s]
    return out


def from_codec_layout(padded: Symbols, symbol_size: int) -> Symbols:
    """Undo `to_codec_layout` for symbols of `symbol_size` bytes."""
    tail = symbol_size % BLOCK
    if tail == 0:
        return padded
    if native is not None:
        data = native.from_layout(np.ascontiguousarray(padded), symbol_size)
        return np.frombuffer(data, dtype=np.uint8).reshape(*padded.shape[:-1], symbol_size)
    full = symbol_size - tail
    half = tail // 2
    out = np.empty((*padded.shape[:-1], symbol_size), dtype=np.uint8)
    out[..., :full] = padded[..., :full]
    out[..., full : full + half] = padded[..., full : full + half]
    out[..., full + half :] = padded[..., full + HALF_BLOCK : full + HALF_BLOCK + half]
    return out


def _chunks(row_bytes: int, n_shards: int) -> list[tuple[int, int]]:
    """Cuts of the shards at 64-byte block boundaries; about 1 MiB of shard data per call."""
    per_shard = min(MAX_CHUNK, max(MIN_CHUNK, WORKING_SET_BYTES // max(1, n_shards)))
    step = per_shard // BLOCK * BLOCK
    return [(a, min(a + step, row_bytes)) for a in range(0, row_bytes, step)]


def encode_recovery_padded(padded: Symbols, n_total: int, out: Symbols | None = None) -> Symbols:
    """`encode_recovery` on symbols already in the codec layout, shape (k, m, sp).

    Writes into `out` (shape (n_total − k, m, sp)) when given, and returns it.
    """
    k, m, sp = padded.shape
    n_recovery = n_total - k
    flat = np.ascontiguousarray(padded).reshape(k, m * sp)
    if out is None:
        out = np.empty((n_recovery, m, sp), dtype=np.uint8)
    out_flat = out.reshape(n_recovery, m * sp)
    for a, b in _chunks(m * sp, n_total):
        shards = [flat[i, a:b].tobytes() for i in range(k)]
        recovery = reed_solomon_leopard.encode(shards, n_recovery)
        out_flat[:, a:b] = np.frombuffer(b"".join(recovery), dtype=np.uint8).reshape(
            n_recovery, b - a
        )
    return out


def encode_recovery(source: Symbols, n_total: int) -> Symbols:
    """Recovery symbols of a systematic [n_total, k] code applied along axis 0.

    `source` has shape (k, m, s): m independent codewords of k source symbols each. The result
    has shape (n_total − k, m, s); row i of it is codeword symbol k + i.
    """
    s = source.shape[2]
    return from_codec_layout(encode_recovery_padded(to_codec_layout(source), n_total), s)


def encode_full(source: Symbols, n_total: int) -> Symbols:
    """All n_total codeword symbols along axis 0: the source followed by the recovery symbols."""
    return np.concatenate([source, encode_recovery(source, n_total)], axis=0)


def decode_source(known: Mapping[int, Symbols], k: int, n_total: int) -> Symbols:
    """Recover the k source symbols of m codewords from any k known codeword symbols.

    `known` maps a codeword index in [0, n_total) to an array of shape (m, s); exactly the
    first k entries by index are used. Returns shape (k, m, s).
    """
    indices = sorted(known)
    if len(indices) < k:
        raise NotEnoughSymbolsError(f"decoding needs {k} distinct symbols, got {len(indices)}")
    if indices[0] < 0 or indices[-1] >= n_total:
        raise NotEnoughSymbolsError(f"symbol index out of range [0, {n_total})")
    indices = indices[:k]
    first = known[indices[0]]
    m, s = first.shape
    if any(known[i].shape != (m, s) for i in indices):
        raise NotEnoughSymbolsError("symbols to decode differ in shape")
    result = np.empty((k, m, s), dtype=np.uint8)
    present = [i for i in indices if i < k]
    for i in present:
        result[i] = known[i]
    present_set = set(present)
    missing = [i for i in range(k) if i not in present_set]
    if not missing:
        return result
    padded = {i: to_codec_layout(known[i]).reshape(-1) for i in indices}
    sp = padded_symbol_size(s)
    restored = np.empty((len(missing), m * sp), dtype=np.uint8)
    for a, b in _chunks(m * sp, n_total):
        original = {i: padded[i][a:b].tobytes() for i in indices if i < k}
        recovery = {i - k: padded[i][a:b].tobytes() for i in indices if i >= k}
        decoded = reed_solomon_leopard.decode(k, n_total - k, original, recovery)
        for row, i in enumerate(missing):
            restored[row, a:b] = np.frombuffer(decoded[i], dtype=np.uint8)
    result[missing] = from_codec_layout(restored.reshape(len(missing), m, sp), s)
    return result

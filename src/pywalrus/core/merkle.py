"""Walrus Merkle trees over BLAKE2b-256, with inclusion proofs.

leaf = H(0x00 ‖ data), inner = H(0x01 ‖ left ‖ right). A level with an odd number of nodes is
padded with one Empty node, the constant 32 zero bytes (used as-is, never hashed). One leaf's
hash is the root; no leaves give the Empty root. Proofs list sibling nodes bottom-up.

Batch functions take numpy arrays so that the n² leaves of an expanded blob and its 2n trees
are hashed with as little per-node Python work as possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b
from typing import Final

import numpy as np
import numpy.typing as npt

from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.errors import BcsError, VerificationError
from pywalrus.core.native import native

DIGEST_LEN: Final = 32
EMPTY: Final = bytes(DIGEST_LEN)
"""The Empty node: 32 zero bytes."""
LEAF_PREFIX: Final = 0x00
INNER_PREFIX: Final = 0x01

Digests = npt.NDArray[np.uint8]
"""An array of 32-byte digests, shape (..., 32)."""


def leaf_hash(data: bytes | memoryview) -> bytes:
    """H(0x00 ‖ data)."""
    h = blake2b(b"\x00", digest_size=DIGEST_LEN)
    h.update(data)
    return h.digest()


def inner_hash(left: bytes, right: bytes) -> bytes:
    """H(0x01 ‖ left ‖ right)."""
    return blake2b(b"\x01" + left + right, digest_size=DIGEST_LEN).digest()


def _hash_records_python(buf: bytes, size: int, prefix: int) -> bytes:
    head = bytes([prefix])
    return b"".join(
        [
            blake2b(head + buf[i : i + size], digest_size=DIGEST_LEN).digest()
            for i in range(0, len(buf), size)
        ]
    )


def hash_records(records: npt.NDArray[np.uint8], prefix: int) -> Digests:
    """H(prefix ‖ row) for every row of a 2-D uint8 array; returns shape (rows, 32)."""
    count, size = records.shape
    if count == 0:
        return np.zeros((0, DIGEST_LEN), dtype=np.uint8)
    buf = np.ascontiguousarray(records)
    digests = (
        native.hash_records(buf, size, prefix)
        if native is not None
        else _hash_records_python(buf.tobytes(), size, prefix)
    )
    return np.frombuffer(digests, dtype=np.uint8).reshape(count, DIGEST_LEN)


def leaf_hashes(symbols: npt.NDArray[np.uint8]) -> Digests:
    """Leaf hashes of symbols along the last axis: shape (..., s) → (..., 32)."""
    flat = symbols.reshape(-1, symbols.shape[-1])
    return hash_records(flat, LEAF_PREFIX).reshape(*symbols.shape[:-1], DIGEST_LEN)


def _next_level(level: Digests) -> Digests:
    trees, width, _ = level.shape
    if width % 2:
        level = np.concatenate([level, np.zeros((trees, 1, DIGEST_LEN), dtype=np.uint8)], axis=1)
        width += 1
    pairs = level.reshape(trees * (width // 2), 2 * DIGEST_LEN)
    return hash_records(pairs, INNER_PREFIX).reshape(trees, width // 2, DIGEST_LEN)


def merkle_levels(leaves: Digests) -> list[Digests]:
    """All levels (leaves first, root last) of many equal-size trees: leaves shape (T, m, 32)."""
    levels = [leaves]
    while levels[-1].shape[1] > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def merkle_roots(leaves: Digests) -> Digests:
    """Roots of many equal-size trees at once: (T, m, 32) → (T, 32)."""
    trees, width, _ = leaves.shape
    if width == 0:
        return np.zeros((trees, DIGEST_LEN), dtype=np.uint8)
    if native is not None:
        roots = native.merkle_roots(np.ascontiguousarray(leaves), trees, width)
        return np.frombuffer(roots, dtype=np.uint8).reshape(trees, DIGEST_LEN)
    level = leaves
    while level.shape[1] > 1:
        level = _next_level(level)
    return level[:, 0, :]


def merkle_root(leaves: Digests) -> bytes:
    """Root of one tree over leaf hashes of shape (m, 32)."""
    return bytes(merkle_roots(leaves.reshape(1, -1, DIGEST_LEN))[0])


def proof_length(n_leaves: int) -> int:
    """⌈log2 n⌉ siblings for n > 1 leaves, else 0."""
    return max(0, (n_leaves - 1).bit_length())


@dataclass(frozen=True, slots=True)
class MerkleProof:
    """An inclusion proof: sibling nodes bottom-up (Empty nodes are 32 zero bytes)."""

    path: tuple[bytes, ...]
    """Sibling digests from the leaf level up."""

    def compute_root(self, leaf_index: int, leaf_digest: bytes) -> bytes:
        current = leaf_digest
        index = leaf_index
        for sibling in self.path:
            current = (
                inner_hash(current, sibling) if index % 2 == 0 else inner_hash(sibling, current)
            )
            index >>= 1
        return current

    def verify(self, root: bytes, leaf_index: int, leaf_digest: bytes, n_leaves: int) -> None:
        """Raise `VerificationError` unless this proves `leaf_digest` at `leaf_index`."""
        if not 0 <= leaf_index < n_leaves:
            raise VerificationError(f"leaf index {leaf_index} out of range for {n_leaves} leaves")
        if len(self.path) != proof_length(n_leaves):
            raise VerificationError(
                f"Merkle proof has {len(self.path)} nodes, expected {proof_length(n_leaves)}"
            )
        if self.compute_root(leaf_index, leaf_digest) != root:
            raise VerificationError("Merkle proof does not lead to the expected root")

    def write(self, writer: BcsWriter) -> None:
        writer.uleb128(len(self.path))
        for node in self.path:
            write_node(writer, node)

    @classmethod
    def read(cls, reader: BcsReader) -> MerkleProof:
        count = reader.uleb128()
        if count > 64:
            raise BcsError(f"Merkle proof of {count} nodes is too long")
        return cls(tuple(read_node(reader) for _ in range(count)))


def write_node(writer: BcsWriter, node: bytes) -> None:
    """A `Node`: 0x00 for Empty, else 0x01 ‖ 32-byte digest."""
    if node == EMPTY:
        writer.u8(0)
    else:
        writer.u8(1).fixed_bytes(node)


def read_node(reader: BcsReader) -> bytes:
    tag = reader.u8()
    if tag == 0:
        return EMPTY
    if tag == 1:
        return reader.fixed_bytes(DIGEST_LEN)
    raise BcsError(f"invalid Merkle node tag {tag}")


class MerkleTree:
    """One tree with all levels kept, to produce proofs."""

    def __init__(self, leaves: Digests) -> None:
        """`leaves` are leaf hashes, shape (m, 32)."""
        self._levels = merkle_levels(leaves.reshape(1, -1, DIGEST_LEN))
        self.n_leaves = leaves.shape[0]

    @classmethod
    def from_data(cls, items: npt.NDArray[np.uint8]) -> MerkleTree:
        """A tree over the rows of `items` (shape (m, s)), each leaf-hashed."""
        return cls(leaf_hashes(items))

    @property
    def root(self) -> bytes:
        if self.n_leaves == 0:
            return EMPTY
        return bytes(self._levels[-1][0, 0])

    def proof(self, leaf_index: int) -> MerkleProof:
        if not 0 <= leaf_index < self.n_leaves:
            raise IndexError(f"leaf index {leaf_index} out of range for {self.n_leaves} leaves")
        path = []
        index = leaf_index
        for level in self._levels[:-1]:
            sibling = index ^ 1
            path.append(level[0, sibling].tobytes() if sibling < level.shape[1] else EMPTY)
            index >>= 1
        return MerkleProof(tuple(path))

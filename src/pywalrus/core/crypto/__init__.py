"""Cryptographic primitives of the protocol layer: BLS12-381 keys, signatures and aggregation.

Storage nodes sign protocol messages with BLS12-381 min-pk keys, and certificates are
aggregate signatures of a quorum; `bls` is the one place that talks to a BLS binding. Its
errors (`BlsError`, `InvalidSignatureError`) are in `pywalrus.core.errors`.
"""

from pywalrus.core.crypto.bls import (
    BLS_DST,
    BlsPrivateKey,
    BlsPublicKey,
    BlsSignature,
    aggregate_public_keys,
    aggregate_signatures,
    verify,
    verify_or_raise,
)

__all__ = [
    "BLS_DST",
    "BlsPrivateKey",
    "BlsPublicKey",
    "BlsSignature",
    "aggregate_public_keys",
    "aggregate_signatures",
    "verify",
    "verify_or_raise",
]

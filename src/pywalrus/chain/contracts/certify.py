"""Checking committee certificates inside contracts (`bls_aggregate.move`, `messages.move`).

The committee comes from the system object: members ordered by node ID with their BLS keys
and shard weights. Parsed keys are cached per committee, since every certification of an
epoch is checked against the same members.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pywalrus.chain.objects import Abort, Object
from pywalrus.core.certificates import CertificateError, CommitteeMember, verify_certificate
from pywalrus.core.crypto.bls import BlsPublicKey
from pywalrus.core.errors import BcsError, WalrusError
from pywalrus.core.messages import Deletable, InvalidBlobIdMsg, StorageConfirmation


@dataclass(frozen=True)
class Confirmation:
    """What a quorum confirmed: a blob ID and, for a deletable blob, its object ID."""

    blob_id: str
    """Base64url blob ID."""
    object_id: str | None
    """0x-hex Blob object ID for deletable blobs; None for permanent ones."""


@lru_cache(maxsize=16)
def _members(key: tuple[tuple[str, str, int], ...]) -> tuple[CommitteeMember, ...]:
    return tuple(
        CommitteeMember(BlsPublicKey.from_bytes(bytes.fromhex(pk)), weight, bytes.fromhex(node[2:]))
        for node, pk, weight in key
    )


def committee_members(system: Object) -> tuple[CommitteeMember, ...]:
    committee = system.fields["committee"]
    key = tuple((m["node_id"], m["public_key"], m["weight"]) for m in committee["members"])
    if not key:
        raise Abort("ENoCommittee", "there is no committee in this epoch")
    return _members(key)


def _verify(
    system: Object, signature: bytes, bitmap: bytes, message: bytes, threshold: str
) -> None:
    try:
        verify_certificate(
            committee_members(system),
            system.fields["n_shards"],
            bitmap,
            message,
            signature,
            "quorum" if threshold == "quorum" else "validity",
            epoch=system.fields["epoch"],
        )
    except CertificateError as exc:
        raise Abort("EInvalidCertificate", str(exc)) from None
    except (BcsError, WalrusError, ValueError) as exc:
        raise Abort("EInvalidMessage", str(exc)) from None


def verify_confirmation(
    system: Object, signature: bytes, bitmap: bytes, message: bytes
) -> Confirmation:
    """Check a quorum certificate over a storage confirmation of the current epoch."""
    _verify(system, signature, bitmap, message, "quorum")
    try:
        confirmation = StorageConfirmation.from_bytes(message, allow_trailing=True)
    except (BcsError, WalrusError) as exc:
        raise Abort("EInvalidMessage", str(exc)) from None
    persistence = confirmation.persistence
    object_id = "0x" + persistence.object_id.hex() if isinstance(persistence, Deletable) else None
    return Confirmation(str(confirmation.blob_id), object_id)


def verify_invalid_blob_id(system: Object, signature: bytes, bitmap: bytes, message: bytes) -> str:
    """Check a validity certificate over an InvalidBlobId message; return the blob ID."""
    _verify(system, signature, bitmap, message, "validity")
    try:
        return str(InvalidBlobIdMsg.from_bytes(message, allow_trailing=True).blob_id)
    except (BcsError, WalrusError) as exc:
        raise Abort("EInvalidMessage", str(exc)) from None

"""Checking committee certificates inside contracts (`bls_aggregate.move`, `messages.move`).

The committee comes from the system object: members ordered by node ID with their BLS keys
and shard weights. Parsed keys are cached per committee, since every certification of an
epoch is checked against the same members.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pywalrus.chain.objects import Object
from pywalrus.chain.schema import System
from pywalrus.core.certificates import CommitteeMember, verify_certificate
from pywalrus.core.crypto.bls import BlsPublicKey
from pywalrus.core.errors import Abort, BcsError, CertificateError, WalrusError
from pywalrus.core.messages import Deletable, InvalidBlobIdMsg, StorageConfirmation
from pywalrus.core.types import BlobId


@dataclass(frozen=True)
class Confirmation:
    """What a quorum confirmed: a blob ID and, for a deletable blob, its object ID."""

    blob_id: BlobId
    """The blob ID."""
    object_id: str | None
    """0x-hex Blob object ID for deletable blobs; None for permanent ones."""


@lru_cache(maxsize=16)
def _members(key: tuple[tuple[str, str, int], ...]) -> tuple[CommitteeMember, ...]:
    """Parsed committee members (keys are parsed once per committee)."""
    return tuple(
        CommitteeMember(BlsPublicKey.from_bytes(bytes.fromhex(pk)), weight, bytes.fromhex(node[2:]))
        for node, pk, weight in key
    )


CommitteeKey = tuple[tuple[str, str, int], ...]
CertificateKey = tuple[CommitteeKey, int, int, bytes, bytes, bytes, str]
_verified: dict[CertificateKey, None] = {}
"""Certificates already checked in full (by the RPC server, before sequencing)."""


def committee_key(system: System) -> CommitteeKey:
    key = tuple((m.node_id, m.public_key, m.weight) for m in system.committee.members)
    if not key:
        raise Abort("ENoCommittee", "there is no committee in this epoch")
    return key


def committee_members(system: System) -> tuple[CommitteeMember, ...]:
    return _members(committee_key(system))


def certificate_key(
    system: System | Object, signature: bytes, bitmap: bytes, message: bytes, threshold: str
) -> CertificateKey:
    """Everything a certificate check depends on: committee, shards, epoch and inputs."""
    if isinstance(system, Object):
        system = System.from_object(system)
    committee = committee_key(system)
    return (committee, system.n_shards, system.epoch, bitmap, message, signature, threshold)


def check_certificate(key: CertificateKey) -> bool:
    """The full check, runnable in a worker process: True if the certificate is valid."""
    committee, n_shards, epoch, bitmap, message, signature, threshold = key
    try:
        verify_certificate(
            _members(committee),
            n_shards,
            bitmap,
            message,
            signature,
            "quorum" if threshold == "quorum" else "validity",
            epoch=epoch,
        )
    except (WalrusError, ValueError):
        return False
    return True


def remember_verified(key: CertificateKey) -> None:
    """Record a certificate that passed `check_certificate` for exactly this key."""
    if len(_verified) >= 4096:
        _verified.pop(next(iter(_verified)))
    _verified[key] = None


def _verify(
    system: System, signature: bytes, bitmap: bytes, message: bytes, threshold: str
) -> None:
    if certificate_key(system, signature, bitmap, message, threshold) in _verified:
        return
    try:
        verify_certificate(
            committee_members(system),
            system.n_shards,
            bitmap,
            message,
            signature,
            "quorum" if threshold == "quorum" else "validity",
            epoch=system.epoch,
        )
    except CertificateError as exc:
        raise Abort("EInvalidCertificate", str(exc)) from None
    except (BcsError, WalrusError, ValueError) as exc:
        raise Abort("EInvalidMessage", str(exc)) from None


def verify_confirmation(
    system: System, signature: bytes, bitmap: bytes, message: bytes
) -> Confirmation:
    """Check a quorum certificate over a storage confirmation of the current epoch."""
    _verify(system, signature, bitmap, message, "quorum")
    try:
        confirmation = StorageConfirmation.from_bytes(message, allow_trailing=True)
    except (BcsError, WalrusError) as exc:
        raise Abort("EInvalidMessage", str(exc)) from None
    persistence = confirmation.persistence
    object_id = "0x" + persistence.object_id.hex() if isinstance(persistence, Deletable) else None
    return Confirmation(confirmation.blob_id, object_id)


def verify_invalid_blob_id(
    system: System, signature: bytes, bitmap: bytes, message: bytes
) -> BlobId:
    """Check a validity certificate over an InvalidBlobId message; return the blob ID."""
    _verify(system, signature, bitmap, message, "validity")
    try:
        return InvalidBlobIdMsg.from_bytes(message, allow_trailing=True).blob_id
    except (BcsError, WalrusError) as exc:
        raise Abort("EInvalidMessage", str(exc)) from None

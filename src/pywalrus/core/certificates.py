"""Certificates: one message, many signers, one aggregate BLS signature, and their check.

A client gathers signed confirmations from storage nodes until their shards make a quorum, then
sums the signatures into a certificate. The chain checks it as `bls_aggregate.move`
(`verify_certificate_and_weight`) does, and so does `verify_certificate` here:

1. the signers are a bitmap over committee members (byte i, bit b, least significant bit first,
   is member 8i+b), at most ⌈members/8⌉ bytes and with no bit set past the last member, so a
   signer set has exactly one encoding and no member can be counted twice;
2. the signers' weight (shards held) must reach the threshold: a quorum, 3w ≥ 2n + 1, or
   validity (at least one honest signer), 3w ≥ n + 1, with n the committee's shard count;
3. the aggregate signature must verify against the sum of the signers' public keys;
4. optionally, the message must be of the committee's epoch.

Each failure raises its own `CertificateError` subclass, in the same order the contract aborts,
so the chain can map them to Move abort codes. Summing public keys is safe only because every
committee key came with a proof of possession.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.config import is_quorum, is_validity
from pywalrus.core.crypto.bls import (
    SIGNATURE_LENGTH,
    BlsPublicKey,
    BlsSignature,
    aggregate_public_keys,
    aggregate_signatures,
    verify,
)
from pywalrus.core.errors import (
    BcsError,
    BlsError,
    CertificateEpochError,
    CertificateError,
    CertificateSignatureError,
    InvalidBitmapError,
    InvalidCommitteeError,
    NotEnoughWeightError,
)
from pywalrus.core.messages import ProtocolMessage, SignedMessage

Threshold: TypeAlias = Literal["quorum", "validity"]
"""The weight a certificate must carry: a quorum (2f+1) or validity (f+1, one honest node)."""

NODE_ID_LENGTH: Final = 32
MAX_WEIGHT: Final = 0xFFFF
"""Weights and the shard count are u16 on chain."""
MAX_MEMBERS: Final = 0xFFFF + 1
"""Signer indices are u16."""

_BIT_POSITIONS: Final = tuple(tuple(b for b in range(8) if byte >> b & 1) for byte in range(256))


@dataclass(frozen=True, slots=True)
class CommitteeMember:
    """One member of a BLS signing committee (`BlsCommitteeMember`), as certificates see it."""

    public_key: BlsPublicKey
    """The node's BLS key, registered with a proof of possession."""
    weight: int
    """Shards the node holds in this epoch (u16, ≥ 1 in a committee)."""
    node_id: bytes
    """The 32-byte ID of the node's staking pool; committee members are ordered by it."""

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, BlsPublicKey):
            raise InvalidCommitteeError("a committee member needs a BlsPublicKey")
        if not isinstance(self.weight, int) or not 0 <= self.weight <= MAX_WEIGHT:
            raise InvalidCommitteeError(f"member weight {self.weight!r} is not a u16")
        if not isinstance(self.node_id, bytes) or len(self.node_id) != NODE_ID_LENGTH:
            raise InvalidCommitteeError(f"a node ID is {NODE_ID_LENGTH} bytes")


# --------------------------------------------------------------------------------------------
# Signer bitmaps


def bitmap_length(n_members: int) -> int:
    """⌈members / 8⌉: the longest valid bitmap, and the length `encode_signers` produces."""
    return -(-n_members // 8)


def encode_signers(signers: Iterable[int], n_members: int) -> bytes:
    """The full-length bitmap of `signers` (as the Walrus client builds it for the chain)."""
    bitmap = bytearray(bitmap_length(n_members))
    for index in signers:
        if not isinstance(index, int) or not 0 <= index < n_members:
            raise CertificateError(f"signer {index!r} is not a member of {n_members}")
        if bitmap[index // 8] >> (index % 8) & 1:
            raise CertificateError(f"signer {index} is listed twice")
        bitmap[index // 8] |= 1 << (index % 8)
    return bytes(bitmap)


def decode_signers(bitmap: bytes, n_members: int) -> tuple[int, ...]:
    """The sorted member indices set in `bitmap`; raise `InvalidBitmapError` if malformed.

    The bitmap may be shorter than ⌈members/8⌉ (missing bytes are non-signers) but not longer,
    and bits at or past `n_members` must be clear.
    """
    limit = bitmap_length(n_members)
    if len(bitmap) > limit:
        raise InvalidBitmapError(
            f"signers bitmap is {len(bitmap)} bytes, longer than the {limit} needed for "
            f"{n_members} members"
        )
    signers: list[int] = []
    for byte_index, byte in enumerate(bitmap):
        base = 8 * byte_index
        signers.extend(base + bit for bit in _BIT_POSITIONS[byte])
    if signers and signers[-1] >= n_members:
        raise InvalidBitmapError(
            f"signers bitmap sets bit {signers[-1]}, but the committee has {n_members} members"
        )
    return tuple(signers)


# --------------------------------------------------------------------------------------------
# Verification


def _required_weight(n_shards: int, threshold: Threshold) -> int:
    """The least weight meeting `threshold`: ⌈(2n+1)/3⌉ or ⌈(n+1)/3⌉."""
    return -(-(2 * n_shards + 1) // 3) if threshold == "quorum" else -(-(n_shards + 1) // 3)


def _check_committee(members: Sequence[CommitteeMember], n_shards: int) -> None:
    if not members:
        raise InvalidCommitteeError("the committee has no members")
    if len(members) > MAX_MEMBERS:
        raise InvalidCommitteeError(f"a committee has at most {MAX_MEMBERS} members")
    total = 0
    for index, member in enumerate(members):
        if member.weight <= 0:
            raise InvalidCommitteeError(f"committee member {index} has zero weight")
        total += member.weight
    if total > MAX_WEIGHT:
        raise InvalidCommitteeError(f"committee weights sum to {total}, more than a u16")
    if total != n_shards:
        raise InvalidCommitteeError(
            f"committee weights sum to {total} shards, but n_shards is {n_shards}"
        )


def verify_certificate(
    members: Sequence[CommitteeMember],
    n_shards: int,
    bitmap: bytes,
    message: bytes,
    signature: BlsSignature | bytes,
    threshold: Threshold = "quorum",
    *,
    epoch: int | None = None,
) -> int:
    """Check a certificate against a committee; return the signers' weight (shards).

    `members` is the committee in on-chain order and `n_shards` the sum of their weights. With
    `epoch`, the message header must also be of that epoch (as `verify_quorum_in_epoch` checks).
    Raises `InvalidBitmapError`, `NotEnoughWeightError`, `CertificateSignatureError` or
    `CertificateEpochError`, in that order of precedence; `InvalidCommitteeError` for a
    committee that does not add up; `MessageError` for a header that does not parse.
    """
    if threshold not in ("quorum", "validity"):
        raise ValueError(f"threshold must be 'quorum' or 'validity', not {threshold!r}")
    _check_committee(members, n_shards)
    signers = decode_signers(bytes(bitmap), len(members))
    weight = sum(members[index].weight for index in signers)
    enough = is_quorum(weight, n_shards) if threshold == "quorum" else is_validity(weight, n_shards)
    if not enough:
        rule = "3w ≥ 2n+1" if threshold == "quorum" else "3w ≥ n+1"
        raise NotEnoughWeightError(
            f"certificate below {threshold}: {len(signers)} signers hold {weight} of {n_shards} "
            f"shards, {_required_weight(n_shards, threshold)} needed ({rule})"
        )
    if not isinstance(signature, BlsSignature):
        try:
            signature = BlsSignature.from_bytes(signature)
        except BlsError as exc:
            raise CertificateSignatureError(f"certificate signature: {exc}") from None
    try:
        aggregate_key = aggregate_public_keys(members[index].public_key for index in signers)
    except BlsError:
        aggregate_key = None
    if aggregate_key is None or not verify(aggregate_key, message, signature):
        raise CertificateSignatureError(
            f"certificate signature does not verify against the aggregate key of its "
            f"{len(signers)} signers"
        )
    if epoch is not None:
        header = ProtocolMessage.from_bytes(message)
        if header.epoch != epoch:
            raise CertificateEpochError(
                f"certificate is for epoch {header.epoch}, the committee is of epoch {epoch}"
            )
    return weight


# --------------------------------------------------------------------------------------------
# Certificates


def _b64decode(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise BcsError(f"certificate {name} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise BcsError(f"certificate {name} is not standard padded base64") from None
    if base64.b64encode(raw).decode() != value:
        raise BcsError(f"certificate {name} is not canonical base64")
    return raw


@dataclass(frozen=True, slots=True)
class Certificate:
    """`ProtocolMessageCertificate`: who signed, what they signed, and the aggregate signature.

    BCS (as walrus-core's serde derive): `vector<u16>` signers ‖ `vector<u8>` message ‖ the
    signature as a fixed 96-byte array. JSON (our choice; no Walrus API exchanges certificates
    as JSON): `{"signers": [ints], "serializedMessage": base64, "signature": base64}`, standard
    padded base64 like `SignedMessage`.
    """

    signers: tuple[int, ...]
    """Committee indices of the signers, strictly increasing (u16 each)."""
    serialized_message: bytes
    """The BCS message every signer signed."""
    signature: BlsSignature
    """The sum of the signers' signatures."""

    def __post_init__(self) -> None:
        if not isinstance(self.signers, tuple):
            raise CertificateError("certificate signers must be a tuple of indices")
        previous = -1
        for index in self.signers:
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 0xFFFF:
                raise CertificateError(f"signer index {index!r} is not a u16")
            if index <= previous:
                raise CertificateError("certificate signers must be sorted and distinct")
            previous = index
        if not isinstance(self.serialized_message, bytes):
            raise CertificateError("a certificate's message must be bytes")
        if not isinstance(self.signature, BlsSignature):
            raise CertificateError("a certificate's signature must be a BlsSignature")

    def signers_bitmap(self, n_members: int) -> bytes:
        """The on-chain bitmap for a committee of `n_members`."""
        return encode_signers(self.signers, n_members)

    def verify(
        self,
        members: Sequence[CommitteeMember],
        n_shards: int,
        threshold: Threshold = "quorum",
        *,
        epoch: int | None = None,
    ) -> int:
        """`verify_certificate` for this certificate; return the signers' weight."""
        if self.signers and self.signers[-1] >= len(members):
            raise InvalidBitmapError(
                f"signer {self.signers[-1]} is not a member of a committee of {len(members)}"
            )
        bitmap = encode_signers(self.signers, len(members))
        return verify_certificate(
            members,
            n_shards,
            bitmap,
            self.serialized_message,
            self.signature,
            threshold,
            epoch=epoch,
        )

    def to_bcs(self) -> bytes:
        writer = BcsWriter().uleb128(len(self.signers))
        for index in self.signers:
            writer.u16(index)
        return writer.vector(self.serialized_message).fixed_bytes(self.signature.data).finish()

    @classmethod
    def from_bcs(cls, data: bytes) -> Certificate:
        reader = BcsReader(data, "certificate")
        count = reader.uleb128()
        if count > reader.remaining // 2:
            raise BcsError(f"truncated certificate: {count} signers announced")
        signers = tuple(reader.u16() for _ in range(count))
        message = reader.vector()
        try:
            signature = BlsSignature.from_bytes(reader.fixed_bytes(SIGNATURE_LENGTH))
        except BlsError as exc:
            raise BcsError(f"certificate: {exc}") from None
        reader.finish()
        try:
            return cls(signers, message, signature)
        except CertificateError as exc:
            raise BcsError(str(exc)) from None

    def to_json(self) -> dict[str, object]:
        return {
            "signers": list(self.signers),
            "serializedMessage": base64.b64encode(self.serialized_message).decode(),
            "signature": base64.b64encode(self.signature.data).decode(),
        }

    @classmethod
    def from_json(cls, value: object) -> Certificate:
        """Parse the JSON object form; raise `BcsError` if malformed."""
        if not isinstance(value, Mapping):
            raise BcsError("a certificate must be a JSON object")
        signers = value.get("signers")
        if not isinstance(signers, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in signers
        ):
            raise BcsError("certificate signers must be a list of integers")
        message = _b64decode(value.get("serializedMessage"), "serializedMessage")
        try:
            signature = BlsSignature.from_bytes(_b64decode(value.get("signature"), "signature"))
            return cls(tuple(signers), message, signature)
        except (BlsError, CertificateError) as exc:
            raise BcsError(f"certificate: {exc}") from None


def aggregate_certificate(
    members_count: int, signed: Iterable[tuple[int, SignedMessage]]
) -> Certificate:
    """Combine signed messages of distinct members over identical bytes into a certificate.

    Each signature should have been checked against its member's key on receipt; this only
    refuses what cannot form a certificate: no input, an index outside the committee, a member
    given twice, or members that signed different bytes.
    """
    entries = list(signed)
    if not entries:
        raise CertificateError("no signed messages to aggregate")
    first_index, first = entries[0]
    seen: set[int] = set()
    for index, message in entries:
        if not isinstance(index, int) or not 0 <= index < members_count:
            raise CertificateError(f"signer {index!r} is not a member of {members_count}")
        if index in seen:
            raise CertificateError(f"member {index} appears twice among the signed messages")
        seen.add(index)
        if message.serialized_message != first.serialized_message:
            raise CertificateError(
                f"member {index} signed a different message than member {first_index}"
            )
    try:
        signature = aggregate_signatures(message.signature for _, message in entries)
    except BlsError as exc:
        raise CertificateError(f"cannot aggregate the signatures: {exc}") from None
    return Certificate(tuple(sorted(seen)), first.serialized_message, signature)

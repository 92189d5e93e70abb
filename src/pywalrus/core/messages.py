"""The messages storage nodes sign, their byte layout, and signed-message envelopes.

Every Walrus signed message is the BCS encoding of an intent, an epoch and a body:

    intent type u8 ‖ intent version u8 (= 0) ‖ app ID u8 (= 3) ‖ epoch u32 LE ‖ body

with no length prefix on the body (`contracts/walrus/docs/msg_formats.txt`). The intent type
says what is being attested, so a signature on one kind of message can never be replayed as
another; the epoch is the signer's current epoch, so confirmations do not outlive a committee.

Parsing here is as strict as walrus-core's (BCS must be consumed exactly, the intent must be the
expected one) and raises `MessageError` naming what is wrong. The Move contract only checks the
header and ignores bytes after the body; `allow_trailing=True` reproduces that for the chain.

`ChallengeAttestation` (intent type 7) is a pywalrus extension: upstream has not shipped storage
challenges, so it has no such message (`pywalrus.core.challenge` computes its contents).

The proof of possession that makes key aggregation safe is an ordinary BLS signature over a
`ProofOfPossessionMsg` (`sign_proof_of_possession` / `verify_proof_of_possession`).
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, TypeAlias, TypeVar, cast

from pywalrus.core.bcs import BcsReader, BcsWriter
from pywalrus.core.crypto.bls import (
    PUBLIC_KEY_LENGTH,
    SIGNATURE_LENGTH,
    BlsPrivateKey,
    BlsPublicKey,
    BlsSignature,
    verify_or_raise,
)
from pywalrus.core.errors import (
    BcsError,
    BlsError,
    InvalidSliverError,
    MessageError,
    MessageMismatchError,
)
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import (
    BLOB_ID_LENGTH,
    DIGEST_LENGTH,
    BlobId,
    Epoch,
    ShardIndex,
    SliverIndex,
    SliverType,
)

INTENT_VERSION: Final = 0
"""The only intent version in use."""
STORAGE_APP_ID: Final = 3
"""The app ID of Walrus storage messages."""
HEADER_LENGTH: Final = 7
"""Intent (3 bytes) and epoch (4 bytes)."""
OBJECT_ID_LENGTH: Final = 32
SUI_ADDRESS_LENGTH: Final = 32
MAX_U32: Final = (1 << 32) - 1
MAX_U64: Final = (1 << 64) - 1

_PERMANENT_TAG: Final = 0
_DELETABLE_TAG: Final = 1
_SYNC_SHARD_REQUEST_V1_TAG: Final = 0
_SYNC_SHARD_RESPONSE_V1_TAG: Final = 0


class IntentType(enum.IntEnum):
    """What a signed message attests; the first byte of every message."""

    PROOF_OF_POSSESSION = 0
    BLOB_CERTIFICATION = 1
    INVALID_BLOB_ID = 2
    SYNC_SHARD = 3
    """Only exchanged between storage nodes, never sent to the chain."""
    DENY_LIST_UPDATE = 4
    DENY_LIST_BLOB_DELETED = 5
    PROTOCOL_VERSION = 6
    CHALLENGE_ATTESTATION = 7
    """A pywalrus extension (storage challenges); upstream defines no type 7."""


def _check_epoch(epoch: int) -> None:
    if not isinstance(epoch, int) or not 0 <= epoch <= MAX_U32:
        raise MessageError(f"epoch {epoch!r} is not a u32")


def _check_bytes(value: object, length: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        raise MessageError(f"{what} must be {length} bytes")


def _encode(intent: IntentType, epoch: int, body: bytes) -> bytes:
    header = BcsWriter().u8(intent).u8(INTENT_VERSION).u8(STORAGE_APP_ID).u32(epoch)
    return header.fixed_bytes(body).finish()


def _read_header(reader: BcsReader, what: str) -> tuple[IntentType, Epoch]:
    if reader.remaining < HEADER_LENGTH:
        raise MessageError(
            f"truncated {what}: {reader.remaining} bytes, a message header is {HEADER_LENGTH}"
        )
    type_byte, version, app_id = reader.u8(), reader.u8(), reader.u8()
    epoch = Epoch(reader.u32())
    if version != INTENT_VERSION:
        raise MessageError(f"unsupported intent version {version} in {what} (expected 0)")
    if app_id != STORAGE_APP_ID:
        raise MessageError(f"wrong app ID {app_id} in {what} (expected {STORAGE_APP_ID})")
    try:
        intent = IntentType(type_byte)
    except ValueError:
        raise MessageError(f"unknown intent type {type_byte} in {what}") from None
    return intent, epoch


_T = TypeVar("_T")


def _decode(
    data: bytes,
    intent: IntentType,
    what: str,
    read_body: Callable[[Epoch, BcsReader], _T],
    allow_trailing: bool,
) -> _T:
    """Check the header is `intent`'s, read the body, and (unless allowed) refuse trailing bytes."""
    reader = BcsReader(data, what)
    actual, epoch = _read_header(reader, what)
    if actual is not intent:
        raise MessageError(
            f"{what} must have intent type {intent.value} ({intent.name.lower()}), "
            f"got {actual.value} ({actual.name.lower()})"
        )
    try:
        message = read_body(epoch, reader)
        if not allow_trailing:
            reader.finish()
    except MessageError:
        raise
    except (BcsError, BlsError) as exc:
        raise MessageError(str(exc) if isinstance(exc, BcsError) else f"{what}: {exc}") from None
    return message


# --------------------------------------------------------------------------------------------
# The generic envelope


@dataclass(frozen=True, slots=True)
class ProtocolMessage:
    """Any Walrus message, header decoded and body left as bytes (what Move checks first)."""

    intent_type: IntentType
    """What the message attests."""
    epoch: Epoch
    """The signer's epoch when signing (u32)."""
    body: bytes
    """Everything after the 7-byte header."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)

    def to_bytes(self) -> bytes:
        return _encode(self.intent_type, self.epoch, self.body)

    @classmethod
    def from_bytes(cls, data: bytes) -> ProtocolMessage:
        """Decode the header (known intent type, version 0, app ID 3); the body is the rest."""
        reader = BcsReader(data, "protocol message")
        intent, epoch = _read_header(reader, "protocol message")
        return cls(intent, epoch, reader.fixed_bytes(reader.remaining))


# --------------------------------------------------------------------------------------------
# Storage confirmation (intent 1)


@dataclass(frozen=True, slots=True)
class Permanent:
    """A permanent blob: it cannot be deleted before its end epoch."""


@dataclass(frozen=True, slots=True)
class Deletable:
    """A deletable blob, confirmed for one specific Sui `Blob` object."""

    object_id: bytes
    """The 32-byte ID of the on-chain `Blob` object."""

    def __post_init__(self) -> None:
        _check_bytes(self.object_id, OBJECT_ID_LENGTH, "a deletable blob's object ID")


BlobPersistence: TypeAlias = Permanent | Deletable
"""`BlobPersistenceType`: BCS tag 0 (permanent) or 1 followed by the object ID (deletable)."""

PERMANENT: Final = Permanent()


def _write_persistence(writer: BcsWriter, persistence: BlobPersistence) -> None:
    if isinstance(persistence, Deletable):
        writer.u8(_DELETABLE_TAG).fixed_bytes(persistence.object_id)
    else:
        writer.u8(_PERMANENT_TAG)


def _read_persistence(reader: BcsReader) -> BlobPersistence:
    tag = reader.u8()
    if tag == _PERMANENT_TAG:
        return PERMANENT
    if tag == _DELETABLE_TAG:
        return Deletable(reader.fixed_bytes(OBJECT_ID_LENGTH))
    raise MessageError(f"invalid blob persistence type {tag} (expected 0 or 1)")


@dataclass(frozen=True, slots=True)
class StorageConfirmation:
    """A node's statement that it stores all its slivers of a blob (40 or 72 bytes)."""

    INTENT: ClassVar[IntentType] = IntentType.BLOB_CERTIFICATION

    epoch: Epoch
    """The signer's current epoch (u32); a certificate must be in the committee's epoch."""
    blob_id: BlobId
    """The blob confirmed (its bytes are the on-chain u256 in little-endian)."""
    persistence: BlobPersistence = PERMANENT
    """Permanent, or deletable with the `Blob` object it was registered as."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)
        if not isinstance(self.blob_id, BlobId):
            raise MessageError("a storage confirmation needs a BlobId")
        if not isinstance(self.persistence, Permanent | Deletable):
            raise MessageError("persistence must be Permanent() or Deletable(object_id)")

    def body(self) -> bytes:
        writer = BcsWriter().fixed_bytes(self.blob_id.value)
        _write_persistence(writer, self.persistence)
        return writer.finish()

    def to_bytes(self) -> bytes:
        return _encode(self.INTENT, self.epoch, self.body())

    @classmethod
    def from_bytes(cls, data: bytes, *, allow_trailing: bool = False) -> StorageConfirmation:
        def read(epoch: Epoch, reader: BcsReader) -> StorageConfirmation:
            blob_id = BlobId(reader.fixed_bytes(BLOB_ID_LENGTH))
            return cls(epoch, blob_id, _read_persistence(reader))

        return _decode(data, cls.INTENT, "storage confirmation", read, allow_trailing)


# --------------------------------------------------------------------------------------------
# Invalid blob ID (intent 2)


@dataclass(frozen=True, slots=True)
class InvalidBlobIdMsg:
    """A node's statement that it checked an inconsistency proof for a blob (39 bytes)."""

    INTENT: ClassVar[IntentType] = IntentType.INVALID_BLOB_ID

    epoch: Epoch
    """The signer's current epoch (u32)."""
    blob_id: BlobId
    """The blob shown to be inconsistently encoded."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)
        if not isinstance(self.blob_id, BlobId):
            raise MessageError("an invalid-blob-ID message needs a BlobId")

    def body(self) -> bytes:
        return self.blob_id.value

    def to_bytes(self) -> bytes:
        return _encode(self.INTENT, self.epoch, self.body())

    @classmethod
    def from_bytes(cls, data: bytes, *, allow_trailing: bool = False) -> InvalidBlobIdMsg:
        def read(epoch: Epoch, reader: BcsReader) -> InvalidBlobIdMsg:
            return cls(epoch, BlobId(reader.fixed_bytes(BLOB_ID_LENGTH)))

        return _decode(data, cls.INTENT, "invalid blob ID message", read, allow_trailing)


# --------------------------------------------------------------------------------------------
# Challenge attestation (intent 7, a pywalrus extension)


@dataclass(frozen=True, slots=True)
class ChallengeAttestation:
    """A peer's statement that a node proved possession of its challenge sample (103 bytes).

    Body: challenged node ID (32 bytes) ‖ challenge seed (32 bytes) ‖ sample digest (32 bytes);
    the epoch in the header is the challenge's epoch. Quorum-weight aggregates of these are what
    `challenge::certify_passed` accepts.
    """

    INTENT: ClassVar[IntentType] = IntentType.CHALLENGE_ATTESTATION

    epoch: Epoch
    """The epoch whose challenge was answered (u32)."""
    node_id: bytes
    """The challenged node's 32-byte ID."""
    seed: bytes
    """The epoch's 32-byte challenge seed (`challenge.challenge_seed`)."""
    sample_digest: bytes
    """`challenge.sample_digest` of the challenged node's sample, as the signer computed it."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)
        _check_bytes(self.node_id, OBJECT_ID_LENGTH, "a challenged node ID")
        _check_bytes(self.seed, DIGEST_LENGTH, "a challenge seed")
        _check_bytes(self.sample_digest, DIGEST_LENGTH, "a challenge sample digest")

    def body(self) -> bytes:
        return self.node_id + self.seed + self.sample_digest

    def to_bytes(self) -> bytes:
        return _encode(self.INTENT, self.epoch, self.body())

    @classmethod
    def from_bytes(cls, data: bytes, *, allow_trailing: bool = False) -> ChallengeAttestation:
        def read(epoch: Epoch, reader: BcsReader) -> ChallengeAttestation:
            node_id = reader.fixed_bytes(OBJECT_ID_LENGTH)
            seed = reader.fixed_bytes(DIGEST_LENGTH)
            return cls(epoch, node_id, seed, reader.fixed_bytes(DIGEST_LENGTH))

        return _decode(data, cls.INTENT, "challenge attestation", read, allow_trailing)


# --------------------------------------------------------------------------------------------
# Proof of possession (intent 0)


@dataclass(frozen=True, slots=True)
class ProofOfPossessionMsg:
    """What a node signs to prove it holds its BLS key, bound to its Sui address (87 bytes)."""

    INTENT: ClassVar[IntentType] = IntentType.PROOF_OF_POSSESSION

    epoch: Epoch
    """The current Walrus epoch when registering or rotating the key (u32)."""
    sui_address: bytes
    """The 32-byte address of the transaction sender (`register_candidate` et al.)."""
    public_key: BlsPublicKey
    """The node's BLS public key, BCS-encoded as a fixed 48-byte array (no length prefix)."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)
        _check_bytes(self.sui_address, SUI_ADDRESS_LENGTH, "a Sui address")
        if not isinstance(self.public_key, BlsPublicKey):
            raise MessageError("a proof of possession needs a BlsPublicKey")

    def body(self) -> bytes:
        return self.sui_address + self.public_key.data

    def to_bytes(self) -> bytes:
        return _encode(self.INTENT, self.epoch, self.body())

    @classmethod
    def from_bytes(cls, data: bytes, *, allow_trailing: bool = False) -> ProofOfPossessionMsg:
        def read(epoch: Epoch, reader: BcsReader) -> ProofOfPossessionMsg:
            address = reader.fixed_bytes(SUI_ADDRESS_LENGTH)
            return cls(epoch, address, BlsPublicKey(reader.fixed_bytes(PUBLIC_KEY_LENGTH)))

        return _decode(data, cls.INTENT, "proof-of-possession message", read, allow_trailing)


def sign_proof_of_possession(key: BlsPrivateKey, epoch: int, sui_address: bytes) -> BlsSignature:
    """The 96-byte signature `register_candidate` / `set_next_public_key` expect."""
    message = ProofOfPossessionMsg(Epoch(epoch), sui_address, key.public_key())
    return key.sign(message.to_bytes())


def verify_proof_of_possession(
    public_key: BlsPublicKey, epoch: int, sui_address: bytes, signature: BlsSignature | bytes
) -> bool:
    """Whether `signature` proves possession of `public_key` for `sui_address` in `epoch`.

    As on chain, a signature that is not a valid encoding simply fails to verify.
    """
    if not isinstance(signature, BlsSignature):
        try:
            signature = BlsSignature.from_bytes(signature)
        except BlsError:
            return False
    message = ProofOfPossessionMsg(Epoch(epoch), sui_address, public_key).to_bytes()
    return public_key.verify(message, signature)


# --------------------------------------------------------------------------------------------
# Sync shard (intent 3)


@dataclass(frozen=True, slots=True)
class SyncShardRequest:
    """`SyncShardRequest::V1`: a page of a shard's slivers asked of its previous owner."""

    shard_index: ShardIndex
    """The shard to transfer (u16)."""
    sliver_type: SliverType
    """Which axis of slivers to send (stored separately, so fetched separately)."""
    starting_blob_id: BlobId
    """Scan the shard from this blob ID on (inclusive, in key order)."""
    sliver_count: int
    """How many slivers to return at most (u64)."""
    epoch: Epoch
    """Sync blobs certified before this epoch: the epoch the requester is moving into (u32)."""

    def __post_init__(self) -> None:
        if not isinstance(self.shard_index, int) or not 0 <= self.shard_index <= 0xFFFF:
            raise MessageError(f"shard index {self.shard_index!r} is not a u16")
        if not isinstance(self.sliver_count, int) or not 0 <= self.sliver_count <= MAX_U64:
            raise MessageError(f"sliver count {self.sliver_count!r} is not a u64")
        _check_epoch(self.epoch)

    def write(self, writer: BcsWriter) -> None:
        writer.uleb128(_SYNC_SHARD_REQUEST_V1_TAG).u16(self.shard_index)
        writer.uleb128(self.sliver_type).fixed_bytes(self.starting_blob_id.value)
        writer.u64(self.sliver_count).u32(self.epoch)

    @classmethod
    def read(cls, reader: BcsReader) -> SyncShardRequest:
        version = reader.uleb128()
        if version != _SYNC_SHARD_REQUEST_V1_TAG:
            raise MessageError(f"unsupported sync shard request version {version}")
        shard = ShardIndex(reader.u16())
        axis = reader.uleb128()
        if axis > SliverType.SECONDARY:
            raise MessageError(f"invalid sliver type {axis} in sync shard request")
        blob_id = BlobId(reader.fixed_bytes(BLOB_ID_LENGTH))
        return cls(shard, SliverType(axis), blob_id, reader.u64(), Epoch(reader.u32()))


@dataclass(frozen=True, slots=True)
class SyncShardMsg:
    """A node's signed request for shard data during an epoch change (55 bytes)."""

    INTENT: ClassVar[IntentType] = IntentType.SYNC_SHARD

    epoch: Epoch
    """The requester's current epoch (u32)."""
    request: SyncShardRequest
    """What is asked for."""

    def __post_init__(self) -> None:
        _check_epoch(self.epoch)

    def body(self) -> bytes:
        writer = BcsWriter()
        self.request.write(writer)
        return writer.finish()

    def to_bytes(self) -> bytes:
        return _encode(self.INTENT, self.epoch, self.body())

    @classmethod
    def from_bytes(cls, data: bytes, *, allow_trailing: bool = False) -> SyncShardMsg:
        def read(epoch: Epoch, reader: BcsReader) -> SyncShardMsg:
            return cls(epoch, SyncShardRequest.read(reader))

        return _decode(data, cls.INTENT, "sync shard message", read, allow_trailing)


@dataclass(frozen=True, slots=True)
class SyncShardResponse:
    """`SyncShardResponse::V1`: a page of a shard's slivers, in blob-ID order.

    BCS: version tag (uleb128, 0), then a vector of (blob ID as 32 bytes, `Sliver`), where a
    `Sliver` is the `ByAxis` enum: axis tag (uleb128, 0 primary / 1 secondary) and `SliverData`.
    Nothing here is trusted: the receiver checks every sliver against the blob's metadata.
    """

    slivers: tuple[tuple[BlobId, Sliver], ...] = ()
    """(blob ID, sliver) pairs as the sender listed them."""

    def to_bcs(self) -> bytes:
        return encode_sync_shard_response(
            [(blob_id, sliver.axis, sliver.to_bcs()) for blob_id, sliver in self.slivers]
        )

    @classmethod
    def from_bcs(cls, data: bytes) -> SyncShardResponse:
        """Parse strictly (known version and axis tags, no trailing bytes); `MessageError`."""
        reader = BcsReader(data, "sync shard response")
        try:
            version = reader.uleb128()
            if version != _SYNC_SHARD_RESPONSE_V1_TAG:
                raise MessageError(f"unsupported sync shard response version {version}")
            slivers = []
            for _ in range(reader.uleb128()):
                blob_id = BlobId(reader.fixed_bytes(BLOB_ID_LENGTH))
                axis = reader.uleb128()
                if axis > SliverType.SECONDARY:
                    raise MessageError(f"invalid sliver type {axis} in sync shard response")
                payload = reader.vector()
                symbol_size = reader.u16()
                index = SliverIndex(reader.u16())
                sliver = Sliver(SliverType(axis), index, symbol_size, payload)
                slivers.append((blob_id, sliver))
            reader.finish()
        except InvalidSliverError as exc:
            raise MessageError(f"sync shard response: {exc}") from None
        except MessageError:
            raise
        except BcsError as exc:
            raise MessageError(str(exc)) from None
        return cls(tuple(slivers))


def encode_sync_shard_response(items: Sequence[tuple[BlobId, SliverType, bytes]]) -> bytes:
    """A `SyncShardResponse` from slivers already in BCS (`SliverData`), as a node stores them."""
    writer = BcsWriter().uleb128(_SYNC_SHARD_RESPONSE_V1_TAG).uleb128(len(items))
    for blob_id, axis, sliver_data in items:
        writer.fixed_bytes(blob_id.value).uleb128(axis).fixed_bytes(sliver_data)
    return writer.finish()


# --------------------------------------------------------------------------------------------
# Dispatch and signed envelopes

Message: TypeAlias = (
    ProofOfPossessionMsg
    | StorageConfirmation
    | InvalidBlobIdMsg
    | SyncShardMsg
    | ChallengeAttestation
    | ProtocolMessage
)
"""A decoded message: a typed one where we model the body, else the generic envelope."""

_M = TypeVar("_M", bound=Message)

_TYPED: Final[Mapping[IntentType, Callable[[bytes], Message]]] = {
    IntentType.PROOF_OF_POSSESSION: ProofOfPossessionMsg.from_bytes,
    IntentType.BLOB_CERTIFICATION: StorageConfirmation.from_bytes,
    IntentType.INVALID_BLOB_ID: InvalidBlobIdMsg.from_bytes,
    IntentType.SYNC_SHARD: SyncShardMsg.from_bytes,
    IntentType.CHALLENGE_ATTESTATION: ChallengeAttestation.from_bytes,
}


def parse_message(data: bytes) -> Message:
    """Decode any message by its intent type; raise `MessageError` if it does not parse."""
    envelope = ProtocolMessage.from_bytes(data)
    parse = _TYPED.get(envelope.intent_type)
    return envelope if parse is None else parse(data)


def _b64decode(value: object, name: str) -> bytes:
    """Standard base64 (`+/`, padded, canonical), as serde_with's `Base64` requires."""
    if not isinstance(value, str):
        raise MessageError(f"{name} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MessageError(f"{name} is not standard padded base64") from None
    if base64.b64encode(raw).decode() != value:
        raise MessageError(f"{name} is not canonical base64")
    return raw


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """A BCS-encoded message and one node's BLS signature over exactly those bytes."""

    serialized_message: bytes
    """The message as signed; decode it with `message()` or `verify()`."""
    signature: BlsSignature
    """The signer's BLS signature over `serialized_message`."""

    def __post_init__(self) -> None:
        if not isinstance(self.serialized_message, bytes):
            raise MessageError("a signed message's serialized message must be bytes")
        if not isinstance(self.signature, BlsSignature):
            raise MessageError("a signed message's signature must be a BlsSignature")

    @classmethod
    def sign(cls, key: BlsPrivateKey, message: Message) -> SignedMessage:
        data = message.to_bytes()
        return cls(data, key.sign(data))

    def message(self) -> Message:
        """The decoded message, without checking the signature."""
        return parse_message(self.serialized_message)

    def verify(self, public_key: BlsPublicKey) -> Message:
        """Decode, then check the signature; raise `MessageError` / `InvalidSignatureError`."""
        message = self.message()
        verify_or_raise(public_key, self.serialized_message, self.signature)
        return message

    def verify_contents(self, public_key: BlsPublicKey, expected: _M) -> _M:
        """Check this is `expected` (same type, epoch and body) signed by `public_key`.

        The signature is checked last, being the expensive step.
        """
        parsed = cast(_M, type(expected).from_bytes(self.serialized_message))
        if parsed.epoch != expected.epoch:
            raise MessageMismatchError(
                f"expected a message for epoch {expected.epoch}, got epoch {parsed.epoch}"
            )
        if parsed != expected:
            raise MessageMismatchError("the signed message differs from the expected one")
        verify_or_raise(public_key, self.serialized_message, self.signature)
        return parsed

    def to_json(self) -> dict[str, str]:
        """`{"serializedMessage": base64, "signature": base64}` in standard padded base64."""
        return {
            "serializedMessage": base64.b64encode(self.serialized_message).decode(),
            "signature": base64.b64encode(self.signature.data).decode(),
        }

    @classmethod
    def from_json(cls, value: object) -> SignedMessage:
        """Parse the JSON object form; unknown keys are ignored, as serde does."""
        if not isinstance(value, Mapping):
            raise MessageError("a signed message must be a JSON object")
        for key in ("serializedMessage", "signature"):
            if key not in value:
                raise MessageError(f"signed message lacks {key!r}")
        message = _b64decode(value["serializedMessage"], "serializedMessage")
        try:
            signature = BlsSignature.from_bytes(_b64decode(value["signature"], "signature"))
        except BlsError as exc:
            raise MessageError(f"signed message: {exc}") from None
        return cls(message, signature)

    def to_bcs(self) -> bytes:
        """`vector<u8>` message, then the signature as a fixed 96-byte array."""
        return BcsWriter().vector(self.serialized_message).fixed_bytes(self.signature.data).finish()

    @classmethod
    def from_bcs(cls, data: bytes) -> SignedMessage:
        reader = BcsReader(data, "signed message")
        message = reader.vector()
        try:
            signature = BlsSignature.from_bytes(reader.fixed_bytes(SIGNATURE_LENGTH))
        except BlsError as exc:
            raise MessageError(f"signed message: {exc}") from None
        reader.finish()
        return cls(message, signature)

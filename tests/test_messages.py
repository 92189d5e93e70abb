"""Signed protocol messages: byte layouts (checked against walrus-core), parsing, JSON."""

from __future__ import annotations

import base64
import json

import pytest

from pywalrus.core.bcs import BcsWriter
from pywalrus.core.crypto.bls import BlsPrivateKey, BlsSignature
from pywalrus.core.errors import BcsError, InvalidSignatureError, MessageError, MessageMismatchError
from pywalrus.core.messages import (
    PERMANENT,
    Deletable,
    IntentType,
    InvalidBlobIdMsg,
    Message,
    ProofOfPossessionMsg,
    ProtocolMessage,
    SignedMessage,
    StorageConfirmation,
    SyncShardMsg,
    SyncShardRequest,
    SyncShardResponse,
    parse_message,
    sign_proof_of_possession,
    verify_proof_of_possession,
)
from pywalrus.core.metadata import BlobMetadata
from pywalrus.core.slivers import Sliver
from pywalrus.core.types import BlobId, Epoch, ShardIndex, SliverIndex, SliverType

fastcrypto = pytest.importorskip("pysui_fastcrypto")

EPOCH = Epoch(21)
BLOB_ID = BlobId(bytes([7]) * 32)
OBJECT_ID = bytes([42]) * 32
ADDRESS = bytes(range(100, 132))
KEY = BlsPrivateKey.from_seed(bytes(range(32)))
OTHER_KEY = BlsPrivateKey.from_seed(bytes(range(1, 33)))


# --- layouts ----------------------------------------------------------------------------------


def test_permanent_confirmation_layout() -> None:
    data = StorageConfirmation(EPOCH, BLOB_ID).to_bytes()
    assert len(data) == 40
    assert data[:3] == bytes([1, 0, 3])
    assert data[3:7] == (21).to_bytes(4, "little")
    assert data[7:39] == BLOB_ID.value
    assert data[39:] == b"\x00"


def test_deletable_confirmation_layout() -> None:
    data = StorageConfirmation(EPOCH, BLOB_ID, Deletable(OBJECT_ID)).to_bytes()
    assert len(data) == 72
    assert data[:7] == bytes([1, 0, 3]) + (21).to_bytes(4, "little")
    assert data[7:39] == BLOB_ID.value
    assert data[39:40] == b"\x01"
    assert data[40:] == OBJECT_ID


@pytest.mark.parametrize("epoch", [0, 1, 21, 0x01020304, 2**32 - 1])
@pytest.mark.parametrize("deletable", [False, True])
def test_confirmation_matches_walrus_core(epoch: int, deletable: bool) -> None:
    blob_id = BlobId(bytes(range(epoch % 200, epoch % 200 + 32)))
    persistence = Deletable(OBJECT_ID) if deletable else PERMANENT
    ours = StorageConfirmation(Epoch(epoch), blob_id, persistence).to_bytes()
    theirs = fastcrypto.bls_confirmation_bytes(
        epoch, blob_id.value, OBJECT_ID if deletable else None
    )
    assert ours == bytes(theirs)
    assert StorageConfirmation.from_bytes(ours) == StorageConfirmation(
        Epoch(epoch), blob_id, persistence
    )


def test_invalid_blob_id_layout() -> None:
    blob_id = BlobId(bytes(range(32)))
    data = InvalidBlobIdMsg(EPOCH, blob_id).to_bytes()
    assert data == bytes([2, 0, 3]) + (21).to_bytes(4, "little") + bytes(range(32))
    assert len(data) == 39
    assert InvalidBlobIdMsg.from_bytes(data) == InvalidBlobIdMsg(EPOCH, blob_id)


def test_proof_of_possession_layout() -> None:
    public = KEY.public_key()
    data = ProofOfPossessionMsg(EPOCH, ADDRESS, public).to_bytes()
    assert len(data) == 87
    assert data == bytes([0, 0, 3]) + (21).to_bytes(4, "little") + ADDRESS + public.data
    assert ProofOfPossessionMsg.from_bytes(data) == ProofOfPossessionMsg(EPOCH, ADDRESS, public)


def test_sync_shard_layout() -> None:
    request = SyncShardRequest(ShardIndex(0x0102), SliverType.SECONDARY, BLOB_ID, 5, Epoch(22))
    data = SyncShardMsg(EPOCH, request).to_bytes()
    expected = (
        bytes([3, 0, 3])
        + (21).to_bytes(4, "little")
        + b"\x00"  # SyncShardRequest::V1
        + bytes([0x02, 0x01])  # shard index u16
        + b"\x01"  # secondary
        + BLOB_ID.value
        + (5).to_bytes(8, "little")
        + (22).to_bytes(4, "little")
    )
    assert data == expected and len(data) == 55
    assert SyncShardMsg.from_bytes(data) == SyncShardMsg(EPOCH, request)


def test_sync_shard_response_layout() -> None:
    primary = Sliver(SliverType.PRIMARY, SliverIndex(0x0203), 2, b"\xaa\xbb\xcc\xdd")
    secondary = Sliver(SliverType.SECONDARY, SliverIndex(5), 4, b"\x01\x02\x03\x04")
    other = BlobId(bytes(range(32)))
    data = SyncShardResponse(((BLOB_ID, primary), (other, secondary))).to_bcs()
    expected = (
        b"\x00"  # SyncShardResponse::V1
        + b"\x02"  # two (blob ID, sliver) entries
        + BLOB_ID.value
        + b"\x00"  # Sliver::Primary
        + b"\x04\xaa\xbb\xcc\xdd"  # SliverData.symbols.data
        + b"\x02\x00"  # symbol size u16
        + b"\x03\x02"  # sliver index u16
        + other.value
        + b"\x01"  # Sliver::Secondary
        + b"\x04\x01\x02\x03\x04"
        + b"\x04\x00"
        + b"\x05\x00"
    )
    assert data == expected
    assert SyncShardResponse.from_bcs(data) == SyncShardResponse(
        ((BLOB_ID, primary), (other, secondary))
    )
    assert SyncShardResponse.from_bcs(b"\x00\x00") == SyncShardResponse()


def test_sync_shard_response_carries_walrus_core_slivers() -> None:
    """A response framing walrus-core's own `SliverData` bytes parses into slivers that verify."""
    n = 10
    encoded = fastcrypto.redstuff_encode(b"shard sync" * 1000, n)
    metadata = BlobMetadata.from_bcs(bytes(encoded.metadata_bcs))
    blob_id = BlobId(bytes(encoded.blob_id))
    raw = b"\x00" + bytes([2 * n])
    for pair in encoded.slivers:
        raw += blob_id.value + b"\x00" + bytes(pair.primary)
        raw += blob_id.value + b"\x01" + bytes(pair.secondary)
    response = SyncShardResponse.from_bcs(raw)
    assert len(response.slivers) == 2 * n
    for got_blob_id, sliver in response.slivers:
        assert got_blob_id == blob_id
        sliver.verify(metadata)
    assert response.to_bcs() == raw


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x01\x00", "sync shard response version 1"),
        (b"\x00\x01" + bytes(32) + b"\x02", "invalid sliver type 2"),
        (b"\x00\x01" + bytes(32) + b"\x00\x01\xaa\x02\x00\x00\x00", "multiple of"),
        (b"\x00\x01" + bytes(32) + b"\x00\x02\xaa\xbb\x00\x00\x00\x00", "symbol size 0"),
        (b"\x00\x01" + bytes(20), "truncated"),
        (b"\x00\x00\x00", "trailing"),
        (b"", "truncated"),
    ],
)
def test_sync_shard_response_refusals(data: bytes, problem: str) -> None:
    with pytest.raises(MessageError, match=problem):
        SyncShardResponse.from_bcs(data)


def test_generic_envelope_for_other_intents() -> None:
    body = BcsWriter().u32(7).u64(3).finish()  # protocol version: start epoch, version
    data = ProtocolMessage(IntentType.PROTOCOL_VERSION, EPOCH, body).to_bytes()
    assert data == bytes([6, 0, 3]) + (21).to_bytes(4, "little") + body
    assert parse_message(data) == ProtocolMessage(IntentType.PROTOCOL_VERSION, EPOCH, body)


def test_parse_message_dispatches_on_intent() -> None:
    messages: list[Message] = [
        StorageConfirmation(EPOCH, BLOB_ID, Deletable(OBJECT_ID)),
        InvalidBlobIdMsg(EPOCH, BLOB_ID),
        ProofOfPossessionMsg(EPOCH, ADDRESS, KEY.public_key()),
        SyncShardMsg(EPOCH, SyncShardRequest(ShardIndex(3), SliverType.PRIMARY, BLOB_ID, 1, EPOCH)),
    ]
    for message in messages:
        assert parse_message(message.to_bytes()) == message


# --- refusals ---------------------------------------------------------------------------------


def _confirmation() -> bytes:
    return StorageConfirmation(EPOCH, BLOB_ID).to_bytes()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x02" + _confirmation()[1:], "intent type 1 .*got 2 \\(invalid_blob_id\\)"),
        (b"\x63" + _confirmation()[1:], "unknown intent type 99"),
        (_confirmation()[:1] + b"\x01" + _confirmation()[2:], "intent version 1"),
        (_confirmation()[:2] + b"\x2c" + _confirmation()[3:], "wrong app ID 44"),
        (_confirmation()[:6], "truncated .*6 bytes"),
        (_confirmation()[:30], "truncated storage confirmation"),
        (_confirmation()[:39], "truncated storage confirmation"),
        (_confirmation() + b"\x00", "1 trailing bytes"),
        (_confirmation()[:39] + b"\x02", "invalid blob persistence type 2"),
        (_confirmation()[:39] + b"\x01" + bytes(31), "truncated storage confirmation"),
    ],
)
def test_confirmation_refusals(data: bytes, problem: str) -> None:
    with pytest.raises(MessageError, match=problem):
        StorageConfirmation.from_bytes(data)


def test_move_style_parse_ignores_trailing_bytes() -> None:
    data = _confirmation() + b"future extension"
    assert StorageConfirmation.from_bytes(data, allow_trailing=True) == StorageConfirmation(
        EPOCH, BLOB_ID
    )


def test_message_error_is_a_bcs_error() -> None:
    with pytest.raises(BcsError):
        InvalidBlobIdMsg.from_bytes(_confirmation())


def test_proof_of_possession_with_invalid_key_is_refused() -> None:
    data = ProofOfPossessionMsg(EPOCH, ADDRESS, KEY.public_key()).to_bytes()
    with pytest.raises(MessageError, match="point at infinity"):
        ProofOfPossessionMsg.from_bytes(data[:39] + bytes([0xC0]) + bytes(47))


def test_sync_shard_refusals() -> None:
    request = SyncShardRequest(ShardIndex(1), SliverType.PRIMARY, BLOB_ID, 1, EPOCH)
    data = SyncShardMsg(EPOCH, request).to_bytes()
    with pytest.raises(MessageError, match="sync shard request version 1"):
        SyncShardMsg.from_bytes(data[:7] + b"\x01" + data[8:])
    with pytest.raises(MessageError, match="invalid sliver type 2"):
        SyncShardMsg.from_bytes(data[:10] + b"\x02" + data[11:])


@pytest.mark.parametrize(
    "build",
    [
        lambda: StorageConfirmation(Epoch(2**32), BLOB_ID),
        lambda: StorageConfirmation(Epoch(-1), BLOB_ID),
        lambda: Deletable(bytes(31)),
        lambda: ProofOfPossessionMsg(EPOCH, bytes(31), KEY.public_key()),
        lambda: SyncShardRequest(ShardIndex(70000), SliverType.PRIMARY, BLOB_ID, 1, EPOCH),
    ],
)
def test_constructors_refuse_out_of_range_fields(build: object) -> None:
    with pytest.raises(MessageError):
        build()  # type: ignore[operator]


# --- proof of possession --------------------------------------------------------------------


def test_proof_of_possession_sign_and_verify() -> None:
    public = KEY.public_key()
    signature = sign_proof_of_possession(KEY, 5, ADDRESS)
    assert verify_proof_of_possession(public, 5, ADDRESS, signature)
    assert verify_proof_of_possession(public, 5, ADDRESS, signature.data)
    assert not verify_proof_of_possession(public, 6, ADDRESS, signature)
    assert not verify_proof_of_possession(public, 5, bytes(32), signature)
    assert not verify_proof_of_possession(OTHER_KEY.public_key(), 5, ADDRESS, signature)
    assert not verify_proof_of_possession(public, 5, ADDRESS, b"\x00" * 96)
    message = ProofOfPossessionMsg(Epoch(5), ADDRESS, public).to_bytes()
    assert fastcrypto.bls_verify(public.data, signature.data, message) is True


# --- signed messages ------------------------------------------------------------------------


def test_signed_message_verifies_and_returns_the_message() -> None:
    confirmation = StorageConfirmation(EPOCH, BLOB_ID, Deletable(OBJECT_ID))
    signed = SignedMessage.sign(KEY, confirmation)
    assert signed.serialized_message == confirmation.to_bytes()
    assert signed.verify(KEY.public_key()) == confirmation
    assert signed.verify_contents(KEY.public_key(), confirmation) == confirmation
    assert fastcrypto.bls_verify(
        KEY.public_key().data, signed.signature.data, signed.serialized_message
    )


def test_signed_message_refusals() -> None:
    confirmation = StorageConfirmation(EPOCH, BLOB_ID)
    signed = SignedMessage.sign(KEY, confirmation)
    with pytest.raises(InvalidSignatureError):
        signed.verify(OTHER_KEY.public_key())
    forged = SignedMessage(signed.serialized_message, OTHER_KEY.sign(signed.serialized_message))
    with pytest.raises(InvalidSignatureError):
        forged.verify(KEY.public_key())
    other_epoch = StorageConfirmation(Epoch(22), BLOB_ID).to_bytes()
    with pytest.raises(InvalidSignatureError):
        SignedMessage(other_epoch, signed.signature).verify(KEY.public_key())
    with pytest.raises(MessageError):
        SignedMessage(b"\x01\x00\x03", signed.signature).verify(KEY.public_key())


def test_verify_contents_names_the_mismatch() -> None:
    signed = SignedMessage.sign(KEY, StorageConfirmation(EPOCH, BLOB_ID))
    with pytest.raises(MessageMismatchError, match="epoch 22, got epoch 21"):
        signed.verify_contents(KEY.public_key(), StorageConfirmation(Epoch(22), BLOB_ID))
    with pytest.raises(MessageMismatchError, match="differs"):
        signed.verify_contents(
            KEY.public_key(), StorageConfirmation(EPOCH, BLOB_ID, Deletable(OBJECT_ID))
        )
    with pytest.raises(MessageError, match="intent type 2"):
        signed.verify_contents(KEY.public_key(), InvalidBlobIdMsg(EPOCH, BLOB_ID))
    with pytest.raises(InvalidSignatureError):
        signed.verify_contents(OTHER_KEY.public_key(), StorageConfirmation(EPOCH, BLOB_ID))


def test_json_form() -> None:
    signed = SignedMessage.sign(KEY, StorageConfirmation(EPOCH, BLOB_ID, Deletable(OBJECT_ID)))
    value = signed.to_json()
    assert list(value) == ["serializedMessage", "signature"]
    assert (
        value["serializedMessage"] == base64.standard_b64encode(signed.serialized_message).decode()
    )
    assert value["signature"] == base64.standard_b64encode(signed.signature.data).decode()
    assert len(value["signature"]) == 128
    permanent = SignedMessage.sign(KEY, StorageConfirmation(EPOCH, BLOB_ID)).to_json()
    assert permanent["serializedMessage"].endswith("==")  # 40 bytes: padded
    assert SignedMessage.from_json(json.loads(json.dumps(value))) == signed
    assert SignedMessage.from_json({**value, "extra": 1}) == signed


def test_json_refusals() -> None:
    signed = SignedMessage.sign(KEY, StorageConfirmation(EPOCH, BLOB_ID))
    value = signed.to_json()
    message = value["serializedMessage"]
    urlsafe = base64.urlsafe_b64encode(signed.signature.data).decode()
    assert urlsafe != value["signature"]  # this signature has '+' or '/' in it
    cases: list[tuple[object, str]] = [
        ([value], "JSON object"),
        ({"signature": value["signature"]}, "lacks 'serializedMessage'"),
        ({"serializedMessage": message}, "lacks 'signature'"),
        ({**value, "serializedMessage": message.rstrip("=")}, "padded base64"),
        ({**value, "signature": urlsafe}, "padded base64"),
        ({**value, "serializedMessage": [1, 0, 3]}, "base64 string"),
        ({**value, "serializedMessage": message[:-2] + "B="}, "canonical"),
        ({**value, "signature": base64.b64encode(bytes(96)).decode()}, "compressed form"),
        ({**value, "signature": base64.b64encode(bytes(48)).decode()}, "96 bytes"),
    ]
    for bad, problem in cases:
        with pytest.raises(MessageError, match=problem):
            SignedMessage.from_json(bad)


def test_bcs_form() -> None:
    signed = SignedMessage.sign(KEY, InvalidBlobIdMsg(EPOCH, BLOB_ID))
    data = signed.to_bcs()
    assert data == bytes([39]) + signed.serialized_message + signed.signature.data
    assert SignedMessage.from_bcs(data) == signed
    with pytest.raises(BcsError, match="trailing"):
        SignedMessage.from_bcs(data + b"\x00")
    with pytest.raises(BcsError, match="truncated"):
        SignedMessage.from_bcs(data[:-1])


def test_signed_message_field_types() -> None:
    signature = KEY.sign(b"x")
    with pytest.raises(MessageError):
        SignedMessage("text", signature)  # type: ignore[arg-type]
    with pytest.raises(MessageError):
        SignedMessage(b"x", signature.data)  # type: ignore[arg-type]
    assert isinstance(SignedMessage(b"x", BlsSignature(signature.data)).signature, BlsSignature)

"""Certificates: signer bitmaps, aggregation, and the on-chain check with its refusals."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pywalrus.core.certificates import (
    Certificate,
    CommitteeMember,
    aggregate_certificate,
    bitmap_length,
    decode_signers,
    encode_signers,
    verify_certificate,
)
from pywalrus.core.crypto.bls import CURVE_ORDER, BlsPrivateKey, BlsSignature
from pywalrus.core.errors import (
    BcsError,
    CertificateEpochError,
    CertificateError,
    CertificateSignatureError,
    InvalidBitmapError,
    InvalidCommitteeError,
    NotEnoughWeightError,
)
from pywalrus.core.messages import InvalidBlobIdMsg, SignedMessage, StorageConfirmation
from pywalrus.core.types import BlobId, Epoch

fastcrypto = pytest.importorskip("pysui_fastcrypto")

EPOCH = Epoch(21)
BLOB_ID = BlobId(bytes(range(32)))
MESSAGE = StorageConfirmation(EPOCH, BLOB_ID).to_bytes()


@functools.cache
def node_key(index: int) -> BlsPrivateKey:
    return BlsPrivateKey.from_seed(index.to_bytes(4, "big") * 8)


def committee(weights: Sequence[int]) -> list[CommitteeMember]:
    return [
        CommitteeMember(node_key(i).public_key(), weight, i.to_bytes(32, "big"))
        for i, weight in enumerate(weights)
    ]


def aggregate_by_secret(signers: Sequence[int], message: bytes) -> BlsSignature:
    """(Σ sk_i)·H(m) equals Σ (sk_i·H(m)): one signature instead of hundreds in large tests."""
    secret = sum(int.from_bytes(node_key(i).to_bytes(), "big") for i in signers) % CURVE_ORDER
    return BlsPrivateKey(secret.to_bytes(32, "big")).sign(message)


def certify(signers: Sequence[int], message: bytes = MESSAGE) -> Certificate:
    signed = [(i, SignedMessage(message, node_key(i).sign(message))) for i in signers]
    return aggregate_certificate(max(signers) + 1, signed)


# --- bitmaps ----------------------------------------------------------------------------------


def test_bitmap_bit_order() -> None:
    assert encode_signers([0, 3, 8, 9], 10) == bytes([0b0000_1001, 0b0000_0011])
    assert decode_signers(bytes([0b0000_1001, 0b0000_0011]), 10) == (0, 3, 8, 9)
    assert encode_signers([], 10) == bytes(2)
    assert encode_signers([7], 8) == b"\x80"
    assert bitmap_length(1) == 1 and bitmap_length(8) == 1 and bitmap_length(9) == 2


@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1)))))
def test_bitmap_round_trip(case: tuple[int, set[int]]) -> None:
    n, signers = case
    bitmap = encode_signers(signers, n)
    assert len(bitmap) == bitmap_length(n)
    assert decode_signers(bitmap, n) == tuple(sorted(signers))


def test_short_bitmap_means_the_rest_did_not_sign() -> None:
    assert decode_signers(b"\x05", 20) == (0, 2)
    assert decode_signers(b"", 20) == ()


def test_bitmap_refusals() -> None:
    with pytest.raises(InvalidBitmapError, match="3 bytes, longer than the 2 needed for 10"):
        decode_signers(bytes(3), 10)
    with pytest.raises(InvalidBitmapError, match="sets bit 10, but the committee has 10"):
        decode_signers(bytes([0xFF, 0b0000_0111]), 10)
    with pytest.raises(InvalidBitmapError, match="sets bit 15"):
        decode_signers(bytes([0, 0x80]), 10)
    with pytest.raises(CertificateError, match="listed twice"):
        encode_signers([1, 1], 10)
    with pytest.raises(CertificateError, match="not a member"):
        encode_signers([10], 10)


# --- aggregation ------------------------------------------------------------------------------


def test_aggregate_certificate() -> None:
    signers = [4, 0, 2]
    signed = [(i, SignedMessage(MESSAGE, node_key(i).sign(MESSAGE))) for i in signers]
    certificate = aggregate_certificate(5, signed)
    assert certificate.signers == (0, 2, 4)
    assert certificate.serialized_message == MESSAGE
    assert certificate.signature == aggregate_by_secret(signers, MESSAGE)
    keys = [node_key(i).public_key().data for i in signers]
    assert fastcrypto.bls_aggregate_verify(certificate.signature.data, keys, MESSAGE) is True


def test_aggregation_refusals() -> None:
    def signed(i: int, message: bytes = MESSAGE) -> tuple[int, SignedMessage]:
        return i, SignedMessage(message, node_key(i).sign(message))

    with pytest.raises(CertificateError, match="no signed messages"):
        aggregate_certificate(5, [])
    with pytest.raises(CertificateError, match="member 2 appears twice"):
        aggregate_certificate(5, [signed(2), signed(1), signed(2)])
    other = StorageConfirmation(Epoch(22), BLOB_ID).to_bytes()
    with pytest.raises(CertificateError, match="member 3 signed a different message than member 1"):
        aggregate_certificate(5, [signed(1), signed(3, other)])
    with pytest.raises(CertificateError, match="signer 5 is not a member of 5"):
        aggregate_certificate(5, [signed(5)])


# --- verification -----------------------------------------------------------------------------


def test_verify_returns_signer_weight() -> None:
    members = committee([3, 1, 4, 1, 5, 9, 2, 6])  # 31 shards; quorum needs 21
    certificate = certify([0, 2, 4, 5])  # 3 + 4 + 5 + 9 = 21
    bitmap = certificate.signers_bitmap(len(members))
    assert verify_certificate(members, 31, bitmap, MESSAGE, certificate.signature) == 21
    assert certificate.verify(members, 31) == 21
    assert certificate.verify(members, 31, epoch=21) == 21
    assert verify_certificate(members, 31, bitmap, MESSAGE, certificate.signature.data) == 21


@pytest.mark.parametrize(
    ("threshold", "n_signers", "accepted"),
    [("quorum", 7, True), ("quorum", 6, False), ("validity", 4, True), ("validity", 3, False)],
)
def test_boundary_n10(threshold: str, n_signers: int, accepted: bool) -> None:
    members = committee([1] * 10)
    certificate = certify(range(n_signers))
    if accepted:
        assert certificate.verify(members, 10, threshold) == n_signers  # type: ignore[arg-type]
    else:
        with pytest.raises(NotEnoughWeightError, match=f"below {threshold}: {n_signers} signers"):
            certificate.verify(members, 10, threshold)  # type: ignore[arg-type]


WEIGHTS_1000 = [6, 1, *([10] * 99), 3]
"""102 members, 1000 shards: quorum 667 and validity 334 are both reachable exactly."""


@pytest.mark.parametrize(
    ("threshold", "signers", "weight", "accepted"),
    [
        ("quorum", [0, 1, *range(2, 68)], 667, True),
        ("quorum", [0, *range(2, 68)], 666, False),
        ("validity", [1, 101, *range(2, 35)], 334, True),
        ("validity", [101, *range(2, 35)], 333, False),
    ],
)
def test_boundary_n1000(threshold: str, signers: list[int], weight: int, accepted: bool) -> None:
    members = committee(WEIGHTS_1000)
    assert sum(WEIGHTS_1000) == 1000 and sum(WEIGHTS_1000[i] for i in signers) == weight
    bitmap = encode_signers(signers, len(members))
    signature = aggregate_by_secret(signers, MESSAGE)
    if accepted:
        result = verify_certificate(members, 1000, bitmap, MESSAGE, signature, threshold)  # type: ignore[arg-type]
        assert result == weight
    else:
        needed = 667 if threshold == "quorum" else 334
        with pytest.raises(NotEnoughWeightError, match=f"hold {weight} of 1000 shards, {needed}"):
            verify_certificate(members, 1000, bitmap, MESSAGE, signature, threshold)  # type: ignore[arg-type]


def test_thousand_single_shard_members() -> None:
    members = committee([1] * 1000)
    quorum = list(range(0, 1000, 3)) + list(range(1, 1000, 3))[:333]
    assert len(quorum) == 667
    signature = aggregate_by_secret(quorum, MESSAGE)
    bitmap = encode_signers(quorum, 1000)
    assert len(bitmap) == 125
    assert verify_certificate(members, 1000, bitmap, MESSAGE, signature) == 667
    with pytest.raises(NotEnoughWeightError):
        verify_certificate(members, 1000, encode_signers(quorum[1:], 1000), MESSAGE, signature)
    keys = [members[i].public_key.data for i in quorum]
    assert fastcrypto.bls_aggregate_verify(signature.data, keys, MESSAGE) is True


def test_signature_refusals() -> None:
    members = committee([1] * 10)
    signers = list(range(7))
    bitmap = encode_signers(signers, 10)
    good = aggregate_by_secret(signers, MESSAGE)
    stranger = BlsPrivateKey.from_seed(b"not a member".ljust(32, b"!"))
    forged = stranger.sign(MESSAGE)
    other_message = InvalidBlobIdMsg(EPOCH, BLOB_ID).to_bytes()
    other_epoch = StorageConfirmation(Epoch(22), BLOB_ID).to_bytes()
    with pytest.raises(CertificateSignatureError, match=r"does not verify .* 7 signers"):
        verify_certificate(members, 10, bitmap, MESSAGE, forged)
    with pytest.raises(CertificateSignatureError):
        verify_certificate(members, 10, bitmap, other_message, good)
    with pytest.raises(CertificateSignatureError):
        verify_certificate(members, 10, bitmap, other_epoch, good)
    # The bitmap claims a signer whose signature is not in the aggregate.
    with pytest.raises(CertificateSignatureError):
        verify_certificate(members, 10, encode_signers([*signers, 7], 10), MESSAGE, good)
    # An extra signature in the aggregate that the bitmap does not claim.
    with pytest.raises(CertificateSignatureError):
        verify_certificate(
            members, 10, bitmap, MESSAGE, aggregate_by_secret([*signers, 7], MESSAGE)
        )
    with pytest.raises(CertificateSignatureError, match="point at infinity"):
        verify_certificate(members, 10, bitmap, MESSAGE, bytes([0xC0]) + bytes(95))
    with pytest.raises(CertificateSignatureError, match="96 bytes"):
        verify_certificate(members, 10, bitmap, MESSAGE, good.data[:48])


def test_epoch_check() -> None:
    members = committee([1] * 4)
    certificate = certify([0, 1, 2])
    assert certificate.verify(members, 4, epoch=21) == 3
    with pytest.raises(CertificateEpochError, match="epoch 21, the committee is of epoch 22"):
        certificate.verify(members, 4, epoch=22)


def test_refusal_precedence_follows_the_contract() -> None:
    members = committee([1] * 10)
    forged = node_key(0).sign(b"something else")
    # A bad bitmap is reported before low weight, low weight before a bad signature.
    with pytest.raises(InvalidBitmapError):
        verify_certificate(members, 10, bytes([0x01, 0x04]), MESSAGE, forged)
    with pytest.raises(NotEnoughWeightError):
        verify_certificate(members, 10, encode_signers([0], 10), MESSAGE, forged)


def test_committee_refusals() -> None:
    members = committee([1] * 4)
    bitmap = encode_signers([0, 1, 2], 4)
    signature = aggregate_by_secret([0, 1, 2], MESSAGE)
    with pytest.raises(InvalidCommitteeError, match="sum to 4 shards, but n_shards is 5"):
        verify_certificate(members, 5, bitmap, MESSAGE, signature)
    with pytest.raises(InvalidCommitteeError, match="member 3 has zero weight"):
        verify_certificate(committee([1, 1, 1, 0]), 3, bitmap, MESSAGE, signature)
    with pytest.raises(InvalidCommitteeError, match="no members"):
        verify_certificate([], 0, b"", MESSAGE, signature)
    with pytest.raises(ValueError, match="threshold"):
        verify_certificate(members, 4, bitmap, MESSAGE, signature, "most")  # type: ignore[arg-type]
    with pytest.raises(InvalidCommitteeError, match="node ID"):
        CommitteeMember(node_key(0).public_key(), 1, b"short")
    with pytest.raises(InvalidCommitteeError, match="u16"):
        CommitteeMember(node_key(0).public_key(), 70000, bytes(32))


def test_certificate_with_signer_outside_committee() -> None:
    certificate = certify([0, 1, 4])
    with pytest.raises(InvalidBitmapError, match="signer 4 is not a member of a committee of 4"):
        certificate.verify(committee([1] * 4), 4)


# --- certificate encodings --------------------------------------------------------------------


def test_certificate_bcs_and_json() -> None:
    certificate = certify([1, 3, 300])
    data = certificate.to_bcs()
    assert data[:7] == bytes([3, 1, 0, 3, 0, 0x2C, 0x01])  # vector<u16> [1, 3, 300]
    assert data[7] == len(MESSAGE) and data[8 : 8 + len(MESSAGE)] == MESSAGE
    assert data[8 + len(MESSAGE) :] == certificate.signature.data
    assert Certificate.from_bcs(data) == certificate
    value = certificate.to_json()
    assert value["signers"] == [1, 3, 300]
    assert Certificate.from_json(value) == certificate
    with pytest.raises(BcsError, match="trailing"):
        Certificate.from_bcs(data + b"\x00")
    with pytest.raises(BcsError, match="sorted and distinct"):
        Certificate.from_bcs(bytes([2, 3, 0, 1, 0]) + data[7:])
    with pytest.raises(BcsError, match="list of integers"):
        Certificate.from_json({**value, "signers": [1, True]})
    with pytest.raises(BcsError, match="padded base64"):
        Certificate.from_json({**value, "signature": "*"})


def test_certificate_field_validation() -> None:
    signature = aggregate_by_secret([0], MESSAGE)
    with pytest.raises(CertificateError, match="sorted and distinct"):
        Certificate((2, 1), MESSAGE, signature)
    with pytest.raises(CertificateError, match="sorted and distinct"):
        Certificate((1, 1), MESSAGE, signature)
    with pytest.raises(CertificateError, match="not a u16"):
        Certificate((70000,), MESSAGE, signature)

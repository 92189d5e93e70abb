"""What a client and an upload relay agree on (core/upload_relay.py): the auth package's BCS
and checks, the tip configuration's JSON and YAML, the tip, and the relay's answer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pywalrus.core.certificates import Certificate
from pywalrus.core.config import EncodingConfig
from pywalrus.core.crypto.bls import BlsPrivateKey
from pywalrus.core.errors import AuthPackageError, BcsError, ConfigError
from pywalrus.core.messages import PERMANENT, StorageConfirmation
from pywalrus.core.types import BlobId, Epoch
from pywalrus.core.upload_relay import (
    AuthPackage,
    ConstTip,
    HashedAuthPackage,
    LinearTip,
    SendTip,
    compute_tip,
    decode_nonce,
    encode_nonce,
    parse_relay_response,
    parse_tip_config,
    relay_response_json,
    tip_config_json,
)
from pywalrus.services.upload_relay import DEFAULT_FRESHNESS_S, load_relay_config


def _upstream_package() -> tuple[bytes, bytes, HashedAuthPackage]:
    """Upstream's `TestPackage::for_test` (walrus-upload-relay/src/utils.rs)."""
    blob, nonce = b"hello", bytes([23] * 32)
    return blob, nonce, AuthPackage(hashlib.sha256(blob).digest(), nonce, 5).hashed()


def test_hashed_auth_package_bcs() -> None:
    """BCS as serde writes `HashedAuthPackage`: two fixed 32-byte arrays (no length prefix),
    then the u64 length little-endian."""
    blob, nonce, package = _upstream_package()
    raw = package.to_bcs()
    assert raw == (
        hashlib.sha256(blob).digest() + hashlib.sha256(nonce).digest() + (5).to_bytes(8, "little")
    )
    assert HashedAuthPackage.from_bcs(raw) == package
    for bad in (raw[:-1], raw + b"\0"):
        with pytest.raises(BcsError):
            HashedAuthPackage.from_bcs(bad)


@pytest.mark.parametrize(
    ("blob", "nonce", "length", "reason"),
    [
        (b"hello", bytes([23] * 32), 5, None),
        (b"hello", bytes([24] * 32), 5, "INVALID_NONCE_HASH"),
        (b"world", bytes([23] * 32), 5, "BLOB_DIGEST_MISMATCH"),
        (b"hello", bytes([23] * 32), 10, "BLOB_LENGTH_MISMATCH"),
        # The nonce is checked first: a wrong one hides every other mismatch.
        (b"world!", bytes([24] * 32), 5, "INVALID_NONCE_HASH"),
    ],
)
def test_auth_package_checks_as_upstream(
    blob: bytes, nonce: bytes, length: int, reason: str | None
) -> None:
    *_, package = _upstream_package()
    package = HashedAuthPackage(package.blob_digest, package.nonce_digest, length)
    if reason is None:
        package.check(blob, nonce)
        return
    with pytest.raises(AuthPackageError) as caught:
        package.check(blob, nonce)
    assert caught.value.reason == reason


def test_fresh_nonces_and_their_encoding() -> None:
    a, b = AuthPackage.for_blob(b"x"), AuthPackage.for_blob(b"x")
    assert a.nonce != b.nonce and len(a.nonce) == 32
    assert a.blob_digest == b.blob_digest == hashlib.sha256(b"x").digest()
    text = encode_nonce(a.nonce)
    assert "=" not in text and decode_nonce(text) == a.nonce
    # Upstream's OpenAPI example of a digest.
    assert len(decode_nonce("rw8xIuqxwMpdOcF_3jOprsD9TtPWfXK97tT_lWr1teQ")) == 32
    for bad in ("", "abc", text + "A", text + "=", "!" * 43):
        with pytest.raises(ValueError):
            decode_nonce(bad)


ADDRESS = "0x" + "2a" * 32


def test_tip_config_json_as_upstream() -> None:
    """The README's and OpenAPI's examples, both ways."""
    assert tip_config_json(None) == "no_tip"
    assert parse_tip_config("no_tip") is None
    const = {"send_tip": {"address": ADDRESS, "kind": {"const": 105}}}
    assert parse_tip_config(const) == SendTip(ADDRESS, ConstTip(105))
    assert tip_config_json(parse_tip_config(const)) == const
    linear = {
        "send_tip": {
            "address": ADDRESS,
            "kind": {"linear": {"base": 101, "encoded_size_mul_per_kib": 42}},
        }
    }
    assert parse_tip_config(linear) == SendTip(ADDRESS, LinearTip(101, 42))
    assert tip_config_json(parse_tip_config(linear)) == linear
    # Short addresses are normalised as everywhere else.
    assert parse_tip_config({"send_tip": {"address": "0x2a", "kind": {"const": 1}}}) == SendTip(
        "0x" + "0" * 62 + "2a", ConstTip(1)
    )


@pytest.mark.parametrize(
    "value",
    [
        "free",
        {"send_tip": {"address": ADDRESS}},
        {"send_tip": {"address": ADDRESS, "kind": {"const": -1}}},
        {"send_tip": {"address": ADDRESS, "kind": {"const": 2**64}}},
        {"send_tip": {"address": ADDRESS, "kind": {"const": True}}},
        {"send_tip": {"address": ADDRESS, "kind": {"quadratic": 3}}},
        {"send_tip": {"address": ADDRESS, "kind": {"linear": {"base": 1}}}},
        {"send_tip": {"address": "nope", "kind": {"const": 1}}},
        {"send_tip": {"address": ADDRESS, "kind": {"const": 1}, "extra": 1}},
    ],
)
def test_bad_tip_configs_refused(value: object) -> None:
    with pytest.raises(ValueError):
        parse_tip_config(value)


def test_tips() -> None:
    """A linear tip counts KiB of the encoded size, rounded up (upstream's `div_ceil`)."""
    assert compute_tip(ConstTip(42), 1000, 10**9) == 42
    encoded = EncodingConfig(100).encoded_length(1_000_000)
    assert compute_tip(LinearTip(101, 42), 100, 1_000_000) == 101 + 42 * -(-encoded // 1024)
    small = EncodingConfig(10).encoded_length(1)
    assert compute_tip(LinearTip(0, 1), 10, 1) == -(-small // 1024)


def test_relay_answer_round_trip() -> None:
    """Upstream's `ResponseType` as serde_json writes it: byte arrays for the blob ID and
    the message, base64 for the signature; a malformed answer is refused."""
    blob_id = BlobId(bytes(range(32)))
    message = StorageConfirmation(Epoch(3), blob_id, PERMANENT).to_bytes()
    signature = BlsPrivateKey.generate().sign(message)
    certificate = Certificate((0, 2, 5), message, signature)
    body = relay_response_json(blob_id, certificate)
    assert body["blob_id"] == list(range(32))
    assert body["confirmation_certificate"]["serialized_message"] == list(message)
    assert parse_relay_response(json.loads(json.dumps(body))) == (blob_id, certificate)
    url_safe = dict(body["confirmation_certificate"])
    url_safe["signature"] = url_safe["signature"].replace("+", "-").replace("/", "_").rstrip("=")
    assert parse_relay_response({**body, "confirmation_certificate": url_safe})[1] == certificate
    broken_answers: list[object] = [
        {**body, "blob_id": list(range(31))},
        {**body, "confirmation_certificate": {**url_safe, "signers": [2, 0]}},
        {**body, "confirmation_certificate": {**url_safe, "serialized_message": [256]}},
        {**body, "confirmation_certificate": {**url_safe, "signature": "AAAA"}},
        {"blob_id": body["blob_id"]},
        [],
    ]
    for broken in broken_answers:
        with pytest.raises(BcsError):
            parse_relay_response(broken)


def test_upstream_example_relay_config(tmp_path: Path) -> None:
    """`walrus_upload_relay_config_example.yaml` as upstream writes it (serde_yaml's tags)."""
    path = tmp_path / "relay.yaml"
    path.write_text(
        "tip_config: !send_tip\n"
        "  address: 0x2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a\n"
        "  kind: !const 42\n"
        "tx_freshness_threshold_secs: 36000\n"
        "tx_max_future_threshold:\n"
        "  secs: 30\n"
        "  nanos: 0\n"
    )
    config = load_relay_config(path)
    assert config.tip_config == SendTip(ADDRESS, ConstTip(42))
    assert (config.tx_freshness_threshold_s, config.tx_max_future_threshold_s) == (36000, 30)
    path.write_text(
        "tip_config: !send_tip\n  address: 0x2a\n"
        "  kind: !linear\n    base: 1\n    encoded_size_mul_per_kib: 2\n"
    )
    config = load_relay_config(path)
    assert config.tip_config == SendTip("0x2a", LinearTip(1, 2))
    assert config.tx_freshness_threshold_s == DEFAULT_FRESHNESS_S
    path.write_text("tip_config: no_tip\n")
    assert load_relay_config(path).tip_config is None
    for bad in ("tip_config: !send_tip\n  address: 0x2a\n", "tip: no_tip\n", "- 1\n"):
        path.write_text(bad)
        with pytest.raises(ConfigError):
            load_relay_config(path)
